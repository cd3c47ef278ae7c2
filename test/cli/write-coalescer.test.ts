import { BATCH_EVENTS_MAX, decodeBatch, type JournalEvent } from '../../journal/index.js';
import { WriteCoalescer, type CoalescedEntryReply } from '../../cli/index.js';
import type { TimerId } from '../../runtime/index.js';
import { blob } from '../journal/journal-fixtures.js';

// The control API's write coalescer, driven turn by turn: `defer` queues work for the end of the
// turn, timers run when the test moves the clock, and each proposal is a promise the test settles,
// so every interleaving is exact.

/** A clock the test moves: deferred work waits for the end of the turn, timers for `advance`. */
class TurnClock {
  readonly deferred: Array<() => void> = [];
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  private time = 0;
  private nextId = 1;
  now(): number {
    return this.time;
  }
  defer(fn: () => void): void {
    this.deferred.push(fn);
  }
  setTimeout(fn: () => void, delayMs: number): TimerId {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + delayMs, fn });
    return id;
  }
  clearTimeout(id: TimerId): void {
    this.timers.delete(id as number);
  }
  runDeferred(): void {
    for (const fn of this.deferred.splice(0)) fn();
  }
  advance(ms: number): void {
    this.time += ms;
    for (const [id, timer] of [...this.timers].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > this.time || !this.timers.has(id)) continue;
      this.timers.delete(id);
      timer.fn();
    }
  }
}

const config = (id: string): JournalEvent => ({ type: 'config.created', v: 1, at: 0, id, spec: blob(id) });

interface Proposal {
  readonly ids: string[];
  readonly resolve: (reply: CoalescedEntryReply) => void;
  readonly reject: (error: unknown) => void;
}

function harness(entriesInFlightMax?: number) {
  const clock = new TurnClock();
  const proposals: Proposal[] = [];
  const coalescer = new WriteCoalescer({
    clock,
    propose: (batch) => new Promise<CoalescedEntryReply>((resolve, reject) => {
      const ids = decodeBatch(batch).events.map((e) => (e as { id: string }).id);
      proposals.push({ ids, resolve, reject });
    }),
    refusal: (refused) => new Error(`refused: ${refused.code}`),
    ...(entriesInFlightMax === undefined ? {} : { entriesInFlightMax }),
  });
  /** Ends the turn: runs what was deferred to its end, then lets promise reactions run. */
  const endTurn = async (): Promise<void> => {
    await microtasks();
    clock.runDeferred();
    await microtasks();
  };
  return { coalescer, proposals, endTurn, clock };
}

async function microtasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** The settled outcome of each write, in order: an index or an error's message. */
function outcomes(writes: Array<Promise<number>>): Array<number | string | undefined> {
  const out: Array<number | string | undefined> = writes.map(() => undefined);
  writes.forEach((w, i) => w.then((index) => { out[i] = index; }, (error: Error) => { out[i] = error.message; }));
  return out;
}

describe('WriteCoalescer', () => {
  test('the writes of one turn go as one entry, in order, and each resolves with its index', async () => {
    const { coalescer, proposals, endTurn, clock } = harness();
    const results = outcomes(['a', 'b', 'c'].map((id) => coalescer.write([config(id)])));
    expect(proposals).toHaveLength(0); // nothing before the turn ends
    await endTurn();
    expect(proposals.map((p) => p.ids)).toEqual([['a', 'b', 'c']]);
    proposals[0]!.resolve({ index: 7, refused: null });
    await endTurn();
    expect(results).toEqual([7, 7, 7]);
    expect(coalescer.stats).toEqual({ entries: 1, writes: 3 });
    expect(coalescer.entriesInFlight).toBe(0);
    expect(clock.timers.size).toBe(0);
  });

  test('with the limit in flight, the writes of later turns wait and go together when one applies', async () => {
    const { coalescer, proposals, endTurn } = harness(2);
    const results = outcomes([]);
    const write = (id: string): void => {
      const p = coalescer.write([config(id)]);
      const i = results.length;
      results.push(undefined);
      p.then((index) => { results[i] = index; }, (error: Error) => { results[i] = error.message; });
    };
    write('a');
    await endTurn();
    write('b');
    await endTurn();
    expect(proposals.map((p) => p.ids)).toEqual([['a'], ['b']]);
    expect(coalescer.entriesInFlight).toBe(2);
    // Three more turns of writes while two entries are in flight: none is proposed.
    for (const id of ['c', 'd', 'e']) {
      write(id);
      await endTurn();
    }
    expect(proposals).toHaveLength(2);
    expect(coalescer.waiting).toBe(3);
    // The second entry applies first (entries apply in order, but the limit does not rely on it).
    proposals[1]!.resolve({ index: 2, refused: null });
    await endTurn();
    expect(proposals.map((p) => p.ids)).toEqual([['a'], ['b'], ['c', 'd', 'e']]);
    expect(coalescer.waiting).toBe(0);
    proposals[0]!.resolve({ index: 1, refused: null });
    proposals[2]!.resolve({ index: 3, refused: null });
    await endTurn();
    expect(results).toEqual([1, 2, 3, 3, 3]);
    expect(coalescer.stats).toEqual({ entries: 3, writes: 5 });
  });

  test('a lone writer never waits: each write is proposed at the end of its own turn', async () => {
    const { coalescer, proposals, endTurn } = harness(1);
    for (let i = 0; i < 5; i++) {
      const written = coalescer.write([config(`w${i}`)]);
      await endTurn();
      expect(proposals).toHaveLength(i + 1);
      proposals[i]!.resolve({ index: i + 1, refused: null });
      await expect(written).resolves.toBe(i + 1);
    }
  });

  test('an entry the store refused is proposed again write by write; only the refused write fails', async () => {
    const { coalescer, proposals, endTurn } = harness();
    const results = outcomes(['a', 'b', 'c'].map((id) => coalescer.write([config(id)])));
    await endTurn();
    proposals[0]!.resolve({ index: 4, refused: { code: 'NAME_CONFLICT', message: 'b exists' } });
    await endTurn();
    expect(proposals.map((p) => p.ids)).toEqual([['a', 'b', 'c'], ['a'], ['b'], ['c']]);
    proposals[1]!.resolve({ index: 5, refused: null });
    proposals[2]!.resolve({ index: 6, refused: { code: 'NAME_CONFLICT', message: 'b exists' } });
    proposals[3]!.resolve({ index: 7, refused: null });
    await endTurn();
    expect(results).toEqual([5, 'refused: NAME_CONFLICT', 7]);
  });

  test('a proposal that fails rejects its writes and frees its place for the writes waiting', async () => {
    const { coalescer, proposals, endTurn } = harness(1);
    const first = outcomes([coalescer.write([config('a')]), coalescer.write([config('b')])]);
    await endTurn();
    const second = outcomes([coalescer.write([config('c')])]);
    await endTurn();
    expect(proposals).toHaveLength(1);
    proposals[0]!.reject(new Error('no leader'));
    await endTurn();
    expect(first).toEqual(['no leader', 'no leader']);
    expect(proposals.map((p) => p.ids)).toEqual([['a', 'b'], ['c']]);
    proposals[1]!.resolve({ index: 9, refused: null });
    await endTurn();
    expect(second).toEqual([9]);
  });

  test('a leader change frees the places of the entries in flight: the writes after them go at once, and the old entries still settle theirs', async () => {
    const { coalescer, proposals, endTurn } = harness(1);
    const stuck = outcomes([coalescer.write([config('a')])]);
    await endTurn();
    const after = outcomes([coalescer.write([config('b')])]);
    await endTurn();
    expect(proposals).toHaveLength(1); // b waits behind a, which the old leader never answers
    coalescer.leaderChanged();
    await endTurn();
    expect(proposals.map((p) => p.ids)).toEqual([['a'], ['b']]);
    expect(coalescer.entriesInFlight).toBe(1);
    // The old entry is answered late: it settles its write and does not free b's place.
    proposals[0]!.reject(new Error('timed out'));
    await endTurn();
    expect(stuck).toEqual(['timed out']);
    expect(coalescer.entriesInFlight).toBe(1);
    const third = outcomes([coalescer.write([config('c')])]);
    await endTurn();
    expect(proposals).toHaveLength(2);
    proposals[1]!.resolve({ index: 3, refused: null });
    await endTurn();
    expect(after).toEqual([3]);
    expect(proposals.map((p) => p.ids)).toEqual([['a'], ['b'], ['c']]);
    proposals[2]!.resolve({ index: 4, refused: null });
    await endTurn();
    expect(third).toEqual([4]);
    expect(coalescer.entriesInFlight).toBe(0);
  });

  test('an entry unanswered for entryPlaceMs gives up its place; answered ones leave no timer behind', async () => {
    const { coalescer, proposals, endTurn, clock } = harness(1);
    const dropped = outcomes([coalescer.write([config('a')])]);
    await endTurn();
    const after = outcomes([coalescer.write([config('b')])]);
    await endTurn();
    clock.advance(499);
    await endTurn();
    expect(proposals).toHaveLength(1);
    clock.advance(1); // 500 ms (the default): a is presumed dropped by the leader
    await endTurn();
    expect(proposals.map((p) => p.ids)).toEqual([['a'], ['b']]);
    proposals[1]!.resolve({ index: 5, refused: null });
    await endTurn();
    expect(after).toEqual([5]);
    expect(clock.timers.size).toBe(0); // b's timer cleared when it settled; a's fired
    // a is answered at last (the write timeout): its write settles, nothing else moves.
    proposals[0]!.reject(new Error('timed out'));
    await endTurn();
    expect(dropped).toEqual(['timed out']);
    expect(coalescer.entriesInFlight).toBe(0);
  });

  test('a propose that throws at once counts as a failed proposal, not a stuck one', async () => {
    const clock = new TurnClock();
    let calls = 0;
    const coalescer = new WriteCoalescer({
      clock,
      propose: () => {
        calls++;
        throw new Error('not a manager');
      },
      refusal: () => new Error('refused'),
      entriesInFlightMax: 1,
    });
    const written = coalescer.write([config('a')]);
    clock.runDeferred();
    await expect(written).rejects.toThrow('not a manager');
    await microtasks();
    expect(coalescer.entriesInFlight).toBe(0);
    const again = coalescer.write([config('b')]);
    clock.runDeferred();
    await expect(again).rejects.toThrow('not a manager');
    expect(calls).toBe(2);
    expect(clock.timers.size).toBe(0);
  });

  test('writes over one batch\'s limit go as several entries, never cutting a write', async () => {
    const { coalescer, proposals, endTurn } = harness(1);
    const big = Array.from({ length: BATCH_EVENTS_MAX - 1 }, (_, i) => config(`x${i}`));
    const results = outcomes([coalescer.write([config('a')]), coalescer.write(big), coalescer.write([config('b')])]);
    await endTurn();
    // 1 + 999 events fill the first batch; the last write opens the second. Both go now: a flush
    // proposes every write that waited, whatever the limit.
    expect(proposals.map((p) => p.ids.length)).toEqual([BATCH_EVENTS_MAX, 1]);
    expect(proposals[1]!.ids).toEqual(['b']);
    proposals[0]!.resolve({ index: 1, refused: null });
    proposals[1]!.resolve({ index: 2, refused: null });
    await endTurn();
    expect(results).toEqual([1, 1, 2]);
  });

  test('the limit must be a positive integer', () => {
    expect(() => new WriteCoalescer({ clock: new TurnClock(), propose: () => Promise.reject(new Error('x')), refusal: () => undefined, entriesInFlightMax: 0 })).toThrow(/entriesInFlightMax/);
  });
});

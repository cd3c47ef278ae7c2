// KvLogStorage beyond the contract: its layout, what open does with damaged records (a torn last
// write is dropped, anything else is LogCorruptError naming the key), and its behaviour on the
// simulated disk through crashes and fsync failures.
import { KvLogStorage, LogCorruptError, type Entry, type HardState, type LogStorage } from '../../journal/index.js';
import { MemoryStorage, SeededRandom, type KvStore, type Storage } from '../../runtime/index.js';
import { SimLoop, SimStorage, type SimStorageOptions } from '../../simulations/index.js';

const entry = (index: number, term: number, bytes = 8): Entry => ({ index, term, type: 'normal', data: new Uint8Array(bytes).fill(index % 256) });
const entriesOf = (first: number, terms: readonly number[]): Entry[] => terms.map((term, i) => entry(first + i, term));
const hard = (term: number, commit: number, vote = ''): HardState => ({ term, vote, commit });
const key = (index: number): string => `e/${index.toString(16).padStart(16, '0')}`;

/** The error a promise rejects with (the test fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** A log of entries 1..5 (terms 1,1,2,2,2, commit 3) on a MemoryStorage, closed again. */
async function writtenLog(): Promise<Storage> {
  const storage = new MemoryStorage();
  const log = await KvLogStorage.open(await storage.openKv('log'));
  await log.save({ hardState: hard(2, 3, 'a'), entries: entriesOf(1, [1, 1, 2, 2, 2]) });
  await log.close();
  return storage;
}

/** Rewrites one stored value through the raw store. */
async function damage(storage: Storage, key: string, change: (value: Uint8Array) => Uint8Array): Promise<void> {
  const kv = await storage.openKv('log');
  const value = await kv.get(key);
  if (value === undefined) throw new Error(`no value under ${key}`);
  await kv.batch([{ type: 'put', key, value: change(value) }]);
  await kv.close();
}

const flipMiddleByte = (value: Uint8Array): Uint8Array => {
  const out = value.slice();
  const at = Math.floor(out.length / 2);
  out[at] = (out[at] as number) ^ 0x40;
  return out;
};
const truncate = (value: Uint8Array): Uint8Array => value.slice(0, Math.floor(value.length / 2));

describe('KvLogStorage layout', () => {
  test('keys are e/ + 16 hex digits and the two-slot records h0/h1 and s0/s1; key order is index order', async () => {
    const storage = new MemoryStorage();
    const kv = await storage.openKv('log');
    const log = await KvLogStorage.open(kv, { initialConfState: { voters: ['a'], learners: [] } });
    await log.save({ hardState: hard(1, 0), entries: entriesOf(1, [1, 1, 1]) });
    await log.save({ entries: Array.from({ length: 20 }, (_, i) => entry(4 + i, 1)) });
    const raw = await (await storage.openKv('log')).range({});
    const keys = raw.map(([k]) => k);
    expect(keys.slice(0, 3)).toEqual(['e/0000000000000001', 'e/0000000000000002', 'e/0000000000000003']);
    expect(keys).toContain('e/0000000000000010');
    // One hard state written so far: the first write goes to slot h1 (sequence 1).
    expect(keys.slice(-2)).toEqual(['h1', 's1']);
    expect(keys.filter((k) => k.startsWith('e/'))).toEqual(Array.from({ length: 23 }, (_, i) => key(i + 1)));
    await log.close();
  });
});

describe('KvLogStorage open', () => {
  test('a damaged record in the middle is LogCorruptError naming its key', async () => {
    const storage = await writtenLog();
    await damage(storage, key(3), flipMiddleByte);
    const error = await rejection(KvLogStorage.open(await storage.openKv('log')));
    expect(error).toBeInstanceOf(LogCorruptError);
    expect(error).toMatchObject({ code: 'LOG_CORRUPT', key: key(3) });
    expect((error as Error).message).toContain(key(3));
  });

  test('one flipped bit in an entry\'s data fails its checksum', async () => {
    const storage = await writtenLog();
    // The payload is the record's last field and the entry's data its last bytes.
    await damage(storage, key(2), (value) => {
      const out = value.slice();
      out[out.length - 1] = (out[out.length - 1] as number) ^ 0x01;
      return out;
    });
    const error = await rejection(KvLogStorage.open(await storage.openKv('log')));
    expect(error).toMatchObject({ code: 'LOG_CORRUPT', key: key(2) });
    expect((error as Error).message).toMatch(/^log record e\/0000000000000002 is corrupt: checksum mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)$/);
  });

  test('a truncated record in the middle is LogCorruptError too', async () => {
    const storage = await writtenLog();
    await damage(storage, key(1), truncate);
    await expect(KvLogStorage.open(await storage.openKv('log'))).rejects.toMatchObject({ code: 'LOG_CORRUPT', key: key(1) });
  });

  test('a torn hard-state write leaves the previous hard state in the other slot; both damaged is LogCorruptError', async () => {
    const storage = await writtenLog();
    const log = await KvLogStorage.open(await storage.openKv('log'));
    await log.save({ hardState: hard(3, 4, 'b'), entries: [] });
    await log.close();
    // Slot h0 holds the newer hard state (sequence 2); tear it.
    await damage(storage, 'h0', flipMiddleByte);
    const reopened = await KvLogStorage.open(await storage.openKv('log'));
    expect(reopened.initialState().hardState).toEqual(hard(2, 3, 'a'));
    await reopened.close();
    await damage(storage, 'h1', flipMiddleByte);
    await expect(KvLogStorage.open(await storage.openKv('log'))).rejects.toMatchObject({ code: 'LOG_CORRUPT' });
  });

  test('a damaged snapshot beside other records is LogCorruptError naming its slot', async () => {
    const storage = new MemoryStorage();
    const log = await KvLogStorage.open(await storage.openKv('log'), { initialConfState: { voters: ['a', 'b'], learners: [] } });
    await log.save({ hardState: hard(1, 0), entries: entriesOf(1, [1]) });
    await log.close();
    await damage(storage, 's1', truncate);
    await expect(KvLogStorage.open(await storage.openKv('log'))).rejects.toMatchObject({ code: 'LOG_CORRUPT', key: 's1' });
  });

  test('a gap between entries is LogCorruptError naming the entry after it', async () => {
    const storage = await writtenLog();
    const kv = await storage.openKv('log');
    await kv.batch([{ type: 'del', key: key(2) }]);
    await expect(KvLogStorage.open(kv)).rejects.toMatchObject({ code: 'LOG_CORRUPT', key: key(3) });
  });

  test('a torn last entry is dropped, counted, and its key deleted', async () => {
    const storage = await writtenLog();
    await damage(storage, key(5), truncate);
    const log = await KvLogStorage.open(await storage.openKv('log'));
    expect(log.recovery).toEqual({ tornTailDropped: 1, tornTailKey: key(5), entriesBelowSnapshotDropped: 0 });
    expect(log.lastIndex()).toBe(4);
    expect(log.entries(1, 5).map((e) => e.term)).toEqual([1, 1, 2, 2]);
    expect(log.initialState().hardState).toEqual(hard(2, 3, 'a'));
    // The next append takes the index again.
    await log.save({ entries: [entry(5, 2)] });
    await log.close();
    const again = await KvLogStorage.open(await storage.openKv('log'));
    expect(again.recovery.tornTailDropped).toBe(0);
    expect(again.lastIndex()).toBe(5);
    await again.close();
  });

  test('a torn last entry under the commit index lowers the commit, durably', async () => {
    const storage = new MemoryStorage();
    const log = await KvLogStorage.open(await storage.openKv('log'));
    await log.save({ hardState: hard(1, 4), entries: entriesOf(1, [1, 1, 1, 1]) });
    await log.close();
    await damage(storage, key(4), flipMiddleByte);
    const reopened = await KvLogStorage.open(await storage.openKv('log'));
    expect(reopened.recovery).toMatchObject({ tornTailDropped: 1, commitLoweredFrom: 4 });
    expect(reopened.initialState().hardState).toEqual(hard(1, 3));
    await reopened.close();
    const again = await KvLogStorage.open(await storage.openKv('log'));
    expect(again.recovery.tornTailDropped).toBe(0);
    expect(again.initialState().hardState).toEqual(hard(1, 3));
    await again.close();
  });

  test('a commit beyond the entries without a torn tail is LogCorruptError naming h', async () => {
    const storage = await writtenLog();
    const kv = await storage.openKv('log');
    await kv.batch([5, 4, 3].map((i) => ({ type: 'del' as const, key: key(i) })));
    await expect(KvLogStorage.open(kv)).rejects.toMatchObject({ code: 'LOG_CORRUPT', key: 'h' });
  });
});

/** A KvLogStorage on a simulated disk, with the loop driven for every call that waits on it. */
class SimLog {
  readonly loop = new SimLoop();
  readonly storage: SimStorage;

  constructor(seed: string | number, options: Partial<SimStorageOptions> = {}) {
    this.storage = new SimStorage(this.loop, new SeededRandom(seed), { writeLatencyMsMax: 10, ...options });
  }

  async settle<T>(promise: Promise<T>): Promise<T> {
    const [run, outcome] = await Promise.allSettled([this.loop.run({}), promise]);
    if (run.status === 'rejected') throw run.reason;
    if (outcome.status === 'rejected') throw outcome.reason;
    return outcome.value;
  }

  open(): Promise<KvLogStorage> {
    return this.settle(this.storage.openKv('log').then((kv: KvStore) => KvLogStorage.open(kv)));
  }
}

const indexes = (log: LogStorage): number[] => log.entries(log.firstIndex(), log.lastIndex() + 1).map((e) => e.index);

describe('KvLogStorage on the simulated disk', () => {
  test('a save that resolved survives a crash', async () => {
    const sim = new SimLog('kept');
    const log = await sim.open();
    await sim.settle(log.save({ hardState: hard(3, 2, 'b'), entries: entriesOf(1, [1, 2, 3]) }));
    sim.storage.crash();
    const reopened = await sim.open();
    expect(indexes(reopened)).toEqual([1, 2, 3]);
    expect(reopened.initialState().hardState).toEqual(hard(3, 2, 'b'));
  });

  test('a save whose sync had not completed may be lost, never half kept', async () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const sim = new SimLog(seed);
      const log = await sim.open();
      await sim.settle(log.save({ hardState: hard(1, 2), entries: entriesOf(1, [1, 1, 1]) }));
      let settled = false;
      log.save({ hardState: hard(2, 3), entries: entriesOf(3, [2, 2, 2]) }).then(
        () => (settled = true),
        () => (settled = true),
      );
      sim.storage.crash();
      const reopened = await sim.open();
      const state = { indexes: indexes(reopened), terms: indexes(reopened).map((i) => reopened.term(i)), hardState: reopened.initialState().hardState };
      if (state.indexes.length === 3) expect(state).toEqual({ indexes: [1, 2, 3], terms: [1, 1, 1], hardState: hard(1, 2) });
      else expect(state).toEqual({ indexes: [1, 2, 3, 4, 5], terms: [1, 1, 2, 2, 2], hardState: hard(2, 3) });
      outcomes.add(state.indexes.length === 3 ? 'lost' : 'kept');
      await sim.loop.run({});
      expect(settled).toBe(false);
    }
    expect([...outcomes].sort()).toEqual(['kept', 'lost']);
  });

  test('a torn last write is dropped on reopen and counted', async () => {
    let tornSeen = 0;
    for (let seed = 0; seed < 30; seed++) {
      const sim = new SimLog(seed, { tornWriteProbability: 1 });
      const log = await sim.open();
      await sim.settle(log.save({ hardState: hard(1, 5), entries: entriesOf(1, [1, 1, 1, 1, 1]) }));
      void log.save({ hardState: hard(2, 5), entries: entriesOf(6, [2, 2, 2]) });
      const report = sim.storage.crash();
      const reopened = await sim.open();
      if (report.torn.length > 0) {
        tornSeen++;
        // The entries come last in the batch, so the tear hits the last entry, never h.
        expect(report.torn).toEqual([expect.objectContaining({ store: 'log', key: key(8) })]);
        expect(reopened.recovery).toMatchObject({ tornTailDropped: 1, tornTailKey: key(8) });
        expect(indexes(reopened)).toEqual([1, 2, 3, 4, 5, 6, 7]);
        expect(reopened.initialState().hardState).toEqual(hard(2, 5));
      } else {
        expect(reopened.recovery.tornTailDropped).toBe(0);
        expect(indexes(reopened)).toEqual([1, 2, 3, 4, 5]);
      }
    }
    expect(tornSeen).toBeGreaterThan(0);
  });

  test('an fsync failure rejects the save, and every write after it', async () => {
    const sim = new SimLog('fsync', { syncFailureProbability: 1 });
    const log = await sim.open();
    const error = await rejection(sim.settle(log.save({ hardState: hard(1, 0), entries: entriesOf(1, [1]) })));
    expect(error).toEqual(new Error('simulated fsync failure'));
    // The store's contents are unknown now: nothing more is written, the same error answers.
    expect(await rejection(log.save({ entries: entriesOf(2, [1]) }))).toBe(error);
    expect(await rejection(log.compact(1))).toBe(error);
    expect(log.lastIndex()).toBe(1);
  });

  test('after an fsync failure and a crash the failed save is either whole or gone', async () => {
    const outcomes = new Set<number>();
    for (let seed = 0; seed < 30; seed++) {
      const sim = new SimLog(seed, { syncFailureProbability: 0.5 });
      const log = await sim.open();
      let failed = false;
      for (let i = 1; i <= 4 && !failed; i++) {
        try {
          await sim.settle(log.save({ hardState: hard(i, i - 1), entries: [entry(i, i)] }));
        } catch {
          failed = true;
        }
      }
      sim.storage.crash();
      const reopened = await sim.open();
      const last = reopened.lastIndex();
      outcomes.add(last);
      expect(indexes(reopened)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
      if (last > 0) expect(reopened.initialState().hardState).toEqual(hard(last, last - 1));
    }
    expect(outcomes.size).toBeGreaterThan(1);
  });
});

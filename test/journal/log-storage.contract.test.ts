// The LogStorage contract, run against every implementation: the memory log, and KvLogStorage
// over the memory, LevelDB and simulated key-value stores. The simulated disk completes syncs as
// SimLoop events, so every write goes through `settle`, which runs the loop.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  EMPTY_HARD_STATE,
  KvLogStorage,
  LogCompactedError,
  LogUnavailableError,
  MemoryLogStorage,
  type ConfState,
  type Entry,
  type HardState,
  type LogStorage,
  type Snapshot,
} from '../../journal/index.js';
import { InvariantViolation, MemoryStorage, SeededRandom, type Storage } from '../../runtime/index.js';
import { LevelStorage } from '../../runtime/env/real/index.js';
import { SimLoop, SimStorage } from '../../simulations/index.js';
import { observeLog } from './helpers.js';

interface Subject {
  /** Whether the log outlives close(): only then do the reopen tests run. */
  readonly persistent: boolean;
  /** Opens the log: empty the first time, what the store holds afterwards. */
  open(initialConfState?: ConfState): Promise<LogStorage>;
  /** Resolves `promise`, letting the store complete its writes (the SimLoop runs here). */
  settle<T>(promise: Promise<T>): Promise<T>;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function kvSubject(storage: Storage, settle: <T>(promise: Promise<T>) => Promise<T>): Subject {
  return {
    persistent: true,
    open: async (initialConfState) => settle(storage.openKv('raft-log').then((kv) => KvLogStorage.open(kv, initialConfState === undefined ? {} : { initialConfState }))),
    settle,
  };
}

const subjects: Array<[string, () => Subject]> = [
  [
    'MemoryLogStorage',
    () => ({
      persistent: false,
      open: async (conf) => MemoryLogStorage.create(conf === undefined ? {} : { voters: conf.voters, learners: conf.learners }),
      settle: (promise) => promise,
    }),
  ],
  ['KvLogStorage on MemoryStorage', () => kvSubject(new MemoryStorage(), (promise) => promise)],
  [
    'KvLogStorage on LevelStorage',
    () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'swarm-log-'));
      dirs.push(dir);
      return kvSubject(new LevelStorage(dir), (promise) => promise);
    },
  ],
  [
    'KvLogStorage on SimStorage',
    () => {
      const loop = new SimLoop();
      const storage = new SimStorage(loop, new SeededRandom('log-contract'), { writeLatencyMsMax: 5 });
      return kvSubject(storage, async (promise) => {
        // Both settle together, so that an early rejection is handled at once, not after the run.
        const [run, outcome] = await Promise.allSettled([loop.run({}), promise]);
        if (run.status === 'rejected') throw run.reason;
        if (outcome.status === 'rejected') throw outcome.reason;
        return outcome.value;
      });
    },
  ],
];

const entry = (index: number, term: number, bytes = 1): Entry => ({ index, term, type: 'normal', data: new Uint8Array(bytes).fill(index % 256) });
const entriesOf = (first: number, terms: readonly number[], bytes = 1): Entry[] => terms.map((term, i) => entry(first + i, term, bytes));
const hard = (term: number, commit: number, vote = ''): HardState => ({ term, vote, commit });
const conf = (...voters: string[]): ConfState => ({ voters, learners: [] });
const snapshotAt = (index: number, term: number, confState = conf('a', 'b', 'c')): Snapshot => ({ meta: { index, term, confState }, data: new Uint8Array([7, 7, index % 256]) });

/** Closes the log; a persistent one must then reopen showing a reader exactly what it showed before. */
async function closeExpectingSameAfterReopen(s: Subject, log: LogStorage): Promise<void> {
  const before = observeLog(log);
  await log.close();
  if (!s.persistent) return;
  const reopened = await s.open();
  expect(observeLog(reopened)).toEqual(before);
  await reopened.close();
}

describe.each(subjects)('%s', (_name, make) => {
  test('starts empty', async () => {
    const s = make();
    const log = await s.open();
    expect(log.firstIndex()).toBe(1);
    expect(log.lastIndex()).toBe(0);
    expect(log.term(0)).toBe(0);
    expect(log.entries(1, 1)).toEqual([]);
    expect(log.initialState()).toEqual({ hardState: EMPTY_HARD_STATE, confState: { voters: [], learners: [] } });
    expect(log.snapshot().meta.index).toBe(0);
    expect(() => log.term(1)).toThrow(LogUnavailableError);
    await log.close();
  });

  test('appends entries with the hard state', async () => {
    const s = make();
    const log = await s.open();
    await s.settle(log.save({ hardState: hard(2, 3, 'a'), entries: entriesOf(1, [1, 1, 1, 2, 2]) }));
    expect(log.lastIndex()).toBe(5);
    expect([1, 2, 3, 4, 5].map((i) => log.term(i))).toEqual([1, 1, 1, 2, 2]);
    expect(log.entries(1, 6)).toEqual(entriesOf(1, [1, 1, 1, 2, 2]));
    expect(log.entries(2, 4).map((e) => e.index)).toEqual([2, 3]);
    expect(log.initialState().hardState).toEqual(hard(2, 3, 'a'));
    await s.settle(log.save({ entries: entriesOf(6, [2]) }));
    expect(log.lastIndex()).toBe(6);
    expect(log.initialState().hardState).toEqual(hard(2, 3, 'a'));
    await log.close();
  });

  test('truncates a conflicting tail', async () => {
    const s = make();
    const log = await s.open();
    await s.settle(log.save({ hardState: hard(2, 2), entries: entriesOf(1, [1, 1, 1, 2, 2]) }));
    await s.settle(log.save({ hardState: hard(3, 3), entries: entriesOf(4, [3, 3, 3]) }));
    expect(log.lastIndex()).toBe(6);
    expect(log.entries(1, 7).map((e) => e.term)).toEqual([1, 1, 1, 3, 3, 3]);
    // A shorter overwrite drops everything after it too.
    await s.settle(log.save({ hardState: hard(4, 3), entries: entriesOf(4, [4]) }));
    expect(log.lastIndex()).toBe(4);
    expect(log.entries(1, 5).map((e) => e.term)).toEqual([1, 1, 1, 4]);
    expect(() => log.term(5)).toThrow(LogUnavailableError);
    if (s.persistent) {
      await log.close();
      const reopened = await s.open();
      expect(reopened.entries(1, 5).map((e) => e.term)).toEqual([1, 1, 1, 4]);
      expect(reopened.lastIndex()).toBe(4);
      await reopened.close();
    } else {
      await log.close();
    }
  });

  test('answers out-of-range reads with typed errors', async () => {
    const s = make();
    const log = await s.open();
    await s.settle(log.save({ hardState: hard(1, 5), entries: entriesOf(1, [1, 1, 1, 1, 1]) }));
    await s.settle(log.save({ hardState: hard(2, 5), snapshot: snapshotAt(5, 1), entries: [] }));
    await s.settle(log.save({ entries: entriesOf(6, [2, 2, 2]) }));
    expect(log.firstIndex()).toBe(6);
    expect(log.lastIndex()).toBe(8);
    expect(log.term(5)).toBe(1);
    expect(() => log.term(4)).toThrow(LogCompactedError);
    expect(() => log.term(9)).toThrow(LogUnavailableError);
    expect(() => log.entries(5, 7)).toThrow(LogCompactedError);
    expect(() => log.entries(6, 10)).toThrow(LogUnavailableError);
    expect(log.entries(9, 9)).toEqual([]);
    expect(log.entries(6, 9).map((e) => e.index)).toEqual([6, 7, 8]);
    expect(() => log.entries(8, 7)).toThrow(InvariantViolation);
    const compacted = (() => {
      try {
        log.term(2);
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(compacted).toMatchObject({ code: 'LOG_COMPACTED', index: 2, firstIndex: 6 });
    await log.close();
  });

  test('limits entries by bytes, but always returns at least one', async () => {
    const s = make();
    const log = await s.open();
    await s.settle(log.save({ entries: entriesOf(1, [1, 1, 1, 1, 1], 10) }));
    const count = (bytesMax?: number) => log.entries(1, 6, bytesMax).length;
    expect(count(0)).toBe(1);
    expect(count(9)).toBe(1);
    expect(count(10)).toBe(1);
    expect(count(19)).toBe(1);
    expect(count(20)).toBe(2);
    expect(count(45)).toBe(4);
    expect(count(50)).toBe(5);
    expect(count(1000)).toBe(5);
    expect(count()).toBe(5);
    expect(log.entries(3, 4, 0).map((e) => e.index)).toEqual([3]);
    await log.close();
  });

  test('a saved snapshot replaces the whole log; entries after it follow', async () => {
    const s = make();
    const log = await s.open();
    await s.settle(log.save({ hardState: hard(1, 2), entries: entriesOf(1, [1, 1, 1, 1, 1]) }));
    // Even a snapshot whose last entry the log holds drops the entries after it: the core only
    // installs a snapshot its log does not already cover.
    await s.settle(log.save({ hardState: hard(3, 7), snapshot: snapshotAt(7, 3, conf('x', 'y')), entries: [] }));
    expect(log.firstIndex()).toBe(8);
    expect(log.lastIndex()).toBe(7);
    expect(log.term(7)).toBe(3);
    expect(() => log.term(6)).toThrow(LogCompactedError);
    expect(log.snapshot()).toEqual(snapshotAt(7, 3, conf('x', 'y')));
    expect(log.initialState()).toEqual({ hardState: hard(3, 7), confState: conf('x', 'y') });
    await s.settle(log.save({ entries: entriesOf(8, [3, 3]) }));
    expect(log.entries(8, 10).map((e) => [e.index, e.term])).toEqual([[8, 3], [9, 3]]);
    // A snapshot and entries in one write: the snapshot first, then the entries after it.
    await s.settle(log.save({ hardState: hard(4, 12), snapshot: snapshotAt(12, 4), entries: entriesOf(13, [4, 4]) }));
    expect([log.firstIndex(), log.lastIndex()]).toEqual([13, 14]);
    expect(log.term(12)).toBe(4);
    await closeExpectingSameAfterReopen(s, log);
  });

  test('createSnapshot keeps the entries; compact drops them up to a point, keeping a tail', async () => {
    const s = make();
    const log = await s.open();
    await s.settle(log.save({ hardState: hard(2, 10), entries: entriesOf(1, [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]) }));
    const made = await s.settle(log.createSnapshot(8, conf('a', 'b'), new Uint8Array([1, 2, 3])));
    expect(made.meta).toEqual({ index: 8, term: 2, confState: conf('a', 'b') });
    expect(log.snapshot()).toEqual(made);
    expect(log.firstIndex()).toBe(1);
    await s.settle(log.compact(5));
    expect(log.firstIndex()).toBe(6);
    expect(log.term(5)).toBe(1);
    expect(() => log.term(4)).toThrow(LogCompactedError);
    expect(log.entries(6, 11).map((e) => e.index)).toEqual([6, 7, 8, 9, 10]);
    // Compacting to a point already compacted is a no-op.
    await s.settle(log.compact(3));
    expect(log.firstIndex()).toBe(6);
    // Beyond the snapshot would drop entries no snapshot covers.
    await expect(s.settle(log.compact(9))).rejects.toThrow(InvariantViolation);
    await s.settle(log.compact(8));
    expect([log.firstIndex(), log.term(8)]).toEqual([9, 2]);
    await expect(s.settle(log.createSnapshot(8, conf('a'), new Uint8Array()))).rejects.toThrow(InvariantViolation);
    await log.close();
  });

  test('refuses writes that break the log rules, changing nothing', async () => {
    const s = make();
    const log = await s.open();
    await s.settle(log.save({ hardState: hard(3, 2, 'b'), entries: entriesOf(1, [1, 2, 3]) }));
    const before = observeLog(log);
    const refused: Array<Parameters<LogStorage['save']>[0]> = [
      { entries: entriesOf(5, [3]) }, // a gap after the last entry
      { entries: [entry(4, 3), entry(6, 3)] }, // not contiguous
      { hardState: hard(2, 2, 'b'), entries: [] }, // the term goes back
      { hardState: hard(3, 2, 'c'), entries: [] }, // a second vote in one term
      { hardState: hard(3, 4, 'b'), entries: [] }, // commit beyond the last entry
      { hardState: hard(3, 2, 'b'), snapshot: snapshotAt(0, 0), entries: [] }, // a snapshot not above the stored one
      { entries: entriesOf(2, [3, 3]) }, // entry 2 is committed: it may not change
    ];
    for (const write of refused) await expect(s.settle(log.save(write))).rejects.toThrow(InvariantViolation);
    expect(observeLog(log)).toEqual(before);
    // The same vote, or a new term, is fine; so is repeating committed entries unchanged.
    await s.settle(log.save({ hardState: hard(3, 3, 'b'), entries: [] }));
    await s.settle(log.save({ entries: entriesOf(2, [2, 3]) }));
    await s.settle(log.save({ hardState: hard(4, 3, 'c'), entries: [] }));
    expect(log.initialState().hardState).toEqual(hard(4, 3, 'c'));
    await log.close();
  });

  test('writes issued back to back, before the first is durable, apply in order', async () => {
    const s = make();
    const log = await s.open();
    const writes = [
      log.save({ hardState: hard(1, 0), entries: entriesOf(1, [1, 1, 1, 1]) }),
      log.save({ hardState: hard(2, 1), entries: entriesOf(3, [2, 2]) }),
      log.save({ hardState: hard(2, 4), entries: entriesOf(5, [2]) }),
    ];
    // The reads see every issued write at once.
    expect(log.entries(1, 6).map((e) => e.term)).toEqual([1, 1, 2, 2, 2]);
    await s.settle(Promise.all(writes));
    await closeExpectingSameAfterReopen(s, log);
  });

  test('takes an initial ConfState', async () => {
    const s = make();
    const log = await s.open(conf('1', '2', '3'));
    expect(log.initialState().confState).toEqual(conf('1', '2', '3'));
    expect(log.snapshot().meta).toEqual({ index: 0, term: 0, confState: conf('1', '2', '3') });
    if (s.persistent) {
      await log.close();
      // The initial snapshot is durable: a reopen without the option keeps it.
      const reopened = await s.open();
      expect(reopened.initialState().confState).toEqual(conf('1', '2', '3'));
      await reopened.close();
    } else {
      await log.close();
    }
  });
});

describe.each(subjects.filter(([name]) => name !== 'MemoryLogStorage'))('%s across reopen', (_name, make) => {
  test('reopen reproduces the exact state after appends, truncations and snapshots', async () => {
    const s = make();
    const log = await s.open(conf('a', 'b', 'c'));
    await s.settle(log.save({ hardState: hard(1, 1, 'a'), entries: entriesOf(1, [1, 1, 1, 1]) }));
    await s.settle(log.save({ hardState: hard(2, 2, 'b'), entries: entriesOf(3, [2, 2, 2, 2], 3) }));
    await s.settle(log.save({ hardState: hard(2, 5, 'b'), entries: [] }));
    const empty = observeLog(log);
    await log.close();
    const first = await s.open();
    expect(observeLog(first)).toEqual(empty);
    await s.settle(first.save({ hardState: hard(5, 9), snapshot: snapshotAt(9, 4, conf('a', 'b')), entries: entriesOf(10, [5, 5, 5], 100) }));
    await s.settle(first.save({ hardState: hard(6, 10), entries: entriesOf(12, [6]) }));
    const before = observeLog(first);
    await first.close();
    const second = await s.open();
    expect(observeLog(second)).toEqual(before);
    expect(before).toMatchObject({ first: 10, last: 12, baseTerm: 4, initialState: { hardState: hard(6, 10), confState: conf('a', 'b') } });
    await second.close();
  });

  test('a tail kept below the snapshot is not reloaded: the log reopens at the snapshot', async () => {
    const s = make();
    const log = await s.open();
    await s.settle(log.save({ hardState: hard(2, 10), entries: entriesOf(1, [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]) }));
    await s.settle(log.createSnapshot(8, conf('a'), new Uint8Array([8])));
    await s.settle(log.compact(5));
    await log.close();
    const reopened = (await s.open()) as KvLogStorage;
    expect([reopened.firstIndex(), reopened.lastIndex(), reopened.term(8)]).toEqual([9, 10, 2]);
    // Entries 1..10 are one segment, which straddles the snapshot: it stays, and open skips
    // entries 1..8 in it (1..5 compacted, 6..8 the kept tail), each time until a compaction past it.
    expect(reopened.recovery).toEqual({ tornTailDropped: 0, entriesBelowSnapshotDropped: 8 });
    await reopened.close();
    const again = (await s.open()) as KvLogStorage;
    expect(again.recovery.entriesBelowSnapshotDropped).toBe(8);
    expect(again.entries(9, 11).map((e) => e.index)).toEqual([9, 10]);
    await again.close();
  });
});

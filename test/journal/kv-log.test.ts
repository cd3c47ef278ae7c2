// KvLogStorage beyond the contract: its layout (one segment record per write), what open does with
// damaged records (a torn last segment is dropped, anything else is LogCorruptError naming the
// key), segments that override the tail of older ones, compaction across segments, and its
// behaviour on the simulated disk through crashes, torn writes and fsync failures.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { KvLogStorage, LogCorruptError, MemoryLogStorage, crc32, type ConfState, type KvLogStorageOptions, type Entry, type HardState, type LogStorage, type LogWrite, type Snapshot } from '../../journal/index.js';
import { MemoryStorage, SeededRandom, type KvOp, type KvStore, type Storage } from '../../runtime/index.js';
import { LevelStorage } from '../../runtime/env/real/index.js';
import { SimLoop, SimStorage, type SimStorageOptions } from '../../simulations/index.js';
import { observeLog, rejection } from './helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const entry = (index: number, term: number, bytes = 8): Entry => ({ index, term, type: 'normal', data: new Uint8Array(bytes).fill(index % 256) });
const entriesOf = (first: number, terms: readonly number[]): Entry[] => terms.map((term, i) => entry(first + i, term));
const hard = (term: number, commit: number, vote = ''): HardState => ({ term, vote, commit });
const key = (index: number): string => `e/${index.toString(16).padStart(16, '0')}`;


/**
 * A log of entries 1..5 (terms 1,1,2,2,2, commit 3) on a MemoryStorage, closed again: three
 * writes, so three segments, under key(1) (entries 1-2), key(3) (3-4) and key(5) (5).
 */
async function writtenLog(): Promise<Storage> {
  const storage = new MemoryStorage();
  const log = await KvLogStorage.open(await storage.openKv('log'));
  await log.save({ hardState: hard(1, 0, 'a'), entries: entriesOf(1, [1, 1]) });
  await log.save({ hardState: hard(2, 2, 'a'), entries: entriesOf(3, [2, 2]) });
  await log.save({ hardState: hard(2, 3, 'a'), entries: entriesOf(5, [2]) });
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

const entryKeys = async (storage: Storage): Promise<string[]> => (await (await storage.openKv('log')).range({ gte: 'e/', lt: 'e0' })).map(([k]) => k);

describe('KvLogStorage layout', () => {
  test('one segment per write under e/ + its first index in 16 hex digits, the two-slot records h0/h1 and s0/s1; key order is index order', async () => {
    const storage = new MemoryStorage();
    const kv = await storage.openKv('log');
    const log = await KvLogStorage.open(kv, { initialConfState: { voters: ['a'], learners: [] } });
    await log.save({ hardState: hard(1, 0), entries: entriesOf(1, [1, 1, 1]) });
    await log.save({ entries: Array.from({ length: 20 }, (_, i) => entry(4 + i, 1)) });
    await log.save({ entries: Array.from({ length: 5 }, (_, i) => entry(24 + i, 1)) });
    const raw = await (await storage.openKv('log')).range({});
    const keys = raw.map(([k]) => k);
    expect(keys).toEqual(['e/0000000000000001', 'e/0000000000000004', 'e/0000000000000018', 'h1', 's1']);
    // A segment: magic 0xE5, the entry count, the CRC-32 of the rest, then per entry its length and
    // its record (index and term, 8 bytes each, the type, the data).
    const [, segment] = raw[1] as [string, Uint8Array];
    expect([...segment.subarray(0, 5)]).toEqual([0xe5, 0, 0, 0, 20]);
    expect(new DataView(segment.buffer, segment.byteOffset).getUint32(5)).toBe(crc32(segment.subarray(9)));
    expect([...segment.subarray(9, 30)]).toEqual([0, 0, 0, 17 + 8, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    expect(segment.byteLength).toBe(9 + 20 * (4 + 17 + 8));
    await log.close();
  });

  test('a write that only appends or only repeats stored entries writes no other key', async () => {
    const storage = new MemoryStorage();
    const log = await KvLogStorage.open(await storage.openKv('log'));
    await log.save({ hardState: hard(1, 2), entries: entriesOf(1, [1, 1, 1, 1]) });
    // Entries 2..4 repeated (same index and term: the same entries) and 5..6 new: only 5..6 are written.
    await log.save({ entries: entriesOf(2, [1, 1, 1, 1, 1]) });
    expect(await entryKeys(storage)).toEqual([key(1), key(5)]);
    // Only repeated entries, the log as long as before: nothing to write.
    await log.save({ hardState: hard(1, 3), entries: entriesOf(3, [1, 1, 1, 1]) });
    expect(await entryKeys(storage)).toEqual([key(1), key(5)]);
    await log.close();
    const reopened = await KvLogStorage.open(await storage.openKv('log'));
    expect(reopened.entries(1, 7)).toEqual(entriesOf(1, [1, 1, 1, 1, 1, 1]));
    await reopened.close();
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
    // The segment's last bytes are the data of its last entry, entry 2.
    await damage(storage, key(1), (value) => {
      const out = value.slice();
      out[out.length - 1] = (out[out.length - 1] as number) ^ 0x01;
      return out;
    });
    const error = await rejection(KvLogStorage.open(await storage.openKv('log')));
    expect(error).toMatchObject({ code: 'LOG_CORRUPT', key: key(1) });
    expect((error as Error).message).toMatch(/^log record e\/0000000000000001 is corrupt: checksum mismatch in the segment of 2 entries from 1 \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)$/);
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

  test('open checks the newest snapshot slot first and falls back to the older one only when the newest is torn', async () => {
    const conf: ConfState = { voters: ['a'], learners: [] };
    /** Entries 1..5, then snapshots at 3 (sequence 2, slot s0) and at 5 (sequence 3, slot s1). */
    const written = async (): Promise<Storage> => {
      const storage = new MemoryStorage();
      const log = await KvLogStorage.open(await storage.openKv('log'), { initialConfState: conf });
      await log.save({ hardState: hard(1, 5), entries: entriesOf(1, [1, 1, 1, 1, 1]) });
      await log.createSnapshot(3, conf, Uint8Array.of(3));
      await log.createSnapshot(5, conf, Uint8Array.of(5));
      await log.close();
      return storage;
    };
    const snapshotAfterReopen = async (storage: Storage): Promise<Snapshot> => {
      const log = await KvLogStorage.open(await storage.openKv('log'));
      const snapshot = log.snapshot();
      await log.close();
      return snapshot;
    };
    const whole = await written();
    expect(await snapshotAfterReopen(whole)).toMatchObject({ meta: { index: 5 }, data: Uint8Array.of(5) });
    // The older slot damaged: the newest opens, the older is never needed.
    await damage(whole, 's0', flipMiddleByte);
    expect(await snapshotAfterReopen(whole)).toMatchObject({ meta: { index: 5 }, data: Uint8Array.of(5) });

    for (const tear of [truncate, flipMiddleByte, (value: Uint8Array) => value.slice(0, 3)]) {
      const torn = await written();
      await damage(torn, 's1', tear);
      expect(await snapshotAfterReopen(torn)).toMatchObject({ meta: { index: 3 }, data: Uint8Array.of(3) });
      // The log reopens at that snapshot: its entries after 3 are still there.
      const log = await KvLogStorage.open(await torn.openKv('log'));
      expect(log.firstIndex()).toBe(4);
      expect(log.lastIndex()).toBe(5);
      await log.close();
      await damage(torn, 's0', flipMiddleByte);
      await expect(KvLogStorage.open(await torn.openKv('log'))).rejects.toMatchObject({ code: 'LOG_CORRUPT' });
    }
  });

  test('a gap between segments is LogCorruptError naming the segment after it', async () => {
    const storage = await writtenLog();
    const kv = await storage.openKv('log');
    await kv.batch([{ type: 'del', key: key(3) }]);
    const error = await rejection(KvLogStorage.open(kv));
    expect(error).toMatchObject({ code: 'LOG_CORRUPT', key: key(5) });
    expect((error as Error).message).toContain('expected entry 3 here: the log has a gap');
  });

  test('a segment of an unknown format is refused, even the last one (a tear keeps how a value starts)', async () => {
    for (const at of [1, 5]) {
      const storage = await writtenLog();
      // 0xE2 starts a single-entry record of the format before segments.
      await damage(storage, key(at), (value) => Uint8Array.from([0xe2, ...value.subarray(1)]));
      const error = await rejection(KvLogStorage.open(await storage.openKv('log')));
      expect(error).toMatchObject({ code: 'LOG_CORRUPT', key: key(at) });
      expect((error as Error).message).toContain('unknown segment record format 0xe2');
    }
  });

  test('a torn last segment is dropped, counted, and its key deleted', async () => {
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

  test('a torn last segment under the commit index lowers the commit, durably', async () => {
    const storage = new MemoryStorage();
    const log = await KvLogStorage.open(await storage.openKv('log'));
    await log.save({ hardState: hard(1, 0), entries: entriesOf(1, [1, 1, 1]) });
    await log.save({ hardState: hard(1, 4), entries: entriesOf(4, [1]) });
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
    await kv.batch([5, 3].map((i) => ({ type: 'del' as const, key: key(i) })));
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

  open(options: KvLogStorageOptions = {}): Promise<KvLogStorage> {
    return this.settle(this.storage.openKv('log').then((kv: KvStore) => KvLogStorage.open(kv, options)));
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
        // The segment comes last in the batch, so the tear hits it, never h; it is dropped whole.
        expect(report.torn).toEqual([expect.objectContaining({ store: 'log', key: key(6) })]);
        expect(reopened.recovery).toMatchObject({ tornTailDropped: 1, tornTailKey: key(6) });
        expect(indexes(reopened)).toEqual([1, 2, 3, 4, 5]);
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

// ---- segments: overriding, torn overrides, compaction, on every store ------------------------------

/** An entry whose data tells its term too, so that an overridden entry is told from its replacement. */
const termed = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: Uint8Array.of(index % 256, term % 256, 0xaa) });
const termedOf = (first: number, terms: readonly number[]): Entry[] => terms.map((term, i) => termed(first + i, term));
const conf = (...voters: string[]): ConfState => ({ voters, learners: [] });

/**
 * A store to reopen a log on, and how to wait for it (the simulated disk runs its loop). The log
 * and the test share one handle, whose close is left to the end of the file: LevelDB allows one
 * handle per directory, and the test reads keys while the log is open.
 */
interface Disk {
  readonly kv: KvStore;
  settle<T>(promise: Promise<T>): Promise<T>;
}

const handles: KvStore[] = [];
afterAll(async () => {
  for (const handle of handles.splice(0)) await handle.close();
});

/** The store's handle, behind a close that leaves it open. */
function shared(kv: KvStore): KvStore {
  handles.push(kv);
  return { get: (k) => kv.get(k), batch: (ops, options) => kv.batch(ops, options), range: (options) => kv.range(options), close: async () => {} };
}

const disks: Array<[string, () => Promise<Disk>]> = [
  ['MemoryStorage', async () => ({ kv: shared(await new MemoryStorage().openKv('log')), settle: (promise) => promise })],
  [
    'LevelStorage',
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'swarm-kv-log-'));
      dirs.push(dir);
      return { kv: shared(await new LevelStorage(dir).openKv('log')), settle: (promise) => promise };
    },
  ],
  [
    'SimStorage',
    async () => {
      const loop = new SimLoop();
      const storage = new SimStorage(loop, new SeededRandom('segments'), { writeLatencyMsMax: 5 });
      return {
        kv: shared(await storage.openKv('log')),
        settle: async (promise) => {
          const [run, outcome] = await Promise.allSettled([loop.run({}), promise]);
          if (run.status === 'rejected') throw run.reason;
          if (outcome.status === 'rejected') throw outcome.reason;
          return outcome.value;
        },
      };
    },
  ],
];

const openOn = (disk: Disk, options: KvLogStorageOptions = {}): Promise<KvLogStorage> => disk.settle(KvLogStorage.open(disk.kv, options));
const keysOn = async (disk: Disk): Promise<string[]> => (await disk.settle(disk.kv.range({ gte: 'e/', lt: 'e0' }))).map(([k]) => k);
const damageOn = async (disk: Disk, at: string, change: (value: Uint8Array) => Uint8Array): Promise<void> => {
  const value = await disk.settle(disk.kv.get(at));
  if (value === undefined) throw new Error(`no value under ${at}`);
  await disk.settle(disk.kv.batch([{ type: 'put', key: at, value: change(value) }], { sync: true }));
};
const termsOf = (log: LogStorage): number[] => log.entries(log.firstIndex(), log.lastIndex() + 1).map((e) => e.term);
const dataOf = (log: LogStorage): number[][] => log.entries(log.firstIndex(), log.lastIndex() + 1).map((e) => [...e.data]);

describe.each(disks)('KvLogStorage segments on %s', (_name, makeDisk) => {
  test('entries and hard state survive reopen', async () => {
    const disk = await makeDisk();
    const log = await openOn(disk);
    await disk.settle(log.save({ hardState: hard(1, 0, 'a'), entries: termedOf(1, [1, 1, 1]) }));
    await disk.settle(log.save({ hardState: hard(2, 3, 'b'), entries: termedOf(4, [2, 2]) }));
    await disk.settle(log.save({ hardState: hard(2, 5, 'b'), entries: [] }));
    await log.close();
    const reopened = await openOn(disk);
    expect(reopened.recovery).toEqual({ tornTailDropped: 0, entriesBelowSnapshotDropped: 0 });
    expect(reopened.initialState().hardState).toEqual(hard(2, 5, 'b'));
    expect(reopened.entries(1, 6)).toEqual(termedOf(1, [1, 1, 1, 2, 2]));
    expect(await keysOn(disk)).toEqual([key(1), key(4)]);
    await reopened.close();
  });

  test('a conflicting tail truncated in the middle of a segment: the older segment stays, the new one overrides its rest', async () => {
    const disk = await makeDisk();
    const log = await openOn(disk);
    await disk.settle(log.save({ hardState: hard(1, 3), entries: termedOf(1, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]) }));
    await disk.settle(log.save({ entries: termedOf(11, [1, 1, 1, 1, 1]) }));
    // A new leader overwrites from 6: the segment at 11 goes (wholly truncated), the one at 1 stays.
    await disk.settle(log.save({ hardState: hard(2, 3), entries: termedOf(6, [2, 2, 2]) }));
    expect(await keysOn(disk)).toEqual([key(1), key(6)]);
    expect(termsOf(log)).toEqual([1, 1, 1, 1, 1, 2, 2, 2]);
    // And again from 4, inside the older segment's live range: the segment at 6 goes.
    await disk.settle(log.save({ hardState: hard(3, 3), entries: termedOf(4, [3, 3]) }));
    expect(await keysOn(disk)).toEqual([key(1), key(4)]);
    // And from 4 again, the same key: its put replaces the value under it.
    await disk.settle(log.save({ hardState: hard(4, 3), entries: termedOf(4, [4]) }));
    expect(await keysOn(disk)).toEqual([key(1), key(4)]);
    await disk.settle(log.save({ hardState: hard(4, 3), entries: termedOf(5, [4, 4]) }));
    const before = { terms: termsOf(log), data: dataOf(log), hardState: log.initialState().hardState };
    expect(before.terms).toEqual([1, 1, 1, 4, 4, 4]);
    await log.close();
    const reopened = await openOn(disk);
    expect({ terms: termsOf(reopened), data: dataOf(reopened), hardState: reopened.initialState().hardState }).toEqual(before);
    expect(reopened.entries(1, 7)).toEqual([...termedOf(1, [1, 1, 1]), ...termedOf(4, [4, 4, 4])]);
    // The bookkeeping after open: a further override inside the first segment.
    await disk.settle(reopened.save({ hardState: hard(5, 3), entries: termedOf(4, [5]) }));
    expect(await keysOn(disk)).toEqual([key(1), key(4)]);
    await reopened.close();
    const again = await openOn(disk);
    expect(termsOf(again)).toEqual([1, 1, 1, 5]);
    await again.close();
  });

  test('a torn overriding segment is dropped and gives the older segment back its overridden entries; commit stays below them', async () => {
    const disk = await makeDisk();
    const log = await openOn(disk);
    await disk.settle(log.save({ hardState: hard(1, 3), entries: termedOf(1, [1, 1, 1, 1, 1, 1, 1, 1]) }));
    await disk.settle(log.save({ hardState: hard(2, 7), entries: termedOf(5, [2, 2, 2, 2]) }));
    await log.close();
    // As if the crash had cut the second write's segment short (it was never acknowledged).
    await damageOn(disk, key(5), truncate);
    const reopened = await openOn(disk);
    expect(reopened.recovery).toEqual({ tornTailDropped: 1, tornTailKey: key(5), commitLoweredFrom: 7, entriesBelowSnapshotDropped: 0 });
    expect(reopened.entries(1, 9)).toEqual(termedOf(1, [1, 1, 1, 1, 1, 1, 1, 1]));
    // Entries 5..8 are the old, conflicting ones now: commit may not cover them.
    expect(reopened.initialState().hardState).toEqual(hard(2, 4));
    expect(await keysOn(disk)).toEqual([key(1)]);
    // The bookkeeping after the drop: the segment at 1 holds 1..8 again, and a write at 9 appends.
    await disk.settle(reopened.save({ entries: termedOf(9, [1]) }));
    await reopened.close();
    const again = await openOn(disk);
    expect(again.recovery.tornTailDropped).toBe(0);
    expect(termsOf(again)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(again.initialState().hardState).toEqual(hard(2, 4));
    await again.close();
  });

  test('damage in a segment before the last is LogCorruptError naming its key, an overridden part too', async () => {
    for (const [at, change] of [
      [1, flipMiddleByte],
      [4, truncate],
      // The segment at 1 holds 1..6, its entries from 4 on overridden: its last bytes are entry 6's.
      [1, (value: Uint8Array) => Uint8Array.from(value, (byte, i) => (i === value.length - 1 ? byte ^ 1 : byte))],
    ] as const) {
      const disk = await makeDisk();
      const log = await openOn(disk);
      await disk.settle(log.save({ hardState: hard(1, 2), entries: termedOf(1, [1, 1, 1, 1, 1, 1]) }));
      await disk.settle(log.save({ hardState: hard(2, 2), entries: termedOf(4, [2, 2]) }));
      await disk.settle(log.save({ entries: termedOf(6, [2, 2]) }));
      await log.close();
      await damageOn(disk, key(at), change);
      const error = await rejection(openOn(disk));
      expect(error).toBeInstanceOf(LogCorruptError);
      expect(error).toMatchObject({ code: 'LOG_CORRUPT', key: key(at) });
    }
  });

  test('compaction deletes the segments it covers; one straddling the index stays, and reopen skips its entries at or below the snapshot', async () => {
    const disk = await makeDisk();
    const log = await openOn(disk);
    await disk.settle(log.save({ hardState: hard(1, 0), entries: termedOf(1, [1, 1, 1, 1, 1]) }));
    await disk.settle(log.save({ entries: termedOf(6, [1, 1, 1, 1, 1]) }));
    await disk.settle(log.save({ hardState: hard(2, 13), entries: termedOf(11, [2, 2, 2, 2, 2]) }));
    await disk.settle(log.createSnapshot(12, conf('a'), Uint8Array.of(12)));
    await disk.settle(log.compact(8));
    // 1..5 is covered; 6..10 straddles 8.
    expect(await keysOn(disk)).toEqual([key(6), key(11)]);
    expect([log.firstIndex(), log.lastIndex()]).toEqual([9, 15]);
    await log.close();
    const reopened = await openOn(disk);
    // The log reopens at the snapshot: the segment at 6 lies wholly at or below 12 and goes; the
    // one at 11 straddles 12 and stays, 11..12 skipped. 5 + 2 entries left out.
    expect(reopened.recovery).toEqual({ tornTailDropped: 0, entriesBelowSnapshotDropped: 7 });
    expect([reopened.firstIndex(), reopened.lastIndex(), reopened.term(12)]).toEqual([13, 15, 2]);
    expect(reopened.entries(13, 16)).toEqual(termedOf(13, [2, 2, 2]));
    expect(await keysOn(disk)).toEqual([key(11)]);
    // A truncation inside the straddling segment, above the snapshot, then a compaction past it.
    await disk.settle(reopened.save({ hardState: hard(3, 14), entries: termedOf(14, [3]) }));
    expect(await keysOn(disk)).toEqual([key(11), key(14)]);
    await disk.settle(reopened.createSnapshot(14, conf('a'), Uint8Array.of(14)));
    await disk.settle(reopened.compact(13));
    expect(await keysOn(disk)).toEqual([key(14)]);
    await reopened.close();
    const again = await openOn(disk);
    expect([again.firstIndex(), again.lastIndex(), again.term(14)]).toEqual([15, 14, 3]);
    expect(again.recovery).toEqual({ tornTailDropped: 0, entriesBelowSnapshotDropped: 1 });
    expect(await keysOn(disk)).toEqual([]);
    await again.close();
  });

  test('a snapshot install replaces every segment; its entries are one segment after it', async () => {
    const disk = await makeDisk();
    const log = await openOn(disk);
    await disk.settle(log.save({ hardState: hard(1, 2), entries: termedOf(1, [1, 1, 1]) }));
    await disk.settle(log.save({ entries: termedOf(4, [1, 1]) }));
    const snapshot: Snapshot = { meta: { index: 4, term: 2, confState: conf('a', 'b') }, data: Uint8Array.of(4) };
    await disk.settle(log.save({ hardState: hard(3, 4), snapshot, entries: termedOf(5, [3, 3]) }));
    expect(await keysOn(disk)).toEqual([key(5)]);
    await log.close();
    const reopened = await openOn(disk);
    expect([reopened.firstIndex(), reopened.lastIndex(), reopened.term(4)]).toEqual([5, 6, 2]);
    expect(reopened.entries(5, 7)).toEqual(termedOf(5, [3, 3]));
    await reopened.close();
  });
});

describe('KvLogStorage segments on the simulated disk with torn writes', () => {
  test('a torn overriding write restores what it overrode; an untorn one is whole; nothing else', async () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const sim = new SimLog(seed, { tornWriteProbability: 0.7 });
      const log = await sim.open();
      await sim.settle(log.save({ hardState: hard(1, 2), entries: termedOf(1, [1, 1, 1, 1, 1, 1]) }));
      await sim.settle(log.save({ entries: termedOf(7, [1, 1, 1]) }));
      // Unacknowledged: a new leader's entries from 4, with a commit that covers them.
      void log.save({ hardState: hard(2, 6), entries: termedOf(4, [2, 2, 2, 2]) });
      const report = sim.storage.crash();
      const reopened = await sim.open();
      const state = { terms: termsOf(reopened), data: dataOf(reopened), hardState: reopened.initialState().hardState, recovery: reopened.recovery };
      if (report.torn.length > 0) {
        outcomes.add('torn');
        expect(report.torn).toEqual([expect.objectContaining({ store: 'log', key: key(4) })]);
        // The segment at 7 was deleted by the torn write (wholly truncated: uncommitted entries a
        // conflicting leader was replacing); the one at 1 is whole again, its 4..6 restored.
        expect(state).toEqual({
          terms: [1, 1, 1, 1, 1, 1],
          data: dataOf(MemoryLogStorage.create({ entries: termedOf(1, [1, 1, 1, 1, 1, 1]) })),
          hardState: hard(2, 3),
          recovery: { tornTailDropped: 1, tornTailKey: key(4), commitLoweredFrom: 6, entriesBelowSnapshotDropped: 0 },
        });
      } else if (state.terms.length === 9) {
        outcomes.add('lost');
        expect(state).toMatchObject({ terms: [1, 1, 1, 1, 1, 1, 1, 1, 1], hardState: hard(1, 2), recovery: { tornTailDropped: 0 } });
      } else {
        outcomes.add('kept');
        expect(state).toMatchObject({ terms: [1, 1, 1, 2, 2, 2, 2], hardState: hard(2, 6), recovery: { tornTailDropped: 0 } });
      }
    }
    expect([...outcomes].sort()).toEqual(['kept', 'lost', 'torn']);
  });

  test('a compaction issued while a save is in flight never tears that save once it has landed', async () => {
    // No later batch may carry the save's segment again: a compaction's batch (deletes only) would
    // then end in it, and a tear of that batch's last value at a crash would damage a save that
    // had landed and resolved (as it did when batches in flight repeated the writes before them).
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const sim = new SimLog(seed, { tornWriteProbability: 1 });
      const log = await sim.open({ initialConfState: conf('a') });
      await sim.settle(log.save({ hardState: hard(1, 3), entries: entriesOf(1, [1, 1, 1]) }));
      await sim.settle(log.save({ hardState: hard(1, 5), entries: entriesOf(4, [1, 1]) }));
      await sim.settle(log.createSnapshot(3, conf('a'), Uint8Array.of(3)));
      let saved = false;
      void log.save({ entries: entriesOf(6, [1, 1]) }).then(() => (saved = true));
      // Deletes the segment of entries 1-3, which the snapshot covers.
      void log.compact(3);
      await sim.loop.run({ stopWhen: () => saved });
      expect(saved).toBe(true);
      sim.storage.crash();
      const kv = await sim.settle(sim.storage.openKv('log'));
      outcomes.add((await sim.settle(kv.get(key(1)))) === undefined ? 'compacted' : 'not compacted');
      const reopened = await sim.open();
      expect(reopened.recovery.tornTailDropped).toBe(0);
      expect(indexes(reopened)).toEqual([4, 5, 6, 7]);
    }
    expect([...outcomes].sort()).toEqual(['compacted', 'not compacted']);
  });
});

describe('KvLogStorage: a large snapshot in chunks', () => {
  const CHUNK = 16;
  const dataOfLength = (n: number, seed: number): Uint8Array => new Uint8Array(n).map((_, i) => (i * 13 + seed) & 0xff);
  const chunkKeys = async (kv: KvStore, slot: string): Promise<string[]> => (await kv.range({ gte: `${slot}/`, lt: `${slot}0` })).map(([k]) => k);

  test('chunks under the slot + a chunk number, then the record; the log goes on writing meanwhile; reopen joins them', async () => {
    const storage = new MemoryStorage();
    const log = await KvLogStorage.open(await storage.openKv('log'), { initialConfState: conf('a'), snapshotChunkBytes: CHUNK });
    await log.save({ hardState: hard(1, 4), entries: entriesOf(1, [1, 1, 1, 1]) });
    const data = dataOfLength(1000, 1);
    const order: string[] = [];
    const snapshotted = log.createSnapshot(3, conf('a', 'b'), data).then(() => order.push('snapshot'));
    // Saved after the snapshot began, durable before its last chunk: the chunks do not hold it up.
    const saved = log.save({ entries: entriesOf(5, [1, 1]) }).then(() => order.push('save'));
    await Promise.all([snapshotted, saved]);
    expect(order).toEqual(['save', 'snapshot']);
    const kv = await storage.openKv('log');
    // The initial snapshot is in s1 (no data), so this one went to s0: 63 chunks, the last one short.
    expect(await chunkKeys(kv, 's0')).toEqual(Array.from({ length: 63 }, (_, n) => `s0/${n.toString(16).padStart(8, '0')}`));
    expect(await chunkKeys(kv, 's1')).toEqual([]);
    // Its record names them and holds no data: a small record whatever the snapshot's size.
    expect(((await kv.get('s0')) as Uint8Array).byteLength).toBeLessThan(150);
    await log.close();
    const reopened = await KvLogStorage.open(await storage.openKv('log'), { snapshotChunkBytes: CHUNK });
    expect(reopened.snapshot()).toEqual({ meta: { index: 3, term: 1, confState: conf('a', 'b') }, data });
    expect(indexes(reopened)).toEqual([4, 5, 6]);
    // Chunk size is not part of the format: a log reopened with another one reads them as written.
    await reopened.close();
    expect((await KvLogStorage.open(await storage.openKv('log'))).snapshot().data).toEqual(data);
  });

  test('a chunk missing or damaged is LogCorruptError naming its key (the record was written after every chunk)', async () => {
    for (const change of ['drop', 'flip'] as const) {
      const storage = new MemoryStorage();
      const log = await KvLogStorage.open(await storage.openKv('log'), { initialConfState: conf('a'), snapshotChunkBytes: CHUNK });
      await log.save({ hardState: hard(1, 2), entries: entriesOf(1, [1, 1]) });
      await log.createSnapshot(2, conf('a'), dataOfLength(40, 2));
      await log.close();
      const kv = await storage.openKv('log');
      const at = 's0/00000001';
      if (change === 'drop') await kv.batch([{ type: 'del', key: at }]);
      else await damage(storage, at, flipMiddleByte);
      const error = await rejection(KvLogStorage.open(await storage.openKv('log')));
      expect(error).toBeInstanceOf(LogCorruptError);
      expect(error).toMatchObject({ key: at });
    }
  });

  test('a crash at any point of a chunked snapshot leaves the one before it whole, or the new one whole; stray chunks are deleted at open', async () => {
    const outcomes = new Set<string>();
    let straysSeen = 0;
    for (let seed = 0; seed < 40; seed++) {
      const sim = new SimLog(seed, { tornWriteProbability: 0.5 });
      const log = await sim.open({ initialConfState: conf('a'), snapshotChunkBytes: CHUNK });
      await sim.settle(log.save({ hardState: hard(1, 6), entries: entriesOf(1, [1, 1, 1, 1, 1, 1]) }));
      const first = dataOfLength(70, 3);
      await sim.settle(log.createSnapshot(2, conf('a'), first));
      await sim.settle(log.compact(2));
      const second = dataOfLength(150, 4);
      void log.createSnapshot(5, conf('a', 'b'), second);
      // Some of its writes happen, then the crash.
      await sim.loop.run({ maxEvents: seed % 14 });
      sim.storage.crash();
      const raw = await sim.settle(sim.storage.openKv('log'));
      const newChunksOnDisk = (await sim.settle(raw.range({ gte: 's1/', lt: 's10' }))).length;
      const reopened = await sim.open({ snapshotChunkBytes: CHUNK });
      const snapshot = reopened.snapshot();
      if (snapshot.meta.index === 5) {
        outcomes.add('new');
        expect(snapshot.data).toEqual(second);
      } else {
        outcomes.add('old');
        if (newChunksOnDisk > 0) straysSeen++;
        expect(snapshot).toEqual({ meta: { index: 2, term: 1, confState: conf('a') }, data: first });
        // The new snapshot's chunks that made it to disk went to the other slot (s1, the old one is
        // in s0), and open deleted them: the chunk keys left are the old snapshot's five.
        const kv = await sim.settle(sim.storage.openKv('log'));
        const chunks = (await sim.settle(kv.range({ gte: 's0/', lt: 's10' }))).map(([k]) => k).filter((k) => k.includes('/'));
        expect(chunks).toEqual(Array.from({ length: 5 }, (_, n) => `s0/${n.toString(16).padStart(8, '0')}`));
      }
      // The entries after the durable snapshot are all there, whichever it is.
      expect(indexes(reopened)).toEqual([3, 4, 5, 6].filter((i) => i > snapshot.meta.index));
    }
    expect([...outcomes].sort()).toEqual(['new', 'old']);
    expect(straysSeen).toBeGreaterThan(0);
  });

  test('a newer snapshot stops one still in chunks: the older resolves once the newer is durable, and only the newer is kept', async () => {
    for (const newer of ['chunked', 'in its record', 'installed'] as const) {
      const storage = new MemoryStorage();
      const log = await KvLogStorage.open(await storage.openKv('log'), { initialConfState: conf('a'), snapshotChunkBytes: CHUNK });
      await log.save({ hardState: hard(1, 8), entries: entriesOf(1, [1, 1, 1, 1, 1, 1, 1, 1]) });
      const order: string[] = [];
      const older = log.createSnapshot(3, conf('a'), dataOfLength(200, 5)).then(() => order.push('older'));
      let newest: Promise<unknown>;
      let expected: Snapshot;
      if (newer === 'installed') {
        expected = { meta: { index: 10, term: 2, confState: conf('a', 'c') }, data: dataOfLength(40, 7) };
        newest = log.save({ hardState: hard(2, 10), snapshot: expected, entries: [] });
      } else {
        const data = dataOfLength(newer === 'chunked' ? 90 : CHUNK, 6);
        expected = { meta: { index: 6, term: 1, confState: conf('a', 'b') }, data };
        newest = log.createSnapshot(6, conf('a', 'b'), data);
      }
      await Promise.all([older, newest.then(() => order.push('newer'))]);
      expect(order).toEqual(['newer', 'older']);
      // Compaction follows a snapshot's promise, as the Raft shell does.
      await log.compact(3);
      await log.close();
      const reopened = await KvLogStorage.open(await storage.openKv('log'), { snapshotChunkBytes: CHUNK });
      expect(reopened.snapshot()).toEqual(expected);
      expect(reopened.firstIndex()).toBe(expected.meta.index + 1);
      // Of the stopped snapshot nothing is left: every chunk key is one the record names.
      const kv = await storage.openKv('log');
      const keys = [...(await chunkKeys(kv, 's0')), ...(await chunkKeys(kv, 's1'))];
      expect(keys.length).toBe(newer === 'chunked' ? Math.ceil(90 / CHUNK) : 0);
      await reopened.close();
    }
  });
});

// ---- property: KvLogStorage after reopen is MemoryLogStorage reopened at its snapshot -----------------


/**
 * The memory log as KvLogStorage reopens it: at the snapshot (a tail kept below it is not
 * reloaded), commit at least the snapshot's index.
 */
function reopenedAtSnapshot(model: MemoryLogStorage): MemoryLogStorage {
  const snapshot = model.snapshot();
  const { hardState } = model.initialState();
  return MemoryLogStorage.create({
    hardState: { ...hardState, commit: Math.max(hardState.commit, snapshot.meta.index) },
    snapshot,
    entries: model.entries(snapshot.meta.index + 1, model.lastIndex() + 1),
  });
}

type Step = { kind: 'append' | 'hardState' | 'createSnapshot' | 'compact' | 'install' | 'reopen'; a: number; b: number; c: number };

const stepArb: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom('append', 'append', 'append', 'hardState', 'createSnapshot', 'compact', 'install', 'reopen'),
  a: fc.nat(1000),
  b: fc.nat(1000),
  c: fc.nat(1000),
});

/** Data decided by index and term: by Log Matching, entries with both equal are the same entry. */
const modelEntry = (index: number, term: number): Entry => ({ index, term, type: (index + term) % 5 === 0 ? 'confChange' : 'normal', data: new Uint8Array((index * 7 + term) % 6).fill((index * 31 + term) % 256) });

/**
 * Turns a step into a write Raft could issue against `model` (commit never decreases, committed
 * entries are only repeated, terms never decrease along the log), or undefined when it has none.
 * `maxTerm` is the highest term in use.
 */
function writeFor(step: Step, model: MemoryLogStorage, maxTerm: number): { write?: LogWrite; createSnapshotAt?: number; compactTo?: number; term: number } {
  const first = model.firstIndex();
  const last = model.lastIndex();
  const snapshotIndex = model.snapshot().meta.index;
  const { commit } = model.initialState().hardState;
  const term = maxTerm + (step.c % 2);
  switch (step.kind) {
    case 'append': {
      // From anywhere in the log to one past its end; entries up to commit are repeated as stored,
      // then up to a few more stored ones, then new entries of `term` (higher than any stored one
      // they replace, or equal and then identical by modelEntry).
      const start = Math.max(first, snapshotIndex + 1 - (step.a % 3)) + (step.a % Math.max(1, last + 2 - first));
      const from = Math.min(start, last + 1);
      const count = Math.max(1 + (step.b % 6), commit - from + 1);
      const repeated = Math.max(0, commit - from + 1) + (step.b % 3);
      const entries: Entry[] = [];
      for (let index = from; index < from + count; index++) {
        const stored = index <= last && index - from < repeated ? model.entries(index, index + 1)[0] : undefined;
        entries.push(stored ?? modelEntry(index, term));
      }
      const lastAfter = Math.max(from + count - 1, snapshotIndex);
      const withHardState = step.c % 3 !== 0;
      const write: LogWrite = withHardState ? { hardState: { term, vote: '', commit: commit + (step.c % (lastAfter - commit + 1)) }, entries } : { entries };
      return { write, term };
    }
    case 'hardState':
      return { write: { hardState: { term, vote: '', commit: commit + (step.a % (last - commit + 1)) }, entries: [] }, term };
    case 'createSnapshot':
      // Only what is committed (hence applied) is snapshotted.
      return commit > snapshotIndex ? { createSnapshotAt: snapshotIndex + 1 + (step.a % (commit - snapshotIndex)), term: maxTerm } : { term: maxTerm };
    case 'compact':
      return { compactTo: first - 1 + (step.a % (snapshotIndex - first + 2)), term: maxTerm };
    case 'install': {
      const index = snapshotIndex + 1 + (step.a % (last - snapshotIndex + 3));
      const snapTerm = maxTerm + 1;
      const snapshot: Snapshot = { meta: { index, term: snapTerm, confState: conf('a', String(index)) }, data: Uint8Array.of(index % 256) };
      const entries = Array.from({ length: step.b % 4 }, (_, i) => modelEntry(index + 1 + i, snapTerm));
      return { write: { hardState: { term: snapTerm, vote: '', commit: index }, snapshot, entries }, term: snapTerm };
    }
    case 'reopen':
      return { term: maxTerm };
  }
}

/**
 * Applies a step's plan from `writeFor` to `log` (the model or the log under test, with the same
 * data); undefined for a reopen, which the caller does.
 */
function applyPlan(log: LogStorage, step: Step, plan: ReturnType<typeof writeFor>): Promise<unknown> | undefined {
  const { write, createSnapshotAt, compactTo } = plan;
  if (write !== undefined) return log.save(write);
  if (createSnapshotAt !== undefined) return log.createSnapshot(createSnapshotAt, conf('a'), new Uint8Array(1 + (step.b % 20)).map((_, i) => (createSnapshotAt + i) % 256));
  if (compactTo !== undefined) return log.compact(compactTo);
  return undefined;
}

describe.each(disks.filter(([name]) => name !== 'LevelStorage'))('KvLogStorage on %s, property', (_name, makeDisk) => {
  test('after any sequence of writes, a reopened KvLogStorage equals the memory log reopened at its snapshot', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 30 }), async (steps) => {
        const disk = await makeDisk();
        let log = await openOn(disk, { initialConfState: conf('a'), snapshotChunkBytes: 4 });
        let model = MemoryLogStorage.create({ voters: ['a'] });
        let maxTerm = 0;
        let writes = 0;
        const reopen = async (): Promise<void> => {
          await log.close();
          log = await openOn(disk, { snapshotChunkBytes: 4 });
          model = reopenedAtSnapshot(model);
          expect(log.recovery.tornTailDropped).toBe(0);
          expect(observeLog(log)).toEqual(observeLog(model));
          // One segment per write at most, and none beyond the log's entries.
          const keys = await keysOn(disk);
          expect(keys.length).toBeLessThanOrEqual(Math.min(writes, Math.max(0, log.lastIndex() - log.firstIndex() + 1)));
        };
        for (const step of steps) {
          const plan = writeFor(step, model, maxTerm);
          maxTerm = plan.term;
          // A snapshot's data is 1-20 bytes: up to 5 chunks of 4 (the log is opened with
          // snapshotChunkBytes 4), or in the record.
          const done = applyPlan(log, step, plan);
          if (done === undefined) await reopen();
          else {
            await applyPlan(model, step, plan);
            await disk.settle(done);
            if (plan.write !== undefined) writes++;
          }
          expect(observeLog(log)).toEqual(observeLog(model));
        }
        await reopen();
        await log.close();
      }),
      { numRuns: 150 },
    );
  });
});

// ---- a store that applies concurrent batches in any order -------------------------------------------

/**
 * A store as the KvStore contract allows it to be, and as classic-level can be (each batch on a
 * thread of libuv's pool, racing for LevelDB's writer queue): batches in flight together are
 * applied in any order. Here they land when the test says, newest first (the worst case), or, at
 * a crash, any subset of them in a random order, the rest never.
 */
class ReorderingKv implements KvStore {
  private held: Array<{ ops: KvOp[]; resolve: () => void }> = [];
  /** The most batches ever in flight at once. */
  maxInFlight = 0;

  constructor(private readonly inner: KvStore) {}

  get(key: string): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }

  range(options: { gte?: string; lt?: string; limit?: number }): Promise<Array<[string, Uint8Array]>> {
    return this.inner.range(options);
  }

  batch(ops: readonly KvOp[]): Promise<void> {
    return new Promise((resolve) => {
      this.held.push({ ops: [...ops], resolve });
      this.maxInFlight = Math.max(this.maxInFlight, this.held.length);
    });
  }

  async close(): Promise<void> {}

  /** Lands the batches in flight, newest first, then resolves them. */
  async landAll(): Promise<void> {
    const batches = this.held.reverse();
    this.held = [];
    for (const { ops } of batches) await this.inner.batch(ops, { sync: true });
    for (const { resolve } of batches) resolve();
  }

  /** A crash: a random subset of the batches in flight lands, in a random order; none resolves. */
  async crash(random: SeededRandom): Promise<void> {
    const batches = this.held.filter(() => random.int(0, 1) === 1);
    this.held = [];
    for (let i = batches.length - 1; i > 0; i--) {
      const j = random.int(0, i);
      [batches[i], batches[j]] = [batches[j] as (typeof batches)[number], batches[i] as (typeof batches)[number]];
    }
    for (const { ops } of batches) await this.inner.batch(ops, { sync: true });
  }

  /** Lands batches until `promise` settles (the log issues the next batch once one resolves). */
  async drive<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    const watched = promise.finally(() => (settled = true));
    watched.catch(() => {});
    for (let round = 0; !settled; round++) {
      if (round > 10_000) throw new Error('ReorderingKv: the promise did not settle');
      await this.landAll();
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
    return watched;
  }
}

describe('KvLogStorage on a store that applies concurrent batches in any order', () => {
  test('writes issued together land in call order: one batch in flight, the rest joined behind it', async () => {
    const inner = await new MemoryStorage().openKv('log');
    const kv = new ReorderingKv(inner);
    const log = await kv.drive(KvLogStorage.open(kv));
    const syncedAtOpen = log.syncedWrites;
    // Three writes without waiting, as the Raft shell issues them with asynchronous storage writes:
    // the third rewrites the second's segment key (a new leader's conflicting entry 3) and the
    // first's hard-state slot.
    const written = [
      log.save({ hardState: hard(1, 0, 'a'), entries: entriesOf(1, [1, 1]) }),
      log.save({ hardState: hard(2, 2, 'b'), entries: entriesOf(3, [2]) }),
      log.save({ hardState: hard(3, 2, 'c'), entries: entriesOf(3, [3]) }),
    ];
    await kv.drive(Promise.all(written));
    expect(kv.maxInFlight).toBe(1);
    // Two synced writes (fsyncs) for three saves: the first alone, the two issued meanwhile joined.
    expect(log.syncedWrites - syncedAtOpen).toBe(2);
    const reopened = await KvLogStorage.open(inner);
    expect(termsOf(reopened)).toEqual([1, 1, 3]);
    expect(reopened.initialState().hardState).toEqual(hard(3, 2, 'c'));
    await reopened.close();
  });

  test('on classic-level, 300 saves issued without waiting (with compactions among them) reopen as issued', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swarm-kv-log-'));
    dirs.push(dir);
    const storage = new LevelStorage(dir);
    const log = await KvLogStorage.open(await storage.openKv('log'), { initialConfState: conf('a') });
    const model = MemoryLogStorage.create({ voters: ['a'] });
    const pending: Array<Promise<unknown>> = [];
    for (let i = 1; i <= 300; i++) {
      // Every save rewrites a hard-state slot; every 7th starts a new term from an earlier index,
      // rewriting the segment key of an earlier save (a new leader's conflicting tail).
      const last = model.lastIndex();
      const from = i % 7 === 0 && last > 2 ? last - 1 : last + 1;
      const term = Math.floor(i / 7) + 1;
      const write: LogWrite = { hardState: { term, vote: `v${term}`, commit: Math.max(0, from - 3) }, entries: [modelEntry(from, term), modelEntry(from + 1, term)] };
      await model.save(write);
      pending.push(log.save(write));
      if (i % 50 === 0) {
        const snapshotAt = model.initialState().hardState.commit;
        await model.createSnapshot(snapshotAt, conf('a'), Uint8Array.of(i % 256));
        pending.push(log.createSnapshot(snapshotAt, conf('a'), Uint8Array.of(i % 256)));
        await model.compact(snapshotAt - 1);
        pending.push(log.compact(snapshotAt - 1));
      }
    }
    await Promise.all(pending);
    await log.close();
    const reopened = await KvLogStorage.open(await storage.openKv('log'));
    expect(observeLog(reopened)).toEqual(observeLog(reopenedAtSnapshot(model)));
    await reopened.close();
  });

  test('after any writes issued together and a crash, the log reopens as after a prefix of them, holding every one that resolved', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(stepArb, fc.nat(3)), { minLength: 1, maxLength: 30 }), fc.nat(), async (steps, seed) => {
        const random = new SeededRandom(seed);
        const inner = shared(await new MemoryStorage().openKv('log'));
        let kv = new ReorderingKv(inner);
        // Snapshots small enough for their record (no chunks): every write then resolves in
        // call order, so the newest one resolved tells which prefix must have survived.
        let log = await kv.drive(KvLogStorage.open(kv, { initialConfState: conf('a') }));
        let model = MemoryLogStorage.create({ voters: ['a'] });
        let maxTerm = 0;
        // The log as a reopen would find it after each write issued since the last reopen.
        let prefixes = [reopenedAtSnapshot(model)];
        let resolved = 0;
        let issued: Array<Promise<unknown>> = [];
        const reopen = async (crash: boolean): Promise<void> => {
          if (crash) await kv.crash(random);
          else await kv.drive(Promise.all(issued));
          kv = new ReorderingKv(inner);
          log = await kv.drive(KvLogStorage.open(kv));
          const found = observeLog(log);
          const at = prefixes.findIndex((prefix, k) => k >= resolved && isDeepStrictEqual(found, observeLog(prefix)));
          expect(at).not.toBe(-1);
          if (!crash) expect(at).toBe(prefixes.length - 1);
          model = reopenedAtSnapshot(prefixes[at] as MemoryLogStorage);
          prefixes = [reopenedAtSnapshot(model)];
          resolved = 0;
          issued = [];
        };
        for (const [step, crashAfter] of steps) {
          const plan = writeFor(step, model, maxTerm);
          maxTerm = plan.term;
          const promise = applyPlan(log, step, plan);
          if (promise === undefined) {
            await reopen(crashAfter === 0);
            continue;
          }
          await applyPlan(model, step, plan);
          const k = prefixes.length;
          prefixes.push(reopenedAtSnapshot(model));
          issued.push(promise);
          // Every write resolved means the log after it is durable (writes resolve in order).
          void promise.then(() => (resolved = Math.max(resolved, k)));
          // Now and then the store lands what is in flight before the next write is issued.
          if (crashAfter === 1) await kv.landAll();
        }
        await reopen(steps.length % 2 === 0);
        await log.close();
        expect(kv.maxInFlight).toBeLessThanOrEqual(1);
      }),
      { numRuns: 150 },
    );
  });
});

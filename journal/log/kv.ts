// The Raft log over any KvStore: LevelStorage makes it the classic-level log, SimStorage the
// simulated one, MemoryStorage a log that lives as long as the process. The whole log since the
// snapshot is mirrored in a MemoryLogStorage, so reads are synchronous; every write is one
// atomic, synced batch. The layout and record format are in records.ts.
import { assert } from '../../runtime/index.js';
import type { KvOp, KvStore } from '../../runtime/index.js';
import { LogCorruptError } from '../errors.js';
import { MemoryLogStorage } from './memory.js';
import {
  ENTRY_KEY_END,
  ENTRY_KEY_PREFIX,
  HARD_STATE_KEY,
  HARD_STATE_SLOTS,
  SNAPSHOT_SLOTS,
  entryKey,
  openEntry,
  openHardState,
  openSnapshot,
  parseEntryKey,
  sealEntry,
  sealHardState,
  sealSnapshot,
} from './records.js';
import { EMPTY_HARD_STATE, EMPTY_SNAPSHOT } from './types.js';
import type { ConfState, Entry, HardState, LogStorage, LogWrite, Snapshot } from './types.js';

export interface KvLogStorageOptions {
  /**
   * For a store that holds nothing yet: the ConfState of its initial snapshot (index 0), written
   * durably by open. A store that holds anything keeps its own and ignores this.
   */
  readonly initialConfState?: ConfState;
}

/** What open found and repaired. */
export interface KvLogRecovery {
  /**
   * 1 when the record under the last entry key failed its checksum or could not be decoded: a
   * write torn by a crash, never acknowledged. It was dropped (and its key deleted); else 0.
   */
  readonly tornTailDropped: number;
  readonly tornTailKey?: string;
  /**
   * Set when the stored commit pointed into the dropped torn tail: the commit as stored, before
   * it was lowered to the last entry left. Commit is volatile in Raft and nothing past it was
   * applied (a node applies only what is durable), so lowering it is safe.
   */
  readonly commitLoweredFrom?: number;
  /**
   * Entries at or below the snapshot's index found on disk and deleted: a tail that `compact`
   * kept for slow followers. The log reopens at the snapshot, as etcd's does, so that the
   * applied index (firstIndex() - 1 at start) is the snapshot's.
   */
  readonly entriesBelowSnapshotDropped: number;
}

export class KvLogStorage implements LogStorage {
  private readonly kv: KvStore;
  /** What the store holds once every issued write is durable. Updated at call time. */
  private readonly mirror: MemoryLogStorage;
  readonly recovery: KvLogRecovery;
  /** The first write error. The store's contents are unknown after it: later writes fail with it. */
  private failure: { readonly error: unknown } | undefined;
  private closed = false;
  /** The last write issued: a write with nothing to store resolves after it, keeping the order. */
  private lastWrite: Promise<void> = Promise.resolve();
  /** Writes not yet settled, which close waits for. */
  private readonly inflight = new Set<Promise<unknown>>();

  /** The sequence number of the last hard-state record written (slots alternate by it). */
  private hardSeq: number;
  private snapshotSeq: number;

  private constructor(kv: KvStore, mirror: MemoryLogStorage, recovery: KvLogRecovery, hardSeq: number, snapshotSeq: number) {
    this.hardSeq = hardSeq;
    this.snapshotSeq = snapshotSeq;
    this.kv = kv;
    this.mirror = mirror;
    this.recovery = recovery;
  }

  /**
   * Loads the hard state, the snapshot and every entry after it, checking each record. Throws
   * LogCorruptError naming the key of a record that fails its checksum or does not fit the log,
   * except for the last entry record, which a crash may have torn: that one is dropped and
   * reported in `recovery`. Repairs (dropping a torn tail or a tail below the snapshot, writing
   * the initial snapshot) are one synced batch before open resolves. The storage owns `kv`.
   */
  static async open(kv: KvStore, options: KvLogStorageOptions = {}): Promise<KvLogStorage> {
    const hardSlots = await readSlots(kv, HARD_STATE_SLOTS);
    const snapshotSlots = await readSlots(kv, SNAPSHOT_SLOTS);
    const stored = await kv.range({ gte: ENTRY_KEY_PREFIX, lt: ENTRY_KEY_END });
    const repairs: KvOp[] = [];

    const newestHard = newestSlot(hardSlots, openHardState, true);
    let hardState: HardState = newestHard?.hardState ?? EMPTY_HARD_STATE;
    let hardSeq = newestHard?.seq ?? 0;
    // The first snapshot record is written by the first open, before anything else: a lone
    // damaged one beside other records is corruption, not a torn first write.
    const newestSnapshot = newestSlot(snapshotSlots, openSnapshot, stored.length === 0 && hardSlots.length === 0);
    let snapshot: Snapshot = newestSnapshot?.snapshot ?? EMPTY_SNAPSHOT;
    let snapshotSeq = newestSnapshot?.seq ?? 0;
    // Fresh: nothing readable was ever written (a torn first write counts as nothing).
    const fresh = newestHard === undefined && newestSnapshot === undefined && stored.length === 0;
    if (fresh && options.initialConfState !== undefined) {
      const { voters, learners } = options.initialConfState;
      snapshot = { meta: { ...EMPTY_SNAPSHOT.meta, confState: { voters: [...voters], learners: [...learners] } }, data: EMPTY_SNAPSHOT.data };
      snapshotSeq++;
      repairs.push({ type: 'put', key: SNAPSHOT_SLOTS[snapshotSeq % 2] as string, value: sealSnapshot(snapshot, snapshotSeq) });
    }

    const entries: Entry[] = [];
    let belowSnapshot = 0;
    let tornKey: string | undefined;
    let previousTerm = snapshot.meta.term;
    for (let i = 0; i < stored.length; i++) {
      const [key, value] = stored[i] as [string, Uint8Array];
      const index = parseEntryKey(key);
      if (index === undefined) throw new LogCorruptError(key, 'not a well-formed entry key');
      if (index <= snapshot.meta.index) {
        belowSnapshot++;
        repairs.push({ type: 'del', key });
        continue;
      }
      const expected = snapshot.meta.index + entries.length + 1;
      if (index !== expected) throw new LogCorruptError(key, `expected entry ${expected} here: the log has a gap`);
      let entry: Entry;
      try {
        entry = openEntry(key, value, index);
      } catch (error) {
        // Only the last record may be torn: a crash interrupts the last write, never an earlier
        // one that a later write followed. Damage anywhere else is real corruption.
        if (!(error instanceof LogCorruptError) || i !== stored.length - 1) throw error;
        tornKey = key;
        repairs.push({ type: 'del', key });
        break;
      }
      if (entry.term < previousTerm) throw new LogCorruptError(key, `term ${entry.term} is below the term ${previousTerm} before it`);
      previousTerm = entry.term;
      entries.push(entry);
    }

    const lastIndex = snapshot.meta.index + entries.length;
    if (hardState.commit < snapshot.meta.index) {
      // A snapshot holds only committed state: a hard state older than it (its newer copy torn)
      // is raised to it.
      hardState = { ...hardState, commit: snapshot.meta.index };
      hardSeq++;
      repairs.push({ type: 'put', key: HARD_STATE_SLOTS[hardSeq % 2] as string, value: sealHardState(hardState, hardSeq) });
    }
    let commitLoweredFrom: number | undefined;
    if (hardState.commit > lastIndex) {
      if (tornKey === undefined) throw new LogCorruptError(HARD_STATE_KEY, `commit ${hardState.commit} is beyond the last entry ${lastIndex}`);
      commitLoweredFrom = hardState.commit;
      hardState = { ...hardState, commit: lastIndex };
      hardSeq++;
      repairs.push({ type: 'put', key: HARD_STATE_SLOTS[hardSeq % 2] as string, value: sealHardState(hardState, hardSeq) });
    }
    if (repairs.length > 0) await kv.batch(repairs, { sync: true });

    const mirror = MemoryLogStorage.create({ hardState, snapshot, entries });
    const recovery: KvLogRecovery = {
      tornTailDropped: tornKey === undefined ? 0 : 1,
      ...(tornKey === undefined ? {} : { tornTailKey: tornKey }),
      ...(commitLoweredFrom === undefined ? {} : { commitLoweredFrom }),
      entriesBelowSnapshotDropped: belowSnapshot,
    };
    return new KvLogStorage(kv, mirror, recovery, hardSeq, snapshotSeq);
  }

  // ---- reads, from the mirror ---------------------------------------------------------------------

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.mirror.initialState();
  }

  entries(lo: number, hi: number, bytesMax?: number): Entry[] {
    return this.mirror.entries(lo, hi, bytesMax);
  }

  term(index: number): number {
    return this.mirror.term(index);
  }

  firstIndex(): number {
    return this.mirror.firstIndex();
  }

  lastIndex(): number {
    return this.mirror.lastIndex();
  }

  snapshot(): Snapshot {
    return this.mirror.snapshot();
  }

  // ---- writes: the mirror changes at call time, the promise resolves when the batch is durable ----------

  /**
   * One synced batch: the hard state, the snapshot, deletes of the keys that left the log (the
   * conflicting tail, everything a snapshot replaced), then the new entries. Puts of entries come
   * last so that a write torn by a crash tears an entry, which open can drop, when there is one.
   */
  async save(write: LogWrite): Promise<void> {
    this.checkUsable();
    const baseBefore = this.mirror.compactedTo().index;
    const lastBefore = this.mirror.lastIndex();
    const { appended } = this.mirror.applyWrite(write);
    const baseAfter = this.mirror.compactedTo().index;
    const lastAfter = this.mirror.lastIndex();

    // Order matters only to a simulated tear, which damages the last put of a batch: entries
    // last (a torn tail entry is dropped at open), and the hard state after the snapshot (a torn
    // hard state falls back to its other slot; commit is then raised to the snapshot's index).
    const ops: KvOp[] = [];
    if (write.snapshot !== undefined) {
      this.snapshotSeq++;
      ops.push({ type: 'put', key: SNAPSHOT_SLOTS[this.snapshotSeq % 2] as string, value: sealSnapshot(write.snapshot, this.snapshotSeq) });
    }
    if (write.hardState !== undefined) {
      this.hardSeq++;
      ops.push({ type: 'put', key: HARD_STATE_SLOTS[this.hardSeq % 2] as string, value: sealHardState(write.hardState, this.hardSeq) });
    }
    // Stored keys were (baseBefore, lastBefore]; the log is now (baseAfter, lastAfter], whose keys
    // are either unchanged or rewritten by `appended`. The rest of the old range goes.
    for (let index = baseBefore + 1; index <= Math.min(lastBefore, baseAfter); index++) ops.push({ type: 'del', key: entryKey(index) });
    for (let index = Math.max(baseAfter, lastAfter) + 1; index <= lastBefore; index++) ops.push({ type: 'del', key: entryKey(index) });
    for (const entry of appended) ops.push({ type: 'put', key: entryKey(entry.index), value: sealEntry(entry) });
    return this.write(ops);
  }

  async createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    this.checkUsable();
    const snapshot = this.mirror.applyCreateSnapshot(index, confState, data);
    this.snapshotSeq++;
    await this.write([{ type: 'put', key: SNAPSHOT_SLOTS[this.snapshotSeq % 2] as string, value: sealSnapshot(snapshot, this.snapshotSeq) }]);
    return snapshot;
  }

  async compact(index: number): Promise<void> {
    this.checkUsable();
    const baseBefore = this.mirror.compactedTo().index;
    if (!this.mirror.applyCompact(index)) return this.write([]);
    const ops: KvOp[] = [];
    for (let i = baseBefore + 1; i <= index; i++) ops.push({ type: 'del', key: entryKey(i) });
    return this.write(ops);
  }

  /** Waits for the writes in flight (whatever their outcome), then closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.inflight]);
    await this.kv.close();
  }

  /**
   * Rejects once an earlier write failed: the mirror then holds what the disk may not, and only
   * a reopen tells what the disk kept. (The Raft shell crashes the node on the first failure.)
   */
  private checkUsable(): void {
    assert(!this.closed, 'write to a closed log storage');
    if (this.failure !== undefined) throw this.failure.error;
  }

  /** Issues the batch now, so that batches reach the store in call order. */
  private write(ops: readonly KvOp[]): Promise<void> {
    if (ops.length === 0) return this.lastWrite.then(() => undefined);
    const done = this.kv.batch(ops, { sync: true }).catch((error: unknown) => {
      this.failure ??= { error };
      throw error;
    });
    const settled = done.then(
      () => undefined,
      () => undefined,
    );
    this.inflight.add(settled);
    void settled.then(() => this.inflight.delete(settled));
    this.lastWrite = done;
    return done;
  }
}

async function readSlots(kv: KvStore, keys: readonly string[]): Promise<Array<{ key: string; raw: Uint8Array }>> {
  const out: Array<{ key: string; raw: Uint8Array }> = [];
  for (const key of keys) {
    const raw = await kv.get(key);
    if (raw !== undefined) out.push({ key, raw });
  }
  return out;
}

/**
 * The newest readable record of a two-slot value. A damaged slot is the newest write, torn by a
 * crash before it was acknowledged; the other slot holds the value before it. A lone damaged slot
 * is a torn first write: nothing was ever acknowledged. Two damaged slots are real corruption.
 */
function newestSlot<T extends { seq: number }>(slots: ReadonlyArray<{ key: string; raw: Uint8Array }>, open: (key: string, raw: Uint8Array) => T, loneDamagedIsTorn: boolean): T | undefined {
  const readable: T[] = [];
  let damaged: LogCorruptError | undefined;
  for (const { key, raw } of slots) {
    try {
      readable.push(open(key, raw));
    } catch (error) {
      if (!(error instanceof LogCorruptError)) throw error;
      damaged = error;
    }
  }
  if (readable.length === 0 && damaged !== undefined && (slots.length > 1 || !loneDamagedIsTorn)) throw damaged;
  return readable.sort((a, b) => b.seq - a.seq)[0];
}

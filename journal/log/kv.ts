// The Raft log over any KvStore: LevelStorage makes it the classic-level log, SimStorage the
// simulated one, MemoryStorage a log that lives as long as the process. The whole log since the
// snapshot is mirrored in a MemoryLogStorage, so reads are synchronous; every write is one
// atomic, synced batch, its entries one segment record, and the store is given one batch at a
// time (writes issued meanwhile are joined into the next batch, in call order). The layout and
// record format are in records.ts.
//
// Segments and the log. Segment keys are their first indexes; segment i holds the log's entries
// [first(i), first(i+1)) and the last one those up to the last index. A segment may store more
// than that: the entries of its own from first(i+1) on were overridden by the later write that
// truncated them, and are never read again while segment i+1 exists. The rules that keep this
// safe:
// - save writes the new entries under their own first index F, deletes the segments whose first
//   index is above F (wholly truncated) and leaves the one holding F - 1 as it is. Entries that a
//   write repeats (same index and term: the same entry) are not rewritten, so F is the first
//   entry that is new or conflicts, and everything from F on in the old log was uncommitted.
// - open: only the last segment may be torn (a crash interrupts the last write): it is dropped
//   whole, which gives the segment before it back its overridden entries, the state before that
//   unacknowledged write (apart from segments it deleted, which lay wholly above F, so held only
//   uncommitted entries that a conflicting leader was replacing). Commit is then lowered to F - 1
//   at most: the restored entries from F on are the old, conflicting ones.
// - compaction deletes the segments whose last entry it covers; a segment straddling the index
//   stays, and open skips its entries at or below the snapshot.
import { assert } from '../../runtime/index.js';
import type { KvOp, KvStore } from '../../runtime/index.js';
import { LogCorruptError } from '../errors.js';
import { MemoryLogStorage, type LogSlot } from './memory.js';
import type { StoredSegment } from './records.js';
import {
  ENTRY_KEY_END,
  ENTRY_KEY_PREFIX,
  HARD_STATE_KEY,
  HARD_STATE_SLOTS,
  SNAPSHOT_SLOTS,
  checkSegmentFormat,
  entryKey,
  openHardState,
  openSnapshot,
  parseEntryKey,
  peekSeq,
  scanSegment,
  sealHardState,
  sealSegment,
  sealSegmentStored,
  sealChunkedSnapshot,
  sealSnapshot,
  sealSnapshotInto,
  frameSnapshotChunk,
  peekChunkCount,
  snapshotChunkKey,
  snapshotChunkRange,
  unframeSnapshotChunk,
  type SnapshotChunks,
  SEALED_SEGMENT_HEADER_BYTES,
  frameSealedSegment,
  unframeSealedSegment,
} from './records.js';
import { EMPTY_HARD_STATE, EMPTY_SNAPSHOT } from './types.js';
import type { ConfState, Entry, HardState, LogCipher, LogStorage, LogWrite, Snapshot, SnapshotMeta } from './types.js';

export interface KvLogStorageOptions {
  /**
   * For a store that holds nothing yet: the ConfState of its initial snapshot (index 0), written
   * durably by open. A store that holds anything keeps its own and ignores this.
   */
  readonly initialConfState?: ConfState;
  /**
   * Encryption at rest: every entry's data and every snapshot's data is sealed on write and
   * opened at open (a DecryptionError if it fails); the in-memory log stays plaintext. Without
   * it, data is stored as is. A log must always be opened the same way it was written.
   */
  readonly cipher?: LogCipher;
  /**
   * A snapshot whose data is larger than this is stored in chunks of this many bytes, each written
   * on its own while the log goes on (see createSnapshot). Default SNAPSHOT_CHUNK_BYTES.
   */
  readonly snapshotChunkBytes?: number;
}

/**
 * 256 KiB: a chunk is one synced write of the store, and the log's own writes issued meanwhile
 * wait for it (writes go one batch at a time), so its size bounds what a snapshot adds to a
 * commit's latency. With 1 MiB chunks (before 2026-12-05), writes at 1 client took up to 46-118 ms
 * while the managers wrote them; sealing and framing a chunk costs well under a millisecond.
 */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;
/** The most chunks an unchecked record is believed to name (16 GiB of 256 KiB chunks). */
const PEEKED_CHUNKS_MAX = 65_536;

/** What open found and repaired. */
export interface KvLogRecovery {
  /**
   * 1 when the last segment (the highest entry key) failed its checksum or could not be decoded:
   * a write torn by a crash, never acknowledged. It was dropped whole (and its key deleted), which
   * restores any older entries it had overridden; else 0.
   */
  readonly tornTailDropped: number;
  /** The key of the dropped segment: `e/` + the first index of the torn write. */
  readonly tornTailKey?: string;
  /**
   * Set when the stored commit pointed into the dropped torn write (at or above its first index):
   * the commit as stored, before it was lowered to the entry before that write. Commit is
   * volatile in Raft and nothing past it was applied (a node applies only what is durable), so
   * lowering it is safe; it must not cover the older entries the drop restored, which the torn
   * write was replacing.
   */
  readonly commitLoweredFrom?: number;
  /**
   * Entries at or below the snapshot's index that open found in the log on disk and left out: a
   * tail that `compact` kept for slow followers. The log reopens at the snapshot, as etcd's does,
   * so that the applied index (firstIndex() - 1 at start) is the snapshot's. Segments wholly at or
   * below the index are deleted; a segment straddling it stays on disk (rewriting it could tear
   * it), so its entries at or below the index count again at every open until a compaction past
   * the segment deletes it.
   */
  readonly entriesBelowSnapshotDropped: number;
}

export class KvLogStorage implements LogStorage {
  private readonly kv: KvStore;
  /** See `syncedWrites`. */
  private syncedBatches = 0;
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
  /** Whether the store is writing a batch: the log gives it one at a time (see `issue`). */
  private writing = false;
  /** The batches issued while one is in flight, joined in call order, to go once it settles. */
  private queued: QueuedBatch | undefined;

  /** The sequence number of the last hard-state record written (slots alternate by it). */
  private hardSeq: number;
  private snapshotSeq: number;
  /** The slot of the newest snapshot record known durable; snapshot writes go to the other one. */
  private durableSlot: SnapshotSlot;
  /** Per slot, a bound on the chunk keys it may hold (chunk numbers below it): what a later record there deletes. */
  private readonly slotChunks: Map<SnapshotSlot, number>;
  /** Moves with every snapshot write: a chunked snapshot still being written stops once it has moved past its own. */
  private snapshotGeneration = 0;
  /** The last snapshot record write issued: a chunked snapshot starts once it is durable. */
  private lastRecordWrite: Promise<void> = Promise.resolve();
  /**
   * The write of the newest snapshot asked for: what a chunked snapshot that it stopped resolves
   * with. Compaction follows a snapshot's promise, so that promise must wait for a snapshot at
   * least as new to be durable: the stopped one never will be.
   */
  private newestSnapshotWrite: Promise<void> = Promise.resolve();
  /** The last chunk write issued (settled either way). */
  private lastChunkWrite: Promise<void> = Promise.resolve();
  private readonly chunkBytes: number;
  /**
   * The first index of every stored segment, ascending (key order), as the store holds them once
   * every issued write is durable. Invariant: empty exactly when the log holds no entry after its
   * base; otherwise the first covers firstIndex() (it may start below it: entries compacted in
   * memory stay in a straddling segment) and the last is at or below lastIndex().
   */
  private readonly segmentFirsts: number[];
  private readonly cipher: LogCipher | undefined;

  private constructor(kv: KvStore, mirror: MemoryLogStorage, recovery: KvLogRecovery, hardSeq: number, snapshotSeq: number, segmentFirsts: number[], cipher: LogCipher | undefined, slots: { durable: SnapshotSlot; chunks: Map<SnapshotSlot, number> }, chunkBytes: number) {
    this.cipher = cipher;
    this.durableSlot = slots.durable;
    this.slotChunks = slots.chunks;
    this.chunkBytes = chunkBytes;
    this.hardSeq = hardSeq;
    this.snapshotSeq = snapshotSeq;
    this.segmentFirsts = segmentFirsts;
    this.kv = kv;
    this.mirror = mirror;
    this.recovery = recovery;
  }

  /**
   * Loads the hard state, the snapshot and every entry after it, checking each record. Throws
   * LogCorruptError naming the key of a record that fails its checksum or does not fit the log,
   * except for the last segment, which a crash may have torn: that one is dropped whole and
   * reported in `recovery`. Repairs (dropping a torn segment or the segments wholly at or below
   * the snapshot, fixing the commit, writing the initial snapshot) are one synced batch before
   * open resolves. The storage owns `kv`.
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
    const cipher = options.cipher;
    if (newestSnapshot !== undefined && newestSnapshot.sealed !== (cipher !== undefined)) {
      throw new LogCorruptError(newestSnapshot.key, newestSnapshot.sealed ? 'a sealed snapshot: open the log with its cipher' : 'a plaintext snapshot in an encrypted log');
    }
    let snapshot: Snapshot = EMPTY_SNAPSHOT;
    if (newestSnapshot !== undefined) {
      snapshot = newestSnapshot.chunks === undefined
        ? openSnapshotData(cipher, newestSnapshot.snapshot)
        : await readSnapshotChunks(kv, cipher, newestSnapshot.key as SnapshotSlot, newestSnapshot.snapshot.meta, newestSnapshot.chunks);
    }
    let snapshotSeq = newestSnapshot?.seq ?? 0;
    let durableSlot: SnapshotSlot = (newestSnapshot?.key as SnapshotSlot | undefined) ?? 's0';
    // Chunk keys beyond what each slot's record names: a chunked snapshot that a crash (or a newer
    // snapshot) cut short. Deleted here; the slot's record, if any, is not touched.
    const slotChunks = new Map<SnapshotSlot, number>();
    for (const slot of SNAPSHOT_SLOTS) {
      // The other slot's record is unchecked (it may be the torn one): what it claims is bounded.
      const named = slot === newestSnapshot?.key ? (newestSnapshot.chunks?.count ?? 0) : Math.min(PEEKED_CHUNKS_MAX, peekChunkCount(snapshotSlots.find((s) => s.key === slot)?.raw ?? new Uint8Array(0)));
      for (const [key] of await kv.range(snapshotChunkRange(slot, named))) repairs.push({ type: 'del', key });
      slotChunks.set(slot, named);
    }
    // Fresh: nothing readable was ever written (a torn first write counts as nothing).
    const fresh = newestHard === undefined && newestSnapshot === undefined && stored.length === 0;
    if (fresh && options.initialConfState !== undefined) {
      const { voters, learners } = options.initialConfState;
      snapshot = { meta: { ...EMPTY_SNAPSHOT.meta, confState: { voters: [...voters], learners: [...learners] } }, data: EMPTY_SNAPSHOT.data };
      snapshotSeq++;
      durableSlot = otherSlot(durableSlot);
      repairs.push(...chunkDeletes(durableSlot, 0, slotChunks.get(durableSlot) as number));
      slotChunks.set(durableSlot, 0);
      repairs.push({ type: 'put', key: durableSlot, value: snapshotValue(cipher, snapshot, snapshotSeq) });
    }

    const segments = stored.map(([key, value]) => {
      const first = parseEntryKey(key);
      if (first === undefined) throw new LogCorruptError(key, 'not a well-formed entry key');
      // An unknown format is refused even in the last segment: a tear cuts a value short, it
      // does not change how it starts.
      checkSegmentFormat(key, value, cipher !== undefined);
      return { key, value, first };
    });

    // Only the last segment may be torn: a crash interrupts the last write, never an earlier one
    // that a later write followed. Damage anywhere else is real corruption. Dropping it gives the
    // segment before it back the entries it had overridden: the state before that write.
    let torn: { key: string; first: number } | undefined;
    let lastEntries: StoredSegment | undefined;
    const lastSegment = segments[segments.length - 1];
    if (lastSegment !== undefined) {
      try {
        // A DecryptionError is not a tear (the record passed its CRC): it escapes.
        lastEntries = readSegment(cipher, lastSegment.key, lastSegment.value, lastSegment.first);
      } catch (error) {
        if (!(error instanceof LogCorruptError)) throw error;
        torn = { key: lastSegment.key, first: lastSegment.first };
        repairs.push({ type: 'del', key: lastSegment.key });
        segments.pop();
      }
    }

    // One slot per entry: the stored segment that holds it (see StoredSegment).
    const entries: LogSlot[] = [];
    const segmentFirsts: number[] = [];
    let belowSnapshot = 0;
    let previousTerm = snapshot.meta.term;
    for (let i = 0; i < segments.length; i++) {
      const { key, value, first } = segments[i] as (typeof segments)[number];
      const next = segments[i + 1];
      let held: StoredSegment | undefined = next === undefined ? (lastEntries ?? readSegment(cipher, key, value, first)) : undefined;
      // The entries of the log this segment holds: [first, end). A later segment overrides the rest.
      const end = next === undefined ? first + (held as StoredSegment).count : next.first;
      if (end - 1 <= snapshot.meta.index) {
        // Wholly at or below the snapshot: not read, deleted.
        belowSnapshot += end - first;
        repairs.push({ type: 'del', key });
        continue;
      }
      const expected = snapshot.meta.index + entries.length + 1;
      if (first > expected) throw new LogCorruptError(key, `expected entry ${expected} here: the log has a gap`);
      held ??= readSegment(cipher, key, value, first);
      if (first + held.count < end) throw new LogCorruptError((next as (typeof segments)[number]).key, `expected entry ${first + held.count} here: the log has a gap`);
      const from = Math.max(first, expected);
      belowSnapshot += from - first;
      for (let index = from; index < end; index++) {
        const term = held.term(index);
        if (term < previousTerm) throw new LogCorruptError(key, `entry ${index} has term ${term}, below the term ${previousTerm} before it`);
        previousTerm = term;
        entries.push(held);
      }
      segmentFirsts.push(first);
    }

    const lastIndex = snapshot.meta.index + entries.length;
    let commit = hardState.commit;
    // A snapshot holds only committed state: a hard state older than it (its newer copy torn) is
    // raised to it.
    commit = Math.max(commit, snapshot.meta.index);
    let commitLoweredFrom: number | undefined;
    // After a torn write, commit may cover neither the dropped entries nor the older ones the drop
    // restored from its first index on: those were being replaced by that write.
    const commitMax = torn === undefined ? lastIndex : Math.max(snapshot.meta.index, Math.min(lastIndex, torn.first - 1));
    if (commit > commitMax) {
      if (torn === undefined) throw new LogCorruptError(HARD_STATE_KEY, `commit ${commit} is beyond the last entry ${lastIndex}`);
      commitLoweredFrom = commit;
      commit = commitMax;
    }
    if (commit !== hardState.commit) {
      hardState = { ...hardState, commit };
      hardSeq++;
      repairs.push({ type: 'put', key: HARD_STATE_SLOTS[hardSeq % 2] as string, value: sealHardState(hardState, hardSeq) });
    }
    if (repairs.length > 0) await kv.batch(repairs, { sync: true });

    const mirror = MemoryLogStorage.create({ hardState, snapshot, entries });
    const recovery: KvLogRecovery = {
      tornTailDropped: torn === undefined ? 0 : 1,
      ...(torn === undefined ? {} : { tornTailKey: torn.key }),
      ...(commitLoweredFrom === undefined ? {} : { commitLoweredFrom }),
      entriesBelowSnapshotDropped: belowSnapshot,
    };
    const chunkBytes = options.snapshotChunkBytes ?? SNAPSHOT_CHUNK_BYTES;
    assert(Number.isSafeInteger(chunkBytes) && chunkBytes > 0, () => `snapshotChunkBytes must be a positive integer, got ${chunkBytes}`);
    return new KvLogStorage(kv, mirror, recovery, hardSeq, snapshotSeq, segmentFirsts, cipher, { durable: durableSlot, chunks: slotChunks }, chunkBytes);
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
   * One synced batch: the snapshot, the hard state, deletes of the segments that left the log
   * (those a snapshot replaced, those wholly in the truncated tail), then the new entries as one
   * segment. The segment comes last so that a write torn by a crash tears it, which open can drop,
   * when there is one. Work is proportional to the write (and to the segments it deletes).
   */
  async save(write: LogWrite): Promise<void> {
    this.checkUsable();
    const lastBefore = this.mirror.lastIndex();
    // Read before the mirror changes: the last index up to which the write repeats stored entries.
    const repeatedTo = write.snapshot === undefined ? this.repeatedTo(write.entries) : 0;
    const { appended } = this.mirror.applyWrite(write);
    const lastAfter = this.mirror.lastIndex();

    // Order matters only to a simulated tear, which damages the last put of a batch: the segment
    // last (a torn last segment is dropped at open), and the hard state after the snapshot (a torn
    // hard state falls back to its other slot; commit is then raised to the snapshot's index).
    const ops: KvOp[] = [];
    // A snapshot sent by the leader goes in the write's one atomic batch, its data in its record.
    const snapshotRecord = write.snapshot === undefined ? undefined : this.inlineSnapshotOps(write.snapshot);
    if (snapshotRecord !== undefined) ops.push(...snapshotRecord.ops);
    if (write.hardState !== undefined) {
      this.hardSeq++;
      ops.push({ type: 'put', key: HARD_STATE_SLOTS[this.hardSeq % 2] as string, value: sealHardState(write.hardState, this.hardSeq) });
    }
    // The entries the store already holds are not written again (applyWrite changed nothing
    // there). When the write repeats only stored entries and ends before the stored log did, its
    // last entry is written anyway: a segment of its own is what ends the log there.
    let from = 0;
    while (from < appended.length && (appended[from] as Entry).index <= repeatedTo) from++;
    if (from === appended.length && from > 0 && lastAfter < lastBefore) from--;
    const segmentFirst = from < appended.length ? (appended[from] as Entry).index : undefined;
    // A snapshot replaced every stored segment; new entries replace those at or after their first.
    const keepBelow = write.snapshot !== undefined ? 0 : (segmentFirst ?? Infinity);
    while (this.segmentFirsts.length > 0 && (this.segmentFirsts[this.segmentFirsts.length - 1] as number) >= keepBelow) {
      const first = this.segmentFirsts.pop() as number;
      // The segment's own put replaces a key it reuses.
      if (first !== segmentFirst) ops.push({ type: 'del', key: entryKey(first) });
    }
    if (segmentFirst !== undefined) {
      this.segmentFirsts.push(segmentFirst);
      if (this.cipher === undefined) {
        // The mirror holds the entries as the segment the store keeps (a view of its bytes, handed
        // over to the store by write): one copy of their data, not two.
        const segment = sealSegmentStored(appended, from);
        this.mirror.adoptSegment(segment);
        ops.push({ type: 'put', key: entryKey(segmentFirst), value: segment.bytes });
      } else {
        ops.push({ type: 'put', key: entryKey(segmentFirst), value: segmentValue(this.cipher, appended, from) });
      }
    }
    this.checkSegments();
    return snapshotRecord === undefined ? this.write(ops) : this.writeRecord(ops, snapshotRecord.slot);
  }

  /**
   * Stores a snapshot of the log up to `index`; resolves once it is durable (or once a newer
   * snapshot written meanwhile is). Data of at most a chunk goes in the record, in one write. Larger
   * data (a large cluster's store: tens of megabytes) goes in chunks first, each sealed, framed
   * and written on its own once the one before is stored, so that no turn of the event loop holds
   * more than a chunk's work and the log's other writes go on between them; the record naming them
   * follows. Its chunks go into the slot that does not hold the newest durable record, so that a
   * crash at any point leaves that record whole. A newer snapshot write stops one still in
   * chunks (it writes no more of them and no record).
   */
  async createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    this.checkUsable();
    const snapshot = this.mirror.applyCreateSnapshot(index, confState, data);
    if (data.byteLength <= this.chunkBytes) {
      const { ops, slot } = this.inlineSnapshotOps(snapshot);
      await this.writeRecord(ops, slot);
      return snapshot;
    }
    const generation = ++this.snapshotGeneration;
    const written = this.writeChunkedSnapshot(snapshot, generation);
    this.newestSnapshotWrite = written;
    this.track(written);
    await written;
    return snapshot;
  }

  /** Deletes the segments whose last entry is at or below `index`; one straddling it stays. */
  async compact(index: number): Promise<void> {
    this.checkUsable();
    if (!this.mirror.applyCompact(index)) return this.write([]);
    const last = this.mirror.lastIndex();
    let dropped = 0;
    while (dropped < this.segmentFirsts.length) {
      const next = this.segmentFirsts[dropped + 1];
      if ((next === undefined ? last : next - 1) > index) break;
      dropped++;
    }
    const ops = this.segmentFirsts.splice(0, dropped).map((first): KvOp => ({ type: 'del', key: entryKey(first) }));
    this.checkSegments();
    return this.write(ops);
  }

  /**
   * The ids of the keys that sealed what the store holds: every stored segment and both snapshot
   * slots (the older slot is read if the newer one turns out torn). A key not among them (nor the
   * cipher's current one) may be forgotten. Waits for the writes in flight; empty without a cipher.
   */
  async keyIdsInUse(): Promise<Set<number>> {
    const ids = new Set<number>();
    const cipher = this.cipher;
    if (cipher === undefined) return ids;
    await Promise.all([...this.inflight]);
    for (const { key, raw } of await readSlots(this.kv, SNAPSHOT_SLOTS)) {
      const { snapshot, chunks } = openSnapshot(key, raw);
      const sealed = chunks === undefined
        ? [snapshot.data]
        : (await this.kv.range({ gte: snapshotChunkKey(key as SnapshotSlot, 0), lt: snapshotChunkKey(key as SnapshotSlot, chunks.count) })).map(([chunkKey, value]) => unframeSnapshotChunk(chunkKey, value));
      for (const bytes of sealed) {
        const id = cipher.keyIdOf(bytes);
        if (id !== undefined) ids.add(id);
      }
    }
    for (const [key, value] of await this.kv.range({ gte: ENTRY_KEY_PREFIX, lt: ENTRY_KEY_END })) {
      const first = parseEntryKey(key);
      if (first === undefined) continue;
      const id = cipher.keyIdOf(unframeSealedSegment(key, value));
      if (id !== undefined) ids.add(id);
    }
    return ids;
  }

  /** Waits for the writes in flight (whatever their outcome), then closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.inflight]);
    await this.kv.close();
  }

  /**
   * The last index up to which `entries` repeat the stored log from their start (same index and
   * term: by Log Matching the same entry), skipping those at or below the log's base; 0 if none.
   */
  private repeatedTo(entries: readonly Entry[]): number {
    const base = this.mirror.compactedTo().index;
    const last = this.mirror.lastIndex();
    let repeated = 0;
    for (const entry of entries) {
      if (entry.index <= base) continue;
      if (entry.index > last || this.mirror.term(entry.index) !== entry.term) break;
      repeated = entry.index;
    }
    return repeated;
  }

  /** The segment bookkeeping's invariant (see `segmentFirsts`); constant time. */
  private checkSegments(): void {
    const firsts = this.segmentFirsts;
    const first = this.mirror.firstIndex();
    const last = this.mirror.lastIndex();
    if (firsts.length === 0) assert(last < first, () => `no segment holds the entries ${first}..${last}`);
    else assert((firsts[0] as number) <= first && (firsts[firsts.length - 1] as number) <= last, () => `segments from ${String(firsts[0])} to ${String(firsts[firsts.length - 1])} do not cover the log ${first}..${last}`);
  }

  /**
   * Rejects once an earlier write failed: the mirror then holds what the disk may not, and only
   * a reopen tells what the disk kept. (The Raft shell crashes the node on the first failure.)
   */
  private checkUsable(): void {
    assert(!this.closed, 'write to a closed log storage');
    if (this.failure !== undefined) throw this.failure.error;
  }

  /**
   * The ops that put a snapshot record holding its data, into the slot after the durable one (its
   * chunk keys deleted); the caller writes them (with writeRecord).
   */
  private inlineSnapshotOps(snapshot: Snapshot): { ops: KvOp[]; slot: SnapshotSlot } {
    this.snapshotGeneration++;
    const slot = otherSlot(this.durableSlot);
    const ops = this.dropChunksOps(slot, 0);
    const seq = ++this.snapshotSeq;
    ops.push({ type: 'put', key: slot, value: snapshotValue(this.cipher, snapshot, seq) });
    return { ops, slot };
  }

  /** Deletes of the slot's chunk keys from chunk `from` on (as far as any may exist). */
  private dropChunksOps(slot: SnapshotSlot, from: number): KvOp[] {
    const ops = chunkDeletes(slot, from, this.slotChunks.get(slot) as number);
    this.slotChunks.set(slot, Math.min(from, this.slotChunks.get(slot) as number));
    return ops;
  }

  /**
   * The chunks, one write each, then the record; stops (resolving when the newer snapshot's
   * record is durable) once a newer snapshot write has begun.
   */
  private async writeChunkedSnapshot(snapshot: Snapshot, generation: number): Promise<void> {
    // Waits for the record writes issued before it (one of them may be the newest durable record
    // once it lands, and its slot must be left alone) and for the last chunk write of a snapshot
    // this one stopped (it may be to a key this one writes). Any snapshot asked for later stops
    // this one, so once past this point every record issued is durable and durableSlot is exact.
    await Promise.all([this.lastRecordWrite, this.lastChunkWrite]);
    const { data, meta } = snapshot;
    const slot = otherSlot(this.durableSlot);
    const count = Math.ceil(data.byteLength / this.chunkBytes);
    for (let n = 0; n < count; n++) {
      if (generation !== this.snapshotGeneration) return this.newestSnapshotWrite;
      if (this.failure !== undefined) throw this.failure.error;
      this.slotChunks.set(slot, Math.max(this.slotChunks.get(slot) as number, n + 1));
      const piece = data.subarray(n * this.chunkBytes, Math.min(data.byteLength, (n + 1) * this.chunkBytes));
      const value = frameSnapshotChunk((headroom) => {
        if (this.cipher !== undefined) return this.cipher.seal(piece, snapshotChunkContext(meta, n), headroom);
        const out = new Uint8Array(headroom + piece.byteLength);
        out.set(piece, headroom);
        return out;
      });
      const chunkWritten = this.issue([{ type: 'put', key: snapshotChunkKey(slot, n), value }]);
      this.lastChunkWrite = chunkWritten.then(noop, noop);
      await chunkWritten;
    }
    if (generation !== this.snapshotGeneration) return this.newestSnapshotWrite;
    const ops = this.dropChunksOps(slot, count);
    const seq = ++this.snapshotSeq;
    ops.push({ type: 'put', key: slot, value: sealChunkedSnapshot(meta, seq, this.cipher !== undefined, { count, bytes: data.byteLength }) });
    return this.writeRecord(ops, slot);
  }

  /**
   * Writes `ops`, which put a snapshot record into `slot`: later chunked snapshots wait for it,
   * a snapshot it stops resolves with it, and once durable its slot is the durable one.
   */
  private writeRecord(ops: readonly KvOp[], slot: SnapshotSlot): Promise<void> {
    const written = this.write(ops);
    this.newestSnapshotWrite = written;
    this.lastRecordWrite = written.then(() => {
      this.durableSlot = slot;
    });
    // A failed write fails the log (`failure`); the chain must not hold an unhandled rejection.
    this.lastRecordWrite.catch(noop);
    return written;
  }

  /**
   * Issues the batch in call order (see `issue`). Every value is built for the write and never
   * changed after (the mirror's entries are views of a segment's bytes, and entries are
   * read-only), so the store may keep the buffers (`handOver`).
   */
  private write(ops: readonly KvOp[]): Promise<void> {
    if (ops.length === 0) return this.lastWrite.then(() => undefined);
    const done = this.issue(ops);
    this.lastWrite = done;
    return done;
  }

  /**
   * One synced batch; its failure fails the log. The store is given one batch at a time: a
   * KvStore does not promise to apply concurrent batches in call order (classic-level runs each
   * on a thread of libuv's pool, and they race for LevelDB's writer queue), and the log's writes
   * depend on it (a hard-state slot or a segment key written twice, a segment after a gap). The
   * batches issued while one is in flight wait, joined into one batch in call order, and go
   * together once it settles: a group commit, as LevelDB's own writer queue does, so that the
   * fsyncs per write stay as few.
   */
  private issue(ops: readonly KvOp[]): Promise<void> {
    if (!this.writing) return this.startBatch(ops);
    let queued = this.queued;
    if (queued === undefined) {
      let settle: QueuedBatch['settle'] = { resolve: noop, reject: noop };
      const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      queued = { ops: [], done, settle };
      this.queued = queued;
      this.track(done);
    }
    for (const op of ops) queued.ops.push(op);
    return queued.done;
  }

  /**
   * Synced batches given to the store since it opened: each is one fsync of the store's own log
   * (LevelDB's write-ahead log), so this is the log's fsync count, as etcd's
   * `etcd_disk_wal_fsync_duration_seconds_count` is its WAL's. `/debug/raft` reports it.
   */
  get syncedWrites(): number {
    return this.syncedBatches;
  }

  private startBatch(ops: readonly KvOp[]): Promise<void> {
    this.syncedBatches++;
    const done = this.kv.batch(ops, { sync: true, handOver: true }).catch((error: unknown) => {
      this.failure ??= { error };
      throw error;
    });
    this.writing = true;
    this.track(done);
    // Attached before any caller's reaction: the next batch is issued first.
    const next = (): void => this.startQueued();
    done.then(next, next);
    return done;
  }

  /** Once the batch in flight settles: the batches queued meanwhile, as one. */
  private startQueued(): void {
    this.writing = false;
    const queued = this.queued;
    if (queued === undefined) return;
    this.queued = undefined;
    if (this.failure !== undefined) {
      queued.settle.reject(this.failure.error);
      return;
    }
    this.startBatch(queued.ops).then(queued.settle.resolve, queued.settle.reject);
  }

  /** Close waits for it, whatever its outcome. */
  private track(work: Promise<unknown>): void {
    const settled = work.then(noop, noop);
    this.inflight.add(settled);
    void settled.then(() => this.inflight.delete(settled));
  }
}

// ---- sealing of data at rest ------------------------------------------------------------------------

const SEGMENT_CONTEXT = 1;
const SNAPSHOT_CONTEXT = 2;

/**
 * What a sealed segment is bound to: a tag and its first index (8 bytes, big-endian), so that a
 * segment moved under another key fails to open. (Each entry inside also carries its index.)
 */
function segmentContext(first: number): Uint8Array {
  const out = new Uint8Array(1 + 8);
  out[0] = SEGMENT_CONTEXT;
  new DataView(out.buffer).setBigUint64(1, BigInt(first));
  return out;
}

/** What a sealed snapshot is bound to: a tag, its index and its term (8 bytes each). */
function snapshotContext(meta: SnapshotMeta): Uint8Array {
  const out = new Uint8Array(1 + 8 + 8);
  const view = new DataView(out.buffer);
  out[0] = SNAPSHOT_CONTEXT;
  view.setBigUint64(1, BigInt(meta.index));
  view.setBigUint64(9, BigInt(meta.term));
  return out;
}

/** The stored value of the segment of `entries.slice(from)`: sealed whole when there is a cipher. */
function segmentValue(cipher: LogCipher | undefined, entries: readonly Entry[], from: number): Uint8Array {
  const segment = sealSegment(entries, from);
  return cipher === undefined ? segment : frameSealedSegment(cipher.seal(segment, segmentContext((entries[from] as Entry).index), SEALED_SEGMENT_HEADER_BYTES));
}

/** The entries of a stored segment: LogCorruptError for damage, DecryptionError if it fails to open. */
function readSegment(cipher: LogCipher | undefined, key: string, value: Uint8Array, first: number): StoredSegment {
  if (cipher === undefined) return scanSegment(key, value, first);
  return scanSegment(key, cipher.open(unframeSealedSegment(key, value), segmentContext(first), `entries from ${first} (${key})`), first);
}

/** The stored record of a snapshot: its data sealed, and the record marked so, when there is a cipher. */
function snapshotValue(cipher: LogCipher | undefined, snapshot: Snapshot, seq: number): Uint8Array {
  if (cipher === undefined) return sealSnapshot(snapshot, seq);
  // Sealed into the record's buffer: the record's frame goes into the cipher's headroom.
  const sealedBytes = snapshot.data.byteLength + cipher.overheadBytes;
  return sealSnapshotInto(snapshot.meta, seq, true, sealedBytes, (headroom) => cipher.seal(snapshot.data, snapshotContext(snapshot.meta), headroom));
}

const SNAPSHOT_CHUNK_CONTEXT = 3;

/** What a sealed snapshot chunk is bound to: a tag, the snapshot's index and term, and the chunk's number. */
function snapshotChunkContext(meta: SnapshotMeta, n: number): Uint8Array {
  const out = new Uint8Array(1 + 8 + 8 + 4);
  const view = new DataView(out.buffer);
  out[0] = SNAPSHOT_CHUNK_CONTEXT;
  view.setBigUint64(1, BigInt(meta.index));
  view.setBigUint64(9, BigInt(meta.term));
  view.setUint32(17, n);
  return out;
}

type SnapshotSlot = (typeof SNAPSHOT_SLOTS)[number];

function otherSlot(slot: SnapshotSlot): SnapshotSlot {
  return slot === SNAPSHOT_SLOTS[0] ? SNAPSHOT_SLOTS[1] : SNAPSHOT_SLOTS[0];
}

function noop(): void {}

/** Batches waiting for the one in flight: their ops joined in call order, and one promise for them all. */
interface QueuedBatch {
  readonly ops: KvOp[];
  readonly done: Promise<void>;
  readonly settle: { resolve: () => void; reject: (error: unknown) => void };
}

/** Deletes of a slot's chunk keys [from, to). */
function chunkDeletes(slot: SnapshotSlot, from: number, to: number): KvOp[] {
  const ops: KvOp[] = [];
  for (let n = from; n < to; n++) ops.push({ type: 'del', key: snapshotChunkKey(slot, n) });
  return ops;
}

/**
 * The data of a chunked snapshot: its chunks read, checked, opened and joined. A chunk missing or
 * damaged is corruption (LogCorruptError naming its key), never a torn write: every chunk was
 * durable before the record that names them was written.
 */
async function readSnapshotChunks(kv: KvStore, cipher: LogCipher | undefined, slot: SnapshotSlot, meta: SnapshotMeta, chunks: SnapshotChunks): Promise<Snapshot> {
  const stored = await kv.range({ gte: snapshotChunkKey(slot, 0), lt: snapshotChunkKey(slot, chunks.count) });
  const data = new Uint8Array(chunks.bytes);
  let at = 0;
  for (let n = 0; n < chunks.count; n++) {
    const key = snapshotChunkKey(slot, n);
    const found = stored[n];
    if (found === undefined || found[0] !== key) throw new LogCorruptError(key, `snapshot ${meta.index}: chunk ${n} of ${chunks.count} is missing`);
    const body = unframeSnapshotChunk(key, found[1]);
    const piece = cipher === undefined ? body : cipher.open(body, snapshotChunkContext(meta, n), `snapshot ${meta.index} chunk ${n} (${key})`);
    if (at + piece.byteLength > data.byteLength) throw new LogCorruptError(key, `snapshot ${meta.index}: its chunks hold more than its ${chunks.bytes} bytes`);
    data.set(piece, at);
    at += piece.byteLength;
  }
  if (at !== data.byteLength) throw new LogCorruptError(slot, `snapshot ${meta.index}: its chunks hold ${at} bytes, not ${chunks.bytes}`);
  return { meta, data };
}

function openSnapshotData(cipher: LogCipher | undefined, snapshot: Snapshot): Snapshot {
  return cipher === undefined ? snapshot : { meta: snapshot.meta, data: cipher.open(snapshot.data, snapshotContext(snapshot.meta), `snapshot ${snapshot.meta.index}`) };
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
 * The slots are tried newest first by the sequence number they claim (`peekSeq`, unchecked): the
 * first that opens is the newest readable one (a slot whose claim is garbage fails to open), and
 * the other is not read further (for a snapshot, that spares checking and decoding a second copy
 * of the store).
 */
function newestSlot<T extends { seq: number }>(slots: ReadonlyArray<{ key: string; raw: Uint8Array }>, open: (key: string, raw: Uint8Array) => T, loneDamagedIsTorn: boolean): T | undefined {
  let damaged: LogCorruptError | undefined;
  const newestFirst = slots.map((slot) => ({ ...slot, claimed: peekSeq(slot.raw) })).sort((a, b) => b.claimed - a.claimed);
  for (const { key, raw } of newestFirst) {
    try {
      return open(key, raw);
    } catch (error) {
      if (!(error instanceof LogCorruptError)) throw error;
      damaged ??= error;
    }
  }
  if (damaged !== undefined && (slots.length > 1 || !loneDamagedIsTorn)) throw damaged;
  return undefined;
}

// The Raft log in memory, after etcd's MemoryStorage: the entries since the last compaction in an
// array, the hard state and the snapshot beside them. It is the log of unit tests, and the
// in-memory mirror that KvLogStorage reads from.
import { assert } from '../../runtime/index.js';
import { LogCompactedError, LogUnavailableError } from '../errors.js';
import { StoredSegment } from './records.js';
import { EMPTY_HARD_STATE, EMPTY_SNAPSHOT } from './types.js';
import type { ConfState, Entry, HardState, LogStorage, LogWrite, PeerId, Snapshot } from './types.js';

/** The last compacted entry: the log's base, whose term `term(firstIndex() - 1)` answers. */
export interface LogBase {
  readonly index: number;
  readonly term: number;
}

/** What a MemoryLogStorage starts from. Everything is optional: the default is an empty log. */
export interface MemoryLogInit {
  /** The voters of the initial snapshot's ConfState (only without `snapshot`). */
  readonly voters?: readonly PeerId[];
  /** The learners of the initial snapshot's ConfState (only without `snapshot`). */
  readonly learners?: readonly PeerId[];
  readonly hardState?: HardState;
  readonly snapshot?: Snapshot;
  /** The last compacted entry; defaults to the snapshot's index and term. */
  readonly base?: LogBase;
  /**
   * Contiguous entries from base.index + 1. KvLogStorage gives the entries it read at open as the
   * StoredSegment they lie in (that segment, once per entry of it in the log), so that they become
   * Entry objects only when read.
   */
  readonly entries?: readonly LogSlot[];
}

/** What a write changed, for a persistent store that mirrors it (see KvLogStorage). */
export interface AppliedWrite {
  /** The entries that entered the log (those of the write above the snapshot's index). */
  readonly appended: readonly Entry[];
}

/** An entry of the log: the Entry, or the stored segment that holds it (made an Entry on read). */
export type LogSlot = Entry | StoredSegment;

/** By the Log Matching property, entries with the same index and term are the same entry. */
function sameEntry(a: Entry, b: Entry): boolean {
  return a.index === b.index && a.term === b.term;
}

export class MemoryLogStorage implements LogStorage {
  private hard: HardState;
  private snap: Snapshot;
  /** Invariant: base.index <= snap.meta.index <= lastIndex(). */
  private base: LogBase;
  /** Invariant: the entry of log[i] has index base.index + 1 + i. */
  private log: LogSlot[];

  private constructor(hardState: HardState, snapshot: Snapshot, base: LogBase, entries: readonly LogSlot[]) {
    this.hard = hardState;
    this.snap = snapshot;
    this.base = base;
    assertContiguous(entries, base.index + 1);
    this.log = entries.slice();
    assert(base.index <= snapshot.meta.index, () => `log base ${base.index} is above the snapshot's index ${snapshot.meta.index}`);
    assert(base.index < snapshot.meta.index || base.term === snapshot.meta.term, () => `log base term ${base.term} differs from the snapshot's term ${snapshot.meta.term} at index ${base.index}`);
    assert(snapshot.meta.index <= this.lastIndex(), () => `snapshot index ${snapshot.meta.index} is beyond the last entry ${this.lastIndex()}`);
    assert(hardState.commit <= this.lastIndex(), () => `commit ${hardState.commit} is beyond the last entry ${this.lastIndex()}`);
  }

  /** An empty log, or one restored from `init` (e.g. `create({ voters: ['1', '2', '3'] })`). */
  static create(init: MemoryLogInit = {}): MemoryLogStorage {
    assert(init.snapshot === undefined || (init.voters === undefined && init.learners === undefined), 'give either a snapshot or voters/learners, not both');
    const snapshot: Snapshot = init.snapshot ?? {
      meta: { ...EMPTY_SNAPSHOT.meta, confState: { voters: [...(init.voters ?? [])], learners: [...(init.learners ?? [])] } },
      data: EMPTY_SNAPSHOT.data,
    };
    const base = init.base ?? { index: snapshot.meta.index, term: snapshot.meta.term };
    return new MemoryLogStorage(init.hardState ?? EMPTY_HARD_STATE, snapshot, base, init.entries ?? []);
  }

  // ---- reads ------------------------------------------------------------------------------------

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hard, confState: this.snap.meta.confState };
  }

  entries(lo: number, hi: number, bytesMax = Infinity): Entry[] {
    assert(lo <= hi, () => `entries: lo ${lo} > hi ${hi}`);
    const first = this.firstIndex();
    if (lo < first) throw new LogCompactedError(lo, first);
    const last = this.lastIndex();
    if (hi > last + 1) throw new LogUnavailableError(hi - 1, last);
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi; index++) {
      const entry = entryOf(this.log[index - first] as LogSlot, index);
      bytes += entry.data.byteLength;
      // The first entry goes out whatever its size, or a big entry could never be sent.
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  term(index: number): number {
    if (index < this.base.index) throw new LogCompactedError(index, this.firstIndex());
    if (index === this.base.index) return this.base.term;
    const last = this.lastIndex();
    if (index > last) throw new LogUnavailableError(index, last);
    return termOf(this.log[index - this.base.index - 1] as LogSlot, index);
  }

  firstIndex(): number {
    return this.base.index + 1;
  }

  lastIndex(): number {
    return this.base.index + this.log.length;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** The last compacted entry (index firstIndex() - 1 and its term). */
  compactedTo(): LogBase {
    return this.base;
  }

  // ---- writes: durable at once, so the promises only report the outcome ---------------------------

  async save(write: LogWrite): Promise<void> {
    this.applyWrite(write);
  }

  async createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    return this.applyCreateSnapshot(index, confState, data);
  }

  async compact(index: number): Promise<void> {
    this.applyCompact(index);
  }

  async close(): Promise<void> {}

  // ---- the synchronous mutations, shared with KvLogStorage's mirror --------------------------------

  /**
   * Applies a write at once: the snapshot first (the log becomes it), then the entries (a
   * conflicting tail is truncated), then the hard state. Throws an InvariantViolation, and
   * changes nothing, when the write breaks the log's rules: that is a bug in the caller.
   */
  applyWrite(write: LogWrite): AppliedWrite {
    this.checkWrite(write);
    if (write.snapshot !== undefined) {
      this.snap = write.snapshot;
      this.base = { index: write.snapshot.meta.index, term: write.snapshot.meta.term };
      this.log = [];
    }
    const appended = this.appendable(write.entries);
    if (appended.length > 0) {
      this.log.length = (appended[0] as Entry).index - this.base.index - 1;
      for (const entry of appended) this.log.push(entry);
    }
    if (write.hardState !== undefined) this.hard = write.hardState;
    return { appended };
  }

  /**
   * Holds the entries of `segment` as that stored segment from now on (made an Entry on read, its
   * data a view into the segment's bytes), in place of the Entry objects a write gave: a persistent
   * store that keeps the segment's bytes then shares them with the log rather than holding a
   * second copy of the data. The entries must be in the log, the same entries (index and term).
   */
  adoptSegment(segment: StoredSegment): void {
    const first = this.firstIndex();
    const last = segment.first + segment.count - 1;
    assert(segment.first >= first && last <= this.lastIndex(), () => `the stored segment of entries ${segment.first}..${last} is not within the log ${first}..${this.lastIndex()}`);
    for (let index = segment.first; index <= last; index++) {
      const i = index - first;
      assert(termOf(this.log[i] as LogSlot, index) === segment.term(index), () => `the stored segment's entry ${index} has term ${segment.term(index)}, the log's ${termOf(this.log[i] as LogSlot, index)}`);
      this.log[i] = segment;
    }
  }

  applyCreateSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    assert(index > this.snap.meta.index, () => `snapshot at ${index} is not above the stored snapshot's index ${this.snap.meta.index}`);
    assert(index <= this.lastIndex(), () => `snapshot at ${index} is beyond the last entry ${this.lastIndex()}`);
    // Not checked against the stored commit index: the shell persists that lazily, and only ever
    // snapshots what it has applied (hence committed).
    this.snap = { meta: { index, term: this.term(index), confState }, data };
    return this.snap;
  }

  /** Returns false when there was nothing to drop. */
  applyCompact(index: number): boolean {
    if (index <= this.base.index) return false;
    assert(index <= this.snap.meta.index, () => `compact to ${index} would drop entries above the snapshot's index ${this.snap.meta.index}`);
    const term = this.term(index);
    this.log = this.log.slice(index - this.base.index);
    this.base = { index, term };
    return true;
  }

  /**
   * Checks the whole write before any of it is applied, so that a refused write leaves the log
   * as it was. The rules are Raft's: a term never decreases, a vote is never changed within its
   * term, commit never passes the last entry, committed entries are never rewritten.
   */
  private checkWrite(write: LogWrite): void {
    let lastAfter = this.lastIndex();
    let snapshotIndex = this.snap.meta.index;
    let baseIndex = this.base.index;
    if (write.snapshot !== undefined) {
      const meta = write.snapshot.meta;
      assert(meta.index > this.snap.meta.index, () => `snapshot at ${meta.index} is not above the stored snapshot's index ${this.snap.meta.index}`);
      snapshotIndex = meta.index;
      baseIndex = meta.index;
      lastAfter = meta.index;
    }
    const entries = write.entries;
    if (entries.length > 0) {
      const first = (entries[0] as Entry).index;
      assertContiguous(entries, first);
      const last = first + entries.length - 1;
      if (last > snapshotIndex) {
        const at = Math.max(first, snapshotIndex + 1);
        assert(at <= lastAfter + 1, () => `entries from ${at} would leave a gap after the last entry ${lastAfter}`);
        lastAfter = last;
      }
      // Committed entries (those the stored commit or the snapshot covers) may be repeated by a
      // write, never changed. A write with a snapshot replaces the log, so there is nothing to
      // compare with.
      if (write.snapshot === undefined) {
        const committed = Math.max(this.hard.commit, snapshotIndex);
        for (const entry of entries) {
          if (entry.index > committed) break;
          if (entry.index <= baseIndex) continue;
          const stored = entryOf(this.log[entry.index - this.base.index - 1] as LogSlot, entry.index);
          assert(sameEntry(entry, stored), () => `entry ${entry.index} (term ${entry.term}) would rewrite committed entry ${stored.index} of term ${stored.term}`);
        }
      }
    }
    const hard = write.hardState;
    if (hard !== undefined) {
      assert(hard.term >= this.hard.term, () => `hard state term ${hard.term} is below the stored term ${this.hard.term}`);
      assert(
        hard.term > this.hard.term || this.hard.vote === '' || hard.vote === this.hard.vote,
        () => `hard state changes the vote of term ${hard.term} from '${this.hard.vote}' to '${hard.vote}'`,
      );
    }
    const commit = hard?.commit ?? this.hard.commit;
    assert(commit <= lastAfter, () => `commit ${commit} would be beyond the last entry ${lastAfter}`);
  }

  /** The entries of a write that enter the log: those above the snapshot's index. */
  private appendable(entries: readonly Entry[]): readonly Entry[] {
    if (entries.length === 0) return entries;
    const skip = this.snap.meta.index + 1 - (entries[0] as Entry).index;
    if (skip <= 0) return entries;
    return entries.slice(skip);
  }
}

function assertContiguous(entries: readonly LogSlot[], firstIndex: number): void {
  for (let i = 0; i < entries.length; i++) {
    const slot = entries[i] as LogSlot;
    if (slot instanceof StoredSegment) {
      // A run of slots of one segment: checked as a whole, not per entry (a long log has a million).
      const index = firstIndex + i;
      let last = i;
      while (last + 1 < entries.length && entries[last + 1] === slot) last++;
      const lastIndex = firstIndex + last;
      assert(index >= slot.first && lastIndex < slot.first + slot.count, () => `entries ${index}..${lastIndex} are not all in the stored segment of entries ${slot.first}..${slot.first + slot.count - 1}`);
      i = last;
      continue;
    }
    if (slot.index !== firstIndex + i) assert(false, () => `entry ${i} has index ${slot.index}, expected ${firstIndex + i} (entries must be contiguous)`);
  }
}

function entryOf(slot: LogSlot, index: number): Entry {
  return slot instanceof StoredSegment ? slot.entry(index) : slot;
}

function termOf(slot: LogSlot, index: number): number {
  return slot instanceof StoredSegment ? slot.term(index) : slot.term;
}

// The log as the Raft core sees it: durable entries in LogStorage, then `unstable` entries (and
// possibly a snapshot) that a Ready has not yet made durable. Invariants: committed <= lastIndex,
// applied <= committed, entries are contiguous with non-decreasing terms.
import { LogCompactedError, LogUnavailableError, type Entry, type LogStorage, type Snapshot } from '../journal/index.js';
import { assert } from '../runtime/index.js';

export class RaftLog {
  /** The first index of `unstable` (stable entries end just before it). */
  private offset: number;
  private unstable: Entry[] = [];
  private unstableSnapshot: Snapshot | undefined;
  /** Unstable entries below this index (and the snapshot, if flagged) are in an outstanding Ready. */
  private offsetInProgress: number;
  private snapshotInProgress = false;
  committed: number;
  /** Highest index handed out for applying (in a Ready not yet advanced, or applied). */
  applying: number;
  applied: number;

  constructor(readonly storage: LogStorage) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.offset = last + 1;
    this.offsetInProgress = this.offset;
    const { hardState } = storage.initialState();
    this.committed = hardState.commit;
    // The state machine restarts from the snapshot: entries it covers are not applied again.
    this.applied = Math.max(first - 1, Math.min(storage.snapshot().meta.index, hardState.commit));
    this.applying = this.applied;
    assert(this.committed >= first - 1 && this.committed <= last, () => `stored commit ${this.committed} outside the log [${first - 1}, ${last}]`);
  }

  firstIndex(): number {
    if (this.unstableSnapshot !== undefined) return this.unstableSnapshot.meta.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.offset + this.unstable.length - 1;
    if (this.unstableSnapshot !== undefined) return this.unstableSnapshot.meta.index;
    return this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** The term of entry `index`; throws LogCompactedError / LogUnavailableError out of range. */
  term(index: number): number {
    if (index >= this.offset && index < this.offset + this.unstable.length) return (this.unstable[index - this.offset] as Entry).term;
    if (this.unstableSnapshot !== undefined && index === this.unstableSnapshot.meta.index) return this.unstableSnapshot.meta.term;
    const first = this.firstIndex();
    if (index < first - 1) throw new LogCompactedError(index, first);
    if (index > this.lastIndex()) throw new LogUnavailableError(index, this.lastIndex());
    if (this.unstableSnapshot !== undefined) {
      // Below the unstable snapshot only its own index is known.
      throw new LogCompactedError(index, first);
    }
    return this.storage.term(index);
  }

  termOrZero(index: number): number {
    try {
      return this.term(index);
    } catch {
      return 0;
    }
  }

  matchTerm(index: number, term: number): boolean {
    // The common miss (an append's new entries) is answered without an exception.
    if (index > this.lastIndex() || index < this.firstIndex() - 1) return false;
    try {
      return this.term(index) === term;
    } catch {
      return false;
    }
  }

  /** Raft §5.4.1: is a log ending at (index, term) at least as up to date as ours? */
  isUpToDate(index: number, term: number): boolean {
    const lastTerm = this.lastTerm();
    return term > lastTerm || (term === lastTerm && index >= this.lastIndex());
  }

  /**
   * A follower's append (§5.3): if our log has (index, logTerm), append the entries (truncating a
   * conflicting tail) and move commit up to min(commit, last new index). Returns the last new
   * index, or undefined if the consistency check failed.
   */
  maybeAppend(index: number, logTerm: number, commit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, () => `entry ${conflict} conflicts with committed entry (commit ${this.committed})`);
      this.append(entries.slice(conflict - (index + 1)));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** The first index whose term differs from ours, or a new index past our end, or 0. */
  private findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /** Appends entries (contiguous), truncating any unstable or stable tail from their first index. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const first = (entries[0] as Entry).index;
    assert(first > this.committed, () => `append at ${first} would overwrite committed ${this.committed}`);
    assert(first <= this.lastIndex() + 1, () => `append at ${first} leaves a gap after ${this.lastIndex()}`);
    if (first === this.offset + this.unstable.length) {
      this.unstable.push(...entries);
    } else if (first <= this.offset) {
      // Replaces stable entries too: the storage write of this batch truncates them.
      this.offset = first;
      this.unstable = [...entries];
      this.offsetInProgress = Math.min(this.offsetInProgress, first);
    } else {
      this.unstable = [...this.unstable.slice(0, first - this.offset), ...entries];
      this.offsetInProgress = Math.min(this.offsetInProgress, first);
    }
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), () => `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Leader's commit rule (§5.4.2): only an entry of the current term commits by counting. */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.termOrZero(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Entries [lo, hi), at most `bytesMax` (but at least one). */
  slice(lo: number, hi: number, bytesMax = Infinity): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new LogCompactedError(lo, first);
    assert(hi <= this.lastIndex() + 1, () => `slice [${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    if (lo < this.offset) {
      const stable = this.storage.entries(lo, Math.min(hi, this.offset), bytesMax);
      for (const e of stable) {
        out.push(e);
        bytes += e.data.byteLength;
      }
      if (out.length < Math.min(hi, this.offset) - lo) return out;
    }
    for (let i = Math.max(lo, this.offset); i < hi; i++) {
      const e = this.unstable[i - this.offset] as Entry;
      if (out.length > 0 && bytes + e.data.byteLength > bytesMax) break;
      out.push(e);
      bytes += e.data.byteLength;
    }
    return out;
  }

  /** A follower installs a snapshot: the log becomes the snapshot, committed moves to it. */
  restore(snapshot: Snapshot): void {
    this.unstableSnapshot = snapshot;
    this.unstable = [];
    this.offset = snapshot.meta.index + 1;
    this.offsetInProgress = this.offset;
    this.snapshotInProgress = false;
    this.committed = snapshot.meta.index;
  }

  // ---- the Ready cycle ----------------------------------------------------------------------

  /** A snapshot received but not yet made durable and applied. */
  hasPendingSnapshot(): boolean {
    return this.unstableSnapshot !== undefined;
  }

  hasUnstable(): boolean {
    return (this.unstableSnapshot !== undefined && !this.snapshotInProgress) || this.offsetInProgress < this.offset + this.unstable.length;
  }

  /** Unstable entries not yet in an outstanding Ready; marks them in progress. */
  takeUnstable(): { entries: Entry[]; snapshot: Snapshot | undefined } {
    const entries = this.unstable.slice(this.offsetInProgress - this.offset);
    const snapshot = this.unstableSnapshot !== undefined && !this.snapshotInProgress ? this.unstableSnapshot : undefined;
    this.offsetInProgress = this.offset + this.unstable.length;
    if (snapshot !== undefined) this.snapshotInProgress = true;
    return { entries, snapshot };
  }

  /** The Ready holding entries up to (index, term) and maybe a snapshot is durable. */
  stableTo(index: number, term: number, snapshotIndex: number): void {
    if (this.unstableSnapshot !== undefined && this.unstableSnapshot.meta.index === snapshotIndex) {
      this.unstableSnapshot = undefined;
      this.snapshotInProgress = false;
    }
    if (index < this.offset) return;
    // A newer append may have replaced these entries meanwhile: only a matching term is stable.
    const pos = index - this.offset;
    if (pos >= this.unstable.length || (this.unstable[pos] as Entry).term !== term) return;
    this.unstable = this.unstable.slice(pos + 1);
    this.offset = index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  /** Index of the last entry known durable on this peer. */
  stableLastIndex(): number {
    if (this.unstable.length > 0) return this.offset - 1;
    return this.lastIndex();
  }

  /** `maxIndex`: hand out nothing above it (with asynchronous storage writes, the last durable index). */
  hasNextCommittedEntries(maxIndex = Infinity): boolean {
    return Math.min(this.committed, maxIndex) > this.applying && this.applying + 1 >= this.firstIndex();
  }

  /** Committed entries not yet handed out; they are persisted before they are applied. */
  nextCommittedEntries(bytesMax = Infinity, maxIndex = Infinity): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const hi = Math.min(this.committed, maxIndex) + 1;
    return this.slice(lo, hi, bytesMax);
  }

  appliedTo(index: number): void {
    assert(index <= this.committed, () => `applied ${index} beyond commit ${this.committed}`);
    this.applied = Math.max(this.applied, index);
    this.applying = Math.max(this.applying, index);
  }
}

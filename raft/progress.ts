// The leader's view of one follower's replication (etcd's Progress): what matches, what to send
// next, and how much is in flight. `probe` sends one append per heartbeat until the follower's
// position is known; `replicate` pipelines appends within a window; `snapshot` sends snapshot
// chunks and nothing else.
import { assert } from '../runtime/index.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded FIFO of the last index of each append in flight. */
export class Inflights {
  private readonly indexes: number[] = [];
  constructor(readonly countMax: number) {}

  get count(): number {
    return this.indexes.length;
  }
  full(): boolean {
    return this.indexes.length >= this.countMax;
  }
  add(lastIndex: number): void {
    assert(!this.full(), 'inflights: add to a full window');
    this.indexes.push(lastIndex);
  }
  /** Frees every append whose last index is <= `index` (acknowledged). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.indexes.length && (this.indexes[n] as number) <= index) n++;
    if (n > 0) this.indexes.splice(0, n);
  }
  freeFirstOne(): void {
    this.indexes.shift();
  }
  reset(): void {
    this.indexes.length = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe state: an append was sent since the last acknowledgement. */
  probeSent = false;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** Snapshot state: the snapshot being sent, and how many of its bytes the follower holds. */
  pendingSnapshot = 0;
  snapshotBytesAcked = 0;
  readonly inflights: Inflights;
  /** The highest commit index this follower was sent (in an append or a heartbeat). */
  commitSent = 0;
  /**
   * The highest index whose commit this follower waits for: the last entry it forwarded, the
   * index of a read it asked for. A commit index it has not yet been sent, up to here, goes to
   * it at once; other commits reach it with the next append or heartbeat.
   */
  commitWanted = 0;

  constructor(next: number, inflightAppendsMax: number, public isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(inflightAppendsMax);
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.reset('probe');
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.reset('replicate');
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.reset('snapshot');
    this.pendingSnapshot = snapshotIndex;
    this.snapshotBytesAcked = 0;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  /** An acknowledgement up to `index`; returns whether it told us anything new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append after `rejected`; the follower's last index is `hint`. Returns
   * false for a stale rejection (of an append already superseded).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** Records an append of entries ending at `lastIndex` (or an empty probe). */
  sentEntries(lastIndex: number, entryCount: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }
}

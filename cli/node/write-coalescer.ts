// The control API's writes on their way to the journal. Each write is a change that must apply
// whole (its events); many clients writing at once should cost the cluster few Raft entries, since
// every entry is a round of the Raft group (an append and an fsync on each manager, the
// acknowledgements, the commit, an apply on each) whatever it carries.
//
// Writes made in one turn of the event loop (the requests whose bytes arrived together) go as one
// entry, or as few as the batch limits allow; a write is never cut. And at most `entriesInFlightMax`
// entries are proposed and not yet applied at once: the writes made meanwhile wait, and go together
// as soon as one applies. Under load an entry then carries what arrived during a whole round instead
// of one turn's worth, and the cluster's rounds per write fall with the load (measured in
// bench/README.md, "The cluster against etcd"); a lone client never waits, since its write is the
// only one in flight. Two in flight, not one, so that a write arriving just after an entry left
// does not wait a whole round before its own starts.
//
// When the store refuses an entry of several writes (applying none of it), each is proposed again
// alone, so that one write's conflict does not fail the others; a write refused alone gets its
// own error, as it would have anyway.
import { encodeBatch, packBatches, type JournalEvent } from '../../journal/index.js';
import { assert } from '../../runtime/index.js';

/** Entries proposed and not applied at once, by default. */
export const WRITE_ENTRIES_IN_FLIGHT_MAX = 2;

/** What proposing one entry came to: its index once applied, and the store's refusal if it refused the batch. */
export interface CoalescedEntryReply {
  readonly index: number;
  readonly refused: { readonly code: string; readonly message: string } | null;
}

export interface WriteCoalescerOptions {
  /** Runs `fn` after the current turn (the Env clock's defer). */
  readonly defer: (fn: () => void) => void;
  /** Proposes one entry (a batch's bytes) and resolves once it applied here; rejects if it could not be written. */
  readonly propose: (batch: Uint8Array) => Promise<CoalescedEntryReply>;
  /** The error a write refused by the store rejects with. */
  readonly refusal: (refused: { readonly code: string; readonly message: string }) => unknown;
  readonly entriesInFlightMax?: number;
}

interface PendingWrite {
  readonly events: readonly JournalEvent[];
  readonly resolve: (index: number) => void;
  readonly reject: (error: unknown) => void;
}

export interface WriteCoalescerStats {
  /** Entries proposed (a refused entry's writes proposed again alone count as entries too). */
  entries: number;
  /** Writes taken. */
  writes: number;
}

export class WriteCoalescer {
  readonly stats: WriteCoalescerStats = { entries: 0, writes: 0 };
  private readonly entriesInFlightMax: number;
  private pending: PendingWrite[] = [];
  private inFlight = 0;
  /** Bumped by leaderChanged(): entries proposed before it no longer count in flight. */
  private generation = 0;
  private flushArmed = false;

  constructor(private readonly options: WriteCoalescerOptions) {
    this.entriesInFlightMax = options.entriesInFlightMax ?? WRITE_ENTRIES_IN_FLIGHT_MAX;
    assert(Number.isInteger(this.entriesInFlightMax) && this.entriesInFlightMax >= 1, () => `entriesInFlightMax must be a positive integer, got ${this.entriesInFlightMax}`);
  }

  /** Entries proposed and not applied yet. */
  get entriesInFlight(): number {
    return this.inFlight;
  }

  /** Writes waiting for their entry to be proposed. */
  get waiting(): number {
    return this.pending.length;
  }

  /**
   * The manager's Raft peer follows another leader, or none. The entries in flight stop holding
   * their places: forwarded to a leader that is gone, they may stay unanswered until the write
   * times out (10 s), and the writes after them must not wait that long (a failover would take
   * that long for every client of this manager). They still settle their writes when answered.
   */
  leaderChanged(): void {
    this.generation++;
    this.inFlight = 0;
    this.arm();
  }

  /** Writes the events as one atomic change; resolves with the index it applied at. */
  write(events: readonly JournalEvent[]): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.pending.push({ events, resolve, reject });
      this.stats.writes++;
      this.arm();
    });
  }

  /** Flushes after this turn, unless a flush is armed already or the entries in flight are at the limit. */
  private arm(): void {
    if (this.flushArmed || this.pending.length === 0 || this.inFlight >= this.entriesInFlightMax) return;
    this.flushArmed = true;
    this.options.defer(() => {
      this.flushArmed = false;
      this.flush();
    });
  }

  /** Proposes every waiting write, in order, in as few entries as the batch limits allow. */
  private flush(): void {
    const writes = this.pending;
    this.pending = [];
    let from = 0;
    for (const batch of packBatches(writes.map((w) => w.events))) {
      const group = writes.slice(from, from + batch.units);
      from += batch.units;
      this.proposeEntry(batch.bytes).then(
        (reply) => {
          if (reply.refused === null) for (const w of group) w.resolve(reply.index);
          else if (group.length === 1) group[0]!.reject(this.options.refusal(reply.refused));
          else for (const w of group) this.proposeAlone(w);
        },
        (error: unknown) => {
          for (const w of group) w.reject(error);
        },
      );
    }
  }

  private proposeAlone(w: PendingWrite): void {
    this.proposeEntry(encodeBatch(w.events)).then(
      (reply) => (reply.refused === null ? w.resolve(reply.index) : w.reject(this.options.refusal(reply.refused))),
      w.reject,
    );
  }

  /** One entry counted in flight until it settles; then the writes that waited may go. */
  private proposeEntry(bytes: Uint8Array): Promise<CoalescedEntryReply> {
    this.inFlight++;
    this.stats.entries++;
    const generation = this.generation;
    const settle = (): void => {
      if (generation !== this.generation) return;
      this.inFlight--;
      this.arm();
    };
    let proposed: Promise<CoalescedEntryReply>;
    try {
      proposed = this.options.propose(bytes);
    } catch (error) {
      proposed = Promise.reject(error);
    }
    return proposed.finally(settle);
  }
}

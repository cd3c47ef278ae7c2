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
// An entry stops holding its place when it settles, when the manager's Raft peer follows another
// leader (or none), or after `entryPlaceMs` without an answer: a proposal forwarded to a leader
// that died, or that the leader dropped (its uncommitted-bytes limit), is answered only by the
// write timeout (10 s), and the writes behind it must not wait that long. It still settles its
// writes whenever it is answered.
//
// When the store refuses an entry of several writes (applying none of it), each is proposed again
// alone, so that one write's conflict does not fail the others; a write refused alone gets its
// own error, as it would have anyway.
import type { ManagerReply } from '../../actors/index.js';
import { encodeBatch, packBatches, type JournalEvent } from '../../journal/index.js';
import { assert, type Clock, type TimerId } from '../../runtime/index.js';

/** Entries proposed and not applied at once, by default. */
export const WRITE_ENTRIES_IN_FLIGHT_MAX = 2;
/**
 * How long an unanswered entry holds its place, by default: well above a round under load here
 * (tens of milliseconds), well below the write timeout.
 */
export const WRITE_ENTRY_PLACE_MS = 500;

/** What proposing one entry came to: the manager's answer once it applied here (`refused` set when the store refused the batch). */
export type CoalescedEntryReply = Pick<Extract<ManagerReply, { readonly type: 'manager.applied' }>, 'index' | 'refused'>;
type StoreRefusal = NonNullable<CoalescedEntryReply['refused']>;

export interface WriteCoalescerOptions {
  /** The Env clock: `defer` runs the flush after the current turn; the timers bound an entry's place. */
  readonly clock: Pick<Clock, 'defer' | 'setTimeout' | 'clearTimeout'>;
  /** Proposes one entry (a batch's bytes) and resolves once it applied here; rejects if it could not be written. */
  readonly propose: (batch: Uint8Array) => Promise<CoalescedEntryReply>;
  /** The error a write refused by the store rejects with. */
  readonly refusal: (refused: StoreRefusal) => unknown;
  readonly entriesInFlightMax?: number;
  readonly entryPlaceMs?: number;
}

/** An entry's place among those in flight, held until it settles, the leader changes or its time is up. */
interface Place {
  timer: TimerId | undefined;
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
  private readonly entryPlaceMs: number;
  private readonly places = new Set<Place>();
  private flushArmed = false;

  constructor(private readonly options: WriteCoalescerOptions) {
    this.entriesInFlightMax = options.entriesInFlightMax ?? WRITE_ENTRIES_IN_FLIGHT_MAX;
    this.entryPlaceMs = options.entryPlaceMs ?? WRITE_ENTRY_PLACE_MS;
    assert(Number.isInteger(this.entriesInFlightMax) && this.entriesInFlightMax >= 1, () => `entriesInFlightMax must be a positive integer, got ${this.entriesInFlightMax}`);
    assert(this.entryPlaceMs > 0, () => `entryPlaceMs must be positive, got ${this.entryPlaceMs}`);
  }

  /** Entries proposed, not answered yet, and holding their places. */
  get entriesInFlight(): number {
    return this.places.size;
  }

  /** Writes waiting for their entry to be proposed. */
  get waiting(): number {
    return this.pending.length;
  }

  /** The manager's Raft peer follows another leader, or none: the entries in flight give up their places. */
  leaderChanged(): void {
    for (const place of [...this.places]) this.release(place);
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
    if (this.flushArmed || this.pending.length === 0 || this.places.size >= this.entriesInFlightMax) return;
    this.flushArmed = true;
    this.options.clock.defer(() => {
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

  /** One entry, holding a place until it settles (or gives the place up before); then the writes that waited may go. */
  private proposeEntry(bytes: Uint8Array): Promise<CoalescedEntryReply> {
    this.stats.entries++;
    const place: Place = { timer: undefined };
    this.places.add(place);
    place.timer = this.options.clock.setTimeout(() => {
      place.timer = undefined;
      this.release(place);
    }, this.entryPlaceMs);
    let proposed: Promise<CoalescedEntryReply>;
    try {
      proposed = this.options.propose(bytes);
    } catch (error) {
      proposed = Promise.reject(error);
    }
    return proposed.finally(() => this.release(place));
  }

  private release(place: Place): void {
    if (!this.places.delete(place)) return;
    if (place.timer !== undefined) this.options.clock.clearTimeout(place.timer);
    place.timer = undefined;
    this.arm();
  }
}

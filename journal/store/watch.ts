// The watch feed (pure part): committed events in order, each with the Raft index of its entry,
// resumable from a version. A version is a Raft index: resuming from version v delivers every
// event of every entry after v. The feed keeps a bounded history of whole batches; a watcher that
// asks for a version the feed no longer holds gets WatchCompactedError naming the oldest version
// it may resume from — never a silent gap. Actors come later: this is what their shell wraps.
import { assert } from '../../runtime/index.js';
import type { JournalEvent } from '../events/index.js';
import { WatchCompactedError } from './errors.js';

/** The events of one committed entry. */
export interface WatchBatch {
  readonly index: number;
  readonly events: readonly JournalEvent[];
}

export interface WatchFeedOptions {
  /** Events kept for resuming watchers; whole batches are dropped, oldest first, beyond it. */
  readonly historyEventsMax: number;
  /** The version the feed starts at (a restored snapshot's index): older versions are unavailable. */
  readonly startVersion?: number;
}

export type WatchListener = (batch: WatchBatch) => void;

export interface WatchSubscription {
  unsubscribe(): void;
}

export interface WatchRead {
  readonly batches: readonly WatchBatch[];
  /** The version to resume from next time. */
  readonly version: number;
}

export const WATCH_HISTORY_EVENTS_DEFAULT = 100_000;

export class WatchFeed {
  readonly historyEventsMax: number;
  private history: WatchBatch[] = [];
  /** history[head] is the oldest batch held; slots before it are dropped, awaiting a splice. */
  private head = 0;
  private historyEvents = 0;
  /** Versions at or after this one can be resumed from. */
  private oldest: number;
  private latest: number;
  private readonly listeners = new Set<WatchListener>();

  constructor(options: WatchFeedOptions = { historyEventsMax: WATCH_HISTORY_EVENTS_DEFAULT }) {
    assert(Number.isSafeInteger(options.historyEventsMax) && options.historyEventsMax >= 0, 'historyEventsMax must be a non-negative integer');
    this.historyEventsMax = options.historyEventsMax;
    this.oldest = options.startVersion ?? 0;
    this.latest = this.oldest;
  }

  /** The oldest version a watcher may resume from. */
  get oldestVersion(): number {
    return this.oldest;
  }

  /** The index of the last published entry. */
  get version(): number {
    return this.latest;
  }

  /** Publishes the events of a committed (and applied) entry to every subscriber, in order. */
  publish(index: number, events: readonly JournalEvent[]): void {
    assert(Number.isSafeInteger(index) && index > this.latest, () => `watch feed publishes index ${index} after ${this.latest}`);
    this.latest = index;
    const batch: WatchBatch = { index, events };
    this.history.push(batch);
    this.historyEvents += events.length;
    while (this.historyEvents > this.historyEventsMax && this.head < this.history.length) {
      const dropped = this.history[this.head++]!;
      this.historyEvents -= dropped.events.length;
      this.oldest = dropped.index;
    }
    if (this.head > 1024 && this.head * 2 > this.history.length) {
      this.history = this.history.slice(this.head);
      this.head = 0;
    }
    this.deliver(batch);
  }

  /** The held batches after `sinceVersion`, whole, up to about `eventsMax` events (at least one batch). */
  read(sinceVersion: number, eventsMax = Number.MAX_SAFE_INTEGER): WatchRead {
    const start = this.firstAfter(sinceVersion);
    const batches: WatchBatch[] = [];
    let events = 0;
    for (let i = start; i < this.history.length; i++) {
      const batch = this.history[i]!;
      if (batches.length > 0 && events + batch.events.length > eventsMax) break;
      batches.push(batch);
      events += batch.events.length;
    }
    return { batches, version: batches.length > 0 ? batches[batches.length - 1]!.index : Math.max(sinceVersion, this.oldest) };
  }

  /**
   * Delivers every held batch after `sinceVersion` now, then each published batch as it comes.
   * Throws WatchCompactedError if the history no longer reaches back to `sinceVersion`.
   */
  subscribe(sinceVersion: number, listener: WatchListener): WatchSubscription {
    const start = this.firstAfter(sinceVersion);
    for (let i = start; i < this.history.length; i++) listener(this.history[i]!);
    this.listeners.add(listener);
    return { unsubscribe: () => this.listeners.delete(listener) };
  }

  private firstAfter(sinceVersion: number): number {
    if (sinceVersion < this.oldest) throw new WatchCompactedError(sinceVersion, this.oldest);
    // Binary search: the first held batch with index > sinceVersion.
    let lo = this.head;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.history[mid]!.index <= sinceVersion) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private deliver(batch: WatchBatch): void {
    const failures: unknown[] = [];
    for (const listener of [...this.listeners]) {
      try {
        listener(batch);
      } catch (error) {
        failures.push(error);
      }
    }
    // One failing listener must not starve the others of the batch.
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, 'watch listeners failed');
  }
}

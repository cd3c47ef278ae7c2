// The simulator's one source of time. Every timer, network delivery and disk completion of every
// simulated node is an event on this loop, ordered by (virtual time, sequence number): the
// sequence number is the insertion counter, so the order is total and a seed replays exactly.
import { yieldToMacrotask } from '../runtime/env/real/index.js';

interface LoopEvent {
  readonly atMs: number;
  /** Insertion order; doubles as the event's id, since both are unique and increasing. */
  readonly seq: number;
  /** Cleared on cancel: the heap keeps the slot until it surfaces (lazy deletion). */
  fn: (() => void) | undefined;
}

export interface SimLoopRunOptions {
  /** Run events due at or before this virtual time, then stop with reason 'time'. */
  untilMs?: number;
  /** Stop after this many events of this run. */
  maxEvents?: number;
  /** Checked before every event; true stops the run with reason 'stopped'. */
  stopWhen?: () => boolean;
}

export type SimLoopStopReason = 'idle' | 'time' | 'maxEvents' | 'stopped';

export interface SimLoopRunResult {
  /** Events run by this call. */
  events: number;
  reason: SimLoopStopReason;
}

/**
 * Promise continuations get a real macrotask turn at least this often even when virtual time
 * stands still, so that a burst of same-instant events cannot starve them.
 */
const eventsBetweenYieldsMax = 1000;

/** Cancelled events the heap may hold beyond twice the live ones before it is compacted. */
const cancelledSlotsMax = 1024;

function before(a: LoopEvent, b: LoopEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

/** A binary min-heap of events by (atMs, seq). */
class EventHeap {
  private readonly items: LoopEvent[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): LoopEvent | undefined {
    return this.items[0];
  }

  push(event: LoopEvent): void {
    const items = this.items;
    items.push(event);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as LoopEvent;
      if (!before(event, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = event;
  }

  pop(): LoopEvent | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    const n = items.length;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && before(items[right] as LoopEvent, items[left] as LoopEvent)) child = right;
      const c = items[child] as LoopEvent;
      if (!before(c, last)) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
    return top;
  }

  /** Keeps only the events for which `keep` holds. */
  retain(keep: (event: LoopEvent) => boolean): void {
    const kept = this.items.filter(keep);
    // An array sorted by (atMs, seq) is already a valid heap. Rare enough that n log n is fine.
    kept.sort((a, b) => (before(a, b) ? -1 : 1));
    this.items.length = 0;
    for (const event of kept) this.items.push(event);
  }
}

export class SimLoop {
  private readonly heap = new EventHeap();
  /** Events scheduled and neither run nor cancelled, by id. */
  private readonly live = new Map<number, LoopEvent>();
  private nowMs: number;
  private nextSeq = 1;
  private processed = 0;
  private inEvent = false;
  private running = false;
  /** Work outside the loop that virtual time waits for (see hold). */
  private readonly holds = new Set<Promise<unknown>>();

  constructor(options: { startMs?: number } = {}) {
    this.nowMs = options.startMs ?? 0;
  }

  /** Virtual time in milliseconds. It only moves forward, and only by jumping to an event. */
  now(): number {
    return this.nowMs;
  }

  /** Events run since the loop was created, by step() and run() together. */
  get eventsProcessed(): number {
    return this.processed;
  }

  schedule(delayMs: number, fn: () => void): number {
    if (!(delayMs >= 0) || !Number.isFinite(delayMs)) {
      throw new RangeError(`SimLoop.schedule: delay must be a finite number >= 0, got ${delayMs}`);
    }
    const event: LoopEvent = { atMs: this.nowMs + delayMs, seq: this.nextSeq++, fn };
    this.heap.push(event);
    this.live.set(event.seq, event);
    return event.seq;
  }

  /** Cancels a pending event; unknown, already run and already cancelled ids are ignored. */
  cancel(id: number): void {
    const event = this.live.get(id);
    if (event === undefined) return;
    event.fn = undefined;
    this.live.delete(id);
    // Timers that are reset often (heartbeats, election timeouts) would otherwise leave
    // cancelled slots piling up until their far-off time surfaces them.
    if (this.heap.size > cancelledSlotsMax + 2 * this.live.size) {
      this.heap.retain((e) => e.fn !== undefined);
    }
  }

  /**
   * Virtual time stands still, and no event runs, until `work` settles: for work whose completion
   * comes from outside the loop (WebCrypto, which jose uses, completes on a thread pool), so
   * that its continuations run at the same virtual instant in every run. `work` must not wait for
   * the loop (a disk write, a timer), or run() waits forever. Returns `work`.
   */
  hold<T>(work: Promise<T>): Promise<T> {
    const held: Promise<unknown> = work.then(
      () => this.holds.delete(held),
      () => this.holds.delete(held),
    );
    this.holds.add(held);
    return work;
  }

  pending(): number {
    return this.live.size;
  }

  /** Virtual time of the next live event, if any. */
  nextAtMs(): number | undefined {
    return this.peekLive()?.atMs;
  }

  /** Runs the next event synchronously. False when nothing is pending. */
  step(): boolean {
    if (this.inEvent) {
      // Running an event from inside another would break the (time, seq) order.
      throw new Error('SimLoop.step: called from inside an event');
    }
    this.peekLive();
    const event = this.heap.pop();
    if (event === undefined) return false;
    const fn = event.fn as () => void;
    event.fn = undefined;
    this.live.delete(event.seq);
    this.nowMs = event.atMs;
    this.processed++;
    this.inEvent = true;
    try {
      fn();
    } finally {
      this.inEvent = false;
    }
    return true;
  }

  /**
   * Runs events in order until a stop condition holds. Before virtual time advances to a later
   * instant, and before returning, it yields one real macrotask turn: promise continuations
   * started by the events of this instant then run while `now()` still reads this instant, and
   * anything they schedule joins the queue before time moves on. An event's exception
   * propagates, which fails the seed.
   */
  async run(options: SimLoopRunOptions = {}): Promise<SimLoopRunResult> {
    if (this.running) throw new Error('SimLoop.run: already running');
    const { untilMs, maxEvents, stopWhen } = options;
    this.running = true;
    let events = 0;
    // Work queued by the caller before run() gets its microtasks flushed like any event's.
    let unflushed = true;
    let sinceYield = 0;
    try {
      for (;;) {
        const early: SimLoopStopReason | undefined = stopWhen?.()
          ? 'stopped'
          : maxEvents !== undefined && events >= maxEvents
            ? 'maxEvents'
            : undefined;
        if (early !== undefined) {
          // The caller then sees the state the last event's continuations leave behind.
          if (unflushed) await yieldToMacrotask();
          return { events, reason: early };
        }
        if (this.holds.size > 0) {
          await Promise.all([...this.holds]);
          unflushed = true;
          continue;
        }
        const next = this.peekLive();
        const advancing = next === undefined || next.atMs > this.nowMs || (untilMs !== undefined && next.atMs > untilMs);
        if ((advancing && unflushed) || sinceYield >= eventsBetweenYieldsMax) {
          await yieldToMacrotask();
          unflushed = false;
          sinceYield = 0;
          // The continuations may have scheduled events or satisfied stopWhen: look again.
          continue;
        }
        if (next === undefined) {
          this.advanceTo(untilMs);
          return { events, reason: 'idle' };
        }
        if (untilMs !== undefined && next.atMs > untilMs) {
          this.advanceTo(untilMs);
          return { events, reason: 'time' };
        }
        this.step();
        events++;
        sinceYield++;
        unflushed = true;
      }
    } finally {
      this.running = false;
    }
  }

  /** Lets virtual time pass to `untilMs` with nothing happening, as a run bounded by it would. */
  private advanceTo(untilMs: number | undefined): void {
    if (untilMs !== undefined && untilMs > this.nowMs) this.nowMs = untilMs;
  }

  /** Drops cancelled events from the top of the heap and returns the first live one. */
  private peekLive(): LoopEvent | undefined {
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined || top.fn !== undefined) return top;
      this.heap.pop();
    }
  }
}

// One node's view of simulated time. Timers of every node share the simulation's SimLoop, so
// their relative order is the seed's; the clock remembers which timers are its own so that a
// node crash can take them all down without touching the other nodes'.
import type { Clock, TimerId } from '../runtime/index.js';
import type { SimLoop } from './loop.js';

/** Returned by a disabled clock: clearTimeout ignores it, like any id it does not hold. */
const disabledTimerId = -1;

export class SimClock implements Clock {
  /**
   * Added to the loop's time in now() only: a skewed node misjudges leases and deadlines, but
   * its timers still fire after their delay on the shared virtual time.
   */
  skewMs: number;
  private readonly loop: SimLoop;
  /**
   * Pending timers and defers of this node, by the clock's own id: when they are due, and their
   * loop event (none while the node is paused).
   */
  private readonly timers = new Map<number, { atMs: number; fn: () => void; loopId: number | undefined }>();
  private nextId = 1;
  private disabledFlag = false;
  private pausedFlag = false;

  constructor(loop: SimLoop, options: { skewMs?: number } = {}) {
    this.loop = loop;
    this.skewMs = options.skewMs ?? 0;
  }

  /** True after cancelAll() until enable(): scheduling calls are then no-ops. */
  get disabled(): boolean {
    return this.disabledFlag;
  }

  now(): number {
    return this.loop.now() + this.skewMs;
  }

  setTimeout(fn: () => void, delayMs: number): TimerId {
    return this.track(delayMs, fn);
  }

  clearTimeout(id: TimerId): void {
    if (typeof id !== 'number') return;
    const timer = this.timers.get(id);
    if (timer === undefined) return;
    this.timers.delete(id);
    if (timer.loopId !== undefined) this.loop.cancel(timer.loopId);
  }

  defer(fn: () => void): void {
    this.track(0, fn);
  }

  /** Timers and defers of this node still pending. */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** The node crashed: nothing it scheduled may run, and nothing it schedules later either. */
  cancelAll(): void {
    for (const timer of this.timers.values()) if (timer.loopId !== undefined) this.loop.cancel(timer.loopId);
    this.timers.clear();
    this.disabledFlag = true;
  }

  /**
   * The node's process stops running (a GC pause, a stopped VM): nothing it scheduled runs until
   * `resume`, when whatever fell due meanwhile runs at once, in due order.
   */
  pause(): void {
    if (this.pausedFlag) return;
    this.pausedFlag = true;
    for (const timer of this.timers.values()) {
      if (timer.loopId !== undefined) this.loop.cancel(timer.loopId);
      timer.loopId = undefined;
    }
  }

  resume(): void {
    if (!this.pausedFlag) return;
    this.pausedFlag = false;
    const due = [...this.timers.entries()].sort(([a, x], [b, y]) => x.atMs - y.atMs || a - b);
    for (const [id, timer] of due) this.arm(id, timer, Math.max(0, timer.atMs - this.loop.now()));
  }

  get paused(): boolean {
    return this.pausedFlag;
  }

  enable(): void {
    this.disabledFlag = false;
  }

  private track(delayMs: number, fn: () => void): number {
    if (this.disabledFlag) return disabledTimerId;
    if (!(delayMs >= 0)) throw new RangeError(`SimClock: delay must be >= 0, got ${delayMs}`);
    const id = this.nextId++;
    const timer = { atMs: this.loop.now() + delayMs, fn, loopId: undefined as number | undefined };
    this.timers.set(id, timer);
    if (!this.pausedFlag) this.arm(id, timer, delayMs);
    return id;
  }

  private arm(id: number, timer: { atMs: number; fn: () => void; loopId: number | undefined }, delayMs: number): void {
    timer.loopId = this.loop.schedule(delayMs, () => {
      this.timers.delete(id);
      timer.fn();
    });
  }
}

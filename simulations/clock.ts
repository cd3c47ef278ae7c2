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
  /** Pending timers and defers of this node, by loop event id. */
  private readonly timers = new Set<number>();
  private disabledFlag = false;

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
    if (typeof id !== 'number' || !this.timers.delete(id)) return;
    this.loop.cancel(id);
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
    for (const id of this.timers) this.loop.cancel(id);
    this.timers.clear();
    this.disabledFlag = true;
  }

  enable(): void {
    this.disabledFlag = false;
  }

  private track(delayMs: number, fn: () => void): number {
    if (this.disabledFlag) return disabledTimerId;
    const id = this.loop.schedule(delayMs, () => {
      this.timers.delete(id);
      fn();
    });
    this.timers.add(id);
    return id;
  }
}

// The real clock alone: wall-clock time and Node's timers. A face of its own (besides index.ts)
// so that a short-lived command (`swarm node ls`) can wait and tell the time without loading the
// disk, the network transports and the container engine's client that index.ts brings.
import type { Clock, TimerId } from '../types.js';

/** The wall clock and Node's timers. `defer` uses setImmediate so that I/O is never starved. */
export class RealClock implements Clock {
  now(): number {
    return Date.now();
  }
  setTimeout(fn: () => void, delayMs: number): TimerId {
    return setTimeout(fn, delayMs);
  }
  clearTimeout(id: TimerId): void {
    clearTimeout(id as ReturnType<typeof setTimeout>);
  }
  defer(fn: () => void): void {
    setImmediate(fn);
  }
}

/** Resolves after one real macrotask turn: every queued microtask has run by then. */
export function yieldToMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Monotonic high-resolution time in milliseconds, for measurements only (benchmarks, logs). */
export function monotonicMs(): number {
  return performance.now();
}

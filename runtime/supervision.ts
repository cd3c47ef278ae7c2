import { assert } from './errors.js';

/**
 * How a parent handles a child's failure (a thrown error, a rejected promise from `receive`, or
 * an xstate actor entering `error`).
 */
export type SupervisionStrategy =
  | RestartStrategy
  | { readonly kind: 'stop' }
  | { readonly kind: 'escalate' };

export interface RestartStrategy {
  readonly kind: 'restart';
  /** At most this many restarts within `windowMs`; one more and the supervisor gives up. */
  readonly restartsMax: number;
  readonly windowMs: number;
  /** Backoff before the n-th restart in the window: min(backoffMaxMs, backoffMinMs * 2^(n-1)). */
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /** Adds up to this fraction of the backoff at random, so that siblings do not restart in step. */
  readonly jitter: number;
  /** What giving up means: stop the child, or fail the supervisor itself. */
  readonly onGiveUp: 'stop' | 'escalate';
}

export const DEFAULT_RESTART: RestartStrategy = {
  kind: 'restart',
  restartsMax: 10,
  windowMs: 60_000,
  backoffMinMs: 100,
  backoffMaxMs: 10_000,
  jitter: 0.2,
  onGiveUp: 'stop',
};

export function restart(overrides: Partial<Omit<RestartStrategy, 'kind'>> = {}): RestartStrategy {
  const strategy: RestartStrategy = { ...DEFAULT_RESTART, ...overrides };
  validateStrategy(strategy);
  return strategy;
}

export function validateStrategy(strategy: SupervisionStrategy): void {
  if (strategy.kind !== 'restart') return;
  assert(Number.isInteger(strategy.restartsMax) && strategy.restartsMax >= 0, 'restartsMax must be a non-negative integer');
  assert(strategy.windowMs > 0, 'windowMs must be positive');
  assert(strategy.backoffMinMs >= 0 && strategy.backoffMaxMs >= strategy.backoffMinMs, 'need 0 <= backoffMinMs <= backoffMaxMs');
  assert(strategy.jitter >= 0 && strategy.jitter <= 1, 'jitter must be within [0, 1]');
}

/** The restart history of one actor: timestamps of restarts that are still inside the window. */
export class RestartWindow {
  private times: number[] = [];

  /** Records a restart at `now`; returns the number of restarts in the window including it. */
  record(now: number, windowMs: number): number {
    this.times = this.times.filter((t) => now - t < windowMs);
    this.times.push(now);
    return this.times.length;
  }

  get count(): number {
    return this.times.length;
  }
}

export function backoffMs(strategy: RestartStrategy, restartsInWindow: number, unitRandom: number): number {
  const exponent = Math.max(0, restartsInWindow - 1);
  const base = Math.min(strategy.backoffMaxMs, strategy.backoffMinMs * 2 ** Math.min(exponent, 30));
  return Math.round(base * (1 + strategy.jitter * unitRandom));
}

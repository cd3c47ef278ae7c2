// The defaults a service spec gets where a request leaves a field out (DESIGN.md section 8,
// SwarmKit's api/defaults), and the limits the control API holds requests to.
import type { RestartPolicy, UpdateConfig } from '../../journal/index.js';

export const DEFAULT_RESTART_POLICY: RestartPolicy = { condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0 };

export const DEFAULT_UPDATE_CONFIG: UpdateConfig = {
  parallelism: 1,
  delayMs: 0,
  failureAction: 'pause',
  monitorMs: 5_000,
  maxFailureRatio: 0,
  order: 'stopFirst',
};

/** A rollback is an update back to the previous spec, with the same defaults. */
export const DEFAULT_ROLLBACK_CONFIG: UpdateConfig = DEFAULT_UPDATE_CONFIG;

/** SwarmKit's limits (api/validation/secrets.go, controlapi/config.go). */
export const SECRET_BYTES_MAX = 500 * 1024;
export const CONFIG_BYTES_MAX = 1000 * 1024;

/** SwarmKit's smallest non-zero resource values (controlapi/service.go validateResources). */
export const NANO_CPUS_MIN = 1e6;
export const MEMORY_BYTES_MIN = 4 * 1024 * 1024;

/** Names: a DNS label, SwarmKit's rule (and its 63-character cap). */
export const NAME_LENGTH_MAX = 63;

/**
 * The longest duration a spec may hold: 90 days, so that nanoseconds on the wire stay exact
 * integers (2^53 ns is about 104 days).
 */
export const DURATION_MS_MAX = 90 * 24 * 3_600_000;

/** Bounds on list lengths in a spec (the journal's schema holds lists to similar bounds). */
export const SPEC_LIST_LENGTH_MAX = 1_000;

// The values of fields added after an object's first version, for raw values written before
// them: the event upgrades (events.ts) and the readers of older store snapshots (journal/store)
// fill them the same way. Each function takes a raw decoded value and returns a new one with
// every absent field present (a present one is kept: the schema checks it after), appended last
// in its object as the schema declares it, and nested objects filled too; anything but a record
// is returned as it is, for the schema to refuse naming the field. Every call makes fresh arrays.
import { STOP_GRACE_PERIOD_MS_DEFAULT } from './objects.js';

type Raw = Record<string, unknown>;

function isRecord(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/**
 * A copy of `value` (if a record) with `nested` applied to those of its keys it has, and the
 * `absent` fields added where missing, in their order. A spread keeps the position of each key.
 */
function fill(value: unknown, nested: { readonly [key: string]: (value: unknown) => unknown }, absent: { readonly [key: string]: (record: Raw) => unknown }): unknown {
  if (!isRecord(value)) return value;
  const out: Raw = { ...value };
  for (const key of Object.keys(nested)) if (Object.hasOwn(out, key)) out[key] = nested[key]!(out[key]);
  for (const key of Object.keys(absent)) if (!Object.hasOwn(out, key)) out[key] = absent[key]!(value);
  return out;
}

const none = (): unknown[] => [];

/** Placement: no preferences, any platform. */
export const withPlacementDefaults = (value: unknown): unknown => fill(value, {}, { preferences: none, platforms: none });

/**
 * ContainerSpec (event schema v3): no health check of its own, no mounts, the image's working
 * directory and user, the engine's stop signal, Docker's 10 s grace period, the engine's hostname.
 */
export const withContainerSpecDefaults = (value: unknown): unknown => fill(value, {}, {
  healthcheck: () => null,
  mounts: none,
  dir: () => '',
  user: () => '',
  stopSignal: () => '',
  stopGracePeriodMs: () => STOP_GRACE_PERIOD_MS_DEFAULT,
  hostname: () => '',
});

/** TaskSpec: its placement and container as above, forceUpdate 0 (v2), the container runtime (v3). */
export const withTaskSpecDefaults = (value: unknown): unknown => fill(value, { container: withContainerSpecDefaults, placement: withPlacementDefaults }, {
  forceUpdate: () => 0,
  runtime: () => 'container',
});

/** ServiceSpec: its task spec as above, no rebalancing (v2), no dependencies (v4). */
export const withServiceSpecDefaults = (value: unknown): unknown => fill(value, { task: withTaskSpecDefaults }, { rebalance: () => false, dependsOn: none });

/**
 * Service: its specs as above; specVersion its meta.version (before service.updateStatusChanged
 * and service.endpointAllocated existed, only a change of spec changed a service), no update
 * status, no endpoint allocated.
 */
export const withServiceDefaults = (value: unknown): unknown => fill(value, {
  spec: withServiceSpecDefaults,
  previousSpec: (spec) => (spec === null ? null : withServiceSpecDefaults(spec)),
}, {
  specVersion: (service) => (isRecord(service.meta) ? service.meta.version : undefined),
  updateStatus: () => null,
  endpoint: () => null,
});

/** Task (and the task.created event): its spec as above, no restarts behind it, no addresses. */
export const withTaskDefaults = (value: unknown): unknown => fill(value, { spec: withTaskSpecDefaults }, { restarts: none, addresses: none });

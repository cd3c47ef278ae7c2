// The journal's events: past-tense facts, one committed Raft entry holds a batch of them. Every
// event carries `v`, the version of its type's schema, and `at`, the proposer's Env clock in ms
// (so that applying it is a pure function: no manager reads its own clock). Updates and removals
// carry `expectedVersion` (the object's meta.version the proposer read, or null for an
// unconditional change): the store refuses a stale one at apply time, identically on every manager.
import { withServiceSpecDefaults, withTaskDefaults } from './defaults.js';
import { EventInvalidError, EventTypeUnknownError, EventVersionUnsupportedError } from './errors.js';
import {
  blobSpecSchema, clusterSpecSchema, DESIRED_STATES, networkAddressesSchema, nodeDescriptionSchema, nodeSpecSchema, nodeStatusSchema,
  restartsSchema, serviceEndpointSchema, serviceSpecSchema, taskSpecSchema, taskStatusSchema, networkSpecSchema, updateStatusSchema,
  type BlobSpec, type ClusterSpec, type DesiredState, type Labels, type NetworkAddress, type NetworkSpec, type NodeDescription,
  type NodeSpec, type NodeStatus, type ObjectKind, type ServiceEndpoint, type ServiceSpec, type Task, type TaskSpec, type TaskStatus, type UpdateStatus,
} from './objects.js';
import { check, id, int, labels, nullable, obj, oneOf, use, type Check, type Shape } from './schema.js';

interface Base {
  readonly v: number;
  readonly at: number;
}
interface Conditional {
  /** The meta.version the proposer read; null: apply whatever the current version is. */
  readonly expectedVersion: number | null;
}

export type ClusterCreated = Base & { readonly type: 'cluster.created'; readonly id: string; readonly spec: ClusterSpec };
export type ClusterUpdated = Base & Conditional & { readonly type: 'cluster.updated'; readonly id: string; readonly spec: ClusterSpec };

export type NodeRegistered = Base & { readonly type: 'node.registered'; readonly id: string; readonly spec: NodeSpec; readonly description: NodeDescription; readonly status: NodeStatus };
export type NodeUpdated = Base & Conditional & { readonly type: 'node.updated'; readonly id: string; readonly spec: NodeSpec };
/** The node's agent described it anew (hostname, platform, resources, engine labels): it registered again with a changed description. */
export type NodeDescriptionChanged = Base & Conditional & { readonly type: 'node.descriptionChanged'; readonly id: string; readonly description: NodeDescription };
export type NodeStatusChanged = Base & Conditional & { readonly type: 'node.statusChanged'; readonly id: string; readonly status: NodeStatus };
export type NodeRemoved = Base & Conditional & { readonly type: 'node.removed'; readonly id: string };

export type ServiceCreated = Base & { readonly type: 'service.created'; readonly id: string; readonly spec: ServiceSpec };
export type ServiceUpdated = Base & Conditional & { readonly type: 'service.updated'; readonly id: string; readonly spec: ServiceSpec };
export type ServiceRemoved = Base & Conditional & { readonly type: 'service.removed'; readonly id: string };
/** An update's progress (or its end) recorded; null clears it. */
export type ServiceUpdateStatusChanged = Base & Conditional & { readonly type: 'service.updateStatusChanged'; readonly id: string; readonly updateStatus: UpdateStatus | null };
/** The spec goes back to previousSpec (and previousSpec to the spec it replaces); specVersion moves on. */
export type ServiceRolledBack = Base & Conditional & { readonly type: 'service.rolledBack'; readonly id: string; readonly updateStatus: UpdateStatus };
export type ServiceEndpointAllocated = Base & Conditional & { readonly type: 'service.endpointAllocated'; readonly id: string; readonly endpoint: ServiceEndpoint };

/** A task as created: every field of a Task but its meta, which the store derives. */
export type TaskCreated = Base & { readonly type: 'task.created' } & Omit<Task, 'meta'>;
export type TaskAssigned = Base & Conditional & { readonly type: 'task.assigned'; readonly id: string; readonly nodeId: string; readonly status: TaskStatus };
export type TaskStatusChanged = Base & Conditional & { readonly type: 'task.statusChanged'; readonly id: string; readonly status: TaskStatus };
export type TaskDesiredStateChanged = Base & Conditional & { readonly type: 'task.desiredStateChanged'; readonly id: string; readonly desiredState: DesiredState };
export type TaskRemoved = Base & Conditional & { readonly type: 'task.removed'; readonly id: string };
/** The allocator's part done: the task's network addresses, and its status (normally pending). */
export type TaskAllocated = Base & Conditional & { readonly type: 'task.allocated'; readonly id: string; readonly addresses: readonly NetworkAddress[]; readonly status: TaskStatus };

export type NetworkCreated = Base & { readonly type: 'network.created'; readonly id: string; readonly spec: NetworkSpec };
export type NetworkRemoved = Base & Conditional & { readonly type: 'network.removed'; readonly id: string };

export type SecretCreated = Base & { readonly type: 'secret.created'; readonly id: string; readonly spec: BlobSpec };
/** Only labels of a secret may change (its data and name are immutable, as in SwarmKit). */
export type SecretUpdated = Base & Conditional & { readonly type: 'secret.updated'; readonly id: string; readonly labels: Labels };
export type SecretRemoved = Base & Conditional & { readonly type: 'secret.removed'; readonly id: string };

export type ConfigCreated = Base & { readonly type: 'config.created'; readonly id: string; readonly spec: BlobSpec };
export type ConfigRemoved = Base & Conditional & { readonly type: 'config.removed'; readonly id: string };

export type JournalEvent =
  | ClusterCreated | ClusterUpdated
  | NodeRegistered | NodeUpdated | NodeDescriptionChanged | NodeStatusChanged | NodeRemoved
  | ServiceCreated | ServiceUpdated | ServiceRemoved | ServiceUpdateStatusChanged | ServiceRolledBack | ServiceEndpointAllocated
  | TaskCreated | TaskAssigned | TaskStatusChanged | TaskDesiredStateChanged | TaskRemoved | TaskAllocated
  | NetworkCreated | NetworkRemoved
  | SecretCreated | SecretUpdated | SecretRemoved
  | ConfigCreated | ConfigRemoved;

export type EventType = JournalEvent['type'];
export type EventOfType<T extends EventType> = Extract<JournalEvent, { type: T }>;

/**
 * The current schema version of each event type. Raising one requires an upgrade from the
 * previous version in EVENT_UPGRADES: the journal is a contract, and old entries stay readable.
 */
export const EVENT_VERSIONS: { readonly [T in EventType]: number } = {
  'cluster.created': 1, 'cluster.updated': 1,
  'node.registered': 1, 'node.updated': 1, 'node.descriptionChanged': 1, 'node.statusChanged': 1, 'node.removed': 1,
  // 2: the specs gained placement preferences and platforms, forceUpdate and rebalance.
  // 3: the container spec gained healthcheck, mounts, dir, user, stopSignal, stopGracePeriodMs and
  // hostname, the task spec its runtime.
  // 4: the service spec gained dependsOn (task.created carries a task spec only: it stays at 3).
  'service.created': 4, 'service.updated': 4, 'service.removed': 1,
  'service.updateStatusChanged': 1, 'service.rolledBack': 1, 'service.endpointAllocated': 1,
  // task.created 2: the spec as above, and the task's restarts and addresses; 3: the spec as above.
  'task.created': 3, 'task.assigned': 1, 'task.statusChanged': 1, 'task.desiredStateChanged': 1, 'task.removed': 1,
  'task.allocated': 1,
  'network.created': 1, 'network.removed': 1,
  'secret.created': 1, 'secret.updated': 1, 'secret.removed': 1,
  'config.created': 1, 'config.removed': 1,
};

export const EVENT_TYPES = Object.keys(EVENT_VERSIONS) as readonly EventType[];

/** A raw decoded event: a plain record, not validated yet. */
export type RawEvent = Record<string, unknown>;

/**
 * Upgrades of raw events: `upgrades[type][n]` turns version n into version n + 1. The decoder
 * chains them from the stored version up to the current one, then validates the result.
 */
export type EventUpgrades = { readonly [type: string]: { readonly [fromVersion: number]: (event: RawEvent) => RawEvent } };

/**
 * Version 2 of service.created and service.updated: the spec with no placement preferences, any
 * platform, forceUpdate 0 and no rebalancing; of task.created: its spec the same way, no restarts
 * behind it and no addresses. Version 3 of all three: the container spec with no health check of
 * its own, no mounts, the image's dir and user, the engine's stop signal and hostname, a 10 s stop
 * grace period, and the container runtime. Version 4 of service.created and service.updated: the
 * spec with no dependencies. The fields' defaults are in defaults.ts, shared with old snapshots;
 * each fills only what is absent, so an upgrade from 1 fills the fields of 3 and 4 too and the
 * later ones then find nothing left to fill.
 */
export const EVENT_UPGRADES: EventUpgrades = {
  'service.created': { 1: serviceEventTo(2), 2: serviceEventTo(3), 3: serviceEventTo(4) },
  'service.updated': { 1: serviceEventTo(2), 2: serviceEventTo(3), 3: serviceEventTo(4) },
  'task.created': { 1: taskEventTo(2), 2: taskEventTo(3) },
};

function serviceEventTo(v: number): (raw: RawEvent) => RawEvent {
  return (raw) => ({ ...raw, v, ...(Object.hasOwn(raw, 'spec') ? { spec: withServiceSpecDefaults(raw.spec) } : {}) });
}

function taskEventTo(v: number): (raw: RawEvent) => RawEvent {
  return (raw) => ({ ...(withTaskDefaults(raw) as RawEvent), v });
}

const at = int(0);
const version = nullable(int(1));
const desiredState = oneOf(DESIRED_STATES);
/** A task's node: '' until assigned, else an id. */
const taskNodeId = check<string>((value, field, strict) => (value === '' ? '' : use(id, strict)(value, field)), (value) => typeof value === 'string');

/**
 * A task spec that a batch decoder vouches for while it parses one event (see decodeBatch): the
 * spec the fast path accepted in the batch's previous task.created, which this event's spec equals
 * (sameValue, key order included) and was replaced by. The fast path's verdict depends on the
 * value's structure alone, so it is the same; the walk is skipped. Unset outside that call; the
 * strict path never consults it.
 */
let vouchedTaskSpec: object | undefined;

/** Sets (or, with undefined, clears) the task spec decodeBatch vouches for. */
export function vouchForTaskSpec(spec: object | undefined): void {
  vouchedTaskSpec = spec;
}

const taskCreatedSpec = check<TaskSpec>(
  (value, field, strict) => use(taskSpecSchema, strict)(value, field),
  (value) => (value === vouchedTaskSpec && value !== undefined) || taskSpecSchema.accepts(value),
);

function shape<T extends JournalEvent>(type: T['type'], fields: Omit<Shape<T>, 'type' | 'v' | 'at'>): Check<T> {
  return obj<T>({ type: oneOf([type]), v: int(1), at, ...fields } as unknown as Shape<T>);
}

/** The schema of each event type at its current version (what parseEvent checks after the upgrades). */
export const EVENT_SCHEMAS: { readonly [T in EventType]: Check<EventOfType<T>> } = {
  'cluster.created': shape<ClusterCreated>('cluster.created', { id, spec: clusterSpecSchema }),
  'cluster.updated': shape<ClusterUpdated>('cluster.updated', { id, spec: clusterSpecSchema, expectedVersion: version }),
  'node.registered': shape<NodeRegistered>('node.registered', { id, spec: nodeSpecSchema, description: nodeDescriptionSchema, status: nodeStatusSchema }),
  'node.updated': shape<NodeUpdated>('node.updated', { id, spec: nodeSpecSchema, expectedVersion: version }),
  'node.descriptionChanged': shape<NodeDescriptionChanged>('node.descriptionChanged', { id, description: nodeDescriptionSchema, expectedVersion: version }),
  'node.statusChanged': shape<NodeStatusChanged>('node.statusChanged', { id, status: nodeStatusSchema, expectedVersion: version }),
  'node.removed': shape<NodeRemoved>('node.removed', { id, expectedVersion: version }),
  'service.created': shape<ServiceCreated>('service.created', { id, spec: serviceSpecSchema }),
  'service.updated': shape<ServiceUpdated>('service.updated', { id, spec: serviceSpecSchema, expectedVersion: version }),
  'service.removed': shape<ServiceRemoved>('service.removed', { id, expectedVersion: version }),
  'service.updateStatusChanged': shape<ServiceUpdateStatusChanged>('service.updateStatusChanged', { id, updateStatus: nullable(updateStatusSchema), expectedVersion: version }),
  'service.rolledBack': shape<ServiceRolledBack>('service.rolledBack', { id, updateStatus: updateStatusSchema, expectedVersion: version }),
  'service.endpointAllocated': shape<ServiceEndpointAllocated>('service.endpointAllocated', { id, endpoint: serviceEndpointSchema, expectedVersion: version }),
  'task.created': shape<TaskCreated>('task.created', {
    id, serviceId: id, slot: int(0), nodeId: taskNodeId,
    spec: taskCreatedSpec, serviceVersion: int(0), desiredState, status: taskStatusSchema,
    restarts: restartsSchema, addresses: networkAddressesSchema,
  }),
  'task.assigned': shape<TaskAssigned>('task.assigned', { id, nodeId: id, status: taskStatusSchema, expectedVersion: version }),
  'task.statusChanged': shape<TaskStatusChanged>('task.statusChanged', { id, status: taskStatusSchema, expectedVersion: version }),
  'task.desiredStateChanged': shape<TaskDesiredStateChanged>('task.desiredStateChanged', { id, desiredState, expectedVersion: version }),
  'task.removed': shape<TaskRemoved>('task.removed', { id, expectedVersion: version }),
  'task.allocated': shape<TaskAllocated>('task.allocated', { id, addresses: networkAddressesSchema, status: taskStatusSchema, expectedVersion: version }),
  'network.created': shape<NetworkCreated>('network.created', { id, spec: networkSpecSchema }),
  'network.removed': shape<NetworkRemoved>('network.removed', { id, expectedVersion: version }),
  'secret.created': shape<SecretCreated>('secret.created', { id, spec: blobSpecSchema }),
  'secret.updated': shape<SecretUpdated>('secret.updated', { id, labels, expectedVersion: version }),
  'secret.removed': shape<SecretRemoved>('secret.removed', { id, expectedVersion: version }),
  'config.created': shape<ConfigCreated>('config.created', { id, spec: blobSpecSchema }),
  'config.removed': shape<ConfigRemoved>('config.removed', { id, expectedVersion: version }),
};

export interface EventSchemaOptions {
  /** Current version per type; defaults to EVENT_VERSIONS. */
  readonly versions?: { readonly [type: string]: number };
  /** Defaults to EVENT_UPGRADES. */
  readonly upgrades?: EventUpgrades;
}

const NO_OPTIONS: EventSchemaOptions = {};

// The schemas and current versions by type, as Maps for parseEvent: a decoded `type` is a fresh,
// non-internalized string, and using it as a property key costs a string-table lookup each time
// (several per event), where a Map lookup only hashes it once.
const SCHEMA_BY_TYPE = new Map<string, Check<JournalEvent>>(Object.entries(EVENT_SCHEMAS) as [string, Check<JournalEvent>][]);
const VERSION_BY_TYPE = new Map<string, number>(Object.entries(EVENT_VERSIONS));

/**
 * Validates one decoded value as an event, upgrading older versions first. Throws
 * EventTypeUnknownError, EventVersionUnsupportedError or EventInvalidError (naming the field,
 * prefixed with `field`); never returns a value it has not checked.
 */
export function parseEvent(value: unknown, field = 'event', options: EventSchemaOptions = NO_OPTIONS): JournalEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new EventInvalidError(field, 'must be an object');
  }
  let raw = value as RawEvent;
  const type = raw.type;
  if (typeof type !== 'string') throw new EventInvalidError(`${field}.type`, 'must be a string');
  const schema = SCHEMA_BY_TYPE.get(type);
  const versions = options.versions;
  const current = versions === undefined ? VERSION_BY_TYPE.get(type) : Object.hasOwn(versions, type) ? versions[type] : undefined;
  if (schema === undefined || current === undefined) throw new EventTypeUnknownError(type);
  const stored = raw.v;
  if (typeof stored !== 'number' || !Number.isSafeInteger(stored)) throw new EventInvalidError(`${field}.v`, 'must be an integer');
  if (stored > current) throw new EventVersionUnsupportedError(type, stored, current);
  if (stored < current) {
    const upgrades = options.upgrades ?? EVENT_UPGRADES;
    for (let from = stored; from < current; from++) {
      const upgrade = upgrades[type]?.[from];
      if (!upgrade) throw new EventVersionUnsupportedError(type, stored, current);
      raw = upgrade(raw);
      if (raw.v !== from + 1) throw new EventInvalidError(`${field}.v`, `upgrade of '${type}' from ${from} produced version ${String(raw.v)}`);
    }
  }
  return schema(raw, field);
}

/** The object kind an event is about. */
export function kindOfEvent(event: JournalEvent): ObjectKind {
  return event.type.slice(0, event.type.indexOf('.')) as ObjectKind;
}

// The cluster's objects, loosely after SwarmKit's api/objects.proto and specs.proto. Every object
// has an id, a spec (what the user asked for) and meta (the store's bookkeeping). Times are
// milliseconds on the proposer's Env clock, carried in the event, so that every manager applies
// the same value. Absent references are '' (as in SwarmKit), absent values null, never undefined:
// undefined does not survive every CBOR decoder.
import { arr, bool, byKind, bytes, id, int, labels, nullable, num, obj, oneOf, str, type Check } from './schema.js';

export type Labels = Readonly<Record<string, string>>;

export interface Annotations {
  readonly name: string;
  readonly labels: Labels;
}

/** The store's bookkeeping. `version` is the Raft index of the object's last change. */
export interface Meta {
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

// ---- cluster ----

export interface ClusterSpec {
  readonly annotations: Annotations;
  readonly orchestration: { readonly taskHistoryRetentionLimit: number };
  readonly dispatcher: { readonly heartbeatPeriodMs: number };
  readonly raft: { readonly snapshotIntervalEntries: number; readonly logEntriesForSlowFollowers: number; readonly electionTicks: number; readonly heartbeatTicks: number };
  readonly caConfig: { readonly nodeCertExpiryMs: number };
  readonly encryption: { readonly autoLockManagers: boolean };
}

export interface Cluster {
  readonly id: string;
  readonly meta: Meta;
  readonly spec: ClusterSpec;
}

// ---- node ----

export const NODE_ROLES = ['manager', 'worker'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];
export const NODE_AVAILABILITIES = ['active', 'pause', 'drain'] as const;
export type NodeAvailability = (typeof NODE_AVAILABILITIES)[number];
export const NODE_STATES = ['unknown', 'down', 'ready', 'disconnected'] as const;
export type NodeState = (typeof NODE_STATES)[number];

export interface NodeSpec {
  readonly annotations: Annotations;
  readonly role: NodeRole;
  readonly availability: NodeAvailability;
}

export interface Resources {
  readonly nanoCpus: number;
  readonly memoryBytes: number;
}

export interface NodeDescription {
  readonly hostname: string;
  readonly platform: { readonly os: string; readonly architecture: string };
  readonly resources: Resources;
  readonly engineLabels: Labels;
}

export interface NodeStatus {
  readonly state: NodeState;
  readonly message: string;
  readonly addr: string;
}

export interface Node {
  readonly id: string;
  readonly meta: Meta;
  readonly spec: NodeSpec;
  readonly description: NodeDescription;
  readonly status: NodeStatus;
}

// ---- service and task ----

export type ServiceMode =
  | { readonly kind: 'replicated'; readonly replicas: number }
  | { readonly kind: 'global' }
  | { readonly kind: 'replicatedJob'; readonly maxConcurrent: number; readonly totalCompletions: number }
  | { readonly kind: 'globalJob' };

/**
 * How the engine probes a container's health, in Docker's terms. `test` is Docker's form:
 * ['CMD', executable, ...args], ['CMD-SHELL', command] or ['NONE'] (health checks off).
 */
export interface HealthCheck {
  readonly test: readonly string[];
  /** Between probes; 0: the engine's default (Docker's 30 s), as each field's 0 below. */
  readonly intervalMs: number;
  /** A probe that takes longer fails; 0: 30 s. */
  readonly timeoutMs: number;
  /** Consecutive failures that make the container unhealthy; 0: 3. */
  readonly retries: number;
  /** Failures in this time after the start do not count; 0: none. */
  readonly startPeriodMs: number;
}

export const HEALTH_CHECK_KINDS = ['CMD', 'CMD-SHELL', 'NONE'] as const;

export const MOUNT_TYPES = ['bind', 'volume', 'tmpfs'] as const;
export type MountType = (typeof MOUNT_TYPES)[number];

export interface Mount {
  readonly type: MountType;
  /** A host path (bind), a volume name ('' for an anonymous volume) or '' (tmpfs). */
  readonly source: string;
  /** An absolute path in the container. */
  readonly target: string;
  readonly readOnly: boolean;
}

/** The engine's default stop grace period (Docker's 10 s). */
export const STOP_GRACE_PERIOD_MS_DEFAULT = 10_000;

export interface ContainerSpec {
  /** '' only for the process runtime, which runs no image (the control API holds to that). */
  readonly image: string;
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly labels: Labels;
  /** null: the image's own health check, if any. */
  readonly healthcheck: HealthCheck | null;
  readonly mounts: readonly Mount[];
  /** The working directory; '': the image's. */
  readonly dir: string;
  /** '': the image's user. */
  readonly user: string;
  /** '': the engine's default (SIGTERM). */
  readonly stopSignal: string;
  /** Between the stop signal and SIGKILL. */
  readonly stopGracePeriodMs: number;
  /** '': the engine's (the container id). */
  readonly hostname: string;
}

/**
 * A ContainerSpec's fields beyond its image and command line, at their defaults (the values the
 * upgrades to event schema v3 fill in, defaults.ts): for builders of specs, spread after `labels`.
 */
export const CONTAINER_SPEC_DEFAULTS: Pick<ContainerSpec, 'healthcheck' | 'mounts' | 'dir' | 'user' | 'stopSignal' | 'stopGracePeriodMs' | 'hostname'> = Object.freeze({
  healthcheck: null, mounts: Object.freeze([]), dir: '', user: '', stopSignal: '', stopGracePeriodMs: STOP_GRACE_PERIOD_MS_DEFAULT, hostname: '',
});

/**
 * What runs a task: a container of its image (the default), or (beyond SwarmKit) a process on
 * the agent's host running its command, with no image.
 */
export const TASK_RUNTIMES = ['container', 'process'] as const;
export type TaskRuntime = (typeof TASK_RUNTIMES)[number];

export interface RestartPolicy {
  readonly condition: 'none' | 'onFailure' | 'any';
  readonly delayMs: number;
  /** 0 means unlimited, as in SwarmKit. */
  readonly maxAttempts: number;
  readonly windowMs: number;
}

/** Spread tasks evenly over the values of a node attribute (`node.labels.zone`); hierarchical in list order. */
export interface PlacementPreference {
  readonly spread: string;
}

export interface Platform {
  readonly os: string;
  readonly architecture: string;
}

export interface Placement {
  readonly constraints: readonly string[];
  /** 0 means no limit. */
  readonly maxReplicasPerNode: number;
  readonly preferences: readonly PlacementPreference[];
  /** Platforms the image runs on; empty: any. */
  readonly platforms: readonly Platform[];
}

export interface FileReference {
  readonly id: string;
  readonly name: string;
  readonly target: string;
}

export interface TaskSpec {
  readonly container: ContainerSpec;
  readonly resources: { readonly limits: Resources; readonly reservations: Resources };
  readonly restartPolicy: RestartPolicy;
  readonly placement: Placement;
  /** Network ids. */
  readonly networks: readonly string[];
  readonly secrets: readonly FileReference[];
  readonly configs: readonly FileReference[];
  /** Raised to redeploy every task with an otherwise unchanged spec (`service update --force`). */
  readonly forceUpdate: number;
  readonly runtime: TaskRuntime;
}

export interface UpdateConfig {
  readonly parallelism: number;
  readonly delayMs: number;
  readonly failureAction: 'pause' | 'continue' | 'rollback';
  readonly monitorMs: number;
  readonly maxFailureRatio: number;
  readonly order: 'stopFirst' | 'startFirst';
}

export interface PortConfig {
  readonly name: string;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly targetPort: number;
  /** 0: allocate one from the ingress range. */
  readonly publishedPort: number;
  readonly publishMode: 'ingress' | 'host';
}

export interface ServiceSpec {
  readonly annotations: Annotations;
  readonly task: TaskSpec;
  readonly mode: ServiceMode;
  readonly update: UpdateConfig;
  readonly rollback: UpdateConfig;
  readonly endpoint: { readonly ports: readonly PortConfig[] };
  /**
   * Beyond SwarmKit: move replicas onto nodes that join (or become eligible) later, a few at a
   * time within the update policy's parallelism and delay, when that evens out the spread.
   */
  readonly rebalance: boolean;
  /**
   * Beyond SwarmKit (Compose's depends_on): services whose condition must be met before this
   * service gets its first task. Start order only: once the service has had a task, it is never
   * held again. A dependency is named, and need not exist yet (it then holds the service).
   */
  readonly dependsOn: readonly ServiceDependency[];
}

/**
 * What a dependency must reach, in Compose's terms: `started` (every desired task of it running),
 * `healthy` (the same, of a service with a health check: a task is running only once healthy) or
 * `completedSuccessfully` (a job whose every completion exited 0).
 */
export const DEPENDENCY_CONDITIONS = ['started', 'healthy', 'completedSuccessfully'] as const;
export type DependencyCondition = (typeof DEPENDENCY_CONDITIONS)[number];

export interface ServiceDependency {
  /** The dependency's service name (annotations.name). */
  readonly service: string;
  readonly condition: DependencyCondition;
}

/** A limit on a service's dependencies (a stack file names a few). */
export const SERVICE_DEPENDENCIES_MAX = 100;

export const UPDATE_STATES = ['updating', 'paused', 'completed', 'rollbackStarted', 'rollbackPaused', 'rollbackCompleted'] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

/** Where a rolling update (or rollback) stands; in the journal, so that a new leader resumes it. */
export interface UpdateStatus {
  readonly state: UpdateState;
  /** Env clock ms. */
  readonly startedAt: number;
  /** 0 while in progress. */
  readonly completedAt: number;
  readonly message: string;
}

/** A service's virtual IP on one network (CIDR notation, e.g. 10.0.1.2/24). */
export interface VirtualIp {
  readonly networkId: string;
  readonly addr: string;
}

/** What the allocator gave a service: its ports with published ports filled in, and its virtual IPs. */
export interface ServiceEndpoint {
  readonly ports: readonly PortConfig[];
  readonly virtualIps: readonly VirtualIp[];
}

export interface Service {
  readonly id: string;
  readonly meta: Meta;
  readonly spec: ServiceSpec;
  /** The spec before the last update, for rollback; null until the first update. */
  readonly previousSpec: ServiceSpec | null;
  /** The Raft index of the last change of `spec` (creation, update, rollback); tasks copy it as `serviceVersion`. */
  readonly specVersion: number;
  /** null until the first update. */
  readonly updateStatus: UpdateStatus | null;
  /** null until the allocator has allocated the service. */
  readonly endpoint: ServiceEndpoint | null;
}

/** Observed task states in order (DESIGN.md section 6); the observed state never goes backwards. */
export const TASK_STATES = [
  'new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running',
  'complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned',
] as const;
export type TaskState = (typeof TASK_STATES)[number];
/** The rank of each state: a status change may keep or raise it, never lower it. */
export const TASK_STATE_ORDER: Readonly<Record<TaskState, number>> = Object.fromEntries(TASK_STATES.map((state, i) => [state, i])) as Record<TaskState, number>;

export const DESIRED_STATES = ['running', 'ready', 'shutdown', 'complete', 'remove'] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

export interface TaskStatus {
  readonly state: TaskState;
  readonly message: string;
  /** Env clock of whoever observed the state (agent or manager). */
  readonly timestamp: number;
  /** Error text for failed or rejected, else ''. */
  readonly err: string;
}

export interface Task {
  readonly id: string;
  readonly meta: Meta;
  readonly serviceId: string;
  /** Replicated services: 1..replicas. Global services: 0 (the node is the slot). */
  readonly slot: number;
  /** '' until the scheduler assigns it; the binding never changes afterwards. */
  readonly nodeId: string;
  readonly spec: TaskSpec;
  /** The service's meta.version the spec was copied from. */
  readonly serviceVersion: number;
  readonly desiredState: DesiredState;
  readonly status: TaskStatus;
  /**
   * Env clock ms of the restarts that led to this task in its slot (its own creation last when it
   * is a restart), oldest first, at most the restart policy's maxAttempts of them (and none
   * older than its window): the restart policy's history, in the journal so a new leader keeps it.
   */
  readonly restarts: readonly number[];
  /** The task's address on each of its networks (CIDR notation), given by the allocator. */
  readonly addresses: readonly NetworkAddress[];
}

export interface NetworkAddress {
  readonly networkId: string;
  readonly addr: string;
}

/** The most restart times a task carries (a bound on the journal's data, far above any sane maxAttempts). */
export const RESTARTS_MAX = 10_000;

// ---- network, secret, config ----

export interface NetworkSpec {
  readonly annotations: Annotations;
  readonly driver: string;
  readonly ipam: { readonly driver: string; readonly subnets: readonly { readonly subnet: string; readonly gateway: string }[] };
  readonly internal: boolean;
  readonly attachable: boolean;
  readonly ingress: boolean;
}

export interface Network {
  readonly id: string;
  readonly meta: Meta;
  readonly spec: NetworkSpec;
}

/** Secrets and configs share a shape; only labels may change after creation (SwarmKit's rule). */
export interface BlobSpec {
  readonly annotations: Annotations;
  readonly data: Uint8Array;
}

export interface Secret {
  readonly id: string;
  readonly meta: Meta;
  readonly spec: BlobSpec;
}

export interface Config {
  readonly id: string;
  readonly meta: Meta;
  readonly spec: BlobSpec;
}

export const OBJECT_KINDS = ['cluster', 'node', 'service', 'task', 'network', 'secret', 'config'] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

export interface ObjectOfKind {
  cluster: Cluster;
  node: Node;
  service: Service;
  task: Task;
  network: Network;
  secret: Secret;
  config: Config;
}

// ---- schemas ----

const count = int(0);
export const annotationsSchema: Check<Annotations> = obj<Annotations>({ name: id, labels });
export const metaSchema: Check<Meta> = obj<Meta>({ version: int(1), createdAt: count, updatedAt: count });

export const clusterSpecSchema: Check<ClusterSpec> = obj<ClusterSpec>({
  annotations: annotationsSchema,
  orchestration: obj({ taskHistoryRetentionLimit: int(-1) }),
  dispatcher: obj({ heartbeatPeriodMs: int(1) }),
  raft: obj({ snapshotIntervalEntries: int(1), logEntriesForSlowFollowers: count, electionTicks: int(1), heartbeatTicks: int(1) }),
  caConfig: obj({ nodeCertExpiryMs: int(1) }),
  encryption: obj({ autoLockManagers: bool }),
});

export const nodeSpecSchema: Check<NodeSpec> = obj<NodeSpec>({ annotations: annotationsSchema, role: oneOf(NODE_ROLES), availability: oneOf(NODE_AVAILABILITIES) });
const resourcesSchema: Check<Resources> = obj<Resources>({ nanoCpus: count, memoryBytes: count });
export const nodeDescriptionSchema: Check<NodeDescription> = obj<NodeDescription>({
  hostname: str,
  platform: obj({ os: str, architecture: str }),
  resources: resourcesSchema,
  engineLabels: labels,
});
export const nodeStatusSchema: Check<NodeStatus> = obj<NodeStatus>({ state: oneOf(NODE_STATES), message: str, addr: str });

const serviceModeSchema: Check<ServiceMode> = byKind<ServiceMode>({
  replicated: obj({ kind: oneOf(['replicated']), replicas: count }),
  global: obj({ kind: oneOf(['global']) }),
  replicatedJob: obj({ kind: oneOf(['replicatedJob']), maxConcurrent: count, totalCompletions: count }),
  globalJob: obj({ kind: oneOf(['globalJob']) }),
});
const strings = arr(str, 10_000);
const fileReferenceSchema: Check<FileReference> = obj<FileReference>({ id, name: id, target: id });
export const healthCheckSchema: Check<HealthCheck> = obj<HealthCheck>({ test: strings, intervalMs: count, timeoutMs: count, retries: count, startPeriodMs: count });
export const mountSchema: Check<Mount> = obj<Mount>({ type: oneOf(MOUNT_TYPES), source: str, target: id, readOnly: bool });
export const containerSpecSchema: Check<ContainerSpec> = obj<ContainerSpec>({
  image: str, command: strings, args: strings, env: strings, labels,
  healthcheck: nullable(healthCheckSchema), mounts: arr(mountSchema, 1_000), dir: str, user: str, stopSignal: str, stopGracePeriodMs: count, hostname: str,
});
export const taskSpecSchema: Check<TaskSpec> = obj<TaskSpec>({
  container: containerSpecSchema,
  resources: obj({ limits: resourcesSchema, reservations: resourcesSchema }),
  restartPolicy: obj<RestartPolicy>({ condition: oneOf(['none', 'onFailure', 'any']), delayMs: count, maxAttempts: count, windowMs: count }),
  placement: obj<Placement>({
    constraints: strings,
    maxReplicasPerNode: count,
    preferences: arr(obj<PlacementPreference>({ spread: id }), 100),
    platforms: arr(obj<Platform>({ os: str, architecture: str }), 100),
  }),
  networks: arr(id, 1_000),
  secrets: arr(fileReferenceSchema, 1_000),
  configs: arr(fileReferenceSchema, 1_000),
  forceUpdate: count,
  runtime: oneOf(TASK_RUNTIMES),
});
const updateConfigSchema: Check<UpdateConfig> = obj<UpdateConfig>({
  parallelism: count,
  delayMs: count,
  failureAction: oneOf(['pause', 'continue', 'rollback']),
  monitorMs: count,
  maxFailureRatio: num,
  order: oneOf(['stopFirst', 'startFirst']),
});
const portSchema: Check<PortConfig> = obj<PortConfig>({
  name: str,
  protocol: oneOf(['tcp', 'udp', 'sctp']),
  targetPort: int(1),
  publishedPort: count,
  publishMode: oneOf(['ingress', 'host']),
});
export const serviceSpecSchema: Check<ServiceSpec> = obj<ServiceSpec>({
  annotations: annotationsSchema,
  task: taskSpecSchema,
  mode: serviceModeSchema,
  update: updateConfigSchema,
  rollback: updateConfigSchema,
  endpoint: obj({ ports: arr(portSchema, 1_000) }),
  rebalance: bool,
  dependsOn: arr(obj<ServiceDependency>({ service: id, condition: oneOf(DEPENDENCY_CONDITIONS) }), SERVICE_DEPENDENCIES_MAX),
});
export const updateStatusSchema: Check<UpdateStatus> = obj<UpdateStatus>({ state: oneOf(UPDATE_STATES), startedAt: count, completedAt: count, message: str });
/** A network and an address on it: a service's virtual IP, a task's address. */
const networkAddressSchema: Check<NetworkAddress> = obj<NetworkAddress>({ networkId: id, addr: str });
export const serviceEndpointSchema: Check<ServiceEndpoint> = obj<ServiceEndpoint>({ ports: arr(portSchema, 1_000), virtualIps: arr(networkAddressSchema, 1_000) });
export const networkAddressesSchema: Check<readonly NetworkAddress[]> = arr(networkAddressSchema, 1_000);
/** A task's restart history: the restart policy keeps at most maxAttempts of them; this bounds a bad one. */
export const restartsSchema: Check<readonly number[]> = arr(count, RESTARTS_MAX);
export const taskStatusSchema: Check<TaskStatus> = obj<TaskStatus>({ state: oneOf(TASK_STATES), message: str, timestamp: count, err: str });
export const networkSpecSchema: Check<NetworkSpec> = obj<NetworkSpec>({
  annotations: annotationsSchema,
  driver: str,
  ipam: obj({ driver: str, subnets: arr(obj({ subnet: str, gateway: str }), 1_000) }),
  internal: bool,
  attachable: bool,
  ingress: bool,
});
export const blobSpecSchema: Check<BlobSpec> = obj<BlobSpec>({ annotations: annotationsSchema, data: bytes });

/** Schemas of whole objects, as a store snapshot holds them. */
export const objectSchemas: { readonly [K in ObjectKind]: Check<ObjectOfKind[K]> } = {
  cluster: obj<Cluster>({ id, meta: metaSchema, spec: clusterSpecSchema }),
  node: obj<Node>({ id, meta: metaSchema, spec: nodeSpecSchema, description: nodeDescriptionSchema, status: nodeStatusSchema }),
  service: obj<Service>({
    id, meta: metaSchema, spec: serviceSpecSchema, previousSpec: nullable(serviceSpecSchema),
    specVersion: int(1), updateStatus: nullable(updateStatusSchema), endpoint: nullable(serviceEndpointSchema),
  }),
  task: obj<Task>({
    id, meta: metaSchema, serviceId: id, slot: count, nodeId: str, spec: taskSpecSchema,
    serviceVersion: count, desiredState: oneOf(DESIRED_STATES), status: taskStatusSchema,
    restarts: restartsSchema, addresses: networkAddressesSchema,
  }),
  network: obj<Network>({ id, meta: metaSchema, spec: networkSpecSchema }),
  secret: obj<Secret>({ id, meta: metaSchema, spec: blobSpecSchema }),
  config: obj<Config>({ id, meta: metaSchema, spec: blobSpecSchema }),
};

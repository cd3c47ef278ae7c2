// The Docker Engine API's shapes of services and tasks (api/types/swarm in moby; see
// shared/reference/docker-engine-api.md) and their conversion to and from ours (journal/events
// objects). Requests arrive as Docker's ServiceSpec JSON: `serviceSpecFromDocker` reads one,
// refusing unknown fields by their path and filling the defaults of what it leaves out (defaults.ts);
// validate.ts then checks the values. Replies go out as Docker's Service and Task objects.
//
// Docker's conventions: PascalCase fields, durations in integer nanoseconds (ours are
// milliseconds), times as RFC 3339 strings (ours are Env clock milliseconds), enums spelled
// `on-failure`, `stop-first`, `rollback_started` (ours are camelCase). Our extensions are
// `Rebalance` (bool) in the spec, `TaskTemplate.Runtime: 'process'` (the task's command runs
// as a process on the agent's host, with no image), `DependsOn: [{ Service, Condition }]` in the
// spec (start order, Compose's depends_on; conditions in Compose's spelling, `service_started`,
// `service_healthy`, `service_completed_successfully`; absent when empty) and
// `ServiceStatus.Held` (what a service held by its dependencies waits for; absent when free).
//
// Docker fields we do not model (Groups, Privileges, LogDriver, ...) are accepted only
// with their empty value, as the docker CLI sends them (`"Init":false`, `"DNSConfig":{}`): a value
// we would silently drop is refused instead, naming the field.
import {
  MOUNT_TYPES, STOP_GRACE_PERIOD_MS_DEFAULT, TASK_RUNTIMES,
  type ContainerSpec, type FileReference, type Placement, type PortConfig, type Resources, type RestartPolicy, type Service, type ServiceMode,
  type ServiceSpec, type StoreReader, type Task, type TaskRuntime, type TaskSpec, type UpdateConfig, type UpdateState,
  type DependencyCondition, type HealthCheck, type Mount, type ServiceDependency,
} from '../../journal/index.js';
import { DEFAULT_RESTART_POLICY, DEFAULT_ROLLBACK_CONFIG, DEFAULT_UPDATE_CONFIG } from './defaults.js';
import { COMPOSE_CONDITIONS, dependencyHold } from '../orchestrator/dependencies.js';
import { isCurrent } from '../orchestrator/reconcile.js';
import { SpecInvalidError } from './errors.js';

// ---- Docker's shapes (what we send) -------------------------------------------------------------

export interface DockerFileReference {
  readonly File: { readonly Name: string; readonly UID: string; readonly GID: string; readonly Mode: number };
}
export type DockerSecretReference = DockerFileReference & { readonly SecretID: string; readonly SecretName: string };
export type DockerConfigReference = DockerFileReference & { readonly ConfigID: string; readonly ConfigName: string };

export interface DockerResources {
  readonly NanoCPUs: number;
  readonly MemoryBytes: number;
}

/** Docker's HealthConfig: durations in nanoseconds, 0 for the engine's default. */
export interface DockerHealthcheck {
  readonly Test: string[];
  readonly Interval: number;
  readonly Timeout: number;
  readonly Retries: number;
  readonly StartPeriod: number;
}

export interface DockerMount {
  readonly Type: 'bind' | 'volume' | 'tmpfs';
  readonly Source: string;
  readonly Target: string;
  readonly ReadOnly: boolean;
}

export interface DockerTaskSpec {
  readonly ContainerSpec: {
    readonly Image: string;
    readonly Labels: Record<string, string>;
    readonly Command: string[];
    readonly Args: string[];
    readonly Env: string[];
    readonly Dir: string;
    readonly User: string;
    readonly Hostname: string;
    readonly Secrets: DockerSecretReference[];
    readonly Configs: DockerConfigReference[];
    readonly Mounts: DockerMount[];
    readonly StopSignal: string;
    /** Nanoseconds. */
    readonly StopGracePeriod: number;
    /** Absent: the image's health check. */
    readonly Healthcheck?: DockerHealthcheck;
  };
  readonly Resources: { readonly Limits: DockerResources; readonly Reservations: DockerResources };
  readonly RestartPolicy: { readonly Condition: 'none' | 'on-failure' | 'any'; readonly Delay: number; readonly MaxAttempts: number; readonly Window: number };
  readonly Placement: {
    readonly Constraints: string[];
    readonly Preferences: Array<{ readonly Spread: { readonly SpreadDescriptor: string } }>;
    readonly MaxReplicas: number;
    readonly Platforms: Array<{ readonly Architecture: string; readonly OS: string }>;
  };
  readonly Networks: Array<{ readonly Target: string }>;
  readonly ForceUpdate: number;
  readonly Runtime: TaskRuntime;
}

export type DockerMode =
  | { readonly Replicated: { readonly Replicas: number } }
  | { readonly Global: Record<string, never> }
  | { readonly ReplicatedJob: { readonly MaxConcurrent: number; readonly TotalCompletions: number } }
  | { readonly GlobalJob: Record<string, never> };

export interface DockerUpdateConfig {
  readonly Parallelism: number;
  readonly Delay: number;
  readonly FailureAction: 'pause' | 'continue' | 'rollback';
  readonly Monitor: number;
  readonly MaxFailureRatio: number;
  readonly Order: 'stop-first' | 'start-first';
}

export interface DockerPortConfig {
  readonly Name: string;
  readonly Protocol: 'tcp' | 'udp' | 'sctp';
  readonly TargetPort: number;
  readonly PublishedPort: number;
  readonly PublishMode: 'ingress' | 'host';
}

export interface DockerServiceSpec {
  readonly Name: string;
  readonly Labels: Record<string, string>;
  readonly TaskTemplate: DockerTaskSpec;
  readonly Mode: DockerMode;
  /** Absent for jobs (SwarmKit refuses an update config on a job). */
  readonly UpdateConfig?: DockerUpdateConfig;
  readonly RollbackConfig?: DockerUpdateConfig;
  readonly EndpointSpec: { readonly Mode: 'vip'; readonly Ports: DockerPortConfig[] };
  /** Our extension (ServiceSpec.rebalance). */
  readonly Rebalance: boolean;
  /** Our extension (ServiceSpec.dependsOn): absent when the service has no dependencies. */
  readonly DependsOn?: DockerDependency[];
}

export type DockerDependencyCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

/** A dependency as Compose's depends_on long syntax names it. */
export interface DockerDependency {
  readonly Service: string;
  readonly Condition: DockerDependencyCondition;
}

export type DockerUpdateState = 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';

export interface DockerService {
  readonly ID: string;
  readonly Version: { readonly Index: number };
  readonly CreatedAt: string;
  readonly UpdatedAt: string;
  readonly Spec: DockerServiceSpec;
  readonly PreviousSpec?: DockerServiceSpec;
  readonly Endpoint: {
    readonly Spec: { readonly Mode: 'vip'; readonly Ports: DockerPortConfig[] };
    readonly Ports?: DockerPortConfig[];
    readonly VirtualIPs?: Array<{ readonly NetworkID: string; readonly Addr: string }>;
  };
  readonly UpdateStatus?: { readonly State: DockerUpdateState; readonly StartedAt?: string; readonly CompletedAt?: string; readonly Message: string };
  readonly ServiceStatus: {
    readonly RunningTasks: number; readonly DesiredTasks: number; readonly CompletedTasks: number;
    /** Ours: what a service held by its dependencies waits for (`waiting for db (service_healthy): 1/2 running`); absent when free. */
    readonly Held?: string;
  };
  readonly JobStatus?: { readonly JobIteration: { readonly Index: number }; readonly LastExecution: string };
}

export interface DockerTask {
  readonly ID: string;
  readonly Version: { readonly Index: number };
  readonly CreatedAt: string;
  readonly UpdatedAt: string;
  readonly Labels: Record<string, string>;
  readonly Spec: DockerTaskSpec;
  readonly ServiceID: string;
  readonly Slot: number;
  readonly NodeID: string;
  readonly Status: { readonly Timestamp: string; readonly State: string; readonly Message: string; readonly Err?: string; readonly PortStatus: Record<string, never> };
  readonly DesiredState: string;
  readonly NetworksAttachments: Array<{ readonly Network: { readonly ID: string }; readonly Addresses: string[] }>;
  readonly JobIteration?: { readonly Index: number };
  /** Ours: the service's specVersion this task's spec was copied from. */
  readonly ServiceVersion: number;
}

// ---- small conversions ----------------------------------------------------------------------------

/** RFC 3339 (UTC, milliseconds) from Env clock milliseconds. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

const NS_PER_MS = 1e6;
/** Default file mode of a secret or config in a container: 0444, as the docker CLI sends it. */
const FILE_MODE = 0o444;

const UPDATE_STATES: { readonly [S in UpdateState]: DockerUpdateState } = {
  updating: 'updating',
  paused: 'paused',
  completed: 'completed',
  rollbackStarted: 'rollback_started',
  rollbackPaused: 'rollback_paused',
  rollbackCompleted: 'rollback_completed',
};

export function updateStateToDocker(state: UpdateState): DockerUpdateState {
  return UPDATE_STATES[state];
}

// ---- reading a request's JSON ----------------------------------------------------------------------

type Json = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** null, false, 0, '', [], or an object of such values: what Go's zero values look like on the wire. */
function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.values(value as Json).every(isEmpty);
  return false;
}

/**
 * An object with `known` fields; fields of Docker's that we do not model (`unmodelled`) pass only
 * when empty; any other field is refused by its path. Absent (undefined or null) reads as {}.
 */
function object(value: unknown, path: string, known: readonly string[], unmodelled: readonly string[] = []): Json {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new SpecInvalidError(path === '' ? 'spec' : path, `must be an object, got ${describe(value)}`);
  const record = value as Json;
  for (const key of Object.keys(record)) {
    if (known.includes(key)) continue;
    if (unmodelled.includes(key)) {
      if (!isEmpty(record[key])) throw new SpecInvalidError(join(path, key), 'is not supported here (only an empty value is accepted)');
      continue;
    }
    throw new SpecInvalidError(join(path, key), 'is not a known field');
  }
  return record;
}

function present(o: Json, key: string): boolean {
  return o[key] !== undefined && o[key] !== null;
}

function string(o: Json, key: string, path: string, fallback: string): string {
  if (!present(o, key)) return fallback;
  const value = o[key];
  if (typeof value !== 'string') throw new SpecInvalidError(join(path, key), `must be a string, got ${describe(value)}`);
  return value;
}

function number(o: Json, key: string, path: string, fallback: number): number {
  if (!present(o, key)) return fallback;
  const value = o[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new SpecInvalidError(join(path, key), `must be a number, got ${describe(value)}`);
  return value;
}

/** Nanoseconds on the wire, milliseconds here (validate.ts refuses a fraction of a millisecond). */
function duration(o: Json, key: string, path: string, fallbackMs: number): number {
  if (!present(o, key)) return fallbackMs;
  return number(o, key, path, 0) / NS_PER_MS;
}

function boolean(o: Json, key: string, path: string): boolean {
  if (!present(o, key)) return false;
  const value = o[key];
  if (typeof value !== 'boolean') throw new SpecInvalidError(join(path, key), `must be true or false, got ${describe(value)}`);
  return value;
}

function list(o: Json, key: string, path: string): unknown[] {
  if (!present(o, key)) return [];
  const value = o[key];
  if (!Array.isArray(value)) throw new SpecInvalidError(join(path, key), `must be an array, got ${describe(value)}`);
  return value;
}

function strings(o: Json, key: string, path: string): string[] {
  return list(o, key, path).map((item, i) => {
    if (typeof item !== 'string') throw new SpecInvalidError(`${join(path, key)}[${i}]`, `must be a string, got ${describe(item)}`);
    return item;
  });
}

/** Labels with their keys sorted (the journal's order). */
function labels(o: Json, key: string, path: string): Record<string, string> {
  const record = object(o[key], join(path, key), Object.keys((o[key] ?? {}) as Json));
  const out: Record<string, string> = {};
  for (const name of Object.keys(record).sort()) {
    const value = record[name];
    if (typeof value !== 'string') throw new SpecInvalidError(`${join(path, key)}.${name}`, `must be a string, got ${describe(value)}`);
    out[name] = value;
  }
  return out;
}

function oneOf<const T extends string>(o: Json, key: string, path: string, values: readonly T[], fallback: T): T {
  const value = string(o, key, path, fallback);
  if (!(values as readonly string[]).includes(value)) throw new SpecInvalidError(join(path, key), `must be ${values.join(', ')}; got '${value}'`);
  return value as T;
}

// ---- ServiceSpec in ---------------------------------------------------------------------------------

function fileReference(kind: 'Secret' | 'Config', value: unknown, path: string): FileReference {
  const o = object(value, path, ['File', `${kind}ID`, `${kind}Name`], ['Runtime']);
  const file = object(o.File, join(path, 'File'), ['Name', 'UID', 'GID', 'Mode']);
  // We write every file as root-owned, mode 0444 (SwarmKit's default): other owners or modes are refused, not dropped.
  for (const owner of ['UID', 'GID']) {
    const id = string(file, owner, join(path, 'File'), '0');
    if (id !== '0' && id !== '') throw new SpecInvalidError(`${path}.File.${owner}`, `only 0 is supported, got '${id}'`);
  }
  const mode = number(file, 'Mode', join(path, 'File'), FILE_MODE);
  if (mode !== FILE_MODE && mode !== 0) throw new SpecInvalidError(`${path}.File.Mode`, `only 0444 is supported, got 0${mode.toString(8)}`);
  return { id: string(o, `${kind}ID`, path, ''), name: string(o, `${kind}Name`, path, ''), target: string(file, 'Name', join(path, 'File'), '') };
}

function resources(value: unknown, path: string, unmodelled: readonly string[]): Resources {
  const o = object(value, path, ['NanoCPUs', 'MemoryBytes'], unmodelled);
  return { nanoCpus: number(o, 'NanoCPUs', path, 0), memoryBytes: number(o, 'MemoryBytes', path, 0) };
}

function restartPolicy(value: unknown, path: string): RestartPolicy {
  const o = object(value, path, ['Condition', 'Delay', 'MaxAttempts', 'Window']);
  const condition = oneOf(o, 'Condition', path, ['none', 'on-failure', 'any'], 'any');
  return {
    condition: condition === 'on-failure' ? 'onFailure' : condition,
    delayMs: duration(o, 'Delay', path, DEFAULT_RESTART_POLICY.delayMs),
    maxAttempts: number(o, 'MaxAttempts', path, DEFAULT_RESTART_POLICY.maxAttempts),
    windowMs: duration(o, 'Window', path, DEFAULT_RESTART_POLICY.windowMs),
  };
}

function placement(value: unknown, path: string): Placement {
  const o = object(value, path, ['Constraints', 'Preferences', 'MaxReplicas', 'Platforms']);
  return {
    constraints: strings(o, 'Constraints', path),
    maxReplicasPerNode: number(o, 'MaxReplicas', path, 0),
    preferences: list(o, 'Preferences', path).map((item, i) => {
      const field = `${path}.Preferences[${i}]`;
      const preference = object(item, field, ['Spread']);
      if (!present(preference, 'Spread')) throw new SpecInvalidError(`${field}.Spread`, 'is required (spread is the only placement preference)');
      const spread = object(preference.Spread, `${field}.Spread`, ['SpreadDescriptor']);
      return { spread: string(spread, 'SpreadDescriptor', `${field}.Spread`, '') };
    }),
    platforms: list(o, 'Platforms', path).map((item, i) => {
      const field = `${path}.Platforms[${i}]`;
      const platform = object(item, field, ['Architecture', 'OS']);
      return { os: string(platform, 'OS', field, ''), architecture: string(platform, 'Architecture', field, '') };
    }),
  };
}

/** Docker's HealthConfig; absent, or all of it empty (Go's zero value), is no health check of our own. */
function healthcheck(value: unknown, path: string): HealthCheck | null {
  const o = object(value, path, ['Test', 'Interval', 'Timeout', 'Retries', 'StartPeriod'], ['StartInterval']);
  if (isEmpty(o)) return null;
  return {
    test: strings(o, 'Test', path),
    intervalMs: duration(o, 'Interval', path, 0),
    timeoutMs: duration(o, 'Timeout', path, 0),
    retries: number(o, 'Retries', path, 0),
    startPeriodMs: duration(o, 'StartPeriod', path, 0),
  };
}

function mount(value: unknown, path: string): Mount {
  const o = object(value, path, ['Type', 'Source', 'Target', 'ReadOnly'], ['Consistency', 'BindOptions', 'VolumeOptions', 'TmpfsOptions']);
  if (!present(o, 'Type')) throw new SpecInvalidError(join(path, 'Type'), `is required (${MOUNT_TYPES.join(', ')})`);
  return {
    type: oneOf(o, 'Type', path, MOUNT_TYPES, 'volume'),
    source: string(o, 'Source', path, ''),
    target: string(o, 'Target', path, ''),
    readOnly: boolean(o, 'ReadOnly', path),
  };
}

function taskSpec(value: unknown, path: string): TaskSpec {
  const o = object(value, path, ['ContainerSpec', 'Resources', 'RestartPolicy', 'Placement', 'Networks', 'ForceUpdate', 'Runtime'], ['PluginSpec', 'NetworkAttachmentSpec', 'LogDriver']);
  // Docker's runtimes are container, plugin and attachment; process is ours. '' is Docker's default.
  const runtimeName = string(o, 'Runtime', path, 'container');
  const runtime = TASK_RUNTIMES.find((known) => known === (runtimeName === '' ? 'container' : runtimeName));
  if (runtime === undefined) throw new SpecInvalidError(join(path, 'Runtime'), `must be container or process (a host process, our extension); got '${runtimeName}'`);
  const cPath = join(path, 'ContainerSpec');
  if (!present(o, 'ContainerSpec')) throw new SpecInvalidError(cPath, 'is required');
  const c = object(o.ContainerSpec, cPath, [
    'Image', 'Labels', 'Command', 'Args', 'Env', 'Secrets', 'Configs', 'Isolation', 'Hostname', 'Dir', 'User', 'StopSignal', 'Mounts', 'StopGracePeriod', 'Healthcheck',
  ], [
    'Groups', 'Privileges', 'Init', 'TTY', 'OpenStdin', 'ReadOnly', 'Hosts', 'DNSConfig', 'Sysctls', 'CapabilityAdd', 'CapabilityDrop', 'Ulimits', 'OomScoreAdj',
  ]);
  const isolation = string(c, 'Isolation', cPath, 'default');
  if (isolation !== 'default' && isolation !== '') throw new SpecInvalidError(join(cPath, 'Isolation'), `only default is supported, got '${isolation}'`);
  const container: ContainerSpec = {
    image: string(c, 'Image', cPath, ''),
    command: strings(c, 'Command', cPath),
    args: strings(c, 'Args', cPath),
    env: strings(c, 'Env', cPath),
    labels: labels(c, 'Labels', cPath),
    healthcheck: healthcheck(c.Healthcheck, join(cPath, 'Healthcheck')),
    mounts: list(c, 'Mounts', cPath).map((item, i) => mount(item, `${cPath}.Mounts[${i}]`)),
    dir: string(c, 'Dir', cPath, ''),
    user: string(c, 'User', cPath, ''),
    stopSignal: string(c, 'StopSignal', cPath, ''),
    stopGracePeriodMs: duration(c, 'StopGracePeriod', cPath, STOP_GRACE_PERIOD_MS_DEFAULT),
    hostname: string(c, 'Hostname', cPath, ''),
  };
  const rPath = join(path, 'Resources');
  const r = object(o.Resources, rPath, ['Limits', 'Reservations'], ['SwapBytes', 'MemorySwappiness']);
  return {
    container,
    resources: { limits: resources(r.Limits, join(rPath, 'Limits'), ['Pids']), reservations: resources(r.Reservations, join(rPath, 'Reservations'), ['GenericResources']) },
    restartPolicy: restartPolicy(o.RestartPolicy, join(path, 'RestartPolicy')),
    placement: placement(o.Placement, join(path, 'Placement')),
    networks: list(o, 'Networks', path).map((item, i) => {
      const field = `${path}.Networks[${i}]`;
      const network = object(item, field, ['Target'], ['Aliases', 'DriverOpts']);
      return string(network, 'Target', field, '');
    }),
    secrets: list(c, 'Secrets', cPath).map((item, i) => fileReference('Secret', item, `${cPath}.Secrets[${i}]`)),
    configs: list(c, 'Configs', cPath).map((item, i) => fileReference('Config', item, `${cPath}.Configs[${i}]`)),
    forceUpdate: number(o, 'ForceUpdate', path, 0),
    runtime,
  };
}

function mode(value: unknown): ServiceMode {
  if (value === undefined || value === null) return { kind: 'replicated', replicas: 1 };
  const o = object(value, 'Mode', ['Replicated', 'Global', 'ReplicatedJob', 'GlobalJob']);
  const given = Object.keys(o).filter((key) => present(o, key));
  if (given.length === 0) return { kind: 'replicated', replicas: 1 };
  if (given.length > 1) throw new SpecInvalidError('Mode', `holds ${given.join(' and ')}; a service has one mode`);
  switch (given[0]) {
    case 'Replicated': {
      const r = object(o.Replicated, 'Mode.Replicated', ['Replicas']);
      return { kind: 'replicated', replicas: number(r, 'Replicas', 'Mode.Replicated', 1) };
    }
    case 'ReplicatedJob': {
      const j = object(o.ReplicatedJob, 'Mode.ReplicatedJob', ['MaxConcurrent', 'TotalCompletions']);
      const maxConcurrent = number(j, 'MaxConcurrent', 'Mode.ReplicatedJob', 1);
      return { kind: 'replicatedJob', maxConcurrent, totalCompletions: number(j, 'TotalCompletions', 'Mode.ReplicatedJob', maxConcurrent) };
    }
    case 'Global':
      object(o.Global, 'Mode.Global', []);
      return { kind: 'global' };
    default:
      object(o.GlobalJob, 'Mode.GlobalJob', []);
      return { kind: 'globalJob' };
  }
}

function updateConfig(value: unknown, path: 'UpdateConfig' | 'RollbackConfig', defaults: UpdateConfig): UpdateConfig {
  const o = object(value, path, ['Parallelism', 'Delay', 'FailureAction', 'Monitor', 'MaxFailureRatio', 'Order']);
  const order = oneOf(o, 'Order', path, ['stop-first', 'start-first'], defaults.order === 'stopFirst' ? 'stop-first' : 'start-first');
  return {
    parallelism: number(o, 'Parallelism', path, defaults.parallelism),
    delayMs: duration(o, 'Delay', path, defaults.delayMs),
    failureAction: string(o, 'FailureAction', path, defaults.failureAction) as UpdateConfig['failureAction'],
    monitorMs: duration(o, 'Monitor', path, defaults.monitorMs),
    maxFailureRatio: number(o, 'MaxFailureRatio', path, defaults.maxFailureRatio),
    order: order === 'stop-first' ? 'stopFirst' : 'startFirst',
  };
}

function port(value: unknown, path: string): PortConfig {
  const o = object(value, path, ['Name', 'Protocol', 'TargetPort', 'PublishedPort', 'PublishMode']);
  if (!present(o, 'TargetPort')) throw new SpecInvalidError(join(path, 'TargetPort'), 'is required');
  return {
    name: string(o, 'Name', path, ''),
    protocol: oneOf(o, 'Protocol', path, ['tcp', 'udp', 'sctp'], 'tcp'),
    targetPort: number(o, 'TargetPort', path, 0),
    publishedPort: number(o, 'PublishedPort', path, 0),
    publishMode: oneOf(o, 'PublishMode', path, ['ingress', 'host'], 'ingress'),
  };
}

const SPEC_FIELDS = ['Name', 'Labels', 'TaskTemplate', 'Mode', 'UpdateConfig', 'RollbackConfig', 'EndpointSpec', 'Rebalance', 'DependsOn'] as const;

const CONDITIONS_FROM_DOCKER = new Map<string, DependencyCondition>(
  (Object.entries(COMPOSE_CONDITIONS) as [DependencyCondition, string][]).map(([ours, docker]) => [docker, ours]),
);

/** A dependency: its service's name, and its condition (Compose's default, service_started, when absent). */
function dependency(value: unknown, path: string): ServiceDependency {
  const o = object(value, path, ['Service', 'Condition']);
  const condition = string(o, 'Condition', path, COMPOSE_CONDITIONS.started);
  const ours = CONDITIONS_FROM_DOCKER.get(condition);
  if (ours === undefined) throw new SpecInvalidError(join(path, 'Condition'), `must be ${[...CONDITIONS_FROM_DOCKER.keys()].join(', ')}; got '${condition}'`);
  return { service: string(o, 'Service', path, ''), condition: ours };
}

/**
 * Reads a Docker ServiceSpec (a request body) into ours, with defaults for what it leaves out.
 * Throws SpecInvalidError naming the field for a wrong type or an unknown field; the values are
 * validate.ts's to check.
 */
export function serviceSpecFromDocker(value: unknown): ServiceSpec {
  // `Networks` at the top is Docker's deprecated place for TaskTemplate.Networks.
  const o = object(value, '', SPEC_FIELDS, ['Networks']);
  const serviceMode = mode(o.Mode);
  const isJob = serviceMode.kind === 'replicatedJob' || serviceMode.kind === 'globalJob';
  if (isJob) {
    // SwarmKit's rule: a job runs to completion and is never rolled; it has no update policy.
    for (const key of ['UpdateConfig', 'RollbackConfig'] as const) {
      if (present(o, key)) throw new SpecInvalidError(key, 'a job has no update or rollback config');
    }
  }
  const endpoint = object(o.EndpointSpec, 'EndpointSpec', ['Mode', 'Ports']);
  const endpointMode = string(endpoint, 'Mode', 'EndpointSpec', 'vip');
  if (endpointMode !== 'vip' && endpointMode !== '') throw new SpecInvalidError('EndpointSpec.Mode', `only vip is supported, got '${endpointMode}'`);
  return {
    annotations: { name: string(o, 'Name', '', ''), labels: labels(o, 'Labels', '') },
    task: taskSpec(o.TaskTemplate, 'TaskTemplate'),
    mode: serviceMode,
    update: updateConfig(o.UpdateConfig, 'UpdateConfig', DEFAULT_UPDATE_CONFIG),
    rollback: updateConfig(o.RollbackConfig, 'RollbackConfig', DEFAULT_ROLLBACK_CONFIG),
    endpoint: { ports: list(endpoint, 'Ports', 'EndpointSpec').map((item, i) => port(item, `EndpointSpec.Ports[${i}]`)) },
    rebalance: boolean(o, 'Rebalance', ''),
    dependsOn: list(o, 'DependsOn', '').map((item, i) => dependency(item, `DependsOn[${i}]`)),
  };
}

// ---- out ---------------------------------------------------------------------------------------------

function resourcesToDocker(r: Resources): DockerResources {
  return { NanoCPUs: r.nanoCpus, MemoryBytes: r.memoryBytes };
}

function fileToDocker(target: string): DockerFileReference['File'] {
  return { Name: target, UID: '0', GID: '0', Mode: FILE_MODE };
}

function healthcheckToDocker(check: HealthCheck): DockerHealthcheck {
  return {
    Test: [...check.test],
    Interval: check.intervalMs * NS_PER_MS,
    Timeout: check.timeoutMs * NS_PER_MS,
    Retries: check.retries,
    StartPeriod: check.startPeriodMs * NS_PER_MS,
  };
}

export function taskSpecToDocker(task: TaskSpec): DockerTaskSpec {
  const restart = task.restartPolicy;
  const container = task.container;
  return {
    ContainerSpec: {
      Image: container.image,
      Labels: { ...container.labels },
      Command: [...container.command],
      Args: [...container.args],
      Env: [...container.env],
      Dir: container.dir,
      User: container.user,
      Hostname: container.hostname,
      Secrets: task.secrets.map((s) => ({ File: fileToDocker(s.target), SecretID: s.id, SecretName: s.name })),
      Configs: task.configs.map((c) => ({ File: fileToDocker(c.target), ConfigID: c.id, ConfigName: c.name })),
      Mounts: container.mounts.map((m) => ({ Type: m.type, Source: m.source, Target: m.target, ReadOnly: m.readOnly })),
      StopSignal: container.stopSignal,
      StopGracePeriod: container.stopGracePeriodMs * NS_PER_MS,
      ...(container.healthcheck === null ? {} : { Healthcheck: healthcheckToDocker(container.healthcheck) }),
    },
    Resources: { Limits: resourcesToDocker(task.resources.limits), Reservations: resourcesToDocker(task.resources.reservations) },
    RestartPolicy: {
      Condition: restart.condition === 'onFailure' ? 'on-failure' : restart.condition,
      Delay: restart.delayMs * NS_PER_MS,
      MaxAttempts: restart.maxAttempts,
      Window: restart.windowMs * NS_PER_MS,
    },
    Placement: {
      Constraints: [...task.placement.constraints],
      Preferences: task.placement.preferences.map((p) => ({ Spread: { SpreadDescriptor: p.spread } })),
      MaxReplicas: task.placement.maxReplicasPerNode,
      Platforms: task.placement.platforms.map((p) => ({ Architecture: p.architecture, OS: p.os })),
    },
    Networks: task.networks.map((target) => ({ Target: target })),
    ForceUpdate: task.forceUpdate,
    Runtime: task.runtime,
  };
}

function modeToDocker(mode: ServiceMode): DockerMode {
  switch (mode.kind) {
    case 'replicated': return { Replicated: { Replicas: mode.replicas } };
    case 'global': return { Global: {} };
    case 'replicatedJob': return { ReplicatedJob: { MaxConcurrent: mode.maxConcurrent, TotalCompletions: mode.totalCompletions } };
    case 'globalJob': return { GlobalJob: {} };
  }
}

function updateConfigToDocker(config: UpdateConfig): DockerUpdateConfig {
  return {
    Parallelism: config.parallelism,
    Delay: config.delayMs * NS_PER_MS,
    FailureAction: config.failureAction,
    Monitor: config.monitorMs * NS_PER_MS,
    MaxFailureRatio: config.maxFailureRatio,
    Order: config.order === 'stopFirst' ? 'stop-first' : 'start-first',
  };
}

export function portToDocker(p: PortConfig): DockerPortConfig {
  return { Name: p.name, Protocol: p.protocol, TargetPort: p.targetPort, PublishedPort: p.publishedPort, PublishMode: p.publishMode };
}

export function isJobMode(mode: ServiceMode): boolean {
  return mode.kind === 'replicatedJob' || mode.kind === 'globalJob';
}

export function serviceSpecToDocker(spec: ServiceSpec): DockerServiceSpec {
  return {
    Name: spec.annotations.name,
    Labels: { ...spec.annotations.labels },
    TaskTemplate: taskSpecToDocker(spec.task),
    Mode: modeToDocker(spec.mode),
    ...(isJobMode(spec.mode) ? {} : { UpdateConfig: updateConfigToDocker(spec.update), RollbackConfig: updateConfigToDocker(spec.rollback) }),
    EndpointSpec: { Mode: 'vip', Ports: spec.endpoint.ports.map(portToDocker) },
    Rebalance: spec.rebalance,
    ...(spec.dependsOn.length === 0 ? {} : {
      DependsOn: spec.dependsOn.map((d) => ({ Service: d.service, Condition: COMPOSE_CONDITIONS[d.condition] as DockerDependencyCondition })),
    }),
  };
}

/** What `service ls` shows as REPLICAS: tasks running, tasks wanted, and for jobs tasks completed. */
export interface ServiceStatus {
  readonly running: number;
  readonly desired: number;
  readonly completed: number;
  /** What the service waits for while its dependencies hold it (orchestrator/dependencies.ts), or null. */
  readonly held: string | null;
}

/**
 * SwarmKit's ListServiceStatuses: running = tasks observed running; desired = the replicas
 * (replicated), MaxConcurrent (replicated job), or the tasks meant to run (global modes);
 * completed = job tasks of the current iteration that completed; held = the orchestrator's
 * dependency hold, computed as the service actor computes it.
 */
export function serviceStatus(service: Service, reader: StoreReader): ServiceStatus {
  const tasks = reader.tasksByService(service.id);
  const running = tasks.filter((t) => t.status.state === 'running').length;
  const completed = isJobMode(service.spec.mode) ? tasks.filter((t) => t.status.state === 'complete' && isCurrent(t, service)).length : 0;
  let desired: number;
  switch (service.spec.mode.kind) {
    case 'replicated':
      desired = service.spec.mode.replicas;
      break;
    case 'replicatedJob':
      desired = Math.min(service.spec.mode.maxConcurrent, Math.max(0, service.spec.mode.totalCompletions - completed));
      break;
    case 'global':
      desired = tasks.filter((t) => t.desiredState === 'running').length;
      break;
    case 'globalJob':
      desired = tasks.filter((t) => t.desiredState === 'complete' && t.status.state !== 'complete').length;
      break;
  }
  return { running, desired, completed, held: dependencyHold(service, reader) };
}

export function serviceToDocker(service: Service, status: ServiceStatus): DockerService {
  const spec = serviceSpecToDocker(service.spec);
  const endpoint = service.endpoint;
  const update = service.updateStatus;
  return {
    ID: service.id,
    Version: { Index: service.meta.version },
    CreatedAt: rfc3339(service.meta.createdAt),
    UpdatedAt: rfc3339(service.meta.updatedAt),
    Spec: spec,
    ...(service.previousSpec === null ? {} : { PreviousSpec: serviceSpecToDocker(service.previousSpec) }),
    Endpoint: {
      Spec: spec.EndpointSpec,
      ...(endpoint === null ? {} : {
        Ports: endpoint.ports.map(portToDocker),
        VirtualIPs: endpoint.virtualIps.map((v) => ({ NetworkID: v.networkId, Addr: v.addr })),
      }),
    },
    ...(update === null ? {} : {
      UpdateStatus: {
        State: updateStateToDocker(update.state),
        ...(update.startedAt === 0 ? {} : { StartedAt: rfc3339(update.startedAt) }),
        ...(update.completedAt === 0 ? {} : { CompletedAt: rfc3339(update.completedAt) }),
        Message: update.message,
      },
    }),
    ServiceStatus: {
      RunningTasks: status.running, DesiredTasks: status.desired, CompletedTasks: status.completed,
      ...(status.held === null ? {} : { Held: status.held }),
    },
    // A job's iteration is its spec's version: SwarmKit raises JobIteration on every update, as specVersion moves.
    ...(isJobMode(service.spec.mode) ? { JobStatus: { JobIteration: { Index: service.specVersion }, LastExecution: rfc3339(service.meta.updatedAt) } } : {}),
  };
}

export function taskToDocker(task: Task, jobMode: boolean): DockerTask {
  const byNetwork = new Map<string, string[]>();
  for (const a of task.addresses) byNetwork.set(a.networkId, [...(byNetwork.get(a.networkId) ?? []), a.addr]);
  return {
    ID: task.id,
    Version: { Index: task.meta.version },
    CreatedAt: rfc3339(task.meta.createdAt),
    UpdatedAt: rfc3339(task.meta.updatedAt),
    Labels: {},
    Spec: taskSpecToDocker(task.spec),
    ServiceID: task.serviceId,
    Slot: task.slot,
    NodeID: task.nodeId,
    Status: {
      Timestamp: rfc3339(task.status.timestamp),
      State: task.status.state,
      Message: task.status.message,
      ...(task.status.err === '' ? {} : { Err: task.status.err }),
      PortStatus: {},
    },
    DesiredState: task.desiredState,
    NetworksAttachments: [...byNetwork].map(([id, addresses]) => ({ Network: { ID: id }, Addresses: addresses })),
    ...(jobMode ? { JobIteration: { Index: task.serviceVersion } } : {}),
    ServiceVersion: task.serviceVersion,
  };
}

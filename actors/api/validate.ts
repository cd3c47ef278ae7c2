// What the control API refuses before anything is written: a service spec whose values are out
// of range, whose references do not resolve, or that conflicts with another service (its name, a
// published port); a secret or config over its size limit; the removal of a secret or config a
// service still uses. Pure functions of the spec and a store reader: a refusal is a typed error
// (errors.ts) whose message starts with the field's path, spelled as in the Docker Engine API's
// ServiceSpec (`TaskTemplate.Placement.Constraints[1]`), since that is the shape requests come in.
//
// The store checks names and versions again when the write applies (journal/store); the checks
// here that the store cannot make (ports, references) are as good as the read they were made on,
// as SwarmKit's checkPortConflicts ("a best effort") is.
import {
  MOUNT_TYPES, SERVICE_DEPENDENCIES_MAX, TASK_RUNTIMES,
  type ContainerSpec, type FileReference, type HealthCheck, type Mount, type PlacementPreference, type PortConfig, type Resources, type Service,
  type ServiceMode, type ServiceSpec, type StoreReader, type TaskRuntime, type UpdateConfig,
} from '../../journal/index.js';
import { conditionRefusal } from '../orchestrator/dependencies.js';
import { ConstraintSyntaxError, parseConstraints } from '../scheduler/index.js';
import {
  CONFIG_BYTES_MAX, DEFAULT_ROLLBACK_CONFIG, DEFAULT_UPDATE_CONFIG, DURATION_MS_MAX, MEMORY_BYTES_MIN, NAME_LENGTH_MAX, NANO_CPUS_MIN, SECRET_BYTES_MAX, SPEC_LIST_LENGTH_MAX,
} from './defaults.js';
import { BlobTooLargeError, NameTakenError, ObjectInUseError, ObjectNotFoundApiError, SpecInvalidError } from './errors.js';

/** SwarmKit's isValidDNSName: letters and digits, with - or _ between them. */
const NAME_PATTERN = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;
/** A spread descriptor: a node or engine label (what SwarmKit's scheduler spreads over). */
const SPREAD_PATTERN = /^(node|engine)\.labels\.(.+)$/i;

function fail(field: string, reason: string): never {
  throw new SpecInvalidError(field, reason);
}

function wholeAtLeast(value: number, min: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < min) fail(field, `must be a whole number of at least ${min}, got ${value}`);
}

function wholeIn(value: number, min: number, max: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) fail(field, `must be a whole number from ${min} to ${max}, got ${value}`);
}

function durationMs(value: number, field: string): void {
  if (!Number.isSafeInteger(value)) fail(field, `must be a whole number of milliseconds, got ${value}`);
  if (value < 0) fail(field, `must not be negative, got ${value / 1000} s`);
  if (value > DURATION_MS_MAX) fail(field, `must be at most ${DURATION_MS_MAX / 86_400_000} days, got ${value / 1000} s`);
}

function listLength(list: readonly unknown[], field: string): void {
  if (list.length > SPEC_LIST_LENGTH_MAX) fail(field, `holds ${list.length} items, more than ${SPEC_LIST_LENGTH_MAX}`);
}

function checkName(name: string, field: string): void {
  if (name === '') fail(field, 'a name is required');
  if (name.length > NAME_LENGTH_MAX) fail(field, `'${name}' is longer than ${NAME_LENGTH_MAX} characters`);
  if (!NAME_PATTERN.test(name)) fail(field, `'${name}' is not a valid name (letters and digits, with - or _ between them, as a DNS label)`);
}

function checkResources(resources: Resources, field: string): void {
  wholeAtLeast(resources.nanoCpus, 0, `${field}.NanoCPUs`);
  wholeAtLeast(resources.memoryBytes, 0, `${field}.MemoryBytes`);
  if (resources.nanoCpus !== 0 && resources.nanoCpus < NANO_CPUS_MIN) fail(`${field}.NanoCPUs`, `${resources.nanoCpus / 1e9} CPUs is below the least of ${NANO_CPUS_MIN / 1e9}`);
  if (resources.memoryBytes !== 0 && resources.memoryBytes < MEMORY_BYTES_MIN) fail(`${field}.MemoryBytes`, `${resources.memoryBytes} bytes is below the least of 4 MiB`);
}

function checkMode(mode: ServiceMode): void {
  switch (mode.kind) {
    case 'replicated':
      return wholeAtLeast(mode.replicas, 0, 'Mode.Replicated.Replicas');
    case 'replicatedJob':
      wholeAtLeast(mode.maxConcurrent, 1, 'Mode.ReplicatedJob.MaxConcurrent');
      wholeAtLeast(mode.totalCompletions, 1, 'Mode.ReplicatedJob.TotalCompletions');
      if (mode.maxConcurrent > mode.totalCompletions) {
        fail('Mode.ReplicatedJob.MaxConcurrent', `${mode.maxConcurrent} tasks at once is more than the ${mode.totalCompletions} completions the job needs`);
      }
      return;
    case 'global':
    case 'globalJob':
      return;
  }
}

function checkUpdateConfig(config: UpdateConfig, field: 'UpdateConfig' | 'RollbackConfig'): void {
  wholeAtLeast(config.parallelism, 0, `${field}.Parallelism`);
  durationMs(config.delayMs, `${field}.Delay`);
  durationMs(config.monitorMs, `${field}.Monitor`);
  if (!Number.isFinite(config.maxFailureRatio) || config.maxFailureRatio < 0 || config.maxFailureRatio > 1) {
    fail(`${field}.MaxFailureRatio`, `must be from 0 to 1, got ${config.maxFailureRatio}`);
  }
  const actions = field === 'UpdateConfig' ? ['pause', 'continue', 'rollback'] : ['pause', 'continue'];
  if (!actions.includes(config.failureAction)) fail(`${field}.FailureAction`, `must be ${actions.join(', ')}; got '${config.failureAction}'`);
  if (config.order !== 'stopFirst' && config.order !== 'startFirst') fail(`${field}.Order`, `must be stop-first or start-first, got '${String(config.order)}'`);
}

function sameUpdateConfig(a: UpdateConfig, b: UpdateConfig): boolean {
  return a.parallelism === b.parallelism && a.delayMs === b.delayMs && a.failureAction === b.failureAction
    && a.monitorMs === b.monitorMs && a.maxFailureRatio === b.maxFailureRatio && a.order === b.order;
}

function checkConstraints(constraints: readonly string[]): void {
  listLength(constraints, 'TaskTemplate.Placement.Constraints');
  try {
    parseConstraints(constraints);
  } catch (error) {
    if (!(error instanceof ConstraintSyntaxError)) throw error;
    const i = constraints.indexOf(error.constraint);
    throw new SpecInvalidError(`TaskTemplate.Placement.Constraints[${i}]`, error.message, { cause: error });
  }
}

function checkPreferences(preferences: readonly PlacementPreference[]): void {
  listLength(preferences, 'TaskTemplate.Placement.Preferences');
  preferences.forEach((preference, i) => {
    const field = `TaskTemplate.Placement.Preferences[${i}].Spread.SpreadDescriptor`;
    if (preference.spread === '') fail(field, 'a descriptor is required (node.labels.<name> or engine.labels.<name>)');
    // SwarmKit's scheduler spreads over node and engine labels only and silently ignores any other
    // descriptor; a descriptor that would be ignored is refused here instead.
    if (!SPREAD_PATTERN.test(preference.spread)) fail(field, `'${preference.spread}' is not node.labels.<name> or engine.labels.<name>, the attributes tasks can be spread over`);
  });
}

/** A port's identity for conflicts: `8080/tcp`. */
function portKey(port: PortConfig): string {
  return `${port.publishedPort}/${port.protocol}`;
}

function checkPorts(ports: readonly PortConfig[]): void {
  listLength(ports, 'EndpointSpec.Ports');
  const seen = new Map<string, number>();
  ports.forEach((port, i) => {
    const field = `EndpointSpec.Ports[${i}]`;
    if (!['tcp', 'udp', 'sctp'].includes(port.protocol)) fail(`${field}.Protocol`, `must be tcp, udp or sctp, got '${String(port.protocol)}'`);
    if (port.publishMode !== 'ingress' && port.publishMode !== 'host') fail(`${field}.PublishMode`, `must be ingress or host, got '${String(port.publishMode)}'`);
    wholeIn(port.targetPort, 1, 65535, `${field}.TargetPort`);
    wholeIn(port.publishedPort, 0, 65535, `${field}.PublishedPort`);
    // Host-mode ports bind on the task's node only: two of them may share a number (the scheduler
    // keeps them apart). 0 asks for a port from the ingress range.
    if (port.publishedPort === 0 || port.publishMode === 'host') return;
    const earlier = seen.get(portKey(port));
    if (earlier !== undefined) fail(`${field}.PublishedPort`, `port ${portKey(port)} is published twice (also by EndpointSpec.Ports[${earlier}])`);
    seen.set(portKey(port), i);
  });
}

/**
 * Published ports another service holds, in its spec or as allocated: an ingress port binds on
 * every node, so it conflicts with any other use of its number (SwarmKit's checkPortConflicts).
 */
function checkPortConflicts(ports: readonly PortConfig[], reader: StoreReader, selfId: string | null): void {
  const wanted = new Map<string, number>();
  ports.forEach((port, i) => {
    if (port.publishedPort !== 0) wanted.set(portKey(port), i);
  });
  if (wanted.size === 0) return;
  for (const service of reader.list('service')) {
    if (service.id === selfId) continue;
    const held = [...service.spec.endpoint.ports, ...(service.endpoint?.ports ?? [])];
    for (const other of held) {
      const i = wanted.get(portKey(other));
      if (i === undefined || other.publishedPort === 0) continue;
      const mine = ports[i]!;
      if (mine.publishMode === 'host' && other.publishMode === 'host') continue;
      fail(`EndpointSpec.Ports[${i}].PublishedPort`, `port ${portKey(other)} is already in use by service ${service.spec.annotations.name} (${service.id})`);
    }
  }
}

/** A secret or config reference resolved by id, else by name; its target defaults to the name. */
function resolveReference(kind: 'secret' | 'config', reference: FileReference, reader: StoreReader, field: string): FileReference {
  const Kind = kind === 'secret' ? 'Secret' : 'Config';
  if (reference.id === '' && reference.name === '') fail(field, `${Kind}ID or ${Kind}Name is required`);
  const found = reference.id !== '' ? reader.get(kind, reference.id) : reader.byName(kind, reference.name);
  if (found === undefined) {
    fail(reference.id !== '' ? `${field}.${Kind}ID` : `${field}.${Kind}Name`, `${kind} ${reference.id !== '' ? reference.id : reference.name} not found`);
  }
  const name = found.spec.annotations.name;
  if (reference.name !== '' && reference.name !== name) fail(`${field}.${Kind}Name`, `'${reference.name}' does not match ${kind} ${found.id}, which is named '${name}'`);
  const target = reference.target === '' ? name : reference.target;
  if (target.includes('\0')) fail(`${field}.File.Name`, 'must not contain NUL');
  return { id: found.id, name, target };
}

function resolveReferences(kind: 'secret' | 'config', references: readonly FileReference[], reader: StoreReader): FileReference[] {
  const field = `TaskTemplate.ContainerSpec.${kind === 'secret' ? 'Secrets' : 'Configs'}`;
  listLength(references, field);
  const targets = new Map<string, number>();
  return references.map((reference, i) => {
    const resolved = resolveReference(kind, reference, reader, `${field}[${i}]`);
    const earlier = targets.get(resolved.target);
    if (earlier !== undefined) fail(`${field}[${i}].File.Name`, `target '${resolved.target}' is used twice (also by ${field}[${earlier}])`);
    targets.set(resolved.target, i);
    return resolved;
  });
}

function resolveNetworks(networks: readonly string[], reader: StoreReader): string[] {
  listLength(networks, 'TaskTemplate.Networks');
  const ids = new Set<string>();
  return networks.map((ref, i) => {
    const field = `TaskTemplate.Networks[${i}].Target`;
    const found = reader.get('network', ref) ?? reader.byName('network', ref);
    if (found === undefined) fail(field, `network ${ref} not found`);
    if (ids.has(found.id)) fail(field, `network ${ref} is attached twice`);
    ids.add(found.id);
    return found.id;
  });
}

/** A signal by name (SIGTERM, TERM, SIGRTMIN+3) or by number. */
const SIGNAL_PATTERN = /^(?:(?:SIG)?[A-Z][A-Z0-9]*(?:[+-][0-9]+)?|[0-9]+)$/;
/** user, user:group, uid or uid:gid (Docker's --user). */
const USER_PATTERN = /^[^\s:]+(?::[^\s:]+)?$/;
/** The highest signal number Linux has (SIGRTMAX). */
const SIGNAL_NUMBER_MAX = 64;
/** RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens. */
const HOSTNAME_PATTERN = /^(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** A health-check duration: 0 (the engine's default) or, as Docker holds it, at least 1 ms. */
function healthDurationMs(value: number, field: string): void {
  if (value > 0 && value < 1) fail(field, `must be at least 1ms (or 0 for the default), got ${value * 1e6} ns`);
  durationMs(value, field);
}

function checkHealthCheck(check: HealthCheck, field: string): void {
  const test = check.test;
  listLength(test, `${field}.Test`);
  // Docker's forms; an empty test keeps the image's, with these timings.
  if (test.length > 0) {
    const kind = test[0];
    if (kind === 'NONE') {
      if (test.length !== 1) fail(`${field}.Test`, `NONE takes no arguments, got ${test.length - 1}`);
    } else if (kind === 'CMD') {
      if (test.length < 2 || test[1] === '') fail(`${field}.Test`, 'CMD needs the executable to run: ["CMD", executable, args...]');
    } else if (kind === 'CMD-SHELL') {
      if (test.length !== 2 || test[1]!.trim() === '') fail(`${field}.Test`, 'CMD-SHELL takes one command line: ["CMD-SHELL", command]');
    } else {
      fail(`${field}.Test[0]`, `must be CMD, CMD-SHELL or NONE, got '${String(kind)}'`);
    }
  }
  healthDurationMs(check.intervalMs, `${field}.Interval`);
  healthDurationMs(check.timeoutMs, `${field}.Timeout`);
  healthDurationMs(check.startPeriodMs, `${field}.StartPeriod`);
  wholeAtLeast(check.retries, 0, `${field}.Retries`);
}

function checkMounts(mounts: readonly Mount[], field: string): void {
  listLength(mounts, field);
  const targets = new Map<string, number>();
  mounts.forEach((mount, i) => {
    const at = `${field}[${i}]`;
    if (!(MOUNT_TYPES as readonly string[]).includes(mount.type)) fail(`${at}.Type`, `must be ${MOUNT_TYPES.join(', ')}; got '${String(mount.type)}'`);
    if (!mount.target.startsWith('/')) fail(`${at}.Target`, `must be an absolute path, got '${mount.target}'`);
    if (mount.target.includes('\0') || mount.source.includes('\0')) fail(at, 'must not contain NUL');
    switch (mount.type) {
      case 'bind':
        if (!mount.source.startsWith('/')) fail(`${at}.Source`, `a bind mount's source must be an absolute path on the host, got '${mount.source}'`);
        break;
      case 'volume':
        // '' is an anonymous volume; a name may not look like a path (that would be a bind mount).
        if (mount.source.includes('/')) fail(`${at}.Source`, `a volume's name must not hold '/' (a host path is a bind mount), got '${mount.source}'`);
        break;
      case 'tmpfs':
        if (mount.source !== '') fail(`${at}.Source`, `a tmpfs mount has no source, got '${mount.source}'`);
        break;
    }
    const earlier = targets.get(mount.target);
    if (earlier !== undefined) fail(`${at}.Target`, `'${mount.target}' is mounted twice (also by ${field}[${earlier}])`);
    targets.set(mount.target, i);
  });
}

/**
 * The container spec for its runtime: a container runs an image; a process (our extension) runs
 * its command on the agent's host, so it needs one and has no image, mounts or hostname (which
 * would be dropped, so they are refused).
 */
function checkContainerSpec(container: ContainerSpec, runtime: TaskRuntime): void {
  const field = 'TaskTemplate.ContainerSpec';
  if (!(TASK_RUNTIMES as readonly string[]).includes(runtime)) fail('TaskTemplate.Runtime', `must be container or process, got '${String(runtime)}'`);
  if (runtime === 'container') {
    if (container.image.trim() === '') fail(`${field}.Image`, 'an image is required');
    if (/\s/.test(container.image)) fail(`${field}.Image`, `'${container.image}' is not an image reference (it holds white space)`);
  } else {
    if (container.command.length === 0 || container.command[0]!.trim() === '') fail(`${field}.Command`, 'the process runtime runs a command on the host: one is required');
    if (container.image !== '') fail(`${field}.Image`, `the process runtime runs no image; leave it empty (got '${container.image}')`);
    if (container.mounts.length > 0) fail(`${field}.Mounts`, 'the process runtime runs on the host: it has no mounts');
    if (container.hostname !== '') fail(`${field}.Hostname`, 'the process runtime runs on the host: it has the host\'s name');
  }
  if (container.healthcheck !== null) checkHealthCheck(container.healthcheck, `${field}.Healthcheck`);
  checkMounts(container.mounts, `${field}.Mounts`);
  if (container.dir !== '' && !container.dir.startsWith('/')) fail(`${field}.Dir`, `must be an absolute path, got '${container.dir}'`);
  if (container.user !== '' && !USER_PATTERN.test(container.user)) fail(`${field}.User`, `'${container.user}' is not user, user:group, uid or uid:gid`);
  if (container.stopSignal !== '') {
    const numbered = /^[0-9]+$/.test(container.stopSignal);
    if (!SIGNAL_PATTERN.test(container.stopSignal) || (numbered && (Number(container.stopSignal) < 1 || Number(container.stopSignal) > SIGNAL_NUMBER_MAX))) {
      fail(`${field}.StopSignal`, `'${container.stopSignal}' is not a signal (a name such as SIGTERM, or a number from 1 to ${SIGNAL_NUMBER_MAX})`);
    }
  }
  durationMs(container.stopGracePeriodMs, `${field}.StopGracePeriod`);
  if (container.hostname !== '' && !HOSTNAME_PATTERN.test(container.hostname)) {
    fail(`${field}.Hostname`, `'${container.hostname}' is not a host name (letters, digits and hyphens, in dot-separated labels of up to 63; templates are not supported)`);
  }
}

/** A change SwarmKit refuses on an existing service: another name, or another mode. */
function checkUpdateOf(current: Service, spec: ServiceSpec): void {
  if (spec.annotations.name !== current.spec.annotations.name) {
    fail('Name', `renaming a service is not supported ('${current.spec.annotations.name}' to '${spec.annotations.name}')`);
  }
  if (spec.mode.kind !== current.spec.mode.kind) {
    fail('Mode', `a service's mode cannot change (${current.spec.mode.kind} to ${spec.mode.kind}); remove it and create it again`);
  }
}

/**
 * A service's dependencies (DependsOn, start order): each names another service, once. A
 * dependency that does not exist yet is allowed (a stack's services are created in any order; the
 * service waits for it). One that exists must suit its condition (service_healthy: a health check;
 * service_completed_successfully: a job), and no cycle may close among the existing services and
 * this one: its services would wait for each other for ever.
 */
function checkDependencies(spec: ServiceSpec, reader: StoreReader, selfId: string | null): void {
  const name = spec.annotations.name;
  const dependsOn = spec.dependsOn;
  if (dependsOn.length > SERVICE_DEPENDENCIES_MAX) fail('DependsOn', `holds ${dependsOn.length} dependencies, more than ${SERVICE_DEPENDENCIES_MAX}`);
  const first = new Map<string, number>();
  dependsOn.forEach((dependency, i) => {
    const field = `DependsOn[${i}].Service`;
    if (dependency.service === '') fail(field, 'a service name is required');
    if (dependency.service === name) fail(field, `'${name}' cannot depend on itself`);
    const seen = first.get(dependency.service);
    if (seen !== undefined) fail(field, `'${dependency.service}' is named twice (DependsOn[${seen}] too)`);
    first.set(dependency.service, i);
    const target = reader.byName('service', dependency.service);
    if (target === undefined || target.id === selfId) return;
    const refusal = conditionRefusal(dependency, target);
    if (refusal !== null) fail(`DependsOn[${i}].Condition`, refusal);
  });
  // A cycle through this service: a path from one of its dependencies back to its name, over the
  // existing services' dependencies (this spec stands for the service it updates). Depth first,
  // each service once: the store's services bound the walk.
  const visited = new Set<string>();
  const pathBack = (from: string): string[] | null => {
    if (from === name) return [from];
    if (visited.has(from)) return null;
    visited.add(from);
    const service = reader.byName('service', from);
    if (service === undefined || service.id === selfId) return null;
    for (const next of service.spec.dependsOn) {
      const rest = pathBack(next.service);
      if (rest !== null) return [from, ...rest];
    }
    return null;
  };
  dependsOn.forEach((dependency, i) => {
    const cycle = pathBack(dependency.service);
    if (cycle !== null) fail(`DependsOn[${i}].Service`, `a dependency cycle: ${[name, ...cycle].join(' -> ')}; its services would wait for each other for ever`);
  });
}

/**
 * Checks a whole service spec (defaults already filled in) for a create (`selfId` null) or an
 * update of service `selfId`; returns it with its secret, config and network references resolved
 * to ids (and names). Throws SpecInvalidError naming the field, NameTakenError, or
 * ObjectNotFoundApiError for an update of a service that does not exist.
 */
export function validateServiceSpec(spec: ServiceSpec, reader: StoreReader, selfId: string | null): ServiceSpec {
  const current = selfId === null ? undefined : reader.get('service', selfId);
  if (selfId !== null && current === undefined) throw new ObjectNotFoundApiError('service', selfId);

  checkName(spec.annotations.name, 'Name');
  checkContainerSpec(spec.task.container, spec.task.runtime);
  const container = spec.task.container;
  listLength(container.command, 'TaskTemplate.ContainerSpec.Command');
  listLength(container.args, 'TaskTemplate.ContainerSpec.Args');
  listLength(container.env, 'TaskTemplate.ContainerSpec.Env');
  container.env.forEach((entry, i) => {
    if (entry === '' || entry.startsWith('=')) fail(`TaskTemplate.ContainerSpec.Env[${i}]`, `'${entry}' is not KEY=VALUE`);
  });

  const { limits, reservations } = spec.task.resources;
  checkResources(limits, 'TaskTemplate.Resources.Limits');
  checkResources(reservations, 'TaskTemplate.Resources.Reservations');
  if (limits.nanoCpus > 0 && reservations.nanoCpus > limits.nanoCpus) {
    fail('TaskTemplate.Resources.Reservations.NanoCPUs', `reserves ${reservations.nanoCpus / 1e9} CPUs, more than the limit of ${limits.nanoCpus / 1e9}`);
  }
  if (limits.memoryBytes > 0 && reservations.memoryBytes > limits.memoryBytes) {
    fail('TaskTemplate.Resources.Reservations.MemoryBytes', `reserves ${reservations.memoryBytes} bytes, more than the limit of ${limits.memoryBytes}`);
  }

  const restart = spec.task.restartPolicy;
  if (!['none', 'onFailure', 'any'].includes(restart.condition)) fail('TaskTemplate.RestartPolicy.Condition', `must be none, on-failure or any, got '${String(restart.condition)}'`);
  durationMs(restart.delayMs, 'TaskTemplate.RestartPolicy.Delay');
  durationMs(restart.windowMs, 'TaskTemplate.RestartPolicy.Window');
  wholeAtLeast(restart.maxAttempts, 0, 'TaskTemplate.RestartPolicy.MaxAttempts');

  const placement = spec.task.placement;
  checkConstraints(placement.constraints);
  checkPreferences(placement.preferences);
  wholeAtLeast(placement.maxReplicasPerNode, 0, 'TaskTemplate.Placement.MaxReplicas');
  listLength(placement.platforms, 'TaskTemplate.Placement.Platforms');
  placement.platforms.forEach((platform, i) => {
    if (platform.os === '' && platform.architecture === '') fail(`TaskTemplate.Placement.Platforms[${i}]`, 'OS or Architecture is required');
  });
  wholeAtLeast(spec.task.forceUpdate, 0, 'TaskTemplate.ForceUpdate');

  checkMode(spec.mode);
  if (spec.rebalance && spec.mode.kind !== 'replicated') fail('Rebalance', `only replicated services rebalance (this one is ${spec.mode.kind})`);
  checkUpdateConfig(spec.update, 'UpdateConfig');
  checkUpdateConfig(spec.rollback, 'RollbackConfig');
  if (spec.mode.kind === 'replicatedJob' || spec.mode.kind === 'globalJob') {
    // SwarmKit's rule: a job runs to completion and is never rolled; it keeps the defaults, unused.
    if (!sameUpdateConfig(spec.update, DEFAULT_UPDATE_CONFIG)) fail('UpdateConfig', 'a job has no update config');
    if (!sameUpdateConfig(spec.rollback, DEFAULT_ROLLBACK_CONFIG)) fail('RollbackConfig', 'a job has no rollback config');
  }
  checkPorts(spec.endpoint.ports);

  if (current !== undefined) checkUpdateOf(current, spec);
  const holder = reader.byName('service', spec.annotations.name);
  if (holder !== undefined && holder.id !== selfId) throw new NameTakenError('service', spec.annotations.name, holder.id);
  checkPortConflicts(spec.endpoint.ports, reader, selfId);
  checkDependencies(spec, reader, selfId);

  const networks = resolveNetworks(spec.task.networks, reader);
  const secrets = resolveReferences('secret', spec.task.secrets, reader);
  const configs = resolveReferences('config', spec.task.configs, reader);
  return { ...spec, task: { ...spec.task, networks, secrets, configs } };
}

/** Refuses a secret or config over SwarmKit's size limit (500 KiB and 1000 KiB). */
export function checkBlobSize(kind: 'secret' | 'config', sizeBytes: number): void {
  const max = kind === 'secret' ? SECRET_BYTES_MAX : CONFIG_BYTES_MAX;
  if (sizeBytes > max) throw new BlobTooLargeError(kind, sizeBytes, max);
}

/** Refuses the removal of a secret or config that a service's spec refers to. */
export function checkBlobRemovable(kind: 'secret' | 'config', id: string, reader: StoreReader): void {
  const blob = reader.get(kind, id);
  if (blob === undefined) throw new ObjectNotFoundApiError(kind, id);
  const users = reader.list('service')
    .filter((service) => (kind === 'secret' ? service.spec.task.secrets : service.spec.task.configs).some((reference) => reference.id === id))
    .map((service) => service.spec.annotations.name);
  if (users.length > 0) throw new ObjectInUseError(kind, blob.spec.annotations.name, users);
}

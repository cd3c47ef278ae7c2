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
import type {
  FileReference, PlacementPreference, PortConfig, Resources, Service, ServiceMode, ServiceSpec, StoreReader, UpdateConfig,
} from '../../journal/index.js';
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
 * Checks a whole service spec (defaults already filled in) for a create (`selfId` null) or an
 * update of service `selfId`; returns it with its secret, config and network references resolved
 * to ids (and names). Throws SpecInvalidError naming the field, NameTakenError, or
 * ObjectNotFoundApiError for an update of a service that does not exist.
 */
export function validateServiceSpec(spec: ServiceSpec, reader: StoreReader, selfId: string | null): ServiceSpec {
  const current = selfId === null ? undefined : reader.get('service', selfId);
  if (selfId !== null && current === undefined) throw new ObjectNotFoundApiError('service', selfId);

  checkName(spec.annotations.name, 'Name');
  const container = spec.task.container;
  if (container.image.trim() === '') fail('TaskTemplate.ContainerSpec.Image', 'an image is required');
  if (/\s/.test(container.image)) fail('TaskTemplate.ContainerSpec.Image', `'${container.image}' is not an image reference (it holds white space)`);
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

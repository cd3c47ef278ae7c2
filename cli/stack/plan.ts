// planStack: what `swarm up` does to the cluster, and what `swarm up --dry-run` prints — the
// stack's services to create, to update (with the spec's changes field by field) or to leave, and
// with prune the stack's services the file no longer has, to remove.
//
// Both sides are compared in the API's canonical form: each is read as the control API reads a
// request (serviceSpecFromDocker, which fills every default) and written back as it answers
// (serviceSpecToDocker). A file that has not changed then plans no update, though the server's
// copy holds every default the file leaves out. What the server adds that a file cannot say is
// set aside: secret and config ids (the file names them), and ForceUpdate (kept from the server's
// copy, as docker stack deploy keeps it, so that an update does not undo a forced redeploy).
import { serviceSpecFromDocker, serviceSpecToDocker, SpecInvalidError, type DockerServiceSpec } from '../../actors/index.js';
import { formatGoDurationNs, type SpecJson } from '../docker-spec.js';
import { STACK_NAMESPACE_LABEL, type DockerServiceSpecJson, type StackDependencyJson, type StackSpecs } from './convert.js';
import { formatPath } from './yaml.js';

/** A service as `GET /services` answers (Docker's Service object): what the plan needs of it. */
export interface CurrentService {
  readonly ID: string;
  readonly Version: { readonly Index: number };
  readonly Spec: SpecJson & { readonly Name: string; readonly Labels?: Record<string, string> };
}

/** One field of the spec that changes: its path in Docker's ServiceSpec, e.g. `TaskTemplate.ContainerSpec.Env`. */
export interface SpecChange {
  readonly path: string;
  /** undefined: the field is not there. */
  readonly old: unknown;
  readonly new: unknown;
}

export interface PlannedCreate {
  /** The name in the file. */
  readonly name: string;
  /** The name in the cluster, `<stack>_<name>`. */
  readonly fullName: string;
  /** The body of `POST /services/create`. */
  readonly spec: DockerServiceSpecJson;
}

export interface PlannedUpdate {
  readonly name: string;
  readonly fullName: string;
  readonly id: string;
  /** The version the update is made against (`?version=`). */
  readonly version: number;
  /** The body of `POST /services/{id}/update`. */
  readonly spec: DockerServiceSpecJson;
  /** Never empty. */
  readonly changes: readonly SpecChange[];
}

export interface PlannedKeep {
  readonly name: string;
  readonly fullName: string;
  readonly id: string;
}

export interface StackPlan {
  readonly stackName: string;
  /** Each list in the file's order (removals by name). */
  readonly create: readonly PlannedCreate[];
  readonly update: readonly PlannedUpdate[];
  readonly unchanged: readonly PlannedKeep[];
  /** Only with prune: services labelled with the stack's namespace that the file no longer has. */
  readonly remove: readonly PlannedKeep[];
}

export interface PlanOptions {
  /** Remove the stack's services that the file no longer has. */
  readonly prune?: boolean | undefined;
}

interface Canonical {
  readonly spec: DockerServiceSpec;
  readonly dependsOn: readonly StackDependencyJson[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function dependenciesOf(value: unknown): StackDependencyJson[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter((d): d is StackDependencyJson => isObject(d) && typeof d.Service === 'string' && typeof d.Condition === 'string')
    .map((d) => ({ Service: d.Service, Condition: d.Condition }))
    .sort((a, b) => a.Service.localeCompare(b.Service));
}

/**
 * A spec in the API's canonical form: read as a request, written as a reply. DependsOn (our
 * extension, which the API may not read yet) is compared on its own, in service order.
 */
function canonical(spec: SpecJson, name: string): Canonical {
  const { DependsOn: dependsOn, ...rest } = spec;
  let read;
  try {
    read = serviceSpecFromDocker(rest);
  } catch (error) {
    if (!(error instanceof SpecInvalidError)) throw error;
    throw new SpecInvalidError(`${name}: ${error.field}`, error.reason, { cause: error });
  }
  const task = read.task;
  const unnamed = {
    ...read,
    task: {
      ...task,
      secrets: task.secrets.map((s) => ({ ...s, id: '' })),
      configs: task.configs.map((c) => ({ ...c, id: '' })),
      forceUpdate: 0,
    },
  };
  return { spec: serviceSpecToDocker(unnamed), dependsOn: dependenciesOf(dependsOn) };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Field-by-field differences: maps are descended into, lists and scalars compared whole. */
function diff(old: unknown, next: unknown, at: (string | number)[], out: SpecChange[]): void {
  if (isObject(old) && isObject(next)) {
    const keys = [...Object.keys(next), ...Object.keys(old).filter((k) => !(k in next))];
    for (const key of keys) diff(old[key], next[key], [...at, key], out);
    return;
  }
  if (!sameJson(old, next)) out.push({ path: formatPath(at), old, new: next });
}

function changesOf(current: Canonical, desired: Canonical): SpecChange[] {
  const out: SpecChange[] = [];
  diff(current.spec, desired.spec, [], out);
  if (!sameJson(current.dependsOn, desired.dependsOn)) {
    out.push({ path: 'DependsOn', old: current.dependsOn.length === 0 ? undefined : current.dependsOn, new: desired.dependsOn.length === 0 ? undefined : desired.dependsOn });
  }
  return out;
}

function shortName(stackName: string, fullName: string): string {
  return fullName.startsWith(`${stackName}_`) ? fullName.slice(stackName.length + 1) : fullName;
}

/**
 * The plan that takes the cluster's services (`current`, as `GET /services` lists them) to the
 * stack's (`desired`, from toServiceSpecs). A service is matched by its full name.
 */
export function planStack(desired: StackSpecs, current: readonly CurrentService[], options: PlanOptions = {}): StackPlan {
  const byName = new Map(current.map((s) => [s.Spec.Name, s]));
  const create: PlannedCreate[] = [];
  const update: PlannedUpdate[] = [];
  const unchanged: PlannedKeep[] = [];
  for (const spec of desired.services) {
    const name = shortName(desired.stackName, spec.Name);
    const found = byName.get(spec.Name);
    if (found === undefined) {
      create.push({ name, fullName: spec.Name, spec });
      continue;
    }
    const changes = changesOf(canonical(found.Spec, spec.Name), canonical(spec as unknown as SpecJson, spec.Name));
    if (changes.length === 0) {
      unchanged.push({ name, fullName: spec.Name, id: found.ID });
      continue;
    }
    const forceUpdate = (found.Spec.TaskTemplate as { ForceUpdate?: unknown } | undefined)?.ForceUpdate;
    const body: DockerServiceSpecJson = typeof forceUpdate === 'number' && forceUpdate > 0 ? { ...spec, TaskTemplate: { ...spec.TaskTemplate, ForceUpdate: forceUpdate } } : spec;
    update.push({ name, fullName: spec.Name, id: found.ID, version: found.Version.Index, spec: body, changes });
  }
  const wanted = new Set(desired.services.map((s) => s.Name));
  const remove: PlannedKeep[] = options.prune !== true ? [] : current
    .filter((s) => s.Spec.Labels?.[STACK_NAMESPACE_LABEL] === desired.stackName && !wanted.has(s.Spec.Name))
    .map((s) => ({ name: shortName(desired.stackName, s.Spec.Name), fullName: s.Spec.Name, id: s.ID }))
    .sort((a, b) => a.fullName.localeCompare(b.fullName));
  return { stackName: desired.stackName, create, update, unchanged, remove };
}

/** The spec's durations (nanoseconds on the wire), shown as Go durations. */
const DURATION_FIELDS = new Set(['Delay', 'Window', 'Monitor', 'Interval', 'Timeout', 'StartPeriod', 'StopGracePeriod']);

function showValue(path: string, value: unknown): string {
  if (value === undefined) return '(none)';
  const field = path.slice(path.lastIndexOf('.') + 1);
  if (typeof value === 'number' && DURATION_FIELDS.has(field)) return formatGoDurationNs(value);
  return JSON.stringify(value);
}

function modeText(spec: DockerServiceSpecJson): string {
  const mode = spec.Mode as { Replicated?: { Replicas: number }; ReplicatedJob?: { TotalCompletions: number }; Global?: object; GlobalJob?: object };
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const text = mode.Replicated !== undefined ? plural(mode.Replicated.Replicas, 'replica')
    : mode.ReplicatedJob !== undefined ? `job, ${plural(mode.ReplicatedJob.TotalCompletions, 'completion')}`
      : mode.Global !== undefined ? 'global' : 'global job';
  return (spec.TaskTemplate as { Runtime?: string }).Runtime === 'process' ? `${text}, process` : text;
}

/**
 * The plan as lines for people: `create web (3 replicas)`, one `update api: <path>: <old> -> <new>`
 * per change, `unchanged db`, `remove old`.
 */
export function formatPlan(plan: StackPlan): string[] {
  return [
    ...plan.create.map((c) => `create ${c.name} (${modeText(c.spec)})`),
    ...plan.update.flatMap((u) => u.changes.map((c) => `update ${u.name}: ${c.path}: ${showValue(c.path, c.old)} -> ${showValue(c.path, c.new)}`)),
    ...plan.unchanged.map((k) => `unchanged ${k.name}`),
    ...plan.remove.map((r) => `remove ${r.name}`),
  ];
}

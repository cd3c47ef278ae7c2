// The `filters` query parameter of GET /services and GET /tasks, as the Docker Engine API has it:
// URL-decoded JSON, `{"name":{"web":true}}` (or the older `{"name":["web"]}`). Values of one key
// are alternatives (any may match), keys all have to match. `id` and `name` match prefixes,
// `label` is `key` or `key=value` (every one given has to match), as moby and SwarmKit do.
import { DESIRED_STATES, type Config, type Secret, type Service, type StoreReader, type Task } from '../../journal/index.js';
import { isCurrent } from '../orchestrator/reconcile.js';
import { SpecInvalidError } from './errors.js';
import { resolveNode, resolveService } from './resolve.js';

export type Filters = ReadonlyMap<string, readonly string[]>;

export const SERVICE_FILTERS = ['id', 'name', 'label', 'mode'] as const;
/** moby's secret and config filters: `name` matches exactly there. */
export const BLOB_FILTERS = ['id', 'name', 'label'] as const;
/** `_up-to-date` is the docker CLI's spelling (a private filter of moby's); `up-to-date` ours. */
export const TASK_FILTERS = ['id', 'name', 'label', 'service', 'node', 'desired-state', 'up-to-date', '_up-to-date'] as const;

/** Parses a `filters` parameter (null: none), refusing keys outside `accepted`. */
export function parseFilters(text: string | null, accepted: readonly string[]): Filters {
  const out = new Map<string, string[]>();
  if (text === null || text.trim() === '') return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SpecInvalidError('filters', `is not JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new SpecInvalidError('filters', 'must be a JSON object of filter names');
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!accepted.includes(key)) throw new SpecInvalidError('filters', `invalid filter '${key}' (accepted: ${accepted.join(', ')})`);
    let values: string[];
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) values = value as string[];
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) values = Object.entries(value as Record<string, unknown>).filter(([, on]) => on === true).map(([v]) => v);
    else throw new SpecInvalidError(`filters.${key}`, 'must be {"value":true,...} or ["value",...]');
    out.set(key, values);
  }
  return out;
}

function anyPrefix(text: string, prefixes: readonly string[] | undefined): boolean {
  return prefixes === undefined || prefixes.some((p) => text.startsWith(p));
}

function labelsMatch(labels: Readonly<Record<string, string>>, wanted: readonly string[] | undefined): boolean {
  if (wanted === undefined) return true;
  return wanted.every((w) => {
    const i = w.indexOf('=');
    return i < 0 ? Object.hasOwn(labels, w) : labels[w.slice(0, i)] === w.slice(i + 1);
  });
}

const MODE_NAMES: Readonly<Record<Service['spec']['mode']['kind'], string>> = {
  replicated: 'replicated', global: 'global', replicatedJob: 'replicated-job', globalJob: 'global-job',
};

export function filterServices(services: readonly Service[], filters: Filters): Service[] {
  const modes = filters.get('mode');
  for (const m of modes ?? []) {
    if (!Object.values(MODE_NAMES).includes(m)) throw new SpecInvalidError('filters.mode', `'${m}' is not replicated, global, replicated-job or global-job`);
  }
  return services.filter((s) => anyPrefix(s.id, filters.get('id'))
    && anyPrefix(s.spec.annotations.name, filters.get('name'))
    && labelsMatch(s.spec.annotations.labels, filters.get('label'))
    && (modes === undefined || modes.includes(MODE_NAMES[s.spec.mode.kind])));
}

export function filterBlobs<T extends Secret | Config>(blobs: readonly T[], filters: Filters): T[] {
  const names = filters.get('name');
  return blobs.filter((b) => anyPrefix(b.id, filters.get('id'))
    && (names === undefined || names.includes(b.spec.annotations.name))
    && labelsMatch(b.spec.annotations.labels, filters.get('label')));
}

/** A task's name as `service ps` shows it: `web.2`, or `web.<node id>` for global and job tasks. */
export function taskName(task: Task, service: Service | undefined): string {
  const serviceName = service?.spec.annotations.name ?? task.serviceId;
  return `${serviceName}.${task.slot !== 0 ? task.slot : task.nodeId !== '' ? task.nodeId : task.id}`;
}

function booleanFilter(values: readonly string[], field: string): boolean {
  const on = new Set(values.map((v) => {
    if (['true', '1'].includes(v)) return true;
    if (['false', '0'].includes(v)) return false;
    throw new SpecInvalidError(field, `must be true or false, got '${v}'`);
  }));
  if (on.size !== 1) throw new SpecInvalidError(field, 'must be one of true or false');
  return [...on][0]!;
}

/**
 * Tasks matching the filters. `service` and `node` are resolved as references (id, name, id
 * prefix; an unknown one is a 404, as in moby); `up-to-date=true` keeps the tasks whose spec is
 * their service's current one (the task spec equals the service's: a scale outdates nothing), `false` the others.
 */
export function filterTasks(tasks: readonly Task[], filters: Filters, reader: StoreReader): Task[] {
  const serviceIds = filters.has('service') ? new Set(filters.get('service')!.map((ref) => resolveService(reader, ref).id)) : undefined;
  const nodeIds = filters.has('node') ? new Set(filters.get('node')!.map((ref) => resolveNode(reader, ref).id)) : undefined;
  const desired = filters.get('desired-state');
  for (const d of desired ?? []) {
    if (!(DESIRED_STATES as readonly string[]).includes(d)) throw new SpecInvalidError('filters.desired-state', `'${d}' is not one of ${DESIRED_STATES.join(', ')}`);
  }
  const upToDateValues = [...(filters.get('up-to-date') ?? []), ...(filters.get('_up-to-date') ?? [])];
  const upToDate = upToDateValues.length === 0 ? undefined : booleanFilter(upToDateValues, 'filters.up-to-date');
  return tasks.filter((t) => {
    const service = reader.get('service', t.serviceId);
    if (serviceIds !== undefined && !serviceIds.has(t.serviceId)) return false;
    if (nodeIds !== undefined && !nodeIds.has(t.nodeId)) return false;
    if (desired !== undefined && !desired.includes(t.desiredState)) return false;
    if (!anyPrefix(t.id, filters.get('id'))) return false;
    if (!anyPrefix(taskName(t, service), filters.get('name'))) return false;
    // The label filter of tasks matches their service's labels (SwarmKit's ListTasks).
    if (!labelsMatch(service?.spec.annotations.labels ?? {}, filters.get('label'))) return false;
    if (upToDate !== undefined && (service !== undefined && isCurrent(t, service)) !== upToDate) return false;
    return true;
  });
}

// The service and task commands of `swarm`, in the docker CLI's flag shapes: service create, ls,
// ps, inspect, update, scale, rollback, rm; task ls, inspect. Flags are checked up front (each
// refusal names the flag); the command then builds a ServiceSpec in the Docker Engine API's shape
// (as the docker CLI does) and sends it to the node's control socket, whose refusals (naming the
// spec field) are shown as they come.
//
// create, update, scale and rollback then watch the service converge with the progress display
// (cli/progress.ts), as the docker CLI does, unless --detach: they return once the change is
// committed.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { RealClock } from '../runtime/env/real/clock.js';
import { cap, DEFAULT_STATE_DIR, formatOption, jsonFormat, table, type Out } from './cluster-commands.js';
import type { awaitServices as AwaitServices } from './progress.js';
import {
  fileReferenceJson, healthcheckJson, labelsOf, modeJson, readByteSize, readGoDurationNs, readNanoCpus, readShortPort, SERVICE_MODES, type FileReferenceFields, type ServiceModeName,
} from './docker-spec.js';
import { controlRequest, controlStream } from './node/client.js';

// ---- flag values ---------------------------------------------------------------------------------

/** A Go duration (`10s`, `1m30s`, `500ms`, `1.5h`, `0`) in nanoseconds, as the API carries it. */
export function goDurationNs(flag: string): (value: string) => number {
  return (value) => {
    const ns = readGoDurationNs(value);
    if (ns === undefined) throw new InvalidArgumentError(`${flag} must be a duration like 10s, 1m30s or 500ms, got '${value}'`);
    return ns;
  };
}

/** A size in bytes with binary units (`64M`, `1.5g`, `512k`, `2GiB`), as docker's RAMInBytes. */
export function bytesSize(flag: string): (value: string) => number {
  return (value) => {
    const bytes = readByteSize(value);
    if (bytes === undefined) throw new InvalidArgumentError(`${flag} must be a size like 64M, 512k or 1.5g, got '${value}'`);
    return bytes;
  };
}

/** CPUs as a decimal (`0.5`), in nano-CPUs. */
function cpus(flag: string): (value: string) => number {
  return (value) => {
    const n = readNanoCpus(value);
    if (n === undefined) throw new InvalidArgumentError(`${flag} must be a number of CPUs like 0.5 or 2, got '${value}'`);
    return n;
  };
}

function wholeNumber(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${flag} must be a whole number, got '${value}'`);
    return n;
  };
}

function ratio(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${flag} must be a number from 0 to 1, got '${value}'`);
    return n;
  };
}

function choice<const T extends string>(flag: string, values: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`${flag} must be ${values.join(', ')}; got '${value}'`);
    return value as T;
  };
}

function collect<T>(parse: (value: string) => T): (value: string, previous?: T[]) => T[] {
  return (value, previous = []) => [...previous, parse(value)];
}

function keyValue(flag: string): (value: string) => string {
  return (value) => {
    if (!/^[^=]+=/.test(value)) throw new InvalidArgumentError(`${flag} must be key=value, got '${value}'`);
    return value;
  };
}

/** A label flag: `key=value`, or `key` (an empty value), as docker takes them. */
function labelFlag(value: string): string {
  if (value === '' || value.startsWith('=')) throw new InvalidArgumentError(`a label must be key or key=value, got '${value}'`);
  return value;
}

interface PortFlag {
  readonly Protocol: string;
  readonly TargetPort: number;
  readonly PublishedPort: number;
  readonly PublishMode: string;
}

function portNumber(flag: string, text: string, value: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new InvalidArgumentError(`${flag} has no valid port in '${value}' (${text === '' ? 'empty' : `'${text}'`})`);
  return n;
}

/** `--publish published:target[/protocol]`, `target[/protocol]`, or `published=P,target=T,protocol=udp,mode=host`. */
export function publishFlag(flag: string): (value: string) => PortFlag {
  return (value) => {
    if (value.includes('=')) {
      const fields = Object.fromEntries(value.split(',').map((kv) => {
        const i = kv.indexOf('=');
        if (i < 0) throw new InvalidArgumentError(`${flag}: '${kv}' is not key=value in '${value}'`);
        return [kv.slice(0, i).trim().toLowerCase(), kv.slice(i + 1).trim()];
      }));
      for (const key of Object.keys(fields)) {
        if (!['published', 'target', 'protocol', 'mode'].includes(key)) throw new InvalidArgumentError(`${flag}: unknown key '${key}' (published, target, protocol, mode)`);
      }
      if (fields.target === undefined) throw new InvalidArgumentError(`${flag}: target= is required in '${value}'`);
      return {
        Protocol: choice(`${flag} protocol`, ['tcp', 'udp', 'sctp'])(fields.protocol ?? 'tcp'),
        TargetPort: portNumber(flag, fields.target, value),
        PublishedPort: fields.published === undefined ? 0 : portNumber(flag, fields.published, value),
        PublishMode: choice(`${flag} mode`, ['ingress', 'host'])(fields.mode ?? 'ingress'),
      };
    }
    const short = readShortPort(value);
    if (short === undefined) throw new InvalidArgumentError(`${flag} must be published:target[/protocol] (e.g. 8080:80/tcp), got '${value}'`);
    return {
      Protocol: choice(`${flag} protocol`, ['tcp', 'udp', 'sctp'])(short.protocol),
      TargetPort: portNumber(flag, short.target, value),
      PublishedPort: short.published === undefined ? 0 : portNumber(flag, short.published, value),
      PublishMode: 'ingress',
    };
  };
}

type FileFlag = FileReferenceFields;

/** `--secret name`, or `source=name,target=path[,uid=0,gid=0,mode=0444]`. */
function fileFlag(flag: string): (value: string) => FileFlag {
  return (value) => {
    if (!value.includes('=')) {
      if (value === '') throw new InvalidArgumentError(`${flag} needs a name`);
      return { source: value, target: value, uid: '0', gid: '0', mode: 0o444 };
    }
    const fields: Record<string, string> = {};
    for (const kv of value.split(',')) {
      const i = kv.indexOf('=');
      const key = kv.slice(0, i).trim().toLowerCase();
      if (i < 0 || !['source', 'src', 'target', 'uid', 'gid', 'mode'].includes(key)) throw new InvalidArgumentError(`${flag}: '${kv}' is not one of source=, target=, uid=, gid=, mode=`);
      fields[key === 'src' ? 'source' : key] = kv.slice(i + 1).trim();
    }
    const source = fields.source ?? '';
    if (source === '') throw new InvalidArgumentError(`${flag}: source= is required in '${value}'`);
    const mode = fields.mode === undefined ? 0o444 : Number.parseInt(fields.mode, 8);
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new InvalidArgumentError(`${flag}: mode must be octal like 0444, got '${fields.mode}'`);
    return { source, target: fields.target ?? source, uid: fields.uid ?? '0', gid: fields.gid ?? '0', mode };
  };
}

interface MountFlag {
  readonly Type: string;
  readonly Source: string;
  readonly Target: string;
  readonly ReadOnly: boolean;
}

/** `--mount type=bind,source=/host,target=/path[,readonly]`, as docker takes it (type defaults to volume). */
export function mountFlag(value: string): MountFlag {
  const fields: Record<string, string> = {};
  for (const kv of value.split(',')) {
    const i = kv.indexOf('=');
    const key = (i < 0 ? kv : kv.slice(0, i)).trim().toLowerCase();
    const name = key === 'src' ? 'source' : key === 'dst' || key === 'destination' ? 'target' : key === 'ro' ? 'readonly' : key;
    if (!['type', 'source', 'target', 'readonly'].includes(name)) throw new InvalidArgumentError(`--mount: '${kv}' is not one of type=, source=, target=, readonly`);
    if (i < 0 && name !== 'readonly') throw new InvalidArgumentError(`--mount: ${name}= needs a value in '${value}'`);
    fields[name] = i < 0 ? 'true' : kv.slice(i + 1).trim();
  }
  if (fields.target === undefined || fields.target === '') throw new InvalidArgumentError(`--mount: target= is required in '${value}'`);
  const readOnly = fields.readonly ?? 'false';
  if (!['true', 'false', '1', '0'].includes(readOnly)) throw new InvalidArgumentError(`--mount: readonly must be true or false, got '${readOnly}'`);
  return {
    Type: choice('--mount type', ['bind', 'volume', 'tmpfs'])(fields.type ?? 'volume'),
    Source: fields.source ?? '',
    Target: fields.target,
    ReadOnly: readOnly === 'true' || readOnly === '1',
  };
}

/** Compose's conditions of depends_on, as the control API spells them (DependsOn[].Condition). */
export const DEPENDS_ON_CONDITIONS = ['service_started', 'service_healthy', 'service_completed_successfully'] as const;

/** A dependency in Docker's shape (our extension DependsOn, start order). */
export interface DependsOnFlag {
  readonly Service: string;
  readonly Condition: (typeof DEPENDS_ON_CONDITIONS)[number];
}

/** `--depends-on db` or `--depends-on db:service_healthy` (the condition defaults to service_started, as Compose's). */
export function dependsOnFlag(flag: string): (value: string) => DependsOnFlag {
  return (value) => {
    const i = value.indexOf(':');
    const service = (i < 0 ? value : value.slice(0, i)).trim();
    const condition = i < 0 ? 'service_started' : value.slice(i + 1).trim();
    if (service === '') throw new InvalidArgumentError(`${flag} needs a service name: NAME[:CONDITION], got '${value}'`);
    return { Service: service, Condition: choice(`${flag} condition`, DEPENDS_ON_CONDITIONS)(condition) };
  };
}

/**
 * `service update`'s dependency flags on a Docker spec (in place): --depends-on-rm drops a
 * dependency by its service's name; --depends-on and --depends-on-add add one, replacing one of the
 * same service (so a condition can change). None left: no DependsOn.
 */
export function updateDependsOn(spec: Record<string, unknown>, add: readonly DependsOnFlag[], remove: readonly string[]): void {
  const dropped = new Set([...remove, ...add.map((d) => d.Service)]);
  const current = Array.isArray(spec.DependsOn) ? (spec.DependsOn as DependsOnFlag[]) : [];
  const next = [...current.filter((d) => !dropped.has(d.Service)), ...add];
  if (next.length === 0) delete spec.DependsOn;
  else spec.DependsOn = next;
}

/** `--placement-pref spread=node.labels.zone`. */
function placementPref(value: string): string {
  const match = /^spread=(.+)$/.exec(value.trim());
  if (match === null) throw new InvalidArgumentError(`--placement-pref must be spread=<descriptor> (e.g. spread=node.labels.zone), got '${value}'`);
  return match[1]!;
}

// ---- options shared by create and update ----------------------------------------------------------

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface ScalarFlags {
  stateDir: string;
  replicas?: number;
  maxConcurrent?: number;
  replicasMaxPerNode?: number;
  reserveMemory?: number;
  limitMemory?: number;
  reserveCpu?: number;
  limitCpu?: number;
  restartCondition?: string;
  restartDelay?: number;
  restartMaxAttempts?: number;
  restartWindow?: number;
  rebalance?: boolean;
  detach?: boolean;
  format?: string;
  [update: string]: unknown;
}

function scalarOptions(cmd: Command): Command {
  cmd.option('--state-dir <dir>', 'the node\'s state directory', DEFAULT_STATE_DIR)
    .option('--replicas <n>', 'tasks of a replicated service (completions of a replicated job)', wholeNumber('--replicas'))
    .option('--max-concurrent <n>', 'tasks of a replicated job that run at once (default: --replicas)', wholeNumber('--max-concurrent'))
    .option('--replicas-max-per-node <n>', 'at most this many tasks per node (0: no limit)', wholeNumber('--replicas-max-per-node'))
    .option('--reserve-memory <size>', 'memory each task reserves (e.g. 64M)', bytesSize('--reserve-memory'))
    .option('--limit-memory <size>', 'memory limit of each task (e.g. 128M)', bytesSize('--limit-memory'))
    .option('--reserve-cpu <cpus>', 'CPUs each task reserves (e.g. 0.5)', cpus('--reserve-cpu'))
    .option('--limit-cpu <cpus>', 'CPU limit of each task', cpus('--limit-cpu'))
    .option('--restart-condition <c>', 'none, on-failure or any (default any)', choice('--restart-condition', ['none', 'on-failure', 'any']))
    .option('--restart-delay <duration>', 'wait between restarts (default 5s)', goDurationNs('--restart-delay'))
    .option('--restart-max-attempts <n>', 'restarts before giving up (0: unlimited)', wholeNumber('--restart-max-attempts'))
    .option('--restart-window <duration>', 'the window restarts are counted in (0: unbounded)', goDurationNs('--restart-window'))
    .option('-d, --detach', 'return once the change is committed, without watching the service converge');
  formatOption(cmd, 'json: print the reply as JSON (the watch\'s closing line goes to stderr)');
  for (const which of ['update', 'rollback'] as const) {
    cmd.option(`--${which}-parallelism <n>`, `tasks ${which === 'update' ? 'updated' : 'rolled back'} at once (0: all; default 1)`, wholeNumber(`--${which}-parallelism`))
      .option(`--${which}-delay <duration>`, `wait between ${which} batches (default 0s)`, goDurationNs(`--${which}-delay`))
      .option(`--${which}-failure-action <action>`, which === 'update' ? 'pause, continue or rollback (default pause)' : 'pause or continue (default pause)',
        choice(`--${which}-failure-action`, which === 'update' ? ['pause', 'continue', 'rollback'] : ['pause', 'continue']))
      .option(`--${which}-monitor <duration>`, 'watch each task this long for a failure (default 5s)', goDurationNs(`--${which}-monitor`))
      .option(`--${which}-max-failure-ratio <ratio>`, 'failures tolerated, from 0 to 1 (default 0)', ratio(`--${which}-max-failure-ratio`))
      .option(`--${which}-order <order>`, 'stop-first or start-first (default stop-first)', choice(`--${which}-order`, ['stop-first', 'start-first']));
  }
  return cmd;
}

/** Applies the scalar flags that were given to a Docker ServiceSpec (in place). */
function applyScalars(spec: Json, opts: ScalarFlags): void {
  const task = (spec.TaskTemplate ??= {});
  if (opts.reserveMemory !== undefined || opts.limitMemory !== undefined || opts.reserveCpu !== undefined || opts.limitCpu !== undefined) {
    const resources = (task.Resources ??= {});
    const limits = (resources.Limits ??= {});
    const reservations = (resources.Reservations ??= {});
    if (opts.limitMemory !== undefined) limits.MemoryBytes = opts.limitMemory;
    if (opts.limitCpu !== undefined) limits.NanoCPUs = opts.limitCpu;
    if (opts.reserveMemory !== undefined) reservations.MemoryBytes = opts.reserveMemory;
    if (opts.reserveCpu !== undefined) reservations.NanoCPUs = opts.reserveCpu;
  }
  if (opts.restartCondition !== undefined || opts.restartDelay !== undefined || opts.restartMaxAttempts !== undefined || opts.restartWindow !== undefined) {
    const restart = (task.RestartPolicy ??= {});
    if (opts.restartCondition !== undefined) restart.Condition = opts.restartCondition;
    if (opts.restartDelay !== undefined) restart.Delay = opts.restartDelay;
    if (opts.restartMaxAttempts !== undefined) restart.MaxAttempts = opts.restartMaxAttempts;
    if (opts.restartWindow !== undefined) restart.Window = opts.restartWindow;
  }
  if (opts.replicasMaxPerNode !== undefined) (task.Placement ??= {}).MaxReplicas = opts.replicasMaxPerNode;
  for (const [which, key] of [['update', 'UpdateConfig'], ['rollback', 'RollbackConfig']] as const) {
    const fields: Array<[string, string]> = [['Parallelism', 'Parallelism'], ['Delay', 'Delay'], ['FailureAction', 'FailureAction'], ['Monitor', 'Monitor'], ['MaxFailureRatio', 'MaxFailureRatio'], ['Order', 'Order']];
    for (const [flagSuffix, field] of fields) {
      const value = opts[`${which}${flagSuffix}`];
      if (value !== undefined) (spec[key] ??= {})[field] = value;
    }
  }
  if (opts.rebalance !== undefined) spec.Rebalance = opts.rebalance;
}

interface CreateFlags {
  name: string;
  mode: ServiceModeName;
  entrypoint?: string;
  runtime?: 'container' | 'process';
  healthCmd?: string;
  healthInterval?: number;
  healthTimeout?: number;
  healthRetries?: number;
  healthStartPeriod?: number;
  /** false with --no-healthcheck. */
  healthcheck?: boolean;
  mount?: MountFlag[];
  workdir?: string;
  user?: string;
  stopSignal?: string;
  stopGracePeriod?: number;
  hostname?: string;
}

/** The ContainerSpec fields of create's executor flags that were given, in Docker's shape. */
export function containerFlags(opts: Omit<CreateFlags, 'name' | 'mode'>): Json {
  const out: Json = {};
  const timings = opts.healthInterval !== undefined || opts.healthTimeout !== undefined || opts.healthRetries !== undefined || opts.healthStartPeriod !== undefined;
  if (opts.healthcheck === false) {
    if (opts.healthCmd !== undefined || timings) throw new InvalidArgumentError('--no-healthcheck: conflicts with the --health-* flags');
    out.Healthcheck = { Test: ['NONE'] };
  } else if (opts.healthCmd !== undefined || timings) {
    out.Healthcheck = healthcheckJson({
      // Without --health-cmd: the image's check, with these timings (Docker's rule).
      test: opts.healthCmd === undefined ? [] : ['CMD-SHELL', opts.healthCmd],
      intervalNs: opts.healthInterval, timeoutNs: opts.healthTimeout, retries: opts.healthRetries, startPeriodNs: opts.healthStartPeriod,
    });
  }
  if (opts.mount !== undefined) out.Mounts = opts.mount;
  if (opts.workdir !== undefined) out.Dir = opts.workdir;
  if (opts.user !== undefined) out.User = opts.user;
  if (opts.stopSignal !== undefined) out.StopSignal = opts.stopSignal;
  if (opts.stopGracePeriod !== undefined) out.StopGracePeriod = opts.stopGracePeriod;
  if (opts.hostname !== undefined) out.Hostname = opts.hostname;
  return out;
}

/** Sets the replica count of a Docker spec's mode, as `--replicas` and `service scale` do. */
function setReplicas(spec: Json, replicas: number, what: string): void {
  const mode = spec.Mode ?? {};
  if (mode.Replicated !== undefined) mode.Replicated.Replicas = replicas;
  else if (mode.ReplicatedJob !== undefined) mode.ReplicatedJob.TotalCompletions = replicas;
  else throw new InvalidArgumentError(`${what}: replicas can only be used with replicated or replicated-job mode`);
}

/** Watches services converge (cli/progress.ts, loaded only when a command waits). */
async function awaitServices(...args: Parameters<typeof AwaitServices>): Promise<number> {
  return (await import('./progress.js')).awaitServices(...args);
}

/** With --format json, standard output carries the JSON alone: the watch's closing line goes to standard error. */
function progressOut(format: string | undefined, out: Out): Out {
  return format === 'json' ? (line) => process.stderr.write(`${line}\n`) : out;
}

function print(out: Out, format: string | undefined, value: unknown, text: string): void {
  out(format === 'json' ? JSON.stringify(value, null, 2) : text);
}

// ---- reading services, tasks, nodes --------------------------------------------------------------

async function getService(stateDir: string, ref: string): Promise<Json> {
  return controlRequest<Json>(stateDir, 'GET', `/services/${encodeURIComponent(ref)}`);
}

function filtersQuery(entries: readonly string[] | undefined, extra: Record<string, string[]> = {}): string {
  const filters: Record<string, Record<string, boolean>> = {};
  const add = (key: string, value: string): void => {
    (filters[key] ??= {})[value] = true;
  };
  for (const e of entries ?? []) {
    const i = e.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`--filter must be key=value, got '${e}'`);
    add(e.slice(0, i), e.slice(i + 1));
  }
  for (const [key, values] of Object.entries(extra)) for (const v of values) add(key, v);
  return Object.keys(filters).length === 0 ? '' : `?filters=${encodeURIComponent(JSON.stringify(filters))}`;
}

function modeName(mode: Json): string {
  if (mode.Replicated !== undefined) return 'replicated';
  if (mode.Global !== undefined) return 'global';
  if (mode.ReplicatedJob !== undefined) return 'replicated job';
  return 'global job';
}

export function replicasColumn(s: Json): string {
  const status = s.ServiceStatus ?? { RunningTasks: 0, DesiredTasks: 0, CompletedTasks: 0 };
  const base = `${status.RunningTasks}/${status.DesiredTasks}`;
  const max = s.Spec.TaskTemplate?.Placement?.MaxReplicas ?? 0;
  const column = s.Spec.Mode.ReplicatedJob !== undefined ? `${base} (${status.CompletedTasks}/${s.Spec.Mode.ReplicatedJob.TotalCompletions} completed)`
    : s.Spec.Mode.Replicated !== undefined && max > 0 ? `${base} (max ${max} per node)` : base;
  // Held by its dependencies (start order): what it waits for.
  return typeof status.Held === 'string' ? `${column} (${status.Held})` : column;
}

/** The allocated ports (what docker shows), or the spec's fixed ones before the allocator ran. */
function portsColumn(s: Json): string {
  const ports: Json[] = s.Endpoint?.Ports ?? (s.Spec.EndpointSpec?.Ports ?? []).filter((p: Json) => p.PublishedPort > 0);
  return ports.map((p) => `${p.PublishMode === 'host' ? '' : '*'}:${p.PublishedPort}->${p.TargetPort}/${p.Protocol}`).join(', ');
}

function shortId(id: string, noTrunc: boolean | undefined): string {
  return noTrunc === true ? id : id.slice(0, 12);
}

/** Docker's HumanDuration, roughly: "5 seconds", "About a minute", "3 hours", "2 days". */
function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  const d = Math.round(s / 86_400);
  if (d < 14) return `${d} days`;
  if (d < 60) return `${Math.round(d / 7)} weeks`;
  if (d < 730) return `${Math.round(d / 30)} months`;
  return `${Math.round(d / 365)} years`;
}

async function printTasks(stateDir: string, tasks: Json[], opts: { noTrunc?: boolean; quiet?: boolean; format?: string }, out: Out): Promise<void> {
  if (opts.format === 'json') return out(JSON.stringify(tasks, null, 2));
  if (opts.quiet === true) {
    for (const t of tasks) out(shortId(t.ID, opts.noTrunc));
    return;
  }
  const services = new Map<string, Json>((await controlRequest<Json[]>(stateDir, 'GET', '/services')).map((s) => [s.ID, s]));
  const nodes = new Map<string, string>((await controlRequest<Json[]>(stateDir, 'GET', '/nodes')).map((n) => [n.ID, n.Spec.Name || n.Description.Hostname || n.ID]));
  const now = new RealClock().now();
  const nameOf = (t: Json): string => `${services.get(t.ServiceID)?.Spec.Name ?? t.ServiceID}.${t.Slot !== 0 ? t.Slot : t.NodeID !== '' ? t.NodeID : t.ID}`;
  // Newest first within a slot; the older tasks of a slot (its history) indented under it, as docker does.
  const sorted = [...tasks].sort((a, b) => nameOf(a).localeCompare(nameOf(b)) || Date.parse(b.CreatedAt) - Date.parse(a.CreatedAt));
  const rows = sorted.map((t, i) => {
    const name = nameOf(t);
    const history = i > 0 && nameOf(sorted[i - 1]!) === name;
    const err = t.Status.Err === undefined ? '' : `"${t.Status.Err.length > 40 && opts.noTrunc !== true ? `${t.Status.Err.slice(0, 39)}…` : t.Status.Err}"`;
    return [
      shortId(t.ID, opts.noTrunc), history ? ` \\_ ${name}` : name, t.Spec.ContainerSpec.Image, t.NodeID === '' ? '' : (nodes.get(t.NodeID) ?? t.NodeID),
      cap(t.DesiredState), `${cap(t.Status.State)} ${humanDuration(now - Date.parse(t.Status.Timestamp))} ago`, err,
    ];
  });
  table(['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'], rows, out);
}

// ---- the commands --------------------------------------------------------------------------------

interface ListFlags {
  env?: string[];
  label?: string[];
  containerLabel?: string[];
  constraint?: string[];
  placementPref?: string[];
  publish?: PortFlag[];
  secret?: FileFlag[];
  config?: FileFlag[];
  network?: string[];
  dependsOn?: DependsOnFlag[];
}

function listOptions(cmd: Command, suffix: '' | '-add'): Command {
  const short = (letter: string): string => (suffix === '' ? `-${letter}, ` : '');
  return cmd
    .option(`${short('e')}--env${suffix} <key=value>`, 'an environment variable (repeatable)', collect(keyValue(`--env${suffix}`)))
    .option(`${short('l')}--label${suffix} <key=value>`, 'a service label (repeatable)', collect(labelFlag))
    .option(`--container-label${suffix} <key=value>`, 'a container label (repeatable)', collect(labelFlag))
    .option(`--constraint${suffix} <expr>`, 'a placement constraint, e.g. node.role==worker (repeatable)', collect((v) => v))
    .option(`--placement-pref${suffix} <pref>`, 'spread=node.labels.<name> (repeatable)', collect(placementPref))
    .option(`${short('p')}--publish${suffix} <port>`, 'published:target[/protocol] or published=,target=,protocol=,mode= (repeatable)', collect(publishFlag(`--publish${suffix}`)))
    .option(`--secret${suffix} <secret>`, 'a secret: name, or source=name,target=path (repeatable)', collect(fileFlag(`--secret${suffix}`)))
    .option(`--config${suffix} <config>`, 'a config: name, or source=name,target=path (repeatable)', collect(fileFlag(`--config${suffix}`)))
    .option(`--network${suffix} <network>`, 'a network to attach (repeatable)', collect((v) => v))
    .option(`--depends-on${suffix} <service[:condition]>`, 'start after this service meets the condition: service_started (default), service_healthy or service_completed_successfully (repeatable; our extension)', collect(dependsOnFlag(`--depends-on${suffix}`)));
}

/** For update: the plain list flags add too, so create's flags work on update. */
function merged(opts: Record<string, unknown>, key: keyof ListFlags): unknown[] {
  return [...((opts[key] as unknown[] | undefined) ?? []), ...((opts[`${key}Add`] as unknown[] | undefined) ?? [])];
}

export function registerServiceCommands(swarm: Command, out: Out): void {
  const service = swarm.command('service').description('manage services (on a manager)').enablePositionalOptions();

  listOptions(scalarOptions(service.command('create').description('create a service')), '')
    .requiredOption('--name <name>', 'the service\'s name')
    .option('--mode <mode>', 'replicated, global, replicated-job or global-job', choice('--mode', SERVICE_MODES), 'replicated')
    .option('--entrypoint <command>', 'override the image\'s entrypoint (split at spaces)')
    .option('--rebalance', 'move replicas onto nodes that join later, within the update policy (our extension)')
    .option('--runtime <runtime>', 'container (default), or process: the command runs on the agent\'s host, with no image (our extension)', choice('--runtime', ['container', 'process']))
    .option('--health-cmd <command>', 'the command that checks health (run by a shell)')
    .option('--health-interval <duration>', 'between checks (default: the engine\'s, 30s)', goDurationNs('--health-interval'))
    .option('--health-timeout <duration>', 'a check that takes longer fails (default 30s)', goDurationNs('--health-timeout'))
    .option('--health-retries <n>', 'consecutive failures that make a task unhealthy (default 3)', wholeNumber('--health-retries'))
    .option('--health-start-period <duration>', 'failures this soon after the start do not count', goDurationNs('--health-start-period'))
    .option('--no-healthcheck', 'disable the image\'s health check')
    .option('--mount <mount>', 'type=bind|volume|tmpfs,source=...,target=...[,readonly] (repeatable)', collect(mountFlag))
    .option('-w, --workdir <dir>', 'the working directory (absolute)')
    .option('-u, --user <user>', 'user, user:group, uid or uid:gid')
    .option('--stop-signal <signal>', 'the signal that stops a task (default SIGTERM)')
    .option('--stop-grace-period <duration>', 'wait this long after it before killing (default 10s)', goDurationNs('--stop-grace-period'))
    .option('--hostname <name>', 'the container\'s host name')
    .argument('<image>', 'the image (with --runtime process: the command to run)')
    .argument('[command...]', 'the command and its arguments')
    .passThroughOptions()
    .action(async (image: string, command: string[], opts: ScalarFlags & ListFlags & CreateFlags) => {
      if (opts.mode === 'global' || opts.mode === 'global-job') {
        if (opts.replicas !== undefined) throw new InvalidArgumentError('--replicas: replicas can only be used with replicated or replicated-job mode');
      }
      if (opts.maxConcurrent !== undefined && opts.mode !== 'replicated-job') throw new InvalidArgumentError('--max-concurrent: only a replicated job has it');
      const mode = modeJson(opts.mode, opts.replicas, opts.maxConcurrent);
      const onHost = opts.runtime === 'process';
      if (onHost && opts.entrypoint !== undefined) throw new InvalidArgumentError('--entrypoint: a process task has no image to override; give its command as the arguments');
      const spec: Json = {
        Name: opts.name,
        Labels: labelsOf(opts.label ?? []),
        TaskTemplate: {
          ContainerSpec: {
            // A process task runs its command line on the host: the first argument is the command.
            Image: onHost ? '' : image,
            ...(onHost ? { Command: [image] } : opts.entrypoint === undefined ? {} : { Command: opts.entrypoint.split(/\s+/).filter((w) => w !== '') }),
            Args: command,
            Env: opts.env ?? [],
            Labels: labelsOf(opts.containerLabel ?? []),
            Secrets: (opts.secret ?? []).map((f) => fileReferenceJson('Secret', f)),
            Configs: (opts.config ?? []).map((f) => fileReferenceJson('Config', f)),
            ...containerFlags(opts),
          },
          Placement: { Constraints: opts.constraint ?? [], Preferences: (opts.placementPref ?? []).map((d) => ({ Spread: { SpreadDescriptor: d } })) },
          Networks: (opts.network ?? []).map((n) => ({ Target: n })),
          ...(opts.runtime === undefined ? {} : { Runtime: opts.runtime }),
        },
        Mode: mode,
        EndpointSpec: { Ports: opts.publish ?? [] },
        ...(opts.dependsOn === undefined ? {} : { DependsOn: opts.dependsOn }),
      };
      applyScalars(spec, opts);
      const reply = await controlRequest<{ ID: string }>(opts.stateDir, 'POST', '/services/create', spec);
      print(out, opts.format, reply, reply.ID);
      if (opts.detach !== true) process.exitCode = await awaitServices(opts.stateDir, [reply.ID], progressOut(opts.format, out), false, opts.format === 'json');
    });

  stateDirOption(service.command('ls').description('list services'))
    .option('-f, --filter <key=value>', 'id, name, label or mode (repeatable)', collect((v) => v))
    .option('-q, --quiet', 'only ids')
    .addOption(jsonFormatOption())
    .action(async (opts: { stateDir: string; filter?: string[]; quiet?: boolean; format?: string }) => {
      const services = await controlRequest<Json[]>(opts.stateDir, 'GET', `/services${filtersQuery(opts.filter)}`);
      if (opts.format === 'json') return out(JSON.stringify(services, null, 2));
      if (opts.quiet === true) {
        for (const s of services) out(s.ID);
        return;
      }
      const rows = [...services].sort((a, b) => a.Spec.Name.localeCompare(b.Spec.Name))
        .map((s) => [s.ID.slice(0, 12), s.Spec.Name, modeName(s.Spec.Mode), replicasColumn(s), s.Spec.TaskTemplate.ContainerSpec.Image, portsColumn(s)]);
      table(['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'], rows, out);
    });

  formatOption(stateDirOption(service.command('inspect').description('services as JSON (by id, name or id prefix)')), 'json (the default; as docker takes it)').argument('<services...>')
    .action(async (refs: string[], opts: { stateDir: string }) => {
      const found: Json[] = [];
      for (const ref of refs) found.push(await getService(opts.stateDir, ref));
      out(JSON.stringify(found, null, 2));
    });

  stateDirOption(service.command('ps').description('the tasks of services')).argument('<services...>')
    .option('-f, --filter <key=value>', 'id, name, node, desired-state, up-to-date (repeatable)', collect((v) => v))
    .option('--no-trunc', 'full ids and errors')
    .option('-q, --quiet', 'only ids')
    .addOption(jsonFormatOption())
    .action(async (refs: string[], opts: { stateDir: string; filter?: string[]; trunc: boolean; quiet?: boolean; format?: string }) => {
      const ids: string[] = [];
      for (const ref of refs) ids.push((await getService(opts.stateDir, ref)).ID);
      const tasks = await controlRequest<Json[]>(opts.stateDir, 'GET', `/tasks${filtersQuery(opts.filter, { service: ids })}`);
      await printTasks(opts.stateDir, tasks, { noTrunc: !opts.trunc, ...(opts.quiet === undefined ? {} : { quiet: opts.quiet }), ...(opts.format === undefined ? {} : { format: opts.format }) }, out);
    });

  listOptions(listOptions(scalarOptions(service.command('update').description('change a service (the flags given; the rest stays)')), '-add'), '')
    .option('--image <image>', 'a new image')
    .option('--args <command>', 'new command arguments (split at spaces)')
    .option('--env-rm <key>', 'remove an environment variable (repeatable)', collect((v) => v))
    .option('--label-rm <key>', 'remove a service label (repeatable)', collect((v) => v))
    .option('--container-label-rm <key>', 'remove a container label (repeatable)', collect((v) => v))
    .option('--constraint-rm <expr>', 'remove a placement constraint (repeatable)', collect((v) => v))
    .option('--placement-pref-rm <pref>', 'remove a placement preference (repeatable)', collect(placementPref))
    .option('--publish-rm <target>', 'remove a published port by its target port, e.g. 80 or 80/udp (repeatable)', collect((v) => v))
    .option('--secret-rm <name>', 'remove a secret (repeatable)', collect((v) => v))
    .option('--config-rm <name>', 'remove a config (repeatable)', collect((v) => v))
    .option('--network-rm <network>', 'detach a network (repeatable)', collect((v) => v))
    .option('--depends-on-rm <service>', 'no longer wait for this service (repeatable)', collect((v) => v))
    .option('--rebalance', 'move replicas onto nodes that join later (our extension)')
    .option('--no-rebalance', 'stop rebalancing')
    .option('--force', 'redeploy every task even if nothing changed')
    .option('--rollback', 'go back to the previous spec (no other change may come with it)')
    .argument('<service>')
    .action(async (ref: string, opts: ScalarFlags & Record<string, unknown>) => {
      if (opts.rollback === true) {
        const others = Object.keys(opts).filter((key) => opts[key] !== undefined && !['stateDir', 'detach', 'format', 'rollback'].includes(key));
        if (others.length > 0) throw new InvalidArgumentError(`--rollback goes back to the previous spec as it was; it takes no other change (got --${others.map((k) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join(', --')})`);
      }
      const current = await getService(opts.stateDir, ref);
      if (opts.rollback === true) {
        await controlRequest(opts.stateDir, 'POST', `/services/${current.ID}/update?rollback=previous&version=${current.Version.Index}`, current.Spec);
        print(out, opts.format, { ID: current.ID }, current.Spec.Name);
        if (opts.detach !== true) process.exitCode = await awaitServices(opts.stateDir, [current.ID], progressOut(opts.format, out), true, opts.format === 'json');
        return;
      }
      const spec: Json = structuredClone(current.Spec);
      const task = spec.TaskTemplate;
      const container = task.ContainerSpec;
      if (typeof opts.image === 'string') container.Image = opts.image;
      if (typeof opts.args === 'string') container.Args = opts.args.split(/\s+/).filter((w) => w !== '');
      const keyOf = (kv: string): string => (kv.includes('=') ? kv.slice(0, kv.indexOf('=')) : kv);
      const envRm = new Set([...(opts.envRm as string[] | undefined ?? []), ...(merged(opts, 'env') as string[]).map(keyOf)]);
      container.Env = [...(container.Env ?? []).filter((e: string) => !envRm.has(keyOf(e))), ...(merged(opts, 'env') as string[])];
      for (const [key, rm, target] of [['label', 'labelRm', spec], ['containerLabel', 'containerLabelRm', container]] as const) {
        const labels: Record<string, string> = { ...(target.Labels ?? {}) };
        for (const k of (opts[rm] as string[] | undefined) ?? []) delete labels[k];
        Object.assign(labels, labelsOf(merged(opts, key) as string[]));
        target.Labels = labels;
      }
      const placement = (task.Placement ??= {});
      const constraintRm = new Set((opts.constraintRm as string[] | undefined) ?? []);
      placement.Constraints = [...(placement.Constraints ?? []).filter((c: string) => !constraintRm.has(c)), ...(merged(opts, 'constraint') as string[])];
      const prefRm = new Set((opts.placementPrefRm as string[] | undefined) ?? []);
      placement.Preferences = [...(placement.Preferences ?? []).filter((p: Json) => !prefRm.has(p.Spread?.SpreadDescriptor)), ...(merged(opts, 'placementPref') as string[]).map((d) => ({ Spread: { SpreadDescriptor: d } }))];
      const endpoint = (spec.EndpointSpec ??= {});
      const publishRm = new Set(((opts.publishRm as string[] | undefined) ?? []).map((p) => (p.includes('/') ? p : `${p}/tcp`)));
      const added = merged(opts, 'publish') as PortFlag[];
      const addedKeys = new Set(added.map((p) => `${p.PublishedPort}/${p.Protocol}`));
      endpoint.Ports = [...(endpoint.Ports ?? []).filter((p: Json) => !publishRm.has(`${p.TargetPort}/${p.Protocol}`) && !(p.PublishedPort > 0 && addedKeys.has(`${p.PublishedPort}/${p.Protocol}`))), ...added];
      for (const [kind, key] of [['Secret', 'secret'], ['Config', 'config']] as const) {
        const listKey = `${kind}s`;
        const rmNames = new Set([...((opts[`${key}Rm`] as string[] | undefined) ?? []), ...(merged(opts, key) as FileFlag[]).map((f) => f.source)]);
        container[listKey] = [...(container[listKey] ?? []).filter((r: Json) => !rmNames.has(r[`${kind}Name`]) && !rmNames.has(r[`${kind}ID`])), ...(merged(opts, key) as FileFlag[]).map((f) => fileReferenceJson(kind, f))];
      }
      const networkRm = new Set((opts.networkRm as string[] | undefined) ?? []);
      task.Networks = [...(task.Networks ?? []).filter((n: Json) => !networkRm.has(n.Target)), ...(merged(opts, 'network') as string[]).map((n) => ({ Target: n }))];
      updateDependsOn(spec, merged(opts, 'dependsOn') as DependsOnFlag[], (opts.dependsOnRm as string[] | undefined) ?? []);
      if (opts.replicas !== undefined) setReplicas(spec, opts.replicas, '--replicas');
      if (opts.maxConcurrent !== undefined) {
        if (spec.Mode.ReplicatedJob === undefined) throw new InvalidArgumentError('--max-concurrent: only a replicated job has it');
        spec.Mode.ReplicatedJob.MaxConcurrent = opts.maxConcurrent;
      }
      if (opts.force === true) task.ForceUpdate = (task.ForceUpdate ?? 0) + 1;
      applyScalars(spec, opts);
      await controlRequest(opts.stateDir, 'POST', `/services/${current.ID}/update?version=${current.Version.Index}`, spec);
      print(out, opts.format, { ID: current.ID }, current.Spec.Name);
      if (opts.detach !== true) process.exitCode = await awaitServices(opts.stateDir, [current.ID], progressOut(opts.format, out), false, opts.format === 'json');
    });

  stateDirOption(service.command('scale').description('set the replicas of services: name=N ...')).argument('<assignments...>')
    .option('-d, --detach', 'return once committed, without watching the services converge')
    .action(async (assignments: string[], opts: { stateDir: string; detach?: boolean }) => {
      const parsed = assignments.map((a) => {
        const match = /^([^=]+)=(\d+)$/.exec(a);
        if (match === null) throw new InvalidArgumentError(`'${a}' is not service=replicas (e.g. web=3)`);
        return { ref: match[1]!, replicas: Number(match[2]) };
      });
      const ids: string[] = [];
      for (const { ref, replicas } of parsed) {
        const current = await getService(opts.stateDir, ref);
        const spec: Json = structuredClone(current.Spec);
        setReplicas(spec, replicas, ref);
        await controlRequest(opts.stateDir, 'POST', `/services/${current.ID}/update?version=${current.Version.Index}`, spec);
        out(`${current.Spec.Name} scaled to ${replicas}`);
        ids.push(current.ID);
      }
      if (opts.detach !== true) process.exitCode = await awaitServices(opts.stateDir, ids, out);
    });

  stateDirOption(service.command('rollback').description('go back to a service\'s previous spec')).argument('<service>')
    .option('-d, --detach', 'return once committed, without watching the service converge')
    .action(async (ref: string, opts: { stateDir: string; detach?: boolean }) => {
      const current = await getService(opts.stateDir, ref);
      await controlRequest(opts.stateDir, 'POST', `/services/${current.ID}/update?rollback=previous&version=${current.Version.Index}`, current.Spec);
      out(current.Spec.Name);
      if (opts.detach !== true) process.exitCode = await awaitServices(opts.stateDir, [current.ID], out, true);
    });

  stateDirOption(service.command('rm').description('remove services')).argument('<services...>')
    .action(async (refs: string[], opts: { stateDir: string }) => {
      for (const ref of refs) {
        await controlRequest(opts.stateDir, 'DELETE', `/services/${encodeURIComponent(ref)}`);
        out(ref);
      }
    });

  logsOptions(stateDirOption(service.command('logs').description('the logs of a service\'s tasks, from every node that holds them'))).argument('<service>')
    .action((ref: string, opts: LogsFlags) => printLogs('services', ref, opts, out));

  const task = swarm.command('task').description('the tasks of the swarm (on a manager)');
  logsOptions(stateDirOption(task.command('logs').description('the logs of a task, from its node'))).argument('<task>')
    .action((ref: string, opts: LogsFlags) => printLogs('tasks', ref, opts, out));
  stateDirOption(task.command('ls').description('list tasks'))
    .option('-f, --filter <key=value>', 'id, name, label, service, node, desired-state, up-to-date (repeatable)', collect((v) => v))
    .option('--no-trunc', 'full ids and errors')
    .option('-q, --quiet', 'only ids')
    .addOption(jsonFormatOption())
    .action(async (opts: { stateDir: string; filter?: string[]; trunc: boolean; quiet?: boolean; format?: string }) => {
      const tasks = await controlRequest<Json[]>(opts.stateDir, 'GET', `/tasks${filtersQuery(opts.filter)}`);
      await printTasks(opts.stateDir, tasks, { noTrunc: !opts.trunc, ...(opts.quiet === undefined ? {} : { quiet: opts.quiet }), ...(opts.format === undefined ? {} : { format: opts.format }) }, out);
    });
  formatOption(stateDirOption(task.command('inspect').description('tasks as JSON (by id or id prefix)')), 'json (the default; as docker takes it)').argument('<tasks...>')
    .action(async (refs: string[], opts: { stateDir: string }) => {
      const found: unknown[] = [];
      for (const ref of refs) found.push(await controlRequest(opts.stateDir, 'GET', `/tasks/${encodeURIComponent(ref)}`));
      out(JSON.stringify(found, null, 2));
    });
}

interface LogsFlags {
  stateDir: string;
  follow?: boolean;
  tail: string;
}

function logsOptions(cmd: Command): Command {
  return cmd
    .option('-f, --follow', 'keep streaming what the tasks print')
    .option('-n, --tail <n>', 'only the last N lines of each task, or all', (value: string) => {
      if (value !== 'all' && !/^\d+$/.test(value)) throw new InvalidArgumentError(`--tail must be a whole number or all, got '${value}'`);
      return value;
    }, 'all');
}

/** A non-following answer stalls for at most the nodes' deadline; this is far above it. */
const LOGS_IDLE_TIMEOUT_MS = 60_000;

/**
 * Prints the lines as they come: the tasks' stdout to stdout and their stderr to stderr, each
 * tagged `<service>.<slot>.<task>@<node>    | `. A node that could not be reached is named on
 * stderr (`incomplete: node <name> unreachable`) and the command still exits 0, with what the
 * other nodes had: the lines shown are all there were from those nodes (docker exits 1 there; a
 * script that needs completeness reads stderr).
 */
async function printLogs(kind: 'services' | 'tasks', ref: string, opts: LogsFlags, out: Out): Promise<void> {
  const query = new URLSearchParams({ stdout: '1', stderr: '1', follow: opts.follow === true ? '1' : '0', tail: opts.tail });
  await controlStream(opts.stateDir, `/${kind}/${encodeURIComponent(ref)}/logs?${query.toString()}`, (value) => {
    const entry = value as { Stream?: string; Text?: string };
    if (typeof entry.Text !== 'string') return;
    if (entry.Stream === 'stderr') process.stderr.write(`${entry.Text}\n`);
    else out(entry.Text);
  }, opts.follow === true ? 0 : LOGS_IDLE_TIMEOUT_MS);
}

/** A listing's `--format json`, which -q (ids only) cannot go with. */
function jsonFormatOption(): Option {
  return new Option('--format <format>', 'json: print JSON instead of a table').argParser(jsonFormat).conflicts('quiet');
}

function stateDirOption(cmd: Command): Command {
  return cmd.option('--state-dir <dir>', 'the node\'s state directory', DEFAULT_STATE_DIR);
}

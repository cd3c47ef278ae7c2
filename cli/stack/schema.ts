// The stack file's schema (zod 4): the part of the Compose format (version 3, with `deploy:`) that
// `swarm up` runs, each value read into its normalised form (durations in nanoseconds, sizes in
// bytes, short syntaxes in their long form) as it is checked. Maps are strict: a key outside the
// schema is reported by the caller as unsupported (a Compose key we do not run) or unknown, never
// dropped. Cross-field rules (references, dependencies, the runtime's needs) are parse.ts's.
import { z } from 'zod';
import { readByteSize, readGoDurationNs, readNanoCpus, readShortPort, SERVICE_MODES } from '../docker-spec.js';

// ---- values ----------------------------------------------------------------------------------------

/** A value's description in a message: `"three"`, `3`, `a list`, `a map`, `nothing`. */
export function show(value: unknown): string {
  if (value === undefined || value === null) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return String(value);
}

/** A read that knows better than "must be X": its message is the whole reason. */
class Refusal extends Error {}

function refuse(message: string): never {
  throw new Refusal(message);
}

/**
 * A scalar read by `read`: undefined from it means "not a `what`" (`must be <what>, got <value>`);
 * a Refusal gives its own reason. A key that is left out and not optional `is required`.
 */
function value<T>(what: string, read: (v: unknown) => T | undefined) {
  return z.unknown().transform((input, ctx): T => {
    let out: T | undefined;
    let message: string;
    try {
      out = input === undefined ? undefined : read(input);
      message = input === undefined ? 'is required' : `must be ${what}, got ${show(input)}`;
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      out = undefined;
      message = error.message;
    }
    if (out === undefined) {
      ctx.addIssue({ code: 'custom', message, input });
      return z.NEVER;
    }
    return out;
  });
}

function map<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape, { error: (iss) => (iss.code === 'invalid_type' ? (iss.input === undefined ? 'is required' : `must be a map, got ${show(iss.input)}`) : undefined) });
}

function mapOf<T extends z.ZodType>(item: T) {
  return z.record(z.string(), item, { error: (iss) => (iss.code === 'invalid_type' ? (iss.input === undefined ? 'is required' : `must be a map, got ${show(iss.input)}`) : undefined) });
}

function list<T extends z.ZodType>(item: T) {
  return z.array(item, { error: (iss) => (iss.code === 'invalid_type' ? (iss.input === undefined ? 'is required' : `must be a list, got ${show(iss.input)}`) : undefined) });
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isMapValue = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The long syntax (a map) or the short one (anything else), each with its own messages: a union
 * would report "matches neither" instead of what is wrong with the form that was written.
 */
function longOrShort<L extends z.ZodType, S extends z.ZodType>(long: L, short: S): z.ZodType<z.output<L> | z.output<S>> {
  return z.unknown().transform((input, ctx) => {
    const result = (isMapValue(input) ? long : short).safeParse(input);
    if (result.success) return result.data as z.output<L> | z.output<S>;
    for (const issue of result.error.issues) ctx.addIssue({ ...issue, input: (issue as { input?: unknown }).input } as Parameters<typeof ctx.addIssue>[0]);
    return z.NEVER;
  });
}

const str = value('a string', (v) => (isString(v) ? v : undefined));
/** A string that YAML may have read as a number or boolean (`user: 1000`, `FOO: true`). */
const scalarText = (v: unknown): string | undefined => (isString(v) ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);
const text = value('a string', scalarText);
const nonEmpty = value('a non-empty string', (v) => (isString(v) && v.trim() !== '' ? v : undefined));
const count = value('a non-negative integer', (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined));
const flag = value('true or false', (v) => (typeof v === 'boolean' ? v : undefined));
const ratio = value('a number from 0 to 1', (v) => (typeof v === 'number' && v >= 0 && v <= 1 ? v : undefined));
/** Nanoseconds, from a Compose duration. */
const duration = value('a duration such as 10s, 1m30s or 500ms', (v) => (isString(v) ? readGoDurationNs(v) : undefined));
const bytes = value('a size such as 512M or 1G', (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : isString(v) ? readByteSize(v) : undefined));
/** Nano-CPUs, from `0.5` or `'0.5'`. */
const cpus = value('a number of CPUs such as 0.5 or "2"', (v) => (typeof v === 'number' || isString(v) ? readNanoCpus(String(v)) : undefined));
const portNumber = value('a port number from 1 to 65535', (v) => {
  const n = typeof v === 'number' ? v : isString(v) && /^\d+$/.test(v) ? Number(v) : undefined;
  return n !== undefined && Number.isSafeInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
});

function oneOf<const T extends string>(values: readonly T[]) {
  return value(values.join(', ').replace(/, ([^,]*)$/, ' or $1'), (v) => ((values as readonly unknown[]).includes(v) ? (v as T) : undefined));
}

/**
 * A command line as Compose's shellwords splits a string: white space separates words, single
 * quotes keep everything, double quotes keep all but `\"`, `\\` and `\$`, a backslash outside
 * quotes escapes the next character. No expansion: `$HOME` stays as written.
 */
export function splitShellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) refuse(`has an unterminated ' quote: ${JSON.stringify(line)}`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      for (i++; ; i++) {
        if (i >= line.length) refuse(`has an unterminated " quote: ${JSON.stringify(line)}`);
        const d = line[i]!;
        if (d === '"') break;
        if (d === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) word += line[++i]!;
        else word += d;
      }
    } else if (c === '\\') {
      if (i + 1 < line.length) word += line[++i]!;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** A string (split as a shell would) or a list of strings. */
const commandLine = value('a string or a list of strings', (v) => {
  if (isString(v)) return splitShellWords(v);
  if (Array.isArray(v) && v.every(isString)) return [...v];
  return undefined;
});

/** `KEY=VALUE` entries (a bare `KEY` stays bare), from a map or a list. */
const environment = value('a map or a list of KEY=VALUE strings', (v): string[] | undefined => {
  if (Array.isArray(v)) {
    return v.map((entry, i) => {
      if (!isString(entry) || entry === '' || entry.startsWith('=')) refuse(`[${i}] must be KEY=VALUE or KEY, got ${show(entry)}`);
      return entry;
    });
  }
  if (v === null || typeof v !== 'object') return undefined;
  return Object.entries(v).map(([key, raw]) => {
    if (raw === null) return key;
    const text = scalarText(raw);
    if (text === undefined) refuse(`.${key} must be a string, number or boolean, got ${show(raw)}`);
    return `${key}=${text}`;
  });
});

/** Labels from a map or a list of `key=value` strings. */
const labels = value('a map or a list of key=value strings', (v): Record<string, string> | undefined => {
  const out: Record<string, string> = {};
  if (Array.isArray(v)) {
    v.forEach((entry, i) => {
      if (!isString(entry) || entry === '' || entry.startsWith('=')) refuse(`[${i}] must be key=value, got ${show(entry)}`);
      const eq = entry.indexOf('=');
      if (eq < 0) out[entry] = '';
      else out[entry.slice(0, eq)] = entry.slice(eq + 1);
    });
    return out;
  }
  if (v === null || typeof v !== 'object') return undefined;
  for (const [key, raw] of Object.entries(v)) {
    const text = raw === null ? '' : scalarText(raw);
    if (text === undefined) refuse(`.${key} must be a string, got ${show(raw)}`);
    out[key] = text;
  }
  return out;
});

// ---- ports -----------------------------------------------------------------------------------------

export interface StackPort {
  readonly target: number;
  /** 0: a port from the ingress range. */
  readonly published: number;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly mode: 'ingress' | 'host';
  readonly name?: string | undefined;
}

const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;

function readPortNumber(text: string, whole: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) refuse(`has no valid port in ${JSON.stringify(whole)} (${JSON.stringify(text)}: ports are 1 to 65535)`);
  return n;
}

const shortPort = value('"published:target[/protocol]", "target" or a map', (v): StackPort | undefined => {
  if (typeof v === 'number') return { target: readPortNumber(String(v), String(v)), published: 0, protocol: 'tcp', mode: 'ingress' };
  if (!isString(v)) return undefined;
  if (/^[^:]*[.[\]][^:]*:.*:/.test(v) || /^\d+\.\d+\.\d+\.\d+:/.test(v)) refuse(`${JSON.stringify(v)}: a host address is not supported (a published port listens on every address)`);
  if (/\d-\d/.test(v)) refuse(`${JSON.stringify(v)}: port ranges are not supported; list each port`);
  const short = readShortPort(v);
  if (short === undefined) refuse(`must be "published:target[/protocol]" or "target[/protocol]" (e.g. "8080:80/udp"), got ${JSON.stringify(v)}`);
  const protocol = PROTOCOLS.find((p) => p === short.protocol);
  if (protocol === undefined) refuse(`${JSON.stringify(v)}: the protocol must be tcp, udp or sctp`);
  return { target: readPortNumber(short.target, v), published: short.published === undefined ? 0 : readPortNumber(short.published, v), protocol, mode: 'ingress' };
});

const longPort = map({
  target: portNumber,
  published: portNumber.optional(),
  protocol: oneOf(PROTOCOLS).optional(),
  mode: oneOf(['ingress', 'host']).optional(),
  name: str.optional(),
}).transform((p): StackPort => ({ target: p.target, published: p.published ?? 0, protocol: p.protocol ?? 'tcp', mode: p.mode ?? 'ingress', name: p.name }));

const port = longOrShort(longPort, shortPort);

// ---- secrets and configs ---------------------------------------------------------------------------

export interface StackFileRef {
  /** The top-level `secrets:` or `configs:` key. */
  readonly source: string;
  readonly target?: string | undefined;
  readonly uid?: string | undefined;
  readonly gid?: string | undefined;
  readonly mode?: number | undefined;
}

const fileMode = value('a file mode from 0 to 0777 (octal, e.g. 0440)', (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 0o777 ? v : undefined));

const longFileRef = map({ source: nonEmpty, target: nonEmpty.optional(), uid: text.optional(), gid: text.optional(), mode: fileMode.optional() });
const shortFileRef = value('a name or a map with source:', (v): StackFileRef | undefined => (isString(v) && v !== '' ? { source: v } : undefined));
const fileRef: z.ZodType<StackFileRef> = longOrShort(longFileRef, shortFileRef);

// ---- health check ----------------------------------------------------------------------------------

export interface StackHealthcheck {
  /** Docker's form: ['CMD', ...], ['CMD-SHELL', line], ['NONE']; [] keeps the image's test. */
  readonly test: readonly string[];
  readonly intervalNs?: number | undefined;
  readonly timeoutNs?: number | undefined;
  readonly retries?: number | undefined;
  readonly startPeriodNs?: number | undefined;
}

const healthTest = value('a command line, or a list starting with CMD, CMD-SHELL or NONE', (v): string[] | undefined => {
  if (isString(v)) {
    if (v.trim() === '') refuse('must not be empty');
    return ['CMD-SHELL', v];
  }
  if (!Array.isArray(v) || !v.every(isString)) return undefined;
  const [kind, ...rest] = v;
  if (kind === 'NONE') {
    if (rest.length > 0) refuse(`NONE takes no arguments, got ${rest.length}`);
  } else if (kind === 'CMD') {
    if (rest.length === 0 || rest[0] === '') refuse('CMD needs the executable to run: [CMD, executable, args...]');
  } else if (kind === 'CMD-SHELL') {
    if (rest.length !== 1 || rest[0]!.trim() === '') refuse('CMD-SHELL takes one command line: [CMD-SHELL, "command"]');
  } else {
    refuse(`a list must start with CMD, CMD-SHELL or NONE, got ${show(kind)}`);
  }
  return [...v];
});

const healthcheck = map({
  test: healthTest.optional(),
  interval: duration.optional(),
  timeout: duration.optional(),
  retries: count.optional(),
  start_period: duration.optional(),
  disable: flag.optional(),
}).transform((h, ctx): StackHealthcheck => {
  if (h.disable === true) {
    if (h.test !== undefined && h.test[0] !== 'NONE') ctx.addIssue({ code: 'custom', message: 'disable: true and a test contradict each other', path: ['disable'] });
    return { test: ['NONE'] };
  }
  return { test: h.test ?? [], intervalNs: h.interval, timeoutNs: h.timeout, retries: h.retries, startPeriodNs: h.start_period };
});

// ---- volumes (mounts) ------------------------------------------------------------------------------

export interface StackMount {
  readonly type: 'bind' | 'volume' | 'tmpfs';
  /** A host path (absolute, or relative to the stack file's directory) or a volume's name ('' for an anonymous one). */
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

const shortMount = value('"source:target[:ro]", "target" or a map', (v): StackMount | undefined => {
  if (!isString(v)) return undefined;
  const parts = v.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) refuse(`must be "source:target[:ro|rw]" or "target", got ${JSON.stringify(v)}`);
  if (parts.length === 1) {
    if (!v.startsWith('/')) refuse(`an anonymous volume's target must be an absolute path, got ${JSON.stringify(v)}`);
    return { type: 'volume', source: '', target: v, readOnly: false };
  }
  const [source, target, options] = parts as [string, string, string | undefined];
  let readOnly = false;
  for (const option of options === undefined ? [] : options.split(',')) {
    if (option === 'ro') readOnly = true;
    else if (option !== 'rw') refuse(`the mount option ${JSON.stringify(option)} is not supported (ro or rw) in ${JSON.stringify(v)}`);
  }
  if (!target.startsWith('/')) refuse(`the target must be an absolute path, got ${JSON.stringify(target)}`);
  if (source.startsWith('~')) refuse(`~ is not expanded; give the host path in full (${JSON.stringify(source)})`);
  const bind = source.startsWith('/') || source.startsWith('.');
  return { type: bind ? 'bind' : 'volume', source, target, readOnly };
});

const longMount = map({
  type: oneOf(['bind', 'volume', 'tmpfs']),
  source: str.optional(),
  target: nonEmpty,
  read_only: flag.optional(),
}).transform((m): StackMount => ({ type: m.type, source: m.source ?? '', target: m.target, readOnly: m.read_only ?? false }));

const mount = longOrShort(longMount, shortMount);

// ---- depends_on ------------------------------------------------------------------------------------

export const DEPENDENCY_CONDITIONS = ['service_started', 'service_healthy', 'service_completed_successfully'] as const;
export type DependencyCondition = (typeof DEPENDENCY_CONDITIONS)[number];

export interface StackDependency {
  readonly service: string;
  readonly condition: DependencyCondition;
  /** Where it is written under depends_on: a list index or a map key. */
  readonly key: string | number;
}

const dependencyOptions = map({ condition: oneOf(DEPENDENCY_CONDITIONS).optional() });

const dependsOn = longOrShort(
  mapOf(z.unknown()).transform((entries, ctx) => Object.entries(entries).map(([service, options]): StackDependency => {
    const result = dependencyOptions.safeParse(options ?? {});
    if (!result.success) for (const issue of result.error.issues) ctx.addIssue({ ...issue, path: [service, ...issue.path] } as Parameters<typeof ctx.addIssue>[0]);
    return { service, condition: (result.success ? result.data.condition : undefined) ?? 'service_started', key: service };
  })),
  list(nonEmpty).transform((names) => names.map((service, i): StackDependency => ({ service, condition: 'service_started', key: i }))),
);

// ---- deploy ----------------------------------------------------------------------------------------

const resources = map({ cpus: cpus.optional(), memory: bytes.optional() });

const updateConfig = (actions: readonly ['pause', 'continue', 'rollback'] | readonly ['pause', 'continue']) => map({
  parallelism: count.optional(),
  delay: duration.optional(),
  failure_action: oneOf(actions).optional(),
  monitor: duration.optional(),
  max_failure_ratio: ratio.optional(),
  order: oneOf(['stop-first', 'start-first']).optional(),
});

const deploy = map({
  mode: oneOf(SERVICE_MODES).optional(),
  replicas: count.optional(),
  placement: map({
    constraints: list(nonEmpty).optional(),
    preferences: list(map({ spread: nonEmpty })).optional(),
    max_replicas_per_node: count.optional(),
  }).optional(),
  resources: map({ limits: resources.optional(), reservations: resources.optional() }).optional(),
  restart_policy: map({
    condition: oneOf(['none', 'on-failure', 'any']).optional(),
    delay: duration.optional(),
    max_attempts: count.optional(),
    window: duration.optional(),
  }).optional(),
  update_config: updateConfig(['pause', 'continue', 'rollback']).optional(),
  rollback_config: updateConfig(['pause', 'continue']).optional(),
  labels: labels.optional(),
  endpoint_mode: value('vip (dnsrr is not supported)', (v) => (v === 'vip' ? v : undefined)).optional(),
});

export type StackDeploy = z.output<typeof deploy>;

// ---- a service -------------------------------------------------------------------------------------

export const serviceSchema = map({
  image: nonEmpty.optional(),
  command: commandLine.optional(),
  entrypoint: commandLine.optional(),
  environment: environment.optional(),
  env_file: value('a path or a list of paths', (v) => (isString(v) && v !== '' ? [v] : Array.isArray(v) && v.every((p) => isString(p) && p !== '') ? [...v] : undefined)).optional(),
  labels: labels.optional(),
  ports: list(port).optional(),
  secrets: list(fileRef).optional(),
  configs: list(fileRef).optional(),
  healthcheck: healthcheck.optional(),
  volumes: list(mount).optional(),
  working_dir: nonEmpty.optional(),
  user: text.optional(),
  hostname: nonEmpty.optional(),
  stop_signal: nonEmpty.optional(),
  stop_grace_period: duration.optional(),
  depends_on: dependsOn.optional(),
  deploy: deploy.optional(),
  'x-runtime': oneOf(['container', 'process']).optional(),
});

export type ServiceInput = z.output<typeof serviceSchema>;

// ---- the file --------------------------------------------------------------------------------------

const blobDeclaration = map({ file: nonEmpty.optional(), external: flag.optional(), name: nonEmpty.optional() });
export type BlobInput = z.output<typeof blobDeclaration>;

const volumeDeclaration = longOrShort(map({ driver: value('local (the only volume driver supported)', (v) => (v === 'local' ? v : undefined)).optional() }), value('a map (or nothing)', (v) => (v === null ? {} : undefined)));


export const fileSchema = map({
  version: z.unknown().optional(),
  name: value('a stack name (lower-case letters, digits, - and _)', (v) => (isString(v) && /^[a-z0-9][a-z0-9_-]*$/.test(v) ? v : undefined)).optional(),
  services: mapOf(z.unknown()),
  secrets: mapOf(blobDeclaration.nullable()).nullable().optional(),
  configs: mapOf(blobDeclaration.nullable()).nullable().optional(),
  volumes: mapOf(volumeDeclaration).nullable().optional(),
  networks: value('empty (networks are not supported: tasks use the host network or ingress ports)', (v) => (v === null || (isMapValue(v) && Object.keys(v as object).length === 0) ? null : undefined)).optional(),
});

export type FileInput = z.output<typeof fileSchema>;

/** Compose keys that `swarm up` does not run, so that they are named as unsupported rather than unknown. */
export const COMPOSE_KEYS_UNSUPPORTED = new Set([
  // services
  'annotations', 'attach', 'blkio_config', 'build', 'cap_add', 'cap_drop', 'cgroup', 'cgroup_parent', 'container_name', 'cpu_count', 'cpu_percent',
  'cpu_period', 'cpu_quota', 'cpu_rt_period', 'cpu_rt_runtime', 'cpu_shares', 'cpus', 'cpuset', 'credential_spec', 'develop', 'device_cgroup_rules', 'devices',
  'dns', 'dns_opt', 'dns_search', 'domainname', 'expose', 'extends', 'external_links', 'extra_hosts', 'gpus', 'group_add', 'init', 'ipc', 'isolation', 'links',
  'logging', 'mac_address', 'mem_limit', 'mem_reservation', 'mem_swappiness', 'memswap_limit', 'network_mode', 'networks', 'oom_kill_disable',
  'oom_score_adj', 'pid', 'pids_limit', 'platform', 'post_start', 'pre_stop', 'privileged', 'profiles', 'pull_policy', 'read_only', 'restart', 'runtime',
  'scale', 'security_opt', 'shm_size', 'stdin_open', 'storage_opt', 'sysctls', 'tmpfs', 'tty', 'ulimits', 'userns_mode', 'uts', 'volumes_from', 'label_file',
  'models', 'provider', 'use_api_socket',
  // deploy and below
  'endpoint_mode', 'pids', 'devices', 'generic_resources', 'max_replicas_per_node',
  // healthcheck
  'start_interval',
  // ports, mounts, dependencies
  'host_ip', 'app_protocol', 'bind', 'volume', 'tmpfs', 'consistency', 'restart', 'required',
  // secrets, configs, volumes (top level)
  'environment', 'content', 'template_driver', 'driver', 'driver_opts', 'external', 'labels', 'name',
  // top level
  'include',
]);

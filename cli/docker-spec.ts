// Pieces of a Docker Engine API ServiceSpec (the JSON the control API reads, actors/api/docker.ts)
// that more than one front end builds: `swarm service create`'s flags (service-commands.ts) and
// the stack file of `swarm up` (stack/). The value readers return undefined for a value they
// cannot read, so that each front end words the refusal its own way (a flag, a file:line:key);
// the builders take values already read and emit only the fields that were given, leaving the
// rest to the API's defaults, as the docker CLI does.

/** Docker's JSON as we build it: objects we fill field by field before sending. */
export type SpecJson = Record<string, unknown>;

const GO_DURATION_UNITS_NS: Readonly<Record<string, number>> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration (`10s`, `1m30s`, `500ms`, `1.5h`, `0`) in nanoseconds, as the API carries it; undefined if it is not one. */
export function readGoDurationNs(value: string): number | undefined {
  const text = value.trim();
  if (text === '0') return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let match = part.exec(text); match !== null; match = part.exec(text)) {
    total += Number(match[1]) * GO_DURATION_UNITS_NS[match[2]!]!;
    end = part.lastIndex;
  }
  if (end === 0 || end !== text.length) return undefined;
  return Math.round(total);
}

/** Nanoseconds as a Go duration (`1m30s`, `500ms`, `0s`), for showing a spec's durations. */
export function formatGoDurationNs(ns: number): string {
  if (!Number.isFinite(ns) || ns < 0) return String(ns);
  if (ns === 0) return '0s';
  if (ns < 1e6) return `${ns}ns`;
  if (ns < 1e9) return `${ns / 1e6}ms`;
  let rest = ns / 1e9;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  rest = Math.round((rest - minutes * 60) * 1e6) / 1e6;
  return `${hours > 0 ? `${hours}h` : ''}${hours > 0 || minutes > 0 ? `${minutes}m` : ''}${rest}s`;
}

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** A size in bytes with binary units (`64M`, `1.5g`, `512k`, `2GiB`), as docker's RAMInBytes; undefined if it is not one. */
export function readByteSize(value: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(value.trim());
  if (match === null) return undefined;
  return Math.round(Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!);
}

/** CPUs as a decimal (`0.5`, `2`) in nano-CPUs; undefined if it is not a non-negative number. */
export function readNanoCpus(value: string): number | undefined {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) return undefined;
  return Math.round(n * 1e9);
}

/** The short form of a published port, `published:target[/protocol]` or `target[/protocol]`, before its numbers are checked. */
export function readShortPort(value: string): { readonly published: string | undefined; readonly target: string; readonly protocol: string } | undefined {
  const match = /^(?:(\d*):)?(\d+)(?:\/(\w+))?$/.exec(value.trim());
  if (match === null) return undefined;
  return { published: match[1] === undefined || match[1] === '' ? undefined : match[1], target: match[2]!, protocol: match[3] ?? 'tcp' };
}

/** `key=value` entries (a bare `key` is an empty value) as a label map, later entries winning. */
export function labelsOf(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const i = e.indexOf('=');
    if (i < 0) out[e] = '';
    else out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

export interface FileReferenceFields {
  /** The secret's or config's name (or id). */
  readonly source: string;
  /** The file's name in the task (for a secret, under /run/secrets). */
  readonly target: string;
  readonly uid: string;
  readonly gid: string;
  /** The file's permission bits. */
  readonly mode: number;
}

/** A ContainerSpec.Secrets or .Configs entry: the reference by name, the API resolves it to an id. */
export function fileReferenceJson(kind: 'Secret' | 'Config', f: FileReferenceFields): SpecJson {
  return { File: { Name: f.target, UID: f.uid, GID: f.gid, Mode: f.mode }, [`${kind}Name`]: f.source };
}

export interface HealthcheckFields {
  /** ['CMD', ...], ['CMD-SHELL', line], ['NONE'], or [] for the image's own check with these timings. */
  readonly test: readonly string[];
  readonly intervalNs?: number | undefined;
  readonly timeoutNs?: number | undefined;
  readonly retries?: number | undefined;
  readonly startPeriodNs?: number | undefined;
}

/** Docker's HealthConfig with the fields given (the rest are the engine's defaults). */
export function healthcheckJson(check: HealthcheckFields): SpecJson {
  return {
    Test: [...check.test],
    ...(check.intervalNs === undefined ? {} : { Interval: check.intervalNs }),
    ...(check.timeoutNs === undefined ? {} : { Timeout: check.timeoutNs }),
    ...(check.retries === undefined ? {} : { Retries: check.retries }),
    ...(check.startPeriodNs === undefined ? {} : { StartPeriod: check.startPeriodNs }),
  };
}

export const SERVICE_MODES = ['replicated', 'global', 'replicated-job', 'global-job'] as const;
export type ServiceModeName = (typeof SERVICE_MODES)[number];

/**
 * Docker's Mode for a mode name: replicas are the tasks of a replicated service and the
 * completions of a replicated job, whose tasks at once default to them (the docker CLI's rule).
 */
export function modeJson(mode: ServiceModeName, replicas: number | undefined, maxConcurrent?: number): SpecJson {
  switch (mode) {
    case 'replicated': return { Replicated: { Replicas: replicas ?? 1 } };
    case 'global': return { Global: {} };
    case 'replicated-job': return { ReplicatedJob: { MaxConcurrent: maxConcurrent ?? replicas ?? 1, TotalCompletions: replicas ?? 1 } };
    case 'global-job': return { GlobalJob: {} };
  }
}

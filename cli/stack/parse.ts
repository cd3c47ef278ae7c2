// parseStack: a stack file's text to a checked Stack, or a StackError naming every problem by
// file:line:col and key path. Three passes, each reporting all it finds: YAML syntax (the `yaml`
// library), the schema (schema.ts, zod) of the file and of each service on its own, then the rules
// across fields and services (references, the runtime's needs, depends_on and its cycles), run on
// every service that passed the schema.
import path from 'node:path';
import type { z } from 'zod';
import type { ServiceModeName } from '../docker-spec.js';
import { StackError, type StackIssue } from './errors.js';
import {
  COMPOSE_KEYS_UNSUPPORTED, fileSchema, serviceSchema,
  type BlobInput, type DependencyCondition, type ServiceInput, type StackDependency, type StackDeploy, type StackFileRef, type StackHealthcheck, type StackMount, type StackPort,
} from './schema.js';
import { YamlSource, type KeyPath, type Position } from './yaml.js';

export type { DependencyCondition, StackDependency, StackDeploy, StackFileRef, StackHealthcheck, StackMount, StackPort };

export type StackRuntime = 'container' | 'process';

export interface StackService {
  /** The name in the file (the service is `<stack>_<name>` in the cluster). */
  readonly name: string;
  /** Where its key is written. */
  readonly at: Position;
  /** `x-runtime: process`: tasks run the command as a host process, with no image. */
  readonly runtime: StackRuntime;
  readonly mode: ServiceModeName;
  readonly image?: string | undefined;
  readonly command?: readonly string[] | undefined;
  readonly entrypoint?: readonly string[] | undefined;
  /** `KEY=VALUE` (or a bare `KEY`), in the file's order; env_file entries come first at conversion. */
  readonly environment: readonly string[];
  /** As written: relative to the stack file's directory unless absolute. */
  readonly envFiles: ReadonlyArray<{ readonly path: string; readonly at: Position }>;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly StackPort[];
  readonly secrets: readonly StackFileRef[];
  readonly configs: readonly StackFileRef[];
  readonly healthcheck?: StackHealthcheck | undefined;
  readonly mounts: readonly StackMount[];
  readonly workingDir?: string | undefined;
  readonly user?: string | undefined;
  readonly hostname?: string | undefined;
  readonly stopSignal?: string | undefined;
  readonly stopGracePeriodNs?: number | undefined;
  readonly dependsOn: readonly StackDependency[];
  readonly deploy: StackDeploy;
}

/** A top-level secret or config: created from a file by the stack, or an existing (external) one. */
export interface StackBlob {
  /** The key under `secrets:` / `configs:` (what services refer to). */
  readonly key: string;
  readonly at: Position;
  /** Its name in the cluster when it is not the default (`<stack>_<key>` when created, `<key>` when external). */
  readonly name?: string | undefined;
  readonly external: boolean;
  /** The file to read (relative to the stack file's directory unless absolute); absent when external. */
  readonly file?: string | undefined;
}

export interface StackVolume {
  readonly name: string;
  readonly driver: 'local';
}

export interface Stack {
  /** The file as it was named to parseStack (messages use it). */
  readonly file: string;
  /** The directory relative paths in the file are resolved against. */
  readonly dir: string;
  /** Top-level `name:`. */
  readonly name?: string | undefined;
  /** In the file's order. */
  readonly services: readonly StackService[];
  readonly secrets: readonly StackBlob[];
  readonly configs: readonly StackBlob[];
  readonly volumes: readonly StackVolume[];
}

/** SwarmKit's name rule (actors/api validate.ts): letters and digits, with - or _ between them. */
const SERVICE_NAME_PATTERN = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;

/** zod's issues as ours: an unknown key is named by its own path, as unsupported (a Compose key we do not run) or unknown. */
function schemaIssues(source: YamlSource, error: z.ZodError, prefix: KeyPath): StackIssue[] {
  const issues: StackIssue[] = [];
  for (const issue of error.issues) {
    const at = [...prefix, ...(issue.path as (string | number)[])];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push(source.issue([...at, key], COMPOSE_KEYS_UNSUPPORTED.has(key) ? 'is not supported by swarm up' : 'is not a known key (not supported by swarm up)'));
      }
    } else {
      issues.push(source.issue(at, issue.message));
    }
  }
  return issues;
}

/** The file's values without the `x-*` extension keys, which are allowed and ignored (but `keep`). */
function withoutExtensions(value: unknown, keep: readonly string[] = []): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => !key.startsWith('x-') || keep.includes(key)));
}

function isJob(mode: ServiceModeName): boolean {
  return mode === 'replicated-job' || mode === 'global-job';
}

function blobsOf(source: YamlSource, kind: 'secrets' | 'configs', declared: Record<string, BlobInput | null> | null | undefined, issues: StackIssue[]): StackBlob[] {
  const out: StackBlob[] = [];
  for (const [key, decl] of Object.entries(declared ?? {})) {
    const at: KeyPath = [kind, key];
    const file = decl?.file;
    const external = decl?.external === true;
    if (file !== undefined && external) {
      issues.push(source.issue(at, 'has both file: and external: true; give one'));
      continue;
    }
    if (file === undefined && !external) {
      issues.push(source.issue(at, 'needs file: (created by the stack) or external: true (one that exists)'));
      continue;
    }
    if (!SERVICE_NAME_PATTERN.test(key) && decl?.name === undefined) issues.push(source.issue(at, `'${key}' is not a valid name (letters and digits, with - or _ between them)`));
    out.push({ key, at: source.locate(at)!, name: decl?.name, external, file });
  }
  return out;
}

function serviceOf(source: YamlSource, name: string, input: ServiceInput, raw: unknown): StackService {
  const deploy = input.deploy ?? {};
  const envFileListed = Array.isArray((raw as { env_file?: unknown }).env_file);
  return {
    name,
    at: source.locate(['services', name])!,
    runtime: input['x-runtime'] ?? 'container',
    mode: deploy.mode ?? 'replicated',
    image: input.image,
    command: input.command,
    entrypoint: input.entrypoint,
    environment: input.environment ?? [],
    envFiles: (input.env_file ?? []).map((file, i) => ({ path: file, at: source.locate(['services', name, 'env_file', ...(envFileListed ? [i] : [])])! })),
    labels: input.labels ?? {},
    ports: input.ports ?? [],
    secrets: input.secrets ?? [],
    configs: input.configs ?? [],
    healthcheck: input.healthcheck,
    mounts: input.volumes ?? [],
    workingDir: input.working_dir,
    user: input.user,
    hostname: input.hostname,
    stopSignal: input.stop_signal,
    stopGracePeriodNs: input.stop_grace_period,
    dependsOn: input.depends_on ?? [],
    deploy,
  };
}

/** The rules of one service that need more than one of its fields, or the file's declarations. */
function checkService(source: YamlSource, s: StackService, file: { secrets: readonly StackBlob[]; configs: readonly StackBlob[]; volumes: readonly StackVolume[] }, issues: StackIssue[]): void {
  const at = (...rest: (string | number)[]): KeyPath => ['services', s.name, ...rest];
  const problem = (p: KeyPath, message: string): void => {
    issues.push(source.issue(p, message));
  };
  if (s.runtime === 'container') {
    if (s.image === undefined) problem(at(), 'image is required (or x-runtime: process, to run the command as a host process)');
  } else {
    if (s.image !== undefined) problem(at('image'), 'x-runtime: process runs the command on the host and no image; remove image');
    if ((s.entrypoint ?? s.command ?? []).length === 0) problem(at(), 'x-runtime: process needs a command to run');
    if (s.mounts.length > 0) problem(at('volumes'), 'x-runtime: process runs on the host: it has no volumes');
    if (s.hostname !== undefined) problem(at('hostname'), 'x-runtime: process runs on the host: it has the host\'s name');
  }
  if (s.workingDir !== undefined && !s.workingDir.startsWith('/') && s.runtime === 'container') {
    problem(at('working_dir'), `must be an absolute path in the container, got ${JSON.stringify(s.workingDir)} (a relative one is the stack file's directory only with x-runtime: process)`);
  }
  for (const [kind, refs] of [['secrets', s.secrets], ['configs', s.configs]] as const) {
    refs.forEach((ref, i) => {
      if (!file[kind].some((b) => b.key === ref.source)) problem(at(kind, i), `${kind.slice(0, -1)} '${ref.source}' is not declared under the top-level ${kind}:`);
    });
  }
  s.mounts.forEach((m, i) => {
    if (m.type === 'volume' && m.source !== '' && !file.volumes.some((v) => v.name === m.source)) problem(at('volumes', i), `volume '${m.source}' is not declared under the top-level volumes:`);
    if (m.type === 'tmpfs' && m.source !== '') problem(at('volumes', i), 'a tmpfs mount has no source');
    if (m.type === 'bind' && m.source === '') problem(at('volumes', i), 'a bind mount needs a source (a host path)');
  });
  const mode = s.mode;
  if (s.deploy.replicas !== undefined && (mode === 'global' || mode === 'global-job')) problem(at('deploy', 'replicas'), `a ${mode} service runs one task per node: it has no replicas`);
  if (mode === 'replicated-job' && s.deploy.replicas === 0) problem(at('deploy', 'replicas'), 'a replicated job needs at least 1 completion');
  if (isJob(mode)) {
    if (s.deploy.update_config !== undefined) problem(at('deploy', 'update_config'), `a job (${mode}) runs to completion and is never rolled: it has no update_config`);
    if (s.deploy.rollback_config !== undefined) problem(at('deploy', 'rollback_config'), `a job (${mode}) runs to completion and is never rolled: it has no rollback_config`);
  }
}

/** depends_on: each dependency a service of the file, its condition one the dependency can meet, and no cycle. */
function checkDependencies(source: YamlSource, services: readonly StackService[], allNames: ReadonlySet<string>, issues: StackIssue[]): void {
  const byName = new Map(services.map((s) => [s.name, s]));
  for (const s of services) {
    for (const dep of s.dependsOn) {
      const p: KeyPath = ['services', s.name, 'depends_on', dep.key];
      if (dep.service === s.name) {
        issues.push(source.issue(p, `a service cannot depend on itself (${s.name})`));
        continue;
      }
      if (!allNames.has(dep.service)) {
        issues.push(source.issue(p, `'${dep.service}' is not a service of this file`));
        continue;
      }
      const target = byName.get(dep.service);
      if (target === undefined) continue; // it has problems of its own, reported at it
      if (dep.condition === 'service_healthy' && (target.healthcheck === undefined || target.healthcheck.test.length === 0 || target.healthcheck.test[0] === 'NONE')) {
        issues.push(source.issue(p, `service_healthy: '${dep.service}' has no healthcheck (give it a healthcheck with a test)`));
      }
      if (dep.condition === 'service_completed_successfully' && !isJob(target.mode)) {
        issues.push(source.issue(p, `service_completed_successfully: '${dep.service}' is a ${target.mode} service and never completes (give it deploy.mode: replicated-job or global-job)`));
      }
    }
  }
  // Cycles: a depth-first walk; each cycle is reported once, at the first of its services in the file.
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  const walk = (name: string, trail: string[]): void => {
    state.set(name, 'visiting');
    for (const dep of byName.get(name)?.dependsOn ?? []) {
      if (dep.service === name || !byName.has(dep.service)) continue;
      if (state.get(dep.service) === 'visiting') {
        const cycle = [...trail.slice(trail.indexOf(dep.service)), dep.service];
        const members = cycle.slice(0, -1);
        const first = services.find((s) => members.includes(s.name))!;
        const key = [...members].sort().join(' ');
        if (reported.has(key)) continue;
        reported.add(key);
        const start = cycle.indexOf(first.name);
        const rotated = [...cycle.slice(start, -1), ...cycle.slice(0, start), first.name];
        issues.push(source.issue(['services', first.name, 'depends_on'], `a dependency cycle: ${rotated.join(' -> ')}`));
      } else if (state.get(dep.service) === undefined) {
        walk(dep.service, [...trail, dep.service]);
      }
    }
    state.set(name, 'done');
  };
  for (const s of services) if (state.get(s.name) === undefined) walk(s.name, [s.name]);
}

/**
 * Reads a stack file: the Compose format (version 3, services with deploy:) as far as swarm up
 * runs it. `file` names the file in messages and is the base of its relative paths. Throws a
 * StackError holding every problem found.
 */
export function parseStack(text: string, file: string): Stack {
  const parsed = YamlSource.parse(text, file);
  if ('issues' in parsed) throw new StackError(parsed.issues);
  const source = parsed.source;
  if (source.value === null || source.value === undefined) throw new StackError([{ file, line: 1, col: 1, path: '', message: 'the file is empty: a stack needs services:' }]);

  const issues: StackIssue[] = [];
  const top = fileSchema.safeParse(withoutExtensions(source.value));
  if (!top.success) {
    issues.push(...schemaIssues(source, top.error, []));
    // The services can still be checked on their own when the file's own shape is what failed.
  }
  const rawServices = (source.value as { services?: unknown }).services;
  const serviceEntries = rawServices !== null && typeof rawServices === 'object' && !Array.isArray(rawServices) ? Object.entries(rawServices) : [];
  if (top.success && serviceEntries.length === 0) issues.push(source.issue(['services'], 'a stack needs at least one service'));

  const secrets = top.success ? blobsOf(source, 'secrets', top.data.secrets, issues) : [];
  const configs = top.success ? blobsOf(source, 'configs', top.data.configs, issues) : [];
  const volumes: StackVolume[] = top.success ? Object.keys(top.data.volumes ?? {}).map((name) => ({ name, driver: 'local' })) : [];

  const services: StackService[] = [];
  for (const [name, raw] of serviceEntries) {
    if (!SERVICE_NAME_PATTERN.test(name)) issues.push(source.issue(['services', name], `'${name}' is not a valid service name (letters and digits, with - or _ between them)`));
    const result = serviceSchema.safeParse(withoutExtensions(raw, ['x-runtime']));
    if (!result.success) {
      issues.push(...schemaIssues(source, result.error, ['services', name]));
      continue;
    }
    services.push(serviceOf(source, name, result.data, raw));
  }
  if (top.success) for (const s of services) checkService(source, s, { secrets, configs, volumes }, issues);
  checkDependencies(source, services, new Set(serviceEntries.map(([name]) => name)), issues);

  if (issues.length > 0) throw new StackError(issues);
  return {
    file,
    dir: path.dirname(file),
    name: top.success ? top.data.name : undefined,
    services,
    secrets,
    configs,
    volumes,
  };
}

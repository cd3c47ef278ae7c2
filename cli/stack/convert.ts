// toServiceSpecs: a parsed Stack to the bodies `swarm up` sends — each service as the Docker
// Engine API ServiceSpec that `POST /services/create` and `/services/{id}/update` take
// (actors/api/docker.ts reads it), and the secrets and configs the stack creates as the bodies of
// `POST /secrets/create` and `/configs/create`. Named as `docker stack deploy` names them: the
// service `<stack>_<name>`, the label com.docker.stack.namespace=<stack> on the service, its
// containers, secrets and configs; created secrets, configs and named volumes `<stack>_<key>`,
// external ones by their own name.
//
// Only what the file sets is written; the API fills its defaults for the rest (planStack compares
// through the API's own reading, so that those defaults never show as changes).
import path from 'node:path';
import { BlobTooLargeError, checkBlobSize } from '../../actors/index.js';
import { fileReferenceJson, healthcheckJson, modeJson, type SpecJson } from '../docker-spec.js';
import { StackError, type StackIssue } from './errors.js';
import type { Stack, StackBlob, StackService } from './parse.js';
import type { DependencyCondition } from './schema.js';
import { formatPath, type KeyPath, type Position } from './yaml.js';

/** The label docker stack deploy puts on everything a stack owns. */
export const STACK_NAMESPACE_LABEL = 'com.docker.stack.namespace';

/** Our extension of the ServiceSpec (the API's, being added): start only once these services meet their condition. */
export interface StackDependencyJson {
  /** The dependency's full name, `<stack>_<name>`. */
  readonly Service: string;
  readonly Condition: DependencyCondition;
}

/** A Docker ServiceSpec as the stack writes it: what the file sets, plus DependsOn (our extension). */
export interface DockerServiceSpecJson {
  readonly Name: string;
  readonly Labels: Record<string, string>;
  readonly TaskTemplate: SpecJson;
  readonly Mode: SpecJson;
  readonly UpdateConfig?: SpecJson;
  readonly RollbackConfig?: SpecJson;
  readonly EndpointSpec?: SpecJson;
  /** Present when the service has depends_on. */
  readonly DependsOn?: readonly StackDependencyJson[];
}

/** The body of `POST /secrets/create` or `/configs/create`. */
export interface DockerBlobSpecJson {
  readonly Name: string;
  readonly Labels: Record<string, string>;
  /** base64. */
  readonly Data: string;
}

export interface StackSpecs {
  readonly stackName: string;
  /** In the file's order. */
  readonly services: readonly DockerServiceSpecJson[];
  /** The secrets and configs the stack creates (those from file:). */
  readonly secrets: readonly DockerBlobSpecJson[];
  readonly configs: readonly DockerBlobSpecJson[];
  /** The external secrets and configs the services use, by name: they must exist. */
  readonly external: { readonly secrets: readonly string[]; readonly configs: readonly string[] };
}

export interface ToServiceSpecsOptions {
  /** The stack's name; default the file's top-level `name:`. */
  readonly stackName?: string | undefined;
  /** Reads a file the stack names (secrets, configs, env_file), by its path resolved against the stack file's directory. */
  readonly readFile: (file: string) => Uint8Array | string;
}

/** Compose's rule for project names, which become name prefixes. */
const STACK_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
/** SwarmKit's longest name (actors/api NAME_LENGTH_MAX). */
const NAME_LENGTH_MAX = 63;

class Conversion {
  readonly issues: StackIssue[] = [];
  constructor(readonly stack: Stack, readonly stackName: string, private readonly readFileAt: (file: string) => Uint8Array | string) {}

  problem(at: Position | undefined, keyPath: KeyPath, message: string): void {
    this.issues.push({ file: this.stack.file, ...(at === undefined ? {} : { line: at.line, col: at.col }), path: formatPath(keyPath), message });
  }

  /** A path the file gives, resolved against the stack file's directory. */
  resolvePath(file: string): string {
    return path.resolve(this.stack.dir, file);
  }

  read(file: string, at: Position, keyPath: KeyPath): Uint8Array | undefined {
    const resolved = this.resolvePath(file);
    try {
      const data = this.readFileAt(resolved);
      return typeof data === 'string' ? new TextEncoder().encode(data) : data;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.problem(at, keyPath, `cannot read ${resolved}${code === undefined ? `: ${(error as Error).message}` : ` (${code})`}`);
      return undefined;
    }
  }

  fullName(name: string): string {
    return `${this.stackName}_${name}`;
  }

  blobName(blob: StackBlob): string {
    return blob.name ?? (blob.external ? blob.key : this.fullName(blob.key));
  }

  /** An env_file: `KEY=VALUE` lines, `#` comments and blank lines; a bare `KEY` stays bare (as in environment:). */
  envFile(service: StackService, envFile: StackService['envFiles'][number], keyPath: KeyPath): string[] {
    const data = this.read(envFile.path, envFile.at, keyPath);
    if (data === undefined) return [];
    const entries: string[] = [];
    new TextDecoder().decode(data).split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      if (line.startsWith('=') || /\s/.test(line.split('=')[0]!)) {
        this.issues.push({ file: this.resolvePath(envFile.path), line: i + 1, path: '', message: `${JSON.stringify(line)} is not KEY=VALUE (in the env_file of service ${service.name})` });
        return;
      }
      entries.push(line);
    });
    return entries;
  }

  /** env_file first, then environment; a later KEY replaces an earlier one; sorted, as the docker CLI sends them. */
  env(service: StackService): string[] {
    const byKey = new Map<string, string>();
    const keyOf = (entry: string): string => (entry.includes('=') ? entry.slice(0, entry.indexOf('=')) : entry);
    service.envFiles.forEach((envFile, i) => {
      const listed = service.envFiles.length > 1;
      for (const entry of this.envFile(service, envFile, ['services', service.name, 'env_file', ...(listed ? [i] : [])])) byKey.set(keyOf(entry), entry);
    });
    for (const entry of service.environment) byKey.set(keyOf(entry), entry);
    return [...byKey.values()].sort();
  }

  service(s: StackService): DockerServiceSpecJson {
    const name = this.fullName(s.name);
    if (name.length > NAME_LENGTH_MAX) this.problem(s.at, ['services', s.name], `the service's name in the cluster, '${name}', is longer than ${NAME_LENGTH_MAX} characters`);
    const namespace = { [STACK_NAMESPACE_LABEL]: this.stackName };
    const onHost = s.runtime === 'process';
    // docker stack deploy: entrypoint replaces the image's (Command), command its arguments (Args).
    // A process has no image: its command line is Command (first word) and Args, as service create --runtime process writes it.
    const line = s.entrypoint === undefined ? undefined : [...s.entrypoint, ...(s.command ?? [])];
    const commandArgs = onHost
      ? { Command: [(line ?? s.command!)[0]!], Args: (line ?? s.command!).slice(1) }
      : { ...(s.entrypoint === undefined ? {} : { Command: [...s.entrypoint] }), ...(s.command === undefined ? {} : { Args: [...s.command] }) };
    const fileRef = (kind: 'Secret' | 'Config', ref: StackService['secrets'][number], blobs: readonly StackBlob[]): SpecJson => {
      const blob = blobs.find((b) => b.key === ref.source)!;
      // A secret's file defaults to its key under /run/secrets; a config's to /<key>, as docker stack deploy does.
      const target = ref.target ?? (kind === 'Secret' ? ref.source : `/${ref.source}`);
      return fileReferenceJson(kind, { source: this.blobName(blob), target, uid: ref.uid ?? '0', gid: ref.gid ?? '0', mode: ref.mode ?? 0o444 });
    };
    const d = s.deploy;
    const resources = (r: { cpus?: number | undefined; memory?: number | undefined } | undefined): SpecJson | undefined => (r === undefined ? undefined : {
      ...(r.cpus === undefined ? {} : { NanoCPUs: r.cpus }),
      ...(r.memory === undefined ? {} : { MemoryBytes: r.memory }),
    });
    const limits = resources(d.resources?.limits);
    const reservations = resources(d.resources?.reservations);
    const restart = d.restart_policy;
    const placement = d.placement;
    const update = (u: typeof d.update_config): SpecJson | undefined => (u === undefined ? undefined : {
      ...(u.parallelism === undefined ? {} : { Parallelism: u.parallelism }),
      ...(u.delay === undefined ? {} : { Delay: u.delay }),
      ...(u.failure_action === undefined ? {} : { FailureAction: u.failure_action }),
      ...(u.monitor === undefined ? {} : { Monitor: u.monitor }),
      ...(u.max_failure_ratio === undefined ? {} : { MaxFailureRatio: u.max_failure_ratio }),
      ...(u.order === undefined ? {} : { Order: u.order }),
    });
    const updateConfig = update(d.update_config);
    const rollbackConfig = update(d.rollback_config);
    const containerSpec: SpecJson = {
      Image: onHost ? '' : s.image!,
      Labels: { ...s.labels, ...namespace },
      ...commandArgs,
      Env: this.env(s),
      ...(s.workingDir === undefined ? {} : { Dir: onHost ? this.resolvePath(s.workingDir) : s.workingDir }),
      ...(s.user === undefined ? {} : { User: s.user }),
      ...(s.hostname === undefined ? {} : { Hostname: s.hostname }),
      ...(s.stopSignal === undefined ? {} : { StopSignal: s.stopSignal }),
      ...(s.stopGracePeriodNs === undefined ? {} : { StopGracePeriod: s.stopGracePeriodNs }),
      ...(s.healthcheck === undefined ? {} : { Healthcheck: healthcheckJson(s.healthcheck) }),
      ...(s.mounts.length === 0 ? {} : {
        Mounts: s.mounts.map((m) => ({
          Type: m.type,
          // A relative host path is the stack file's directory's; a named volume is the stack's own.
          Source: m.type === 'bind' ? this.resolvePath(m.source) : m.type === 'volume' && m.source !== '' ? this.fullName(m.source) : m.source,
          Target: m.target,
          ReadOnly: m.readOnly,
        })),
      }),
      ...(s.secrets.length === 0 ? {} : { Secrets: s.secrets.map((ref) => fileRef('Secret', ref, this.stack.secrets)) }),
      ...(s.configs.length === 0 ? {} : { Configs: s.configs.map((ref) => fileRef('Config', ref, this.stack.configs)) }),
    };
    const taskTemplate: SpecJson = {
      ContainerSpec: containerSpec,
      ...(limits === undefined && reservations === undefined ? {} : { Resources: { ...(limits === undefined ? {} : { Limits: limits }), ...(reservations === undefined ? {} : { Reservations: reservations }) } }),
      ...(restart === undefined ? {} : {
        RestartPolicy: {
          ...(restart.condition === undefined ? {} : { Condition: restart.condition }),
          ...(restart.delay === undefined ? {} : { Delay: restart.delay }),
          ...(restart.max_attempts === undefined ? {} : { MaxAttempts: restart.max_attempts }),
          ...(restart.window === undefined ? {} : { Window: restart.window }),
        },
      }),
      ...(placement === undefined ? {} : {
        Placement: {
          ...(placement.constraints === undefined ? {} : { Constraints: [...placement.constraints] }),
          ...(placement.preferences === undefined ? {} : { Preferences: placement.preferences.map((p) => ({ Spread: { SpreadDescriptor: p.spread } })) }),
          ...(placement.max_replicas_per_node === undefined ? {} : { MaxReplicas: placement.max_replicas_per_node }),
        },
      }),
      ...(onHost ? { Runtime: 'process' } : {}),
    };
    return {
      Name: name,
      Labels: { ...(d.labels ?? {}), ...namespace },
      TaskTemplate: taskTemplate,
      Mode: modeJson(s.mode, d.replicas),
      ...(updateConfig === undefined ? {} : { UpdateConfig: updateConfig }),
      ...(rollbackConfig === undefined ? {} : { RollbackConfig: rollbackConfig }),
      ...(s.ports.length === 0 ? {} : {
        EndpointSpec: {
          Ports: s.ports.map((p) => ({ ...(p.name === undefined ? {} : { Name: p.name }), Protocol: p.protocol, TargetPort: p.target, PublishedPort: p.published, PublishMode: p.mode })),
        },
      }),
      ...(s.dependsOn.length === 0 ? {} : { DependsOn: s.dependsOn.map((dep) => ({ Service: this.fullName(dep.service), Condition: dep.condition })) }),
    };
  }

  blobs(kind: 'secret' | 'config', blobs: readonly StackBlob[]): DockerBlobSpecJson[] {
    const out: DockerBlobSpecJson[] = [];
    for (const blob of blobs) {
      if (blob.external) continue;
      const keyPath = [`${kind}s`, blob.key, 'file'];
      const data = this.read(blob.file!, blob.at, keyPath);
      if (data === undefined) continue;
      try {
        checkBlobSize(kind, data.byteLength);
      } catch (error) {
        if (!(error instanceof BlobTooLargeError)) throw error;
        this.problem(blob.at, keyPath, `${this.resolvePath(blob.file!)} holds ${data.byteLength} bytes, over the limit of ${error.sizeBytesMax / 1024} KiB for a ${kind}`);
        continue;
      }
      out.push({ Name: this.blobName(blob), Labels: { [STACK_NAMESPACE_LABEL]: this.stackName }, Data: Buffer.from(data).toString('base64') });
    }
    return out;
  }
}

/**
 * Converts a parsed stack to the API's bodies. Reads the files it names (secrets, configs,
 * env_file) through `readFile`. Throws a StackError naming every problem (a file that cannot be
 * read, a name too long, no stack name).
 */
export function toServiceSpecs(stack: Stack, options: ToServiceSpecsOptions): StackSpecs {
  const stackName = options.stackName ?? stack.name;
  if (stackName === undefined) {
    throw new StackError([{ file: stack.file, path: 'name', message: 'the stack has no name: give one (swarm up names it after its directory) or set name: in the file' }]);
  }
  if (!STACK_NAME_PATTERN.test(stackName)) {
    throw new StackError([{ file: stack.file, path: 'name', message: `'${stackName}' is not a stack name (lower-case letters, digits, - and _, starting with a letter or digit)` }]);
  }
  const conversion = new Conversion(stack, stackName, options.readFile);
  const services = stack.services.map((s) => conversion.service(s));
  const secrets = conversion.blobs('secret', stack.secrets);
  const configs = conversion.blobs('config', stack.configs);
  if (conversion.issues.length > 0) throw new StackError(conversion.issues);
  const used = (kind: 'secrets' | 'configs'): string[] => {
    const names = stack.services.flatMap((s) => s[kind].map((ref) => stack[kind].find((b) => b.key === ref.source)!)).filter((b) => b.external).map((b) => conversion.blobName(b));
    return [...new Set(names)];
  };
  return { stackName, services, secrets, configs, external: { secrets: used('secrets'), configs: used('configs') } };
}

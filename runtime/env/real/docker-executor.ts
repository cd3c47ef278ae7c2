// The Docker executor: the Executor seam (runtime/env/types.ts) over a Docker engine, reached by
// its HTTP API on a unix socket through dockerode. A workload is one container:
//
//   name     <namePrefix><id>  ('swarm-<id>' by default): the executor finds a workload by name
//   labels   the spec's labels, then com.swarm.workload.id=<id> and com.swarm.node.id=<nodeId>:
//            list() asks the engine for the containers with both, so that a new executor (the
//            agent restarted) finds and adopts what the last one left running
//   network  the host's ('host' by default): workloads listen on the node's own addresses
//
// prepare = the image present or pulled, the container created, the spec's files (secrets and
// configs) written into it; start, wait, stop and remove are the engine's own verbs. The engine
// keeps every workload's state (an exit code survives an agent restart), so this class holds
// nothing but a client: any number of instances may share one engine.
//
// Command line as Docker services: a non-empty command replaces the image's entrypoint (and the
// args are its CMD); with no command the args replace the image's CMD under its entrypoint.
//
// Files are put into the created container as an in-memory tar (putArchive) with their mode and
// owner, before the start: their bytes go from this process to the engine and nowhere else, are
// never in an error message or the container's config (inspect does not show them). Unlike
// SwarmKit's tmpfs-mounted secrets they sit in the container's writable layer, on the engine's
// disk, until the container is removed.
//
// Errors: an engine that cannot be reached is FAILED with a message naming the socket; a pull that
// fails and a spec the engine refuses at create (400) are REJECTED with the engine's own words;
// anything else the engine says is FAILED.
import Docker from 'dockerode';
import { StringDecoder } from 'node:string_decoder';
import { pack as tarPack } from 'tar-stream';
import {
  ExecutorError, type Executor, type ExecutorExit, type ExecutorFile, type ExecutorHealth, type ExecutorLogLine, type ExecutorLogsOptions, type ExecutorSpec, type ExecutorWorkload,
} from '../types.js';

/** The label every workload of this executor carries: its id. */
export const WORKLOAD_ID_LABEL = 'com.swarm.workload.id';
/** The label naming the node whose executor created the workload. */
export const NODE_ID_LABEL = 'com.swarm.node.id';

const DEFAULT_SOCKET_PATH = '/var/run/docker.sock';
const DEFAULT_NAME_PREFIX = 'swarm-';
const DEFAULT_NETWORK_MODE = 'host';
const DEFAULT_PULL_TIMEOUT_MS = 300_000;
const DEFAULT_CREATED_POLL_MS = 200;
/** A workload id is part of a container name: [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
const SAFE_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
/** Socket-level errors that mean the engine is not there (or not ours to use). */
const UNREACHABLE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ECONNRESET', 'EPIPE', 'ENOTSOCK', 'ETIMEDOUT']);
const NS_PER_MS = 1_000_000;

export interface DockerExecutorOptions {
  /** The node whose workloads these are: the value of com.swarm.node.id, and what list() filters by. */
  readonly nodeId: string;
  /** The engine's socket, as a path or unix:// URL. Default: DOCKER_HOST when it is unix://..., else /var/run/docker.sock. */
  readonly socketPath?: string;
  /** Container names are this prefix and the workload id. Default 'swarm-'. */
  readonly namePrefix?: string;
  /** HostConfig.NetworkMode of every workload. Default 'host'. */
  readonly networkMode?: string;
  /** How long a pull may take before prepare gives up (REJECTED). Default 300 s. */
  readonly pullTimeoutMs?: number;
  /** How often wait() looks at a workload that is created but not started yet. Default 200 ms. */
  readonly createdPollMs?: number;
}

/** The part of dockerode's errors this file reads. */
interface EngineError {
  readonly message?: string;
  readonly statusCode?: number;
  readonly code?: string;
  readonly json?: unknown;
}

export class DockerExecutor implements Executor {
  /** The engine's socket path (not a URL). */
  readonly socketPath: string;
  readonly nodeId: string;
  private readonly namePrefix: string;
  private readonly networkMode: string;
  private readonly pullTimeoutMs: number;
  private readonly createdPollMs: number;
  private readonly docker: Docker;

  constructor(options: DockerExecutorOptions) {
    this.socketPath = socketPathOf(options.socketPath ?? defaultSocket());
    this.nodeId = options.nodeId;
    this.namePrefix = options.namePrefix ?? DEFAULT_NAME_PREFIX;
    this.networkMode = options.networkMode ?? DEFAULT_NETWORK_MODE;
    this.pullTimeoutMs = options.pullTimeoutMs ?? DEFAULT_PULL_TIMEOUT_MS;
    this.createdPollMs = options.createdPollMs ?? DEFAULT_CREATED_POLL_MS;
    if (this.nodeId === '') throw new RangeError('DockerExecutor: nodeId must not be empty');
    if (!(Number.isInteger(this.pullTimeoutMs) && this.pullTimeoutMs > 0)) throw new RangeError(`DockerExecutor: pullTimeoutMs must be a positive integer, got ${this.pullTimeoutMs}`);
    if (!(Number.isInteger(this.createdPollMs) && this.createdPollMs > 0)) throw new RangeError(`DockerExecutor: createdPollMs must be a positive integer, got ${this.createdPollMs}`);
    this.docker = new Docker({ socketPath: this.socketPath });
  }

  /** The engine's labels (`dockerd --label k=v`), for the node's description: what `engine.labels.*` constraints match. */
  async engineLabels(): Promise<Record<string, string>> {
    let info: { Labels?: unknown };
    try {
      info = (await this.docker.info()) as { Labels?: unknown };
    } catch (error) {
      throw this.engineFailure(error, 'reading its labels', 'FAILED');
    }
    const labels: Record<string, string> = {};
    for (const label of Array.isArray(info.Labels) ? info.Labels : []) {
      if (typeof label !== 'string') continue;
      const at = label.indexOf('=');
      if (at < 0) labels[label] = '';
      else labels[label.slice(0, at)] = label.slice(at + 1);
    }
    return labels;
  }

  async prepare(spec: ExecutorSpec): Promise<void> {
    if (!SAFE_ID.test(spec.id)) throw new ExecutorError('REJECTED', `a workload id must be letters, digits, '_', '-' or '.' (not first), got '${spec.id}'`);
    for (const file of spec.files ?? []) archivePathOf(file);
    // Prepared before (perhaps by an executor before an agent restart): it is here.
    if (this.isOurs(spec.id, await this.inspectOrNull(spec.id))) return;
    await this.ensureImage(spec.image);
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(this.createOptionsOf(spec));
    } catch (error) {
      // Created meanwhile by a concurrent prepare.
      if (statusOf(error) === 409 && this.isOurs(spec.id, await this.inspectOrNull(spec.id))) return;
      throw this.engineFailure(error, `creating the container of ${spec.id}`, statusOf(error) === 400 || statusOf(error) === 404 ? 'REJECTED' : 'FAILED');
    }
    if (spec.files !== undefined && spec.files.length > 0) {
      try {
        await container.putArchive(await archiveOf(spec.files), { path: '/' });
      } catch (error) {
        await container.remove({ force: true, v: true }).catch(() => undefined);
        throw this.engineFailure(error, `writing the files of ${spec.id}`, 'FAILED');
      }
    }
  }

  async start(id: string): Promise<void> {
    const info = await this.inspect(id);
    if (isRunning(info)) return;
    if (exitCodeOf(info) !== null) throw new ExecutorError('FAILED', `workload ${id} has exited; it is not started again`);
    try {
      await this.container(id).start();
    } catch (error) {
      if (statusOf(error) === 304) return; // Started meanwhile.
      throw this.engineFailure(error, `starting ${id}`, 'FAILED');
    }
  }

  async wait(id: string): Promise<ExecutorExit> {
    for (;;) {
      const info = await this.inspect(id);
      const exitCode = exitCodeOf(info);
      if (exitCode !== null) return { exitCode, message: exitMessageOf(info) };
      if (info.State.Status === 'created') {
        // The engine's wait counts a created container as 'not running' already, and its
        // 'next-exit' would miss an exit between this look and the wait: look again later.
        await new Promise<void>((resolve) => setTimeout(resolve, this.createdPollMs));
        continue;
      }
      try {
        await this.container(id).wait({ condition: 'not-running' });
      } catch (error) {
        throw this.engineFailure(error, `waiting for ${id}`, 'FAILED', id);
      }
    }
  }

  async stop(id: string, graceMs: number): Promise<void> {
    if (!(graceMs >= 0)) throw new RangeError(`DockerExecutor.stop: graceMs must be >= 0, got ${graceMs}`);
    try {
      // The engine sends the container's stop signal, kills after t seconds, and answers once it has stopped.
      await this.container(id).stop({ t: Math.ceil(graceMs / 1000) });
    } catch (error) {
      if (statusOf(error) === 304) return; // Not running: nothing to do.
      throw this.engineFailure(error, `stopping ${id}`, 'FAILED', id);
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.container(id).remove({ force: true, v: true });
    } catch (error) {
      const status = statusOf(error);
      if (status === 404) return; // Absent: removed already.
      if (status === 409 && /already in progress/.test(engineMessageOf(error))) return;
      throw this.engineFailure(error, `removing ${id}`, 'FAILED');
    }
  }

  async list(): Promise<ExecutorWorkload[]> {
    let containers: Docker.ContainerInfo[];
    try {
      containers = await this.docker.listContainers({ all: true, filters: { label: [WORKLOAD_ID_LABEL, `${NODE_ID_LABEL}=${this.nodeId}`] } });
    } catch (error) {
      throw this.engineFailure(error, 'listing the workloads', 'FAILED');
    }
    const workloads = await Promise.all(containers.map(async (c): Promise<ExecutorWorkload | null> => {
      const id = c.Labels[WORKLOAD_ID_LABEL] as string;
      if (c.State === 'running' || c.State === 'paused' || c.State === 'restarting') return { id, running: true, exitCode: null };
      // The list has no exit codes: the ones that ended are inspected.
      const info = await this.inspectOrNull(id);
      return info === null ? null : { id, running: isRunning(info), exitCode: exitCodeOf(info) };
    }));
    return workloads.filter((w): w is ExecutorWorkload => w !== null).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async health(id: string): Promise<ExecutorHealth> {
    const info = await this.inspect(id);
    const status = info.State.Health?.Status;
    if (status === undefined || status === '' || status === 'none') {
      // Not started yet, or no check: the config says which.
      const test = info.Config.Healthcheck?.Test ?? [];
      return test.length === 0 || test[0] === 'NONE' ? 'none' : 'starting';
    }
    if (status === 'starting' || status === 'healthy' || status === 'unhealthy') return status;
    throw new ExecutorError('FAILED', `workload ${id}: the engine reports an unknown health status '${status}'`);
  }

  async *logs(id: string, options: ExecutorLogsOptions): AsyncIterable<ExecutorLogLine> {
    if (options.tail !== undefined && !(Number.isInteger(options.tail) && options.tail >= 0)) throw new RangeError(`DockerExecutor.logs: tail must be an integer >= 0, got ${options.tail}`);
    const request = { stdout: true, stderr: true, ...(options.tail === undefined ? {} : { tail: options.tail }) };
    let source: AsyncIterable<Buffer> | Iterable<Buffer>;
    try {
      source = options.follow
        ? ((await this.container(id).logs({ ...request, follow: true })) as AsyncIterable<Buffer>)
        : [await this.container(id).logs({ ...request, follow: false })];
    } catch (error) {
      throw this.engineFailure(error, `reading the logs of ${id}`, 'FAILED', id);
    }
    // A `break` by the consumer returns the iterator of the response stream, which destroys it.
    yield* demultiplex(source);
    if (!options.follow) return;
    // The engine closes the stream when the output closes, a moment before it records the exit:
    // the iteration ends once the exit is recorded (a removed container has ended too).
    try {
      await this.container(id).wait({ condition: 'not-running' });
    } catch (error) {
      if (statusOf(error) !== 404) throw this.engineFailure(error, `waiting for ${id}`, 'FAILED', id);
    }
  }

  /** The name of a workload's container. */
  nameOf(id: string): string {
    return `${this.namePrefix}${id}`;
  }

  /** What the engine knows of a workload's container (for tests and inspection); null if absent. */
  inspectWorkload(id: string): Promise<Docker.ContainerInspectInfo | null> {
    return this.inspectOrNull(id);
  }

  // ---- the engine ------------------------------------------------------------------------------

  /** The container exists and is this node's workload; one of another node under the name is FAILED. */
  private isOurs(id: string, info: Docker.ContainerInspectInfo | null): boolean {
    if (info === null) return false;
    if (info.Config.Labels?.[NODE_ID_LABEL] !== this.nodeId) throw new ExecutorError('FAILED', `container ${this.nameOf(id)} exists but is not a workload of node ${this.nodeId}`);
    return true;
  }

  private container(id: string): Docker.Container {
    return this.docker.getContainer(this.nameOf(id));
  }

  private async inspect(id: string): Promise<Docker.ContainerInspectInfo> {
    const info = await this.inspectOrNull(id);
    if (info === null) throw new ExecutorError('FAILED', `no such workload: ${id}`);
    return info;
  }

  private async inspectOrNull(id: string): Promise<Docker.ContainerInspectInfo | null> {
    try {
      return await this.container(id).inspect();
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw this.engineFailure(error, `inspecting ${id}`, 'FAILED');
    }
  }

  /** The image is here, or pulled; REJECTED with the engine's words when the pull fails. */
  private async ensureImage(image: string): Promise<void> {
    if (image === '') throw new ExecutorError('REJECTED', 'a container task needs an image');
    try {
      await this.docker.getImage(image).inspect();
      return;
    } catch (error) {
      if (statusOf(error) !== 404) throw this.engineFailure(error, `inspecting the image ${image}`, 'FAILED');
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const abort = new AbortController();
    try {
      await Promise.race([
        this.pull(image, abort.signal),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            abort.abort();
            reject(new ExecutorError('REJECTED', `pulling ${image} did not finish within ${this.pullTimeoutMs} ms`));
          }, this.pullTimeoutMs);
        }),
      ]);
    } catch (error) {
      if (error instanceof ExecutorError) throw error;
      throw this.engineFailure(error, `pulling ${image}`, 'REJECTED');
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  /** A pull to its end: the engine reports a failure either as the response's status or inside the progress stream. */
  private async pull(image: string, abortSignal: AbortSignal): Promise<void> {
    const stream = (await this.docker.pull(image, { abortSignal })) as NodeJS.ReadableStream;
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(stream, (error: Error | null) => (error === null ? resolve() : reject(error)));
    });
  }

  private createOptionsOf(spec: ExecutorSpec): Docker.ContainerCreateOptions {
    const limits = spec.resources?.limits;
    const reservations = spec.resources?.reservations;
    const hostConfig: Docker.HostConfig = { NetworkMode: this.networkMode };
    if (limits !== undefined && limits.nanoCpus > 0) hostConfig.NanoCpus = limits.nanoCpus;
    if (limits !== undefined && limits.memoryBytes > 0) hostConfig.Memory = limits.memoryBytes;
    // A CPU reservation is the scheduler's alone: the engine has nothing to keep for it.
    if (reservations !== undefined && reservations.memoryBytes > 0) hostConfig.MemoryReservation = reservations.memoryBytes;
    if (spec.mounts !== undefined && spec.mounts.length > 0) {
      hostConfig.Mounts = spec.mounts.map((m) => ({ Type: m.type, Source: m.source, Target: m.target, ReadOnly: m.readOnly }));
    }
    const options: Docker.ContainerCreateOptions = {
      name: this.nameOf(spec.id),
      Image: spec.image,
      Env: [...spec.env],
      Labels: { ...spec.labels, [WORKLOAD_ID_LABEL]: spec.id, [NODE_ID_LABEL]: this.nodeId },
      StopTimeout: Math.ceil(spec.stopGraceMs / 1000),
      HostConfig: hostConfig,
    };
    if (spec.command.length > 0) options.Entrypoint = [...spec.command];
    if (spec.args.length > 0) options.Cmd = [...spec.args];
    if (spec.stopSignal !== undefined && spec.stopSignal !== '') options.StopSignal = spec.stopSignal;
    if (spec.workingDir !== undefined && spec.workingDir !== '') options.WorkingDir = spec.workingDir;
    if (spec.user !== undefined && spec.user !== '') options.User = spec.user;
    if (spec.hostname !== undefined && spec.hostname !== '') options.Hostname = spec.hostname;
    const check = spec.healthcheck;
    if (check !== undefined) {
      options.Healthcheck = {
        Test: [...check.test], Interval: check.intervalMs * NS_PER_MS, Timeout: check.timeoutMs * NS_PER_MS, Retries: check.retries, StartPeriod: check.startPeriodMs * NS_PER_MS,
      };
    }
    return options;
  }

  /** An engine's error as an ExecutorError: unreachable engines are FAILED, naming the socket. */
  private engineFailure(error: unknown, what: string, code: 'REJECTED' | 'FAILED', id?: string): ExecutorError {
    const errno = (error as EngineError | null)?.code;
    if (errno !== undefined && UNREACHABLE_CODES.has(errno)) {
      return new ExecutorError('FAILED', `cannot reach the Docker engine at unix://${this.socketPath} (${what}): ${(error as Error).message}`, { cause: error });
    }
    if (id !== undefined && statusOf(error) === 404) return new ExecutorError('FAILED', `no such workload: ${id}`, { cause: error });
    return new ExecutorError(code, engineMessageOf(error), { cause: error });
  }
}

// ---- the engine's answers ------------------------------------------------------------------------

function defaultSocket(): string {
  const host = process.env['DOCKER_HOST'];
  return host !== undefined && host.startsWith('unix://') ? host : DEFAULT_SOCKET_PATH;
}

function socketPathOf(socket: string): string {
  const file = socket.startsWith('unix://') ? socket.slice('unix://'.length) : socket;
  if (!file.startsWith('/')) throw new RangeError(`DockerExecutor: socketPath must be an absolute path or a unix:// URL, got '${socket}'`);
  return file;
}

function statusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null ? (error as EngineError).statusCode : undefined;
}

/** The engine's own words: its JSON message, else dockerode's message without its '(HTTP code n) reason - ' prefix. */
function engineMessageOf(error: unknown): string {
  const json = (error as EngineError | null)?.json;
  if (typeof json === 'object' && json !== null && typeof (json as { message?: unknown }).message === 'string') return (json as { message: string }).message;
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
}

function isRunning(info: Docker.ContainerInspectInfo): boolean {
  return info.State.Running || info.State.Restarting || info.State.Paused;
}

/** null until the container has run and exited (or failed to start: the engine gives that an exit code too). */
function exitCodeOf(info: Docker.ContainerInspectInfo): number | null {
  if (isRunning(info)) return null;
  if (info.State.Status === 'created') return info.State.ExitCode !== 0 || info.State.Error !== '' ? info.State.ExitCode : null;
  return info.State.ExitCode;
}

function exitMessageOf(info: Docker.ContainerInspectInfo): string {
  if (info.State.Error !== '') return info.State.Error;
  return info.State.OOMKilled ? 'killed: out of memory' : '';
}

// ---- files -------------------------------------------------------------------------------------

/** The file's path inside the archive (relative to '/'), or REJECTED. The data is never part of a message. */
function archivePathOf(file: ExecutorFile): string {
  const parts = file.target.split('/').filter((p) => p !== '');
  if (!file.target.startsWith('/') || parts.length === 0 || parts.some((p) => p === '.' || p === '..')) throw new ExecutorError('REJECTED', `a file's target must be an absolute path to a file, got '${file.target}'`);
  if (!(Number.isInteger(file.mode) && file.mode >= 0 && file.mode <= 0o7777)) throw new ExecutorError('REJECTED', `file ${file.target}: invalid mode ${file.mode}`);
  for (const id of [file.uid, file.gid]) {
    if (id !== undefined && !/^[0-9]{1,10}$/.test(id)) throw new ExecutorError('REJECTED', `file ${file.target}: uid and gid must be numeric, got '${id}'`);
  }
  return parts.join('/');
}

/** An in-memory tar of the files; the engine creates missing parent directories (0755). */
async function archiveOf(files: readonly ExecutorFile[]): Promise<Buffer> {
  const pack = tarPack();
  for (const file of files) {
    pack.entry({ name: archivePathOf(file), mode: file.mode, uid: Number(file.uid ?? '0'), gid: Number(file.gid ?? '0'), type: 'file' }, Buffer.from(file.data));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

// ---- logs --------------------------------------------------------------------------------------

/**
 * Docker's multiplexed log stream as lines: each frame is an 8-byte header (the stream: 1 stdout,
 * 2 stderr; 3 zero bytes; the payload's length, big-endian) and the payload. A line may span
 * frames (the engine splits long lines), so each stream keeps its own unfinished line.
 */
export async function* demultiplex(chunks: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>): AsyncGenerator<ExecutorLogLine> {
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  const partial = { stdout: '', stderr: '' };
  let pending = Buffer.alloc(0);
  for await (const chunk of chunks) {
    pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const kind = pending[0];
      const payload = pending.subarray(8, 8 + size);
      pending = pending.subarray(8 + size);
      if (kind !== 1 && kind !== 2) continue; // stdin echo (0) or a system error (3): not the workload's output
      const stream = kind === 1 ? 'stdout' : 'stderr';
      const lines = (partial[stream] + decoders[stream].write(payload)).split('\n');
      partial[stream] = lines.pop() as string;
      for (const line of lines) yield { stream, line };
    }
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    const rest = partial[stream] + decoders[stream].end();
    if (rest !== '') yield { stream, line: rest };
  }
}

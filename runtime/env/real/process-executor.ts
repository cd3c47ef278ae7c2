// The process executor: the Executor seam (runtime/env/types.ts) over plain OS processes, the
// second executor of DESIGN.md section 1 beside the container engine. A workload is a command run
// in its own directory under the executor's base directory:
//
//   <baseDir>/<id>/             the process's working directory
//   <baseDir>/<id>/stdout.log   its standard output, appended (kept for logs)
//   <baseDir>/<id>/stderr.log   its standard error, appended
//   <baseDir>/<id>/workload.json  the executor's record: the spec, the pid, how it ended
//
// The command line is the spec's command, then its args (the image is not used). Each process is
// spawned detached, as the leader of its own process group (a session of its own), and every
// signal goes to the group: what the command starts dies with it. When the leader exits, whatever
// is left of its group is killed, as a container's processes die with its init.
//
// Workloads outlive the executor, as containers outlive an agent: the record lets a new executor
// on the same base directory (the node restarted) find them again. A process still running then
// is adopted: it can be stopped and removed as before, but it is not this process's child, so its
// exit is noticed by polling and its exit status is lost (EXIT_CODE_UNKNOWN).
//
// A spec's health check runs as Docker runs a container's (process-health.ts): its command in the
// workload's environment and working directory, every interval from the start until the workload
// exits or is stopped or removed, and health() says 'starting', 'healthy' or 'unhealthy' ('none'
// without a check). The check is part of the spec in the record, so an adopted workload is checked
// again, from 'starting', its start period counted from its original start. No check process
// outlives its workload, nor close().
//
// A spec's image, resources, mounts and files are not honoured: a process has no image, limits or
// filesystem of its own here. Files (secrets) are dropped at prepare, never written to the record.
// logs() reads stdout.log and stderr.log (tail, and follow by polling).
//
// POSIX only (process groups and signals); the pid-reuse check reads /proc where there is one.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, fstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { ExecutorError, type Executor, type ExecutorExit, type ExecutorHealth, type ExecutorLogLine, type ExecutorLogsOptions, type ExecutorSpec, type ExecutorWorkload } from '../types.js';
import { HealthMonitor, healthPlanOf, type HealthResult } from './process-health.js';

/** What a shell reports for a process whose exit status nobody could collect (an adopted one that ended). */
export const EXIT_CODE_UNKNOWN = 255;
/** What a shell reports when a command could not be run. */
export const EXIT_CODE_NOT_RUN = 127;

/** What a process task learns of itself from its environment: variable <- the agent's label. */
const TASK_IDENTITY_ENV: ReadonlyArray<readonly [string, string]> = [
  ['SWARM_TASK_ID', 'swarm.task.id'], ['SWARM_TASK_SLOT', 'swarm.task.slot'], ['SWARM_SERVICE_ID', 'swarm.service.id'], ['SWARM_NODE_ID', 'swarm.node.id'],
];
const RECORD_FILE = 'workload.json';
const STDOUT_FILE = 'stdout.log';
const STDERR_FILE = 'stderr.log';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_ADOPTED_POLL_MS = 500;
const DEFAULT_LOGS_POLL_MS = 100;
/** A log file is read in pieces of at most this many bytes. */
const LOG_READ_BYTES_MAX = 64 * 1024;
/** A workload id names a directory: no separators, no dot-names. */
const SAFE_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

export interface ProcessExecutorOptions {
  /** The environment every workload starts from, under its spec's env. Default: this process's PATH and HOME. */
  readonly baseEnv?: Readonly<Record<string, string>>;
  /** How often an adopted workload (not this process's child) is checked for its exit. Default 500 ms. */
  readonly adoptedPollMs?: number;
  /** How often a followed log is read for what was printed since. Default 100 ms. */
  readonly logsPollMs?: number;
}

/** workload.json: what a later executor on the same directory needs to find the workload again. */
interface WorkloadRecord {
  readonly v: 1;
  readonly spec: ExecutorSpec;
  /** The process group leader's pid, once started. */
  readonly pid: number | null;
  /** Its start time (/proc/<pid>/stat field 22), to tell it from a later process given the same pid. */
  readonly startTicks: string | null;
  /** When it started, in ms since the epoch: a health check's start period counts from it. Absent in records of older executors. */
  readonly startedAtMs?: number | null;
  readonly exitCode: number | null;
  readonly exitMessage: string;
}

type WorkloadState = 'created' | 'running' | 'exited';

interface Workload {
  readonly id: string;
  readonly dir: string;
  readonly spec: ExecutorSpec;
  state: WorkloadState;
  pid: number | null;
  startTicks: string | null;
  startedAtMs: number | null;
  /** The spec's health check, when it has one: runs from the start until the end (or a stop). */
  readonly health: HealthMonitor | undefined;
  /** The child, if this executor spawned it; undefined for one adopted from an earlier run. */
  child: ChildProcess | undefined;
  exitCode: number | null;
  exitMessage: string;
  waiters: Array<(exit: ExecutorExit) => void>;
  /** The stop in progress: the signal sent, its kill timer, and who waits for the end. */
  stopping: { readonly signal: NodeJS.Signals; killed: boolean; timer: ReturnType<typeof setTimeout> | undefined; readonly done: Promise<void> } | undefined;
  pollTimer: ReturnType<typeof setTimeout> | undefined;
}

export class ProcessExecutor implements Executor {
  readonly baseDir: string;
  private readonly baseEnv: Readonly<Record<string, string>>;
  private readonly adoptedPollMs: number;
  private readonly logsPollMs: number;
  private readonly held = new Map<string, Workload>();
  private loaded = false;
  private closed = false;

  /** `baseDir` holds one directory per workload; it is created if missing, and what it holds is adopted. */
  constructor(baseDir: string, options: ProcessExecutorOptions = {}) {
    this.baseDir = path.resolve(baseDir);
    this.baseEnv = options.baseEnv ?? { PATH: process.env['PATH'] ?? DEFAULT_PATH, ...(process.env['HOME'] === undefined ? {} : { HOME: process.env['HOME'] }) };
    this.adoptedPollMs = options.adoptedPollMs ?? DEFAULT_ADOPTED_POLL_MS;
    this.logsPollMs = options.logsPollMs ?? DEFAULT_LOGS_POLL_MS;
    if (!(Number.isInteger(this.adoptedPollMs) && this.adoptedPollMs > 0)) throw new RangeError(`ProcessExecutor: adoptedPollMs must be a positive integer, got ${this.adoptedPollMs}`);
    if (!(Number.isInteger(this.logsPollMs) && this.logsPollMs > 0)) throw new RangeError(`ProcessExecutor: logsPollMs must be a positive integer, got ${this.logsPollMs}`);
  }

  async prepare(spec: ExecutorSpec): Promise<void> {
    this.load();
    if (!SAFE_ID.test(spec.id)) throw new ExecutorError('REJECTED', `a workload id must be letters, digits, '_', '-' or '.' (not first), got '${spec.id}'`);
    if (this.held.has(spec.id)) return; // Prepared before: it is here.
    const dir = path.join(this.baseDir, spec.id);
    // Files (secrets, configs) have nowhere to go and must not reach the record on disk.
    const { files: _files, ...kept } = spec;
    const copy: ExecutorSpec = structuredClone(kept);
    const workingDir = copy.workingDir !== undefined && copy.workingDir !== '' ? copy.workingDir : undefined;
    if (workingDir !== undefined && !isDirectory(workingDir)) throw new ExecutorError('REJECTED', `working directory ${workingDir} is not a directory on this node`);
    this.resolve(copy, workingDir ?? dir);
    if (copy.stopSignal !== undefined && copy.stopSignal !== '') signalOf(copy.stopSignal);
    const health = this.monitorOf(copy, dir, healthPlanOf(copy.healthcheck));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const workload: Workload = {
      id: copy.id, dir, spec: copy, state: 'created', pid: null, startTicks: null, startedAtMs: null, health, child: undefined, exitCode: null, exitMessage: '', waiters: [], stopping: undefined, pollTimer: undefined,
    };
    this.held.set(copy.id, workload);
    this.save(workload);
  }

  async start(id: string): Promise<void> {
    const workload = this.workload(id);
    if (workload.state === 'running') return;
    if (workload.state === 'exited') throw new ExecutorError('FAILED', `workload ${id} has exited; it is not started again`);
    const cwd = cwdOf(workload.spec, workload.dir);
    const executable = this.resolve(workload.spec, cwd);
    const [argv0, ...rest] = argvOf(workload.spec);
    const out = openSync(path.join(workload.dir, STDOUT_FILE), 'a', 0o600);
    const err = openSync(path.join(workload.dir, STDERR_FILE), 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(executable, rest, {
        argv0, cwd, env: this.envOf(workload.spec), detached: true, stdio: ['ignore', out, err],
      });
    } catch (error) {
      throw this.notRun(workload, error);
    } finally {
      // The child holds its own copies now.
      closeSync(out);
      closeSync(err);
    }
    // Known at once when the spawn succeeded; an 'error' before 'spawn' says it did not.
    workload.child = child;
    workload.pid = child.pid ?? null;
    child.once('exit', (code, signal) => this.exited(workload, code ?? 128 + signalNumber(signal), code !== null ? exitWords(code) : `killed by ${signal}`));
    await new Promise<void>((resolve, reject) => {
      let spawned = false;
      child.once('spawn', () => {
        spawned = true;
        resolve();
      });
      // Kept for the child's life: a later 'error' (none is expected, signals go by process.kill) must not be unhandled.
      child.on('error', (error) => {
        if (!spawned) reject(this.notRun(workload, error));
      });
    });
    workload.startTicks = workload.pid === null ? null : startTicksOf(workload.pid);
    workload.startedAtMs = Date.now();
    workload.state = 'running';
    this.save(workload);
    workload.health?.start(workload.startedAtMs);
  }

  wait(id: string): Promise<ExecutorExit> {
    let workload: Workload;
    try {
      workload = this.workload(id);
    } catch (error) {
      return Promise.reject(error);
    }
    if (workload.state === 'exited') return Promise.resolve({ exitCode: workload.exitCode as number, message: workload.exitMessage });
    return new Promise((resolve) => workload.waiters.push(resolve));
  }

  async stop(id: string, graceMs: number): Promise<void> {
    if (!(graceMs >= 0)) throw new RangeError(`ProcessExecutor.stop: graceMs must be >= 0, got ${graceMs}`);
    const workload = this.workload(id);
    if (workload.state !== 'running') return;
    if (workload.stopping !== undefined) return workload.stopping.done;
    // A workload on its way out is checked no more.
    workload.health?.stop();
    const signal = workload.spec.stopSignal !== undefined && workload.spec.stopSignal !== '' ? signalOf(workload.spec.stopSignal) : 'SIGTERM';
    const done = new Promise<void>((resolve) => workload.waiters.push(() => resolve()));
    const stopping: NonNullable<Workload['stopping']> = { signal, killed: false, timer: undefined, done };
    workload.stopping = stopping;
    this.signalGroup(workload, signal);
    stopping.timer = setTimeout(() => {
      stopping.timer = undefined;
      if (workload.state !== 'running') return;
      stopping.killed = true;
      this.signalGroup(workload, 'SIGKILL');
    }, graceMs);
    return done;
  }

  async remove(id: string): Promise<void> {
    this.load();
    const workload = this.held.get(id);
    if (workload === undefined) return;
    workload.health?.stop();
    if (workload.state === 'running') {
      // Forced, as `docker rm -f`: a running workload is killed first.
      const gone = new Promise<void>((resolve) => workload.waiters.push(() => resolve()));
      this.signalGroup(workload, 'SIGKILL');
      await gone;
    }
    this.held.delete(id);
    rmSync(workload.dir, { recursive: true, force: true });
  }

  async list(): Promise<ExecutorWorkload[]> {
    this.load();
    return [...this.held.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((w) => ({ id: w.id, running: w.state === 'running', exitCode: w.exitCode }));
  }

  /**
   * The lines of stdout.log and stderr.log. The two files keep no common order, so each is read on
   * its own: stdout's lines come before stderr's of the same read, and `tail` counts each file's
   * lines. Without follow, each file is read up to its end when first opened: lines printed after
   * that are not read (so `tail` gives at most that many lines, and a busy workload's read ends). A follow reads both every `logsPollMs` and ends once the workload has exited (or is
   * removed) and both files are drained. A last line with no line end is given only when the
   * workload had exited: before, it may still be being written.
   */
  async *logs(id: string, options: ExecutorLogsOptions): AsyncIterable<ExecutorLogLine> {
    if (options.tail !== undefined && !(Number.isInteger(options.tail) && options.tail >= 0)) throw new RangeError(`ProcessExecutor.logs: tail must be an integer >= 0, got ${options.tail}`);
    const dir = this.workload(id).dir;
    const readers = [new LogFileReader(path.join(dir, STDOUT_FILE), 'stdout', options), new LogFileReader(path.join(dir, STDERR_FILE), 'stderr', options)];
    const hasExited = (): boolean => {
      const state = this.held.get(id)?.state;
      return state === undefined || state === 'exited';
    };
    // Whether the files were complete when read: without follow, as they were opened (before the
    // first read); with follow, before the last read.
    let exited = hasExited();
    try {
      for (;;) {
        // Looked at before the read: whatever was printed before the exit is in this read or the next.
        if (options.follow) exited = hasExited();
        const last = !options.follow || exited;
        let read = false;
        for (const reader of readers) {
          for (const line of reader.read()) {
            read = true;
            yield line;
          }
        }
        if (read) continue; // More may be waiting: read on before sleeping or ending.
        if (last) break;
        await new Promise<void>((resolve) => setTimeout(resolve, this.logsPollMs));
      }
      // An unfinished last line is the workload's last word once it has exited. While it runs, the
      // line may be half written where the read stopped (a busy workload's read ended mid-line in
      // CI): it is left for a later read.
      if (exited) {
        for (const reader of readers) {
          const rest = reader.rest();
          if (rest !== null) yield rest;
        }
      }
    } finally {
      for (const reader of readers) reader.close();
    }
  }

  /**
   * What the workload's health check says: 'none' without one, 'starting' until its first pass (or
   * before the start), then 'healthy' or 'unhealthy'. After the end of its checks (an exit, a
   * stop), the last word stays.
   */
  async health(id: string): Promise<ExecutorHealth> {
    return this.workload(id).health?.status ?? 'none';
  }

  /** The state of a workload's health check, as `docker inspect` shows it (for tests and inspection); null without one. */
  healthOf(id: string): { readonly status: ExecutorHealth; readonly failingStreak: number; readonly log: readonly HealthResult[]; readonly probePid: number | null } | null {
    const health = this.held.get(id)?.health;
    return health === undefined ? null : { status: health.status, failingStreak: health.failingStreak, log: health.log, probePid: health.probePid };
  }

  /** The pid of a running workload's process group leader (for tests and inspection). */
  pidOf(id: string): number | null {
    const workload = this.held.get(id);
    return workload?.state === 'running' ? workload.pid : null;
  }

  /** The directory of a workload (its working directory and logs). */
  dirOf(id: string): string {
    return path.join(this.baseDir, id);
  }

  /**
   * Stops every running workload (its stop signal, then SIGKILL after its grace, at most
   * `graceMsMax`) and removes them all: the node leaves the swarm.
   */
  async removeAll(graceMsMax: number): Promise<void> {
    this.load();
    await Promise.all([...this.held.values()].map(async (w) => {
      if (w.state === 'running') await this.stop(w.id, Math.min(w.spec.stopGraceMs, graceMsMax));
      await this.remove(w.id);
    }));
  }

  /**
   * Lets go of every workload without stopping it (the node process is about to exit): no timer
   * or child keeps this process alive any more. A later executor on the same directory adopts them.
   */
  close(): void {
    this.closed = true;
    for (const workload of this.held.values()) {
      // A check is this executor's own child: it goes now (the next executor checks again).
      workload.health?.stop();
      if (workload.stopping?.timer !== undefined) clearTimeout(workload.stopping.timer);
      if (workload.pollTimer !== undefined) clearTimeout(workload.pollTimer);
      // Its end is no longer this executor's to record: the next one finds it.
      workload.child?.removeAllListeners('exit');
      workload.child?.unref();
    }
  }

  // ---- the workloads' lives ---------------------------------------------------------------------

  private workload(id: string): Workload {
    this.load();
    const workload = this.held.get(id);
    if (workload === undefined) throw new ExecutorError('FAILED', `no such workload: ${id}`);
    return workload;
  }

  private exited(workload: Workload, exitCode: number, message: string): void {
    if (workload.state === 'exited') return;
    workload.health?.stop();
    const stopping = workload.stopping;
    if (stopping?.timer !== undefined) clearTimeout(stopping.timer);
    if (workload.pollTimer !== undefined) clearTimeout(workload.pollTimer);
    workload.pollTimer = undefined;
    // What the leader left behind in its group goes with it.
    this.signalGroup(workload, 'SIGKILL');
    workload.state = 'exited';
    workload.exitCode = exitCode;
    workload.exitMessage = stopping === undefined ? message : stopping.killed ? 'killed after the stop grace period' : 'stopped';
    workload.stopping = undefined;
    workload.child = undefined;
    if (this.held.get(workload.id) === workload) this.save(workload);
    const waiters = workload.waiters;
    workload.waiters = [];
    for (const resolve of waiters) resolve({ exitCode, message: workload.exitMessage });
  }

  /** A spawn that failed: the workload ends as a shell's command that could not run. */
  private notRun(workload: Workload, error: unknown): ExecutorError {
    const message = `cannot run ${argvOf(workload.spec)[0] ?? ''}: ${(error as Error).message}`;
    this.exited(workload, EXIT_CODE_NOT_RUN, message);
    return new ExecutorError('FAILED', message, { cause: error });
  }

  /** Signals the workload's process group; a group already gone is no error. */
  private signalGroup(workload: Workload, signal: NodeJS.Signals): void {
    if (workload.pid === null) return;
    try {
      process.kill(-workload.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw new ExecutorError('FAILED', `cannot signal workload ${workload.id} (pid ${workload.pid}): ${(error as Error).message}`, { cause: error });
    }
  }

  /** An adopted workload is not our child: its end is noticed by looking, every poll period. */
  private pollAdopted(workload: Workload): void {
    if (this.closed) return;
    workload.pollTimer = setTimeout(() => {
      workload.pollTimer = undefined;
      if (workload.state !== 'running') return;
      if (isAlive(workload.pid as number, workload.startTicks)) return this.pollAdopted(workload);
      const stopping = workload.stopping;
      // Its status went to whoever reaped it: only our own signal tells how it probably ended.
      const exitCode = stopping === undefined ? EXIT_CODE_UNKNOWN : 128 + signalNumber(stopping.killed ? 'SIGKILL' : stopping.signal);
      this.exited(workload, exitCode, 'exited (exit status unknown: the process was adopted from an earlier run of this node)');
    }, this.adoptedPollMs);
  }

  // ---- specs ------------------------------------------------------------------------------------

  /** The executable the spec's argv names, or REJECTED. A name without '/' is looked up on the task's PATH. */
  private resolve(spec: ExecutorSpec, dir: string): string {
    const command = argvOf(spec)[0];
    if (command === undefined || command === '') throw new ExecutorError('REJECTED', 'a process task needs a command');
    if (command.includes('/')) {
      const candidate = path.resolve(dir, command);
      if (!isExecutableFile(candidate)) throw new ExecutorError('REJECTED', `command not found: ${command}`);
      return candidate;
    }
    const searchPath = this.envOf(spec)['PATH'] ?? DEFAULT_PATH;
    for (const entry of searchPath.split(':')) {
      if (entry === '') continue;
      const candidate = path.resolve(entry, command);
      if (isExecutableFile(candidate)) return candidate;
    }
    throw new ExecutorError('REJECTED', `command not found: ${command}`);
  }

  /** A health monitor over the spec's environment and working directory; undefined without a check. */
  private monitorOf(spec: ExecutorSpec, dir: string, plan: ReturnType<typeof healthPlanOf>): HealthMonitor | undefined {
    return plan === null ? undefined : new HealthMonitor(plan, { env: this.envOf(spec), cwd: cwdOf(spec, dir) });
  }

  /**
   * The base environment, the task's identity (as Nomad's NOMAD_ALLOC_INDEX and the like: host
   * processes share the host's ports and files, so a replica needs to know which one it is), then
   * the spec's `KEY=VALUE` entries over them (a bare `KEY` sets nothing, as in Docker).
   */
  private envOf(spec: ExecutorSpec): Record<string, string> {
    const env: Record<string, string> = { ...this.baseEnv };
    for (const [variable, label] of TASK_IDENTITY_ENV) {
      const value = spec.labels[label];
      if (value !== undefined && value !== '') env[variable] = value;
    }
    for (const entry of spec.env) {
      const i = entry.indexOf('=');
      if (i > 0) env[entry.slice(0, i)] = entry.slice(i + 1);
    }
    return env;
  }

  // ---- the records on disk ----------------------------------------------------------------------

  private save(workload: Workload): void {
    const record: WorkloadRecord = { v: 1, spec: workload.spec, pid: workload.pid, startTicks: workload.startTicks, startedAtMs: workload.startedAtMs, exitCode: workload.exitCode, exitMessage: workload.exitMessage };
    const file = path.join(workload.dir, RECORD_FILE);
    try {
      writeFileSync(`${file}.tmp`, `${JSON.stringify(record)}\n`, { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    } catch (error) {
      // Removed under us (the node left the swarm): nothing to keep.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /** Once, before the first call: the workloads an earlier executor left in the base directory. */
  private load(): void {
    if (this.closed) throw new ExecutorError('FAILED', 'the process executor is closed');
    if (this.loaded) return;
    this.loaded = true;
    mkdirSync(this.baseDir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.baseDir).sort()) {
      if (!SAFE_ID.test(name)) continue;
      const dir = path.join(this.baseDir, name);
      let record: WorkloadRecord;
      try {
        record = JSON.parse(readFileSync(path.join(dir, RECORD_FILE), 'utf8')) as WorkloadRecord;
      } catch {
        continue; // Not a workload's directory (or one whose prepare did not finish): left alone.
      }
      if (record.v !== 1 || record.spec?.id !== name) continue;
      let plan: ReturnType<typeof healthPlanOf>;
      try {
        plan = healthPlanOf(record.spec.healthcheck);
      } catch {
        plan = null; // Checked at its prepare: a record that says otherwise was not written by this executor.
      }
      const workload: Workload = {
        id: name, dir, spec: record.spec, state: 'created', pid: record.pid, startTicks: record.startTicks, startedAtMs: record.startedAtMs ?? null,
        health: this.monitorOf(record.spec, dir, plan), child: undefined,
        exitCode: record.exitCode, exitMessage: record.exitMessage, waiters: [], stopping: undefined, pollTimer: undefined,
      };
      this.held.set(name, workload);
      if (record.exitCode !== null) {
        workload.state = 'exited';
      } else if (record.pid !== null) {
        if (isAlive(record.pid, record.startTicks)) {
          workload.state = 'running';
          this.pollAdopted(workload);
          // Checked again from 'starting', as the engine does after its restart.
          workload.health?.start(workload.startedAtMs ?? Date.now());
        } else {
          // Ended while no executor watched it. Its group may still hold what it started.
          workload.state = 'running';
          this.exited(workload, EXIT_CODE_UNKNOWN, 'exited while this node was not running (exit status unknown)');
        }
      }
    }
  }
}

/**
 * One log file read forward from where the last read stopped (from its last `tail` lines at
 * first). The file may not exist yet (the workload has not started): it is opened when it does.
 * Without follow, the reading stops at the file's size when it was opened.
 */
class LogFileReader {
  private fd: number | undefined;
  private offset = 0;
  /** Where a read without follow stops: the file's size when opened. */
  private end = Infinity;
  private partial = '';
  private readonly decoder = new StringDecoder('utf8');

  constructor(private readonly file: string, private readonly stream: 'stdout' | 'stderr', private readonly options: ExecutorLogsOptions) {}

  /** The whole lines of the next piece of the file ([] at its end). */
  read(): ExecutorLogLine[] {
    if (this.fd === undefined && !this.open()) return [];
    const fd = this.fd as number;
    const size = Math.min(fstatSync(fd).size, this.end);
    if (size < this.offset) this.offset = 0; // Truncated: read it again from the start.
    if (size === this.offset) return [];
    const buffer = Buffer.alloc(Math.min(LOG_READ_BYTES_MAX, size - this.offset));
    const n = readSync(fd, buffer, 0, buffer.length, this.offset);
    this.offset += n;
    const lines = (this.partial + this.decoder.write(buffer.subarray(0, n))).split('\n');
    this.partial = lines.pop() as string;
    return lines.map((line) => ({ stream: this.stream, line }));
  }

  /** An unfinished last line, when the reading ends. */
  rest(): ExecutorLogLine | null {
    const line = this.partial + this.decoder.end();
    this.partial = '';
    return line === '' ? null : { stream: this.stream, line };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): boolean {
    try {
      this.fd = openSync(this.file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    const size = fstatSync(this.fd).size;
    if (!this.options.follow) this.end = size;
    if (this.options.tail !== undefined) this.offset = tailOffset(this.fd, size, this.options.tail);
    return true;
  }
}

/** Where the last `lines` lines of a file of `size` bytes begin: found by reading back from its end. */
function tailOffset(fd: number, size: number, lines: number): number {
  if (lines === 0 || size === 0) return size;
  const buffer = Buffer.alloc(Math.min(LOG_READ_BYTES_MAX, size));
  // A final line end closes the last line: it does not start another.
  readSync(fd, buffer, 0, 1, size - 1);
  let needed = buffer[0] === 0x0a ? lines + 1 : lines;
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - buffer.length);
    const n = readSync(fd, buffer, 0, end - start, start);
    for (let i = n - 1; i >= 0; i--) {
      if (buffer[i] === 0x0a && --needed === 0) return start + i + 1;
    }
    end = start;
  }
  return 0;
}

/**
 * The process's argv: the command, then the args. With no image to supply an entrypoint, args
 * alone are the whole command line (as a container's CMD without an ENTRYPOINT).
 */
function argvOf(spec: ExecutorSpec): string[] {
  return [...spec.command, ...spec.args];
}

/** Where the workload runs (and its health check): the spec's working directory, else the workload's own directory. */
function cwdOf(spec: ExecutorSpec, dir: string): string {
  return spec.workingDir !== undefined && spec.workingDir !== '' ? spec.workingDir : dir;
}

function exitWords(code: number): string {
  return code === 0 ? 'exited' : `exited with code ${code}`;
}

/** A signal by name ('SIGTERM', 'TERM') or number ('15'); REJECTED if this platform has no such signal. */
function signalOf(name: string): NodeJS.Signals {
  const signals = os.constants.signals as Record<string, number>;
  const upper = name.toUpperCase();
  if (/^[0-9]+$/.test(name)) {
    const found = Object.entries(signals).find(([, n]) => n === Number(name));
    if (found !== undefined) return found[0] as NodeJS.Signals;
  } else {
    const full = upper.startsWith('SIG') ? upper : `SIG${upper}`;
    if (signals[full] !== undefined) return full as NodeJS.Signals;
  }
  throw new ExecutorError('REJECTED', `invalid stop signal: ${name}`);
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === null ? 0 : (os.constants.signals as Record<string, number>)[signal] ?? 0;
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The process's start time since boot (clock ticks), from /proc; null where there is no /proc. */
function startTicksOf(pid: number): string | null {
  const stat = procStat(pid);
  return stat === null ? null : stat[19] ?? null;
}

/** /proc/<pid>/stat from field 3 (the state) on, or null. The command name may hold spaces and parentheses: it ends at the last ')'. */
function procStat(pid: number): string[] | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** The process runs (not a zombie) and is the one started then, not a later one given its pid. */
function isAlive(pid: number, startTicks: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  if (stat === null) return startTicks === null;
  if (stat[0] === 'Z' || stat[0] === 'X') return false;
  return startTicks === null || stat[19] === startTicks;
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

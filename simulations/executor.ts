// The simulated container engine of one node: workloads that are pulled, created, started, exit
// and are stopped on the simulator's loop, with delays and faults drawn from the seed. Every
// promise it returns settles in a loop event (never from outside the loop), so a seed replays
// exactly. The engine outlives the node's process, as dockerd outlives an agent: only a machine
// crash (`crashAll`) takes its workloads down.
//
// Images say how they behave, by name or by the options' table (the table wins):
//   missing/<anything>         the pull fails: prepare rejects with REJECTED
//   exit/<code>/<ms>[/...]     exits by itself <ms> after it starts, with exit code <code>
//   stubborn/<anything>        ignores the stop signal: a stop takes the whole grace, then kills
//   anything else              runs until stopped, removed or crashed
import { ExecutorError, type Executor, type ExecutorExit, type ExecutorSpec, type ExecutorWorkload, type Random } from '../runtime/index.js';
import type { SimLoop } from './loop.js';

/** How the workloads of one image behave. */
export interface SimImageBehaviour {
  /** The pull fails: prepare rejects with REJECTED and `missingMessage` (or the engine's usual words). */
  readonly missing?: boolean;
  readonly missingMessage?: string;
  /** Exits by itself this long after it starts... */
  readonly exitAfterMs?: number;
  /** ...with this exit code (default 0). */
  readonly exitCode?: number;
  /** Ignores the stop signal: a stop takes the whole grace, then kills. */
  readonly ignoresStop?: boolean;
}

export interface SimExecutorOptions {
  /** Pull and create take a time drawn from [min, max] ms. Defaults 1 and 50. */
  readonly prepareDelayMsMin?: number;
  readonly prepareDelayMsMax?: number;
  /** Starting takes a time drawn from [min, max] ms. Defaults 1 and 20. */
  readonly startDelayMsMin?: number;
  readonly startDelayMsMax?: number;
  /** A workload that heeds the stop signal exits within a time drawn from [0, this] ms (at most the grace). Default 50. */
  readonly stopDelayMsMax?: number;
  /** Probability that a stop is slow: the workload ignores the signal and is killed when the grace ends. Default 0. */
  readonly slowStopProbability?: number;
  /** Probability that a running workload crashes within any one second (exit code 137). Default 0. */
  readonly crashProbabilityPerSecond?: number;
  /** Behaviour by image name; overrides what the name says. */
  readonly images?: Readonly<Record<string, SimImageBehaviour>>;
}

/** An executor the simulated machine can take down. */
export interface SimNodeExecutor extends Executor {
  /** The machine died: every workload is gone, and no promise given out before settles. */
  crashAll(): void;
}

/** Exit codes as a shell reports signals: 128 + the signal's number. */
export const EXIT_CODE_KILLED = 137;
export const EXIT_CODE_TERMINATED = 143;

type WorkloadState = 'created' | 'running' | 'exited';

interface Workload {
  readonly id: string;
  readonly spec: ExecutorSpec;
  readonly behaviour: SimImageBehaviour;
  state: WorkloadState;
  exitCode: number | null;
  exitMessage: string;
  /** Who waits for the exit. */
  waiters: Array<(exit: ExecutorExit) => void>;
  /** Loop ids of its own pending exit (natural end or crash). */
  readonly exitEvents: Set<number>;
  /** The loop id of its pending crash, if one is drawn. */
  crashEvent: number | undefined;
}

export interface SimExecutorCounters {
  prepared: number;
  rejected: number;
  started: number;
  exited: number;
  crashed: number;
  stopped: number;
  slowStops: number;
  removed: number;
  machineCrashes: number;
}

const EXIT_IMAGE = /^exit\/(\d+)\/(\d+)(?:\/|$)/;

/** What an image's name says about it, with the table's entry over it. */
export function imageBehaviour(image: string, table: Readonly<Record<string, SimImageBehaviour>> = {}): SimImageBehaviour {
  const fromName: { -readonly [K in keyof SimImageBehaviour]: SimImageBehaviour[K] } = {};
  if (image.startsWith('missing/')) fromName.missing = true;
  const exit = EXIT_IMAGE.exec(image);
  if (exit !== null) {
    fromName.exitCode = Number(exit[1]);
    fromName.exitAfterMs = Number(exit[2]);
  }
  if (image.startsWith('stubborn/')) fromName.ignoresStop = true;
  return { ...fromName, ...table[image] };
}

function checkRange(name: string, min: number, max: number): void {
  if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 0 && max >= min)) {
    throw new RangeError(`SimExecutor: ${name} needs integers 0 <= min <= max, got ${min}, ${max}`);
  }
}

export class SimExecutor implements SimNodeExecutor {
  readonly counters: SimExecutorCounters = {
    prepared: 0, rejected: 0, started: 0, exited: 0, crashed: 0, stopped: 0, slowStops: 0, removed: 0, machineCrashes: 0,
  };
  private readonly loop: SimLoop;
  /** Separate streams: drawing more of one (more crashes) leaves the others' draws as they were. */
  private readonly delayRandom: Random;
  private readonly crashRandom: Random;
  private readonly stopRandom: Random;
  private readonly prepareDelay: readonly [number, number];
  private readonly startDelay: readonly [number, number];
  private readonly stopDelayMsMax: number;
  private readonly slowStopProbability: number;
  /** Crashes per millisecond of a running workload (a Poisson process). */
  private crashRatePerMs: number;
  private readonly images: Readonly<Record<string, SimImageBehaviour>>;
  private readonly held = new Map<string, Workload>();
  /** Loop ids of every pending settlement and exit: a machine crash cancels them all. */
  private readonly pending = new Set<number>();

  /** `random` should be the node's own stream; it is forked per concern. */
  constructor(loop: SimLoop, random: Random, options: SimExecutorOptions = {}) {
    this.loop = loop;
    this.delayRandom = random.fork('executor/delays');
    this.crashRandom = random.fork('executor/crashes');
    this.stopRandom = random.fork('executor/stops');
    this.prepareDelay = [options.prepareDelayMsMin ?? 1, options.prepareDelayMsMax ?? 50];
    this.startDelay = [options.startDelayMsMin ?? 1, options.startDelayMsMax ?? 20];
    checkRange('prepareDelayMs', ...this.prepareDelay);
    checkRange('startDelayMs', ...this.startDelay);
    this.stopDelayMsMax = options.stopDelayMsMax ?? 50;
    checkRange('stopDelayMsMax', 0, this.stopDelayMsMax);
    this.slowStopProbability = options.slowStopProbability ?? 0;
    const crashP = options.crashProbabilityPerSecond ?? 0;
    for (const [name, p] of [['slowStopProbability', this.slowStopProbability], ['crashProbabilityPerSecond', crashP]] as const) {
      if (!(p >= 0 && p <= 1)) throw new RangeError(`SimExecutor: ${name} must be in [0, 1], got ${p}`);
    }
    this.crashRatePerMs = crashRate(crashP);
    this.images = options.images ?? {};
  }

  /**
   * Changes the crash rate from now on (e.g. 0 to end a faulty phase before a liveness check):
   * the pending crash of every running workload is drawn again at the new rate.
   */
  setCrashProbabilityPerSecond(p: number): void {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`SimExecutor: crashProbabilityPerSecond must be in [0, 1], got ${p}`);
    this.crashRatePerMs = crashRate(p);
    for (const workload of this.held.values()) {
      if (workload.crashEvent !== undefined) this.cancelExit(workload, workload.crashEvent);
      workload.crashEvent = undefined;
      if (workload.state === 'running') this.scheduleCrash(workload, Infinity);
    }
  }

  /** The workloads held now, in id order (for tests and checkers; `list` is the executor's own answer). */
  workloads(): ExecutorWorkload[] {
    return [...this.held.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(describe);
  }

  /** The spec a workload was prepared with, if it is held. */
  specOf(id: string): ExecutorSpec | undefined {
    return this.held.get(id)?.spec;
  }

  prepare(spec: ExecutorSpec): Promise<void> {
    const copy: ExecutorSpec = structuredClone(spec);
    return this.settle(this.draw(this.prepareDelay), () => {
      const behaviour = imageBehaviour(copy.image, this.images);
      if (behaviour.missing === true) {
        this.counters.rejected++;
        throw new ExecutorError('REJECTED', behaviour.missingMessage ?? `No such image: ${copy.image}`);
      }
      if (this.held.has(copy.id)) return; // Prepared before: the engine has it.
      this.counters.prepared++;
      this.held.set(copy.id, { id: copy.id, spec: copy, behaviour, state: 'created', exitCode: null, exitMessage: '', waiters: [], exitEvents: new Set(), crashEvent: undefined });
    });
  }

  start(id: string): Promise<void> {
    return this.settle(this.draw(this.startDelay), () => {
      const workload = this.workload(id);
      if (workload.state === 'running') return;
      if (workload.state === 'exited') throw new ExecutorError('FAILED', `workload ${id} has exited; it is not started again`);
      workload.state = 'running';
      this.counters.started++;
      const { exitAfterMs, exitCode } = workload.behaviour;
      if (exitAfterMs !== undefined) {
        this.exitLater(workload, exitAfterMs, exitCode ?? 0, exitCode === 0 || exitCode === undefined ? 'exited' : `exited with code ${exitCode}`);
      }
      this.scheduleCrash(workload, exitAfterMs ?? Infinity);
    });
  }

  /** Draws when a running workload crashes, unless that comes after `naturalExitMs` from now. */
  private scheduleCrash(workload: Workload, naturalExitMs: number): void {
    if (this.crashRatePerMs === 0) return;
    const crashAfterMs = Math.max(1, Math.round(-Math.log(1 - this.crashRandom.float()) / this.crashRatePerMs));
    if (crashAfterMs >= naturalExitMs) return;
    workload.crashEvent = this.exitLater(workload, crashAfterMs, EXIT_CODE_KILLED, 'simulated crash', true);
  }

  wait(id: string): Promise<ExecutorExit> {
    return new Promise<ExecutorExit>((resolve, reject) => {
      const id0 = this.loop.schedule(0, () => {
        this.pending.delete(id0);
        const workload = this.held.get(id);
        if (workload === undefined) reject(new ExecutorError('FAILED', `no such workload: ${id}`));
        else if (workload.state === 'exited') resolve({ exitCode: workload.exitCode as number, message: workload.exitMessage });
        else workload.waiters.push(resolve);
      });
      this.pending.add(id0);
    });
  }

  stop(id: string, graceMs: number): Promise<void> {
    if (!(graceMs >= 0)) throw new RangeError(`SimExecutor.stop: graceMs must be >= 0, got ${graceMs}`);
    const workload = this.held.get(id);
    if (workload === undefined || workload.state !== 'running') {
      return this.settle(0, () => {
        this.workload(id);
      });
    }
    const slow = workload.behaviour.ignoresStop === true || this.stopRandom.chance(this.slowStopProbability);
    const delayMs = slow ? graceMs : Math.min(graceMs, this.stopRandom.int(0, this.stopDelayMsMax));
    return this.settle(delayMs, () => {
      const current = this.workload(id);
      if (current.state !== 'running') return;
      this.counters.stopped++;
      if (slow) this.counters.slowStops++;
      this.exit(current, slow ? EXIT_CODE_KILLED : EXIT_CODE_TERMINATED, slow ? 'killed after the stop grace period' : 'stopped');
    });
  }

  remove(id: string): Promise<void> {
    return this.settle(this.delayRandom.int(0, 10), () => {
      const workload = this.held.get(id);
      if (workload === undefined) return;
      // Forced, as `docker rm -f`: a running workload is killed first.
      if (workload.state === 'running') this.exit(workload, EXIT_CODE_KILLED, 'removed');
      this.held.delete(id);
      this.counters.removed++;
    });
  }

  list(): Promise<ExecutorWorkload[]> {
    return this.settle(0, () => this.workloads());
  }

  crashAll(): void {
    this.counters.machineCrashes++;
    for (const id of this.pending) this.loop.cancel(id);
    this.pending.clear();
    // The waiters' promises stay pending for ever: the process that awaited them died too.
    this.held.clear();
  }

  private workload(id: string): Workload {
    const workload = this.held.get(id);
    if (workload === undefined) throw new ExecutorError('FAILED', `no such workload: ${id}`);
    return workload;
  }

  private draw([min, max]: readonly [number, number]): number {
    return this.delayRandom.int(min, max);
  }

  /** A promise that settles `delayMs` from now, in a loop event, with what `fn` returns or throws then. */
  private settle<T>(delayMs: number, fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.loop.schedule(delayMs, () => {
        this.pending.delete(id);
        let value: T;
        try {
          value = fn();
        } catch (error) {
          reject(error as Error);
          return;
        }
        resolve(value);
      });
      this.pending.add(id);
    });
  }

  private exitLater(workload: Workload, delayMs: number, exitCode: number, message: string, crash = false): number {
    const id = this.loop.schedule(delayMs, () => {
      this.pending.delete(id);
      workload.exitEvents.delete(id);
      if (workload.crashEvent === id) workload.crashEvent = undefined;
      if (workload.state !== 'running') return;
      if (crash) this.counters.crashed++;
      this.exit(workload, exitCode, message);
    });
    this.pending.add(id);
    workload.exitEvents.add(id);
    return id;
  }

  private cancelExit(workload: Workload, id: number): void {
    this.loop.cancel(id);
    this.pending.delete(id);
    workload.exitEvents.delete(id);
  }

  private exit(workload: Workload, exitCode: number, message: string): void {
    workload.state = 'exited';
    workload.exitCode = exitCode;
    workload.exitMessage = message;
    this.counters.exited++;
    for (const id of workload.exitEvents) {
      this.loop.cancel(id);
      this.pending.delete(id);
    }
    workload.exitEvents.clear();
    workload.crashEvent = undefined;
    const waiters = workload.waiters;
    workload.waiters = [];
    for (const resolve of waiters) resolve({ exitCode, message });
  }
}

/** P(crash within 1 s) = 1 - exp(-rate * 1000): the rate per ms for a probability per second. */
function crashRate(p: number): number {
  return p >= 1 ? Infinity : -Math.log(1 - p) / 1000;
}

function describe(workload: Workload): ExecutorWorkload {
  return { id: workload.id, running: workload.state === 'running', exitCode: workload.exitCode };
}

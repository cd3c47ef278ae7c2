// A process workload's health check, run as Docker runs a container's (moby daemon/health.go), for
// the process executor (process-executor.ts). A check is the test's CMD argv exec'd directly, or
// its CMD-SHELL line run by `/bin/sh -c`, in the workload's environment and working directory:
//
//   - the first check runs one interval after the start, each next one an interval after the
//     previous one ended (checks never overlap); Docker's `start_interval` is not supported;
//   - a check that exits 0 passes: the workload is healthy and the failure streak resets;
//   - any other end fails: a non-zero exit, a command that cannot run, or a check still running at
//     its timeout (its process group is killed then);
//   - `retries` failures in a row make the workload unhealthy; while it is still starting (never
//     passed), a failure that began within the start period does not count, but a pass within it
//     makes it healthy;
//   - an unhealthy workload that passes again is healthy again (Docker's rule; the task runner has
//     failed its task by then).
//
// Defaults, for a value of 0: interval 30 s, timeout 30 s, retries 3, start period 0. Each check
// runs as the leader of its own process group; when it ends, what is left of the group is killed,
// so that nothing a check starts outlives it. The last 5 results are kept, each with at most 4 KiB
// of the check's output (stdout and stderr together), as Docker keeps them.
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { ExecutorError, type ExecutorHealth, type ExecutorHealthcheck } from '../types.js';

export const HEALTH_INTERVAL_MS_DEFAULT = 30_000;
export const HEALTH_TIMEOUT_MS_DEFAULT = 30_000;
export const HEALTH_RETRIES_DEFAULT = 3;
export const HEALTH_START_PERIOD_MS_DEFAULT = 0;
/** Results kept, the most recent last (Docker's maxLogEntries). */
export const HEALTH_RESULTS_MAX = 5;
/** Output kept of each check (Docker's maxOutputLen). */
export const HEALTH_OUTPUT_BYTES_MAX = 4096;
/** The exit code a result records for a check that did not end by itself: timed out, or could not run (Docker's -1). */
export const HEALTH_EXIT_CODE_NONE = -1;
/** The shell a CMD-SHELL line runs in (Docker's default shell on Linux). */
const SHELL = ['/bin/sh', '-c'] as const;

/** A health check with Docker's defaults filled in, ready to run. */
export interface HealthPlan {
  /** The argv of one check: CMD's as given, CMD-SHELL's behind the shell. */
  readonly argv: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly startPeriodMs: number;
}

/** One check's outcome, as Docker's HealthcheckResult. Times are ms since the epoch. */
export interface HealthResult {
  readonly startMs: number;
  readonly endMs: number;
  readonly exitCode: number;
  readonly output: string;
}

/**
 * The plan of a spec's health check; null when it has none (absent, an empty test, or NONE). A
 * test of another form, or a negative timing, is REJECTED.
 */
export function healthPlanOf(check: ExecutorHealthcheck | undefined): HealthPlan | null {
  if (check === undefined || check.test.length === 0 || check.test[0] === 'NONE') return null;
  const [kind, ...rest] = check.test;
  let argv: string[];
  if (kind === 'CMD') {
    if (rest.length === 0 || rest[0] === '') throw new ExecutorError('REJECTED', 'a CMD health check needs the executable to run');
    argv = rest;
  } else if (kind === 'CMD-SHELL') {
    if (rest.length === 0 || rest.join(' ').trim() === '') throw new ExecutorError('REJECTED', 'a CMD-SHELL health check needs a command line');
    argv = [...SHELL, ...rest];
  } else {
    throw new ExecutorError('REJECTED', `a health check's test must be CMD, CMD-SHELL or NONE, got '${String(kind)}'`);
  }
  for (const [name, value] of [['interval', check.intervalMs], ['timeout', check.timeoutMs], ['start period', check.startPeriodMs], ['retries', check.retries]] as const) {
    if (!(Number.isFinite(value) && value >= 0)) throw new ExecutorError('REJECTED', `a health check's ${name} must be >= 0, got ${value}`);
  }
  return {
    argv,
    intervalMs: check.intervalMs > 0 ? check.intervalMs : HEALTH_INTERVAL_MS_DEFAULT,
    timeoutMs: check.timeoutMs > 0 ? check.timeoutMs : HEALTH_TIMEOUT_MS_DEFAULT,
    retries: check.retries > 0 ? Math.floor(check.retries) : HEALTH_RETRIES_DEFAULT,
    startPeriodMs: check.startPeriodMs > 0 ? check.startPeriodMs : HEALTH_START_PERIOD_MS_DEFAULT,
  };
}

/** Where a workload's checks run: its environment and working directory. */
export interface HealthTarget {
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
}

/** The check in flight: its process, its timeout timer, and what it printed so far. */
interface Probe {
  readonly child: ChildProcess;
  readonly pid: number | null;
  readonly startMs: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  timedOut: boolean;
  output: Buffer[];
  outputBytes: number;
}

/**
 * The checks of one workload, from `start` until `stop`: one timer or one check process at a
 * time, never both. After `stop` nothing of it runs, and what it said last stays readable.
 */
export class HealthMonitor {
  /** 'starting' until the first pass or until unhealthy. */
  private state: Exclude<ExecutorHealth, 'none'> = 'starting';
  /** Consecutive failures that counted (reset by a pass). */
  private streak = 0;
  private readonly results: HealthResult[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private probe: Probe | undefined;
  private startedAtMs: number | undefined;
  private stopped = false;

  constructor(readonly plan: HealthPlan, private readonly target: HealthTarget) {}

  get status(): Exclude<ExecutorHealth, 'none'> {
    return this.state;
  }

  get failingStreak(): number {
    return this.streak;
  }

  /** The last results, oldest first (at most HEALTH_RESULTS_MAX). */
  get log(): readonly HealthResult[] {
    return [...this.results];
  }

  /** The pid of the check running now, if one is (for tests and inspection). */
  get probePid(): number | null {
    return this.probe?.pid ?? null;
  }

  /**
   * Begins checking a workload that started at `startedAtMs` (ms since the epoch; the start
   * period counts from it, also for a workload adopted after a restart): the first check runs one
   * interval from now. A monitor starts once.
   */
  start(startedAtMs: number): void {
    if (this.stopped || this.startedAtMs !== undefined) return;
    this.startedAtMs = startedAtMs;
    this.schedule();
  }

  /** No check runs from now on: the pending one is cancelled, the running one's group killed. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const probe = this.probe;
    this.probe = undefined;
    if (probe !== undefined) {
      if (probe.timer !== undefined) clearTimeout(probe.timer);
      probe.child.removeAllListeners('exit');
      probe.child.stdout?.destroy();
      probe.child.stderr?.destroy();
      killGroup(probe.pid);
      // Reaped by Node whenever it ends; nothing of it may hold this process open.
      probe.child.unref();
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run();
    }, this.plan.intervalMs);
  }

  private run(): void {
    if (this.stopped) return;
    const startMs = Date.now();
    const [command, ...args] = this.plan.argv as [string, ...string[]];
    let child: ChildProcess;
    try {
      child = spawn(command, args, { cwd: this.target.cwd, env: { ...this.target.env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      this.record({ startMs, endMs: Date.now(), exitCode: HEALTH_EXIT_CODE_NONE, output: `cannot run the health check: ${(error as Error).message}` });
      return;
    }
    const probe: Probe = { child, pid: child.pid ?? null, startMs, timer: undefined, timedOut: false, output: [], outputBytes: 0 };
    this.probe = probe;
    const keep = (chunk: Buffer): void => {
      const room = HEALTH_OUTPUT_BYTES_MAX - probe.outputBytes;
      if (room <= 0) return;
      const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
      probe.output.push(kept);
      probe.outputBytes += kept.length;
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let ended = false;
    const end = (exitCode: number, output: string): void => {
      if (ended) return;
      ended = true;
      if (probe.timer !== undefined) clearTimeout(probe.timer);
      // What the check left behind in its group goes with it.
      killGroup(probe.pid);
      child.stdout?.destroy();
      child.stderr?.destroy();
      if (this.probe !== probe) return; // Stopped meanwhile: its result is nobody's.
      this.probe = undefined;
      this.record({ startMs, endMs: Date.now(), exitCode, output });
    };
    const printed = (): string => Buffer.concat(probe.output).toString('utf8');
    // An 'error' without an 'exit' is a check that could not be spawned (a missing executable).
    // Kept for the check's life: a later 'error' (none is expected) must not be unhandled.
    child.on('error', (error) => {
      if (probe.pid === null) end(HEALTH_EXIT_CODE_NONE, `cannot run the health check: ${error.message}`);
    });
    child.once('exit', (code, signal) => {
      if (probe.timedOut) end(HEALTH_EXIT_CODE_NONE, `Health check exceeded timeout (${this.plan.timeoutMs}ms)`);
      else end(code ?? 128 + signalNumber(signal), printed());
    });
    if (probe.pid === null) return; // The spawn failed: 'error' follows.
    probe.timer = setTimeout(() => {
      probe.timer = undefined;
      probe.timedOut = true;
      // Its end (at once, by SIGKILL) records the failure: the next check never overlaps it.
      killGroup(probe.pid);
    }, this.plan.timeoutMs);
  }

  /** moby's handleProbeResult, then the next check one interval on. */
  private record(result: HealthResult): void {
    if (this.stopped) return;
    this.results.push(result);
    if (this.results.length > HEALTH_RESULTS_MAX) this.results.shift();
    if (result.exitCode === 0) {
      this.streak = 0;
      this.state = 'healthy';
    } else {
      const inStartPeriod = this.state === 'starting' && result.startMs - (this.startedAtMs as number) < this.plan.startPeriodMs;
      if (!inStartPeriod) {
        this.streak += 1;
        if (this.streak >= this.plan.retries) this.state = 'unhealthy';
      }
    }
    this.schedule();
  }
}

/** SIGKILL to a check's process group; one already gone is no error. */
function killGroup(pid: number | null): void {
  if (pid === null) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Gone already (ESRCH), or it is no longer ours to signal: nothing of ours is left to kill.
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  if (signal === null) return 0;
  return (os.constants.signals as Record<string, number>)[signal] ?? 0;
}

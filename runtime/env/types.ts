// The Env is the only door to the world (DESIGN.md section 3). Time, randomness, storage and the
// network reach node code only through it: runtime/env/real implements it with Node's timers,
// crypto and disk; simulations/ implements it with a virtual clock, seeded streams and a
// simulated network and disk, so that one seed gives one exact run.
import { RuntimeError } from '../errors.js';

/** A timer handle: opaque to callers, meaningful only to the clock that issued it. */
export type TimerId = { readonly __timer: unique symbol } | number | object;

export interface Clock {
  /** Milliseconds since an epoch chosen by the clock (virtual time in the simulator). */
  now(): number;
  /** Calls `fn` once after `delayMs` (>= 0). Same shape as xstate's clock option. */
  setTimeout(fn: () => void, delayMs: number): TimerId; // allow-ambient: the Env clock's own method
  clearTimeout(id: TimerId): void;
  /**
   * Calls `fn` soon, after the current synchronous work and before any timer that is due later,
   * yielding to I/O first (the runtime's dispatcher drains mailboxes from here).
   */
  defer(fn: () => void): void;
}

/** A stream of pseudo-random numbers. `fork(label)` gives an independent stream per component. */
export interface Random {
  /** A uniformly distributed unsigned 32-bit integer. */
  uint32(): number;
  /** A float in [0, 1). */
  float(): number;
  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** true with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  bytes(length: number): Uint8Array;
  /**
   * An independent stream whose sequence depends only on this stream's seed and the label, not
   * on how many numbers were drawn before: adding a draw in one component leaves the others alone.
   */
  fork(label: string): Random;
  /** The seed this stream was created from, for printing and replay. */
  readonly seed: string;
}

/** The unit carried between nodes: a message from one address to another. */
export interface Envelope {
  readonly from: string;
  readonly to: string;
  readonly message: unknown;
}

export type EnvelopeHandler = (envelope: Envelope) => void;

/**
 * Moves envelopes between nodes. Delivery is best effort: an envelope may be lost (a crashed
 * node, a partition); whether order per link is kept is the transport's declared promise.
 */
export interface Transport {
  /** Starts receiving envelopes addressed to `nodeId`. Returns a function that stops it. */
  listen(nodeId: string, handler: EnvelopeHandler): () => void;
  /** Sends `envelope` from `fromNode` towards the node named in `envelope.to`. */
  send(fromNode: string, toNode: string, envelope: Envelope): void;
  /** True when the transport keeps the per-link (from node, to node) send order. */
  readonly fifoPerLink: boolean;
}

export type KvKey = string;
export type KvOp = { readonly type: 'put'; readonly key: KvKey; readonly value: Uint8Array } | { readonly type: 'del'; readonly key: KvKey };

/**
 * An ordered key-value store. `batch` applies its operations atomically; with `sync: true` they
 * are durable when the promise resolves. Without sync a crash may lose them (never half a batch).
 * With `handOver: true` the caller hands the put values' buffers over: it never changes them
 * after the call (nor lets anything else), so a store that keeps values in memory may keep those
 * buffers rather than copies. A hint: a store may copy anyway, and a store that writes elsewhere
 * ignores it.
 */
export interface KvStore {
  get(key: KvKey): Promise<Uint8Array | undefined>;
  batch(ops: readonly KvOp[], options?: { sync?: boolean; handOver?: boolean }): Promise<void>;
  /** Entries with gte <= key < lt, in key order. */
  range(options: { gte?: KvKey; lt?: KvKey; limit?: number }): Promise<Array<[KvKey, Uint8Array]>>;
  close(): Promise<void>;
}

export interface Storage {
  /** Opens (creating if needed) the named store of this node. */
  openKv(name: string): Promise<KvStore>;
}

/**
 * What an executor runs: a workload named by the caller (the agent uses the task's id), generic
 * enough for a container engine or plain processes. The runtime knows nothing of services.
 */
export interface ExecutorSpec {
  readonly id: string;
  readonly image: string;
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  /** The signal a stop sends first (the engine's default when absent). */
  readonly stopSignal?: string;
  /** How long a stop waits after that signal before it kills. */
  readonly stopGraceMs: number;
  /** The working directory (absolute; the executor's default when absent). */
  readonly workingDir?: string;
  /** The user it runs as (a container's `user[:group]`; a process executor may not honour it). */
  readonly user?: string;
  /** A container's hostname. */
  readonly hostname?: string;
  /** Which executor runs it where a node has several (RuntimeExecutor): a container (the default) or a host process. */
  readonly runtime?: ExecutorRuntime;
  /** CPU and memory the workload may use (limits) and is promised (reservations). Absent: none. */
  readonly resources?: ExecutorResources;
  /** Storage mounted into the workload. Absent: none. */
  readonly mounts?: readonly ExecutorMount[];
  /** How the engine tells a running workload is healthy. Absent: the image's own, if any. */
  readonly healthcheck?: ExecutorHealthcheck;
  /**
   * Files placed in the workload before it starts: secrets and configs. Their data is never
   * logged, nor written anywhere but into the workload.
   */
  readonly files?: readonly ExecutorFile[];
}

/** CPU in billionths of a CPU, memory in bytes; 0 means no limit (or no reservation). */
export interface ExecutorResourceAmounts {
  readonly nanoCpus: number;
  readonly memoryBytes: number;
}

export interface ExecutorResources {
  /** What the workload may not exceed (the engine enforces them). */
  readonly limits: ExecutorResourceAmounts;
  /** What the scheduler set aside for it; the engine keeps only a memory reservation as a soft limit. */
  readonly reservations: ExecutorResourceAmounts;
}

export interface ExecutorMount {
  /** A host path (bind), a volume name (volume, '' for an anonymous one) or '' (tmpfs). */
  readonly source: string;
  /** The absolute path inside the workload. */
  readonly target: string;
  readonly readOnly: boolean;
  readonly type: 'bind' | 'volume' | 'tmpfs';
}

/** A health check as Docker's: `test` is ['CMD', argv...], ['CMD-SHELL', line] or ['NONE']; 0 = the engine's default. */
export interface ExecutorHealthcheck {
  readonly test: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failures that make it unhealthy. */
  readonly retries: number;
  /** Failures during this time after the start do not count. */
  readonly startPeriodMs: number;
}

/** A file placed in the workload (a secret or a config). */
export interface ExecutorFile {
  /** The absolute path inside the workload. */
  readonly target: string;
  /** Its bytes: never logged. */
  readonly data: Uint8Array;
  /** Its permission bits (e.g. 0o444). */
  readonly mode: number;
  /** Numeric owner and group ids ('0' when absent). */
  readonly uid?: string;
  readonly gid?: string;
}

/** What a health check says of a workload: 'none' when it has no check. */
export type ExecutorHealth = 'none' | 'starting' | 'healthy' | 'unhealthy';

export interface ExecutorLogsOptions {
  /** Keep streaming what the workload prints until it exits (or the consumer stops iterating). */
  readonly follow: boolean;
  /** Only the last this many lines printed so far (then, with follow, what comes). Absent: all. */
  readonly tail?: number;
}

/** One line a workload printed, without its line end. */
export interface ExecutorLogLine {
  readonly stream: 'stdout' | 'stderr';
  readonly line: string;
}

export type ExecutorRuntime = 'container' | 'process';

/** How a workload ended. */
export interface ExecutorExit {
  readonly exitCode: number;
  /** The engine's words for it ('' when it has none). */
  readonly message: string;
}

/** A workload the executor holds: created by `prepare`, gone after `remove`. */
export interface ExecutorWorkload {
  readonly id: string;
  readonly running: boolean;
  /** null until it has run and exited. */
  readonly exitCode: number | null;
}

/**
 * `REJECTED`: the workload cannot run on this node at all (no such image, a refused pull, an
 * invalid spec); `FAILED`: the engine failed at this step (it may succeed elsewhere or later).
 */
export type ExecutorErrorCode = 'REJECTED' | 'FAILED';

/** An executor's refusal, with the engine's own message. Read it by `code`, never by instanceof. */
export class ExecutorError extends RuntimeError {
  constructor(readonly code: ExecutorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The `{ code, message }` of an executor's rejection; anything that is not an ExecutorError-shaped value is FAILED. */
export function executorFailure(error: unknown): { readonly code: ExecutorErrorCode; readonly message: string } {
  const message = error instanceof Error ? error.message : String(error);
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return { code: code === 'REJECTED' ? 'REJECTED' : 'FAILED', message };
}

/**
 * The container engine seam (DESIGN.md section 3): the agent's task runners drive workloads only
 * through it. Every promise settles on the Env's terms (the simulated executor on the virtual
 * clock); a rejection is an ExecutorError-shaped `{ code, message }`.
 */
export interface Executor {
  /** Pulls the image and creates the workload, not started. REJECTED when it cannot run here. */
  prepare(spec: ExecutorSpec): Promise<void>;
  start(id: string): Promise<void>;
  /** Settles when the workload exits (at once if it already has), however it came to exit. */
  wait(id: string): Promise<ExecutorExit>;
  /** Signals the workload and, after `graceMs`, kills it; settles once it no longer runs. */
  stop(id: string, graceMs: number): Promise<void>;
  /** Deletes the workload (stopped or never started); removing an absent one succeeds. */
  remove(id: string): Promise<void>;
  /** Every workload the executor holds, in id order. */
  list(): Promise<ExecutorWorkload[]>;
  /**
   * What the workload's health check says ('none' without one), so that a task can stay STARTING
   * until healthy and fail when unhealthy. Absent on an executor that runs no health checks.
   */
  health?(id: string): Promise<ExecutorHealth>;
  /**
   * The lines the workload printed, each tagged with its stream. With `follow` the iteration ends
   * when the workload has exited and its output is drained; a consumer's `break` ends it too.
   * A workload the executor does not hold rejects (FAILED) at the first step.
   */
  logs?(id: string, options: ExecutorLogsOptions): AsyncIterable<ExecutorLogLine>;
}

export interface Env {
  readonly clock: Clock;
  readonly random: Random;
  readonly transport: Transport;
  readonly storage: Storage;
  /** The node's workload engine; absent on a node (or in a test) that runs no tasks. */
  readonly executor?: Executor;
}

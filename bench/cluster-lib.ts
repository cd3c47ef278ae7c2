// Reusable pieces of the cluster benchmark (bench/cluster.ts): a write target seam, a closed-loop
// load generator, a failover timer, order statistics, and an etcd 3.4 cluster of real processes
// on loopback driven through etcd's v3 JSON gateway (no client library: Node's `http` with a
// keep-alive Agent). Measurement code, not product code: wall-clock time and timers are allowed
// in bench/ (eslint.config.js), and `monotonicMs` from the real Env is the clock.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { monotonicMs } from '../runtime/env/real/index.js';

// ---- the seam -----------------------------------------------------------------------------------

/** Something a closed-loop client can write to: etcd, or our own cluster. */
export interface WriteTarget {
  readonly name: string;
  /** One durable write; resolves once the cluster has committed it, rejects on any failure. */
  write(clientIndex: number, seq: number, payload: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /**
   * Optional: CPU milliseconds (user + system) each of the target's server processes has used so
   * far, in member order, when they run outside this process. Printed beside the generator's own.
   */
  serverCpuMs?(): readonly number[];
  /** Optional: the index (member order) of the member that leads now, or undefined when none does. */
  leader?(): Promise<number | undefined>;
  /** Optional: what the cluster's Raft has done so far (see RaftCounts); read as a window starts and ends. */
  raftCounts?(): Promise<RaftCounts>;
}

/**
 * A cluster's Raft counters at one moment: the highest commit index any member reports, and each
 * member's synced log writes so far (fsyncs of its log: ours' LevelDB batches, etcd's WAL), in
 * member order. A member that did not answer is NaN.
 */
export interface RaftCounts {
  readonly commitIndex: number;
  readonly syncedLogWrites: readonly number[];
}

/** A window's Raft figures, from the counters at its start and end. */
export interface RaftWindow {
  /** Log entries committed per second (each may carry several writes). */
  readonly entriesPerSecond: number;
  /** Writes completed in the window per entry committed in it. */
  readonly writesPerEntry: number;
  /** Each member's synced log writes per second, in member order. */
  readonly syncedLogWritesPerSecond: readonly number[];
}

/** What bench/cluster.ts needs to fail a cluster's leader over and over (see `measureFailover`). */
export interface FailoverHooks {
  /** Kills the current leader; resolves once it is dead. The clock starts when this resolves. */
  killLeader(): Promise<void>;
  /** One write via the survivors; must settle soon after `signal` aborts. */
  writeOnce(signal: AbortSignal): Promise<void>;
  /** Brings the killed member back and waits until the cluster is whole and has a leader. */
  recover(): Promise<void>;
}

/** A started cluster: what `startOurCluster` (bench/cluster-ours.ts) and `startEtcd` return. */
export interface StartedCluster {
  readonly target: WriteTarget;
  stop(): Promise<void>;
  /** Present when the cluster can be failed over; bench/cluster.ts then times it. */
  readonly failover?: FailoverHooks;
  /** One line printed before the cluster's figures (settings, members). */
  readonly description?: string;
}

/** Options bench/cluster.ts passes to `startOurCluster`; it may ignore them. */
/** Which member each write goes to (see EtcdTargetOptions.endpoints). */
export type Endpoints = 'spread' | 'first' | 'pinned';

/** The member index a client's write goes to. */
export function memberFor(endpoints: Endpoints, members: number, clientIndex: number, seq: number): number {
  if (endpoints === 'first') return 0;
  return endpoints === 'pinned' ? clientIndex % members : (clientIndex + seq) % members;
}

export function describeEndpoints(endpoints: Endpoints): string {
  if (endpoints === 'spread') return 'each write round robin over the members (followers forward to the leader)';
  if (endpoints === 'pinned') return 'each client pinned to one member, clients spread over the members (followers forward to the leader)';
  return 'every write to the first member';
}

export interface StartClusterOptions {
  /** A fresh directory for the cluster's data may be made inside this one. */
  readonly baseDir: string;
  readonly endpoints: Endpoints;
  /** The most concurrent clients the target will see. */
  readonly clientsMax: number;
}

/** What bench/cluster-ours.ts exports: `export const startOurCluster: StartOurCluster = ...`. */
export type StartOurCluster = (options: StartClusterOptions) => Promise<StartedCluster>;
export interface OurClusterModule {
  readonly startOurCluster: StartOurCluster;
}

// ---- statistics ---------------------------------------------------------------------------------

export interface Stats {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** The q-quantile (0..1, nearest rank) of values sorted ascending; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Order statistics of unsorted samples (the samples are not modified). */
export function summarize(samples: ArrayLike<number>): Stats {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    min: sorted.length === 0 ? Number.NaN : (sorted[0] as number),
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] as number),
  };
}

export function formatMs(n: number): string {
  if (Number.isNaN(n)) return '-';
  return `${n < 10 ? n.toFixed(2) : n < 1000 ? n.toFixed(1) : n.toFixed(0)} ms`;
}

export function formatCount(n: number): string {
  return Number.isNaN(n) ? '-' : Math.round(n).toLocaleString('en-US');
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- the load generator -------------------------------------------------------------------------

export interface LoadOptions {
  /** Concurrent closed loops, each with one write in flight. */
  readonly clients: number;
  readonly warmupMs: number;
  /**
   * The warm-up also lasts until every client has completed a write (so that connecting, and for
   * ours the mutual-TLS handshake of each of 1,000 clients, is behind the window), but no longer
   * than this. Default: `warmupMs` (no wait beyond it).
   */
  readonly warmupMaxMs?: number;
  /** The measured window ends after this long or after `countMax` writes, whichever is first. */
  readonly runMs: number;
  readonly countMax: number;
  /** Value size; 256 unless given. */
  readonly payloadBytes?: number;
  /** The run stops early after this many failed writes (default 100). */
  readonly errorsMax?: number;
}

export interface LoadResult {
  readonly clients: number;
  /** Writes completed inside the measured window. */
  readonly writes: number;
  readonly elapsedMs: number;
  readonly writesPerSecond: number;
  /** Latency of each write completed inside the window, start to completion. */
  readonly latency: Stats;
  /** This process's CPU (every thread) over the window, as % of one core. */
  readonly generatorCpuPercent: number;
  /** The target's server processes' CPU over the window, as % of one core, when it reports it. */
  readonly serverCpuPercent: number | undefined;
  /** The same for each server process, in member order. */
  readonly serverCpuPercentByMember: readonly number[] | undefined;
  /** CPU milliseconds per write completed in the window: the servers' (all of them) and this generator's. */
  readonly serverCpuMsPerWrite: number | undefined;
  readonly generatorCpuMsPerWrite: number;
  /** The member leading when the window ended (member order), when the target can tell. */
  readonly leader: number | undefined;
  readonly errors: number;
  readonly lastError: string | undefined;
  /** How long the warm-up lasted, and how many clients had completed a write when it ended. */
  readonly warmupElapsedMs: number;
  readonly clientsReady: number;
  /** The window's Raft figures, when the target reports its counters and both reads succeeded. */
  readonly raft: RaftWindow | undefined;
}

/** 256 (or n) bytes of incompressible filler, the same for every write. */
export function payloadOf(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Closed loop: `clients` loops, each awaiting one write before starting the next. A warm-up (at
 * least `warmupMs`, and until every client has completed a write, at most `warmupMaxMs`), then
 * one measured window; throughput and latency count the writes that complete inside the window
 * (whenever they started). Every loop ends when the window does; in-flight writes are awaited
 * (bounded by the target's own request timeout) and not counted.
 */
export async function runLoad(target: WriteTarget, options: LoadOptions): Promise<LoadResult> {
  const { clients, warmupMs, runMs, countMax } = options;
  const warmupMaxMs = Math.max(warmupMs, options.warmupMaxMs ?? warmupMs);
  if (!(clients >= 1 && countMax >= 1 && runMs > 0 && warmupMs >= 0)) throw new Error(`runLoad: bad options ${JSON.stringify(options)}`);
  const errorsMax = options.errorsMax ?? 100;
  const payload = payloadOf(options.payloadBytes ?? 256);
  const latencies = new Float64Array(countMax);
  let count = 0;
  let errors = 0;
  let lastError: string | undefined;
  let phase: 'warmup' | 'run' | 'stopped' = 'warmup';
  let t0 = 0;
  let t1 = 0;
  let cpu0 = process.cpuUsage();
  let cpuUs = 0;
  let server0: readonly number[] = [];
  let serverMs: number[] | undefined;
  let runTimer: ReturnType<typeof setTimeout> | undefined;
  const warmupStart = monotonicMs();
  let warmupMinPassed = false;
  let clientsReady = 0;
  let readyAtStart = 0;
  // The counters are read as the window starts and ends; the reads take a few milliseconds, with
  // the load running, so the figures are the window's to within that.
  let raftAtStart: Promise<RaftCounts | undefined> | undefined;
  let raftAtEnd: Promise<RaftCounts | undefined> | undefined;
  const readRaft = (): Promise<RaftCounts | undefined> | undefined => target.raftCounts?.().catch(() => undefined);

  const stop = (): void => {
    if (phase === 'stopped') return;
    const wasRunning = phase === 'run';
    phase = 'stopped';
    clearTimeout(warmupTimer);
    clearTimeout(warmupCapTimer);
    clearTimeout(runTimer);
    t1 = monotonicMs();
    if (!wasRunning) t0 = t1;
    const cpu = process.cpuUsage(cpu0);
    cpuUs = cpu.user + cpu.system;
    if (target.serverCpuMs !== undefined) serverMs = target.serverCpuMs().map((ms, i) => ms - (server0[i] ?? 0));
    if (wasRunning) raftAtEnd = readRaft();
  };
  const startRun = (): void => {
    if (phase !== 'warmup') return;
    phase = 'run';
    clearTimeout(warmupCapTimer);
    readyAtStart = clientsReady;
    cpu0 = process.cpuUsage();
    if (target.serverCpuMs !== undefined) server0 = target.serverCpuMs();
    t0 = monotonicMs();
    raftAtStart = readRaft();
    runTimer = setTimeout(stop, runMs);
  };
  const warmupTimer = setTimeout(() => {
    warmupMinPassed = true;
    if (clientsReady >= clients) startRun();
  }, warmupMs);
  const warmupCapTimer = setTimeout(startRun, warmupMaxMs);

  const loop = async (client: number): Promise<void> => {
    let seq = 0;
    let ready = false;
    while (phase !== 'stopped') {
      const started = monotonicMs();
      try {
        await target.write(client, seq++, payload);
      } catch (e) {
        errors++;
        lastError = errorText(e);
        if (errors >= errorsMax) stop();
        continue;
      }
      if (!ready) {
        ready = true;
        clientsReady++;
        if (warmupMinPassed && clientsReady >= clients) startRun();
      }
      if (phase !== 'run') continue;
      latencies[count++] = monotonicMs() - started;
      if (count >= countMax) stop();
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => loop(i)));
  const leader = target.leader === undefined ? undefined : await target.leader().catch(() => undefined);

  const elapsedMs = t1 - t0;
  const serverTotalMs = serverMs?.reduce((a, b) => a + b, 0);
  const raft = raftWindow(await raftAtStart, await raftAtEnd, count, elapsedMs);
  return {
    raft,
    warmupElapsedMs: t0 - warmupStart,
    clientsReady: readyAtStart,
    clients,
    writes: count,
    elapsedMs,
    writesPerSecond: elapsedMs > 0 ? count / (elapsedMs / 1000) : Number.NaN,
    latency: summarize(latencies.subarray(0, count)),
    generatorCpuPercent: elapsedMs > 0 ? cpuUs / 1000 / elapsedMs * 100 : Number.NaN,
    serverCpuPercent: serverTotalMs === undefined || elapsedMs <= 0 ? undefined : serverTotalMs / elapsedMs * 100,
    serverCpuPercentByMember: serverMs === undefined || elapsedMs <= 0 ? undefined : serverMs.map((ms) => ms / elapsedMs * 100),
    serverCpuMsPerWrite: serverTotalMs === undefined || count === 0 ? undefined : serverTotalMs / count,
    generatorCpuMsPerWrite: count === 0 ? Number.NaN : cpuUs / 1000 / count,
    leader,
    errors,
    lastError,
  };
}

function raftWindow(start: RaftCounts | undefined, end: RaftCounts | undefined, writes: number, elapsedMs: number): RaftWindow | undefined {
  if (start === undefined || end === undefined || elapsedMs <= 0) return undefined;
  const entries = end.commitIndex - start.commitIndex;
  if (!(entries >= 0)) return undefined;
  return {
    entriesPerSecond: entries / (elapsedMs / 1000),
    writesPerEntry: entries > 0 ? writes / entries : Number.NaN,
    syncedLogWritesPerSecond: end.syncedLogWrites.map((n, i) => (n - (start.syncedLogWrites[i] ?? Number.NaN)) / (elapsedMs / 1000)),
  };
}

/**
 * etcd's counters from each member's Prometheus text at GET /metrics (on the client port): the
 * commit index (`etcd_server_proposals_committed_total`, a gauge of it) and the WAL's fsyncs
 * (`etcd_disk_wal_fsync_duration_seconds_count`).
 */
export async function etcdRaftCounts(clientUrls: readonly string[], timeoutMs = 2000): Promise<RaftCounts> {
  const texts = await Promise.all(clientUrls.map((url) => getText(`${url}/metrics`, timeoutMs)));
  const metric = (text: string | undefined, name: string): number => {
    const line = text?.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
  };
  const commits = texts.map((t) => metric(t, 'etcd_server_proposals_committed_total')).filter((n) => Number.isFinite(n));
  if (commits.length === 0) throw new Error('no etcd member reported etcd_server_proposals_committed_total');
  return { commitIndex: Math.max(...commits), syncedLogWrites: texts.map((t) => metric(t, 'etcd_disk_wal_fsync_duration_seconds_count')) };
}

// ---- failover -----------------------------------------------------------------------------------

/** What a background load did while it ran. */
export interface BackgroundLoadResult {
  readonly clients: number;
  readonly writes: number;
  readonly errors: number;
  readonly elapsedMs: number;
}

/**
 * A closed-loop load of `clients` writers that runs until `stop()` (and never past `maxMs` or
 * `countMax` writes): the load the failover rounds kill leaders under. A failed write (its member
 * killed, a timeout) is counted, and its writer pauses `pauseMs` before the next, so that writers
 * pinned to a dead member do not spin on refused connections.
 */
export function startBackgroundLoad(target: WriteTarget, options: { clients: number; payloadBytes: number; maxMs: number; countMax: number; pauseMs?: number }): { stop(): Promise<BackgroundLoadResult> } {
  const { clients, maxMs, countMax } = options;
  if (!(clients >= 1 && maxMs > 0 && countMax >= 1)) throw new Error(`startBackgroundLoad: bad options ${JSON.stringify(options)}`);
  const pauseMs = options.pauseMs ?? 100;
  const payload = payloadOf(options.payloadBytes);
  const started = monotonicMs();
  let stopped = false;
  let writes = 0;
  let errors = 0;
  const writer = async (client: number): Promise<void> => {
    for (let seq = 0; !stopped && writes + errors < countMax && monotonicMs() - started < maxMs; seq++) {
      try {
        await target.write(client, seq, payload);
        writes++;
      } catch {
        errors++;
        if (!stopped) await sleep(pauseMs);
      }
    }
  };
  const all = Promise.all(Array.from({ length: clients }, (_, c) => writer(c)));
  return {
    async stop() {
      stopped = true;
      await all;
      return { clients, writes, errors, elapsedMs: monotonicMs() - started };
    },
  };
}

export interface FailoverOptions extends FailoverHooks {
  readonly rounds: number;
  /** A round with no successful write this long after the kill counts as failed. Default 15 s. */
  readonly roundTimeoutMs?: number;
  /** No new round starts after this long in total. Default 180 s. */
  readonly budgetMs?: number;
  /** A new probe write starts this often while none has succeeded. Default 10 ms. */
  readonly probeEveryMs?: number;
  /** At most this many probe writes in flight at once (a round that meets it says so). Default 1000. */
  readonly probesInFlightMax?: number;
  /** Name used in progress lines and the summary. */
  readonly label?: string;
  /** Where progress and the summary go; console.log unless given. */
  readonly log?: (line: string) => void;
}

export interface FailoverResult {
  /** Kill -> first successful write, per successful round, in milliseconds. */
  readonly samplesMs: readonly number[];
  readonly stats: Stats;
  readonly roundsRun: number;
  readonly failures: readonly string[];
}

/**
 * Times leader failover, `rounds` times: kill the leader, then start a probe write every
 * `probeEveryMs` (several may be in flight: one forwarded to the dead leader can hang until a
 * timeout, and that should not hide the moment the survivors take writes again) until one
 * succeeds; the figure is kill -> that first success. The other probes are aborted, the killed
 * member is brought back, and the next round starts once the cluster is whole.
 */
export async function measureFailover(options: FailoverOptions): Promise<FailoverResult> {
  const roundTimeoutMs = options.roundTimeoutMs ?? 15_000;
  const budgetMs = options.budgetMs ?? 180_000;
  const probeEveryMs = options.probeEveryMs ?? 10;
  const probesInFlightMax = options.probesInFlightMax ?? 1000;
  const label = options.label ?? 'failover';
  const log = options.log ?? ((line: string) => console.log(line));
  const samplesMs: number[] = [];
  const failures: string[] = [];
  const started = monotonicMs();
  let roundsRun = 0;
  for (let round = 0; round < options.rounds && monotonicMs() - started < budgetMs; round++) {
    roundsRun++;
    await options.killLeader();
    const t0 = monotonicMs();
    const controller = new AbortController();
    setMaxListeners(probesInFlightMax + 10, controller.signal); // every probe listens for the abort
    const inFlight = new Set<Promise<void>>();
    let succeededAt: number | undefined;
    let lastError = '';
    let probes = 0;
    let capped = false;
    while (succeededAt === undefined && monotonicMs() - t0 < roundTimeoutMs) {
      if (inFlight.size >= probesInFlightMax) capped = true;
      else {
        probes++;
        const probe: Promise<void> = options.writeOnce(controller.signal).then(
          () => {
            succeededAt ??= monotonicMs();
          },
          (e: unknown) => {
            lastError = errorText(e);
          },
        ).finally(() => inFlight.delete(probe));
        inFlight.add(probe);
      }
      await sleep(probeEveryMs);
    }
    controller.abort();
    await Promise.all(inFlight);
    const cappedNote = capped ? `; ${probesInFlightMax} probes in flight at once held new ones back, so this may be late` : '';
    if (succeededAt === undefined) {
      failures.push(`round ${round + 1}: no write within ${roundTimeoutMs} ms (last error: ${lastError})`);
      log(`  ${label} round ${round + 1}: no successful write within ${roundTimeoutMs} ms (${probes} probes; last error: ${lastError}${cappedNote})`);
    } else {
      samplesMs.push(succeededAt - t0);
      log(`  ${label} round ${round + 1}: ${formatMs(succeededAt - t0)} (${probes} probes${cappedNote})`);
    }
    await options.recover();
  }
  const result: FailoverResult = { samplesMs, stats: summarize(samplesMs), roundsRun, failures };
  log(`  ${label}: ${formatFailover(result)}`);
  return result;
}

export function formatFailover(result: FailoverResult): string {
  const s = result.stats;
  return `kill -> first write: min ${formatMs(s.min)}, median ${formatMs(s.p50)}, p90 ${formatMs(s.p90)}, max ${formatMs(s.max)} ` +
    `(${s.count} of ${result.roundsRun} rounds${result.failures.length > 0 ? `; ${result.failures.length} failed` : ''})`;
}

// ---- etcd: processes ----------------------------------------------------------------------------

/** The etcd binary is not installed: the etcd rows are skipped. */
export class EtcdNotFoundError extends Error {
  readonly code = 'ETCD_NOT_FOUND';
  constructor(readonly searched: string) {
    super(`etcd not found (${searched}); install etcd 3.4 (Debian: apt-get install etcd-server) or set ETCD_BIN to its path`);
  }
}

/** An etcd member did not start or did not become healthy in time. */
export class EtcdStartError extends Error {
  readonly code = 'ETCD_START_FAILED';
  constructor(message: string, readonly logTail: string) {
    super(`${message}\n--- etcd log (tail) ---\n${logTail}`);
  }
}

/** An etcd gateway request failed (HTTP status other than 200, timeout, connection error). */
export class EtcdRequestError extends Error {
  readonly code = 'ETCD_REQUEST_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The etcd binary's path: $ETCD_BIN, else the first `etcd` on $PATH; undefined when there is none. */
export function findEtcd(): string | undefined {
  const explicit = process.env['ETCD_BIN'];
  if (explicit !== undefined && explicit !== '') return fs.existsSync(explicit) ? explicit : undefined;
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'etcd');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `etcd --version`'s first line, e.g. "etcd Version: 3.4.23". */
export function etcdVersion(binary: string): string {
  return execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 5000 }).split('\n')[0]?.trim() ?? '?';
}

/** Free TCP ports on 127.0.0.1, all held open at once so that they differ, then released. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<net.Server>((resolve, reject) => {
        const server = net.createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the process has exited (at once if it has). */
export async function terminate(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** Children still running, killed if this process exits without stopping them. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
export function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
    });
  }
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** etcd's member id (decimal string, as the gateway prints it); known once healthy. */
  memberId: string;
  /** The running process, undefined while killed. */
  process: ChildProcess | undefined;
}

export interface EtcdCluster {
  readonly binary: string;
  readonly version: string;
  /** The fresh temp directory holding every member's data dir and log; removed by `stop`. */
  readonly dir: string;
  readonly members: readonly EtcdMember[];
  /** Index of the member every running member names as leader. */
  findLeader(): Promise<number>;
  /** SIGKILL; resolves once the process has exited. */
  kill(index: number): Promise<void>;
  /** Starts a killed member again on its data dir and waits until it is healthy. */
  restart(index: number): Promise<void>;
  /** Waits until every member answers /health with a leader and all agree on the leader. */
  waitSettled(timeoutMs?: number): Promise<void>;
  /** CPU milliseconds used so far by each member's process, in member order (from /proc; 0 for one not running). */
  cpuMs(): number[];
  /** SIGTERM (then SIGKILL after 5 s) to every member, then removes `dir`. */
  stop(): Promise<void>;
}

export interface EtcdClusterOptions {
  readonly members: number;
  /** A fresh directory is made inside this one. */
  readonly baseDir: string;
  /** Default: `findEtcd()`. */
  readonly binary?: string;
  readonly healthTimeoutMs?: number;
}

const ETCD_HEALTH_TIMEOUT_MS = 20_000;
const ETCD_STOP_TIMEOUT_MS = 5_000;

function logTail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

let clockTicksPerSecond: number | undefined;
/** Linux's USER_HZ (getconf CLK_TCK), read once; 100 if it cannot be read. */
function clockTicks(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim());
      clockTicksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

/** CPU milliseconds a process has used so far (user + system, from /proc); 0 once it is gone. */
export function procCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which is in parentheses and may hold spaces): state is field 3,
    // utime field 14, stime field 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 1000 / clockTicks();
  } catch {
    return 0;
  }
}

/** The body of a 200 answer to GET url as text; undefined on any failure. */
function getText(url: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200 ? Buffer.concat(chunks).toString('utf8') : undefined));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/** A GET to the gateway, for health checks; undefined on any failure. */
async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  const text = await getText(url, timeoutMs);
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Starts `members` etcd processes on 127.0.0.1 with free client and peer ports, bootstrapped
 * statically (`--initial-cluster`), each with its data dir and log under a fresh temp directory
 * in `baseDir`. Fsync stays on (etcd's default). Resolves once every member is healthy. Throws
 * EtcdNotFoundError when there is no etcd binary.
 */
export async function startEtcdCluster(options: EtcdClusterOptions): Promise<EtcdCluster> {
  const binary = options.binary ?? findEtcd();
  if (binary === undefined) {
    const explicit = process.env['ETCD_BIN'];
    throw new EtcdNotFoundError(explicit !== undefined && explicit !== '' ? `ETCD_BIN=${explicit} does not exist` : 'no etcd on $PATH and ETCD_BIN not set');
  }
  const version = etcdVersion(binary);
  const healthTimeoutMs = options.healthTimeoutMs ?? ETCD_HEALTH_TIMEOUT_MS;
  const dir = fs.mkdtempSync(path.join(options.baseDir, 'swarm-bench-etcd-'));
  const ports = await freePorts(options.members * 2);
  const members: EtcdMember[] = Array.from({ length: options.members }, (_, i) => ({
    name: `e${i + 1}`,
    clientUrl: `http://127.0.0.1:${ports[2 * i] as number}`,
    peerUrl: `http://127.0.0.1:${ports[2 * i + 1] as number}`,
    dataDir: path.join(dir, `e${i + 1}`),
    memberId: '',
    process: undefined,
  }));
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const logFile = (m: EtcdMember): string => path.join(dir, `${m.name}.log`);

  const launch = (m: EtcdMember): void => {
    const fd = fs.openSync(logFile(m), 'a');
    const child = spawn(binary, [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl,
      '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', path.basename(dir),
      '--logger', 'zap',
      '--log-outputs', 'stderr',
    ], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    track(child);
    m.process = child;
    child.once('exit', () => {
      if (m.process === child) m.process = undefined;
    });
  };

  const waitHealthy = async (m: EtcdMember, timeoutMs: number): Promise<void> => {
    const t0 = monotonicMs();
    while (monotonicMs() - t0 < timeoutMs) {
      if (m.process === undefined) throw new EtcdStartError(`etcd member ${m.name} exited while starting`, logTail(logFile(m)));
      const health = (await getJson(`${m.clientUrl}/health`, 1000)) as { health?: string } | undefined;
      if (health?.health === 'true') {
        const status = await memberStatus(m.clientUrl);
        if (status !== undefined) {
          m.memberId = status.memberId;
          return;
        }
      }
      await sleep(50);
    }
    throw new EtcdStartError(`etcd member ${m.name} not healthy within ${timeoutMs} ms`, logTail(logFile(m)));
  };

  const running = (): EtcdMember[] => members.filter((m) => m.process !== undefined);

  const findLeader = async (): Promise<number> => {
    const statuses = await Promise.all(running().map((m) => memberStatus(m.clientUrl)));
    const leaders = new Set(statuses.map((s) => s?.leader));
    const leader = [...leaders][0];
    if (leaders.size !== 1 || leader === undefined || leader === '0') throw new EtcdRequestError(`members disagree on the leader or have none: ${JSON.stringify(statuses)}`);
    const index = members.findIndex((m) => m.memberId === leader);
    if (index < 0) throw new EtcdRequestError(`leader ${leader} is not a known member`);
    return index;
  };

  const waitSettled = async (timeoutMs = healthTimeoutMs): Promise<void> => {
    const t0 = monotonicMs();
    let last: unknown;
    while (monotonicMs() - t0 < timeoutMs) {
      try {
        await Promise.all(members.map((m) => waitHealthy(m, Math.max(1, timeoutMs - (monotonicMs() - t0)))));
        await findLeader();
        return;
      } catch (e) {
        last = e;
        if (e instanceof EtcdStartError) throw e;
        await sleep(50);
      }
    }
    throw new EtcdStartError(`etcd cluster not settled within ${timeoutMs} ms: ${errorText(last)}`, members.map((m) => `${m.name}:\n${logTail(logFile(m), 5)}`).join('\n'));
  };

  const kill = async (index: number): Promise<void> => {
    const m = members[index];
    const child = m?.process;
    if (m === undefined || child === undefined) throw new Error(`etcd member ${index} is not running`);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  };

  const restart = async (index: number): Promise<void> => {
    const m = members[index];
    if (m === undefined || m.process !== undefined) throw new Error(`etcd member ${index} is running or unknown`);
    launch(m);
    await waitHealthy(m, healthTimeoutMs);
  };

  const stop = async (): Promise<void> => {
    await Promise.all(members.map((m) => (m.process === undefined ? undefined : terminate(m.process, ETCD_STOP_TIMEOUT_MS))));
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const cluster: EtcdCluster = {
    binary,
    version,
    dir,
    members,
    findLeader,
    kill,
    restart,
    waitSettled,
    cpuMs: () => members.map((m) => procCpuMs(m.process?.pid)),
    stop,
  };
  try {
    for (const m of members) launch(m);
    await waitSettled();
  } catch (e) {
    await stop();
    throw e;
  }
  return cluster;
}

// ---- etcd: the v3 JSON gateway ------------------------------------------------------------------

interface MemberStatus {
  readonly memberId: string;
  readonly leader: string;
  readonly raftIndex: string;
}

/** POST /v3/maintenance/status on one member; undefined when it does not answer. */
async function memberStatus(clientUrl: string): Promise<MemberStatus | undefined> {
  try {
    const agent = new http.Agent({ keepAlive: false });
    const reply = (await postJson(agent, new URL(clientUrl), '/v3/maintenance/status', '{}', 1000)) as {
      header?: { member_id?: string };
      leader?: string;
      raftIndex?: string;
    };
    const memberId = reply.header?.member_id;
    if (memberId === undefined) return undefined;
    return { memberId, leader: reply.leader ?? '0', raftIndex: reply.raftIndex ?? '0' };
  } catch {
    return undefined;
  }
}

/** One JSON POST through `agent`; rejects with EtcdRequestError unless the reply is 200. */
function postJson(agent: http.Agent, url: URL, urlPath: string, body: string, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    };
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: urlPath,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        ...(signal === undefined ? {} : { signal }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => fail(new EtcdRequestError(`${url.host}${urlPath}: ${e.message}`, { cause: e })));
        res.on('end', () => {
          if (settled) return;
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            fail(new EtcdRequestError(`${url.host}${urlPath}: HTTP ${res.statusCode ?? '?'} ${text.slice(0, 200)}`));
            return;
          }
          try {
            const parsed: unknown = JSON.parse(text);
            settled = true;
            clearTimeout(timer);
            resolve(parsed);
          } catch (e) {
            fail(new EtcdRequestError(`${url.host}${urlPath}: bad JSON ${text.slice(0, 200)}`, { cause: e }));
          }
        });
      },
    );
    const timer = setTimeout(() => {
      fail(new EtcdRequestError(`${url.host}${urlPath}: no reply within ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    req.on('error', (e) => fail(new EtcdRequestError(`${url.host}${urlPath}: ${e.message}`, { cause: e })));
    req.end(body);
  });
}

export interface EtcdTargetOptions {
  /**
   * 'spread': write n of client c goes to member (c + n) mod members, round robin per request as
   * etcd's Go client balancer does, so most writes reach a follower that forwards them to the
   * leader. 'first': every write goes to member 0, whatever its role. 'pinned' (the default):
   * client c always writes to member c mod members, as a client holding one connection to one
   * endpoint does; two clients in three then reach a follower.
   */
  readonly endpoints: Endpoints;
  /** Sockets per member and idle sockets kept; at least the most concurrent clients. */
  readonly socketsMax: number;
  /** A write with no reply within this long fails. Default 10 s. */
  readonly requestTimeoutMs?: number;
}

/**
 * Puts of the payload (base64, as the gateway's JSON wants) at key `bench/<client>/<seq % 100>`
 * through POST /v3/kv/put, on one keep-alive Agent. Resolves once etcd answers, i.e. after the
 * put is committed by a quorum and applied on the member that took it.
 */
export function etcdTarget(cluster: { readonly members: readonly Pick<EtcdMember, 'clientUrl'>[]; cpuMs(): readonly number[]; findLeader?(): Promise<number> }, options: EtcdTargetOptions): WriteTarget {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.socketsMax, maxFreeSockets: options.socketsMax, scheduling: 'lifo' });
  const urls = cluster.members.map((m) => new URL(m.clientUrl));
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const valueCache = new WeakMap<Uint8Array, string>();
  return {
    name: 'etcd',
    write(clientIndex, seq, payload) {
      let value = valueCache.get(payload);
      if (value === undefined) {
        value = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64');
        valueCache.set(payload, value);
      }
      const key = Buffer.from(`bench/${clientIndex}/${seq % 100}`).toString('base64');
      const url = urls[memberFor(options.endpoints, urls.length, clientIndex, seq)] as URL;
      return postJson(agent, url, '/v3/kv/put', `{"key":"${key}","value":"${value}"}`, timeoutMs).then(() => undefined);
    },
    close() {
      agent.destroy();
      return Promise.resolve();
    },
    serverCpuMs: () => cluster.cpuMs(),
    ...(cluster.findLeader === undefined ? {} : { leader: cluster.findLeader }),
    raftCounts: () => etcdRaftCounts(cluster.members.map((m) => m.clientUrl)),
  };
}

/**
 * Failover for etcd: find the leader (each member's /v3/maintenance/status: `leader` against
 * `header.member_id`), kill -9 it, probe with puts round robin over the survivors (on an Agent
 * of their own, emptied after each round), restart it and wait until all
 * members are healthy and agree on a leader.
 */
export function etcdFailoverHooks(cluster: EtcdCluster, options?: { probeTimeoutMs?: number; socketsMax?: number }): FailoverHooks {
  // A probe forwarded to the dead leader is lost and would wait for etcd's own request timeout
  // (7 s); giving up after 2 s keeps the probes in flight (one per 10 ms) near 200, far below
  // the Agent's socket limit, so no probe ever queues inside the Agent.
  const probeTimeoutMs = options?.probeTimeoutMs ?? 2000;
  const socketsMax = options?.socketsMax ?? 1000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: socketsMax, maxFreeSockets: socketsMax });
  const value = Buffer.from(payloadOf(256)).toString('base64');
  let killed: number | undefined;
  let next = 0;
  return {
    async killLeader() {
      await cluster.waitSettled();
      killed = await cluster.findLeader();
      await cluster.kill(killed);
    },
    writeOnce(signal) {
      const survivors = cluster.members.filter((m) => m.process !== undefined);
      const m = survivors[next++ % survivors.length];
      if (m === undefined) return Promise.reject(new Error('no etcd member running'));
      const key = Buffer.from(`bench/failover/${next % 100}`).toString('base64');
      return postJson(agent, new URL(m.clientUrl), '/v3/kv/put', `{"key":"${key}","value":"${value}"}`, probeTimeoutMs, signal).then(() => undefined);
    },
    async recover() {
      if (killed !== undefined) await cluster.restart(killed);
      killed = undefined;
      agent.destroy(); // idle sockets to the killed member's old process are dead
      await cluster.waitSettled();
    },
  };
}

export interface EtcdStartOptions extends EtcdClusterOptions, Omit<EtcdTargetOptions, 'socketsMax'> {
  /** The most concurrent clients the target will see (sizes the Agent). */
  readonly clientsMax: number;
}

/** An etcd cluster as a StartedCluster: its write target, failover hooks and `stop`. */
export async function startEtcd(options: EtcdStartOptions): Promise<StartedCluster & { readonly cluster: EtcdCluster }> {
  const cluster = await startEtcdCluster(options);
  const target = etcdTarget(cluster, { endpoints: options.endpoints, socketsMax: options.clientsMax, requestTimeoutMs: options.requestTimeoutMs });
  return {
    cluster,
    target,
    failover: etcdFailoverHooks(cluster),
    description:
      `${cluster.version}, ${cluster.members.length} members on 127.0.0.1 (${cluster.members.map((m) => m.clientUrl.replace('http://127.0.0.1:', ':')).join(' ')}), ` +
      `data under ${cluster.dir}, fsync on, etcd defaults (heartbeat 100 ms, election 1000 ms, no pre-vote); client: v3 JSON gateway over HTTP/1.1 keep-alive, ` +
      describeEndpoints(options.endpoints),
    async stop() {
      await target.close();
      await cluster.stop();
    },
  };
}

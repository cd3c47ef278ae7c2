// The cluster benchmark: durable writes per second, write latency and leader failover of a
// three-member cluster of real processes, our managers' Raft group beside etcd 3.4 measured in
// the same run. A benchmark, not a test: it prints figures and exits 0 whether ours is ahead or
// behind.
//
//   npm run bench:cluster     (= node --expose-gc --import tsx bench/cluster.ts)
//   flags: --levels 1,100,1000  --run-ms 5000  --windows 3  --prewarm-ms 10000  --rounds 20  --failover-clients 100  --endpoints pinned|spread|first  --only etcd|ours|ceiling
//
// Targets come from the registry below. etcd: three `etcd` processes on 127.0.0.1 (fsync on,
// etcd's defaults), driven through its v3 JSON gateway (bench/cluster-lib.ts). Ours: whatever
// bench/cluster-ours.ts's `startOurCluster` returns; until that file exists the bench runs etcd
// alone and says so. The ceilings (bench/cluster-ceiling.ts): the same load, along each target's
// client path, answered by a process that does nothing, which says how many writes/s this
// generator can drive here at all and how much of the machine it takes to.
//
// Every target is started first and all stay up; only one is loaded at a time. First each target
// gets a prewarm: the first level's load for `--prewarm-ms`, measured and printed apart, never
// counted in a level's figures. Our managers run JavaScript that V8 compiles as it runs: in their
// first seconds under load (measured here, 1 client: p50 3.8-5.6 ms in the first second, about
// 2 ms from the fifth on) a window measures the compiler, not the cluster a user runs for days.
// etcd and the responders get the same prewarm, and its figures stay in the table. Per level (1, 100,
// 1,000 concurrent clients, each a closed loop with one 256-byte write in flight), `--windows`
// rounds: in each, every target gets one window, in an order rotated from round to round, so that
// a machine that drifts over minutes (seen here: etcd's writes/s at 100 clients fell by a third
// between runs forty minutes apart) weighs on every target alike. A window: a warm-up (1.5 s, and until
// every client has completed a write, so that connecting and TLS handshakes are behind it; at
// most 30 s), then a measured span bounded in time and count; writes/s and p50/p99 over the
// writes completed in it, and this process's CPU over it (the load generator) so that a
// saturated generator shows. A target's figures for a level are its median window by writes/s
// (all of that window's figures, so that they belong together); the table also gives each
// target's slowest and fastest window. Then leader failover, 20 rounds per cluster under a load of
// 100 clients writing throughout: kill -9 the leader, time until the first probe write succeeds
// via the survivors, bring the member back.
import fs from 'node:fs';
import os from 'node:os';
import {
  EtcdNotFoundError,
  formatCount,
  formatFailover,
  formatMs,
  measureFailover,
  startBackgroundLoad,
  runLoad,
  sleep,
  startEtcd,
  type FailoverResult,
  type LoadResult,
  type OurClusterModule,
  type StartedCluster,
  type Endpoints,
} from './cluster-lib.js';
import { startCeiling } from './cluster-ceiling.js';
import { monotonicMs } from '../runtime/env/real/index.js';

// ---- sizes and flags (every loop below is bounded by one of these) ------------------------------

const PAYLOAD_BYTES = 256;
const WARMUP_MS = 1500;
/** The warm-up waits (at most this long) until every client has completed one write. */
const WARMUP_MAX_MS = 30_000;
const RUN_COUNT_MAX = 200_000;
const FAILOVER_ROUND_TIMEOUT_MS = 15_000;
const FAILOVER_BUDGET_MS = 150_000;
/**
 * Before a window, the targets that wait must be quiet: together under this share of one core
 * over a sample (idle, ours' three members take about 5% and etcd's about 11%), so that what the
 * last window left running (a snapshot, a compaction, a collector) does not land in the next
 * target's window. Waited for at most QUIET_WAIT_MAX_MS; the wait is printed when it is long.
 */
const QUIET_CPU_PERCENT = 25;
const QUIET_SAMPLE_MS = 500;
const QUIET_WAIT_MAX_MS = 20_000;

function usage(message: string): never {
  console.error(`bench/cluster.ts: ${message}\nflags: --levels 1,100,1000  --run-ms 5000  --windows 3  --prewarm-ms 10000  --rounds 20  --failover-clients 100  --endpoints pinned|spread|first  --only etcd|ours|ceiling`);
  process.exit(2);
}

function parseFlags(argv: readonly string[]): { levels: number[]; runMs: number; windows: number; prewarmMs: number; rounds: number; failoverClients: number; endpoints: Endpoints; only: string | undefined } {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i] as string;
    const value = argv[i + 1];
    if (!['--levels', '--run-ms', '--windows', '--prewarm-ms', '--rounds', '--failover-clients', '--endpoints', '--only'].includes(name)) usage(`unknown flag ${name}`);
    if (value === undefined) usage(`${name} needs a value`);
    flags.set(name, value);
  }
  const levels = (flags.get('--levels') ?? '1,100,1000').split(',').map(Number);
  if (levels.some((n) => !Number.isInteger(n) || n < 1 || n > 10_000)) usage('--levels: integers from 1 to 10000, comma-separated');
  const runMs = Number(flags.get('--run-ms') ?? 5000);
  if (!(runMs >= 100 && runMs <= 600_000)) usage('--run-ms: 100 to 600000');
  const windows = Number(flags.get('--windows') ?? 3);
  if (!Number.isInteger(windows) || windows < 1 || windows > 20) usage('--windows: an integer from 1 to 20');
  const prewarmMs = Number(flags.get('--prewarm-ms') ?? 10_000);
  if (!Number.isInteger(prewarmMs) || prewarmMs < 0 || prewarmMs > 600_000) usage('--prewarm-ms: an integer from 0 (no prewarm) to 600000');
  const rounds = Number(flags.get('--rounds') ?? 20);
  if (!Number.isInteger(rounds) || rounds < 0 || rounds > 1000) usage('--rounds: an integer from 0 to 1000');
  const failoverClients = Number(flags.get('--failover-clients') ?? 100);
  if (!Number.isInteger(failoverClients) || failoverClients < 0 || failoverClients > 10_000) usage('--failover-clients: an integer from 0 (probes only) to 10000');
  const endpoints = flags.get('--endpoints') ?? 'pinned';
  if (endpoints !== 'spread' && endpoints !== 'first' && endpoints !== 'pinned') usage('--endpoints: pinned, spread or first');
  const only = flags.get('--only');
  if (only !== undefined && only !== 'etcd' && only !== 'ours' && only !== 'ceiling') usage('--only: etcd, ours or ceiling');
  return { levels, runMs, windows, prewarmMs, rounds, failoverClients, endpoints, only };
}

const FLAGS = parseFlags(process.argv.slice(2));
const CLIENTS_MAX = Math.max(...FLAGS.levels, FLAGS.rounds > 0 ? FLAGS.failoverClients : 0);

// ---- the registry of targets --------------------------------------------------------------------

interface Unavailable {
  readonly unavailable: string;
}

interface TargetSource {
  /** 'etcd' is the baseline; 'ours' the one measured against it; the ceilings are each one's client path against a responder. */
  readonly name: 'etcd' | 'ours' | 'ceiling-etcd' | 'ceiling-ours';
  /** What its lines are labelled with. */
  readonly label: string;
  /** Which `--only` value runs it. */
  readonly group: 'etcd' | 'ours' | 'ceiling';
  start(baseDir: string): Promise<StartedCluster | Unavailable>;
}

const OURS_FILE = new URL('./cluster-ours.ts', import.meta.url);

const REGISTRY: readonly TargetSource[] = [
  {
    name: 'etcd',
    label: 'etcd',
    group: 'etcd',
    async start(baseDir) {
      try {
        return await startEtcd({ members: 3, baseDir, endpoints: FLAGS.endpoints, clientsMax: CLIENTS_MAX });
      } catch (e) {
        if (e instanceof EtcdNotFoundError) return { unavailable: e.message };
        throw e;
      }
    },
  },
  {
    name: 'ours',
    label: 'ours',
    group: 'ours',
    async start(baseDir) {
      // Guarded: bench/cluster-ours.ts is written elsewhere. Once it exists it is picked up here
      // without a change (a URL import, so that tsc does not need the file to exist).
      if (!fs.existsSync(OURS_FILE)) return { unavailable: 'bench/cluster-ours.ts does not exist yet' };
      const mod = (await import(OURS_FILE.href)) as Partial<OurClusterModule>;
      if (typeof mod.startOurCluster !== 'function') return { unavailable: 'bench/cluster-ours.ts does not export startOurCluster' };
      return mod.startOurCluster({ baseDir, clientsMax: CLIENTS_MAX, endpoints: FLAGS.endpoints });
    },
  },
  {
    name: 'ceiling-etcd',
    label: "ceiling, etcd's path",
    group: 'ceiling',
    start: (baseDir) => startCeiling('etcd', { baseDir, clientsMax: CLIENTS_MAX }),
  },
  {
    name: 'ceiling-ours',
    label: "ceiling, ours' path",
    group: 'ceiling',
    start: (baseDir) => startCeiling('ours', { baseDir, clientsMax: CLIENTS_MAX }),
  },
];

// ---- running one target -------------------------------------------------------------------------

interface TargetFigures {
  /** Per level: every window, in the order they ran (its figures are the median one: `medianLoad`). */
  readonly windows: Map<number, LoadResult[]>;
  /** The prewarm: the first level's load right after the start, apart from the windows. */
  prewarm: LoadResult | undefined;
  failover: FailoverResult | undefined;
  /** Why there are no figures (not available, or failed), or why some are missing. */
  note: string;
}

function noFigures(note = ''): TargetFigures {
  return { windows: new Map(), prewarm: undefined, failover: undefined, note };
}

/** A target that started: it stays up until every window and failover round is done. */
interface Running {
  readonly source: TargetSource;
  readonly started: StartedCluster;
  readonly figures: TargetFigures;
  /** A window or its failover failed: it is stopped, and measured no further. */
  failed: boolean;
}

function printLoad(name: string, r: LoadResult, window: number | 'prewarm'): void {
  const tag = window === 'prewarm' ? ', prewarm' : FLAGS.windows > 1 ? ` [${window + 1}/${FLAGS.windows}]` : '';
  console.log(
    `  ${`${name}, ${formatCount(r.clients)} client${r.clients === 1 ? '' : 's'}${tag}`.padEnd(FLAGS.only === 'ours' || FLAGS.only === 'etcd' ? 28 : 42)} ${formatCount(r.writesPerSecond).padStart(7)} writes/s  p50 ${formatMs(r.latency.p50)}  p99 ${formatMs(r.latency.p99)}  ` +
      `max ${formatMs(r.latency.max)}  (${formatCount(r.writes)} writes in ${(r.elapsedMs / 1000).toFixed(1)} s)  generator CPU ${r.generatorCpuPercent.toFixed(0)}%` +
      (r.serverCpuPercent === undefined ? '' : `  server CPU ${r.serverCpuPercent.toFixed(0)}%${describeMembersCpu(r)}`) +
      (r.serverCpuMsPerWrite === undefined ? '' : `  CPU per write: servers ${formatMs(r.serverCpuMsPerWrite)}, generator ${formatMs(r.generatorCpuMsPerWrite)}`) +
      describeRaft(r) +
      `  warm-up ${(r.warmupElapsedMs / 1000).toFixed(1)} s` + (r.clientsReady < r.clients ? ` (only ${formatCount(r.clientsReady)} clients had written)` : '') +
      (r.errors > 0 ? `  ${r.errors} errors (last: ${r.lastError ?? '?'})` : ''),
  );
}

/**
 * "  Raft: 318 entries/s, 10.6 writes per entry, synced log writes/s: leader 320, followers 318, 317,
 * 12.1 ms of server CPU per entry", or "" when the target reports no counters.
 */
function describeRaft(r: LoadResult): string {
  const raft = r.raft;
  if (raft === undefined) return '';
  const rate = (n: number): string => (Number.isFinite(n) ? formatCount(n) : '?');
  const bySync = byMember(raft.syncedLogWritesPerSecond, r.leader, rate);
  const cpuPerEntry = r.serverCpuMsPerWrite === undefined || !Number.isFinite(raft.writesPerEntry) ? '' : `, ${formatMs(r.serverCpuMsPerWrite * raft.writesPerEntry)} of server CPU per entry`;
  return `  Raft: ${rate(raft.entriesPerSecond)} entries/s, ${Number.isFinite(raft.writesPerEntry) ? raft.writesPerEntry.toFixed(1) : '?'} writes per entry, synced log writes/s: ${bySync}${cpuPerEntry}`;
}

/** " (all members: leader 57%, followers 45%, 44%)", or per member when the leader is not known; "" for one process. */
function describeMembersCpu(r: LoadResult): string {
  const by = r.serverCpuPercentByMember;
  if (by === undefined || by.length <= 1) return '';
  return ` (all members: ${byMember(by, r.leader, (n) => `${n.toFixed(0)}%`)})`;
}

/** A figure per member (member order): "leader 57%, followers 45%, 44%", or "57%, 45%, 44%" when the leader is not known. */
function byMember(values: readonly number[], leader: number | undefined, format: (n: number) => string): string {
  const lead = leader === undefined ? undefined : values[leader];
  if (lead === undefined) return values.map(format).join(', ');
  return `leader ${format(lead)}, followers ${values.filter((_, i) => i !== leader).map(format).join(', ')}`;
}

/** Starts `source`; its figures say why when it could not be. */
async function startTarget(source: TargetSource, baseDir: string): Promise<Running | TargetFigures> {
  const t0 = monotonicMs();
  try {
    const started = await source.start(baseDir);
    if ('unavailable' in started) {
      console.log(`${source.label}: not available: ${started.unavailable}`);
      return noFigures('not available');
    }
    console.log(`${source.label}: started in ${(monotonicMs() - t0).toFixed(0)} ms${started.description === undefined ? '' : `; ${started.description}`}`);
    return { source, started, figures: noFigures(), failed: false };
  } catch (e) {
    console.log(`${source.label}: FAILED to start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
    return noFigures('failed');
  }
}

/** Marks `target` failed (its figures so far stay) and stops it. */
async function fail(target: Running, what: string, e: unknown): Promise<void> {
  console.log(`${target.source.label}: FAILED (${what}): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
  target.failed = true;
  target.figures.note = 'failed';
  await target.started.stop().catch((stopError: unknown) => console.log(`${target.source.label}: stop failed too: ${String(stopError)}`));
}

/** The CPU (% of one core) the waiting targets' processes used over one sample. */
async function othersCpuPercent(others: readonly Running[]): Promise<number> {
  const total = (): number => others.reduce((n, t) => n + (t.started.target.serverCpuMs?.().reduce((a, b) => a + b, 0) ?? 0), 0);
  const before = total();
  const t0 = monotonicMs();
  await sleep(QUIET_SAMPLE_MS);
  return (100 * (total() - before)) / (monotonicMs() - t0);
}

/** Waits (bounded) until the targets other than `target` are quiet; says so when it took long or they never were. */
async function waitQuiet(target: Running, running: readonly Running[]): Promise<void> {
  const others = running.filter((t) => t !== target && !t.failed);
  if (others.length === 0) return;
  const t0 = monotonicMs();
  let cpu = await othersCpuPercent(others);
  while (cpu > QUIET_CPU_PERCENT && monotonicMs() - t0 < QUIET_WAIT_MAX_MS) cpu = await othersCpuPercent(others);
  const waited = monotonicMs() - t0;
  if (cpu > QUIET_CPU_PERCENT) console.log(`  (the waiting targets still used ${cpu.toFixed(0)}% of a core after ${(waited / 1000).toFixed(1)} s; ${target.source.label} measured anyway)`);
  else if (waited > 2 * QUIET_SAMPLE_MS) console.log(`  (waited ${(waited / 1000).toFixed(1)} s for the waiting targets to go quiet)`);
}

/**
 * One window of `clients` writers, or the prewarm (the first level's load from the first write on,
 * no warm-up of its own, `--prewarm-ms` long, its figures kept apart from the levels').
 */
async function runWindow(target: Running, clients: number, window: number | 'prewarm'): Promise<void> {
  const prewarm = window === 'prewarm';
  globalThis.gc?.();
  try {
    const r = await runLoad(target.started.target, {
      clients,
      warmupMs: prewarm ? 0 : WARMUP_MS,
      warmupMaxMs: WARMUP_MAX_MS,
      runMs: prewarm ? FLAGS.prewarmMs : FLAGS.runMs,
      countMax: RUN_COUNT_MAX,
      payloadBytes: PAYLOAD_BYTES,
    });
    printLoad(target.source.label, r, window);
    if (prewarm) {
      target.figures.prewarm = r;
      return;
    }
    const list = target.figures.windows.get(clients) ?? [];
    list.push(r);
    target.figures.windows.set(clients, list);
  } catch (e) {
    await fail(target, prewarm ? `prewarm, ${formatCount(clients)} clients` : `${formatCount(clients)} clients, window ${window + 1}`, e);
  }
}

/** A target's figures for a level: its window of median writes/s (the lower middle one for an even count). */
function medianLoad(f: TargetFigures | undefined, clients: number): LoadResult | undefined {
  const sorted = [...(f?.windows.get(clients) ?? [])].sort((a, b) => a.writesPerSecond - b.writesPerSecond);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/**
 * Every level's windows, each round rotating the order of the targets (round w starts with the
 * w-th), then each cluster's failover; every target is stopped at the end, whatever happened.
 */
async function measure(running: readonly Running[]): Promise<void> {
  try {
    if (FLAGS.prewarmMs > 0) {
      for (const target of running) {
        if (target.failed) continue;
        await waitQuiet(target, running);
        await runWindow(target, FLAGS.levels[0] as number, 'prewarm');
      }
      console.log();
    }
    for (const clients of FLAGS.levels) {
      for (let w = 0; w < FLAGS.windows; w++) {
        const order = running.filter((t) => !t.failed);
        for (let i = 0; i < order.length; i++) {
          const target = order[(i + w) % order.length] as Running;
          await waitQuiet(target, running);
          await runWindow(target, clients, w);
        }
      }
    }
    console.log();
    if (FLAGS.rounds === 0) return;
    for (const t of running) {
      if (t.failed || t.source.group === 'ceiling') continue;
      const hooks = t.started.failover;
      if (hooks === undefined) {
        t.figures.note = 'no failover hooks';
        console.log(`  ${t.source.name}: failover not measured (no failover hooks)`);
        continue;
      }
      await waitQuiet(t, running);
      // The issue kills the leader under load: writers pinned to every member keep going throughout.
      const load = FLAGS.failoverClients > 0
        ? startBackgroundLoad(t.started.target, { clients: FLAGS.failoverClients, payloadBytes: PAYLOAD_BYTES, maxMs: FAILOVER_BUDGET_MS + FAILOVER_ROUND_TIMEOUT_MS, countMax: 10_000_000 })
        : undefined;
      try {
        t.figures.failover = await measureFailover({ ...hooks, rounds: FLAGS.rounds, roundTimeoutMs: FAILOVER_ROUND_TIMEOUT_MS, budgetMs: FAILOVER_BUDGET_MS, label: `${t.source.name} failover` });
      } catch (e) {
        await fail(t, 'failover', e);
      } finally {
        const r = await load?.stop();
        if (r !== undefined) {
          console.log(`  ${t.source.name} failover: under ${formatCount(r.clients)} clients writing throughout: ${formatCount(r.writes)} writes in ${(r.elapsedMs / 1000).toFixed(1)} s (${formatCount((1000 * r.writes) / r.elapsedMs)}/s), ${formatCount(r.errors)} failed (their members killed, or timed out)`);
        }
      }
      console.log();
    }
  } finally {
    for (const t of running) {
      if (!t.failed) await t.started.stop().catch((e: unknown) => console.log(`${t.source.label}: stop failed: ${String(e)}`));
    }
  }
}

// ---- the table ----------------------------------------------------------------------------------

interface Row {
  readonly figure: string;
  readonly ours: string;
  readonly etcd: string;
  readonly ratio: string;
}

function printTable(rows: readonly Row[]): void {
  const header: Row = { figure: 'figure', ours: 'ours', etcd: 'etcd (baseline)', ratio: 'ours/etcd' };
  const keys = ['figure', 'ours', 'etcd', 'ratio'] as const;
  const widths = keys.map((k) => Math.max(header[k].length, ...rows.map((r) => r[k].length)));
  const line = (r: Row): string => keys.map((k, i) => r[k].padEnd(widths[i] as number)).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
}

/** The leader's figure of a per-member list from a window, when the window knows its leader. */
function atLeader(r: LoadResult | undefined, values: (r: LoadResult) => readonly number[] | undefined): number | undefined {
  return r?.leader === undefined ? undefined : values(r)?.[r.leader];
}

function buildRows(figures: ReadonlyMap<string, TargetFigures>): Row[] {
  const rows: Row[] = [];
  const missing = (f: TargetFigures | undefined): string => (f === undefined ? 'not run' : f.note === '' ? '-' : f.note);
  const addOf = (ours: TargetFigures | undefined, etcd: TargetFigures | undefined) => (figure: string, pick: (f: TargetFigures) => number | undefined, format: (n: number) => string): void => {
    if (ours === undefined && etcd === undefined) return; // neither was run: no row
    const o = ours === undefined ? undefined : pick(ours);
    const e = etcd === undefined ? undefined : pick(etcd);
    rows.push({
      figure,
      ours: o === undefined || Number.isNaN(o) ? missing(ours) : format(o),
      etcd: e === undefined || Number.isNaN(e) ? missing(etcd) : format(e),
      ratio: o === undefined || e === undefined || Number.isNaN(o) || Number.isNaN(e) || e === 0 ? '-' : `${(o / e).toFixed(2)}x`,
    });
  };
  const pct = (n: number): string => `${n.toFixed(0)}%`;
  const ours = figures.get('ours');
  const etcd = figures.get('etcd');
  const add = addOf(ours, etcd);
  const ceilingOurs = figures.get('ceiling-ours');
  const ceilingEtcd = figures.get('ceiling-etcd');
  const addCeiling = addOf(ceilingOurs, ceilingEtcd);
  if (FLAGS.prewarmMs > 0) {
    const first = FLAGS.levels[0] as number;
    const level = `prewarm (just started, ${formatCount(first)} client${first === 1 ? '' : 's'}, ${FLAGS.prewarmMs / 1000} s)`;
    add(`${level}: writes/s`, (f) => f.prewarm?.writesPerSecond, (n) => `${formatCount(n)}/s`);
    add(`${level}: p50 latency`, (f) => f.prewarm?.latency.p50, formatMs);
    add(`${level}: p99 latency`, (f) => f.prewarm?.latency.p99, formatMs);
  }
  for (const c of FLAGS.levels) {
    const level = `${formatCount(c)} client${c === 1 ? '' : 's'}`;
    add(`${level}: writes/s`, (f) => medianLoad(f, c)?.writesPerSecond, (n) => `${formatCount(n)}/s`);
    if (FLAGS.windows > 1 && (ours !== undefined || etcd !== undefined)) {
      // How far apart a target's own windows were: a ratio inside that spread is not a result.
      const spread = (f: TargetFigures | undefined): string => {
        const rates = (f?.windows.get(c) ?? []).map((r) => r.writesPerSecond);
        return rates.length === 0 ? missing(f) : `${formatCount(Math.min(...rates))}-${formatCount(Math.max(...rates))}/s`;
      };
      rows.push({ figure: `${level}: writes/s, slowest-fastest window`, ours: spread(ours), etcd: spread(etcd), ratio: '-' });
    }
    add(`${level}: p50 latency`, (f) => medianLoad(f, c)?.latency.p50, formatMs);
    add(`${level}: p99 latency`, (f) => medianLoad(f, c)?.latency.p99, formatMs);
    add(`${level}: generator CPU`, (f) => medianLoad(f, c)?.generatorCpuPercent, pct);
    add(`${level}: server CPU (all members)`, (f) => medianLoad(f, c)?.serverCpuPercent, pct);
    add(`${level}: leader CPU`, (f) => atLeader(medianLoad(f, c), (r) => r.serverCpuPercentByMember), pct);
    // What bounds a closed loop on a machine the servers and the generator share: CPU per write.
    add(`${level}: server CPU per write`, (f) => medianLoad(f, c)?.serverCpuMsPerWrite, formatMs);
    add(`${level}: generator CPU per write`, (f) => medianLoad(f, c)?.generatorCpuMsPerWrite, formatMs);
    // How each cluster batched: writes per log entry, and the leader's fsyncs of its log per second.
    add(`${level}: Raft entries/s`, (f) => medianLoad(f, c)?.raft?.entriesPerSecond, (n) => `${formatCount(n)}/s`);
    add(`${level}: writes per Raft entry`, (f) => medianLoad(f, c)?.raft?.writesPerEntry, (n) => n.toFixed(1));
    add(`${level}: leader's synced log writes/s`, (f) => atLeader(medianLoad(f, c), (r) => r.raft?.syncedLogWritesPerSecond), (n) => `${formatCount(n)}/s`);
    if (ceilingOurs === undefined && ceilingEtcd === undefined) continue;
    addCeiling(`${level}: generator ceiling, its path`, (f) => medianLoad(f, c)?.writesPerSecond, (n) => `${formatCount(n)}/s`);
    addCeiling(`${level}: generator CPU at the ceiling`, (f) => medianLoad(f, c)?.generatorCpuPercent, pct);
    // What share of its own path's ceiling each target reached (the ratio column is not meaningful here).
    const share = (target: TargetFigures | undefined, ceiling: TargetFigures | undefined): string => {
      const t = medianLoad(target, c)?.writesPerSecond;
      const top = medianLoad(ceiling, c)?.writesPerSecond;
      return t === undefined || top === undefined || top === 0 ? '-' : pct((100 * t) / top);
    };
    if (ours !== undefined || etcd !== undefined) rows.push({ figure: `${level}: writes/s, % of that ceiling`, ours: share(ours, ceilingOurs), etcd: share(etcd, ceilingEtcd), ratio: '-' });
  }
  if (FLAGS.rounds > 0) {
    add('failover: kill -> first write, min', (f) => f.failover?.stats.min, formatMs);
    add('failover: median', (f) => f.failover?.stats.p50, formatMs);
    add('failover: p90', (f) => f.failover?.stats.p90, formatMs);
    add('failover: max', (f) => f.failover?.stats.max, formatMs);
  }
  return rows;
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = monotonicMs();
  console.log(
    `cluster bench: node ${process.version}, ${os.cpus().length} cpus, ${os.cpus()[0]?.model ?? '?'}, load average ${os.loadavg()[0]?.toFixed(2)} ` +
      `(the clusters and this load generator share these cpus and the disk: a busy machine lowers every figure)`,
  );
  console.log(
    `load: closed loop, ${PAYLOAD_BYTES}-byte values, levels ${FLAGS.levels.map(formatCount).join(', ')} concurrent clients; ` +
      (FLAGS.prewarmMs > 0 ? `first a prewarm of each target (the first level's load for ${FLAGS.prewarmMs} ms, figures apart); ` : '') +
      `per level a warm-up of ${WARMUP_MS} ms and until every client has written once (at most ${WARMUP_MAX_MS / 1000} s), ` +
      `then a window of ${FLAGS.runMs} ms or ${formatCount(RUN_COUNT_MAX)} writes; ${FLAGS.windows} window${FLAGS.windows === 1 ? '' : 's'} per target and level, the targets taking turns in an order rotated each round, ` +
      `all of them up throughout and idle while another is measured; a target's figures are its median window by writes/s. Generator CPU = this process over the window, % of one core. ` +
      `Failover: ${FLAGS.rounds} rounds (at most ${FAILOVER_BUDGET_MS / 1000} s in all), ${FLAGS.failoverClients > 0 ? `under ${formatCount(FLAGS.failoverClients)} clients writing throughout (closed loop, each pinned as above; a failed write pauses its client 100 ms), ` : ''}kill -9 the leader, probe writes every 10 ms via the survivors.\n`,
  );
  const figures = new Map<string, TargetFigures>();
  const running: Running[] = [];
  for (const source of REGISTRY) {
    if (FLAGS.only !== undefined && FLAGS.only !== source.group) continue;
    const target = await startTarget(source, os.tmpdir());
    if ('started' in target) running.push(target);
    figures.set(source.name, 'started' in target ? target.figures : target);
  }
  console.log();
  await measure(running);
  const etcd = figures.get('etcd');
  const ours = figures.get('ours');
  printTable(buildRows(figures));
  if (etcd?.failover !== undefined) console.log(`\netcd failover (baseline): ${formatFailover(etcd.failover)}`);
  if (ours?.failover !== undefined) console.log(`ours failover: ${formatFailover(ours.failover)}`);
  if (figures.has('ceiling-ours') || figures.has('ceiling-etcd')) {
    console.log(
      "\nceiling: the same generator and client code, each target's path (ours': HTTPS with client certificates; etcd's: plain HTTP), answered by one process that does nothing; " +
        'no cluster can be measured above its path\'s ceiling, and the generator CPU there is what the generator alone takes of this machine at that rate',
    );
  }
  console.log(`\nratios are ours/etcd: above 1 is better for writes/s, worse for latency, CPU and failover; load average ${os.loadavg()[0]?.toFixed(2)}; bench took ${((monotonicMs() - started) / 1000).toFixed(1)} s`);
}

await main();

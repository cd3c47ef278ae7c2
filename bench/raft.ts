// The Raft benchmark: committed entries per second and commit latency of our own Raft, three peers
// in one process on the memory transport, each with its own classic-level log on disk (every
// write synced), and a single peer; each figure beside the disk's own limit measured in the same
// process run. A benchmark, not a test: it prints figures and whether each goal is met, and exits
// 0 either way.
//
//   npm run bench:raft        (= node --expose-gc --import tsx bench/raft.ts)
//
// Method: the real Env (setImmediate dispatcher, wall clock, real timers; tickMs 100, heartbeat
// 1 tick, election 10 ticks). Three ActorSystems m1, m2, m3 share one MemoryTransport (envelopes
// CBOR round-tripped, the default); each runs `raftProps` (a `raft` supervisor with its `log` and
// `peer`) over `KvLogStorage` on its own LevelDB in a fresh temp directory. One peer is told to
// campaign; once it leads, a client actor on its system keeps N proposals of 256 bytes in flight
// (closed loop): it sends `raft.propose` and notes the time; the leader's applier decodes the
// request id from each applied entry, records propose -> apply latency and asks the client for
// one new proposal per applied one. Each level (1, 100, 1,000 in flight) gets a warm-up window,
// then RUNS measured windows, each bounded in time and in count; the rate is the median of the
// windows, the latency percentiles are over every sample of every window. Fsyncs are counted by
// wrapping each peer's KvStore (one synced LevelDB batch = one fsync of its write-ahead log).
// The disk baselines run first, in the same process: a raw 4 KiB write + fsync loop, a LevelDB
// synced single-put loop, and three LevelDB synced loops at once (three peers on one disk).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { KvLogStorage } from '../journal/index.js';
import { payloadOf } from './cluster-lib.js';
import { raftProps, type ApplyMessage, type LogInput, type ProposeReply, type RaftStatus } from '../raft/index.js';
import { ActorSystem, MemoryTransport, plain, type ActorContext, type Address, type KvKey, type KvOp, type KvStore } from '../runtime/index.js';
import { LevelStorage, RealClock, monotonicMs, realEnv, realRandom, yieldToMacrotask } from '../runtime/env/real/index.js';

// ---- sizes (every loop below is bounded by one of these) ----------------------------------------

const PAYLOAD_BYTES = 256;
/** `--only 3:1000` runs one cluster size and level (for profiling); the table then shows just it. */
const onlyArg = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const ONLY = onlyArg === undefined ? undefined : { peers: Number(onlyArg.split(':')[0]), inFlight: Number(onlyArg.split(':')[1]) };
const LEVELS = ONLY === undefined ? [1, 100, 1000] : [ONLY.inFlight];
const WARMUP_MS = 500;
const RUN_MS = 1000;
const RUNS = 3;
const RUN_COUNT_MAX = 300_000; // committed entries per window, whichever bound comes first
const DRAIN_MS = 5000; // the in-flight proposals of a level must apply within this
const LEADER_WAIT_MS = 5000;
const DISK_MS = 2000;
const DISK_COUNT_MAX = 20_000;
const DISK_WARMUP = 50;
const DISK_CONCURRENT_MS = 1000;
const RAW_WRITE_BYTES = 4096;
const TICK_MS = 100;
/** SwarmKit's defaults: snapshot every 10,000 applied entries, keep 500 for slow followers. */
const SNAPSHOT_INTERVAL = 10_000;
const SNAPSHOT_KEEP_ENTRIES = 500;
const RAFT_CONFIG = { heartbeatTicks: 1, electionTicks: 10 };

const GOAL_RATE = 100_000; // entries/s with 1,000 in flight
const GOAL_LATENCY_FACTOR = 1.5; // p50 with 1 in flight, x one fsync

const gcFn = globalThis.gc;
if (gcFn === undefined) {
  console.error('bench/raft.ts needs node --expose-gc (use npm run bench:raft)');
  process.exit(2);
}
const gc: () => void = () => gcFn();

/** GC pauses, as reported by V8; attributed to a window by their start time. */
const gcEntries: PerformanceEntry[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcEntries.push(entry);
});
gcObserver.observe({ entryTypes: ['gc'] });

function gcMsBetween(t0: number, t1: number): number {
  return gcEntries.filter((e) => e.startTime >= t0 && e.startTime < t1).reduce((sum, e) => sum + e.duration, 0);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- statistics and printing --------------------------------------------------------------------

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The q-quantile (nearest rank) of sorted values. */
function quantile(sorted: Float64Array | readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function ms(n: number): string {
  return `${n < 10 ? n.toFixed(3) : n.toFixed(1)} ms`;
}

interface Row {
  readonly figure: string;
  readonly value: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly goal: string;
  readonly met: string;
}
const rows: Row[] = [];

function row(figure: string, value: string, baseline: string, ratio: string, goal = '-', met?: boolean): void {
  rows.push({ figure, value, baseline, ratio, goal, met: met === undefined ? 'info' : met ? 'yes' : 'NO' });
}

function printTable(): void {
  const header: Row = { figure: 'figure', value: 'value', baseline: 'baseline', ratio: 'ratio', goal: 'goal', met: 'met?' };
  const keys = ['figure', 'value', 'baseline', 'ratio', 'goal', 'met'] as const;
  const widths = keys.map((k) => Math.max(header[k].length, ...rows.map((r) => r[k].length)));
  const line = (r: Row): string => keys.map((k, i) => r[k].padEnd(widths[i] as number)).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
}

// ---- the disk's own limit -----------------------------------------------------------------------

interface DiskResult {
  readonly perSecond: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly count: number;
}

function diskResult(samples: number[], elapsedMs: number): DiskResult {
  const sorted = [...samples].sort((a, b) => a - b);
  return { perSecond: samples.length / (elapsedMs / 1000), meanMs: mean(samples), p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), count: samples.length };
}

/** Sequential 4 KiB writes at the end of a file, each followed by fsync: the disk's round trip. */
function rawFsync(dir: string): DiskResult {
  const fd = fs.openSync(path.join(dir, 'raw-fsync.bin'), 'w');
  const buf = Buffer.alloc(RAW_WRITE_BYTES, 0xa5);
  let offset = 0;
  const once = (): void => {
    fs.writeSync(fd, buf, 0, RAW_WRITE_BYTES, offset);
    fs.fsyncSync(fd);
    offset += RAW_WRITE_BYTES;
  };
  try {
    for (let i = 0; i < DISK_WARMUP; i++) once();
    const samples: number[] = [];
    const t0 = monotonicMs();
    while (samples.length < DISK_COUNT_MAX && monotonicMs() - t0 < DISK_MS) {
      const s = monotonicMs();
      once();
      samples.push(monotonicMs() - s);
    }
    return diskResult(samples, monotonicMs() - t0);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * One fsync round of three peers sharing the disk: three files, each gets a 4 KiB write + fsync
 * at the same time (through the thread pool, as LevelDB's writes go); a round's latency is the
 * time until two of the three are durable (a commit needs the leader and one follower). The
 * next round starts when all three are done.
 */
async function rawFsyncRound(dir: string): Promise<DiskResult> {
  const files = await Promise.all([0, 1, 2].map((n) => fs.promises.open(path.join(dir, `raw-round-${n}.bin`), 'w')));
  const buf = Buffer.alloc(RAW_WRITE_BYTES, 0x5a);
  let offset = 0;
  const round = async (): Promise<number> => {
    const s = monotonicMs();
    let quorumAt = 0;
    let done = 0;
    await Promise.all(
      files.map(async (f) => {
        await f.write(buf, 0, RAW_WRITE_BYTES, offset);
        await f.sync();
        if (++done === 2) quorumAt = monotonicMs();
      }),
    );
    offset += RAW_WRITE_BYTES;
    return quorumAt - s;
  };
  try {
    for (let i = 0; i < DISK_WARMUP; i++) await round();
    const samples: number[] = [];
    const t0 = monotonicMs();
    while (samples.length < DISK_COUNT_MAX && monotonicMs() - t0 < DISK_CONCURRENT_MS) samples.push(await round());
    return diskResult(samples, monotonicMs() - t0);
  } finally {
    await Promise.all(files.map((f) => f.close()));
  }
}

/** A LevelDB loop of synced batches of one put each, for `durationMs`; per-batch latencies. */
async function levelSyncLoop(kv: KvStore, durationMs: number, tag: string): Promise<{ samples: number[]; elapsedMs: number }> {
  const value = payloadOf(PAYLOAD_BYTES);
  let i = 0;
  const put = (): Promise<void> => kv.batch([{ type: 'put', key: `${tag}-${String(i++).padStart(8, '0')}`, value }], { sync: true });
  for (let w = 0; w < DISK_WARMUP; w++) await put();
  const samples: number[] = [];
  const t0 = monotonicMs();
  while (samples.length < DISK_COUNT_MAX && monotonicMs() - t0 < durationMs) {
    const s = monotonicMs();
    await put();
    samples.push(monotonicMs() - s);
  }
  return { samples, elapsedMs: monotonicMs() - t0 };
}

async function levelSync(dir: string): Promise<DiskResult> {
  const kv = await new LevelStorage(path.join(dir, 'level-one')).openKv('sync');
  try {
    const { samples, elapsedMs } = await levelSyncLoop(kv, DISK_MS, 'k');
    return diskResult(samples, elapsedMs);
  } finally {
    await kv.close();
  }
}

/** Three LevelDB synced loops at once on three databases: three peers sharing one disk. */
async function levelSyncThree(dir: string): Promise<DiskResult> {
  const kvs = await Promise.all(['a', 'b', 'c'].map((n) => new LevelStorage(path.join(dir, `level-three-${n}`)).openKv('sync')));
  try {
    const t0 = monotonicMs();
    const results = await Promise.all(kvs.map((kv, k) => levelSyncLoop(kv, DISK_CONCURRENT_MS, `k${k}`)));
    const elapsed = monotonicMs() - t0;
    return diskResult(results.flatMap((r) => r.samples), elapsed);
  } finally {
    await Promise.all(kvs.map((kv) => kv.close()));
  }
}

// ---- the workload -------------------------------------------------------------------------------

const MAGIC = 0x52414654; // 'RAFT'
const RING = 1 << 16; // send times by request id; far more than the most in flight
const RING_MASK = RING - 1;

// 256 bytes of incompressible filler (LevelDB compresses with snappy), the same for every entry.
const TEMPLATE = payloadOf(PAYLOAD_BYTES);

/** The closed-loop client's state, shared by the client actor and the leader's applier. */
class Load {
  readonly sentAt = new Float64Array(RING);
  nextId = 0;
  outstanding = 0;
  stopping = true;
  committed = 0;
  recording = false;
  latencies: number[] = [];
  refused = 0;
  proposed = 0;
  refusal = '';
  /** Called after every apply at the leader (window bounds). */
  onCommit: (() => void) | undefined;
  leaderId = '';
  client: Address = '';
  peer: Address = '';

  /** Sends one proposal from the client actor's turn. */
  propose(ctx: ActorContext): void {
    const id = this.nextId++ >>> 0;
    const data = new Uint8Array(PAYLOAD_BYTES);
    data.set(TEMPLATE);
    const view = new DataView(data.buffer);
    view.setUint32(0, MAGIC);
    view.setUint32(4, id);
    this.sentAt[id & RING_MASK] = monotonicMs();
    this.outstanding++;
    ctx.send(this.peer, { type: 'raft.propose', data, requestId: String(id), replyTo: ctx.self });
  }

  /** The leader's applier saw these entries applied. */
  applied(m: ApplyMessage, ctx: ActorContext): void {
    const now = monotonicMs();
    let n = 0;
    for (const e of m.entries) {
      if (e.type !== 'normal' || e.data.byteLength !== PAYLOAD_BYTES) continue;
      const view = new DataView(e.data.buffer, e.data.byteOffset, e.data.byteLength);
      if (view.getUint32(0) !== MAGIC) continue;
      n++;
      if (this.recording) this.latencies.push(now - (this.sentAt[view.getUint32(4) & RING_MASK] as number));
    }
    if (n === 0) return;
    this.committed += n;
    this.outstanding -= n;
    if (!this.stopping) ctx.send(this.client, { type: 'bench.more', n });
    this.onCommit?.();
  }
}

type ClientInput = { readonly type: 'bench.more'; readonly n: number } | ProposeReply;

/** A KvStore that counts synced batches (fsyncs) and the time they take. */
class CountingKv implements KvStore {
  syncs = 0;
  syncMs = 0;
  constructor(private readonly inner: KvStore) {}
  get(key: KvKey): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }
  async batch(ops: readonly KvOp[], options?: { sync?: boolean }): Promise<void> {
    const t0 = monotonicMs();
    await this.inner.batch(ops, options);
    if (options?.sync === true) {
      this.syncs++;
      this.syncMs += monotonicMs() - t0;
    }
  }
  range(options: { gte?: KvKey; lt?: KvKey; limit?: number }): Promise<Array<[KvKey, Uint8Array]>> {
    return this.inner.range(options);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Peer {
  readonly id: string;
  readonly system: ActorSystem;
  readonly kv: CountingKv;
  readonly storage: KvLogStorage;
}

interface Cluster {
  readonly transport: MemoryTransport;
  readonly peers: Peer[];
  readonly load: Load;
  readonly failures: string[];
}

async function startCluster(ids: readonly string[], dir: string): Promise<Cluster> {
  const clock = new RealClock();
  const transport = new MemoryTransport({ defer: (fn) => clock.defer(fn) });
  const load = new Load();
  const failures: string[] = [];
  const peers: Peer[] = [];
  for (const id of ids) {
    const kv = new CountingKv(await new LevelStorage(path.join(dir, id)).openKv('raft-log'));
    const storage = await KvLogStorage.open(kv, { initialConfState: { voters: [...ids], learners: [] } });
    const system = new ActorSystem({ nodeId: id, env: realEnv({ transport }) });
    let snapshotAt = 0;
    system.onRootFailure((f) => failures.push(`${f.address}: ${String(f.error)}`));
    system.spawn(
      'applier',
      plain<ApplyMessage>('bench-applier', (m, ctx) => {
        if (id === load.leaderId) load.applied(m, ctx);
        // Snapshot and compact as a manager does (SwarmKit's defaults), so that the log held in
        // memory stays bounded as it would in production.
        const last = m.entries[m.entries.length - 1];
        if (last !== undefined && last.index - snapshotAt >= SNAPSHOT_INTERVAL) {
          snapshotAt = last.index;
          ctx.send(`${id}/raft/log`, { type: 'log.snapshot', index: last.index, confState: { voters: [...ids], learners: [] }, data: new Uint8Array(0), keepEntries: SNAPSHOT_KEEP_ENTRIES } satisfies LogInput);
        }
      }, { mailboxDepthMax: 100_000 }),
    );
    system.spawn('raft', raftProps({ id, storage, random: realRandom(), peerAddress: (p) => `${p}/raft/peer`, applier: `${id}/applier`, tickMs: TICK_MS, config: RAFT_CONFIG }));
    peers.push({ id, system, kv, storage });
  }
  return { transport, peers, load, failures };
}

async function stopCluster(cluster: Cluster): Promise<void> {
  for (const p of cluster.peers) p.system.shutdown();
  await Promise.all(cluster.peers.map((p) => p.storage.close()));
}

async function statusOf(peer: Peer): Promise<RaftStatus> {
  const reply = await peer.system.ask<{ type: 'raft.statusReply'; status: RaftStatus }>(`${peer.id}/raft/peer`, (replyTo) => ({ type: 'raft.status', replyTo }), { timeoutMs: 1000 });
  return reply.status;
}

/** Tells the first peer to campaign, then polls the peers' status until one leads. */
async function electLeader(cluster: Cluster): Promise<Peer> {
  const first = cluster.peers[0] as Peer;
  first.system.send(`${first.id}/raft/peer`, { type: 'raft.campaign' });
  const t0 = monotonicMs();
  while (monotonicMs() - t0 < LEADER_WAIT_MS) {
    for (const p of cluster.peers) {
      const status = await statusOf(p);
      if (status.role === 'leader' && status.commit === status.lastIndex) return p;
    }
    await sleep(10);
  }
  throw new Error(`no leader within ${LEADER_WAIT_MS} ms`);
}

/** Starts the client on the leader's system. */
function startClient(cluster: Cluster, leader: Peer): void {
  const load = cluster.load;
  load.leaderId = leader.id;
  load.peer = `${leader.id}/raft/peer`;
  load.client = leader.system.spawn(
    'client',
    plain<ClientInput>('bench-client', (m, ctx) => {
      switch (m.type) {
        case 'bench.more':
          for (let i = 0; i < m.n; i++) load.propose(ctx);
          return;
        case 'raft.proposed':
          load.proposed++;
          return;
        case 'raft.refused':
          load.refused++;
          load.outstanding--;
          load.refusal = `${m.code}: ${m.message}`;
          return;
      }
    }, { mailboxDepthMax: 1_000_000 }),
  );
}

interface Window {
  readonly count: number;
  readonly t0: number;
  readonly ms: number;
  readonly gcMs: number;
  readonly leaderSyncs: number;
  readonly leaderSyncMs: number;
  readonly followerSyncs: number;
  /** Process CPU time (user + system, every thread) in the window, in microseconds. */
  readonly cpuUs: number;
  /** Envelopes the memory transport delivered between the peers in the window. */
  readonly envelopes: number;
}

/** One window of the running load: until `countMax` more entries commit or `durationMs` passes. */
function runWindow(cluster: Cluster, leader: Peer, durationMs: number, countMax: number, record: boolean): Promise<Window> {
  const load = cluster.load;
  const followers = cluster.peers.filter((p) => p !== leader);
  return new Promise((resolve) => {
    const c0 = load.committed;
    const s0 = leader.kv.syncs;
    const sm0 = leader.kv.syncMs;
    const f0 = followers.reduce((sum, p) => sum + p.kv.syncs, 0);
    const e0 = cluster.transport.delivered;
    const cpu0 = process.cpuUsage();
    load.recording = record;
    const t0 = monotonicMs();
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      const t1 = monotonicMs();
      clearTimeout(timer);
      load.onCommit = undefined;
      load.recording = false;
      const leaderSyncs = leader.kv.syncs - s0;
      resolve({
        count: load.committed - c0,
        t0,
        ms: t1 - t0,
        gcMs: 0,
        leaderSyncs,
        leaderSyncMs: leaderSyncs === 0 ? Number.NaN : (leader.kv.syncMs - sm0) / leaderSyncs,
        followerSyncs: followers.reduce((sum, p) => sum + p.kv.syncs, 0) - f0,
        cpuUs: ((cpu) => cpu.user + cpu.system)(process.cpuUsage(cpu0)),
        envelopes: cluster.transport.delivered - e0,
      });
    };
    const timer = setTimeout(finish, durationMs);
    load.onCommit = () => {
      if (load.committed - c0 >= countMax) finish();
    };
  });
}

interface LevelResult {
  readonly inFlight: number;
  readonly rate: number;
  readonly rates: number[];
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  readonly samples: number;
  /** Committed entries per synced write at the leader, over every measured window. */
  readonly entriesPerSync: number;
  readonly leaderSyncMs: number;
  readonly followerSyncsPerSecond: number;
  /** Process CPU microseconds per committed entry, and CPU time / wall time (2.0 = two cores busy). */
  readonly cpuUsPerEntry: number;
  readonly cpuLoad: number;
  readonly envelopesPerEntry: number;
}

async function runLevel(label: string, cluster: Cluster, leader: Peer, inFlight: number): Promise<LevelResult> {
  const load = cluster.load;
  gc();
  await yieldToMacrotask();
  load.latencies = [];
  load.stopping = false;
  leader.system.send(load.client, { type: 'bench.more', n: inFlight });
  await runWindow(cluster, leader, WARMUP_MS, RUN_COUNT_MAX, false);
  const windows: Window[] = [];
  for (let r = 0; r < RUNS; r++) {
    const w = await runWindow(cluster, leader, RUN_MS, RUN_COUNT_MAX, true);
    await yieldToMacrotask(); // GC entries are delivered asynchronously
    await yieldToMacrotask();
    windows.push({ ...w, gcMs: gcMsBetween(w.t0, w.t0 + w.ms) });
  }
  gcEntries.length = 0;
  load.stopping = true;
  const t0 = monotonicMs();
  while (load.outstanding > 0 && monotonicMs() - t0 < DRAIN_MS) await sleep(5);
  if (load.outstanding > 0) throw new Error(`${label}: ${load.outstanding} proposals still in flight after ${DRAIN_MS} ms`);

  const sorted = Float64Array.from(load.latencies).sort();
  const rates = windows.map((w) => w.count / (w.ms / 1000));
  const count = windows.reduce((s, w) => s + w.count, 0);
  const leaderSyncs = windows.reduce((s, w) => s + w.leaderSyncs, 0);
  const result: LevelResult = {
    inFlight,
    rate: median(rates),
    rates,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    mean: mean(load.latencies),
    samples: sorted.length,
    entriesPerSync: count / leaderSyncs,
    leaderSyncMs: mean(windows.map((w) => w.leaderSyncMs)),
    cpuUsPerEntry: windows.reduce((s, w) => s + w.cpuUs, 0) / count,
    cpuLoad: windows.reduce((s, w) => s + w.cpuUs, 0) / 1000 / windows.reduce((s, w) => s + w.ms, 0),
    envelopesPerEntry: windows.reduce((s, w) => s + w.envelopes, 0) / count,
    followerSyncsPerSecond: windows.reduce((s, w) => s + w.followerSyncs, 0) / (windows.reduce((s, w) => s + w.ms, 0) / 1000) / Math.max(1, cluster.peers.length - 1),
  };
  const mid = [...windows].sort((a, b) => a.count / a.ms - b.count / b.ms)[windows.length >> 1] as Window;
  console.log(
    `  ${`${label}, ${fmt(inFlight)} in flight`.padEnd(30)} ${fmt(result.rate).padStart(9)} entries/s  p50 ${ms(result.p50)}  p99 ${ms(result.p99)}  mean ${ms(result.mean)}  (runs: ${rates.map(fmt).join(', ')}; ${fmt(result.samples)} latencies)`,
  );
  console.log(
    `  ${''.padEnd(30)} leader: ${fmt(leaderSyncs)} synced writes, ${result.entriesPerSync.toFixed(1)} entries each, ${ms(result.leaderSyncMs)} each` +
      (cluster.peers.length > 1 ? `; each follower ${fmt(result.followerSyncsPerSecond)} synced writes/s` : '') +
      `; median run ${mid.ms.toFixed(0)} ms, GC pauses ${mid.gcMs.toFixed(1)} ms`,
  );
  console.log(
    `  ${''.padEnd(30)} CPU ${result.cpuUsPerEntry.toFixed(1)} us per entry (process, all threads; ${(result.cpuLoad * 100).toFixed(0)}% of one core)` +
      (cluster.peers.length > 1 ? `; ${result.envelopesPerEntry.toFixed(2)} transport envelopes per entry` : ''),
  );
  return result;
}

async function benchCluster(label: string, ids: readonly string[], dir: string): Promise<LevelResult[]> {
  const cluster = await startCluster(ids, dir);
  try {
    const t0 = monotonicMs();
    const leader = await electLeader(cluster);
    console.log(`  ${label}: ${leader.id} leads after ${(monotonicMs() - t0).toFixed(0)} ms`);
    startClient(cluster, leader);
    const results: LevelResult[] = [];
    for (const n of LEVELS) results.push(await runLevel(label, cluster, leader, n));
    const load = cluster.load;
    if (load.refused > 0) console.log(`  ${label}: ${fmt(load.refused)} proposals refused (last: ${load.refusal})`);
    if (load.proposed !== load.nextId) console.log(`  ${label}: ${fmt(load.nextId)} proposals sent, ${fmt(load.proposed)} acknowledged by raft.proposed`);
    if (cluster.failures.length > 0) throw new Error(`${label}: ${cluster.failures.join('; ')}`);
    const dead = cluster.peers.reduce((s, p) => s + p.system.deadLetters.total, 0);
    if (dead > 0) console.log(`  ${label}: ${dead} dead letters`);
    return results;
  } finally {
    await stopCluster(cluster);
  }
}

// ---- the figures -------------------------------------------------------------------------------

async function main(dir: string): Promise<void> {
  const started = monotonicMs();
  console.log(
    `raft bench: node ${process.version}, ${os.cpus().length} cpus, ${os.cpus()[0]?.model ?? '?'}, load average ${os.loadavg()[0]?.toFixed(2)} ` +
      `(other processes share these cpus and the disk: a busy machine lowers every figure); logs under ${dir}`,
  );
  console.log(
    `system: real Env, MemoryTransport (CBOR round trip) between ActorSystems; KvLogStorage on classic-level, every write synced; ` +
      `tickMs ${TICK_MS}, heartbeatTicks ${RAFT_CONFIG.heartbeatTicks}, electionTicks ${RAFT_CONFIG.electionTicks}, other Raft settings default.`,
  );
  console.log(
    `load: closed loop, ${PAYLOAD_BYTES}-byte proposals; latency = client's raft.propose -> leader's applier sees the entry. ` +
      `Per level: ${WARMUP_MS} ms warm-up, then ${RUNS} windows of ${RUN_MS} ms or ${fmt(RUN_COUNT_MAX)} entries; rate = median window.\n`,
  );

  console.log('the disk');
  const raw = rawFsync(dir);
  console.log(`  raw: ${RAW_WRITE_BYTES / 1024} KiB write + fsync, sequential, one file   ${fmt(raw.perSecond).padStart(7)}/s  mean ${ms(raw.meanMs)}  p50 ${ms(raw.p50Ms)}  p99 ${ms(raw.p99Ms)}  (${fmt(raw.count)} writes)`);
  const round = await rawFsyncRound(dir);
  console.log(`  raw, 3 peers: 3 files written + fsynced at once, until 2 are durable ${fmt(round.perSecond).padStart(7)}/s  mean ${ms(round.meanMs)}  p50 ${ms(round.p50Ms)}  p99 ${ms(round.p99Ms)}  (${fmt(round.count)} rounds)`);
  const level = await levelSync(dir);
  console.log(`  classic-level: batch([1 put of ${PAYLOAD_BYTES} B], {sync})          ${fmt(level.perSecond).padStart(7)}/s  mean ${ms(level.meanMs)}  p50 ${ms(level.p50Ms)}  p99 ${ms(level.p99Ms)}  (${fmt(level.count)} batches)`);
  const three = await levelSyncThree(dir);
  console.log(`  classic-level: the same on 3 databases at once       ${fmt(three.perSecond).padStart(7)}/s  mean ${ms(three.meanMs)}  p50 ${ms(three.p50Ms)}  p99 ${ms(three.p99Ms)}  (all 3 together)\n`);

  console.log('raft');
  const threePeers = ONLY === undefined || ONLY.peers === 3 ? await benchCluster('3 peers', ['m1', 'm2', 'm3'], path.join(dir, 'three')) : [];
  const single = ONLY === undefined || ONLY.peers === 1 ? await benchCluster('1 peer', ['m1'], path.join(dir, 'single')) : [];

  // -- the table -----------------------------------------------------------------------------------
  const fsyncLabel = `(raw fsync ${fmt(raw.perSecond)}/s)`;
  const fsyncMsLabel = `(raw fsync ${ms(raw.meanMs)})`;
  for (const [label, results] of [['3 peers', threePeers], ['1 peer', single]] as const) {
    for (const r of results) {
      const isGoalRate = label === '3 peers' && r.inFlight === 1000;
      row(`${label}, ${fmt(r.inFlight)} in flight: entries/s`, `${fmt(r.rate)}/s`, fsyncLabel, `${(r.rate / raw.perSecond).toFixed(2)}x`, isGoalRate ? `>= ${fmt(GOAL_RATE)}/s` : '-', isGoalRate ? r.rate >= GOAL_RATE : undefined);
      const isGoalLatency = label === '3 peers' && r.inFlight === 1;
      row(
        `${label}, ${fmt(r.inFlight)} in flight: p50 commit latency`,
        ms(r.p50),
        isGoalLatency ? `(3-peer fsync round ${ms(round.meanMs)})` : fsyncMsLabel,
        `${(r.p50 / (isGoalLatency ? round.meanMs : raw.meanMs)).toFixed(2)}x`,
        isGoalLatency ? `<= ${GOAL_LATENCY_FACTOR}x baseline` : '-',
        isGoalLatency ? r.p50 <= GOAL_LATENCY_FACTOR * round.meanMs : undefined,
      );
      if (isGoalLatency) row(`${label}, ${fmt(r.inFlight)} in flight: p50 vs one raw fsync`, ms(r.p50), fsyncMsLabel, `${(r.p50 / raw.meanMs).toFixed(2)}x`);
      row(`${label}, ${fmt(r.inFlight)} in flight: p99 commit latency`, ms(r.p99), fsyncMsLabel, `${(r.p99 / raw.meanMs).toFixed(2)}x`);
      if (r.inFlight === 1000) {
        row(`${label}, ${fmt(r.inFlight)} in flight: CPU per entry`, `${r.cpuUsPerEntry.toFixed(1)} us`, `(${(1e6 / GOAL_RATE).toFixed(0)} us: 100k/s on 1 core)`, `${(r.cpuUsPerEntry / (1e6 / GOAL_RATE)).toFixed(2)}x`);
      }
      row(`${label}, ${fmt(r.inFlight)} in flight: entries per leader fsync`, r.entriesPerSync.toFixed(1), `(1 sync took ${ms(r.leaderSyncMs)}; idle ${ms(level.meanMs)})`, '-');
    }
  }
  row('classic-level synced 1-put batch', `${fmt(level.perSecond)}/s`, fsyncLabel, `${(level.perSecond / raw.perSecond).toFixed(2)}x`);
  row('classic-level synced, 3 databases at once', `${fmt(three.perSecond)}/s`, fsyncLabel, `${(three.perSecond / raw.perSecond).toFixed(2)}x`);

  console.log(
    `\ngoal 2, "latency within 1.5x of one fsync round per peer": each peer makes its write durable once per commit, and the three ` +
      `peers share this disk, so the baseline is one round of three concurrent 4 KiB writes + fsyncs until two are durable ` +
      `(measured above: ${ms(round.meanMs)}); the goal is p50 <= ${GOAL_LATENCY_FACTOR} x ${ms(round.meanMs)} = ${ms(GOAL_LATENCY_FACTOR * round.meanMs)}. ` +
      `The p50 against one raw fsync on an idle disk (${ms(raw.meanMs)}) is printed beside it.`,
  );
  console.log(
    `"1 sync took": the mean time from the leader's synced LevelDB batch call to its promise settling during the windows (it includes waiting for ` +
      `a busy event loop), beside the idle classic-level synced batch measured above.\n`,
  );
  printTable();
  const unmet = rows.filter((r) => r.met === 'NO').length;
  console.log(`\n${rows.filter((r) => r.met === 'yes').length} goals met, ${unmet} not met; load average ${os.loadavg()[0]?.toFixed(2)}; bench took ${((monotonicMs() - started) / 1000).toFixed(1)} s`);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-raft-'));
try {
  await main(dir);
} finally {
  gcObserver.disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
}

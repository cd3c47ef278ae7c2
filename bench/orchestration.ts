// The orchestration benchmark: three managers in the simulator (real Raft peers, manager actors and
// orchestration on the simulated network and disk, all in this one process) place N tasks on M
// nodes; then the leader is killed and a new one takes over the whole cluster. A benchmark, not a
// test: it prints figures and exits 0 whether the goals are met or not.
//
//   npm run bench:orchestration            100,000 tasks on 1,000 nodes
//   npm run bench:orchestration -- --all   and 1,000,000 tasks on 10,000 nodes
//   npm run bench:orchestration -- --tasks N --nodes M   one size of your own (N a multiple of 1,000)
//
// Figures, per size:
//   - placements committed per wall-second, from the first service write until the leader's
//     scheduler has had every assignment committed (allocation, scheduling and three managers
//     applying every entry included); baseline: the pure placement core (actors/scheduler) placing
//     the same tasks on the same nodes with nothing else, in the same run;
//   - heap: the process's peak while placing (three managers' stores and logs, the simulator), and
//     per manager: (heap with the placed cluster - heap before) / 3, beside a bare Store holding
//     the same objects (restored from the leader's snapshot);
//   - takeover: wall time from killing the leader until a new leader has spawned the
//     orchestration from its store and every service actor has planned once (nothing left to do),
//     beside the time to restore the store from its snapshot bytes (the floor of any takeover).
// The npm script runs it with --max-semi-space-size=128 (MiB; V8's default is 16): what the
// managers allocate while placing lives for a while (the stores' objects for good, an entry's
// decoded events until every actor has seen them), and a larger young generation copies it in fewer
// scavenges and promotes less of it to die in the old one (measured at 300,000 tasks: 566
// scavenges -> 160 from 16 to 64 MiB, GC pauses -25%; at 1,000,000 from 64 to 128 MiB: scavenges
// 303 -> 196, bytes promoted 3.3 -> 2.1 GiB, placements 8,758 -> 10,687/s).
// Nodes are registered ready with a long heartbeat period and run no agent: the figures are the
// managers' (tasks reach `assigned`; running them is the agents' work, measured with them later).
// The placement rate is also given per second of the process's CPU time (user + system, every
// thread: the GC's helpers count), which another process on the machine disturbs less than wall
// time. For profiling, the environment may ask for: BENCH_PROFILE=<file> a CPU profile of the
// placement phase alone (1 ms sampling); BENCH_MARKS=1 a line at its start and end (to cut a
// --trace-gc log to it); BENCH_HEAPSNAPSHOT=<file> a heap snapshot of the placed cluster.
import v8 from 'node:v8';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { managerActor, orchestrationActor, placeTasks, type ManagerInput, type ManagerReply, type NodeLoad, type SchedulerStats, type WriterStats } from '../actors/index.js';
import {
  CONTAINER_SPEC_DEFAULTS, EVENT_VERSIONS, KvLogStorage, Store, encodeBatch,
  type ClusterSpec, type JournalEvent, type Node, type ServiceSpec, type StoreReader,
} from '../journal/index.js';
import { raftProps } from '../raft/index.js';
import { monotonicMs } from '../runtime/env/real/index.js';
import { plain } from '../runtime/index.js';
import { SimCluster, type BootNode } from '../simulations/index.js';

const MANAGERS = ['m1', 'm2', 'm3'] as const;
const REPLICAS_PER_SERVICE = 1_000;
const SERVICES_PER_WRITE = 50;
const NODES_PER_WRITE = 1_000;
/** Every phase is bounded in virtual time. */
const PHASE_VIRTUAL_MS_MAX = 3_600_000;

interface Size {
  readonly tasks: number;
  readonly nodes: number;
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const heapUsed = (): number => process.memoryUsage().heapUsed;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const rate = (n: number, ms: number): string => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')}/s`;

const clusterSpec: ClusterSpec = {
  annotations: { name: 'default', labels: {} },
  orchestration: { taskHistoryRetentionLimit: 5 },
  dispatcher: { heartbeatPeriodMs: 3_600_000 },
  // The product's defaults (SwarmKit's): a snapshot every 10,000 entries, 500 kept for slow followers.
  raft: { snapshotIntervalEntries: 10_000, logEntriesForSlowFollowers: 500, electionTicks: 10, heartbeatTicks: 1 },
  caConfig: { nodeCertExpiryMs: 7_776_000_000 },
  encryption: { autoLockManagers: false },
};

function node(i: number): Omit<Node, 'meta'> {
  const id = `node${String(i).padStart(5, '0')}`;
  return {
    id,
    spec: { annotations: { name: id, labels: { zone: `z${i % 3}`, rack: `r${i % 17}` } }, role: 'worker', availability: 'active' },
    description: { hostname: id, platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 64e9, memoryBytes: 256 * 2 ** 30 }, engineLabels: {} },
    status: { state: 'ready', message: 'registered', addr: `${id}:2377` },
  };
}

function serviceSpec(i: number): ServiceSpec {
  return {
    annotations: { name: `svc${i}`, labels: {} },
    task: {
      container: { image: `app/${i}`, command: [], args: [], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS },
      resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 1e7, memoryBytes: 2 ** 20 } },
      restartPolicy: { condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: [], maxReplicasPerNode: 0, preferences: i % 2 === 0 ? [{ spread: 'node.labels.zone' }] : [], platforms: [] },
      networks: [], secrets: [], configs: [], forceUpdate: 0, runtime: 'container',
    },
    mode: { kind: 'replicated', replicas: REPLICAS_PER_SERVICE },
    update: { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stopFirst' },
    rollback: { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stopFirst' },
    endpoint: { ports: [] },
    rebalance: false,
    dependsOn: [],
  };
}

interface ManagerStats {
  writer: WriterStats;
  scheduler: SchedulerStats;
  leaderships: number;
  plans: number;
}

async function measure(size: Size): Promise<void> {
  const services = size.tasks / REPLICAS_PER_SERVICE;
  console.log(`\n## ${size.tasks.toLocaleString('en-US')} tasks (${services} services of ${REPLICAS_PER_SERVICE}) on ${size.nodes.toLocaleString('en-US')} nodes, 3 managers`);
  const stats = new Map<string, ManagerStats>();
  const stores = new Map<string, StoreReader>();
  const roles = new Map<string, string>();
  const replies: Array<(m: ManagerReply) => void> = [];

  const boot: BootNode = async (n) => {
    const { system, env } = n;
    if (n.id === 'client') {
      system.spawn('client', plain<ManagerReply>('client', (m) => replies.shift()?.(m)));
      return;
    }
    const storage = await KvLogStorage.open(await n.storage.openKv('raft-log'), { initialConfState: { voters: [...MANAGERS], learners: [] } });
    if (n.system !== system) return;
    roles.delete(n.id);
    stores.delete(n.id);
    const s: ManagerStats = { writer: { entries: 0, events: 0, refused: 0 }, scheduler: { placed: 0, placedCommitted: 0, unschedulable: 0 }, leaderships: 0, plans: 0 };
    stats.set(n.id, s);
    const snapshot = storage.snapshot();
    let store: StoreReader | undefined;
    system.spawn('manager', managerActor({
      nodeId: n.id, peer: `${n.id}/raft/peer`, log: `${n.id}/raft/log`,
      snapshotData: snapshot.data, snapshotIndex: snapshot.meta.index, snapshotConf: snapshot.meta.confState,
      snapshotIntervalEntries: clusterSpec.raft.snapshotIntervalEntries, snapshotTailEntries: clusterSpec.raft.logEntriesForSlowFollowers,
      onApplied: (view) => {
        store = view.store;
        stores.set(n.id, view.store);
      },
    }));
    system.spawn('orchestration', orchestrationActor({ nodeId: n.id, manager: `${n.id}/manager`, view: () => store as StoreReader, stats: s }));
    system.spawn('raft', raftProps({
      id: n.id, storage, random: env.random.fork('raft'), peerAddress: (p) => `${p}/raft/peer`, applier: `${n.id}/manager`,
      tickMs: 100, config: { electionTicks: 10, heartbeatTicks: 1, asyncStorageWrites: true },
    }));
  };

  const cluster = new SimCluster({
    seed: `bench/orchestration/${size.tasks}`,
    nodeIds: [...MANAGERS, 'client'],
    network: { delayMsMin: 1, delayMsMax: 2, lossProbability: 0, duplicateProbability: 0, reorder: false },
    disk: { writeLatencyMsMax: 1 },
    boot,
    trace: { off: true },
    observe: (id, event) => {
      if (event.type === 'message.delivered' && event.to === `${id}/manager` && (event.message as { type?: string }).type === 'raft.softState') {
        roles.set(id, (event.message as { role: string }).role);
      }
    },
  });
  const { loop } = cluster;
  const leader = (): string | undefined => MANAGERS.find((m) => roles.get(m) === 'leader' && cluster.node(m).up);
  cluster.startAll();
  await cluster.run(loop.now() + 30_000, () => leader() !== undefined);

  const write = async (events: JournalEvent[]): Promise<void> => {
    for (;;) {
      const to = leader();
      if (to === undefined) {
        await cluster.run(loop.now() + 30_000, () => leader() !== undefined);
        continue;
      }
      let reply: ManagerReply | undefined;
      replies.push((m) => (reply = m));
      const command = { op: 'events' as const, opId: `w${loop.now()}-${replies.length}-${events.length}-${Math.round(monotonicMs() * 1000)}`, batch: encodeBatch(events) };
      cluster.node('client').system?.send(`${to}/manager`, { type: 'manager.write', command, replyTo: 'client/client' } satisfies ManagerInput);
      await cluster.run(loop.now() + 60_000, () => reply !== undefined);
      if (reply?.type === 'manager.applied' && reply.refused === null) return;
      throw new Error(`bench write failed: ${JSON.stringify(reply)}`);
    }
  };

  const at = (): number => loop.now();
  await write([{ type: 'cluster.created', v: EVENT_VERSIONS['cluster.created'], at: at(), id: 'bench', spec: clusterSpec }]);
  for (let i = 0; i < size.nodes; i += NODES_PER_WRITE) {
    const batch: JournalEvent[] = [];
    for (let j = i; j < Math.min(size.nodes, i + NODES_PER_WRITE); j++) batch.push({ type: 'node.registered', v: EVENT_VERSIONS['node.registered'], at: at(), ...node(j) });
    await write(batch);
  }
  gc();
  const heapBefore = heapUsed();

  // ---- placement ----
  const profileTo = process.env.BENCH_PROFILE;
  const session = profileTo === undefined ? undefined : new Session();
  if (session !== undefined) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 1000 });
    await session.post('Profiler.start');
  }
  const leaderId = leader()!;
  if (process.env.BENCH_MARKS !== undefined) console.log('--- placing start');
  const start = monotonicMs();
  const cpuStart = process.cpuUsage();
  const virtualStart = loop.now();
  let peak = heapUsed();
  let sampled = 0;
  for (let i = 0; i < services; i += SERVICES_PER_WRITE) {
    const batch: JournalEvent[] = [];
    for (let j = i; j < Math.min(services, i + SERVICES_PER_WRITE); j++) batch.push({ type: 'service.created', v: EVENT_VERSIONS['service.created'], at: at(), id: `svc${String(j).padStart(5, '0')}`, spec: serviceSpec(j) });
    await write(batch);
  }
  const placedAll = (): boolean => {
    if (++sampled % 20_000 === 0) peak = Math.max(peak, heapUsed());
    return (stats.get(leaderId)?.scheduler.placedCommitted ?? 0) >= size.tasks;
  };
  await cluster.run(loop.now() + PHASE_VIRTUAL_MS_MAX, placedAll);
  const placeMs = monotonicMs() - start;
  const cpu = process.cpuUsage(cpuStart);
  const placeCpuMs = (cpu.user + cpu.system) / 1000;
  if (process.env.BENCH_MARKS !== undefined) console.log('--- placing end');
  if (session !== undefined) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(profileTo!, JSON.stringify(profile));
    session.disconnect();
  }
  const placed = stats.get(leaderId)!.scheduler.placedCommitted;
  const writer = stats.get(leaderId)!.writer;
  peak = Math.max(peak, heapUsed());
  // Followers catch up before the heap is read.
  await cluster.run(loop.now() + 10_000, () => MANAGERS.every((m) => stores.get(m)?.index === stores.get(leaderId)?.index));
  gc();
  const heapPlaced = heapUsed();
  if (process.env.BENCH_HEAPSNAPSHOT !== undefined) v8.writeHeapSnapshot(process.env.BENCH_HEAPSNAPSHOT);

  // Baselines: the pure placement core on the same nodes and tasks; a bare store of the same objects.
  const reader = stores.get(leaderId)!;
  const nodes = reader.list('node');
  const loads = new Map<string, NodeLoad>();
  const coreStart = monotonicMs();
  let corePlaced = 0;
  for (const service of reader.list('service')) {
    const result = placeTasks({ serviceId: service.id, spec: service.spec.task, ports: [], preferences: service.spec.task.placement.preferences.map((p) => p.spread), count: REPLICAS_PER_SERVICE }, nodes, loads);
    corePlaced += result.assignments.length;
    for (const nodeId of result.assignments) {
      const load = loads.get(nodeId);
      const tasksOfService = new Map(load?.tasksOfService ?? []);
      tasksOfService.set(service.id, (tasksOfService.get(service.id) ?? 0) + 1);
      loads.set(nodeId, { tasks: (load?.tasks ?? 0) + 1, tasksOfService, reservedNanoCpus: (load?.reservedNanoCpus ?? 0) + 1e7, reservedMemoryBytes: (load?.reservedMemoryBytes ?? 0) + 2 ** 20, hostPorts: load?.hostPorts ?? new Set() });
    }
  }
  const coreMs = monotonicMs() - coreStart;
  const serializeStart = monotonicMs();
  const snapshotBytes = (reader as Store).serialize();
  const serializeMs = monotonicMs() - serializeStart;
  loads.clear();
  gc();
  const heapBare0 = heapUsed();
  const restoreStart = monotonicMs();
  const bare = Store.restore(snapshotBytes);
  const restoreMs = monotonicMs() - restoreStart;
  gc();
  const bareBytes = heapUsed() - heapBare0;
  // Read after the measurement, so that the store is live until then.
  if (bare.count('task') !== size.tasks) throw new Error(`the restored store holds ${bare.count('task')} tasks`);

  console.log('| figure | ours | baseline |');
  console.log('|---|---|---|');
  console.log(`| placements committed | ${placed.toLocaleString('en-US')} in ${(placeMs / 1000).toFixed(1)} s wall = **${rate(placed, placeMs)}** (${rate(placed, placeCpuMs)} of the process's CPU time, all threads: ${(placeCpuMs / 1000).toFixed(1)} s; ${((loop.now() - virtualStart) / 1000).toFixed(1)} s virtual; ${writer.entries} entries of ${Math.round(writer.events / Math.max(1, writer.entries))} events on average) | placement core alone: ${rate(corePlaced, coreMs)} |`);
  console.log(`| heap, process peak while placing | ${mib(peak)} (3 managers + simulator) | before services: ${mib(heapBefore)} |`);
  console.log(`| heap per manager | **${mib((heapPlaced - heapBefore) / 3)}** ((after - before) / 3) | a bare Store of the same objects: ${mib(bareBytes)} |`);
  console.log(`| a snapshot of the placed store | ${mib(snapshotBytes.byteLength)}, written in ${(serializeMs / 1000).toFixed(2)} s (in one go here; a manager writes it in steps between turns) | |`);

  // ---- takeover ----
  const old = leader()!;
  const takeoverStart = monotonicMs();
  const virtualTakeover = loop.now();
  cluster.crash(old);
  let newLeader: string | undefined;
  // The turn in which the new leader spawns its orchestration (and every service actor plans)
  // starts after the last check that saw no leadership yet.
  let elected = monotonicMs();
  await cluster.run(loop.now() + PHASE_VIRTUAL_MS_MAX, () => {
    newLeader = MANAGERS.find((m) => m !== old && roles.get(m) === 'leader');
    const s = newLeader === undefined ? undefined : stats.get(newLeader)!;
    if (s === undefined || s.leaderships === 0) {
      elected = monotonicMs();
      return false;
    }
    return s.plans >= services;
  });
  const takeoverMs = monotonicMs() - takeoverStart;
  const reconcileMs = monotonicMs() - elected;
  console.log(`| new leader takes over | **${(takeoverMs / 1000).toFixed(2)} s** wall from the kill (${((loop.now() - virtualTakeover) / 1000).toFixed(1)} s virtual, election included); ${(reconcileMs / 1000).toFixed(2)} s from its leadership to every service planned | store restore from its snapshot: ${(restoreMs / 1000).toFixed(2)} s |`);
  await cluster.finish();
  const heap = v8.getHeapStatistics();
  console.log(`(heap limit ${mib(heap.heap_size_limit)})`);
}

const all = process.argv.includes('--all');
const flag = (name: string): number | undefined => {
  const at = process.argv.indexOf(name);
  if (at < 0) return undefined;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value <= 0 || value % REPLICAS_PER_SERVICE !== 0 && name === '--tasks') {
    console.error(`${name} needs a positive integer${name === '--tasks' ? ` multiple of ${REPLICAS_PER_SERVICE}` : ''}, got '${process.argv[at + 1] ?? ''}'`);
    process.exit(2);
  }
  return value;
};
const tasks = flag('--tasks');
const nodes = flag('--nodes');
const sizes: Size[] = tasks !== undefined || nodes !== undefined
  ? [{ tasks: tasks ?? 100_000, nodes: nodes ?? 1_000 }]
  : [{ tasks: 100_000, nodes: 1_000 }, ...(all ? [{ tasks: 1_000_000, nodes: 10_000 }] : [])];
console.log(`# Orchestration benchmark (node ${process.version}, ${(await import('node:os')).cpus().length} cores)`);
for (const size of sizes) await measure(size);

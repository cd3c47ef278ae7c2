// The orchestration workload in the simulator (issue: services, tasks and nodes as actors): three
// managers run the real Raft peer, manager actor and orchestration; every node (managers too)
// runs the real agent on a simulated container engine. A client creates, scales, updates, rolls
// back and removes services of every mode and drains nodes, one operation at a time, retrying
// each until its outcome is known; a nemesis crashes managers (the leader among them) and workers,
// partitions the network, and the engine crashes workloads. Then the faults stop, every node comes
// back, and the cluster must converge within a bound of simulated time.
//
// Invariants:
//   - a task's observed state never goes backwards, on any manager (checked on every committed batch);
//   - after convergence: at most one running task per replicated slot and one per node for global
//     services; no running task on a down or drained node; every acknowledged spec change is the
//     spec in force (or the one before it, after an automatic rollback); what runs is that spec;
//   - start order (dependency-check.ts): no first task of a service with dependencies is created
//     before each dependency met its condition (checked on every manager's committed entries);
//   - liveness: after the faults heal, every service whose image can run reaches its desired state;
//     one held by its dependencies is left waiting only while one of them does not meet its
//     condition (then it must have no task); once they all do, it must have converged too.
import { agentActor, isCurrent, managerActor, objectId, orchestrationActor, type ManagerInput, type ManagerReply } from '../actors/index.js';
import {
  CONTAINER_SPEC_DEFAULTS, EVENT_VERSIONS, KvLogStorage, TASK_STATE_ORDER, encodeBatch, sameValue,
  type ClusterSpec, type JournalEvent, type Node, type NodeDescription, type NodeSpec, type Service, type ServiceSpec, type Store, type StoreReader, type Task, type TaskSpec, type UpdateConfig,
} from '../journal/index.js';
import { raftProps } from '../raft/index.js';
import { SeededRandom, plain, type InspectionEvent, type Random } from '../runtime/index.js';
import { SimCluster, type BootNode } from './cluster.js';
import { DependencyChecker, conditionMet, type DependencyCheckStats } from './dependency-check.js';
import { SimExecutor } from './executor.js';

export interface OrchestrationSimOptions {
  readonly workers: number;
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  readonly lossProbability: number;
  readonly duplicateProbability: number;
  readonly reorder: boolean;
  readonly managerCrashes: boolean;
  readonly workerCrashes: boolean;
  readonly crashMeanIntervalMs: number;
  readonly partitions: boolean;
  readonly partitionMeanIntervalMs: number;
  readonly workloadCrashesPerSecond: number;
  readonly slowStopProbability: number;
  readonly operations: number;
  readonly safetyPhaseMs: number;
  readonly livenessPhaseMsMax: number;
  readonly heartbeatPeriodMs: number;
}

export interface OrchestrationSimRun {
  readonly seed: string;
  readonly options: OrchestrationSimOptions;
  readonly ok: boolean;
  readonly failure: string | undefined;
  readonly traceDigest: string;
  readonly virtualMs: number;
  readonly events: number;
  readonly stats: OrchestrationSimStats;
}

export interface OrchestrationSimStats {
  operations: number;
  refused: number;
  servicesCreated: number;
  updates: number;
  rollbacks: number;
  automaticRollbacks: number;
  pausedUpdates: number;
  drains: number;
  crashes: number;
  leaderCrashes: number;
  partitions: number;
  workloadCrashes: number;
  tasksCreated: number;
  restarts: number;
  nodesDown: number;
  /** Services created with dependencies. */
  dependents: number;
  /** Dependents whose first task the start-order check checked, and of those the ones held first, then released. */
  dependentsChecked: number;
  holdsReleased: number;
}

const MANAGERS = ['m1', 'm2', 'm3'] as const;
const CLIENT = 'client';
const CLUSTER_ID = 'sim-cluster';
const TICK_MS = 100;
/** Images the simulated engine runs forever, and ones that end (see simulations/executor.ts). */
const GOOD_IMAGES = ['app/1', 'app/2', 'app/3'];
const JOB_IMAGE = 'exit/0/300';
const FAILING_IMAGE = 'exit/1/200';
const MISSING_IMAGE = 'missing/app';

export function chooseOrchestrationOptions(random: Random): OrchestrationSimOptions {
  const delayMsMin = random.int(1, 5);
  return {
    workers: random.int(2, 4),
    delayMsMin,
    delayMsMax: delayMsMin + random.int(0, 25),
    lossProbability: random.chance(0.5) ? 0 : random.float() * 0.03,
    duplicateProbability: random.chance(0.5) ? 0 : random.float() * 0.03,
    reorder: random.chance(0.5),
    managerCrashes: random.chance(0.6),
    workerCrashes: random.chance(0.5),
    crashMeanIntervalMs: random.int(3_000, 10_000),
    partitions: random.chance(0.5),
    partitionMeanIntervalMs: random.int(4_000, 12_000),
    workloadCrashesPerSecond: random.chance(0.5) ? 0 : random.float() * 0.02,
    slowStopProbability: random.chance(0.5) ? 0 : random.float() * 0.3,
    operations: random.int(6, 16),
    safetyPhaseMs: random.int(15_000, 30_000),
    livenessPhaseMsMax: 60_000,
    heartbeatPeriodMs: random.pick([500, 1_000, 2_000]),
  };
}

export function describeOrchestrationOptions(options: OrchestrationSimOptions): string {
  return Object.entries(options).map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : String(v)}`).join(' ');
}

// ---- specs --------------------------------------------------------------------------------------

const clusterSpec = (heartbeatPeriodMs: number): ClusterSpec => ({
  annotations: { name: 'default', labels: {} },
  orchestration: { taskHistoryRetentionLimit: 3 },
  dispatcher: { heartbeatPeriodMs },
  raft: { snapshotIntervalEntries: 10_000, logEntriesForSlowFollowers: 500, electionTicks: 10, heartbeatTicks: 1 },
  caConfig: { nodeCertExpiryMs: 7_776_000_000 },
  encryption: { autoLockManagers: false },
});

const description = (id: string): NodeDescription => ({
  hostname: `host-${id}`, platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 }, engineLabels: {},
});

const nodeSpec = (id: string, availability: NodeSpec['availability']): NodeSpec => ({
  annotations: { name: id, labels: { zone: `z${(Number(id.slice(1)) % 2) + 1}` } }, role: MANAGERS.includes(id as never) ? 'manager' : 'worker', availability,
});

function taskSpec(image: string, random: Random, job: boolean): TaskSpec {
  const condition = job ? 'onFailure' : random.pick(['any', 'any', 'onFailure'] as const);
  return {
    container: { image, command: [], args: [], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS },
    resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    restartPolicy: { condition, delayMs: random.pick([0, 100, 500]), maxAttempts: random.pick([0, 0, 3]), windowMs: random.pick([0, 5_000]) },
    placement: { constraints: [], maxReplicasPerNode: 0, preferences: [], platforms: [] },
    networks: [], secrets: [], configs: [], forceUpdate: 0, runtime: 'container',
  };
}

function updateConfig(random: Random): UpdateConfig {
  return {
    parallelism: random.int(0, 2),
    delayMs: random.pick([0, 0, 200]),
    failureAction: random.pick(['pause', 'continue', 'rollback'] as const),
    monitorMs: random.pick([0, 500, 1_000]),
    maxFailureRatio: random.pick([0, 0, 0.5]),
    order: random.pick(['stopFirst', 'startFirst'] as const),
  };
}

// ---- the client's model -------------------------------------------------------------------------

interface ServiceModel {
  readonly id: string;
  /** The spec the last acknowledged change left, and the one before it (for rollbacks). */
  spec: ServiceSpec;
  previous: ServiceSpec | null;
}

type Outcome = 'applied' | 'refused';

interface Operation {
  readonly name: string;
  readonly events: readonly JournalEvent[];
  readonly onApplied: () => void;
}

// ---- the run ------------------------------------------------------------------------------------

export interface OrchestrationSimRunOptions {
  readonly traceFile?: string;
  /** Replaces options the seed chose (benchmarks: a longer run, more operations); recorded in the trace. */
  readonly overrides?: Partial<OrchestrationSimOptions>;
}

export async function runOrchestrationSim(seed: string | number, runOptions: OrchestrationSimRunOptions = {}): Promise<OrchestrationSimRun> {
  const options: OrchestrationSimOptions = { ...chooseOrchestrationOptions(new SeededRandom(`orchestration/${seed}/options`)), ...runOptions.overrides };
  const workers = [...Array(options.workers).keys()].map((i) => `w${i + 1}`);
  const nodes = [...MANAGERS, ...workers];
  const stats: OrchestrationSimStats = {
    operations: 0, refused: 0, servicesCreated: 0, updates: 0, rollbacks: 0, automaticRollbacks: 0, pausedUpdates: 0, drains: 0,
    crashes: 0, leaderCrashes: 0, partitions: 0, workloadCrashes: 0, tasksCreated: 0, restarts: 0, nodesDown: 0,
    dependents: 0, dependentsChecked: 0, holdsReleased: 0,
  };
  /** Start order, checked on every manager incarnation's committed entries (dependency-check.ts). */
  const checkers = new Map<string, DependencyChecker>();
  const checked: DependencyCheckStats = { checked: new Set(), released: new Set() };
  /** Each manager's store, as its manager actor last showed it. */
  const stores = new Map<string, Store>();
  const roles = new Map<string, string>();
  /** Per manager: the highest observed-state rank of each task it applied. */
  const ranks = new Map<string, Map<string, number>>();
  let faultsOn = true;
  const client: { reply?: (m: ManagerReply) => void } = {};

  const observe = (node: string, event: InspectionEvent): void => {
    if (event.type !== 'message.delivered') return;
    const message = event.message as { type?: string };
    if (message.type === 'raft.softState' && event.to === `${node}/manager`) {
      roles.set(node, (message as { role: string }).role);
      return;
    }
    if (message.type === 'raft.apply' && event.to === `${node}/manager`) {
      const apply = message as { snapshot?: { data: Uint8Array; meta: { index: number } }; entries: readonly { index: number; type: string; data: Uint8Array }[] };
      const violation = checkers.get(`${node}#${cluster.node(node).incarnation}`)?.apply(apply.snapshot, apply.entries);
      if (violation !== undefined) cluster.fail(`start order on ${node}: ${violation}`);
      return;
    }
    if (message.type !== 'manager.committed' || event.to !== `${node}/orchestration`) return;
    const committed = message as { events: readonly JournalEvent[]; restored: boolean };
    // A manager's memory starts over at each boot (it replays from its snapshot): so does the check.
    const key = `${node}#${cluster.node(node).incarnation}`;
    let seen = ranks.get(key);
    if (seen === undefined || committed.restored) ranks.set(key, (seen = new Map()));
    for (const e of committed.events) {
      if (e.type === 'task.created') stats.tasksCreated++;
      if (e.type === 'task.created' && e.restarts.length > 0) stats.restarts++;
      if (e.type === 'node.statusChanged' && e.status.state === 'down') stats.nodesDown++;
      if (e.type === 'service.rolledBack' && e.updateStatus.message.startsWith('update rolled back')) stats.automaticRollbacks++;
      if (e.type === 'service.updateStatusChanged' && e.updateStatus?.state === 'paused') stats.pausedUpdates++;
      const status = e.type === 'task.created' || e.type === 'task.assigned' || e.type === 'task.statusChanged' || e.type === 'task.allocated' ? e.status : undefined;
      if (status === undefined) continue;
      const rank = TASK_STATE_ORDER[status.state];
      const before = seen.get(e.id);
      if (before !== undefined && rank < before) cluster.fail(`task ${e.id} went back from rank ${before} to ${status.state} on ${node}`);
      seen.set(e.id, Math.max(rank, before ?? 0));
      if (e.type === 'task.statusChanged' && status.message === 'exit code 137' && status.state === 'failed') stats.workloadCrashes++;
    }
  };

  const boot: BootNode = async (node) => {
    const { system, env } = node;
    if (node.id === CLIENT) {
      system.spawn('client', plain<ManagerReply>('client', (m) => client.reply?.(m)));
      return;
    }
    const agent = () => {
      const executor = env.executor;
      if (executor === undefined) throw new Error(`node ${node.id} has no executor`);
      system.spawn('agent', agentActor({
        nodeId: node.id, description: description(node.id), managers: () => MANAGERS,
        dispatcherAddress: (m) => `${m}/orchestration/dispatcher`, executor,
      }));
    };
    if (!MANAGERS.includes(node.id as never)) {
      agent();
      return;
    }
    // What the previous incarnation said (its role, its store) is gone with it.
    roles.delete(node.id);
    stores.delete(node.id);
    const kv = await node.storage.openKv('raft-log');
    const storage = await KvLogStorage.open(kv, { initialConfState: { voters: [...MANAGERS], learners: [] } });
    if (node.system !== system) return;
    const snapshot = storage.snapshot();
    const id = node.id;
    checkers.set(`${id}#${node.incarnation}`, new DependencyChecker(snapshot.data, snapshot.meta.index, checked));
    let store: Store | undefined;
    system.spawn('manager', managerActor({
      nodeId: id, peer: `${id}/raft/peer`, log: `${id}/raft/log`,
      snapshotData: snapshot.data, snapshotIndex: snapshot.meta.index, snapshotConf: snapshot.meta.confState,
      snapshotIntervalEntries: 2_000, snapshotTailEntries: 200,
      onApplied: (view) => {
        store = view.store;
        stores.set(id, view.store);
      },
    }));
    system.spawn('orchestration', orchestrationActor({ nodeId: id, manager: `${id}/manager`, view: () => store as StoreReader }));
    system.spawn('raft', raftProps({
      id, storage, random: env.random.fork('raft'), peerAddress: (peer) => `${peer}/raft/peer`, applier: `${id}/manager`,
      tickMs: TICK_MS, config: { electionTicks: 10, heartbeatTicks: 1, asyncStorageWrites: true },
    }));
    agent();
  };

  const cluster = new SimCluster({
    seed: `orchestration/${seed}`,
    nodeIds: [...nodes, CLIENT],
    network: { delayMsMin: options.delayMsMin, delayMsMax: options.delayMsMax, lossProbability: options.lossProbability, duplicateProbability: options.duplicateProbability, reorder: options.reorder },
    disk: { writeLatencyMsMax: 5 },
    boot,
    observe,
    executor: ({ loop, random }) => new SimExecutor(loop, random, {
      crashProbabilityPerSecond: options.workloadCrashesPerSecond,
      slowStopProbability: options.slowStopProbability,
    }),
    ...(runOptions.traceFile ? { trace: { filePath: runOptions.traceFile } } : {}),
  });
  const { loop, network, trace } = cluster;
  trace.record({ t: 0, kind: 'options', seed: String(seed), options });
  const workload = cluster.random.fork('workload');
  const nemesis = cluster.random.fork('nemesis');
  const ids = cluster.random.fork('ids');
  // Its own stream, so that the rest of the workload draws as it did before services had dependencies.
  const dependencies = cluster.random.fork('dependencies');
  const newId = (): string => objectId(ids);
  cluster.startAll();

  // ---- the client: one operation at a time, retried until its outcome is known -----------------
  const services = new Map<string, ServiceModel>();
  const availability = new Map<string, NodeSpec['availability']>(nodes.map((n) => [n, 'active']));
  let target: string = MANAGERS[0];
  let current: { op: Operation; opId: string; attempt: number; resolve: (o: Outcome) => void } | undefined;

  const sendCurrent = (): void => {
    if (current === undefined) return;
    const attempt = ++current.attempt;
    const c = current;
    const command = { op: 'events' as const, opId: c.opId, batch: encodeBatch(c.op.events) };
    cluster.node(CLIENT).system?.send(`${target}/manager`, { type: 'manager.write', command, replyTo: `${CLIENT}/client` } satisfies ManagerInput);
    loop.schedule(2_000, () => {
      if (current !== c || c.attempt !== attempt) return;
      target = MANAGERS[(MANAGERS.indexOf(target as never) + 1) % MANAGERS.length]!;
      sendCurrent();
    });
  };
  client.reply = (m) => {
    if (current === undefined || m.opId !== current.opId) return;
    const c = current;
    if (m.type === 'manager.applied') {
      current = undefined;
      c.resolve(m.refused === null ? 'applied' : 'refused');
      return;
    }
    if (m.type === 'manager.failed') {
      if (m.code === 'DUPLICATE') {
        current = undefined;
        c.resolve('applied');
        return;
      }
      target = m.leader !== '' && MANAGERS.includes(m.leader as never) ? m.leader : MANAGERS[(MANAGERS.indexOf(target as never) + 1) % MANAGERS.length]!;
      const attempt = c.attempt;
      loop.schedule(100, () => {
        if (current === c && c.attempt === attempt) sendCurrent();
      });
    }
  };
  const perform = (op: Operation): Promise<Outcome> => new Promise<Outcome>((resolve) => {
    stats.operations++;
    current = { op, opId: newId(), attempt: 0, resolve };
    trace.record({ t: loop.now(), kind: 'op', name: op.name });
    sendCurrent();
  }).then((outcome) => {
    if (outcome === 'applied') op.onApplied();
    else stats.refused++;
    return outcome;
  });

  const at = (): number => loop.now();
  const bootstrap: Operation = {
    name: 'bootstrap',
    events: [
      { type: 'cluster.created', v: EVENT_VERSIONS['cluster.created'], at: at(), id: CLUSTER_ID, spec: clusterSpec(options.heartbeatPeriodMs) },
      ...nodes.map((id): JournalEvent => ({ type: 'node.registered', v: EVENT_VERSIONS['node.registered'], at: at(), id, spec: nodeSpec(id, 'active'), description: description(id), status: { state: 'unknown', message: 'registered', addr: `${id}:2377` } })),
    ],
    onApplied: () => undefined,
  };

  /**
   * Sometimes one or two of the services the client made (often the newest, which is likely not
   * to be running yet: a hold), each started (or, for a job, often completed successfully). Never a health check: the simulated engine runs none, so a task with
   * one would never be running. Sometimes too a name that no service has yet, which a later
   * service takes (a stack's services are created in any order); that one gets no dependencies
   * of its own, so no cycle can form.
   */
  const awaited: string[] = [];
  let laterNames = 0;
  const dependsOn = (): ServiceSpec['dependsOn'] => {
    const existing = [...services.values()];
    if (existing.length > 0 && dependencies.chance(0.15)) {
      const name = `svc-later-${++laterNames}`;
      awaited.push(name);
      return [{ service: name, condition: 'started' }];
    }
    if (existing.length === 0 || !dependencies.chance(0.4)) return [];
    const picked = new Set<ServiceModel>();
    const count = Math.min(existing.length, dependencies.int(1, 2));
    if (dependencies.chance(0.5)) picked.add(existing[existing.length - 1]!);
    while (picked.size < count) picked.add(dependencies.pick(existing));
    return [...picked].map((model) => {
      const job = model.spec.mode.kind === 'replicatedJob' || model.spec.mode.kind === 'globalJob';
      return { service: model.spec.annotations.name, condition: job && dependencies.chance(0.7) ? 'completedSuccessfully' as const : 'started' as const };
    });
  };
  const createOp = (): Operation => {
    const id = newId();
    const kind = workload.pick(['replicated', 'replicated', 'replicated', 'global', 'replicatedJob', 'globalJob'] as const);
    const job = kind === 'replicatedJob' || kind === 'globalJob';
    const mode: ServiceSpec['mode'] = kind === 'replicated' ? { kind, replicas: workload.int(1, 4) }
      : kind === 'replicatedJob' ? { kind, maxConcurrent: workload.int(1, 2), totalCompletions: workload.int(1, 4) }
      : { kind };
    const later = awaited.length > 0 && dependencies.chance(0.6) ? awaited.shift()! : undefined;
    const spec: ServiceSpec = {
      annotations: { name: later ?? `svc-${id}`, labels: {} },
      task: taskSpec(job ? JOB_IMAGE : workload.pick(GOOD_IMAGES), workload, job),
      mode, update: updateConfig(workload), rollback: updateConfig(workload), endpoint: { ports: [] },
      rebalance: kind === 'replicated' && workload.chance(0.3),
      dependsOn: later === undefined ? dependsOn() : [],
    };
    return {
      name: `create ${kind} ${id}${spec.dependsOn.length === 0 ? '' : ` after ${spec.dependsOn.map((d) => `${d.service}:${d.condition}`).join(',')}`}`,
      events: [{ type: 'service.created', v: EVENT_VERSIONS['service.created'], at: at(), id, spec }],
      onApplied: () => {
        services.set(id, { id, spec, previous: null });
        stats.servicesCreated++;
        if (spec.dependsOn.length > 0) stats.dependents++;
      },
    };
  };
  const updateOp = (model: ServiceModel, spec: ServiceSpec, name: string): Operation => ({
    name: `${name} ${model.id}`,
    events: [{ type: 'service.updated', v: EVENT_VERSIONS['service.updated'], at: at(), id: model.id, spec, expectedVersion: null }],
    onApplied: () => {
      model.previous = model.spec;
      model.spec = spec;
      stats.updates++;
    },
  });
  const nextOp = (): Operation | undefined => {
    const live = [...services.values()];
    const choice = live.length === 0 ? 'create' : workload.pick(['create', 'scale', 'image', 'image', 'force', 'rollback', 'remove', 'drain'] as const);
    const model = live.length === 0 ? undefined : workload.pick(live);
    switch (choice) {
      case 'create':
        return createOp();
      case 'scale': {
        if (model!.spec.mode.kind !== 'replicated') return createOp();
        return updateOp(model!, { ...model!.spec, mode: { kind: 'replicated', replicas: workload.int(0, 5) } }, 'scale');
      }
      case 'image': {
        if (model!.spec.mode.kind === 'replicatedJob' || model!.spec.mode.kind === 'globalJob') {
          return updateOp(model!, { ...model!.spec, task: { ...model!.spec.task, forceUpdate: model!.spec.task.forceUpdate + 1 } }, 'rerun job');
        }
        const image = workload.chance(0.25) ? workload.pick([FAILING_IMAGE, MISSING_IMAGE]) : workload.pick(GOOD_IMAGES);
        return updateOp(model!, { ...model!.spec, task: { ...model!.spec.task, container: { ...model!.spec.task.container, image } }, update: updateConfig(workload) }, `image ${image}`);
      }
      case 'force':
        return updateOp(model!, { ...model!.spec, task: { ...model!.spec.task, forceUpdate: model!.spec.task.forceUpdate + 1 } }, 'force update');
      case 'rollback': {
        const m = model!;
        // As `docker service rollback` would: the spec it goes back to is the one the cluster holds as previous.
        const held = storeOf()?.get('service', m.id);
        if (held === undefined || held.previousSpec === null) return createOp();
        const back = held.previousSpec;
        const from = held.spec;
        return {
          name: `rollback ${m.id}`,
          events: [{ type: 'service.rolledBack', v: EVENT_VERSIONS['service.rolledBack'], at: at(), id: m.id, updateStatus: { state: 'rollbackStarted', startedAt: at(), completedAt: 0, message: 'manually requested rollback' }, expectedVersion: null }],
          onApplied: () => {
            m.spec = back;
            m.previous = from;
            stats.rollbacks++;
          },
        };
      }
      case 'remove': {
        const m = model!;
        return { name: `remove ${m.id}`, events: [{ type: 'service.removed', v: EVENT_VERSIONS['service.removed'], at: at(), id: m.id, expectedVersion: null }], onApplied: () => services.delete(m.id) };
      }
      case 'drain': {
        const id = workload.pick(nodes);
        const next = availability.get(id) === 'drain' ? 'active' : workload.pick(['drain', 'pause', 'active'] as const);
        return {
          name: `node ${id} ${next}`,
          events: [{ type: 'node.updated', v: EVENT_VERSIONS['node.updated'], at: at(), id, spec: nodeSpec(id, next), expectedVersion: null }],
          onApplied: () => {
            availability.set(id, next);
            if (next === 'drain') stats.drains++;
          },
        };
      }
      default:
        return undefined;
    }
  };

  // The client's script runs alongside the simulation.
  let clientDone = false;
  const script = (async () => {
    await perform(bootstrap);
    for (let i = 0; i < options.operations && faultsOn; i++) {
      await new Promise<void>((resolve) => loop.schedule(workload.int(200, 2_000), resolve));
      const op = nextOp();
      if (op !== undefined) await perform(op);
    }
    clientDone = true;
  })();

  // ---- the nemesis ------------------------------------------------------------------------------
  const leader = (): string | undefined => MANAGERS.find((m) => roles.get(m) === 'leader' && cluster.node(m).up);
  if (options.managerCrashes || options.workerCrashes) {
    const targets = [...(options.managerCrashes ? MANAGERS : []), ...(options.workerCrashes ? workers : [])];
    for (let t = expDelay(nemesis, options.crashMeanIntervalMs); t < options.safetyPhaseMs; t += expDelay(nemesis, options.crashMeanIntervalMs)) {
      const preferLeader = nemesis.chance(0.5);
      const pick = nemesis.pick(targets);
      const downtime = nemesis.int(200, 5_000);
      loop.schedule(t, () => {
        const id = preferLeader && options.managerCrashes ? (leader() ?? pick) : pick;
        if (!cluster.node(id).up) return;
        // Never two managers down at once: the cluster must keep a quorum for liveness checks to mean something.
        if (MANAGERS.includes(id as never) && MANAGERS.some((m) => m !== id && !cluster.node(m).up)) return;
        stats.crashes++;
        if (id === leader()) stats.leaderCrashes++;
        cluster.crash(id);
        loop.schedule(downtime, () => cluster.restart(id));
      });
    }
  }
  if (options.partitions) {
    for (let t = expDelay(nemesis, options.partitionMeanIntervalMs); t < options.safetyPhaseMs; t += expDelay(nemesis, options.partitionMeanIntervalMs)) {
      const shuffled = nodes.map((id) => ({ id, key: nemesis.uint32() })).sort((a, b) => a.key - b.key).map((x) => x.id);
      const cut = nemesis.int(1, shuffled.length - 1);
      const duration = nemesis.int(500, 6_000);
      loop.schedule(t, () => {
        stats.partitions++;
        trace.record({ t: loop.now(), kind: 'partition', a: shuffled.slice(0, cut) });
        network.partition(shuffled.slice(0, cut), [...shuffled.slice(cut), CLIENT]);
        loop.schedule(duration, () => network.heal());
      });
    }
  }

  await cluster.run(options.safetyPhaseMs);

  // ---- liveness: faults off, everything up, the client's last operation finished -----------------
  if (cluster.failure === undefined) {
    faultsOn = false;
    trace.record({ t: loop.now(), kind: 'liveness' });
    network.heal();
    network.setLossProbability(0);
    for (const id of nodes) if (!cluster.node(id).up) cluster.restart(id);
    for (const id of nodes) (cluster.node(id).executor as SimExecutor | undefined)?.setCrashProbabilityPerSecond?.(0);
    const deadline = loop.now() + options.livenessPhaseMsMax;
    // Long enough for a node that went down unseen to be noticed, and every node to be back.
    const settled = loop.now() + options.heartbeatPeriodMs * 4 + 1_000;
    await cluster.run(deadline, () => loop.now() >= settled && clientDone && nodes.every((id) => cluster.node(id).up) && converged(services, availability, storeOf(), options) === undefined);
    await script;
    const why = cluster.failure ?? converged(services, availability, storeOf(), options);
    if (cluster.failure === undefined && why !== undefined) cluster.fail(`no convergence ${options.livenessPhaseMsMax} ms after the faults stopped: ${why}`);
  }
  stats.dependentsChecked = checked.checked.size;
  stats.holdsReleased = checked.released.size;
  const traceDigest = trace.digest();
  const virtualMs = loop.now();
  const events = loop.eventsProcessed;
  await cluster.finish();
  return { seed: String(seed), options, ok: cluster.failure === undefined, failure: cluster.failure, traceDigest, virtualMs, events, stats };

  function storeOf(): StoreReader | undefined {
    const id = leader();
    return id === undefined ? undefined : stores.get(id);
  }
}

/** undefined when the cluster has converged and every invariant holds; else what is still wrong. */
export function converged(models: ReadonlyMap<string, ServiceModel>, availability: ReadonlyMap<string, string>, reader: StoreReader | undefined, options: OrchestrationSimOptions): string | undefined {
  void options;
  if (reader === undefined) return 'no leader';
  const nodes = reader.list('node');
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const node of nodes) {
    if (node.status.state !== 'ready') return `node ${node.id} is ${node.status.state}`;
    if (node.spec.availability !== availability.get(node.id)) return `node ${node.id} availability ${node.spec.availability}, asked ${availability.get(node.id)}`;
  }
  for (const task of reader.list('task')) {
    const node = task.nodeId === '' ? undefined : byId.get(task.nodeId);
    if (task.status.state === 'running' && node !== undefined && node.spec.availability === 'drain') return `task ${task.id} runs on drained node ${node.id}`;
    if (!reader.get('service', task.serviceId) && TASK_STATE_ORDER[task.status.state] < TASK_STATE_ORDER.complete) return `task ${task.id} of removed service ${task.serviceId} is ${task.status.state}`;
  }
  for (const service of reader.list('service')) {
    const model = models.get(service.id);
    if (model === undefined) continue;
    // An automatic rollback undoes the last acknowledged change: the spec in force is then the
    // one before it, and the acknowledged one is what it rolled back from.
    const rolledBack = service.updateStatus !== null && service.updateStatus.state.startsWith('rollback') && service.previousSpec !== null && sameSpec(service.previousSpec, model.spec);
    if (!sameSpec(service.spec, model.spec) && !rolledBack) {
      const brief = (spec: ServiceSpec | null): string => (spec === null ? 'none' : `${spec.task.container.image}#${spec.task.forceUpdate} ${JSON.stringify(spec.mode)}`);
      return `service ${service.id}: the spec in force (${brief(service.spec)}, previous ${brief(service.previousSpec)}, update ${service.updateStatus?.state ?? 'none'}) is not the last acknowledged one (${brief(model.spec)}, before it ${brief(model.previous)})`;
    }
    const tasks = reader.tasksByService(service.id);
    // Start order: a service that never had a task waits while a dependency does not meet its
    // condition (a dependency removed, failing, or a job that cannot complete); once they all do,
    // it must run like any other.
    if (tasks.length === 0 && service.spec.dependsOn.length > 0) {
      const unmet = service.spec.dependsOn.find((d) => !conditionMet(reader, d.service, d.condition));
      if (unmet !== undefined) continue;
    }
    const why = serviceConverged(service, tasks, nodes);
    if (why !== undefined) {
      // What a replay needs first: each task's slot, node, states and whether it runs the spec in force.
      const detail = tasks.map((t) => `${t.slot}@${t.nodeId || '-'}:${t.status.state}/${t.desiredState}${isCurrent(t, service) ? '' : '(old)'}`).join(' ');
      return `service ${service.id} (${service.spec.mode.kind}, ${service.spec.task.container.image}, update ${service.updateStatus?.state ?? 'none'}): ${why}; tasks ${detail}`;
    }
  }
  for (const id of models.keys()) if (reader.get('service', id) === undefined) return `service ${id} is missing`;
  return undefined;
}

/**
 * A slot (or a global service's node) whose restart policy gave up, which Docker leaves so: its
 * latest task, of the current spec and still wanted running, ended (failed, or completed under
 * condition 'any') with `maxAttempts` restarts already made within the policy's window, counted
 * back from when it ended. A node that restarts three times takes a slot with `maxAttempts: 3`
 * there: each restart loses the slot's task, and each loss counts.
 */
function restartsExhausted(service: Service, tasks: readonly Task[]): boolean {
  const policy = service.spec.task.restartPolicy;
  if (policy.maxAttempts <= 0 || tasks.length === 0) return false;
  const last = tasks.reduce((a, b) => (b.meta.createdAt > a.meta.createdAt || (b.meta.createdAt === a.meta.createdAt && b.meta.version > a.meta.version) ? b : a));
  if (!isCurrent(last, service) || last.desiredState !== 'running') return false;
  const state = last.status.state;
  const ended = state === 'failed' || state === 'rejected' || state === 'orphaned' || state === 'shutdown' || (state === 'complete' && policy.condition === 'any');
  if (!ended) return false;
  const windowStart = policy.windowMs > 0 ? last.meta.updatedAt - policy.windowMs : -Infinity;
  return last.restarts.filter((t) => t > windowStart).length >= policy.maxAttempts;
}

/** The store's deep equality, which also compares key order: the client builds its specs in the schemas' order, as every builder in the repo does. */
function sameSpec(a: ServiceSpec, b: ServiceSpec): boolean {
  return sameValue(a, b);
}

function serviceConverged(service: Service, tasks: readonly Task[], nodes: readonly Node[]): string | undefined {
  const running = tasks.filter((t) => t.status.state === 'running');
  const paused = service.updateStatus?.state === 'paused' || service.updateStatus?.state === 'rollbackPaused';
  const image = service.spec.task.container.image;
  const runnable = GOOD_IMAGES.includes(image);
  const mode = service.spec.mode;
  const eligible = nodes.filter((n) => n.status.state === 'ready' && n.spec.availability === 'active');
  // Safety, whatever the image: one running task per slot / per node.
  const perSlot = new Map<string, number>();
  for (const t of running) {
    const key = mode.kind === 'global' || mode.kind === 'globalJob' ? t.nodeId : String(t.slot);
    perSlot.set(key, (perSlot.get(key) ?? 0) + 1);
  }
  for (const [key, count] of perSlot) if (count > 1) return `${count} running tasks in slot ${key}`;
  if (paused) return undefined;
  if (mode.kind === 'replicated') {
    if (!runnable) return undefined;
    const current = running.filter((t) => isCurrent(t, service));
    const slots = new Set(tasks.map((t) => t.slot));
    let gaveUp = 0;
    for (const slot of slots) if (!running.some((t) => t.slot === slot) && restartsExhausted(service, tasks.filter((t) => t.slot === slot))) gaveUp++;
    const want = mode.replicas - gaveUp;
    if (current.length !== want || running.length !== want) return `${current.length} running of the current spec (${running.length} in all), want ${want}${gaveUp > 0 ? ` (${mode.replicas} less ${gaveUp} slots out of restarts)` : ''}`;
  } else if (mode.kind === 'global') {
    if (!runnable) return undefined;
    for (const n of eligible) {
      const here = tasks.filter((t) => t.nodeId === n.id);
      if (!here.some((t) => t.status.state === 'running' && isCurrent(t, service)) && !restartsExhausted(service, here)) return `no running task of the current spec on node ${n.id}`;
    }
  } else if (mode.kind === 'replicatedJob') {
    const done = new Set(tasks.filter((t) => t.status.state === 'complete' && isCurrent(t, service)).map((t) => t.slot));
    if (done.size < mode.totalCompletions) return `${done.size} of ${mode.totalCompletions} completions`;
  } else {
    for (const n of eligible) if (!tasks.some((t) => t.nodeId === n.id && t.status.state === 'complete' && isCurrent(t, service))) return `no completion on node ${n.id}`;
  }
  if (service.updateStatus?.state === 'updating' || service.updateStatus?.state === 'rollbackStarted') return `update still ${service.updateStatus.state}`;
  return undefined;
}

function expDelay(random: Random, meanMs: number): number {
  return Math.max(1, Math.round(-Math.log(1 - random.float()) * meanMs));
}

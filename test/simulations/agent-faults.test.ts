// Agents and the dispatcher under faults, on several seeds: a lossy, duplicating, reordering
// network, partitions, worker crashes and restarts, workload crashes and slow stops, while tasks
// are added and shut down; the manager crashes too (its dispatcher starts over, as a new
// leader's does). Then the faults stop, and everything must converge: every task
// desired running is running (or failed, for a workload that crashed), every task shut down is
// shut down and gone from its node's engine, and no engine holds a workload of a task that is
// not assigned to its node.
import { agentActor, dispatcherActor } from '../../actors/index.js';
import {
  CONTAINER_SPEC_DEFAULTS, EVENT_VERSIONS, Store, TASK_STATE_ORDER,
  type DesiredState, type JournalEvent, type NodeDescription, type ServiceSpec, type TaskSpec,
} from '../../journal/index.js';
import { SeededRandom, type ActorContext, type Address, type InspectionEvent, type Props } from '../../runtime/index.js';
import { SimCluster, SimExecutor } from '../../simulations/index.js';

const WORKERS = ['w1', 'w2', 'w3'];
const PERIOD_MS = 500;

const description = (hostname: string): NodeDescription => ({
  hostname, platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 4e9, memoryBytes: 2 ** 33 }, engineLabels: {},
});

function taskSpec(image: string): TaskSpec {
  return {
    container: { image, command: [], args: [], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS },
    resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    restartPolicy: { condition: 'none', delayMs: 0, maxAttempts: 0, windowMs: 0 },
    placement: { constraints: [], maxReplicasPerNode: 0, preferences: [], platforms: [] },
    networks: [], secrets: [], configs: [], forceUpdate: 0, runtime: 'container',
  };
}

const update = { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 0, maxFailureRatio: 0, order: 'stopFirst' } as const;
const serviceSpec: ServiceSpec = {
  annotations: { name: 'web', labels: {} }, task: taskSpec('nginx'), mode: { kind: 'replicated', replicas: 1 }, update, rollback: update,
  endpoint: { ports: [] }, rebalance: false, dependsOn: [],
};

const at = 1;

type WriterMessage =
  | { type: 'writer.propose'; token: string; events: readonly JournalEvent[]; replyTo: Address }
  | { type: 'test.apply'; events: readonly JournalEvent[] };

/** Applies each batch at the next index, reports it as manager.committed, and answers the proposer. */
function testWriter(store: Store, dispatcher: Address): Props<WriterMessage> {
  return {
    kind: 'test-writer',
    create: (ctx: ActorContext) => ({
      receive: (m: WriterMessage) => {
        const result = store.applyBatch(m.events, store.index + 1);
        ctx.send(dispatcher, { type: 'manager.committed', index: result.index, events: result.applied ? m.events : [], restored: false });
        if (m.type === 'writer.propose') {
          ctx.send(m.replyTo, {
            type: 'writer.done', token: m.token, ok: result.applied, index: result.index,
            error: result.applied ? null : { code: result.error.code, message: result.error.message },
          });
        }
      },
    }),
  };
}

interface FaultRun {
  readonly failure: string | undefined;
  readonly digest: string;
  readonly faults: { crashes: number; partitions: number; dropped: number; workloadCrashes: number; slowStops: number };
}

async function runWithFaults(seed: string): Promise<FaultRun> {
  const store = new Store();
  const executors = new Map<string, SimExecutor>();
  const options = new SeededRandom(`options/${seed}`);
  const loss = options.int(0, 5) / 100;
  let partitions = 0;
  const observe = (_node: string, event: InspectionEvent): void => {
    // A task's reported state only moves forward (the store would refuse the rest; the dispatcher must not even propose it).
    if (event.type !== 'message.delivered') return;
    const m = event.message as { type?: string; events?: readonly JournalEvent[] };
    if (m.type !== 'writer.propose') return;
    for (const e of m.events ?? []) {
      if (e.type !== 'task.statusChanged') continue;
      const current = store.get('task', e.id);
      if (current !== undefined && TASK_STATE_ORDER[e.status.state] <= TASK_STATE_ORDER[current.status.state]) {
        cluster.fail(`dispatcher proposed ${e.id} ${e.status.state} over ${current.status.state}`);
      }
    }
  };
  const cluster = new SimCluster({
    seed: `agent-faults/${seed}`,
    nodeIds: ['m1', ...WORKERS],
    network: { delayMsMin: 1, delayMsMax: 1 + options.int(0, 30), lossProbability: loss, duplicateProbability: options.int(0, 5) / 100, reorder: options.chance(0.5) },
    disk: { writeLatencyMsMax: 0 },
    executor: ({ id, loop, random }) => {
      const executor = new SimExecutor(loop, random, { crashProbabilityPerSecond: options.chance(0.5) ? 0.02 : 0, slowStopProbability: 0.3 });
      executors.set(id, executor);
      return executor;
    },
    observe,
    boot: ({ system, id, env }) => {
      if (id === 'm1') {
        for (const worker of WORKERS) system.spawn(`node-${worker}`, { kind: 'node-probe', create: () => ({ receive: () => undefined }) });
        system.spawn('writer', testWriter(store, 'm1/dispatcher'));
        system.spawn('dispatcher', dispatcherActor({ nodeId: 'm1', view: () => store, writer: 'm1/writer', nodeActor: (n) => `m1/node-${n}`, heartbeatPeriodMs: PERIOD_MS }));
        return;
      }
      system.spawn('agent', agentActor({
        nodeId: id, description: description(id), managers: () => ['m1'], dispatcherAddress: (m) => `${m}/dispatcher`,
        executor: env.executor!, heartbeatPeriodMs: PERIOD_MS, stopGraceMs: 300,
      }));
    },
  });
  const { loop, network } = cluster;
  store.applyBatch([
    ...WORKERS.map((id): JournalEvent => ({
      type: 'node.registered', v: EVENT_VERSIONS['node.registered'], at, id, spec: { annotations: { name: id, labels: {} }, role: 'worker', availability: 'active' },
      description: description(id), status: { state: 'ready', message: '', addr: '' },
    })),
    { type: 'service.created', v: EVENT_VERSIONS['service.created'], at, id: 's1', spec: serviceSpec },
  ], 1);
  cluster.startAll();
  const commit = (events: JournalEvent[]): void => cluster.node('m1').system!.send('m1/writer', { type: 'test.apply', events });
  const workload = cluster.random.fork('workload');
  const nemesis = cluster.random.fork('nemesis');
  const images = ['nginx', 'nginx', 'nginx', 'exit/0/400', 'exit/2/300', 'missing/x', 'stubborn/db'];
  let next = 0;
  const desired = (id: string, desiredState: DesiredState): JournalEvent => ({ type: 'task.desiredStateChanged', v: EVENT_VERSIONS['task.desiredStateChanged'], at, id, desiredState, expectedVersion: null });

  // Safety phase: work and faults for 20 s.
  for (let t = 200; t < 20_000; t += workload.int(100, 800)) {
    loop.schedule(t, () => {
      if (!cluster.node('m1').up) return;
      const live = store.list('task').filter((task) => task.desiredState === 'running');
      if (live.length > 0 && workload.chance(0.3)) {
        commit([desired(workload.pick(live).id, workload.chance(0.5) ? 'shutdown' : 'remove')]);
        return;
      }
      const id = `t${++next}`;
      commit([{
        type: 'task.created', v: EVENT_VERSIONS['task.created'], at, id, serviceId: 's1', slot: next, nodeId: workload.pick(WORKERS),
        spec: taskSpec(workload.pick(images)), serviceVersion: 1, desiredState: workload.chance(0.1) ? 'ready' : 'running',
        status: { state: 'assigned', message: 'assigned', timestamp: at, err: '' }, restarts: [], addresses: [],
      }]);
    });
  }
  for (let t = nemesis.int(500, 3_000); t < 19_000; t += nemesis.int(1_000, 4_000)) {
    // The manager too: its dispatcher starts over with no sessions, as a new leader's does.
    const worker = nemesis.chance(0.2) ? 'm1' : nemesis.pick(WORKERS);
    if (nemesis.chance(0.5)) {
      const duration = nemesis.int(200, 3_000);
      loop.schedule(t, () => {
        partitions++;
        network.partition([worker], worker === 'm1' ? WORKERS : ['m1']);
        loop.schedule(duration, () => network.heal());
      });
    } else {
      const downtime = nemesis.int(100, 2_000);
      loop.schedule(t, () => {
        cluster.crash(worker);
        loop.schedule(downtime, () => cluster.restart(worker));
      });
    }
  }
  await cluster.run(20_000);

  // Liveness phase: faults off; the 'ready' tasks are let run.
  network.heal();
  network.setLossProbability(0);
  cluster.restart('m1');
  for (const id of WORKERS) {
    cluster.restart(id);
    executors.get(id)!.setCrashProbabilityPerSecond(0);
  }
  commit(store.list('task').filter((t) => t.desiredState === 'ready').map((t) => desired(t.id, 'running')));
  const settled = (): string | undefined => {
    for (const task of store.list('task')) {
      const engine = executors.get(task.nodeId)!;
      const held = engine.workloads().find((w) => w.id === task.id);
      const state = task.status.state;
      if (task.desiredState === 'running') {
        const image = task.spec.container.image;
        const expected = image.startsWith('missing/') ? ['rejected'] : image.startsWith('exit/0') ? ['complete', 'failed'] : image.startsWith('exit/') ? ['failed'] : ['running', 'failed'];
        if (!expected.includes(state)) return `${task.id} (${image}) is ${state}, expected ${expected.join(' or ')}`;
        if (state === 'running' && held?.running !== true) return `${task.id} is running in the store but not on ${task.nodeId}`;
      } else {
        if (!['shutdown', 'complete', 'failed', 'rejected'].includes(state)) return `${task.id} desired ${task.desiredState} is ${state}`;
        if (held !== undefined) return `${task.id} is done with but ${task.nodeId} still holds its workload`;
      }
    }
    for (const [node, engine] of executors) {
      for (const w of engine.workloads()) {
        const task = store.get('task', w.id);
        if (task === undefined || task.nodeId !== node) return `${node} holds ${w.id}, not assigned to it`;
      }
    }
    return undefined;
  };
  await cluster.run(loop.now() + 30_000, () => settled() === undefined);
  const why = settled();
  if (why !== undefined) cluster.fail(`no convergence: ${why}`);
  await cluster.finish();
  let workloadCrashes = 0;
  let slowStops = 0;
  for (const engine of executors.values()) {
    workloadCrashes += engine.counters.crashed;
    slowStops += engine.counters.slowStops;
  }
  const dropped = Object.values(network.stats().dropped).reduce((a, b) => a + b, 0);
  return { failure: cluster.failure, digest: cluster.trace.digest(), faults: { crashes: cluster.crashes.count, partitions, dropped, workloadCrashes, slowStops } };
}

describe('agents and the dispatcher under faults', () => {
  const seeds = ['1', '2', '3', '4', '5', '6'];
  test.each(seeds)('seed %s converges once the faults stop', async (seed) => {
    const run = await runWithFaults(seed);
    expect(run.failure).toBeUndefined();
    expect(run.faults.crashes + run.faults.partitions).toBeGreaterThan(0);
  });

  test('the faults happen, and a seed replays exactly', async () => {
    const runs: FaultRun[] = [];
    for (const seed of ['1', '2', '3']) runs.push(await runWithFaults(seed));
    const total = runs.reduce((sum, r) => sum + r.faults.dropped + r.faults.workloadCrashes + r.faults.slowStops, 0);
    expect(total).toBeGreaterThan(0);
    expect((await runWithFaults('1')).digest).toBe(runs[0]!.digest);
  });
});

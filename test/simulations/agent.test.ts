// Agents on simulated workers with the dispatcher on a simulated manager: one manager node holds
// a Store, a test writer (applies each proposed batch with applyBatch, answers writer.done and
// reports manager.committed), the dispatcher and a probe per node actor; the workers run agents
// on SimExecutors. Time, network and engine are the simulator's: one seed, one run.
import { AGENT_TASKS_STORE, TASK_LOST_MESSAGE, agentActor, dispatcherActor, type AgentAssignments } from '../../actors/index.js';
import {
  CONTAINER_SPEC_DEFAULTS, EVENT_VERSIONS, Store,
  type BlobSpec, type DesiredState, type JournalEvent, type NodeDescription, type ServiceSpec, type Task, type TaskSpec, type TaskState,
} from '../../journal/index.js';
import { MemoryStorage, messageType, type ActorContext, type Address, type InspectionEvent, type Props } from '../../runtime/index.js';
import { SimCluster, SimExecutor, type SimExecutorOptions } from '../../simulations/index.js';

// ---- fixtures ----

const description = (hostname: string): NodeDescription => ({
  hostname, platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 4e9, memoryBytes: 2 ** 33 }, engineLabels: {},
});

function taskSpec(image: string, secrets: readonly string[] = []): TaskSpec {
  return {
    container: { image, command: [], args: [], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS },
    resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    restartPolicy: { condition: 'none', delayMs: 0, maxAttempts: 0, windowMs: 0 },
    placement: { constraints: [], maxReplicasPerNode: 0, preferences: [], platforms: [] },
    networks: [],
    secrets: secrets.map((id) => ({ id, name: id, target: id })),
    configs: [],
    forceUpdate: 0,
    runtime: 'container',
  };
}

const update = { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stopFirst' } as const;
const serviceSpec = (name: string): ServiceSpec => ({
  annotations: { name, labels: {} }, task: taskSpec('nginx'), mode: { kind: 'replicated', replicas: 1 }, update, rollback: update,
  endpoint: { ports: [] }, rebalance: false, dependsOn: [],
});
const blob = (name: string): BlobSpec => ({ annotations: { name, labels: {} }, data: new TextEncoder().encode(`${name}-data`) });

const at = 1;
function taskCreated(id: string, nodeId: string, image: string, options: { desired?: DesiredState; secrets?: string[] } = {}): JournalEvent {
  return {
    type: 'task.created', v: EVENT_VERSIONS['task.created'], at, id, serviceId: 's1', slot: 1, nodeId,
    spec: taskSpec(image, options.secrets), serviceVersion: 1, desiredState: options.desired ?? 'running',
    status: { state: 'assigned', message: 'assigned', timestamp: at, err: '' }, restarts: [], addresses: [],
  };
}
const desiredChanged = (id: string, desiredState: DesiredState): JournalEvent => ({
  type: 'task.desiredStateChanged', v: EVENT_VERSIONS['task.desiredStateChanged'], at, id, desiredState, expectedVersion: null,
});

const WORKERS = ['w1', 'w2', 'w3'] as const;

function baseline(): JournalEvent[] {
  return [
    ...WORKERS.map((id): JournalEvent => ({
      type: 'node.registered', v: EVENT_VERSIONS['node.registered'], at, id, spec: { annotations: { name: id, labels: {} }, role: 'worker', availability: 'active' },
      description: description(id), status: { state: 'ready', message: '', addr: '' },
    })),
    { type: 'service.created', v: EVENT_VERSIONS['service.created'], at, id: 's1', spec: serviceSpec('web') },
    { type: 'secret.created', v: EVENT_VERSIONS['secret.created'], at, id: 'sec-a', spec: blob('a') },
    { type: 'secret.created', v: EVENT_VERSIONS['secret.created'], at, id: 'sec-b', spec: blob('b') },
    { type: 'secret.created', v: EVENT_VERSIONS['secret.created'], at, id: 'sec-unused', spec: blob('unused') },
    taskCreated('web1', 'w1', 'nginx', { secrets: ['sec-a'] }),
    taskCreated('web2', 'w2', 'nginx', { secrets: ['sec-b'] }),
    taskCreated('batch3', 'w2', 'exit/3/500'),
    taskCreated('job0', 'w3', 'exit/0/300'),
    taskCreated('ghost', 'w3', 'missing/app'),
    taskCreated('later', 'w1', 'nginx', { desired: 'ready', secrets: ['sec-a', 'sec-b'] }),
  ];
}

// ---- the scenario bench ----

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

interface Delivery {
  readonly t: number;
  readonly node: string;
  readonly from: string | null;
  readonly to: string;
  readonly message: { readonly type: string } & Record<string, unknown>;
}

interface Bench {
  readonly cluster: SimCluster;
  readonly store: Store;
  readonly deliveries: Delivery[];
  executor(node: string): SimExecutor;
  commit(events: readonly JournalEvent[]): void;
  runFor(ms: number): Promise<void>;
  task(id: string): Task;
  to(address: string, type: string): Delivery[];
}

function bench(seed: string, options: { executor?: SimExecutorOptions } = {}): Bench {
  const store = new Store();
  const deliveries: Delivery[] = [];
  const executors = new Map<string, SimExecutor>();
  const observe = (node: string, event: InspectionEvent): void => {
    if (event.type !== 'message.delivered') return;
    const type = messageType(event.message);
    if (type === undefined) return;
    deliveries.push({ t: event.at, node, from: event.from ?? null, to: event.to, message: event.message as Delivery['message'] });
  };
  const cluster = new SimCluster({
    seed,
    nodeIds: ['m1', ...WORKERS],
    network: { delayMsMin: 1, delayMsMax: 5, lossProbability: 0, duplicateProbability: 0, reorder: false },
    disk: { writeLatencyMsMax: 0 },
    executor: ({ id, loop, random }) => {
      const executor = new SimExecutor(loop, random, options.executor);
      executors.set(id, executor);
      return executor;
    },
    observe,
    boot: ({ system, id, env }) => {
      if (id === 'm1') {
        for (const worker of WORKERS) system.spawn(`node-${worker}`, { kind: 'node-probe', create: () => ({ receive: () => undefined }) });
        system.spawn('writer', testWriter(store, 'm1/dispatcher'));
        system.spawn('dispatcher', dispatcherActor({
          nodeId: 'm1', view: () => store, writer: 'm1/writer', nodeActor: (nodeId) => `m1/node-${nodeId}`, heartbeatPeriodMs: 1_000,
        }));
        return;
      }
      system.spawn('agent', agentActor({
        nodeId: id, description: description(id), managers: () => ['m1'], dispatcherAddress: (manager) => `${manager}/dispatcher`,
        executor: env.executor!, heartbeatPeriodMs: 1_000, stopGraceMs: 2_000,
      }));
    },
  });
  const b: Bench = {
    cluster,
    store,
    deliveries,
    executor: (node) => executors.get(node)!,
    commit: (events) => cluster.node('m1').system!.send('m1/writer', { type: 'test.apply', events }),
    runFor: (ms) => cluster.run(cluster.loop.now() + ms),
    task: (id) => store.get('task', id)!,
    to: (address, type) => deliveries.filter((d) => d.to === address && d.message.type === type),
  };
  // The store holds the baseline before anyone starts, as a new leader's store would.
  store.applyBatch(baseline(), 1);
  cluster.startAll();
  return b;
}

const stateOf = (b: Bench, id: string): [TaskState, string, string] => {
  const { status } = b.task(id);
  return [status.state, status.message, status.err];
};

// ---- tests ----

describe('agents and the dispatcher in the simulator', () => {
  test('assigned tasks run; an exit code fails, a missing image is rejected, a zero exit completes, desired ready waits', async () => {
    const b = bench('lifecycle');
    await b.runFor(5_000);
    expect(b.cluster.failure).toBeUndefined();
    expect(stateOf(b, 'web1')).toEqual(['running', 'started', '']);
    expect(stateOf(b, 'web2')).toEqual(['running', 'started', '']);
    expect(stateOf(b, 'batch3')).toEqual(['failed', 'exit code 3', 'exit code 3']);
    expect(stateOf(b, 'job0')).toEqual(['complete', 'finished', '']);
    expect(stateOf(b, 'ghost')).toEqual(['rejected', 'No such image: missing/app', 'No such image: missing/app']);
    // Desired ready: prepared, not started.
    expect(stateOf(b, 'later')).toEqual(['ready', 'prepared', '']);
    expect(b.executor('w1').workloads()).toEqual([{ id: 'later', running: false, exitCode: null }, { id: 'web1', running: true, exitCode: null }]);
    // The store saw only forward moves, every one of them proposed by the dispatcher in batches.
    const proposals = b.to('m1/writer', 'writer.propose');
    expect(proposals.length).toBeGreaterThan(0);
    for (const p of proposals) expect((p.message.events as JournalEvent[]).every((e) => e.type === 'task.statusChanged')).toBe(true);

    // Desired running: it starts.
    b.commit([desiredChanged('later', 'running')]);
    await b.runFor(1_000);
    expect(stateOf(b, 'later')[0]).toBe('running');

    // Desired shutdown: stopped (within its grace), reported shutdown, then removed from the node.
    b.commit([desiredChanged('web1', 'shutdown')]);
    await b.runFor(3_000);
    expect(stateOf(b, 'web1')).toEqual(['shutdown', 'shutdown', '']);
    expect(b.executor('w1').workloads().map((w) => w.id)).toEqual(['later']);
    const w1 = b.to('w1/agent', 'agent.assignments').map((d) => d.message as unknown as AgentAssignments);
    expect(w1.at(-1)!.removedTasks).toEqual(['web1']);
    expect(b.cluster.failure).toBeUndefined();
    await b.cluster.finish();
  });

  test('each node receives only its own tasks, and only the secrets they reference', async () => {
    const b = bench('least-privilege');
    await b.runFor(3_000);
    b.commit([taskCreated('web4', 'w3', 'nginx', { secrets: ['sec-b'] }), desiredChanged('later', 'remove')]);
    await b.runFor(3_000);
    const received = new Map<string, { tasks: Set<string>; secrets: Set<string> }>();
    for (const worker of WORKERS) {
      const held = { tasks: new Set<string>(), secrets: new Set<string>() };
      received.set(worker, held);
      for (const d of b.to(`${worker}/agent`, 'agent.assignments')) {
        const m = d.message as unknown as AgentAssignments;
        for (const task of m.tasks) {
          expect(task.nodeId).toBe(worker);
          held.tasks.add(task.id);
        }
        for (const secret of m.secrets) held.secrets.add(secret.id);
      }
      // Every secret sent is referenced by a task of this node.
      const referenced = new Set([...held.tasks].flatMap((id) => b.task(id)?.spec.secrets.map((s) => s.id) ?? ['(removed)']));
      for (const secret of held.secrets) expect(referenced.has(secret)).toBe(true);
    }
    expect(received.get('w1')).toEqual({ tasks: new Set(['web1', 'later']), secrets: new Set(['sec-a', 'sec-b']) });
    expect(received.get('w2')).toEqual({ tasks: new Set(['web2', 'batch3']), secrets: new Set(['sec-b']) });
    expect(received.get('w3')).toEqual({ tasks: new Set(['job0', 'ghost', 'web4']), secrets: new Set(['sec-b']) });
    // 'later' was removed while only prepared: w1 drops sec-b with it.
    const w1 = b.to('w1/agent', 'agent.assignments').map((d) => d.message as unknown as AgentAssignments);
    expect(w1.some((m) => m.removedSecrets.includes('sec-b'))).toBe(true);
    expect(stateOf(b, 'web4')[0]).toBe('running');
    await b.cluster.finish();
  });

  test('a partition stops the heartbeats; after the heal the agent registers again and its tasks keep running', async () => {
    const b = bench('partition');
    await b.runFor(3_000);
    const opened = b.to('m1/node-w1', 'node.sessionOpened');
    expect(opened).toHaveLength(1);
    const cutAt = b.cluster.loop.now();
    b.cluster.network.partition(['w1'], ['m1']);
    await b.runFor(6_000);
    const healAt = b.cluster.loop.now();
    b.cluster.network.heal();
    await b.runFor(8_000);
    const beats = b.to('m1/node-w1', 'node.heartbeat');
    // Nothing from w1 reached the manager while cut off (what was in flight landed within 5 ms).
    expect(beats.filter((d) => d.t > cutAt + 5 && d.t <= healAt)).toEqual([]);
    expect(b.to('m1/node-w2', 'node.heartbeat').filter((d) => d.t > cutAt && d.t <= healAt).length).toBeGreaterThanOrEqual(5);
    // After the heal: a new session, and heartbeats on it.
    const reopened = b.to('m1/node-w1', 'node.sessionOpened');
    expect(reopened).toHaveLength(2);
    const newSession = reopened[1]!.message.sessionId;
    expect(newSession).not.toBe(opened[0]!.message.sessionId);
    expect(reopened[1]!.t).toBeGreaterThan(healAt);
    // Registration is retried (a deadline of one heartbeat period per attempt, a backoff capped at 4 s): back within a few seconds of the heal.
    expect(reopened[1]!.t - healAt).toBeLessThan(1_000 + 4_000 * 1.2);
    expect(beats.filter((d) => d.t > reopened[1]!.t && d.message.sessionId === newSession).length).toBeGreaterThanOrEqual(2);
    // The workload lived on: the same task, still running, no restart.
    expect(stateOf(b, 'web1')[0]).toBe('running');
    expect(b.executor('w1').counters.started).toBe(1);
    expect(b.cluster.failure).toBeUndefined();
    await b.cluster.finish();
  });

  test('a dropped assignment increment is recovered by a resync', async () => {
    const b = bench('dropped-increment');
    await b.runFor(3_000);
    // Everything from the manager to w1 is lost for a moment: the increment carrying 'new1'.
    b.cluster.network.setLink('m1', 'w1', { delayMsMin: 1, delayMsMax: 5, lossProbability: 1 });
    b.commit([taskCreated('new1', 'w1', 'nginx')]);
    await b.runFor(20);
    b.cluster.network.clearLink('m1', 'w1');
    expect(b.to('w1/agent', 'agent.assignments').some((d) => (d.message as unknown as AgentAssignments).tasks.some((t) => t.id === 'new1'))).toBe(false);
    // The next increment shows the gap: the agent asks for everything again.
    b.commit([taskCreated('new2', 'w1', 'nginx')]);
    await b.runFor(2_000);
    expect(b.to('m1/dispatcher', 'dispatcher.resync').filter((d) => d.from === 'w1/agent')).toHaveLength(1);
    const full = b.to('w1/agent', 'agent.assignments').map((d) => d.message as unknown as AgentAssignments).filter((m) => m.full);
    expect(full).toHaveLength(2);
    expect(full[1]!.tasks.map((t) => t.id)).toEqual(['later', 'new1', 'new2', 'web1']);
    expect(stateOf(b, 'new1')[0]).toBe('running');
    expect(stateOf(b, 'new2')[0]).toBe('running');
    await b.cluster.finish();
  });

  test('a restarted agent adopts running workloads; a machine crash loses them and its tasks fail as lost', async () => {
    const b = bench('restarts');
    await b.runFor(3_000);
    // The agent's process restarts, the engine keeps running: nothing is lost.
    const w1 = b.cluster.node('w1').system!;
    w1.stop('w1/agent');
    w1.spawn('agent', agentActor({
      nodeId: 'w1', description: description('w1'), managers: () => ['m1'], dispatcherAddress: (manager) => `${manager}/dispatcher`,
      executor: b.executor('w1'), heartbeatPeriodMs: 1_000,
    }));
    const restartedAt = b.cluster.loop.now();
    await b.runFor(3_000);
    expect(b.to('m1/node-w1', 'node.sessionOpened')).toHaveLength(2);
    expect(stateOf(b, 'web1')[0]).toBe('running');
    // Adopted as it was: the new agent neither prepared nor started anything.
    expect(b.deliveries.filter((d) => d.t >= restartedAt && d.to === 'w1/agent/executor' && d.message.type !== 'executor.wait' && d.message.type !== 'executor.list')).toEqual([]);
    expect(b.executor('w1').counters.started).toBe(1);
    // Adopted, it is still watched: a shutdown stops it.
    b.commit([desiredChanged('web1', 'shutdown')]);
    await b.runFor(3_000);
    expect(stateOf(b, 'web1')[0]).toBe('shutdown');

    // The machine w2 crashes: its workloads die with it; when it is back, what ran is lost.
    b.cluster.crash('w2');
    await b.runFor(500);
    b.cluster.restart('w2');
    await b.runFor(4_000);
    expect(stateOf(b, 'web2')).toEqual(['failed', TASK_LOST_MESSAGE, TASK_LOST_MESSAGE]);
    // Finished before the crash: nothing to report.
    expect(stateOf(b, 'batch3')).toEqual(['failed', 'exit code 3', 'exit code 3']);
    expect(b.executor('w2').workloads()).toEqual([]);
    expect(b.cluster.failure).toBeUndefined();
    await b.cluster.finish();
  });

  test('a task removed while its agent was away: the restarted agent stops and removes its workload instead of leaving it running', async () => {
    const b = bench('reap');
    await b.runFor(3_000);
    expect(stateOf(b, 'web1')[0]).toBe('running');
    const w1 = b.cluster.node('w1').system!;
    w1.stop('w1/agent');
    // While no agent runs on w1, the task is removed from the store: the next full set lacks it.
    b.commit([{ type: 'task.removed', v: EVENT_VERSIONS['task.removed'], at, id: 'web1', expectedVersion: null }]);
    await b.runFor(500);
    expect(b.executor('w1').workloads().map((w) => w.id)).toContain('web1');
    w1.spawn('agent', agentActor({
      nodeId: 'w1', description: description('w1'), managers: () => ['m1'], dispatcherAddress: (manager) => `${manager}/dispatcher`,
      executor: b.executor('w1'), heartbeatPeriodMs: 1_000,
    }));
    await b.runFor(3_000);
    expect(b.executor('w1').workloads().map((w) => w.id)).not.toContain('web1');
    expect(b.cluster.failure).toBeUndefined();
    await b.cluster.finish();
  });

  test('with its task database, a restarted agent takes up its tasks at once, before any session; the first full set then removes what is no longer assigned', async () => {
    const b = bench('task-db');
    const storage = new MemoryStorage();
    await b.runFor(1);
    const w1 = b.cluster.node('w1').system!;
    const restartAgent = (): void => {
      w1.stop('w1/agent');
      w1.spawn('agent', agentActor({
        nodeId: 'w1', description: description('w1'), managers: () => ['m1'], dispatcherAddress: (manager) => `${manager}/dispatcher`,
        executor: b.executor('w1'), heartbeatPeriodMs: 1_000, storage,
      }));
    };
    restartAgent();
    await b.runFor(3_000);
    expect(stateOf(b, 'web1')[0]).toBe('running');
    const stored = (await (await storage.openKv(AGENT_TASKS_STORE)).range({})).map(([key]) => key);
    expect(stored).toEqual(['task/later', 'task/web1']);

    // Cut off from the manager, the agent restarts: its runners are back before any session.
    b.cluster.network.partition(['w1'], ['m1']);
    restartAgent();
    await b.runFor(200);
    expect(w1.has('w1/agent/task-web1')).toBe(true);
    expect(w1.has('w1/agent/task-later')).toBe(true);
    // Meanwhile web1 is removed; once the partition heals, the full set drops it: stopped and removed.
    b.commit([{ type: 'task.removed', v: EVENT_VERSIONS['task.removed'], at, id: 'web1', expectedVersion: null }]);
    b.cluster.network.heal();
    await b.runFor(4_000);
    expect(b.executor('w1').workloads().map((w) => w.id)).toEqual(['later']);
    expect((await (await storage.openKv(AGENT_TASKS_STORE)).range({})).map(([key]) => key)).toEqual(['task/later']);
    // Adopted, never started twice.
    expect(b.executor('w1').counters.started).toBe(1);
    expect(b.cluster.failure).toBeUndefined();
    await b.cluster.finish();
  });

  test('a description that changes during a session goes to the dispatcher, which hands it to the node actor; an unchanged one is not sent again', async () => {
    const b = bench('describe');
    await b.runFor(1);
    const w1 = b.cluster.node('w1').system!;
    let memoryBytes = 2 ** 33;
    w1.stop('w1/agent');
    w1.spawn('agent', agentActor({
      nodeId: 'w1', managers: () => ['m1'], dispatcherAddress: (manager) => `${manager}/dispatcher`, executor: b.executor('w1'), heartbeatPeriodMs: 1_000,
      description: () => ({ ...description('w1'), resources: { nanoCpus: 4e9, memoryBytes } }), describeEveryMs: 1_000,
    }));
    await b.runFor(3_500);
    expect(b.to('m1/node-w1', 'node.described')).toEqual([]);
    memoryBytes = 2 ** 34;
    await b.runFor(1_500);
    const described = b.to('m1/node-w1', 'node.described');
    expect(described).toHaveLength(1);
    expect(described[0]!.message).toMatchObject({ description: { resources: { memoryBytes: 2 ** 34 } } });
    await b.runFor(3_000);
    expect(b.to('m1/node-w1', 'node.described')).toHaveLength(1);
    await b.cluster.finish();
  });

  test('same seed, same trace; another seed, another trace', async () => {
    const run = async (seed: string): Promise<string> => {
      const b = bench(seed, { executor: { crashProbabilityPerSecond: 0.1, slowStopProbability: 0.5 } });
      await b.runFor(3_000);
      b.cluster.network.partition(['w2'], ['m1']);
      b.commit([desiredChanged('web1', 'shutdown'), taskCreated('web5', 'w2', 'nginx')]);
      await b.runFor(4_000);
      b.cluster.network.heal();
      await b.runFor(4_000);
      expect(b.cluster.failure).toBeUndefined();
      await b.cluster.finish();
      return b.cluster.trace.digest();
    };
    const first = await run('digest-1');
    expect(await run('digest-1')).toBe(first);
    expect(await run('digest-2')).not.toBe(first);
  });
});

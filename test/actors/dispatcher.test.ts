// The dispatcher on a real ActorSystem (virtual time) with a real Store, fed by a small test
// writer that does what a writer does: applies each proposed batch with applyBatch at the next
// index, answers writer.done and reports the apply turn as manager.committed.
import { dispatcherActor, type AgentAssignments, type DispatcherMessage } from '../../actors/index.js';
import {
  CONTAINER_SPEC_DEFAULTS, EVENT_VERSIONS, Store,
  type BlobSpec, type JournalEvent, type NodeDescription, type ServiceSpec, type TaskSpec, type TaskState, type TaskStatus, type DesiredState,
} from '../../journal/index.js';
import { ActorSystem, MemoryStorage, MemoryTransport, SeededRandom, type ActorContext, type Address, type Props } from '../../runtime/index.js';
import { SimClock, SimLoop } from '../../simulations/index.js';

// ---- fixtures ----

const description = (hostname: string): NodeDescription => ({
  hostname, platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 4e9, memoryBytes: 2 ** 33 }, engineLabels: {},
});

function taskSpec(secrets: readonly string[] = [], configs: readonly string[] = [], image = 'nginx:1.27'): TaskSpec {
  return {
    container: { image, command: [], args: [], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS },
    resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    restartPolicy: { condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0 },
    placement: { constraints: [], maxReplicasPerNode: 0, preferences: [], platforms: [] },
    networks: [],
    secrets: secrets.map((id) => ({ id, name: id, target: id })),
    configs: configs.map((id) => ({ id, name: id, target: `/etc/${id}` })),
    forceUpdate: 0,
    runtime: 'container',
  };
}

const update = { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stopFirst' } as const;
const serviceSpec = (name: string): ServiceSpec => ({
  annotations: { name, labels: {} }, task: taskSpec(), mode: { kind: 'replicated', replicas: 1 }, update, rollback: update,
  endpoint: { ports: [] }, rebalance: false, dependsOn: [],
});
const blob = (name: string): BlobSpec => ({ annotations: { name, labels: {} }, data: new TextEncoder().encode(`${name}-data`) });
const status = (state: TaskState, timestamp = 1): TaskStatus => ({ state, message: state, timestamp, err: '' });

const at = 1;
const nodeRegistered = (id: string): JournalEvent => ({
  type: 'node.registered', v: EVENT_VERSIONS['node.registered'], at, id, spec: { annotations: { name: id, labels: {} }, role: 'worker', availability: 'active' },
  description: description(id), status: { state: 'ready', message: '', addr: '' },
});
function taskCreated(id: string, nodeId: string, options: { state?: TaskState; desired?: DesiredState; secrets?: string[]; configs?: string[] } = {}): JournalEvent {
  return {
    type: 'task.created', v: EVENT_VERSIONS['task.created'], at, id, serviceId: 's1', slot: 1, nodeId,
    spec: taskSpec(options.secrets, options.configs), serviceVersion: 1, desiredState: options.desired ?? 'running',
    status: status(options.state ?? 'assigned'), restarts: [], addresses: [],
  };
}
const statusChanged = (id: string, state: TaskState): JournalEvent => ({ type: 'task.statusChanged', v: EVENT_VERSIONS['task.statusChanged'], at, id, status: status(state), expectedVersion: null });
const desiredChanged = (id: string, desiredState: DesiredState): JournalEvent => ({
  type: 'task.desiredStateChanged', v: EVENT_VERSIONS['task.desiredStateChanged'], at, id, desiredState, expectedVersion: null,
});

function baseline(): JournalEvent[] {
  return [
    nodeRegistered('w1'), nodeRegistered('w2'),
    { type: 'service.created', v: EVENT_VERSIONS['service.created'], at, id: 's1', spec: serviceSpec('web') },
    { type: 'secret.created', v: EVENT_VERSIONS['secret.created'], at, id: 'sec1', spec: blob('one') },
    { type: 'secret.created', v: EVENT_VERSIONS['secret.created'], at, id: 'sec2', spec: blob('two') },
    { type: 'secret.created', v: EVENT_VERSIONS['secret.created'], at, id: 'sec3', spec: blob('three') },
    { type: 'config.created', v: EVENT_VERSIONS['config.created'], at, id: 'cfg1', spec: blob('conf') },
    taskCreated('t1', 'w1', { state: 'running', secrets: ['sec1'], configs: ['cfg1'] }),
    taskCreated('t2', 'w1', { state: 'complete', desired: 'shutdown', secrets: ['sec3'] }),
    taskCreated('t3', 'w2', { secrets: ['sec2'] }),
    taskCreated('t4', 'w1', { state: 'complete', desired: 'running' }),
  ];
}

// ---- the bench ----

interface Received {
  readonly to: Address;
  readonly message: { readonly type: string } & Record<string, unknown>;
}

type WriterControl =
  | { type: 'test.apply'; events: readonly JournalEvent[] }
  | { type: 'test.hold' }
  | { type: 'test.release' };

/** Applies proposals in arrival order (or holds them until released), as a writer would. */
function testWriter(store: Store, dispatcher: () => Address, proposals: Array<{ token: string; events: readonly JournalEvent[] }>): Props {
  return {
    kind: 'test-writer',
    create: (ctx: ActorContext) => {
      let holding = false;
      const held: Array<{ token: string; events: readonly JournalEvent[]; replyTo: Address }> = [];
      const apply = (events: readonly JournalEvent[], reply?: { token: string; replyTo: Address }): void => {
        const result = store.applyBatch(events, store.index + 1);
        ctx.send(dispatcher(), { type: 'manager.committed', index: result.index, events: result.applied ? events : [], restored: false });
        if (reply !== undefined) {
          ctx.send(reply.replyTo, {
            type: 'writer.done', token: reply.token, ok: result.applied, index: result.index,
            error: result.applied ? null : { code: result.error.code, message: result.error.message },
          });
        }
      };
      return {
        receive: (m: WriterControl | { type: 'writer.propose'; token: string; events: readonly JournalEvent[]; replyTo: Address }) => {
          switch (m.type) {
            case 'writer.propose':
              proposals.push({ token: m.token, events: m.events });
              if (holding) held.push(m);
              else apply(m.events, m);
              return;
            case 'test.apply':
              return apply(m.events);
            case 'test.hold':
              holding = true;
              return;
            case 'test.release':
              holding = false;
              for (const p of held.splice(0)) apply(p.events, p);
              return;
          }
        },
      };
    },
  };
}

class Bench {
  readonly loop = new SimLoop();
  readonly clock = new SimClock(this.loop);
  readonly store = new Store();
  readonly received: Received[] = [];
  readonly proposals: Array<{ token: string; events: readonly JournalEvent[] }> = [];
  readonly system: ActorSystem;
  readonly dispatcher = 'm1/dispatcher';

  constructor(options: { heartbeatPeriodMs?: number; statusBatchEventsMax?: number } = {}) {
    const transport = new MemoryTransport({ defer: (fn) => this.clock.defer(fn) });
    this.system = new ActorSystem({ nodeId: 'm1', env: { clock: this.clock, random: new SeededRandom('dispatcher'), transport, storage: new MemoryStorage() } });
    const record = (name: string): void => {
      this.system.spawn(name, { kind: 'probe', create: (ctx) => ({ receive: (message: Received['message']) => void this.received.push({ to: ctx.self, message }) }) });
    };
    for (const name of ['agent-w1', 'agent-w2', 'agent-w3', 'node-w1', 'node-w2', 'node-w3']) record(name);
    this.system.spawn('writer', testWriter(this.store, () => this.dispatcher, this.proposals));
    this.system.spawn('dispatcher', dispatcherActor({
      nodeId: 'm1',
      view: () => this.store,
      writer: 'm1/writer',
      nodeActor: (nodeId) => `m1/node-${nodeId}`,
      heartbeatPeriodMs: options.heartbeatPeriodMs ?? 1_000,
      ...(options.statusBatchEventsMax === undefined ? {} : { statusBatchEventsMax: options.statusBatchEventsMax }),
    }));
  }

  async settle(ms = 10): Promise<void> {
    await this.loop.run({ untilMs: this.loop.now() + ms });
  }

  async commit(events: readonly JournalEvent[]): Promise<void> {
    this.system.send('m1/writer', { type: 'test.apply', events });
    await this.settle();
  }

  /** Sends as the agent of `nodeId` (the dispatcher answers heartbeats and reports to the sender). */
  fromAgent(nodeId: string, message: DispatcherMessage): void {
    this.system.send(this.dispatcher, message, `m1/agent-${nodeId}`);
  }

  async register(nodeId: string): Promise<string> {
    this.fromAgent(nodeId, { type: 'dispatcher.register', nodeId, description: description(nodeId), replyTo: `m1/agent-${nodeId}` });
    await this.settle();
    const session = this.to(`agent-${nodeId}`).filter((m) => m.type === 'agent.session').at(-1);
    if (session === undefined) throw new Error(`no session for ${nodeId}`);
    return session.sessionId as string;
  }

  to(name: string): Array<Received['message']> {
    return this.received.filter((r) => r.to === `m1/${name}`).map((r) => r.message);
  }

  assignments(nodeId: string): AgentAssignments[] {
    return this.to(`agent-${nodeId}`).filter((m) => m.type === 'agent.assignments') as unknown as AgentAssignments[];
  }

  clear(): void {
    this.received.length = 0;
  }
}

async function bench(options: ConstructorParameters<typeof Bench>[0] = {}): Promise<Bench> {
  const b = new Bench(options);
  await b.commit(baseline());
  return b;
}

const ids = (items: readonly { id: string }[]): string[] => items.map((i) => i.id);

// ---- tests ----

describe('dispatcher sessions', () => {
  test('a node unknown to the store is refused, naming the leader', async () => {
    const b = await bench();
    b.fromAgent('w3', { type: 'dispatcher.register', nodeId: 'w3', description: description('w3'), replyTo: 'm1/agent-w3' });
    await b.settle();
    expect(b.to('agent-w3')).toEqual([{ type: 'agent.sessionRefused', reason: 'node w3 is not a member of the cluster', leader: 'm1' }]);
    expect(b.to('node-w3')).toEqual([]);
  });

  test('register opens a session: agent.session, then the full set of the node\'s tasks with only the secrets and configs they reference', async () => {
    const b = await bench();
    const sessionId = await b.register('w1');
    const messages = b.to('agent-w1');
    expect(messages[0]).toEqual({ type: 'agent.session', sessionId, heartbeatPeriodMs: 1_000, leader: 'm1' });
    const full = messages[1] as unknown as AgentAssignments;
    expect(full).toMatchObject({ type: 'agent.assignments', sessionId, seq: 1, full: true, removedTasks: [], removedSecrets: [], removedConfigs: [] });
    // t2 is complete and desired shutdown: done with; t4 is complete but still desired running.
    expect(ids(full.tasks)).toEqual(['t1', 't4']);
    expect(ids(full.secrets)).toEqual(['sec1']);
    expect(ids(full.configs)).toEqual(['cfg1']);
    expect(b.to('node-w1')).toEqual([{ type: 'node.sessionOpened', sessionId, description: description('w1') }]);
    expect(b.to('agent-w2')).toEqual([]);
  });

  test('heartbeats are acknowledged and reach the node actor; an unknown or foreign session is refused', async () => {
    const b = await bench();
    const sessionId = await b.register('w1');
    b.clear();
    b.fromAgent('w1', { type: 'dispatcher.heartbeat', nodeId: 'w1', sessionId, ackSeq: 1 });
    await b.settle();
    expect(b.to('agent-w1')).toEqual([{ type: 'agent.heartbeatAck', sessionId, heartbeatPeriodMs: 1_000 }]);
    expect(b.to('node-w1')).toEqual([{ type: 'node.heartbeat', sessionId }]);
    b.clear();
    b.fromAgent('w1', { type: 'dispatcher.heartbeat', nodeId: 'w1', sessionId: 'nope', ackSeq: 1 });
    b.fromAgent('w2', { type: 'dispatcher.heartbeat', nodeId: 'w2', sessionId, ackSeq: 1 });
    await b.settle();
    expect(b.to('agent-w1').map((m) => m.type)).toEqual(['agent.sessionRefused']);
    expect(b.to('agent-w2').map((m) => m.type)).toEqual(['agent.sessionRefused']);
    expect(b.to('node-w1')).toEqual([]);
  });

  test('the heartbeat period is the cluster object\'s once there is one, followed as it changes', async () => {
    const b = await bench();
    const clusterSpec = (heartbeatPeriodMs: number) => ({
      annotations: { name: 'default', labels: {} }, orchestration: { taskHistoryRetentionLimit: 5 }, dispatcher: { heartbeatPeriodMs },
      raft: { snapshotIntervalEntries: 10_000, logEntriesForSlowFollowers: 500, electionTicks: 10, heartbeatTicks: 1 },
      caConfig: { nodeCertExpiryMs: 7_776_000_000 }, encryption: { autoLockManagers: false },
    });
    await b.commit([{ type: 'cluster.created', v: EVENT_VERSIONS['cluster.created'], at, id: 'c1', spec: clusterSpec(500) }]);
    const sessionId = await b.register('w1');
    expect(b.to('agent-w1')[0]).toMatchObject({ type: 'agent.session', heartbeatPeriodMs: 500 });
    await b.commit([{ type: 'cluster.updated', v: EVENT_VERSIONS['cluster.updated'], at, id: 'c1', spec: clusterSpec(2_000), expectedVersion: null }]);
    b.clear();
    b.fromAgent('w1', { type: 'dispatcher.heartbeat', nodeId: 'w1', sessionId, ackSeq: 1 });
    await b.settle();
    expect(b.to('agent-w1')).toEqual([{ type: 'agent.heartbeatAck', sessionId, heartbeatPeriodMs: 2_000 }]);
  });

  test('registering again replaces the session: the old one is refused from then on', async () => {
    const b = await bench();
    const first = await b.register('w1');
    const second = await b.register('w1');
    expect(second).not.toBe(first);
    b.clear();
    b.fromAgent('w1', { type: 'dispatcher.heartbeat', nodeId: 'w1', sessionId: first, ackSeq: 1 });
    b.fromAgent('w1', { type: 'dispatcher.heartbeat', nodeId: 'w1', sessionId: second, ackSeq: 1 });
    await b.settle();
    expect(b.to('agent-w1').map((m) => m.type)).toEqual(['agent.sessionRefused', 'agent.heartbeatAck']);
  });

  test('a node the store marks down loses its session: its next heartbeat is refused, and it may register again', async () => {
    const b = await bench();
    const sessionId = await b.register('w1');
    await b.commit([{ type: 'node.statusChanged', v: EVENT_VERSIONS['node.statusChanged'], at, id: 'w1', status: { state: 'down', message: 'heartbeat failure', addr: '' }, expectedVersion: null }]);
    b.clear();
    b.fromAgent('w1', { type: 'dispatcher.heartbeat', nodeId: 'w1', sessionId, ackSeq: 1 });
    await b.settle();
    expect(b.to('agent-w1').map((m) => m.type)).toEqual(['agent.sessionRefused']);
    expect(b.to('node-w1')).toEqual([]);
    const again = await b.register('w1');
    expect(again).not.toBe(sessionId);
    expect(b.to('node-w1')).toEqual([{ type: 'node.sessionOpened', sessionId: again, description: description('w1') }]);
  });

  test('a removed node loses its session and may not register again', async () => {
    const b = await bench();
    const sessionId = await b.register('w2');
    await b.commit([{ type: 'task.removed', v: EVENT_VERSIONS['task.removed'], at, id: 't3', expectedVersion: null }, { type: 'node.removed', v: EVENT_VERSIONS['node.removed'], at, id: 'w2', expectedVersion: null }]);
    b.clear();
    b.fromAgent('w2', { type: 'dispatcher.heartbeat', nodeId: 'w2', sessionId, ackSeq: 2 });
    b.fromAgent('w2', { type: 'dispatcher.register', nodeId: 'w2', description: description('w2'), replyTo: 'm1/agent-w2' });
    await b.settle();
    expect(b.to('agent-w2').map((m) => m.type)).toEqual(['agent.sessionRefused', 'agent.sessionRefused']);
  });
});

describe('dispatcher assignments', () => {
  test('committed changes reach only the sessions they concern, as increments in seq order', async () => {
    const b = await bench();
    await b.register('w1');
    await b.register('w2');
    b.clear();

    // A new task for w1, referencing a secret w1 did not hold yet, and one it holds.
    await b.commit([taskCreated('t5', 'w1', { secrets: ['sec1', 'sec2'] })]);
    let w1 = b.assignments('w1');
    expect(w1).toHaveLength(1);
    expect(w1[0]).toMatchObject({ seq: 2, full: false, removedTasks: [], removedSecrets: [], configs: [], removedConfigs: [] });
    expect(ids(w1[0]!.tasks)).toEqual(['t5']);
    expect(ids(w1[0]!.secrets)).toEqual(['sec2']);
    expect(b.assignments('w2')).toEqual([]);

    // A change of status alone is the agent's own news: nothing is sent.
    b.clear();
    await b.commit([statusChanged('t5', 'running')]);
    expect(b.assignments('w1')).toEqual([]);

    // A desired state change is sent.
    await b.commit([desiredChanged('t5', 'shutdown')]);
    w1 = b.assignments('w1');
    expect(w1).toHaveLength(1);
    expect(w1[0]!.seq).toBe(3);
    expect(w1[0]!.tasks.map((t) => [t.id, t.desiredState])).toEqual([['t5', 'shutdown']]);

    // Observed and desired terminal: the task leaves the set, and sec2 (only t5 held it) with it.
    b.clear();
    await b.commit([statusChanged('t5', 'shutdown')]);
    w1 = b.assignments('w1');
    expect(w1).toEqual([expect.objectContaining({ seq: 4, full: false, tasks: [], removedTasks: ['t5'], secrets: [], removedSecrets: ['sec2'] })]);

    // A label change of a secret reaches the sessions that hold it, and only them.
    b.clear();
    await b.commit([{ type: 'secret.updated', v: EVENT_VERSIONS['secret.updated'], at, id: 'sec2', labels: { rotated: 'yes' }, expectedVersion: null }]);
    expect(b.assignments('w1')).toEqual([]);
    const w2 = b.assignments('w2');
    expect(w2).toHaveLength(1);
    expect(w2[0]).toMatchObject({ seq: 2, tasks: [], removedSecrets: [] });
    expect(w2[0]!.secrets.map((s) => [s.id, s.spec.annotations.labels])).toEqual([['sec2', { rotated: 'yes' }]]);

    // A task removed from the store leaves the set; its config goes with the last reference.
    b.clear();
    await b.commit([desiredChanged('t1', 'remove'), { type: 'task.removed', v: EVENT_VERSIONS['task.removed'], at, id: 't1', expectedVersion: null }]);
    expect(b.assignments('w1')).toEqual([expect.objectContaining({ seq: 5, removedTasks: ['t1'], removedSecrets: ['sec1'], removedConfigs: ['cfg1'] })]);
  });

  test('several events of one turn make one increment', async () => {
    const b = await bench();
    await b.register('w1');
    b.clear();
    await b.commit([taskCreated('t6', 'w1'), taskCreated('t7', 'w1'), desiredChanged('t4', 'shutdown'), taskCreated('t8', 'w2')]);
    const w1 = b.assignments('w1');
    expect(w1).toHaveLength(1);
    expect(w1[0]!.seq).toBe(2);
    // t4 is complete and now desired shutdown: it leaves.
    expect(ids(w1[0]!.tasks)).toEqual(['t6', 't7']);
    expect(w1[0]!.removedTasks).toEqual(['t4']);
  });

  test('resync sends the full set again with the next seq', async () => {
    const b = await bench();
    const sessionId = await b.register('w1');
    await b.commit([taskCreated('t5', 'w1')]);
    b.clear();
    b.fromAgent('w1', { type: 'dispatcher.resync', nodeId: 'w1', sessionId });
    await b.settle();
    const w1 = b.assignments('w1');
    expect(w1).toHaveLength(1);
    expect(w1[0]).toMatchObject({ seq: 3, full: true });
    expect(ids(w1[0]!.tasks)).toEqual(['t1', 't4', 't5']);
    expect(ids(w1[0]!.secrets)).toEqual(['sec1']);
  });

  test('an agent still short of a seq one heartbeat later gets the full set again', async () => {
    const b = await bench();
    const sessionId = await b.register('w1');
    b.fromAgent('w1', { type: 'dispatcher.heartbeat', nodeId: 'w1', sessionId, ackSeq: 1 });
    await b.commit([taskCreated('t5', 'w1')]);
    // The agent never saw seq 2; its next heartbeat is not yet a whole period after seq 2 was sent.
    b.clear();
    b.fromAgent('w1', { type: 'dispatcher.heartbeat', nodeId: 'w1', sessionId, ackSeq: 1 });
    await b.settle();
    expect(b.assignments('w1')).toEqual([]);
    b.fromAgent('w1', { type: 'dispatcher.heartbeat', nodeId: 'w1', sessionId, ackSeq: 1 });
    await b.settle();
    const w1 = b.assignments('w1');
    expect(w1).toHaveLength(1);
    expect(w1[0]).toMatchObject({ seq: 3, full: true });
    // Caught up: no more full sets.
    b.clear();
    b.fromAgent('w1', { type: 'dispatcher.heartbeat', nodeId: 'w1', sessionId, ackSeq: 3 });
    b.fromAgent('w1', { type: 'dispatcher.heartbeat', nodeId: 'w1', sessionId, ackSeq: 3 });
    await b.settle();
    expect(b.assignments('w1')).toEqual([]);
  });
});

describe('dispatcher status reports', () => {
  const report = (sessionId: string, nodeId: string, reportSeq: number, updates: Array<[string, TaskState]>): DispatcherMessage => ({
    type: 'dispatcher.status', nodeId, sessionId, reportSeq, updates: updates.map(([taskId, state]) => ({ taskId, status: status(state, 7) })),
  });

  test('valid reports of one turn become one proposal of task.statusChanged events; stale and foreign ones are dropped', async () => {
    const b = await bench();
    const s1 = await b.register('w1');
    const s2 = await b.register('w2');
    b.clear();
    await b.loop.run({ untilMs: 500 });
    b.fromAgent('w1', report(s1, 'w1', 1, [['t4', 'running'], ['t3', 'running'], ['nope', 'running']]));
    b.fromAgent('w1', report(s1, 'w1', 2, [['t1', 'complete'], ['t1', 'failed']]));
    b.fromAgent('w2', report(s2, 'w2', 5, [['t3', 'preparing'], ['t3', 'accepted']]));
    await b.settle();
    // t4 running is backwards from complete; t3 is not w1's; 'nope' does not exist.
    expect(b.proposals).toHaveLength(1);
    expect(b.proposals[0]!.events).toEqual([
      { type: 'task.statusChanged', v: EVENT_VERSIONS['task.statusChanged'], at: 500, id: 't1', status: status('failed', 7), expectedVersion: null },
      { type: 'task.statusChanged', v: EVENT_VERSIONS['task.statusChanged'], at: 500, id: 't3', status: status('preparing', 7), expectedVersion: null },
    ]);
    expect(b.store.get('task', 't1')!.status.state).toBe('failed');
    expect(b.store.get('task', 't3')!.status.state).toBe('preparing');
    expect(b.to('agent-w1').filter((m) => m.type === 'agent.statusCommitted')).toEqual([{ type: 'agent.statusCommitted', sessionId: s1, reportSeq: 2 }]);
    expect(b.to('agent-w2').filter((m) => m.type === 'agent.statusCommitted')).toEqual([{ type: 'agent.statusCommitted', sessionId: s2, reportSeq: 5 }]);
  });

  test('a report with nothing new is acknowledged without a proposal', async () => {
    const b = await bench();
    const s1 = await b.register('w1');
    b.clear();
    b.fromAgent('w1', report(s1, 'w1', 3, [['t1', 'running']]));
    await b.settle();
    expect(b.proposals).toEqual([]);
    expect(b.to('agent-w1')).toEqual([{ type: 'agent.statusCommitted', sessionId: s1, reportSeq: 3 }]);
  });

  test('a report from an unknown session is refused', async () => {
    const b = await bench();
    b.fromAgent('w1', report('nope', 'w1', 1, [['t1', 'complete']]));
    await b.settle();
    expect(b.to('agent-w1').map((m) => m.type)).toEqual(['agent.sessionRefused']);
    expect(b.proposals).toEqual([]);
  });

  test('one proposal in flight at a time; reports meanwhile merge into the next, the highest state per task', async () => {
    const b = await bench();
    const s1 = await b.register('w1');
    const s2 = await b.register('w2');
    b.clear();
    b.system.send('m1/writer', { type: 'test.hold' });
    b.fromAgent('w2', report(s2, 'w2', 1, [['t3', 'preparing']]));
    await b.settle();
    b.fromAgent('w2', report(s2, 'w2', 2, [['t3', 'starting']]));
    await b.settle();
    b.fromAgent('w2', report(s2, 'w2', 3, [['t3', 'ready']]));
    b.fromAgent('w1', report(s1, 'w1', 1, [['t1', 'complete']]));
    await b.settle();
    expect(b.proposals.map((p) => p.events.length)).toEqual([1]);
    expect(b.to('agent-w2')).toEqual([]);
    b.system.send('m1/writer', { type: 'test.release' });
    await b.settle();
    expect(b.proposals.map((p) => p.events.map((e) => [(e as { id: string }).id, (e as { status: TaskStatus }).status.state]))).toEqual([
      [['t3', 'preparing']],
      [['t3', 'starting'], ['t1', 'complete']],
    ]);
    expect(b.to('agent-w2')).toEqual([
      { type: 'agent.statusCommitted', sessionId: s2, reportSeq: 1 },
      { type: 'agent.statusCommitted', sessionId: s2, reportSeq: 3 },
    ]);
    expect(b.to('agent-w1')).toEqual([{ type: 'agent.statusCommitted', sessionId: s1, reportSeq: 1 }]);
    expect(b.store.get('task', 't3')!.status.state).toBe('starting');
  });

  test('more updates than a proposal holds go in several; a report is acknowledged once all of it is committed', async () => {
    const b = await bench({ statusBatchEventsMax: 2 });
    await b.commit([taskCreated('t5', 'w1')]);
    const s1 = await b.register('w1');
    b.clear();
    b.fromAgent('w1', report(s1, 'w1', 9, [['t1', 'complete'], ['t4', 'failed'], ['t5', 'running']]));
    await b.settle();
    expect(b.proposals.map((p) => p.events.map((e) => (e as { id: string }).id))).toEqual([['t1', 't4'], ['t5']]);
    expect(b.to('agent-w1').filter((m) => m.type === 'agent.statusCommitted')).toEqual([{ type: 'agent.statusCommitted', sessionId: s1, reportSeq: 9 }]);
    expect(b.store.get('task', 't5')!.status.state).toBe('running');
  });

  test('a refused batch is refused whole: what is still valid of it is proposed again', async () => {
    const b = await bench();
    const s1 = await b.register('w1');
    b.clear();
    b.system.send('m1/writer', { type: 'test.hold' });
    b.fromAgent('w1', report(s1, 'w1', 4, [['t1', 'complete'], ['t4', 'shutdown']]));
    await b.settle();
    expect(b.proposals).toHaveLength(1);
    // Meanwhile t4 is removed: the held batch will meet a task that is gone.
    await b.commit([desiredChanged('t4', 'remove'), { type: 'task.removed', v: EVENT_VERSIONS['task.removed'], at, id: 't4', expectedVersion: null }]);
    b.system.send('m1/writer', { type: 'test.release' });
    await b.settle(200);
    expect(b.proposals).toHaveLength(2);
    expect(b.proposals[1]!.events.map((e) => (e as { id: string }).id)).toEqual(['t1']);
    expect(b.store.get('task', 't1')!.status.state).toBe('complete');
    expect(b.to('agent-w1').filter((m) => m.type === 'agent.statusCommitted')).toEqual([{ type: 'agent.statusCommitted', sessionId: s1, reportSeq: 4 }]);
  });
});

// Task actors on a real ActorSystem (virtual time) over a real Store: activated by a committed
// change, loaded from the store, following the pipeline's phases, telling the supervisor when the
// service has something to plan on, passivated when idle, and crashing (then reloading) when a
// committed change would move the observed state backwards.
import { taskActors, type TaskChanged, type TaskCommitted } from '../../actors/index.js';
import { CONTAINER_SPEC_DEFAULTS, EVENT_VERSIONS, Store, type DesiredState, type JournalEvent, type ServiceSpec, type TaskSpec, type TaskState } from '../../journal/index.js';
import { plain } from '../../runtime/index.js';
import { Bench } from '../runtime/harness.js';

const spec: TaskSpec = {
  container: { image: 'app', command: [], args: [], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS },
  resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
  restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
  placement: { constraints: [], maxReplicasPerNode: 0, preferences: [], platforms: [] },
  networks: [], secrets: [], configs: [], forceUpdate: 0, runtime: 'container',
};
const policy = { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 0, maxFailureRatio: 0, order: 'stopFirst' } as const;
const serviceSpec = (name: string): ServiceSpec => ({
  annotations: { name, labels: {} }, task: spec, mode: { kind: 'replicated', replicas: 1 }, update: policy, rollback: policy, endpoint: { ports: [] }, rebalance: false, dependsOn: [],
});
const status = (state: TaskState) => ({ state, message: state, timestamp: 1, err: '' });
const created = (id: string, serviceId: string, state: TaskState): JournalEvent => ({
  type: 'task.created', v: EVENT_VERSIONS['task.created'], at: 1, id, serviceId, slot: 1, nodeId: 'w1', spec, serviceVersion: 1,
  desiredState: 'running', status: status(state), restarts: [], addresses: [],
});

const IDLE_MS = 1_000;

function setup(tasks: Array<[string, string, TaskState]>) {
  const bench = new Bench();
  const system = bench.system('m1');
  const store = new Store();
  const services = [...new Set(tasks.map(([, serviceId]) => serviceId))];
  const seeded = store.applyBatch([
    ...services.map((id): JournalEvent => ({ type: 'service.created', v: EVENT_VERSIONS['service.created'], at: 1, id, spec: serviceSpec(id) })),
    ...tasks.map(([id, serviceId, state]) => created(id, serviceId, state)),
  ], 1);
  if (!seeded.applied) throw new Error(seeded.error.message);
  const told: string[] = [];
  system.spawn('sup', plain<TaskChanged>('probe', (m) => void told.push(m.serviceId)));
  system.registerVirtual('tasks', taskActors({ view: () => store, supervisor: 'm1/sup', idleMs: IDLE_MS }));
  /** Commits the change to the store, then hands it to the task's actor as the supervisor does. */
  const commit = async (id: string, change: { state?: TaskState; desired?: DesiredState }): Promise<void> => {
    const index = store.index + 1;
    const event: JournalEvent = change.state !== undefined
      ? { type: 'task.statusChanged', v: EVENT_VERSIONS['task.statusChanged'], at: 2, id, status: status(change.state), expectedVersion: null }
      : { type: 'task.desiredStateChanged', v: EVENT_VERSIONS['task.desiredStateChanged'], at: 2, id, desiredState: change.desired!, expectedVersion: null };
    const result = store.applyBatch([event], index);
    if (!result.applied) throw new Error(result.error.message);
    system.send(`m1/tasks/${id}`, { type: 'task.committed', index, state: change.state ?? null, desiredState: change.desired ?? null } satisfies TaskCommitted);
    await bench.advance(1);
  };
  const phase = (id: string): unknown => system.info(`m1/tasks/${id}`)?.state;
  return { bench, system, store, told, commit, phase };
}

describe('task actors', () => {
  test('a committed change activates the task actor from the store; its phase follows the pipeline; the service is told of ups, ends and desired moves', async () => {
    const { bench, system, told, commit, phase } = setup([['t1', 's1', 'assigned'], ['t2', 's2', 'running']]);
    const before = system.actorCount;
    expect(system.has('m1/tasks/t1')).toBe(false);

    await commit('t1', { state: 'accepted' });
    expect(bench.ofType('actor.started').filter((e) => e.activated).map((e) => e.address)).toEqual(['m1/tasks/t1']);
    expect(phase('t1')).toBe('starting');
    await commit('t1', { state: 'preparing' });
    await commit('t1', { state: 'starting' });
    expect(told).toEqual([]);
    await commit('t1', { state: 'running' });
    expect(phase('t1')).toBe('running');
    expect(told).toEqual(['s1']);

    await commit('t2', { desired: 'shutdown' });
    expect(phase('t2')).toBe('running');
    expect(told).toEqual(['s1', 's2']);
    await commit('t2', { state: 'shutdown' });
    expect(phase('t2')).toBe('ended');
    expect(told).toEqual(['s1', 's2', 's2']);
    expect(system.actorCount - before).toBe(2);
  });

  test('idle task actors are passivated: none stays in memory; the next change loads the task again from the store', async () => {
    const { bench, system, store, told, commit, phase } = setup(Array.from({ length: 200 }, (_, i): [string, string, TaskState] => [`t${i}`, 's1', 'assigned']));
    const before = system.actorCount;
    for (let i = 0; i < 200; i++) await commit(`t${i}`, { state: 'running' });
    expect(system.actorCount - before).toBe(200);
    expect(told).toHaveLength(200);
    await bench.advance(IDLE_MS * 2);
    expect(system.actorCount - before).toBe(0);
    expect(bench.ofType('actor.stopped').filter((e) => e.reason === 'passivated')).toHaveLength(200);

    // Meanwhile the store moved on without the actor (a change it was not sent): it loads that.
    store.applyBatch([{ type: 'task.statusChanged', v: EVENT_VERSIONS['task.statusChanged'], at: 3, id: 't5', status: status('failed'), expectedVersion: null }], store.index + 1);
    await commit('t5', { desired: 'shutdown' });
    expect(phase('t5')).toBe('ended');
    expect(system.actorCount - before).toBe(1);
  });

  test('a committed change that lowers the observed state crashes the actor, which reloads from the store; older changes replayed after a reload do not', async () => {
    const { bench, system, store, commit, phase } = setup([['t1', 's1', 'assigned']]);
    await commit('t1', { state: 'running' });
    // A broken feed: a newer index claiming the task went back to preparing.
    system.send('m1/tasks/t1', { type: 'task.committed', index: store.index + 1, state: 'preparing', desiredState: null } satisfies TaskCommitted);
    await bench.advance(IDLE_MS / 2);
    const failed = bench.ofType('actor.failed').filter((e) => e.address === 'm1/tasks/t1');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error).toMatch(/observed state went backwards from running to preparing/);
    expect(bench.ofType('actor.restarted').filter((e) => e.address === 'm1/tasks/t1')).toHaveLength(1);
    expect(phase('t1')).toBe('running');
    // An old change (at or before what the loader read) is not a regression.
    system.send('m1/tasks/t1', { type: 'task.committed', index: 1, state: 'assigned', desiredState: null } satisfies TaskCommitted);
    await bench.advance(1);
    expect(bench.ofType('actor.failed').filter((e) => e.address === 'm1/tasks/t1')).toHaveLength(1);
    expect(phase('t1')).toBe('running');
  });

  test('a message for a task the store no longer has is dropped by a stand-in that is passivated too', async () => {
    const { bench, system } = setup([]);
    const before = system.actorCount;
    system.send('m1/tasks/gone', { type: 'task.committed', index: 9, state: 'running', desiredState: null } satisfies TaskCommitted);
    await bench.advance(1);
    expect(bench.ofType('actor.failed')).toHaveLength(0);
    await bench.advance(IDLE_MS * 2);
    expect(system.actorCount - before).toBe(0);
  });
});

// Start order (actors/orchestrator/dependencies.ts): the pure hold for every condition and mode,
// the service plan that creates nothing while held, and the orchestration supervisor on a real
// ActorSystem (virtual time) over a real Store, behind a stand-in manager that commits what the
// writer proposes: a held service plans nothing until a committed change of its dependency, and
// is released by that change's message alone (no timer, no polling).
import {
  dependencyHold, dependencyShortfall, orchestrationActor, planService,
  type ManagerCommitted, type ManagerInput, type ManagerLeadership, type ManagerReply,
} from '../../actors/index.js';
import {
  CONTAINER_SPEC_DEFAULTS, EVENT_VERSIONS, Store, decodeBatch,
  type DesiredState, type HealthCheck, type JournalEvent, type ServiceDependency, type ServiceMode, type ServiceSpec, type TaskSpec, type TaskState,
} from '../../journal/index.js';
import { plain, type Address } from '../../runtime/index.js';
import { Bench } from '../runtime/harness.js';

const CHECK: HealthCheck = { test: ['CMD', 'pg_isready'], intervalMs: 1_000, timeoutMs: 1_000, retries: 3, startPeriodMs: 0 };
const policy = { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 0, maxFailureRatio: 0, order: 'stopFirst' } as const;

function taskSpec(image: string, healthcheck: HealthCheck | null = null): TaskSpec {
  return {
    container: { image, command: [], args: [], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS, healthcheck },
    resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
    placement: { constraints: [], maxReplicasPerNode: 0, preferences: [], platforms: [] },
    networks: [], secrets: [], configs: [], forceUpdate: 0, runtime: 'container',
  };
}

function spec(name: string, mode: ServiceMode, over: { healthcheck?: HealthCheck | null; dependsOn?: ServiceDependency[] } = {}): ServiceSpec {
  return {
    annotations: { name, labels: {} }, task: taskSpec(`${name}:1`, over.healthcheck ?? null), mode, update: policy, rollback: policy,
    endpoint: { ports: [] }, rebalance: false, dependsOn: over.dependsOn ?? [],
  };
}

const replicated = (replicas: number): ServiceMode => ({ kind: 'replicated', replicas });
const status = (state: TaskState) => ({ state, message: state, timestamp: 1, err: '' });

/** A store the tests write to directly: services by name (id = name), tasks by id. */
class World {
  readonly store = new Store();
  private taskSeq = 0;

  apply(events: readonly JournalEvent[]): void {
    const result = this.store.applyBatch(events, this.store.index + 1);
    if (!result.applied) throw new Error(result.error.message);
  }

  service(s: ServiceSpec): this {
    this.apply([{ type: 'service.created', v: EVENT_VERSIONS['service.created'], at: 1, id: s.annotations.name, spec: s }]);
    return this;
  }

  /** A task of the service in a state (its slot and node as given); returns its id. */
  task(serviceId: string, state: TaskState, over: { slot?: number; nodeId?: string; desiredState?: DesiredState } = {}): string {
    const service = this.store.get('service', serviceId)!;
    const id = `${serviceId}.t${++this.taskSeq}`;
    const job = service.spec.mode.kind === 'replicatedJob' || service.spec.mode.kind === 'globalJob';
    this.apply([{
      type: 'task.created', v: EVENT_VERSIONS['task.created'], at: 1, id, serviceId, slot: over.slot ?? 1, nodeId: over.nodeId ?? '', spec: service.spec.task,
      serviceVersion: service.specVersion, desiredState: over.desiredState ?? (job ? 'complete' : 'running'), status: status('new'), restarts: [], addresses: [],
    }]);
    if (state !== 'new') this.status(id, state);
    return id;
  }

  status(id: string, state: TaskState): void {
    this.apply([{ type: 'task.statusChanged', v: EVENT_VERSIONS['task.statusChanged'], at: 2, id, status: status(state), expectedVersion: null }]);
  }

  hold(name: string): string | null {
    return dependencyHold(this.store.get('service', name)!, this.store);
  }
}

describe('dependencyHold: the pure hold', () => {
  test('no dependencies: free', () => {
    const w = new World().service(spec('web', replicated(2)));
    expect(w.hold('web')).toBeNull();
  });

  test('a dependency that does not exist holds: not found', () => {
    const w = new World().service(spec('web', replicated(1), { dependsOn: [{ service: 'db', condition: 'started' }] }));
    expect(w.hold('web')).toBe('waiting for db (service_started): not found');
  });

  test('started, replicated: every replica running (one per slot; desired running)', () => {
    const w = new World().service(spec('db', replicated(2))).service(spec('web', replicated(1), { dependsOn: [{ service: 'db', condition: 'started' }] }));
    expect(w.hold('web')).toBe('waiting for db (service_started): 0/2 running');
    w.task('db', 'running', { slot: 1 });
    // A second running task of slot 1 (a start-first update) is not slot 2.
    w.task('db', 'running', { slot: 1 });
    const two = w.task('db', 'starting', { slot: 2 });
    expect(w.hold('web')).toBe('waiting for db (service_started): 1/2 running');
    w.status(two, 'running');
    expect(w.hold('web')).toBeNull();
  });

  test('started, global: all its live tasks running, and at least one', () => {
    const w = new World().service(spec('agent', { kind: 'global' })).service(spec('web', replicated(1), { dependsOn: [{ service: 'agent', condition: 'started' }] }));
    expect(w.hold('web')).toBe('waiting for agent (service_started): 0/0 running (no task yet)');
    w.task('agent', 'running', { nodeId: 'n1' });
    const n2 = w.task('agent', 'assigned', { nodeId: 'n2' });
    expect(w.hold('web')).toBe('waiting for agent (service_started): 1/2 running');
    // A task that ended is not live: it does not count against the condition.
    w.task('agent', 'failed', { nodeId: 'n3' });
    w.status(n2, 'running');
    expect(w.hold('web')).toBeNull();
  });

  test('started, jobs: at least one task running or completed', () => {
    for (const mode of [{ kind: 'replicatedJob', maxConcurrent: 1, totalCompletions: 3 }, { kind: 'globalJob' }] as const) {
      const w = new World().service(spec('migrate', mode)).service(spec('web', replicated(1), { dependsOn: [{ service: 'migrate', condition: 'started' }] }));
      const t = w.task('migrate', 'starting', { nodeId: 'n1' });
      expect(w.hold('web')).toBe('waiting for migrate (service_started): no task running or completed yet');
      w.status(t, 'complete');
      expect(w.hold('web')).toBeNull();
    }
  });

  test('healthy: started, of a service with a health check; without one (or with NONE) it holds saying so', () => {
    const w = new World()
      .service(spec('db', replicated(1), { healthcheck: CHECK }))
      .service(spec('cache', replicated(1)))
      .service(spec('queue', replicated(1), { healthcheck: { ...CHECK, test: ['NONE'] } }))
      .service(spec('web', replicated(1), { dependsOn: [{ service: 'db', condition: 'healthy' }] }))
      .service(spec('api', replicated(1), { dependsOn: [{ service: 'cache', condition: 'healthy' }] }))
      .service(spec('worker', replicated(1), { dependsOn: [{ service: 'queue', condition: 'healthy' }] }));
    expect(w.hold('web')).toBe('waiting for db (service_healthy): 0/1 running');
    w.task('db', 'running');
    expect(w.hold('web')).toBeNull();
    w.task('cache', 'running');
    w.task('queue', 'running');
    expect(w.hold('api')).toBe('waiting for cache (service_healthy): cache has no health check');
    expect(w.hold('worker')).toBe('waiting for queue (service_healthy): queue has no health check');
  });

  test('completedSuccessfully, replicated job: its total completions reached by successes of its current spec', () => {
    const w = new World()
      .service(spec('migrate', { kind: 'replicatedJob', maxConcurrent: 2, totalCompletions: 2 }))
      .service(spec('web', replicated(1), { dependsOn: [{ service: 'migrate', condition: 'completedSuccessfully' }] }));
    expect(w.hold('web')).toBe('waiting for migrate (service_completed_successfully): 0/2 completed');
    w.task('migrate', 'complete', { slot: 1 });
    w.task('migrate', 'failed', { slot: 2 });
    expect(w.hold('web')).toBe('waiting for migrate (service_completed_successfully): 1/2 completed');
    w.task('migrate', 'complete', { slot: 2 });
    expect(w.hold('web')).toBeNull();
    // A new spec of the job re-runs it: its old successes no longer count.
    const job = w.store.get('service', 'migrate')!;
    w.apply([{ type: 'service.updated', v: EVENT_VERSIONS['service.updated'], at: 3, id: 'migrate', spec: { ...job.spec, task: taskSpec('migrate:2') }, expectedVersion: null }]);
    expect(w.hold('web')).toBe('waiting for migrate (service_completed_successfully): 0/2 completed');
  });

  test('completedSuccessfully, global job: every node\'s newest task complete (a retired one aside), at least one', () => {
    const w = new World()
      .service(spec('seed', { kind: 'globalJob' }))
      .service(spec('web', replicated(1), { dependsOn: [{ service: 'seed', condition: 'completedSuccessfully' }] }));
    expect(w.hold('web')).toBe('waiting for seed (service_completed_successfully): 0/0 completed (no task yet)');
    w.task('seed', 'complete', { nodeId: 'n1' });
    w.task('seed', 'failed', { nodeId: 'n2' });
    expect(w.hold('web')).toBe('waiting for seed (service_completed_successfully): 1/2 completed');
    const retry = w.task('seed', 'running', { nodeId: 'n2' });
    // Retired by the orchestrator (its node drained): it does not hold the dependents for ever.
    w.task('seed', 'shutdown', { nodeId: 'n3', desiredState: 'shutdown' });
    expect(w.hold('web')).toBe('waiting for seed (service_completed_successfully): 1/2 completed');
    w.status(retry, 'complete');
    expect(w.hold('web')).toBeNull();
  });

  test('completedSuccessfully on a service that is not a job holds saying so', () => {
    const w = new World().service(spec('db', replicated(1))).service(spec('web', replicated(1), { dependsOn: [{ service: 'db', condition: 'completedSuccessfully' }] }));
    w.task('db', 'complete');
    expect(w.hold('web')).toBe('waiting for db (service_completed_successfully): db is not a job');
  });

  test('several dependencies: the first unmet one in declared order', () => {
    const w = new World()
      .service(spec('db', replicated(1), { healthcheck: CHECK }))
      .service(spec('migrate', { kind: 'replicatedJob', maxConcurrent: 1, totalCompletions: 1 }))
      .service(spec('web', replicated(1), { dependsOn: [{ service: 'db', condition: 'healthy' }, { service: 'migrate', condition: 'completedSuccessfully' }] }));
    expect(w.hold('web')).toBe('waiting for db (service_healthy): 0/1 running');
    w.task('db', 'running');
    expect(w.hold('web')).toBe('waiting for migrate (service_completed_successfully): 0/1 completed');
    expect(dependencyShortfall({ service: 'db', condition: 'healthy' }, w.store)).toBeNull();
    w.task('migrate', 'complete');
    expect(w.hold('web')).toBeNull();
  });

  test('start order only: a service that has a task (in any state) is never held again', () => {
    const w = new World().service(spec('db', replicated(1))).service(spec('web', replicated(1), { dependsOn: [{ service: 'db', condition: 'started' }] }));
    const db = w.task('db', 'running');
    expect(w.hold('web')).toBeNull();
    w.task('web', 'failed');
    w.status(db, 'failed');
    expect(w.hold('web')).toBeNull();
    w.apply([{ type: 'service.removed', v: EVENT_VERSIONS['service.removed'], at: 3, id: 'db', expectedVersion: null }]);
    expect(w.hold('web')).toBeNull();
  });
});

describe('planService: a held service', () => {
  const ids = (): (() => string) => {
    let n = 0;
    return () => `new${++n}`;
  };

  test('creates no task while held, its replicas once its dependency meets the condition, and is not held again after', () => {
    const w = new World().service(spec('db', replicated(1), { healthcheck: CHECK })).service(spec('web', replicated(3), { dependsOn: [{ service: 'db', condition: 'healthy' }] }));
    expect(planService(w.store, 'web', 10, ids())).toEqual({ events: [], wakeAt: null });
    const db = w.task('db', 'starting');
    expect(planService(w.store, 'web', 10, ids()).events).toEqual([]);
    w.status(db, 'running');
    const plan = planService(w.store, 'web', 10, ids());
    expect(plan.events.filter((e) => e.type === 'task.created')).toHaveLength(3);
    w.apply(plan.events);
    w.status(db, 'failed');
    // Its tasks failed too: the restart policy replaces them, the failed dependency aside.
    for (const task of w.store.tasksByService('web')) w.status(task.id, 'failed');
    expect(planService(w.store, 'web', 10, ids()).events.filter((e) => e.type === 'task.created')).toHaveLength(3);
  });

  test('a held service\'s update completes (it has no task to roll)', () => {
    const w = new World().service(spec('web', replicated(2), { dependsOn: [{ service: 'db', condition: 'started' }] }));
    const web = w.store.get('service', 'web')!;
    w.apply([
      { type: 'service.updated', v: EVENT_VERSIONS['service.updated'], at: 3, id: 'web', spec: { ...web.spec, task: taskSpec('web:2') }, expectedVersion: null },
      { type: 'service.updateStatusChanged', v: EVENT_VERSIONS['service.updateStatusChanged'], at: 3, id: 'web', updateStatus: { state: 'updating', startedAt: 3, completedAt: 0, message: 'update in progress' }, expectedVersion: null },
    ]);
    const plan = planService(w.store, 'web', 10, ids());
    expect(plan.events.map((e) => e.type)).toEqual(['service.updateStatusChanged']);
    expect(plan.events[0]).toMatchObject({ updateStatus: { state: 'completed' } });
  });
});

/**
 * The orchestration supervisor of manager m1, leading, over a store; the stand-in manager commits
 * whatever the writer proposes (and what a test commits as an agent would) and hands every
 * committed batch to the supervisor, as the manager actor does.
 */
function cluster() {
  const bench = new Bench();
  const system = bench.system('m1');
  const w = new World();
  let subscriber: Address = '';
  const stats: { plans?: number } = {};
  const commit = (events: readonly JournalEvent[]): { index: number; refused: { code: string; message: string } | null } => {
    const index = w.store.index + 1;
    const result = w.store.applyBatch(events, index);
    if (!result.applied) return { index, refused: { code: result.error.code, message: result.error.message } };
    if (subscriber !== '') system.send(subscriber, { type: 'manager.committed', index, events, restored: false } satisfies ManagerCommitted);
    return { index, refused: null };
  };
  system.spawn('manager', plain<ManagerInput>('manager', (m, ctx) => {
    if (m.type === 'manager.subscribe') {
      subscriber = m.replyTo;
      ctx.send(subscriber, { type: 'manager.leadership', leader: true, term: 1, leaderNode: 'm1' } satisfies ManagerLeadership);
    } else if (m.type === 'manager.write' && m.command.op === 'events') {
      const { index, refused } = commit(decodeBatch(m.command.batch).events);
      ctx.send(m.replyTo, { type: 'manager.applied', opId: m.command.opId, index, refused } satisfies ManagerReply);
    }
  }));
  system.spawn('orchestration', orchestrationActor({ nodeId: 'm1', manager: 'm1/manager', view: () => w.store, stats }));
  const tasksOf = (serviceId: string) => w.store.tasksByService(serviceId);
  /** Commits a task's status as its agent would (through the stand-in manager's feed). */
  const report = (taskId: string, state: TaskState): void => {
    const result = commit([{ type: 'task.statusChanged', v: EVENT_VERSIONS['task.statusChanged'], at: 5, id: taskId, status: status(state), expectedVersion: null }]);
    if (result.refused !== null) throw new Error(result.refused.message);
  };
  const create = (s: ServiceSpec): void => {
    const result = commit([{ type: 'service.created', v: EVENT_VERSIONS['service.created'], at: 1, id: s.annotations.name, spec: s }]);
    if (result.refused !== null) throw new Error(result.refused.message);
  };
  return { bench, system, w, stats, tasksOf, report, create, commit };
}

describe('the orchestration: a held service is released by its dependency\'s committed change', () => {
  test('it creates nothing while held and plans nothing more while nothing changes; the dependency\'s tasks running release it at once', async () => {
    const { bench, stats, tasksOf, report, create } = cluster();
    create(spec('db', replicated(2), { healthcheck: CHECK }));
    create(spec('web', replicated(2), { dependsOn: [{ service: 'db', condition: 'healthy' }] }));
    await bench.advance(100);
    expect(tasksOf('db')).toHaveLength(2);
    expect(tasksOf('web')).toHaveLength(0);

    // No polling: a long quiet spell plans nothing.
    const plans = stats.plans;
    await bench.advance(60_000);
    expect(stats.plans).toBe(plans);
    expect(tasksOf('web')).toHaveLength(0);

    const [one, two] = tasksOf('db');
    report(one!.id, 'running');
    await bench.advance(10);
    expect(tasksOf('web')).toHaveLength(0);
    report(two!.id, 'running');
    // Released by the message of that change: well within one tick of any timer the actors have.
    await bench.advance(10);
    expect(tasksOf('web')).toHaveLength(2);

    // Start order only: the dependency failing later does not touch the dependent.
    report(one!.id, 'failed');
    await bench.advance(100);
    expect(tasksOf('web').filter((t) => t.desiredState === 'running')).toHaveLength(2);
  });

  test('a dependency created after its dependent releases it (job completions), and a dependency removed and created again is found by name', async () => {
    const { bench, tasksOf, report, create, commit } = cluster();
    create(spec('web', replicated(1), { dependsOn: [{ service: 'migrate', condition: 'completedSuccessfully' }] }));
    await bench.advance(100);
    expect(tasksOf('web')).toHaveLength(0);

    create(spec('migrate', { kind: 'replicatedJob', maxConcurrent: 1, totalCompletions: 1 }));
    await bench.advance(10);
    const [job] = tasksOf('migrate');
    expect(job).toBeDefined();
    report(job!.id, 'running');
    await bench.advance(10);
    expect(tasksOf('web')).toHaveLength(0);

    // Removed before it completed, and created again: the dependent still waits on its name.
    commit([{ type: 'service.removed', v: EVENT_VERSIONS['service.removed'], at: 2, id: 'migrate', expectedVersion: null }]);
    await bench.advance(10);
    commit([{ type: 'service.created', v: EVENT_VERSIONS['service.created'], at: 3, id: 'migrate2', spec: spec('migrate', { kind: 'replicatedJob', maxConcurrent: 1, totalCompletions: 1 }) }]);
    await bench.advance(10);
    const [again] = tasksOf('migrate2');
    expect(tasksOf('web')).toHaveLength(0);
    report(again!.id, 'complete');
    await bench.advance(10);
    expect(tasksOf('web')).toHaveLength(1);
  });

  test('a renamed dependency: its old name\'s dependents see it go, its new name\'s find it', async () => {
    const { bench, tasksOf, report, create, commit, w } = cluster();
    create(spec('db', replicated(1)));
    create(spec('web', replicated(1), { dependsOn: [{ service: 'pg', condition: 'started' }] }));
    await bench.advance(100);
    report(tasksOf('db')[0]!.id, 'running');
    await bench.advance(10);
    expect(tasksOf('web')).toHaveLength(0);
    const db = w.store.get('service', 'db')!;
    commit([{ type: 'service.updated', v: EVENT_VERSIONS['service.updated'], at: 3, id: 'db', spec: { ...db.spec, annotations: { name: 'pg', labels: {} } }, expectedVersion: null }]);
    await bench.advance(10);
    expect(tasksOf('web')).toHaveLength(1);
  });
});

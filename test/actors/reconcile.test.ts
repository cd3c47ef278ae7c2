// The service reconciler's pure core: each mode, the restart policy, down and drained nodes,
// scaling, removal and history reaping. Called directly on objects (STYLE.md practice 1).
import { reconcile, type ReconcileInput } from '../../actors/index.js';
import type { JournalEvent, Node, Service, ServiceSpec, Task, TaskState } from '../../journal/index.js';
import { taskSpec } from '../journal/journal-fixtures.js';

const update = { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 0, maxFailureRatio: 0, order: 'stopFirst' } as const;

function service(mode: ServiceSpec['mode'], over: { condition?: 'none' | 'onFailure' | 'any'; delayMs?: number; maxAttempts?: number; windowMs?: number; constraints?: string[] } = {}): Service {
  const base = taskSpec();
  return {
    id: 'svc', meta: { version: 10, createdAt: 0, updatedAt: 0 },
    spec: {
      annotations: { name: 'web', labels: {} },
      task: {
        ...base,
        restartPolicy: { condition: over.condition ?? 'any', delayMs: over.delayMs ?? 0, maxAttempts: over.maxAttempts ?? 0, windowMs: over.windowMs ?? 0 },
        placement: { ...base.placement, constraints: over.constraints ?? [] },
      },
      mode, update, rollback: update, endpoint: { ports: [] }, rebalance: false, dependsOn: [],
    },
    previousSpec: null, specVersion: 10, updateStatus: null, endpoint: null,
  };
}

function node(id: string, state: Node['status']['state'] = 'ready', availability: Node['spec']['availability'] = 'active'): Node {
  return {
    id, meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: { annotations: { name: id, labels: {} }, role: 'worker', availability },
    description: { hostname: id, platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 4e9, memoryBytes: 2 ** 33 }, engineLabels: {} },
    status: { state, message: '', addr: '' },
  };
}

const DEFAULT_SPEC = taskSpec();
let seq = 0;
function task(slot: number, state: TaskState, over: Partial<Task> & { updatedAt?: number; createdAt?: number } = {}): Task {
  seq++;
  const { updatedAt, createdAt, ...rest } = over;
  return {
    id: `t${String(seq).padStart(3, '0')}`, meta: { version: seq, createdAt: createdAt ?? seq, updatedAt: updatedAt ?? seq },
    serviceId: 'svc', slot, nodeId: 'n1', spec: DEFAULT_SPEC, serviceVersion: 10, desiredState: 'running',
    status: { state, message: '', timestamp: 0, err: '' }, restarts: [], addresses: [], ...rest,
  };
}

function run(svc: Service | undefined, tasks: Task[], nodes: Node[] = [node('n1'), node('n2')], now = 1_000, historyLimit = 5) {
  let ids = 0;
  // Tasks run the service's spec unless a test gave them another.
  const current = tasks.map((t) => (svc !== undefined && t.spec === DEFAULT_SPEC ? { ...t, spec: svc.spec.task } : t));
  const input: ReconcileInput = {
    service: svc, tasks: current, node: (id) => nodes.find((n) => n.id === id), nodes: () => nodes, now,
    newTaskId: () => `new${++ids}`, historyLimit,
  };
  return reconcile(input);
}

const created = (events: readonly JournalEvent[]) => events.filter((e) => e.type === 'task.created') as Extract<JournalEvent, { type: 'task.created' }>[];
const ofType = <T extends JournalEvent['type']>(events: readonly JournalEvent[], type: T) => events.filter((e) => e.type === type) as Extract<JournalEvent, { type: T }>[];

describe('replicated', () => {
  test('an empty service gets one task per slot, of its current spec, desired running', () => {
    const plan = run(service({ kind: 'replicated', replicas: 3 }), []);
    const made = created(plan.events);
    expect(made.map((e) => e.slot)).toEqual([1, 2, 3]);
    expect(made.every((e) => e.serviceVersion === 10 && e.desiredState === 'running' && e.status.state === 'new' && e.nodeId === '')).toBe(true);
  });

  test('a running slot is left alone; scale down shuts down the slots past the count', () => {
    const tasks = [task(1, 'running'), task(2, 'running'), task(3, 'running')];
    const plan = run(service({ kind: 'replicated', replicas: 1 }), tasks);
    expect(created(plan.events)).toEqual([]);
    expect(ofType(plan.events, 'task.desiredStateChanged').map((e) => [e.id, e.desiredState])).toEqual([[tasks[1]!.id, 'shutdown'], [tasks[2]!.id, 'shutdown']]);
  });

  test('restart policy: a failed task is replaced after the delay, counted in its restarts', () => {
    const failed = task(1, 'failed', { updatedAt: 900 });
    const svc = service({ kind: 'replicated', replicas: 1 }, { delayMs: 500 });
    const early = run(svc, [failed], undefined, 1_000);
    expect(created(early.events)).toEqual([]);
    expect(early.wakeAt).toBe(1_400);
    const due = run(svc, [failed], undefined, 1_400);
    expect(created(due.events)).toHaveLength(1);
    expect(created(due.events)[0]!.restarts).toEqual([1_400]);
    expect(created(due.events)[0]!.slot).toBe(1);
    // The failed task is history: no longer wanted (its node removes its workload, the reaper may take it).
    expect(ofType(due.events, 'task.desiredStateChanged').map((e) => [e.id, e.desiredState])).toEqual([[failed.id, 'shutdown']]);
    expect(ofType(early.events, 'task.desiredStateChanged')).toEqual([]);
  });

  test('restart policy: max attempts within the window stops restarts; outside the window they resume', () => {
    const svc = service({ kind: 'replicated', replicas: 1 }, { maxAttempts: 2, windowMs: 10_000 });
    const tired = task(1, 'failed', { restarts: [100, 500], updatedAt: 600 });
    expect(created(run(svc, [tired], undefined, 1_000).events)).toEqual([]);
    const later = run(svc, [tired], undefined, 10_200);
    expect(created(later.events)).toHaveLength(1);
    expect(created(later.events)[0]!.restarts).toEqual([500, 10_200]);
  });

  test('restart policy conditions: none never restarts; on-failure leaves a clean exit alone; any restarts it', () => {
    expect(created(run(service({ kind: 'replicated', replicas: 1 }, { condition: 'none' }), [task(1, 'failed')]).events)).toEqual([]);
    expect(created(run(service({ kind: 'replicated', replicas: 1 }, { condition: 'onFailure' }), [task(1, 'complete')]).events)).toEqual([]);
    expect(created(run(service({ kind: 'replicated', replicas: 1 }, { condition: 'onFailure' }), [task(1, 'failed')]).events)).toHaveLength(1);
    expect(created(run(service({ kind: 'replicated', replicas: 1 }, { condition: 'any' }), [task(1, 'complete')]).events)).toHaveLength(1);
  });

  test('a task on a down node is orphaned and replaced at once, uncounted', () => {
    const t = task(1, 'running', { nodeId: 'n1', restarts: [5] });
    const plan = run(service({ kind: 'replicated', replicas: 1 }, { delayMs: 5_000 }), [t], [node('n1', 'down'), node('n2')]);
    expect(ofType(plan.events, 'task.desiredStateChanged')).toMatchObject([{ id: t.id, desiredState: 'shutdown' }]);
    expect(ofType(plan.events, 'task.statusChanged')).toMatchObject([{ id: t.id, status: { state: 'orphaned', message: 'node down' } }]);
    expect(created(plan.events)).toMatchObject([{ slot: 1, restarts: [5] }]);
  });

  test('a task on a drained node is shut down (not orphaned) and replaced', () => {
    const t = task(1, 'running', { nodeId: 'n1' });
    const plan = run(service({ kind: 'replicated', replicas: 1 }), [t], [node('n1', 'ready', 'drain'), node('n2')]);
    expect(ofType(plan.events, 'task.desiredStateChanged')).toMatchObject([{ id: t.id, desiredState: 'shutdown' }]);
    expect(ofType(plan.events, 'task.statusChanged')).toEqual([]);
    expect(created(plan.events)).toHaveLength(1);
  });

  test('history beyond the retention limit is reaped, oldest first', () => {
    const old = [1, 2, 3, 4, 5, 6, 7].map(() => task(1, 'failed', { desiredState: 'shutdown' }));
    const plan = run(service({ kind: 'replicated', replicas: 1 }), [...old, task(1, 'running')], undefined, 1_000, 5);
    expect(ofType(plan.events, 'task.removed').map((e) => e.id)).toEqual([old[0]!.id, old[1]!.id]);
  });
});

describe('global', () => {
  test('one task per ready and active node that meets the constraints, bound to it', () => {
    const nodes = [node('n1'), node('n2', 'down'), node('n3', 'ready', 'drain'), node('n4')];
    const plan = run(service({ kind: 'global' }, { constraints: ['node.id!=n4'] }), [], nodes);
    expect(created(plan.events).map((e) => [e.slot, e.nodeId])).toEqual([[0, 'n1']]);
  });

  test('a node drained or no longer meeting the constraints loses its task', () => {
    const nodes = [node('n1', 'ready', 'drain'), node('n2')];
    const t = task(0, 'running', { nodeId: 'n1' });
    const plan = run(service({ kind: 'global' }), [t], nodes);
    expect(ofType(plan.events, 'task.desiredStateChanged')).toMatchObject([{ id: t.id, desiredState: 'shutdown' }]);
    expect(created(plan.events).map((e) => e.nodeId)).toEqual(['n2']);
  });

  test('global job: a node with a success of this spec gets nothing more', () => {
    const svc = service({ kind: 'globalJob' });
    const done = task(0, 'complete', { nodeId: 'n1', desiredState: 'complete', spec: svc.spec.task });
    const plan = run(svc, [done]);
    expect(created(plan.events).map((e) => [e.nodeId, e.desiredState])).toEqual([['n2', 'complete']]);
  });
});

describe('replicated job', () => {
  test('runs at most maxConcurrent at once until totalCompletions succeeded', () => {
    const svc = service({ kind: 'replicatedJob', maxConcurrent: 2, totalCompletions: 4 }, { condition: 'onFailure' });
    const first = run(svc, []);
    expect(created(first.events).map((e) => [e.slot, e.desiredState])).toEqual([[1, 'complete'], [2, 'complete']]);
    const half = run(svc, [task(1, 'complete', { desiredState: 'complete', spec: svc.spec.task }), task(2, 'running', { desiredState: 'complete', spec: svc.spec.task })]);
    expect(created(half.events).map((e) => e.slot)).toEqual([3]);
    const all = run(svc, [1, 2, 3, 4].map((s) => task(s, 'complete', { desiredState: 'complete', spec: svc.spec.task })));
    // A spec change (a re-run) makes those successes stale: the job runs again.
    const rerun = run({ ...svc, spec: { ...svc.spec, task: { ...svc.spec.task, forceUpdate: 1 } } }, [1, 2, 3, 4].map((s) => task(s, 'complete', { desiredState: 'complete', spec: svc.spec.task })));
    expect(created(rerun.events).map((e) => e.slot)).toEqual([1, 2]);
    expect(created(all.events)).toEqual([]);
  });

  test('a failed run is retried under on-failure', () => {
    const svc = service({ kind: 'replicatedJob', maxConcurrent: 1, totalCompletions: 1 }, { condition: 'onFailure' });
    expect(created(run(svc, [task(1, 'failed', { desiredState: 'complete' })]).events)).toMatchObject([{ slot: 1, desiredState: 'complete' }]);
  });
});

describe('a removed service', () => {
  test('its live tasks are told to go, ended ones are removed, unassigned ones end at once', () => {
    const running = task(1, 'running');
    const ended = task(2, 'failed', { desiredState: 'shutdown' });
    const unassigned = task(3, 'pending', { nodeId: '' });
    const plan = run(undefined, [running, ended, unassigned]);
    expect(ofType(plan.events, 'task.desiredStateChanged').map((e) => [e.id, e.desiredState])).toEqual([[running.id, 'remove'], [unassigned.id, 'remove']]);
    expect(ofType(plan.events, 'task.statusChanged')).toMatchObject([{ id: unassigned.id, status: { state: 'shutdown' } }]);
    expect(ofType(plan.events, 'task.removed').map((e) => e.id)).toEqual([ended.id]);
  });
});

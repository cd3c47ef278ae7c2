// The orchestration simulation's convergence check must be able to fail: fed a store in a state
// the invariants forbid, it names what is wrong.
import { DependencyChecker, chooseOrchestrationOptions, conditionMet, converged, type DependencyCheckStats } from '../../simulations/index.js';
import { EVENT_VERSIONS, Store, encodeBatch, type JournalEvent, type ServiceSpec, type TaskState } from '../../journal/index.js';
import { SeededRandom, encodeMessage } from '../../runtime/index.js';
import { nodeDescription, nodeSpec, nodeStatus, serviceSpec, status } from '../journal/journal-fixtures.js';

const options = chooseOrchestrationOptions(new SeededRandom('checks'));
const spec: ServiceSpec = { ...serviceSpec('web', 2, 'app/1'), dependsOn: [] };

function world(tasks: Array<{ id: string; slot: number; node: string; state: TaskState; restarts?: number[] }>, nodeState: 'ready' | 'down' = 'ready', availability: 'active' | 'drain' = 'active', serviceSpec: ServiceSpec = spec) {
  const store = new Store();
  let index = 0;
  const apply = (events: JournalEvent[]): void => {
    const result = store.applyBatch(events, ++index);
    if (!result.applied) throw result.error;
  };
  apply([
    { type: 'node.registered', v: EVENT_VERSIONS['node.registered'], at: 0, id: 'n1', spec: nodeSpec('n1', availability), description: nodeDescription('n1'), status: nodeStatus(nodeState) },
    { type: 'node.registered', v: EVENT_VERSIONS['node.registered'], at: 0, id: 'n2', spec: nodeSpec('n2'), description: nodeDescription('n2'), status: nodeStatus() },
    { type: 'service.created', v: EVENT_VERSIONS['service.created'], at: 0, id: 's1', spec: serviceSpec },
  ]);
  const service = store.get('service', 's1')!;
  apply(tasks.map((t): JournalEvent => ({
    type: 'task.created', v: EVENT_VERSIONS['task.created'], at: 0, id: t.id, serviceId: 's1', slot: t.slot, nodeId: t.node,
    spec: service.spec.task, serviceVersion: service.specVersion, desiredState: 'running', status: status(t.state), restarts: t.restarts ?? [], addresses: [],
  })));
  return store;
}

const models = new Map([['s1', { id: 's1', spec, previous: null }]]);

test('a converged world passes', () => {
  const store = world([{ id: 't1', slot: 1, node: 'n1', state: 'running' }, { id: 't2', slot: 2, node: 'n2', state: 'running' }]);
  expect(converged(models, new Map([['n1', 'active'], ['n2', 'active']]), store, options)).toBeUndefined();
});

test('two running tasks in one slot are caught', () => {
  const store = world([{ id: 't1', slot: 1, node: 'n1', state: 'running' }, { id: 't2', slot: 1, node: 'n2', state: 'running' }]);
  expect(converged(models, new Map([['n1', 'active'], ['n2', 'active']]), store, options)).toMatch(/2 running tasks in slot 1/);
});

test('too few replicas, a task on a drained node, a node down, a missing service and a spec not acknowledged are caught', () => {
  const availability = new Map([['n1', 'active'], ['n2', 'active']]);
  expect(converged(models, availability, world([{ id: 't1', slot: 1, node: 'n1', state: 'running' }]), options)).toMatch(/1 running of the current spec/);
  const drained = world([{ id: 't1', slot: 1, node: 'n1', state: 'running' }, { id: 't2', slot: 2, node: 'n2', state: 'running' }], 'ready', 'drain');
  expect(converged(models, new Map([['n1', 'drain'], ['n2', 'active']]), drained, options)).toMatch(/runs on drained node n1/);
  expect(converged(models, availability, world([], 'down'), options)).toMatch(/node n1 is down/);
  expect(converged(new Map([...models, ['s9', { id: 's9', spec, previous: null }]]), availability, world([{ id: 't1', slot: 1, node: 'n1', state: 'running' }, { id: 't2', slot: 2, node: 'n2', state: 'running' }]), options)).toMatch(/service s9 is missing/);
  const other = new Map([['s1', { id: 's1', spec: { ...spec, mode: { kind: 'replicated' as const, replicas: 5 } }, previous: null }]]);
  expect(converged(other, availability, world([]), options)).toMatch(/not the last acknowledged one/);
});

describe('start order', () => {
  // Raft entries as the manager applies them: a command of events per entry, at its index.
  let opSeq = 0;
  const entry = (index: number, events: JournalEvent[]) => ({ index, term: 1, type: 'normal', data: encodeMessage({ op: 'events', opId: `op${++opSeq}`, batch: encodeBatch(events) }) });
  const db: ServiceSpec = { ...serviceSpec('db', 1, 'app/1'), dependsOn: [] };
  const web: ServiceSpec = { ...serviceSpec('web', 1, 'app/1'), dependsOn: [{ service: 'db', condition: 'started' }] };
  const task = (id: string, serviceId: string, s: ServiceSpec): JournalEvent => ({
    type: 'task.created', v: EVENT_VERSIONS['task.created'], at: 0, id, serviceId, slot: 1, nodeId: '', spec: s.task, serviceVersion: 1, desiredState: 'running', status: status('new'), restarts: [], addresses: [],
  });
  const running = (id: string): JournalEvent => ({ type: 'task.statusChanged', v: EVENT_VERSIONS['task.statusChanged'], at: 0, id, status: status('running'), expectedVersion: null });
  const created = (id: string, s: ServiceSpec): JournalEvent => ({ type: 'service.created', v: EVENT_VERSIONS['service.created'], at: 0, id, spec: s });

  test('a dependent\'s first task after its dependency ran passes, and counts as a hold released', () => {
    const stats: DependencyCheckStats = { checked: new Set(), released: new Set() };
    const checker = new DependencyChecker(new Uint8Array(), 0, stats);
    expect(checker.apply(undefined, [
      entry(1, [created('s-db', db), created('s-web', web)]), entry(2, [task('db.1', 's-db', db)]), entry(3, [running('db.1')]), entry(4, [task('web.1', 's-web', web)]),
    ])).toBeUndefined();
    expect([...stats.checked]).toEqual(['s-web']);
    expect([...stats.released]).toEqual(['s-web']);
  });

  test('a dependent\'s first task before its dependency met its condition is caught, naming both', () => {
    const stats: DependencyCheckStats = { checked: new Set(), released: new Set() };
    const checker = new DependencyChecker(new Uint8Array(), 0, stats);
    // db's task is created but never runs; web starts anyway.
    const violation = checker.apply(undefined, [entry(1, [created('s-db', db), created('s-web', web)]), entry(2, [task('db.1', 's-db', db)]), entry(3, [task('web.1', 's-web', web)])]);
    expect(violation).toMatch(/^task web\.1 of service web \(s-web\) was created at index 3 though its dependency db \(started\) had not met its condition/);
    // Met before the dependent existed does not count: the check is from its creation on.
    const again = new DependencyChecker(new Uint8Array(), 0, stats);
    expect(again.apply(undefined, [entry(1, [created('s-db', db)]), entry(2, [task('db.1', 's-db', db)]), entry(3, [running('db.1')]), entry(4, [created('s-web', web), task('web.1', 's-web', web)])])).toMatch(/task web\.1/);
  });

  test('conditionMet: started, and a job\'s completions', () => {
    const store = world([{ id: 't1', slot: 1, node: 'n1', state: 'running' }]);
    expect(conditionMet(store, 'web', 'started')).toBe(false); // 1 of 2 replicas
    expect(conditionMet(store, 'web', 'completedSuccessfully')).toBe(false); // not a job
    expect(conditionMet(store, 'nothing', 'started')).toBe(false);
  });

  test('convergence: a held service with an unmet dependency may wait; with its dependencies met it must converge', () => {
    const held: ServiceSpec = { ...serviceSpec('api', 1, 'app/1'), dependsOn: [{ service: 'absent', condition: 'started' }] };
    const free: ServiceSpec = { ...serviceSpec('api', 1, 'app/1'), dependsOn: [{ service: 'web', condition: 'started' }] };
    const availability = new Map([['n1', 'active'], ['n2', 'active']]);
    for (const [spec2, expected] of [[held, undefined], [free, /service s2 .*0 running of the current spec/]] as const) {
      const s = world([{ id: 't1', slot: 1, node: 'n1', state: 'running' }, { id: 't2', slot: 2, node: 'n2', state: 'running' }]);
      expect(s.applyBatch([created('s2', spec2)], s.index + 1).applied).toBe(true);
      const result = converged(new Map([...models, ['s2', { id: 's2', spec: spec2, previous: null }]]), availability, s, options);
      if (expected === undefined) expect(result).toBeUndefined();
      else expect(result).toMatch(expected);
    }
  });
});

test('a slot whose restart policy gave up (maxAttempts restarts made, its last task failed) counts as settled; one with attempts left does not', () => {
  const limited: ServiceSpec = { ...spec, task: { ...spec.task, restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 3, windowMs: 0 } } };
  const limitedModels = new Map([['s1', { id: 's1', spec: limited, previous: null }]]);
  const availability = new Map([['n1', 'active'], ['n2', 'active']]);
  const slot2 = (restarts: number[]) => world([{ id: 't1', slot: 1, node: 'n1', state: 'running' }, { id: 't2', slot: 2, node: 'n2', state: 'failed', restarts }], 'ready', 'active', limited);
  expect(converged(limitedModels, availability, slot2([1, 2, 3]), options)).toBeUndefined();
  expect(converged(limitedModels, availability, slot2([1, 2]), options)).toMatch(/1 running of the current spec \(1 in all\), want 2/);
  // Without a limit, a failed slot is never settled.
  expect(converged(models, availability, world([{ id: 't1', slot: 1, node: 'n1', state: 'running' }, { id: 't2', slot: 2, node: 'n2', state: 'failed', restarts: [1, 2, 3] }]), options)).toMatch(/want 2/);
  // A global service: the node whose slot gave up is settled, one with attempts left is not.
  const global: ServiceSpec = { ...limited, mode: { kind: 'global' } };
  const globalModels = new Map([['s1', { id: 's1', spec: global, previous: null }]]);
  const onN2 = (restarts: number[]) => world([{ id: 't1', slot: 0, node: 'n1', state: 'running' }, { id: 't2', slot: 0, node: 'n2', state: 'failed', restarts }], 'ready', 'active', global);
  expect(converged(globalModels, availability, onN2([1, 2, 3]), options)).toBeUndefined();
  expect(converged(globalModels, availability, onN2([1]), options)).toMatch(/no running task of the current spec on node n2/);
});

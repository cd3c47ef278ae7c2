// The orchestration simulation's convergence check must be able to fail: fed a store in a state
// the invariants forbid, it names what is wrong.
import { chooseOrchestrationOptions, converged } from '../../simulations/index.js';
import { EVENT_VERSIONS, Store, type JournalEvent, type ServiceSpec, type TaskState } from '../../journal/index.js';
import { SeededRandom } from '../../runtime/index.js';
import { nodeDescription, nodeSpec, nodeStatus, serviceSpec, status } from '../journal/journal-fixtures.js';

const options = chooseOrchestrationOptions(new SeededRandom('checks'));
const spec: ServiceSpec = { ...serviceSpec('web', 2, 'app/1') };

function world(tasks: Array<{ id: string; slot: number; node: string; state: TaskState }>, nodeState: 'ready' | 'down' = 'ready', availability: 'active' | 'drain' = 'active') {
  const store = new Store();
  let index = 0;
  const apply = (events: JournalEvent[]): void => {
    const result = store.applyBatch(events, ++index);
    if (!result.applied) throw result.error;
  };
  apply([
    { type: 'node.registered', v: EVENT_VERSIONS['node.registered'], at: 0, id: 'n1', spec: nodeSpec('n1', availability), description: nodeDescription('n1'), status: nodeStatus(nodeState) },
    { type: 'node.registered', v: EVENT_VERSIONS['node.registered'], at: 0, id: 'n2', spec: nodeSpec('n2'), description: nodeDescription('n2'), status: nodeStatus() },
    { type: 'service.created', v: EVENT_VERSIONS['service.created'], at: 0, id: 's1', spec },
  ]);
  const service = store.get('service', 's1')!;
  apply(tasks.map((t): JournalEvent => ({
    type: 'task.created', v: EVENT_VERSIONS['task.created'], at: 0, id: t.id, serviceId: 's1', slot: t.slot, nodeId: t.node,
    spec: service.spec.task, serviceVersion: service.specVersion, desiredState: 'running', status: status(t.state), restarts: [], addresses: [],
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

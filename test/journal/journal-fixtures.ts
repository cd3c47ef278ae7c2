// Builders of valid objects and events for the journal's event and store tests.
import fc from 'fast-check';
import {
  CONTAINER_SPEC_DEFAULTS, DEPENDENCY_CONDITIONS, DESIRED_STATES, TASK_STATES, UPDATE_STATES,
  type BlobSpec, type ClusterSpec, type JournalEvent, type NetworkSpec, type NodeDescription, type NodeSpec,
  type NodeStatus, type ServiceEndpoint, type ServiceSpec, type TaskSpec, type TaskStatus, type UpdateStatus,
} from '../../journal/index.js';

export const clusterSpec = (name = 'default'): ClusterSpec => ({
  annotations: { name, labels: {} },
  orchestration: { taskHistoryRetentionLimit: 5 },
  dispatcher: { heartbeatPeriodMs: 5_000 },
  raft: { snapshotIntervalEntries: 10_000, logEntriesForSlowFollowers: 500, electionTicks: 10, heartbeatTicks: 1 },
  caConfig: { nodeCertExpiryMs: 90 * 24 * 3600 * 1000 },
  encryption: { autoLockManagers: false },
});

export const nodeSpec = (name: string, availability: NodeSpec['availability'] = 'active'): NodeSpec => ({
  annotations: { name, labels: { zone: 'a' } }, role: 'worker', availability,
});

export const nodeDescription = (hostname: string): NodeDescription => ({
  hostname, platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 }, engineLabels: {},
});

export const nodeStatus = (state: NodeStatus['state'] = 'ready'): NodeStatus => ({ state, message: '', addr: '10.0.0.1' });

/** A container task spec with every field of event schema v3 away from its default. */
export const taskSpec = (image = 'nginx:1.27'): TaskSpec => ({
  container: {
    image, command: [], args: ['-g', 'daemon off;'], env: ['A=1'], labels: {},
    healthcheck: { test: ['CMD', 'curl', '-f', 'http://localhost/'], intervalMs: 5_000, timeoutMs: 2_000, retries: 3, startPeriodMs: 1_000 },
    mounts: [{ type: 'volume', source: 'web-data', target: '/var/cache/nginx', readOnly: false }, { type: 'bind', source: '/etc/ssl', target: '/etc/ssl', readOnly: true }],
    dir: '/srv', user: 'www-data', stopSignal: 'SIGQUIT', stopGracePeriodMs: 20_000, hostname: 'web',
  },
  resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
  restartPolicy: { condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0 },
  placement: { constraints: ['node.role==worker'], maxReplicasPerNode: 0, preferences: [{ spread: 'node.labels.zone' }], platforms: [{ os: 'linux', architecture: 'x86_64' }] },
  networks: [],
  secrets: [{ id: 'sec1', name: 'db-password', target: 'db-password' }],
  configs: [],
  forceUpdate: 0,
  runtime: 'container',
});

/** A task spec of the process runtime: a command on the agent's host, no image. */
export const processTaskSpec = (command = '/usr/local/bin/worker'): TaskSpec => ({
  ...taskSpec(''),
  container: {
    image: '', command: [command], args: ['--queue', 'jobs'], env: [], labels: {},
    healthcheck: { test: ['CMD-SHELL', 'test -e /run/worker.ok'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 },
    mounts: [], dir: '/var/lib/worker', user: 'worker', stopSignal: 'SIGINT', stopGracePeriodMs: 30_000, hostname: '',
  },
  runtime: 'process',
});

const update = { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stopFirst' } as const;

/** A service spec with dependencies (event schema v4) away from their default: none. */
export const serviceSpec = (name: string, replicas = 3, image = 'nginx:1.27'): ServiceSpec => ({
  annotations: { name, labels: {} },
  task: taskSpec(image),
  mode: { kind: 'replicated', replicas },
  update,
  rollback: update,
  endpoint: { ports: [{ name: 'http', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }] },
  rebalance: false,
  dependsOn: [{ service: 'db', condition: 'healthy' }, { service: 'migrate', condition: 'completedSuccessfully' }],
});

export const networkSpec = (name: string): NetworkSpec => ({
  annotations: { name, labels: {} }, driver: 'overlay', ipam: { driver: 'default', subnets: [{ subnet: '10.1.0.0/24', gateway: '10.1.0.1' }] },
  internal: false, attachable: true, ingress: false,
});

export const blob = (name: string, data = 'hunter2'): BlobSpec => ({ annotations: { name, labels: {} }, data: new TextEncoder().encode(data) });

export const status = (state: TaskStatus['state'], timestamp = 1): TaskStatus => ({ state, message: state, timestamp, err: '' });

export const updateStatus = (state: UpdateStatus['state'], completedAt = 0): UpdateStatus => ({ state, startedAt: 500, completedAt, message: `update ${state}` });

export const serviceEndpoint = (): ServiceEndpoint => ({
  ports: [{ name: 'http', protocol: 'tcp', targetPort: 80, publishedPort: 30_080, publishMode: 'ingress' }],
  virtualIps: [{ networkId: 'net1', addr: '10.1.0.2/24' }],
});

/** One valid event of every type, in an order that applies cleanly to an empty store. */
export function oneOfEach(): JournalEvent[] {
  const at = 1_000;
  return [
    { type: 'cluster.created', v: 1, at, id: 'c1', spec: clusterSpec() },
    { type: 'cluster.updated', v: 1, at, id: 'c1', spec: clusterSpec('renamed'), expectedVersion: null },
    { type: 'node.registered', v: 1, at, id: 'n1', spec: nodeSpec('host-1'), description: nodeDescription('host-1'), status: nodeStatus('unknown') },
    { type: 'node.updated', v: 1, at, id: 'n1', spec: nodeSpec('host-1', 'drain'), expectedVersion: null },
    { type: 'node.statusChanged', v: 1, at, id: 'n1', status: nodeStatus('ready'), expectedVersion: null },
    { type: 'network.created', v: 1, at, id: 'net1', spec: networkSpec('backend') },
    { type: 'secret.created', v: 1, at, id: 'sec1', spec: blob('db-password') },
    { type: 'secret.updated', v: 1, at, id: 'sec1', labels: { rotated: 'yes' }, expectedVersion: null },
    { type: 'config.created', v: 1, at, id: 'cfg1', spec: blob('nginx.conf', 'server {}') },
    { type: 'service.created', v: 4, at, id: 's1', spec: serviceSpec('web') },
    { type: 'service.updated', v: 4, at, id: 's1', spec: serviceSpec('web', 5), expectedVersion: null },
    {
      type: 'task.created', v: 3, at, id: 't1', serviceId: 's1', slot: 1, nodeId: '', spec: taskSpec(), serviceVersion: 1,
      desiredState: 'running', status: status('new'), restarts: [400, 900], addresses: [],
    },
    { type: 'task.assigned', v: 1, at, id: 't1', nodeId: 'n1', status: status('assigned'), expectedVersion: null },
    { type: 'task.statusChanged', v: 1, at, id: 't1', status: status('running'), expectedVersion: null },
    { type: 'task.desiredStateChanged', v: 1, at, id: 't1', desiredState: 'shutdown', expectedVersion: null },
    // (Indexes 1-15 above are what the store's tests count on.)
    { type: 'service.updateStatusChanged', v: 1, at, id: 's1', updateStatus: updateStatus('updating'), expectedVersion: null },
    { type: 'service.rolledBack', v: 1, at, id: 's1', updateStatus: updateStatus('rollbackStarted'), expectedVersion: null },
    { type: 'service.endpointAllocated', v: 1, at, id: 's1', endpoint: serviceEndpoint(), expectedVersion: null },
    { type: 'task.allocated', v: 1, at, id: 't1', addresses: [{ networkId: 'net1', addr: '10.1.0.7/24' }], status: status('running'), expectedVersion: null },
    { type: 'node.descriptionChanged', v: 1, at, id: 'n1', description: nodeDescription('host-1b'), expectedVersion: null },
    { type: 'task.removed', v: 1, at, id: 't1', expectedVersion: null },
    { type: 'service.removed', v: 1, at, id: 's1', expectedVersion: null },
    { type: 'config.removed', v: 1, at, id: 'cfg1', expectedVersion: null },
    { type: 'secret.removed', v: 1, at, id: 'sec1', expectedVersion: null },
    { type: 'network.removed', v: 1, at, id: 'net1', expectedVersion: null },
    { type: 'node.removed', v: 1, at, id: 'n1', expectedVersion: null },
  ];
}

// ---- random event sequences over small pools of ids and names (so that they collide) ----

const ids = ['a', 'b', 'c'];
const names = ['x', 'y'];
const pick = <T>(values: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...values);
// Mostly unconditional, sometimes a guess at the version (right now and then, often stale).
const expected = fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 12 }) });
const at = fc.integer({ min: 0, max: 1_000_000 });
const addressesArb = fc.array(fc.record({ networkId: pick(['net1', 'net2']), addr: pick(['10.1.0.3/24', '10.2.0.9/24']) }), { maxLength: 2 });
/** Container and process task specs, with and without the fields of schema v3 at their defaults. */
const taskSpecArb: fc.Arbitrary<TaskSpec> = fc.constantFrom(
  taskSpec(),
  processTaskSpec(),
  { ...taskSpec('redis:7'), container: { ...taskSpec('redis:7').container, ...CONTAINER_SPEC_DEFAULTS } },
);
/** No dependencies, or a few of each condition. */
const dependsOnArb: fc.Arbitrary<ServiceSpec['dependsOn']> = fc.array(
  fc.record({ service: pick(['db', 'cache', 'migrate']), condition: pick(DEPENDENCY_CONDITIONS) }),
  { maxLength: 3 },
);
const updateStatusArb = fc.tuple(pick(UPDATE_STATES), fc.nat(9)).map(([state, completedAt]) => updateStatus(state, completedAt));

const eventArbs: fc.Arbitrary<JournalEvent>[] = [
  fc.record({ type: fc.constant('node.registered' as const), v: fc.constant(1), at, id: pick(ids), spec: pick(names).map((n) => nodeSpec(n)), description: fc.constant(nodeDescription('h')), status: fc.constant(nodeStatus()) }),
  fc.record({ type: fc.constant('node.updated' as const), v: fc.constant(1), at, id: pick(ids), spec: fc.tuple(pick(names), pick(['active', 'pause', 'drain'] as const)).map(([n, a]) => nodeSpec(n, a)), expectedVersion: expected }),
  fc.record({ type: fc.constant('node.removed' as const), v: fc.constant(1), at, id: pick(ids), expectedVersion: expected }),
  fc.record({
    type: fc.constant('service.created' as const), v: fc.constant(4), at, id: pick(ids),
    spec: fc.tuple(pick(names), taskSpecArb, dependsOnArb).map(([n, task, dependsOn]) => ({ ...serviceSpec(n), task, dependsOn })),
  }),
  fc.record({
    type: fc.constant('service.updated' as const), v: fc.constant(4), at, id: pick(ids),
    spec: fc.tuple(pick(names), fc.integer({ min: 0, max: 9 }), taskSpecArb, dependsOnArb).map(([n, r, task, dependsOn]) => ({ ...serviceSpec(n, r), task, dependsOn })),
    expectedVersion: expected,
  }),
  fc.record({ type: fc.constant('service.removed' as const), v: fc.constant(1), at, id: pick(ids), expectedVersion: expected }),
  fc.record({
    type: fc.constant('task.created' as const), v: fc.constant(3), at, id: pick(['t1', 't2', 't3', 't4']), serviceId: pick(ids), slot: fc.integer({ min: 0, max: 3 }),
    nodeId: pick(['', ...ids]), spec: taskSpecArb, serviceVersion: fc.nat(9), desiredState: pick(DESIRED_STATES), status: fc.constant(status('new')),
    restarts: fc.array(fc.nat(1_000_000), { maxLength: 3 }), addresses: addressesArb,
  }),
  fc.record({ type: fc.constant('task.assigned' as const), v: fc.constant(1), at, id: pick(['t1', 't2', 't3', 't4']), nodeId: pick(ids), status: fc.constant(status('assigned')), expectedVersion: expected }),
  fc.record({ type: fc.constant('task.statusChanged' as const), v: fc.constant(1), at, id: pick(['t1', 't2', 't3', 't4']), status: pick(TASK_STATES).map((s) => status(s)), expectedVersion: expected }),
  fc.record({ type: fc.constant('task.desiredStateChanged' as const), v: fc.constant(1), at, id: pick(['t1', 't2', 't3', 't4']), desiredState: pick(DESIRED_STATES), expectedVersion: expected }),
  fc.record({ type: fc.constant('task.removed' as const), v: fc.constant(1), at, id: pick(['t1', 't2', 't3', 't4']), expectedVersion: expected }),
  fc.record({ type: fc.constant('network.created' as const), v: fc.constant(1), at, id: pick(ids), spec: pick(names).map(networkSpec) }),
  fc.record({ type: fc.constant('secret.created' as const), v: fc.constant(1), at, id: pick(ids), spec: pick(names).map((n) => blob(n)) }),
  fc.record({ type: fc.constant('secret.updated' as const), v: fc.constant(1), at, id: pick(ids), labels: fc.dictionary(pick(['k', 'l']), fc.string({ maxLength: 3 })), expectedVersion: expected }),
  fc.record({ type: fc.constant('config.created' as const), v: fc.constant(1), at, id: pick(ids), spec: pick(names).map((n) => blob(n, 'cfg')) }),
  fc.record({ type: fc.constant('config.removed' as const), v: fc.constant(1), at, id: pick(ids), expectedVersion: expected }),
  fc.record({ type: fc.constant('service.updateStatusChanged' as const), v: fc.constant(1), at, id: pick(ids), updateStatus: fc.option(updateStatusArb, { nil: null }), expectedVersion: expected }),
  // Refused while the service has no previous spec: both outcomes happen.
  fc.record({ type: fc.constant('service.rolledBack' as const), v: fc.constant(1), at, id: pick(ids), updateStatus: updateStatusArb, expectedVersion: expected }),
  fc.record({
    type: fc.constant('service.endpointAllocated' as const), v: fc.constant(1), at, id: pick(ids),
    endpoint: fc.record({ ports: fc.constant(serviceEndpoint().ports), virtualIps: addressesArb }), expectedVersion: expected,
  }),
  // Going backwards (from a later state) is refused: both outcomes happen.
  fc.record({
    type: fc.constant('task.allocated' as const), v: fc.constant(1), at, id: pick(['t1', 't2', 't3', 't4']), addresses: addressesArb,
    status: pick(['new', 'pending', 'running'] as const).map((s) => status(s)), expectedVersion: expected,
  }),
  fc.record({ type: fc.constant('node.descriptionChanged' as const), v: fc.constant(1), at, id: pick(ids), description: pick(names).map(nodeDescription), expectedVersion: expected }),
];

/** Creations weigh more, so that later changes often find their object. */
export const eventArb: fc.Arbitrary<JournalEvent> = fc.oneof(...eventArbs.map((arbitrary, i) => ({
  arbitrary, weight: [0, 3, 6, 11, 12, 14].includes(i) ? 6 : 1,
})));

/** Batches of 1-3 events. */
export const batchesArb: fc.Arbitrary<JournalEvent[][]> = fc.array(fc.array(eventArb, { minLength: 1, maxLength: 3 }), { maxLength: 40 });

// The allocator: its pure core (ingress ports, IPAM, virtual IPs, determinism, rebuild from the
// store) called directly against a real Store, then the actor in an ActorSystem on a virtual clock
// with a small writer that applies proposals to that Store and feeds the commits back.
import fc from 'fast-check';
import {
  AllocationFailedError, Allocator, allocationEvents, allocatorActor, publishedPortConflicts,
  type AllocationPlan, type AllocatorActorOptions, type AllocatorInput, type AllocatorOptions,
} from '../../actors/index.js';
import {
  CONTAINER_SPEC_DEFAULTS, Store, TASK_STATE_ORDER,
  type JournalEvent, type NetworkSpec, type PortConfig, type Service, type ServiceSpec, type Task, type TaskSpec, type TaskState,
} from '../../journal/index.js';
import { plain, type Address } from '../../runtime/index.js';
import { Bench } from '../runtime/harness.js';

// ---- fixtures ----

const at = 1_000;
const update = { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stopFirst' } as const;

function taskSpec(networks: readonly string[] = []): TaskSpec {
  return {
    container: { image: 'nginx:1.27', command: [], args: [], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS },
    resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    restartPolicy: { condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0 },
    placement: { constraints: [], maxReplicasPerNode: 0, preferences: [], platforms: [] },
    networks, secrets: [], configs: [], forceUpdate: 0, runtime: 'container',
  };
}

const ingressPort = (targetPort: number, publishedPort = 0, protocol: PortConfig['protocol'] = 'tcp', name = ''): PortConfig =>
  ({ name, protocol, targetPort, publishedPort, publishMode: 'ingress' });
const hostPort = (targetPort: number, publishedPort: number, protocol: PortConfig['protocol'] = 'tcp'): PortConfig =>
  ({ name: '', protocol, targetPort, publishedPort, publishMode: 'host' });

function serviceSpec(name: string, over: { networks?: readonly string[]; ports?: readonly PortConfig[] } = {}): ServiceSpec {
  return {
    annotations: { name, labels: {} }, task: taskSpec(over.networks), mode: { kind: 'replicated', replicas: 1 },
    update, rollback: update, endpoint: { ports: over.ports ?? [] }, rebalance: false, dependsOn: [],
  };
}

function networkSpec(name: string, over: { subnet?: string; gateway?: string; ingress?: boolean } = {}): NetworkSpec {
  return {
    annotations: { name, labels: {} }, driver: 'overlay',
    ipam: { driver: 'default', subnets: over.subnet === undefined ? [] : [{ subnet: over.subnet, gateway: over.gateway ?? '' }] },
    internal: false, attachable: false, ingress: over.ingress ?? false,
  };
}

const networkCreated = (id: string, spec: NetworkSpec): JournalEvent => ({ type: 'network.created', v: 1, at, id, spec });
const serviceCreated = (id: string, spec: ServiceSpec): JournalEvent => ({ type: 'service.created', v: 1, at, id, spec });
const serviceUpdated = (id: string, spec: ServiceSpec): JournalEvent => ({ type: 'service.updated', v: 1, at, id, spec, expectedVersion: null });
const serviceRemoved = (id: string): JournalEvent => ({ type: 'service.removed', v: 1, at, id, expectedVersion: null });
const taskRemoved = (id: string): JournalEvent => ({ type: 'task.removed', v: 1, at, id, expectedVersion: null });

function taskCreated(id: string, serviceId: string, spec: TaskSpec, slot = 1): JournalEvent {
  return {
    type: 'task.created', v: 1, at, id, serviceId, slot, nodeId: '', spec, serviceVersion: 1, desiredState: 'running',
    status: { state: 'new', message: 'created', timestamp: at, err: '' }, restarts: [], addresses: [],
  };
}

/** The orchestrator shuts a task down and its agent reports it ended. */
function taskEnded(id: string, state: TaskState = 'shutdown'): JournalEvent[] {
  return [
    { type: 'task.desiredStateChanged', v: 1, at, id, desiredState: 'shutdown', expectedVersion: null },
    { type: 'task.statusChanged', v: 1, at, id, status: { state, message: state, timestamp: at, err: '' }, expectedVersion: null },
  ];
}

/** A store and an allocator following it, committing the allocator's plans as the actor would. */
class Bed {
  readonly store = new Store();
  readonly allocator: Allocator;

  constructor(readonly options: AllocatorOptions = {}) {
    this.allocator = new Allocator(options);
  }

  commit(...events: JournalEvent[]): void {
    const result = this.store.applyBatch(events, this.store.index + 1);
    if (!result.applied) throw result.error;
    this.allocator.apply(events);
  }

  /** One plan, committed. */
  allocate(): AllocationPlan {
    const plan = this.allocator.allocate(this.store);
    const events = allocationEvents(plan, at);
    if (events.length > 0) this.commit(...events);
    return plan;
  }

  service(id: string): Service {
    return this.store.get('service', id)!;
  }

  task(id: string): Task {
    return this.store.get('task', id)!;
  }

  addrs(id: string): string[] {
    return this.task(id).addresses.map((a) => `${a.networkId}=${a.addr}`);
  }

  /** The allocator rebuilt from the store holds what the incremental one holds. */
  expectRebuildAgrees(): void {
    expect(Allocator.fromStore(this.store, this.options).holdings()).toEqual(this.allocator.holdings());
  }
}

// ---- ports ----

describe('ingress published ports', () => {
  test('a port left at 0 gets the lowest free port of the range; explicit and host-mode ports stay as given', () => {
    const bed = new Bed();
    bed.commit(
      serviceCreated('s1', serviceSpec('web', { ports: [ingressPort(80), ingressPort(443, 8443), hostPort(22, 2222)] })),
      serviceCreated('s2', serviceSpec('api', { ports: [ingressPort(80), ingressPort(53, 0, 'udp')] })),
      serviceCreated('s3', serviceSpec('plain')),
    );
    const plan = bed.allocate();
    expect(plan.services.map((s) => s.service.id)).toEqual(['s1', 's2', 's3']);
    expect(bed.service('s1').endpoint?.ports.map((p) => `${p.publishMode}:${p.publishedPort}/${p.protocol}`)).toEqual(['ingress:30000/tcp', 'ingress:8443/tcp', 'host:2222/tcp']);
    // Protocols are counted apart: udp starts at 30000 as well.
    expect(bed.service('s2').endpoint?.ports.map((p) => `${p.publishedPort}/${p.protocol}`)).toEqual(['30001/tcp', '30000/udp']);
    expect(bed.service('s3').endpoint).toEqual({ ports: [], virtualIps: [] });
    // Nothing more to do: the endpoints fit their specs.
    expect(bed.allocate()).toEqual({ services: [], tasks: [] });
    bed.expectRebuildAgrees();
  });

  test('a published port held by another service is refused (per protocol) and given once it is freed', () => {
    const bed = new Bed();
    bed.commit(serviceCreated('abc123', serviceSpec('web', { ports: [ingressPort(80, 8080)] })));
    bed.allocate();
    bed.commit(
      serviceCreated('def456', serviceSpec('other', { ports: [ingressPort(80, 8080)] })),
      serviceCreated('ghi789', serviceSpec('dns', { ports: [ingressPort(53, 8080, 'udp')] })),
    );
    bed.allocate();
    expect(bed.service('def456').endpoint).toBeNull();
    expect(bed.allocator.pendingServices().get('def456')).toBe('published port 8080/tcp is already in use by service web (abc123)');
    expect(bed.service('ghi789').endpoint?.ports[0]?.publishedPort).toBe(8080);
    // Still taken: another plan changes nothing.
    expect(bed.allocate().services).toEqual([]);
    bed.commit(serviceRemoved('abc123'));
    bed.allocate();
    expect(bed.service('def456').endpoint?.ports[0]?.publishedPort).toBe(8080);
    expect(bed.allocator.pendingServices().size).toBe(0);
    bed.expectRebuildAgrees();
  });

  test('ports of a removed service are free again, lowest first', () => {
    const bed = new Bed();
    bed.commit(serviceCreated('s1', serviceSpec('a', { ports: [ingressPort(80)] })), serviceCreated('s2', serviceSpec('b', { ports: [ingressPort(80)] })));
    bed.allocate();
    bed.commit(serviceRemoved('s1'));
    bed.commit(serviceCreated('s3', serviceSpec('c', { ports: [ingressPort(80), ingressPort(81)] })));
    bed.allocate();
    expect(bed.service('s3').endpoint?.ports.map((p) => p.publishedPort)).toEqual([30000, 30002]);
    bed.expectRebuildAgrees();
  });

  test('an update keeps the ports already given to unchanged port configs and frees those it drops', () => {
    const bed = new Bed();
    bed.commit(serviceCreated('s1', serviceSpec('a', { ports: [ingressPort(80, 0, 'tcp', 'http'), ingressPort(81, 0, 'tcp', 'admin')] })));
    bed.allocate();
    expect(bed.service('s1').endpoint?.ports.map((p) => p.publishedPort)).toEqual([30000, 30001]);
    bed.commit(serviceUpdated('s1', serviceSpec('a', { ports: [ingressPort(82), ingressPort(81, 0, 'tcp', 'admin')] })));
    bed.allocate();
    // admin keeps 30001; the new port gets the lowest port free while the old endpoint still held
    // its own (all or nothing), and the dropped http port's 30000 is freed after.
    expect(bed.service('s1').endpoint?.ports.map((p) => p.publishedPort)).toEqual([30002, 30001]);
    expect(bed.service('s1').endpoint?.ports[0]?.targetPort).toBe(82);
    expect(bed.allocator.holdings().ports).toEqual({ '30001/tcp': 's1', '30002/tcp': 's1' });
    bed.commit(serviceUpdated('s1', serviceSpec('a', { ports: [ingressPort(81, 0, 'tcp', 'admin')] })), serviceCreated('s2', serviceSpec('b', { ports: [ingressPort(80)] })));
    bed.allocate();
    expect(bed.allocator.holdings().ports).toEqual({ '30000/tcp': 's2', '30001/tcp': 's1' });
    bed.expectRebuildAgrees();
  });

  test('an exhausted range is named, and the waiting service gets a port once one is freed', () => {
    const bed = new Bed({ ingressPorts: { min: 30000, max: 30001 } });
    bed.commit(
      serviceCreated('s1', serviceSpec('a', { ports: [ingressPort(80)] })),
      serviceCreated('s2', serviceSpec('b', { ports: [ingressPort(80)] })),
      serviceCreated('s3', serviceSpec('c', { ports: [ingressPort(80)] })),
    );
    bed.allocate();
    expect(bed.service('s3').endpoint).toBeNull();
    expect(bed.allocator.pendingServices().get('s3')).toBe('ingress port range 30000-30001 exhausted (tcp) for service c (s3)');
    bed.commit(serviceRemoved('s1'));
    bed.allocate();
    expect(bed.service('s3').endpoint?.ports[0]?.publishedPort).toBe(30000);
    bed.expectRebuildAgrees();
  });

  test('publishedPortConflicts names the port and the service holding it, from specs and allocated endpoints', () => {
    const bed = new Bed();
    bed.commit(
      serviceCreated('abc123', serviceSpec('web', { ports: [ingressPort(80, 8080)] })),
      serviceCreated('def456', serviceSpec('dyn', { ports: [ingressPort(80)] })),
      serviceCreated('ghi789', serviceSpec('hosted', { ports: [hostPort(22, 2222)] })),
    );
    bed.allocate();
    const conflicts = (ports: PortConfig[], self: string | null = null): string | null => publishedPortConflicts(bed.store, ports, self);
    expect(conflicts([ingressPort(81, 8080)])).toBe('published port 8080/tcp is already in use by service web (abc123)');
    // The port given to a 0 is in the allocated endpoint only.
    expect(conflicts([ingressPort(81, 30000)])).toBe('published port 30000/tcp is already in use by service dyn (def456)');
    expect(conflicts([ingressPort(81, 8080, 'udp')])).toBeNull();
    expect(conflicts([ingressPort(81, 8080)], 'abc123')).toBeNull();
    // A host-mode port conflicts with an ingress one, not with another host-mode one.
    expect(conflicts([hostPort(81, 8080)])).toBe('published port 8080/tcp is already in use by service web (abc123)');
    expect(conflicts([hostPort(23, 2222)])).toBeNull();
    expect(conflicts([ingressPort(23, 2222)])).toBe('published port 2222/tcp is already in use by service hosted (ghi789)');
    expect(conflicts([ingressPort(1, 9000), ingressPort(2, 9000)])).toBe('published port 9000/tcp is given twice');
    expect(conflicts([ingressPort(1)])).toBeNull();
  });
});

// ---- IPAM ----

describe('IPAM', () => {
  test('addresses go out lowest first, skipping the network address, the gateway and the broadcast', () => {
    const bed = new Bed();
    bed.commit(
      networkCreated('n1', networkSpec('front', { subnet: '10.0.9.0/29' })),
      networkCreated('n2', networkSpec('back', { subnet: '10.0.8.0/29', gateway: '10.0.8.3' })),
      serviceCreated('s1', serviceSpec('web', { networks: ['n1', 'n2'] })),
    );
    for (const t of ['t1', 't2', 't3']) bed.commit(taskCreated(t, 's1', taskSpec(['n1', 'n2'])));
    bed.allocate();
    expect(bed.service('s1').endpoint?.virtualIps).toEqual([{ networkId: 'n1', addr: '10.0.9.2/29' }, { networkId: 'n2', addr: '10.0.8.1/29' }]);
    expect(bed.addrs('t1')).toEqual(['n1=10.0.9.3/29', 'n2=10.0.8.2/29']);
    expect(bed.addrs('t2')).toEqual(['n1=10.0.9.4/29', 'n2=10.0.8.4/29']);
    expect(bed.addrs('t3')).toEqual(['n1=10.0.9.5/29', 'n2=10.0.8.5/29']);
    for (const t of ['t1', 't2', 't3']) expect(bed.task(t).status).toMatchObject({ state: 'pending', message: 'allocated', err: '' });
    bed.expectRebuildAgrees();
  });

  test('an exhausted network is named; the task waits, new, and gets the address a finished task frees', () => {
    const bed = new Bed();
    // A /29 has five host addresses after the gateway: one VIP and four tasks.
    bed.commit(networkCreated('n1', networkSpec('front', { subnet: '10.0.3.0/29' })), serviceCreated('s1', serviceSpec('web', { networks: ['n1'] })));
    for (let i = 1; i <= 5; i++) bed.commit(taskCreated(`t${i}`, 's1', taskSpec(['n1']), i));
    const plan = bed.allocate();
    expect(plan.tasks.map((t) => t.task.id)).toEqual(['t1', 't2', 't3', 't4']);
    expect(bed.task('t5').status.state).toBe('new');
    expect(bed.task('t5').addresses).toEqual([]);
    expect(bed.allocator.pendingTasks().get('t5')).toBe('no free address in network front (10.0.3.0/29)');
    expect(bed.allocate().tasks).toEqual([]);
    // Desired shutdown alone frees nothing: the task may still run.
    bed.commit({ type: 'task.desiredStateChanged', v: 1, at, id: 't2', desiredState: 'shutdown', expectedVersion: null });
    expect(bed.allocate().tasks).toEqual([]);
    bed.commit(...taskEnded('t2').slice(1));
    bed.allocate();
    expect(bed.addrs('t5')).toEqual(['n1=10.0.3.4/29']);
    expect(bed.allocator.pendingTasks().size).toBe(0);
    // A removed task frees its address too.
    bed.commit(taskRemoved('t3'), taskCreated('t6', 's1', taskSpec(['n1']), 6));
    bed.allocate();
    expect(bed.addrs('t6')).toEqual(['n1=10.0.3.5/29']);
    bed.expectRebuildAgrees();
  });

  test('a failed task whose desired state is still running keeps its address until it is shut down', () => {
    const bed = new Bed();
    bed.commit(networkCreated('n1', networkSpec('front', { subnet: '10.0.3.0/29' })), serviceCreated('s1', serviceSpec('web', { networks: ['n1'] })));
    bed.commit(taskCreated('t1', 's1', taskSpec(['n1'])));
    bed.allocate();
    bed.commit({ type: 'task.statusChanged', v: 1, at, id: 't1', status: { state: 'failed', message: 'exit 1', timestamp: at, err: 'exit 1' }, expectedVersion: null });
    expect(bed.allocator.holdings().tasks).toEqual({ t1: [{ networkId: 'n1', addr: '10.0.3.3/29' }] });
    bed.commit({ type: 'task.desiredStateChanged', v: 1, at, id: 't1', desiredState: 'shutdown', expectedVersion: null });
    expect(bed.allocator.holdings().tasks).toEqual({});
    bed.expectRebuildAgrees();
  });

  test('networks declaring no subnet get /24s of 10.0.0.0/8 in order, skipping declared subnets, given back with their last address', () => {
    const bed = new Bed();
    bed.commit(
      networkCreated('na', networkSpec('declared', { subnet: '10.0.1.0/24' })),
      networkCreated('nb', networkSpec('b')),
      networkCreated('nc', networkSpec('c')),
      networkCreated('nd', networkSpec('d')),
      // Created in the order the VIPs are wanted: c before b.
      serviceCreated('s1', serviceSpec('one', { networks: ['nc'] })),
      serviceCreated('s2', serviceSpec('two', { networks: ['nb'] })),
    );
    bed.allocate();
    expect(bed.service('s1').endpoint?.virtualIps).toEqual([{ networkId: 'nc', addr: '10.0.0.2/24' }]);
    expect(bed.service('s2').endpoint?.virtualIps).toEqual([{ networkId: 'nb', addr: '10.0.2.2/24' }]);
    const subnets = (): Record<string, readonly string[]> => Object.fromEntries(Object.entries(bed.allocator.holdings().networks).map(([id, n]) => [id, n.subnets]));
    expect(subnets()).toEqual({ na: ['10.0.1.0/24'], nb: ['10.0.2.0/24'], nc: ['10.0.0.0/24'], nd: [] });
    bed.expectRebuildAgrees();
    // s1 goes: nc's last address with it, and its subnet; the next network carved takes it.
    bed.commit(serviceRemoved('s1'), serviceCreated('s3', serviceSpec('three', { networks: ['nd'] })));
    bed.allocate();
    expect(subnets()).toEqual({ na: ['10.0.1.0/24'], nb: ['10.0.2.0/24'], nc: [], nd: ['10.0.0.0/24'] });
    expect(bed.service('s3').endpoint?.virtualIps).toEqual([{ networkId: 'nd', addr: '10.0.0.2/24' }]);
    bed.expectRebuildAgrees();
  });

  test('the default pool, when full, is named', () => {
    const bed = new Bed({ defaultPool: '10.0.0.0/23', defaultSubnetPrefix: 24 });
    bed.commit(
      networkCreated('na', networkSpec('a', { subnet: '10.0.0.0/25' })),
      networkCreated('nb', networkSpec('b')),
      networkCreated('nc', networkSpec('c')),
      serviceCreated('s1', serviceSpec('one', { networks: ['nb', 'nc'] })),
    );
    bed.allocate();
    expect(bed.allocator.pendingServices().get('s1')).toBe('default address pool 10.0.0.0/23 has no free /24 for network c');
    // All or nothing: nb's VIP was given back, and its subnet with it.
    expect(bed.allocator.holdings().networks.nb).toEqual({ subnets: [], addresses: [] });
  });

  test('a network declaring an unusable subnet is named when something wants it', () => {
    const bed = new Bed();
    bed.commit(networkCreated('n1', networkSpec('bad', { subnet: '10.0.0.0/31' })), networkCreated('n2', networkSpec('gw', { subnet: '10.0.0.0/24', gateway: '10.0.1.1' })));
    bed.commit(serviceCreated('s1', serviceSpec('one', { networks: ['n1'] })), serviceCreated('s2', serviceSpec('two', { networks: ['n2'] })), serviceCreated('s3', serviceSpec('three', { networks: ['nx'] })));
    bed.allocate();
    expect(bed.allocator.pendingServices().get('s1')).toBe("network bad declares subnet '10.0.0.0/31', not an IPv4 CIDR from /8 to /30");
    expect(bed.allocator.pendingServices().get('s2')).toBe("network gw declares gateway '10.0.1.1', not a host address of 10.0.0.0/24");
    expect(bed.allocator.pendingServices().get('s3')).toBe('network nx does not exist');
    // Tasks of a service waiting for its endpoint wait too, and say so.
    bed.commit(taskCreated('t1', 's3', taskSpec(['nx'])));
    bed.allocate();
    expect(bed.allocator.pendingTasks().get('t1')).toBe('waiting for the endpoint of service three (s3): network nx does not exist');
    // The network appears: the service, then its task, are allocated.
    bed.commit(networkCreated('nx', networkSpec('late', { subnet: '10.9.0.0/24' })));
    bed.allocate();
    bed.allocate();
    expect(bed.service('s3').endpoint?.virtualIps).toEqual([{ networkId: 'nx', addr: '10.9.0.2/24' }]);
    expect(bed.addrs('t1')).toEqual(['nx=10.9.0.3/24']);
  });

  test('AllocationFailedError carries a stable code and the problem', () => {
    const bed = new Bed({ ingressPorts: { min: 30000, max: 30000 } });
    bed.commit(serviceCreated('s1', serviceSpec('a', { ports: [ingressPort(80), ingressPort(81)] })));
    const error = new AllocationFailedError('portsExhausted', 'x');
    expect(error.toWire()).toEqual({ code: 'ALLOCATION_FAILED', message: 'x' });
    bed.allocate();
    // All or nothing: the first port's 30000 went back when the second found none.
    expect(bed.allocator.holdings().ports).toEqual({});
    expect(bed.allocator.pendingServices().get('s1')).toMatch(/^ingress port range 30000-30000 exhausted/);
  });
});

// ---- virtual IPs ----

describe('virtual IPs', () => {
  test('one per network of the task spec, plus ingress for a service with ingress ports; its tasks get an address on each', () => {
    const bed = new Bed();
    bed.commit(
      networkCreated('ingress', networkSpec('ingress', { subnet: '10.255.0.0/16', ingress: true })),
      networkCreated('n1', networkSpec('front', { subnet: '10.1.0.0/24' })),
      networkCreated('n2', networkSpec('back', { subnet: '10.2.0.0/24' })),
      serviceCreated('s1', serviceSpec('web', { networks: ['n1', 'n2'], ports: [ingressPort(80)] })),
      serviceCreated('s2', serviceSpec('db', { networks: ['n2'], ports: [hostPort(5432, 5432)] })),
    );
    bed.commit(taskCreated('t1', 's1', taskSpec(['n1', 'n2'])), taskCreated('t2', 's2', taskSpec(['n2'])));
    const plan = bed.allocate();
    // Services first, then tasks, each in id order.
    expect(plan.services.map((s) => s.service.id)).toEqual(['s1', 's2']);
    expect(plan.tasks.map((t) => t.task.id)).toEqual(['t1', 't2']);
    expect(bed.service('s1').endpoint?.virtualIps).toEqual([
      { networkId: 'n1', addr: '10.1.0.2/24' }, { networkId: 'n2', addr: '10.2.0.2/24' }, { networkId: 'ingress', addr: '10.255.0.2/16' },
    ]);
    expect(bed.service('s2').endpoint?.virtualIps).toEqual([{ networkId: 'n2', addr: '10.2.0.3/24' }]);
    expect(bed.addrs('t1')).toEqual(['n1=10.1.0.3/24', 'n2=10.2.0.4/24', 'ingress=10.255.0.3/16']);
    expect(bed.addrs('t2')).toEqual(['n2=10.2.0.5/24']);
    bed.expectRebuildAgrees();
  });

  test('a service update moves its VIPs: kept where still wanted, new ones allocated, dropped ones freed', () => {
    const bed = new Bed();
    bed.commit(
      networkCreated('n1', networkSpec('front', { subnet: '10.1.0.0/24' })),
      networkCreated('n2', networkSpec('back', { subnet: '10.2.0.0/24' })),
      networkCreated('n3', networkSpec('mid', { subnet: '10.3.0.0/24' })),
      serviceCreated('s1', serviceSpec('web', { networks: ['n1', 'n2'] })),
    );
    bed.allocate();
    bed.commit(serviceUpdated('s1', serviceSpec('web', { networks: ['n2', 'n3'] })));
    bed.allocate();
    expect(bed.service('s1').endpoint?.virtualIps).toEqual([{ networkId: 'n2', addr: '10.2.0.2/24' }, { networkId: 'n3', addr: '10.3.0.2/24' }]);
    expect(bed.allocator.holdings().networks.n1?.addresses).toEqual([]);
    bed.expectRebuildAgrees();
  });

  test('an ingress network created later gives services with ingress ports their ingress VIP', () => {
    const bed = new Bed();
    bed.commit(serviceCreated('s1', serviceSpec('web', { ports: [ingressPort(80)] })));
    bed.allocate();
    expect(bed.service('s1').endpoint?.virtualIps).toEqual([]);
    bed.commit(networkCreated('ing', networkSpec('ingress', { subnet: '10.255.0.0/16', ingress: true })));
    bed.allocate();
    expect(bed.service('s1').endpoint).toEqual({ ports: [{ ...ingressPort(80), publishedPort: 30000 }], virtualIps: [{ networkId: 'ing', addr: '10.255.0.2/16' }] });
    bed.expectRebuildAgrees();
  });
});

// ---- determinism and rebuild ----

const NETWORKS = ['na', 'nb', 'ni'] as const;
type Op =
  | { readonly kind: 'service'; readonly n: number; readonly networks: readonly string[]; readonly ports: readonly PortConfig[] }
  | { readonly kind: 'tasks'; readonly n: number; readonly count: number }
  | { readonly kind: 'end'; readonly n: number; readonly state: TaskState }
  | { readonly kind: 'removeTask'; readonly n: number }
  | { readonly kind: 'removeService'; readonly n: number }
  | { readonly kind: 'allocate' };

const portArb = fc.record({
  name: fc.constant(''),
  protocol: fc.constantFrom('tcp' as const, 'udp' as const),
  targetPort: fc.constantFrom(80, 443),
  publishedPort: fc.constantFrom(0, 0, 8080, 30001),
  publishMode: fc.constantFrom('ingress' as const, 'ingress' as const, 'host' as const),
});
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('service' as const), n: fc.nat(5), networks: fc.subarray([...NETWORKS]), ports: fc.array(portArb, { maxLength: 2 }) }),
  fc.record({ kind: fc.constant('tasks' as const), n: fc.nat(5), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('tasks' as const), n: fc.nat(5), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('end' as const), n: fc.nat(60), state: fc.constantFrom<TaskState>('complete', 'shutdown', 'failed') }),
  fc.record({ kind: fc.constant('removeTask' as const), n: fc.nat(60) }),
  fc.record({ kind: fc.constant('removeService' as const), n: fc.nat(5) }).filter((op) => op.n < 2),
  fc.constant({ kind: 'allocate' as const }),
  fc.constant({ kind: 'allocate' as const }),
);

/** Runs a history (creating or updating services, adding, ending and removing tasks, planning) on a fresh bed. */
function run(ops: readonly Op[], check: boolean): Bed {
  // Small pools, so that ports and addresses run out and are freed often.
  const bed = new Bed({ ingressPorts: { min: 30000, max: 30002 }, defaultSubnetPrefix: 29 });
  bed.commit(
    networkCreated('na', networkSpec('a', { subnet: '10.0.0.0/29' })),
    networkCreated('nb', networkSpec('b')),
    networkCreated('ni', networkSpec('ingress', { subnet: '10.255.0.0/29', ingress: true })),
  );
  let taskSeq = 0;
  for (const op of ops) {
    const services = bed.store.list('service');
    const tasks = bed.store.list('task');
    switch (op.kind) {
      case 'service': {
        const id = `s${op.n}`;
        const spec = serviceSpec(`svc${op.n}`, { networks: op.networks, ports: op.ports });
        bed.commit(bed.store.get('service', id) === undefined ? serviceCreated(id, spec) : serviceUpdated(id, spec));
        break;
      }
      case 'tasks': {
        const service = services[op.n % Math.max(1, services.length)];
        if (service === undefined) break;
        for (let i = 0; i < op.count; i++) bed.commit(taskCreated(`t${String(++taskSeq).padStart(3, '0')}`, service.id, service.spec.task, taskSeq));
        break;
      }
      case 'end': {
        const task = tasks[op.n % Math.max(1, tasks.length)];
        if (task === undefined || TASK_STATE_ORDER[task.status.state] >= TASK_STATE_ORDER.complete) break;
        bed.commit(...taskEnded(task.id, op.state));
        break;
      }
      case 'removeTask': {
        const task = tasks[op.n % Math.max(1, tasks.length)];
        if (task !== undefined) bed.commit(taskRemoved(task.id));
        break;
      }
      case 'removeService': {
        const service = services[op.n % Math.max(1, services.length)];
        if (service !== undefined) bed.commit(serviceRemoved(service.id));
        break;
      }
      case 'allocate': {
        // Planned until it has nothing left to do (as the actor does), nothing that could be
        // allocated is left waiting: an allocator built afresh from the store finds nothing either.
        for (let i = 0; bed.allocator.hasWork(); i++) {
          expect(i).toBeLessThan(20);
          bed.allocate();
        }
        expect(Allocator.fromStore(bed.store, bed.options).allocate(bed.store)).toEqual({ services: [], tasks: [] });
        break;
      }
    }
    if (check) {
      bed.expectRebuildAgrees();
      checkStore(bed);
    }
  }
  bed.allocate();
  return bed;
}

/** What the journal holds, checked: no address or ingress port held twice, every allocated task on its networks. */
function checkStore(bed: Bed): void {
  const addresses = new Map<string, string>();
  const hold = (key: string, holder: string): void => {
    expect(`${key} held by ${addresses.get(key) ?? holder}`).toBe(`${key} held by ${holder}`);
    addresses.set(key, holder);
  };
  const ports = new Map<string, string>();
  for (const s of bed.store.list('service')) {
    for (const v of s.endpoint?.virtualIps ?? []) hold(`${v.networkId}=${v.addr}`, s.id);
    for (const p of s.endpoint?.ports ?? []) {
      if (p.publishMode !== 'ingress') continue;
      const key = `${p.publishedPort}/${p.protocol}`;
      expect(`${key} held by ${ports.get(key) ?? s.id}`).toBe(`${key} held by ${s.id}`);
      ports.set(key, s.id);
    }
  }
  for (const t of bed.store.list('task')) {
    const released = TASK_STATE_ORDER[t.status.state] >= TASK_STATE_ORDER.complete && (t.desiredState === 'shutdown' || t.desiredState === 'remove');
    if (released) continue;
    for (const a of t.addresses) hold(`${a.networkId}=${a.addr}`, t.id);
    // An address on each of its networks, and perhaps ingress (when its service had an ingress VIP then).
    if (t.status.state === 'pending') {
      const networks = t.addresses.map((a) => a.networkId);
      expect(networks.slice(0, t.spec.networks.length)).toEqual(t.spec.networks);
      expect(networks.slice(t.spec.networks.length).filter((n) => n !== 'ni')).toEqual([]);
    }
  }
}

describe('determinism and rebuild', () => {
  test('two allocators over one history agree; the one rebuilt from the store holds what the incremental one holds', () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 20, maxLength: 60 }), (ops) => {
      const first = run(ops, true);
      const second = run(ops, false);
      expect(second.store.list('service')).toEqual(first.store.list('service'));
      expect(second.store.list('task')).toEqual(first.store.list('task'));
      expect(second.allocator.holdings()).toEqual(first.allocator.holdings());
      first.expectRebuildAgrees();
      checkStore(first);
    }), { numRuns: 100 });
  });
});

// ---- the actor ----

interface Proposal {
  readonly type: 'writer.propose';
  readonly token: string;
  readonly events: readonly JournalEvent[];
  readonly replyTo: Address;
}

/** An actor system on a virtual clock, a store, and a writer that applies proposals and feeds commits to the allocator. */
function cluster(options: { refuseFirst?: number; dropFirst?: number; actor?: Partial<AllocatorActorOptions> } = {}) {
  const bench = new Bench();
  const system = bench.system('m1');
  const store = new Store();
  const proposals: Proposal[] = [];
  let allocator: Address | undefined;
  let refuse = options.refuseFirst ?? 0;
  let drop = options.dropFirst ?? 0;
  const feed = (index: number, events: readonly JournalEvent[]): void => {
    if (allocator !== undefined) system.send(allocator, { type: 'manager.committed', index, events, restored: false } satisfies AllocatorInput);
  };
  const commit = (...events: JournalEvent[]): void => {
    const index = store.index + 1;
    const result = store.applyBatch(events, index);
    if (!result.applied) throw result.error;
    feed(index, events);
  };
  const writer = system.spawn('writer', plain('writer', (m: Proposal, ctx) => {
    proposals.push(m);
    if (drop > 0) {
      drop--;
      return;
    }
    const index = store.index + 1;
    if (refuse > 0) {
      refuse--;
      store.applyBatch([], index);
      ctx.send(m.replyTo, { type: 'writer.done', token: m.token, ok: false, index, error: { code: 'ENTRY_LOST', message: 'another leader wrote this log slot' } } satisfies AllocatorInput);
      return;
    }
    const result = store.applyBatch(m.events, index);
    ctx.send(m.replyTo, {
      type: 'writer.done', token: m.token, ok: result.applied, index, error: result.applied ? null : { code: result.error.code, message: result.error.message },
    } satisfies AllocatorInput);
    if (result.applied) feed(index, m.events);
  }));
  const start = (): Address => (allocator = system.spawn('allocator', allocatorActor({ view: () => store, writer, ...options.actor })));
  const state = (): { pendingTasks: Record<string, string>; lastError: unknown } => system.info(allocator!)!.state as { pendingTasks: Record<string, string>; lastError: unknown };
  return { bench, system, store, proposals, commit, start, state };
}

function expectAllocated(store: Store, taskIds: readonly string[]): void {
  const seen = new Set<string>();
  for (const id of taskIds) {
    const task = store.get('task', id)!;
    expect(task.status).toMatchObject({ state: 'pending', message: 'allocated', err: '' });
    for (const a of task.addresses) {
      expect(seen.has(`${a.networkId}=${a.addr}`)).toBe(false);
      seen.add(`${a.networkId}=${a.addr}`);
    }
  }
}

describe('allocator actor', () => {
  test('a service created with 3 tasks ends with its endpoint, and every task pending with distinct addresses, in one proposal', async () => {
    const c = cluster();
    c.commit(
      networkCreated('ing', networkSpec('ingress', { subnet: '10.255.0.0/16', ingress: true })),
      networkCreated('n1', networkSpec('front', { subnet: '10.1.0.0/24' })),
    );
    c.start();
    await c.bench.settle();
    expect(c.proposals).toHaveLength(0);
    const spec = serviceSpec('web', { networks: ['n1'], ports: [ingressPort(80)] });
    c.commit(serviceCreated('s1', spec), taskCreated('t1', 's1', spec.task, 1), taskCreated('t2', 's1', spec.task, 2), taskCreated('t3', 's1', spec.task, 3));
    await c.bench.settle();
    expect(c.store.get('service', 's1')!.endpoint).toEqual({
      ports: [{ ...ingressPort(80), publishedPort: 30000 }],
      virtualIps: [{ networkId: 'n1', addr: '10.1.0.2/24' }, { networkId: 'ing', addr: '10.255.0.2/16' }],
    });
    expectAllocated(c.store, ['t1', 't2', 't3']);
    expect(c.store.get('task', 't3')!.addresses).toEqual([{ networkId: 'n1', addr: '10.1.0.5/24' }, { networkId: 'ing', addr: '10.255.0.5/16' }]);
    expect(c.proposals).toHaveLength(1);
    expect(c.proposals[0]!.events.map((e) => e.type)).toEqual(['service.endpointAllocated', 'task.allocated', 'task.allocated', 'task.allocated']);
    // The clock's time is in the events and the status.
    expect(c.store.get('task', 't1')!.status.timestamp).toBe(c.proposals[0]!.events[0]!.at);
  });

  test('on start it allocates what the store holds unallocated (a new leader), and nothing twice', async () => {
    const c = cluster();
    const spec = serviceSpec('web', { networks: ['n1'] });
    c.commit(networkCreated('n1', networkSpec('front')), serviceCreated('s1', spec), taskCreated('t1', 's1', spec.task, 1), taskCreated('t2', 's1', spec.task, 2));
    const first = c.start();
    await c.bench.settle();
    expectAllocated(c.store, ['t1', 't2']);
    expect(c.store.get('task', 't1')!.addresses).toEqual([{ networkId: 'n1', addr: '10.0.0.3/24' }]);
    expect(c.proposals).toHaveLength(1);
    // Another allocator (the next leader) finds nothing to do.
    c.system.stop(first);
    await c.bench.settle();
    c.start();
    await c.bench.settle();
    expect(c.proposals).toHaveLength(1);
  });

  test('a proposal that did not apply is planned again from the rebuilt store', async () => {
    const c = cluster({ refuseFirst: 2 });
    const spec = serviceSpec('web', { networks: ['n1'] });
    c.commit(networkCreated('n1', networkSpec('front', { subnet: '10.1.0.0/24' })), serviceCreated('s1', spec), taskCreated('t1', 's1', spec.task));
    c.start();
    await c.bench.settle();
    expect(c.proposals).toHaveLength(3);
    // The same allocation each time: the refused one's holdings were dropped with the rebuild.
    const summary = (p: Proposal): string[] => p.events.map((e) =>
      e.type === 'task.allocated' ? `${e.id} ${e.addresses.map((a) => a.addr).join(',')} v${e.expectedVersion}`
        : e.type === 'service.endpointAllocated' ? `${e.id} ${e.endpoint.virtualIps.map((v) => v.addr).join(',')} v${e.expectedVersion}` : e.type);
    expect(c.proposals.map(summary)).toEqual(Array(3).fill(['s1 10.1.0.2/24 v1', 't1 10.1.0.3/24 v1']));
    expectAllocated(c.store, ['t1']);
    expect(c.store.get('task', 't1')!.addresses).toEqual([{ networkId: 'n1', addr: '10.1.0.3/24' }]);
    expect(c.state().lastError).toEqual({ code: 'ENTRY_LOST', message: 'another leader wrote this log slot' });
  });

  test('one proposal in flight: what comes meanwhile waits; an unanswered one fails after proposalTimeoutMs and all is planned again in one', async () => {
    const c = cluster({ dropFirst: 1, actor: { proposalTimeoutMs: 1_000 } });
    const spec = serviceSpec('web');
    c.commit(serviceCreated('s1', spec), taskCreated('t1', 's1', spec.task));
    c.start();
    await c.bench.advance(500);
    c.commit(taskCreated('t2', 's1', spec.task, 2));
    await c.bench.advance(499);
    expect(c.proposals).toHaveLength(1);
    await c.bench.settle();
    expect(c.proposals.map((p) => p.events.map((e) => (e as { id: string }).id))).toEqual([['s1', 't1'], ['s1', 't1', 't2']]);
    expectAllocated(c.store, ['t1', 't2']);
    expect(c.state().lastError).toMatchObject({ code: 'PROPOSAL_TIMEOUT' });
  });

  test('many allocations go in proposals of at most proposalEventsMax events', async () => {
    const c = cluster({ actor: { proposalEventsMax: 2 } });
    const spec = serviceSpec('web', { networks: ['n1'] });
    c.commit(networkCreated('n1', networkSpec('front', { subnet: '10.1.0.0/24' })), serviceCreated('s1', spec));
    c.commit(...[1, 2, 3, 4, 5].map((i) => taskCreated(`t${i}`, 's1', spec.task, i)));
    c.start();
    await c.bench.settle();
    expect(c.proposals.map((p) => p.events.length)).toEqual([2, 2, 2]);
    expectAllocated(c.store, ['t1', 't2', 't3', 't4', 't5']);
    expect(c.store.get('task', 't5')!.addresses).toEqual([{ networkId: 'n1', addr: '10.1.0.7/24' }]);
  });

  test('a task that cannot be allocated stays new with its reason, and is allocated once an address is freed', async () => {
    const c = cluster();
    const spec = serviceSpec('web', { networks: ['n1'] });
    c.commit(networkCreated('n1', networkSpec('front', { subnet: '10.0.3.0/29' })), serviceCreated('s1', spec));
    for (let i = 1; i <= 5; i++) c.commit(taskCreated(`t${i}`, 's1', spec.task, i));
    c.start();
    await c.bench.settle();
    expectAllocated(c.store, ['t1', 't2', 't3', 't4']);
    expect(c.store.get('task', 't5')!.status.state).toBe('new');
    expect(c.state().pendingTasks).toEqual({ t5: 'no free address in network front (10.0.3.0/29)' });
    c.commit(...taskEnded('t1'));
    await c.bench.settle();
    expectAllocated(c.store, ['t2', 't3', 't4', 't5']);
    expect(c.store.get('task', 't5')!.addresses).toEqual([{ networkId: 'n1', addr: '10.0.3.3/29' }]);
    expect(c.state().pendingTasks).toEqual({});
  });
});

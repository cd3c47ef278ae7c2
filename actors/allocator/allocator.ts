// The allocator's pure core (DESIGN.md section 6, step 2): what each service and task holds of the
// cluster's shared resources (ingress published ports, virtual IPs, network addresses), rebuilt
// from the store and kept current by committed events, and what to allocate next. It reads no
// clock and writes nothing: the allocator actor turns its plans into events and proposes them.
//
// What is held, and until when: a service's endpoint (ingress ports, a VIP per network of its task
// spec and on ingress when it publishes ingress ports) until it is removed or an update no longer
// wants a part of it; a task's addresses (one per network of its spec, and on ingress when its
// service has a VIP there: the routing mesh's backends) until it is removed, or has ended with
// desired state shutdown or remove. A task is allocated once its service's endpoint is.
//
// Holdings are taken when a plan is made (so that one plan, and the next one made while the first
// is in flight, never hand out the same port or address twice) and confirmed by the committed
// event, which is then a no-op. A plan that does not commit leaves holdings the journal does not
// have: the actor rebuilds the core from the store then. Services and networks are iterated in id
// order, tasks in the order they were queued: one history gives one set of allocations.
import {
  TASK_STATE_ORDER,
  type DesiredState, type JournalEvent, type NetworkAddress, type PortConfig, type Service,
  type ServiceEndpoint, type ServiceSpec, type StoreReader, type Task, type TaskState, type VirtualIp,
} from '../../journal/index.js';
import { assertNever } from '../../runtime/index.js';
import { AllocationFailedError } from './errors.js';
import { Ipam, type IpamOptions, type NetworkHoldings } from './ipam.js';
import { INGRESS_PORT_MAX, INGRESS_PORT_MIN, IngressPorts, portKey, type PortRange, type Protocol } from './ports.js';

export interface AllocatorOptions extends IpamOptions {
  /** Where ports left at 0 are taken from. Default 30000-32767. */
  readonly ingressPorts?: PortRange;
}

export interface ServiceAllocation {
  /** The service as read when the plan was made (its meta.version is the event's expectedVersion). */
  readonly service: Service;
  readonly endpoint: ServiceEndpoint;
}

export interface TaskAllocation {
  readonly task: Task;
  readonly addresses: readonly NetworkAddress[];
}

/** What to propose: service endpoints first, then task addresses, each in id order. */
export interface AllocationPlan {
  readonly services: readonly ServiceAllocation[];
  readonly tasks: readonly TaskAllocation[];
}

/** Everything held, in a canonical order: for tests (rebuilt equals incremental) and inspection. */
export interface AllocatorHoldings {
  /** `port/protocol` -> service id. */
  readonly ports: Readonly<Record<string, string>>;
  readonly networks: Readonly<Record<string, NetworkHoldings>>;
  readonly endpoints: Readonly<Record<string, ServiceEndpoint>>;
  readonly tasks: Readonly<Record<string, readonly NetworkAddress[]>>;
}

interface TaskHolding {
  state: TaskState;
  desired: DesiredState;
  addresses: readonly NetworkAddress[];
  /** Addresses planned here and not committed yet (the store still shows the task new). */
  planned: boolean;
}

const TERMINAL_RANK = TASK_STATE_ORDER.complete;

function isStopping(desired: DesiredState): boolean {
  return desired === 'shutdown' || desired === 'remove';
}

/** A task's addresses go back once it has ended and is not to run again. */
function isReleasable(state: TaskState, desired: DesiredState): boolean {
  return TASK_STATE_ORDER[state] >= TERMINAL_RANK && isStopping(desired);
}

function sortedIds(ids: Iterable<string>): string[] {
  return [...ids].sort();
}

function samePort(a: PortConfig, b: PortConfig): boolean {
  return a.name === b.name && a.protocol === b.protocol && a.targetPort === b.targetPort && a.publishedPort === b.publishedPort && a.publishMode === b.publishMode;
}

function sameEndpoint(a: ServiceEndpoint, b: ServiceEndpoint): boolean {
  return a.ports.length === b.ports.length && a.ports.every((p, i) => samePort(p, b.ports[i]!))
    && a.virtualIps.length === b.virtualIps.length && a.virtualIps.every((v, i) => v.networkId === b.virtualIps[i]!.networkId && v.addr === b.virtualIps[i]!.addr);
}

function sameAddresses(a: readonly NetworkAddress[], b: readonly NetworkAddress[]): boolean {
  return a.length === b.length && a.every((x, i) => x.networkId === b[i]!.networkId && x.addr === b[i]!.addr);
}

/** Does `held` give the spec what it asks: the same ports (0s filled in for ingress) and a VIP on exactly `networks`? */
function endpointMatches(spec: ServiceSpec, held: ServiceEndpoint, networks: readonly string[]): boolean {
  const asked = spec.endpoint.ports;
  if (held.ports.length !== asked.length || held.virtualIps.length !== networks.length) return false;
  for (let i = 0; i < asked.length; i++) {
    const a = asked[i]!;
    const h = held.ports[i]!;
    if (a.name !== h.name || a.protocol !== h.protocol || a.targetPort !== h.targetPort || a.publishMode !== h.publishMode) return false;
    const filled = a.publishedPort === 0 && a.publishMode === 'ingress';
    if (filled ? h.publishedPort === 0 : h.publishedPort !== a.publishedPort) return false;
  }
  return held.virtualIps.every((v, i) => v.networkId === networks[i]);
}

function hasIngressPorts(ports: readonly PortConfig[]): boolean {
  return ports.some((p) => p.publishMode === 'ingress');
}

function unique(ids: readonly string[]): string[] {
  const out: string[] = [];
  for (const id of ids) if (!out.includes(id)) out.push(id);
  return out;
}

export class Allocator {
  private readonly ports: IngressPorts;
  private readonly ipam: Ipam;
  /** The endpoint each service holds (committed, or planned here). Services without one are absent. */
  private readonly endpoints = new Map<string, ServiceEndpoint>();
  /** Tasks that are new or hold addresses. */
  private readonly tasks = new Map<string, TaskHolding>();
  /** To look at on the next plan: maybe in need of (re)allocation. */
  private readonly queuedServices = new Set<string>();
  private readonly queuedTasks = new Set<string>();
  /** Could not be allocated: why, by id. Looked at again once something was freed or added. */
  private readonly waitingServices = new Map<string, string>();
  private readonly waitingTasks = new Map<string, string>();
  /** Something was freed or added since the last plan: the waiting ones get another try. */
  private retry = false;

  constructor(options: AllocatorOptions = {}) {
    this.ports = new IngressPorts(options.ingressPorts ?? { min: INGRESS_PORT_MIN, max: INGRESS_PORT_MAX });
    this.ipam = new Ipam(options);
  }

  /** The allocator of a store: everything the store's objects hold, everything unallocated queued. O(objects). */
  static fromStore(reader: StoreReader, options: AllocatorOptions = {}): Allocator {
    const allocator = new Allocator(options);
    for (const network of reader.list('network')) allocator.ipam.addNetwork(network.id, network.spec);
    for (const service of reader.list('service')) {
      if (service.endpoint !== null) allocator.holdEndpoint(service.id, service.endpoint);
      allocator.queuedServices.add(service.id);
    }
    for (const task of reader.each('task')) allocator.trackTask(task.id, task.status.state, task.desiredState, task.addresses);
    allocator.retry = false;
    return allocator;
  }

  /** Why each service that could not be allocated waits, by id. */
  pendingServices(): ReadonlyMap<string, string> {
    return this.waitingServices;
  }

  /** Why each new task that could not be allocated waits, by id. */
  pendingTasks(): ReadonlyMap<string, string> {
    return this.waitingTasks;
  }

  /** True when a plan may find something to do. */
  hasWork(): boolean {
    return this.queuedServices.size > 0 || this.queuedTasks.size > 0 || (this.retry && (this.waitingServices.size > 0 || this.waitingTasks.size > 0));
  }

  // ---- committed events ----

  /** Follows committed events (in order; refused entries left out): work proportional to the events. */
  apply(events: readonly JournalEvent[]): void {
    for (const event of events) this.applyEvent(event);
  }

  private applyEvent(event: JournalEvent): void {
    switch (event.type) {
      case 'network.created':
        this.ipam.addNetwork(event.id, event.spec);
        this.retry = true;
        if (event.spec.ingress) this.requeueIngressServices();
        return;
      case 'network.removed': {
        const wasIngress = this.ipam.ingressNetworkId() === event.id;
        this.ipam.removeNetwork(event.id);
        if (wasIngress) this.requeueIngressServices();
        return;
      }
      case 'service.created':
      case 'service.updated':
      case 'service.rolledBack':
        this.queuedServices.add(event.id);
        return;
      case 'service.endpointAllocated':
        this.holdEndpoint(event.id, event.endpoint);
        return;
      case 'service.removed':
        this.releaseEndpoint(event.id);
        this.queuedServices.delete(event.id);
        this.waitingServices.delete(event.id);
        return;
      case 'task.created':
        this.trackTask(event.id, event.status.state, event.desiredState, event.addresses);
        return;
      case 'task.allocated': {
        const holding = this.tasks.get(event.id);
        if (holding === undefined) return;
        if (!sameAddresses(holding.addresses, event.addresses)) {
          this.releaseAddresses(holding.addresses);
          holding.addresses = this.reserveAddresses(event.addresses);
        }
        holding.planned = false;
        return this.taskChanged(event.id, holding, event.status.state, holding.desired);
      }
      case 'task.assigned':
      case 'task.statusChanged': {
        const holding = this.tasks.get(event.id);
        if (holding !== undefined) this.taskChanged(event.id, holding, event.status.state, holding.desired);
        return;
      }
      case 'task.desiredStateChanged': {
        const holding = this.tasks.get(event.id);
        if (holding !== undefined) this.taskChanged(event.id, holding, holding.state, event.desiredState);
        return;
      }
      case 'task.removed': {
        const holding = this.tasks.get(event.id);
        if (holding !== undefined) this.forgetTask(event.id, holding);
        return;
      }
      case 'cluster.created': case 'cluster.updated':
      case 'node.registered': case 'node.updated': case 'node.descriptionChanged': case 'node.statusChanged': case 'node.removed':
      case 'service.updateStatusChanged':
      case 'secret.created': case 'secret.updated': case 'secret.removed':
      case 'config.created': case 'config.removed':
        return;
      default:
        return assertNever(event, 'event');
    }
  }

  private requeueIngressServices(): void {
    for (const [id, endpoint] of this.endpoints) if (hasIngressPorts(endpoint.ports)) this.queuedServices.add(id);
  }

  private trackTask(id: string, state: TaskState, desired: DesiredState, addresses: readonly NetworkAddress[]): void {
    if (isReleasable(state, desired)) return;
    if (state !== 'new' && addresses.length === 0) return;
    const holding: TaskHolding = { state, desired, addresses: this.reserveAddresses(addresses), planned: false };
    this.tasks.set(id, holding);
    if (state === 'new' && !isStopping(desired)) this.queuedTasks.add(id);
  }

  private taskChanged(id: string, holding: TaskHolding, state: TaskState, desired: DesiredState): void {
    holding.state = state;
    holding.desired = desired;
    if (state !== 'new' || isStopping(desired)) {
      this.queuedTasks.delete(id);
      this.waitingTasks.delete(id);
    }
    if (isReleasable(state, desired) || (state !== 'new' && holding.addresses.length === 0)) this.forgetTask(id, holding);
  }

  private forgetTask(id: string, holding: TaskHolding): void {
    this.releaseAddresses(holding.addresses);
    this.tasks.delete(id);
    this.queuedTasks.delete(id);
    this.waitingTasks.delete(id);
  }

  /** Takes what a committed endpoint holds (a no-op when it is what this core planned). */
  private holdEndpoint(serviceId: string, endpoint: ServiceEndpoint): void {
    const held = this.endpoints.get(serviceId);
    if (held !== undefined && sameEndpoint(held, endpoint)) return;
    this.releaseEndpoint(serviceId);
    // Tolerant: a port or address another holder has stays with it (the journal should never hold both).
    for (const p of endpoint.ports) if (p.publishMode === 'ingress' && p.publishedPort !== 0) this.ports.claim(p.protocol, p.publishedPort, serviceId);
    for (const v of endpoint.virtualIps) this.ipam.reserve(v.networkId, v.addr);
    this.endpoints.set(serviceId, endpoint);
  }

  private releaseEndpoint(serviceId: string): void {
    const held = this.endpoints.get(serviceId);
    if (held === undefined) return;
    this.endpoints.delete(serviceId);
    for (const p of held.ports) if (p.publishMode === 'ingress' && p.publishedPort !== 0) this.ports.release(p.protocol, p.publishedPort, serviceId);
    for (const v of held.virtualIps) this.ipam.release(v.networkId, v.addr);
    this.retry = true;
  }

  private reserveAddresses(addresses: readonly NetworkAddress[]): readonly NetworkAddress[] {
    for (const a of addresses) this.ipam.reserve(a.networkId, a.addr);
    return addresses;
  }

  private releaseAddresses(addresses: readonly NetworkAddress[]): void {
    if (addresses.length === 0) return;
    for (const a of addresses) this.ipam.release(a.networkId, a.addr);
    this.retry = true;
  }

  // ---- plans ----

  /**
   * What to allocate now, read against `reader` (the store, at or after the events applied here):
   * at most `allocationsMax` allocations; the rest stay queued for the next plan. Holdings are
   * taken as the plan is made. Services come first, so that their tasks find their endpoint.
   */
  allocate(reader: StoreReader, allocationsMax = Number.POSITIVE_INFINITY): AllocationPlan {
    if (this.retry) {
      for (const id of this.waitingServices.keys()) this.queuedServices.add(id);
      for (const id of this.waitingTasks.keys()) this.queuedTasks.add(id);
      this.waitingServices.clear();
      this.waitingTasks.clear();
      this.retry = false;
    }
    const services: ServiceAllocation[] = [];
    const tasks: TaskAllocation[] = [];
    // In the order they were queued (the order of the committed events, or the store's own order
    // at a rebuild: deterministic for a given history; only the leader plans), not sorted: a plan takes a bounded slice of a queue
    // that may hold a million tasks, and sorting it for each slice would be quadratic.
    for (const id of this.queuedServices) {
      if (services.length >= allocationsMax) break;
      this.queuedServices.delete(id);
      const service = reader.get('service', id);
      // Gone: its removal is on the way (or applied: nothing is held).
      if (service === undefined) continue;
      const networks = this.wantedNetworks(service.spec);
      const held = this.endpoints.get(id);
      if (held !== undefined && endpointMatches(service.spec, held, networks)) continue;
      try {
        const endpoint = this.allocateEndpoint(service, held, networks, reader);
        this.endpoints.set(id, endpoint);
        services.push({ service, endpoint });
        // Its tasks may have waited for it.
        this.retry = true;
      } catch (error) {
        if (!(error instanceof AllocationFailedError)) throw error;
        this.waitingServices.set(id, error.message);
      }
    }
    // A service allocated (or an endpoint freed) just now may be what waiting tasks waited for.
    if (this.retry) {
      for (const id of this.waitingTasks.keys()) this.queuedTasks.add(id);
      this.waitingTasks.clear();
    }
    for (const id of this.queuedTasks) {
      if (services.length + tasks.length >= allocationsMax) break;
      this.queuedTasks.delete(id);
      const holding = this.tasks.get(id);
      const task = reader.get('task', id);
      if (holding === undefined || holding.planned || task === undefined || task.status.state !== 'new' || isStopping(task.desiredState)) continue;
      const waitingFor = this.endpointWait(task.serviceId, reader);
      if (waitingFor !== '') {
        this.waitingTasks.set(id, waitingFor);
        continue;
      }
      try {
        const networks = this.taskNetworks(task);
        // A task created with addresses keeps them when they are on the right networks.
        const kept = holding.addresses.length === networks.length && holding.addresses.every((a, i) => a.networkId === networks[i]);
        if (!kept) {
          this.releaseAddresses(holding.addresses);
          holding.addresses = [];
        }
        const addresses = kept ? holding.addresses : this.allocateAddresses(networks);
        holding.addresses = addresses;
        holding.planned = true;
        tasks.push({ task, addresses });
      } catch (error) {
        if (!(error instanceof AllocationFailedError)) throw error;
        this.waitingTasks.set(id, error.message);
      }
    }
    return { services, tasks };
  }

  /** Why a task of this service cannot be allocated yet ('' when it can): its service's endpoint comes first. */
  private endpointWait(serviceId: string, reader: StoreReader): string {
    const service = reader.get('service', serviceId);
    if (service === undefined) return `service ${serviceId} does not exist`;
    const name = `service ${service.spec.annotations.name} (${serviceId})`;
    const failed = this.waitingServices.get(serviceId);
    if (failed !== undefined) return `waiting for the endpoint of ${name}: ${failed}`;
    if (this.queuedServices.has(serviceId) || !this.endpoints.has(serviceId)) return `waiting for the endpoint of ${name}`;
    return '';
  }

  /** The networks a service has a VIP on: its tasks' networks, and ingress when it publishes ingress ports. */
  private wantedNetworks(spec: ServiceSpec): string[] {
    const networks = unique(spec.task.networks);
    const ingress = this.ipam.ingressNetworkId();
    if (ingress !== undefined && hasIngressPorts(spec.endpoint.ports) && !networks.includes(ingress)) networks.push(ingress);
    return networks;
  }

  /** A task's networks: its spec's, and ingress when its service holds a VIP there (the routing mesh's backends). */
  private taskNetworks(task: Task): string[] {
    const networks = unique(task.spec.networks);
    const ingress = this.ipam.ingressNetworkId();
    const endpoint = this.endpoints.get(task.serviceId);
    if (ingress !== undefined && !networks.includes(ingress) && endpoint?.virtualIps.some((v) => v.networkId === ingress)) networks.push(ingress);
    return networks;
  }

  /** An address on each network, all or none. */
  private allocateAddresses(networks: readonly string[]): NetworkAddress[] {
    const addresses: NetworkAddress[] = [];
    try {
      for (const networkId of networks) addresses.push({ networkId, addr: this.ipam.allocate(networkId) });
    } catch (error) {
      for (const a of addresses) this.ipam.release(a.networkId, a.addr);
      throw error;
    }
    return addresses;
  }

  /**
   * The service's new endpoint, all or nothing: explicit ports claimed, ports left at 0 keep the
   * number they held (same name, protocol and target) or get the lowest free one, VIPs kept on
   * networks still wanted and allocated on new ones; what the old endpoint held and the new one
   * does not is released.
   */
  private allocateEndpoint(service: Service, held: ServiceEndpoint | undefined, networks: readonly string[], reader: StoreReader): ServiceEndpoint {
    const id = service.id;
    const name = `service ${service.spec.annotations.name} (${id})`;
    const asked = service.spec.endpoint.ports;
    const claimed: Array<{ protocol: Protocol; port: number }> = [];
    const added: VirtualIp[] = [];
    const keys = new Set<string>();
    const ports: PortConfig[] = asked.slice();
    try {
      // Explicit ports first, so that a port left at 0 never takes one the spec names.
      for (const p of asked) {
        if (p.publishMode !== 'ingress' || p.publishedPort === 0) continue;
        const key = portKey(p.protocol, p.publishedPort);
        if (keys.has(key)) throw new AllocationFailedError('portInUse', `published port ${key} is given twice by ${name}`);
        keys.add(key);
        const claim = this.ports.claim(p.protocol, p.publishedPort, id);
        if (claim === 'taken') {
          const owner = this.ports.owner(p.protocol, p.publishedPort)!;
          const ownerName = reader.get('service', owner)?.spec.annotations.name ?? owner;
          throw new AllocationFailedError('portInUse', `published port ${key} is already in use by service ${ownerName} (${owner})`);
        }
        if (claim === 'claimed') claimed.push({ protocol: p.protocol, port: p.publishedPort });
      }
      const reused = new Set<number>();
      for (let i = 0; i < asked.length; i++) {
        const p = asked[i]!;
        if (p.publishMode !== 'ingress' || p.publishedPort !== 0) continue;
        const j = held === undefined ? -1 : held.ports.findIndex((h, j) => !reused.has(j) && h.publishMode === 'ingress' && h.publishedPort !== 0
          && h.protocol === p.protocol && h.targetPort === p.targetPort && h.name === p.name
          && !keys.has(portKey(h.protocol, h.publishedPort)) && this.ports.owner(h.protocol, h.publishedPort) === id);
        let port: number;
        if (j >= 0) {
          reused.add(j);
          port = held!.ports[j]!.publishedPort;
        } else {
          const taken = this.ports.takeLowest(p.protocol, id);
          if (taken === undefined) {
            throw new AllocationFailedError('portsExhausted', `ingress port range ${this.ports.range.min}-${this.ports.range.max} exhausted (${p.protocol}) for ${name}`);
          }
          port = taken;
          claimed.push({ protocol: p.protocol, port });
        }
        keys.add(portKey(p.protocol, port));
        ports[i] = { ...p, publishedPort: port };
      }
      const virtualIps: VirtualIp[] = [];
      for (const networkId of networks) {
        const kept = held?.virtualIps.find((v) => v.networkId === networkId);
        if (kept !== undefined) {
          virtualIps.push(kept);
          continue;
        }
        const vip = { networkId, addr: this.ipam.allocate(networkId) };
        added.push(vip);
        virtualIps.push(vip);
      }
      if (held !== undefined) {
        for (const h of held.ports) {
          if (h.publishMode === 'ingress' && h.publishedPort !== 0 && !keys.has(portKey(h.protocol, h.publishedPort)) && this.ports.release(h.protocol, h.publishedPort, id)) this.retry = true;
        }
        for (const v of held.virtualIps) {
          if (!networks.includes(v.networkId) && this.ipam.release(v.networkId, v.addr)) this.retry = true;
        }
      }
      return { ports, virtualIps };
    } catch (error) {
      for (const c of claimed) this.ports.release(c.protocol, c.port, id);
      for (const v of added) this.ipam.release(v.networkId, v.addr);
      throw error;
    }
  }

  // ---- inspection ----

  /** Everything held, canonically ordered (O(holdings + network sizes)). */
  holdings(): AllocatorHoldings {
    const endpoints: Record<string, ServiceEndpoint> = {};
    for (const id of sortedIds(this.endpoints.keys())) endpoints[id] = this.endpoints.get(id)!;
    const tasks: Record<string, readonly NetworkAddress[]> = {};
    for (const id of sortedIds(this.tasks.keys())) {
      const addresses = this.tasks.get(id)!.addresses;
      if (addresses.length > 0) tasks[id] = addresses;
    }
    return { ports: this.ports.holdings(), networks: this.ipam.holdings(), endpoints, tasks };
  }
}

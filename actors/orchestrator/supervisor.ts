// The orchestration supervisor (DESIGN.md section 5, "Failover"): one per manager, at
// `<node>/orchestration`. It subscribes to the manager actor's feed; when the manager says it leads
// (with an entry of its own term applied, so its store is complete), it spawns the orchestration
// from the store — the writer, allocator, scheduler and dispatcher, one actor per service and per
// node — and each reconciles from there; when leadership ends it stops them all. Nothing is lost,
// because nothing lived only in an actor. While leading, it routes each committed batch: the
// whole batch to the allocator, scheduler and dispatcher (each takes what concerns it), and one
// coalesced `service.changed` / `node.changed` to each service and node actor the batch touched.
//
// Start order (dependencies.ts): a service held by its dependencies plans nothing until one of
// them changes, so the supervisor keeps an index from a dependency's name to the services that
// name it and have no task yet, and passes each change of a service (its spec, its creation or
// removal, a task of it that came up, ended or moved) on to the services indexed under its name:
// work in proportion to the change, no polling. A service leaves the index with its first task.
import type { StoreReader } from '../../journal/index.js';
import { restart, type ActorContext, type Address, type Props } from '../../runtime/index.js';
import { allocatorActor } from '../allocator/index.js';
import { dispatcherActor } from './dispatcher.js';
import { nodeActor } from './node.js';
import type { AgentSessionRefused, DispatcherInput, ManagerCommitted, ManagerLeadership, ManagerSubscribe } from './protocol.js';
import { isGlobal } from './reconcile.js';
import { schedulerActor, type SchedulerStats } from './scheduler.js';
import { serviceActor } from './service.js';
import { taskActors, type TaskChanged, type TaskCommitted } from './task.js';
import { writerActor, type WriterStats } from './writer.js';

/** A service actor whose service and tasks are all gone tells its parent so. */
export interface ServiceFinished {
  readonly type: 'orchestration.serviceFinished';
  readonly serviceId: string;
}

type SupervisorInput = ManagerLeadership | ManagerCommitted | ServiceFinished | TaskChanged;

export interface OrchestrationOptions {
  readonly nodeId: string;
  /** The manager actor (actors/cluster/manager.ts). */
  readonly manager: Address;
  /** This manager's store (read-only here). */
  readonly view: () => StoreReader;
  /** Counters for benchmarks and tests. */
  readonly stats?: { writer?: WriterStats; scheduler?: SchedulerStats; leaderships?: number; plans?: number };
}

const DEFAULT_HEARTBEAT_PERIOD_MS = 5_000;

/**
 * At the dispatcher's address while this manager does not lead: every agent that knocks is told
 * where the leader is (or that none is known), instead of waiting out its deadline here.
 */
function standbyDispatcherActor(leaderNode: () => string): Props<DispatcherInput> {
  return {
    kind: 'dispatcher-standby',
    create: (ctx: ActorContext) => ({
      receive: (m: DispatcherInput) => {
        const to = m.type === 'dispatcher.register' ? m.replyTo : `${m.nodeId}/agent`;
        const leader = leaderNode();
        ctx.send(to, { type: 'agent.sessionRefused', reason: leader === '' ? 'no leader is known' : `this manager is not the leader (${leader} is)`, leader } satisfies AgentSessionRefused);
      },
    }),
  };
}

export function orchestrationActor(options: OrchestrationOptions): Props<SupervisorInput> {
  return {
    kind: 'orchestration',
    mailboxDepthMax: 100_000,
    supervision: restart({ backoffMinMs: 100, backoffMaxMs: 5_000 }),
    create: (ctx: ActorContext) => {
      let leading = false;
      let leaderNode = '';
      let writer: Address = '';
      let allocator: Address = '';
      let scheduler: Address = '';
      let dispatcher: Address = '';
      /** The home of the task actors, activated on demand at `<tasks>/<taskId>`. */
      let tasks: Address = '';
      const services = new Map<string, Address>();
      const nodes = new Map<string, Address>();
      /** Global services: a node change concerns each of them. */
      const globals = new Set<string>();
      /** Each service's name, kept here so that a removed or renamed one still finds its dependents. */
      const names = new Map<string, string>();
      /** Dependency name -> services naming it that have no task yet (held, or about to start). */
      const dependents = new Map<string, Set<string>>();
      /** The reverse of `dependents`: the names a service is indexed under. */
      const indexedUnder = new Map<string, readonly string[]>();

      const unindex = (serviceId: string): void => {
        const under = indexedUnder.get(serviceId);
        if (under === undefined) return;
        indexedUnder.delete(serviceId);
        for (const name of under) {
          const set = dependents.get(name);
          set?.delete(serviceId);
          if (set !== undefined && set.size === 0) dependents.delete(name);
        }
      };
      /** Indexes a service under its dependencies' names while it has no task; keeps its name. */
      const index = (serviceId: string, reader: StoreReader): void => {
        unindex(serviceId);
        const service = reader.get('service', serviceId);
        if (service === undefined) {
          names.delete(serviceId);
          return;
        }
        names.set(serviceId, service.spec.annotations.name);
        if (service.spec.dependsOn.length === 0 || reader.tasksByServiceInStoreOrder(serviceId).length > 0) return;
        const under = [...new Set(service.spec.dependsOn.map((d) => d.service))];
        indexedUnder.set(serviceId, under);
        for (const name of under) {
          let set = dependents.get(name);
          if (set === undefined) dependents.set(name, (set = new Set()));
          set.add(serviceId);
        }
      };
      /** The services indexed under this name plan again (a dependency of theirs changed). */
      const dependencyChanged = (name: string | undefined): void => {
        if (name === undefined) return;
        const set = dependents.get(name);
        if (set === undefined) return;
        for (const serviceId of set) ctx.send(ensureService(serviceId), { type: 'service.changed' });
      };

      const heartbeatPeriodMs = (): number => options.view().list('cluster')[0]?.spec.dispatcher.heartbeatPeriodMs ?? DEFAULT_HEARTBEAT_PERIOD_MS;
      const nodeAddress = (nodeId: string): Address => `${ctx.self}/node-${nodeId}`;

      const ensureService = (serviceId: string): Address => {
        let address = services.get(serviceId);
        if (address === undefined) {
          address = ctx.spawn(`service-${serviceId}`, serviceActor({ serviceId, view: options.view, writer, ...(options.stats ? { onPlan: () => { options.stats!.plans = (options.stats!.plans ?? 0) + 1; } } : {}) }));
          services.set(serviceId, address);
        }
        return address;
      };
      const ensureNode = (nodeId: string): void => {
        if (nodes.has(nodeId)) return;
        nodes.set(nodeId, ctx.spawn(`node-${nodeId}`, nodeActor({ nodeId, view: options.view, writer, heartbeatPeriodMs })));
      };

      const start = (): void => {
        leading = true;
        if (options.stats) options.stats.leaderships = (options.stats.leaderships ?? 0) + 1;
        const reader = options.view();
        for (const child of ctx.children()) ctx.stop(child);
        writer = ctx.spawn('writer', writerActor({ manager: options.manager }, options.stats?.writer));
        allocator = ctx.spawn('allocator', allocatorActor({ view: options.view, writer }));
        scheduler = ctx.spawn('scheduler', schedulerActor({ view: options.view, writer }, options.stats?.scheduler));
        tasks = ctx.spawnVirtual('tasks', taskActors({ view: options.view, supervisor: ctx.self }));
        for (const node of reader.list('node')) ensureNode(node.id);
        dispatcher = ctx.spawn('dispatcher', dispatcherActor({ nodeId: options.nodeId, view: options.view, writer, nodeActor: nodeAddress, heartbeatPeriodMs: heartbeatPeriodMs() }));
        for (const service of reader.list('service')) {
          if (isGlobal(service)) globals.add(service.id);
          index(service.id, reader);
          ensureService(service.id);
        }
        // Tasks of services removed before this leader took over still need shutting down and removing.
        for (const serviceId of reader.serviceIdsWithTasks()) if (reader.get('service', serviceId) === undefined) ensureService(serviceId);
      };

      const stop = (): void => {
        leading = false;
        for (const child of ctx.children()) ctx.stop(child);
        services.clear();
        nodes.clear();
        globals.clear();
        names.clear();
        dependents.clear();
        indexedUnder.clear();
        standby();
      };
      const standby = (): void => {
        ctx.spawn('dispatcher', standbyDispatcherActor(() => leaderNode));
      };

      const route = (m: ManagerCommitted): void => {
        ctx.send(allocator, m);
        ctx.send(scheduler, m);
        ctx.send(dispatcher, m);
        const reader = options.view();
        if (m.restored) {
          // A snapshot replaced the store: every actor plans afresh.
          for (const node of reader.list('node')) ensureNode(node.id);
          for (const serviceId of [...names.keys()]) if (reader.get('service', serviceId) === undefined) index(serviceId, reader);
          for (const service of reader.list('service')) {
            index(service.id, reader);
            ensureService(service.id);
          }
          for (const address of services.values()) ctx.send(address, { type: 'service.changed' });
          for (const address of nodes.values()) ctx.send(address, { type: 'node.changed' });
          return;
        }
        const touched = new Set<string>();
        const nodesTouched = new Set<string>();
        for (const e of m.events) {
          switch (e.type) {
            case 'service.created':
            case 'service.updated':
            case 'service.rolledBack': {
              const service = reader.get('service', e.id);
              if (service !== undefined && isGlobal(service)) globals.add(e.id);
              else globals.delete(e.id);
              // Renamed: the dependents of its old name see it go.
              const before = names.get(e.id);
              if (before !== undefined && before !== service?.spec.annotations.name) dependencyChanged(before);
              index(e.id, reader);
              touched.add(e.id);
              break;
            }
            case 'service.removed':
              globals.delete(e.id);
              dependencyChanged(names.get(e.id));
              index(e.id, reader);
              touched.add(e.id);
              break;
            case 'service.updateStatusChanged':
            case 'service.endpointAllocated':
              touched.add(e.id);
              break;
            case 'task.created':
              // Its first task frees a service for good: it leaves the index.
              unindex(e.serviceId);
              touched.add(e.serviceId);
              break;
            // Allocation and assignment decide nothing for a service. The changes an agent or a
            // plan makes go to the task's actor, which tells this supervisor when its service has
            // something to plan on.
            case 'task.assigned':
            case 'task.allocated':
              break;
            case 'task.statusChanged':
            case 'task.desiredStateChanged': {
              if (reader.get('task', e.id) === undefined) break;
              const committed: TaskCommitted = e.type === 'task.statusChanged'
                ? { type: 'task.committed', index: m.index, state: e.status.state, desiredState: null }
                : { type: 'task.committed', index: m.index, state: null, desiredState: e.desiredState };
              ctx.send(`${tasks}/${e.id}`, committed);
              break;
            }
            case 'node.registered':
              ensureNode(e.id);
              nodesTouched.add(e.id);
              break;
            case 'node.updated':
            case 'node.descriptionChanged':
            case 'node.statusChanged':
              nodesTouched.add(e.id);
              break;
            case 'node.removed': {
              const address = nodes.get(e.id);
              if (address !== undefined) ctx.stop(address);
              nodes.delete(e.id);
              nodesTouched.add(e.id);
              break;
            }
            case 'cluster.updated':
              for (const id of services.keys()) touched.add(id);
              break;
            default:
              break;
          }
        }
        for (const nodeId of nodesTouched) {
          const address = nodes.get(nodeId);
          if (address !== undefined) ctx.send(address, { type: 'node.changed' });
          for (const task of reader.tasksByNode(nodeId)) touched.add(task.serviceId);
          for (const id of globals) touched.add(id);
        }
        for (const serviceId of touched) changed(serviceId);
      };

      const changed = (serviceId: string): void => {
        const reader = options.view();
        dependencyChanged(names.get(serviceId));
        // A removed service with no tasks left has nothing to do.
        if (!services.has(serviceId) && reader.get('service', serviceId) === undefined && reader.tasksByService(serviceId).length === 0) return;
        ctx.send(ensureService(serviceId), { type: 'service.changed' });
      };

      return {
        started: () => {
          standby();
          ctx.send(options.manager, { type: 'manager.subscribe', replyTo: ctx.self } satisfies ManagerSubscribe);
        },
        receive: (m: SupervisorInput) => {
          switch (m.type) {
            case 'manager.leadership':
              leaderNode = m.leaderNode;
              if (m.leader && !leading) start();
              else if (!m.leader && leading) stop();
              return;
            case 'manager.committed':
              if (leading) route(m);
              return;
            case 'orchestration.taskChanged':
              if (leading) changed(m.serviceId);
              return;
            case 'orchestration.serviceFinished': {
              const address = services.get(m.serviceId);
              if (address === undefined) return;
              const reader = options.view();
              if (reader.get('service', m.serviceId) !== undefined || reader.tasksByService(m.serviceId).length > 0) return;
              ctx.stop(address);
              services.delete(m.serviceId);
              return;
            }
            default:
              return;
          }
        },
      };
    },
  };
}

// The scheduler actor (DESIGN.md section 6, step 3): on the leader, it keeps the set of tasks
// waiting for a node (allocated, `pending`, still wanted) and every node's load, both updated from
// committed events (work proportional to the change), and places the waiting tasks in batches
// with the pure core in actors/scheduler. A task that fits nowhere stays pending with a message
// that says why, and is tried again when a node changes or a task ends (resources free up).
import { EVENT_VERSIONS, TASK_STATE_ORDER, type JournalEvent, type Node, type StoreReader, type Task } from '../../journal/index.js';
import type { ActorContext, Address, Props } from '../../runtime/index.js';
import { LoadTable, hostPortsOf, placeTasks } from '../scheduler/index.js';
import type { ManagerCommitted, WriterDone, WriterPropose } from './protocol.js';

type SchedulerInput = ManagerCommitted | WriterDone | { readonly type: 'scheduler.flush' };

export interface SchedulerOptions {
  readonly view: () => StoreReader;
  readonly writer: Address;
}

export interface SchedulerStats {
  /** Assignments proposed, and of them committed. */
  placed: number;
  placedCommitted: number;
  unschedulable: number;
}

/**
 * What one task adds to its node's load, where the task object itself cannot say it: a placement
 * proposed and not committed yet (the store's task has no node), or a task whose service has
 * host-mode ports (the ports counted must be the ones taken off, whatever the service says later).
 */
class Contribution {
  constructor(
    readonly nodeId: string,
    readonly serviceId: string,
    readonly nanoCpus: number,
    readonly memoryBytes: number,
    readonly hostPorts: readonly string[],
  ) {}
}

/**
 * A counted task: its Contribution, or, for most (bound, without host ports), the store's Task
 * object that was counted (its node, service and reservations; no host ports). Holding the task
 * the store holds anyway, rather than an object of ours per task, keeps a million objects fewer
 * live on the leader at a million tasks.
 */
type Counted = Contribution | Task;

/** Tasks placed per proposal. */
const BATCH_EVENTS = 1_000;
const ASSIGNED = TASK_STATE_ORDER.assigned;
const COMPLETE = TASK_STATE_ORDER.complete;
const NO_PORTS: readonly string[] = [];

/** A task the scheduler should place: allocated (pending), not yet placed, still wanted. */
function waiting(task: Task): boolean {
  return task.status.state === 'pending' && (task.desiredState === 'running' || task.desiredState === 'ready' || task.desiredState === 'complete');
}

/** Would a task, as its task.created event describes it, be waiting or hold resources? */
function createdConcernsScheduler(e: Extract<JournalEvent, { type: 'task.created' }>): boolean {
  const state = e.status.state;
  if (state === 'pending') return true;
  return e.nodeId !== '' && TASK_STATE_ORDER[state] >= ASSIGNED && TASK_STATE_ORDER[state] < COMPLETE;
}

/** A task that holds resources on its node: bound, not ended, and not being stopped for good. */
function holdsResources(task: Task): boolean {
  return task.nodeId !== '' && TASK_STATE_ORDER[task.status.state] >= ASSIGNED && TASK_STATE_ORDER[task.status.state] < COMPLETE;
}

/** Does the task, counted without host ports, add what `counted` added? */
function sameReservations(counted: Counted, task: Task): boolean {
  const want = task.spec.resources.reservations;
  if (!(counted instanceof Contribution)) {
    const had = counted.spec.resources.reservations;
    return had === want || (had.nanoCpus === want.nanoCpus && had.memoryBytes === want.memoryBytes);
  }
  return counted.hostPorts.length === 0 && counted.nanoCpus === want.nanoCpus && counted.memoryBytes === want.memoryBytes;
}

export function schedulerActor(options: SchedulerOptions, stats?: SchedulerStats): Props<SchedulerInput> {
  return {
    kind: 'scheduler',
    mailboxDepthMax: 100_000,
    create: (ctx: ActorContext) => {
      const loads = new LoadTable();
      const contributions = new Map<string, Counted>();
      /** Waiting tasks to try, in arrival order (none of them stuck or in flight). */
      const queue = new Set<string>();
      /** Tasks proposed for assignment and not yet decided: not placed again meanwhile. */
      const inflightTasks = new Set<string>();
      let inflight = '';
      let inflightPlacements = 0;
      let proposals = 0;
      let flushArmed = false;
      /** Waiting tasks that fit nowhere at the last try, by the message they were given: out of the queue until something frees or changes. */
      const stuck = new Map<string, string>();
      /** The nodes, sorted by id, kept between flushes until a node event. */
      let nodesCache: Node[] | undefined;
      /** Each service's host-mode ports, kept until a service event (one array for all its tasks). */
      const hostPortsCache = new Map<string, readonly string[]>();
      const hostPortsOfService = (serviceId: string): readonly string[] => {
        let ports = hostPortsCache.get(serviceId);
        if (ports === undefined) {
          const service = options.view().get('service', serviceId);
          ports = hostPortsOf(service?.endpoint?.ports ?? service?.spec.endpoint.ports ?? []);
          hostPortsCache.set(serviceId, ports);
        }
        return ports;
      };

      const add = (c: Counted, sign: 1 | -1): void => {
        if (c instanceof Contribution) loads.add(c.nodeId, c.serviceId, c.nanoCpus, c.memoryBytes, c.hostPorts, sign);
        else loads.add(c.nodeId, c.serviceId, c.spec.resources.reservations.nanoCpus, c.spec.resources.reservations.memoryBytes, NO_PORTS, sign);
      };
      /** What a bound task adds, as it will be held: the task itself when that says all of it. */
      const countedOf = (task: Task): Counted => {
        const hostPorts = hostPortsOfService(task.serviceId);
        if (hostPorts.length === 0) return task;
        const want = task.spec.resources.reservations;
        return new Contribution(task.nodeId, task.serviceId, want.nanoCpus, want.memoryBytes, hostPorts);
      };
      /** Brings one task's contribution and queue membership in line with the store. */
      const track = (id: string, reader: StoreReader, known?: Task): boolean => {
        const task = known ?? reader.get('task', id);
        const before = contributions.get(id);
        const holds = task !== undefined && holdsResources(task);
        let freed = false;
        if (before !== undefined && (!holds || task.nodeId !== before.nodeId)) {
          add(before, -1);
          contributions.delete(id);
          freed = true;
        }
        if (holds) {
          const now = contributions.get(id);
          if (now === undefined) {
            const counted = countedOf(task);
            add(counted, 1);
            contributions.set(id, counted);
          } else if (now !== task && now.serviceId === task.serviceId && sameReservations(now, task)) {
            // A committed placement, or a new version of a counted task: the task the store holds
            // now says what was counted (the old version is not kept alive by this map).
            contributions.set(id, task);
          }
        }
        if (task !== undefined && waiting(task)) {
          if (!stuck.has(id) && !inflightTasks.has(id)) queue.add(id);
        } else {
          queue.delete(id);
          stuck.delete(id);
        }
        return freed;
      };
      const rebuild = (): void => {
        const reader = options.view();
        loads.clear();
        contributions.clear();
        queue.clear();
        stuck.clear();
        nodesCache = undefined;
        hostPortsCache.clear();
        for (const task of reader.each('task')) track(task.id, reader, task);
      };
      /** Something freed or changed: the tasks that fit nowhere get another try. */
      const unstick = (): void => {
        for (const id of stuck.keys()) queue.add(id);
        stuck.clear();
      };
      const arm = (): void => {
        if (flushArmed || inflight !== '' || queue.size === 0) return;
        flushArmed = true;
        ctx.setTimer('flush', 0, { type: 'scheduler.flush' });
      };

      const flush = (): void => {
        const reader = options.view();
        const nodes: Node[] = (nodesCache ??= reader.list('node'));
        // The first tasks of the queue (at most one proposal's worth: the work of a flush does
        // not grow with the queue), grouped by service and spec version: one placement request each.
        const groups = new Map<string, Task[]>();
        let taken = 0;
        for (const id of queue) {
          if (taken >= BATCH_EVENTS) break;
          queue.delete(id);
          const task = reader.get('task', id);
          if (task === undefined || !waiting(task)) continue;
          taken++;
          const key = task.nodeId !== '' ? `${task.serviceId}@${task.nodeId}` : `${task.serviceId}#${task.serviceVersion}`;
          let group = groups.get(key);
          if (group === undefined) groups.set(key, (group = []));
          group.push(task);
        }
        const events: JournalEvent[] = [];
        const now = ctx.env.clock.now();
        for (const group of [...groups.values()].sort((a, b) => (a[0]!.id < b[0]!.id ? -1 : 1))) {
          const first = group[0]!;
          const service = reader.get('service', first.serviceId);
          const ports = service?.endpoint?.ports ?? service?.spec.endpoint.ports ?? [];
          const preferences = first.spec.placement.preferences.map((p) => p.spread);
          const candidates = first.nodeId !== '' ? nodes.filter((n) => n.id === first.nodeId) : nodes;
          const sorted = group.sort((a, b) => a.slot - b.slot || (a.id < b.id ? -1 : 1));
          const result = placeTasks({ serviceId: first.serviceId, spec: first.spec, ports, preferences, count: sorted.length }, candidates, loads);
          result.assignments.forEach((nodeId, i) => {
            const task = sorted[i]!;
            events.push({ type: 'task.assigned', v: EVENT_VERSIONS['task.assigned'], at: now, id: task.id, nodeId, status: { state: 'assigned', message: 'scheduler assigned task to node', timestamp: now, err: '' }, expectedVersion: task.meta.version });
            // The next group sees this placement: counted now (a refused proposal rebuilds from the store).
            const want = task.spec.resources.reservations;
            const c = new Contribution(nodeId, task.serviceId, want.nanoCpus, want.memoryBytes, hostPortsOfService(task.serviceId));
            add(c, 1);
            contributions.set(task.id, c);
            inflightTasks.add(task.id);
          });
          for (const task of sorted.slice(result.assignments.length)) {
            if (stats) stats.unschedulable++;
            const message = result.unschedulable;
            if (task.status.message === message) {
              stuck.set(task.id, message);
              continue;
            }
            stuck.set(task.id, message);
            events.push({ type: 'task.statusChanged', v: EVENT_VERSIONS['task.statusChanged'], at: now, id: task.id, status: { state: 'pending', message, timestamp: now, err: '' }, expectedVersion: task.meta.version });
            inflightTasks.add(task.id);
          }
        }
        if (events.length === 0) {
          arm();
          return;
        }
        const batch = events;
        inflightPlacements = batch.filter((e) => e.type === 'task.assigned').length;
        if (stats) stats.placed += inflightPlacements;
        inflight = `scheduler/${++proposals}`;
        ctx.send(options.writer, { type: 'writer.propose', token: inflight, events: batch, replyTo: ctx.self } satisfies WriterPropose);
      };

      return {
        started: () => {
          rebuild();
          arm();
        },
        receive: (m: SchedulerInput) => {
          switch (m.type) {
            case 'manager.committed': {
              if (m.restored) {
                rebuild();
                arm();
                return;
              }
              const reader = options.view();
              let retry = false;
              for (const e of m.events) {
                if (e.type.startsWith('node.')) {
                  retry = true;
                  nodesCache = undefined;
                }
                else if (e.type === 'task.created' && !createdConcernsScheduler(e)) {
                  // A new task that, as created, neither waits for a node nor holds one: nothing
                  // of ours can know its (fresh) id, so tracking it would change nothing; a later
                  // event of the batch about it is tracked on its own, from the store.
                } else if (e.type.startsWith('task.')) {
                  if (track(e.id, reader)) retry = true;
                } else if (e.type.startsWith('service.')) {
                  hostPortsCache.delete(e.id);
                  if (e.type === 'service.removed' || e.type === 'service.updated') retry = true;
                }
              }
              if (retry) unstick();
              arm();
              return;
            }
            case 'scheduler.flush':
              flushArmed = false;
              flush();
              return;
            case 'writer.done':
              if (m.token !== inflight) return;
              inflight = '';
              if (m.ok) {
                if (stats) stats.placedCommitted += inflightPlacements;
                // The store holds the placements already (the feed may come after this reply).
                const reader = options.view();
                for (const id of inflightTasks) track(id, reader);
              }
              inflightTasks.clear();
              if (!m.ok) rebuild();
              arm();
              return;
            default:
              return;
          }
        },
      };
    },
  };
}

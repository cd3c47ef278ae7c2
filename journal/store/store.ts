// The store: the projection of committed events into the cluster's objects, with indexes.
//
// Every manager applies every committed batch with `applyBatch(events, index)`, a deterministic
// function of the store and the batch. The store is mutable inside (maps and index sets, for
// speed), but objects are never mutated: a change replaces the object. A batch is applied whole
// or not at all, synchronously, so a reader (which runs between two applies) never sees half a
// batch. Query results are fresh arrays sorted by id, so that consumers iterate in one order on
// every manager whatever the history of the maps.
//
// Conflict checks happen twice, on purpose:
//  - at propose time, on the leader (`check`, `checkVersion`): the caller learns of a stale read
//    or a taken name before anything goes to Raft, as in SwarmKit's store transaction;
//  - at apply time, on every manager: between a proposal and its commit another batch may commit
//    (proposals are pipelined), so the leader's check alone cannot be trusted. A batch with a
//    conflict is refused whole and `applyBatch` returns the typed error; every manager refuses it
//    identically, so the refusal is as much a part of the replicated history as a success. The
//    proposer awaits the result of its entry's index and gets the error.
import { assert, assertNever } from '../../runtime/index.js';
import {
  DESIRED_STATES, OBJECT_KINDS, TASK_STATE_ORDER, TASK_STATES, sameValue,
  type DesiredState, type JournalEvent, type Meta, type NetworkAddress, type Node, type ObjectKind, type ObjectOfKind, type Service, type Task, type TaskSpec, type TaskState, type TaskStatus,
} from '../events/index.js';
import {
  InvalidTransitionError, NameConflictError, ObjectExistsError, ObjectNotFoundError, StoreConflictError,
  StoreSnapshotInvalidError, VersionConflictError,
} from './errors.js';
import { orEmpty } from './empty.js';
import { StoreSnapshotWriter, decodeStoreSnapshot, serializeV1, type SnapshotFrame, type StoreSnapshotVersion, type StoreView } from './snapshot.js';

/** Kinds whose names are unique (SwarmKit's rule). Node names are hostnames and may repeat. */
export const UNIQUE_NAME_KINDS = ['service', 'network', 'secret', 'config'] as const;
export type UniqueNameKind = (typeof UNIQUE_NAME_KINDS)[number];

export { STORE_SNAPSHOT_FORMAT, STORE_SNAPSHOT_VERSION, StoreSnapshotWriter, type SnapshotFrame, type StoreSnapshotVersion } from './snapshot.js';

export type ApplyResult =
  | { readonly applied: true; readonly index: number }
  | { readonly applied: false; readonly index: number; readonly error: StoreConflictError };

/** What readers of the store may do. */
export interface StoreReader {
  /** The Raft index of the last applied entry (applied or refused). */
  readonly index: number;
  get<K extends ObjectKind>(kind: K, id: string): ObjectOfKind[K] | undefined;
  /** Every object of a kind, sorted by id (for answers and listings). */
  list<K extends ObjectKind>(kind: K): ObjectOfKind[K][];
  /**
   * Every object of a kind in the store's own order (deterministic for a given history, not
   * sorted): for whole-store scans that do not show the order, where sorting 1,000,000 ids
   * would cost seconds. Do not change the store while iterating.
   */
  each<K extends ObjectKind>(kind: K): IterableIterator<ObjectOfKind[K]>;
  count(kind: ObjectKind): number;
  byName<K extends UniqueNameKind>(kind: K, name: string): ObjectOfKind[K] | undefined;
  nodesByName(name: string): Node[];
  tasksByService(serviceId: string): Task[];
  tasksByNode(nodeId: string): Task[];
  tasksBySlot(serviceId: string, slot: number): Task[];
  /** A scan of every task (no index: nothing on a hot path asks, and an index of a million ids cost every task change an insert), sorted by id. */
  tasksByDesiredState(desiredState: DesiredState): Task[];
  /** The tasks with this desired state, in the store's own order (see `each`): a scan of every task. */
  eachTaskByDesiredState(desiredState: DesiredState): Iterable<Task>;
  /** The service's tasks in the store's own order (see `each`): `tasksByService` without its sort. */
  tasksByServiceInStoreOrder(serviceId: string): Task[];
  /** The id of every service that has tasks (removed services' too, until their last task goes), in the store's own order. */
  serviceIdsWithTasks(): Iterable<string>;
}

type Objects = { [K in ObjectKind]: Map<string, ObjectOfKind[K]> };
type AnyObject = ObjectOfKind[ObjectKind];
interface UndoEntry {
  readonly kind: ObjectKind;
  readonly id: string;
  readonly previous: AnyObject | undefined;
}

/**
 * A secondary index: key -> the ids under it. Most keys hold one id (a slot, a hostname), so one
 * id is held as the string itself and a Set is made only for a second one: fewer allocations on
 * the apply path. Readers sort what they resolve, so the form never shows.
 */
type IdIndex<K> = Map<K, string | Set<string>>;

function addTo<K>(index: IdIndex<K>, key: K, id: string): void {
  const held = index.get(key);
  if (held === undefined) index.set(key, id);
  else if (typeof held !== 'string') held.add(id);
  else if (held !== id) index.set(key, new Set([held, id]));
}

function removeFrom<K>(index: IdIndex<K>, key: K, id: string): void {
  const held = index.get(key);
  if (held === undefined) return;
  if (typeof held === 'string') {
    if (held === id) index.delete(key);
    return;
  }
  held.delete(id);
  if (held.size === 0) index.delete(key);
}

function nameOf(kind: ObjectKind, object: AnyObject): string | undefined {
  switch (kind) {
    case 'service': case 'network': case 'secret': case 'config': case 'node':
      return (object as ObjectOfKind['service']).spec.annotations.name;
    case 'cluster': case 'task':
      return undefined;
    default:
      return assertNever(kind, 'object kind');
  }
}

const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class Store implements StoreReader {
  private lastIndex = 0;
  private readonly objects: Objects = {
    cluster: new Map(), node: new Map(), service: new Map(), task: new Map(),
    network: new Map(), secret: new Map(), config: new Map(),
  };
  private readonly names: { [K in UniqueNameKind]: Map<string, string> } = {
    service: new Map(), network: new Map(), secret: new Map(), config: new Map(),
  };
  /** The task map, named: the apply path's hottest lookups. */
  private readonly tasks = this.objects.task;
  private readonly nodeNames: IdIndex<string> = new Map();
  private readonly tasksOfService: IdIndex<string> = new Map();
  private readonly tasksOfNode: IdIndex<string> = new Map();
  /** serviceId -> slot -> task ids: no key string made per task. */
  private readonly tasksOfSlot = new Map<string, IdIndex<number>>();
  /** Per kind but task, its ids in id order as of the last snapshot's view, and the same ids as a set (see sortedObjects). */
  private readonly sortedIds = new Map<ObjectKind, { ids: string[]; readonly known: Set<string> }>();
  /** Undo log of the batch being applied: the previous value of every object it changed. Emptied, not replaced, after each batch. */
  private readonly undo: UndoEntry[] = [];
  /**
   * The meta and the task status the last task change was given. The changes of one batch mostly
   * carry equal ones (one proposer, one clock reading, one message), and objects are immutable, so
   * equal ones are one object: at a million tasks, two objects fewer per task held by each
   * manager, and two fewer per change that the GC copies and, once the task changes again, finds
   * dead in the old generation.
   */
  private sharedMeta: Meta | undefined;
  private sharedStatus: TaskStatus | undefined;
  /**
   * The last verdict of "is a created task's spec its service's", and the two objects it is about:
   * a batch's tasks of one service hold one decoded spec (see decodeBatch), and objects are
   * immutable, so the same pair gets the same verdict without a walk.
   */
  private specVerdict: { readonly taskSpec: TaskSpec; readonly serviceSpec: TaskSpec; readonly same: boolean } | undefined;

  get index(): number {
    return this.lastIndex;
  }

  // ---- reads ----

  get<K extends ObjectKind>(kind: K, id: string): ObjectOfKind[K] | undefined {
    return (this.objects[kind] as Map<string, ObjectOfKind[K]>).get(id);
  }

  list<K extends ObjectKind>(kind: K): ObjectOfKind[K][] {
    return [...(this.objects[kind] as Map<string, ObjectOfKind[K]>).values()].sort(byId);
  }

  each<K extends ObjectKind>(kind: K): IterableIterator<ObjectOfKind[K]> {
    return (this.objects[kind] as Map<string, ObjectOfKind[K]>).values();
  }

  count(kind: ObjectKind): number {
    return this.objects[kind].size;
  }

  byName<K extends UniqueNameKind>(kind: K, name: string): ObjectOfKind[K] | undefined {
    const id = this.names[kind].get(name);
    return id === undefined ? undefined : this.get(kind, id);
  }

  nodesByName(name: string): Node[] {
    return this.resolve('node', this.nodeNames.get(name));
  }

  tasksByService(serviceId: string): Task[] {
    return this.resolve('task', this.tasksOfService.get(serviceId));
  }

  tasksByNode(nodeId: string): Task[] {
    return this.resolve('task', this.tasksOfNode.get(nodeId));
  }

  tasksBySlot(serviceId: string, slot: number): Task[] {
    return this.resolve('task', this.tasksOfSlot.get(serviceId)?.get(slot));
  }

  tasksByDesiredState(desiredState: DesiredState): Task[] {
    return [...this.eachTaskByDesiredState(desiredState)].sort(byId);
  }

  tasksByServiceInStoreOrder(serviceId: string): Task[] {
    const ids = this.tasksOfService.get(serviceId);
    if (ids === undefined) return [];
    if (typeof ids === 'string') return [this.tasks.get(ids)!];
    const out: Task[] = [];
    for (const id of ids) out.push(this.tasks.get(id)!);
    return out;
  }

  serviceIdsWithTasks(): Iterable<string> {
    return this.tasksOfService.keys();
  }

  *eachTaskByDesiredState(desiredState: DesiredState): Iterable<Task> {
    for (const task of this.tasks.values()) if (task.desiredState === desiredState) yield task;
  }

  private resolve<K extends ObjectKind>(kind: K, ids: string | Set<string> | undefined): ObjectOfKind[K][] {
    if (ids === undefined) return [];
    if (typeof ids === 'string') return [this.get(kind, ids)!];
    const out: ObjectOfKind[K][] = [];
    for (const id of ids) out.push(this.get(kind, id)!);
    return out.sort(byId);
  }

  // ---- concurrency checks (propose time) ----

  /** Throws ObjectNotFoundError or VersionConflictError unless `id` is at `expectedVersion`. */
  checkVersion(kind: ObjectKind, id: string, expectedVersion: number): void {
    const current = this.get(kind, id);
    if (!current) throw new ObjectNotFoundError(kind, id);
    if (current.meta.version !== expectedVersion) throw new VersionConflictError(kind, id, expectedVersion, current.meta.version);
  }

  /** Dry run of a proposed batch: throws the StoreConflictError it would meet; changes nothing. */
  check(events: readonly JournalEvent[]): void {
    const error = this.run(events, this.lastIndex + 1);
    this.rollback();
    if (error) throw error;
  }

  // ---- apply (every manager, committed entries) ----

  /**
   * Applies a committed batch at Raft `index`: all of its events, or none if one conflicts (the
   * refusal is returned, and the index still advances: the entry was applied, to no effect).
   */
  applyBatch(events: readonly JournalEvent[], index: number): ApplyResult {
    if (!(Number.isSafeInteger(index) && index > this.lastIndex)) assert(false, `store applies index ${index} after ${this.lastIndex}`);
    const error = this.run(events, index);
    if (error) this.rollback();
    else this.undo.length = 0;
    this.lastIndex = index;
    return error ? { applied: false, index, error } : { applied: true, index };
  }

  private run(events: readonly JournalEvent[], index: number): StoreConflictError | undefined {
    assert(this.undo.length === 0, 'a batch is already being applied');
    try {
      for (let i = 0; i < events.length; i++) this.applyEvent(events[i]!, index);
    } catch (error) {
      if (error instanceof StoreConflictError) return error;
      this.rollback();
      throw error;
    }
    return undefined;
  }

  private rollback(): void {
    const undo = this.undo;
    for (let i = undo.length - 1; i >= 0; i--) {
      const entry = undo[i]!;
      this.write(entry.kind, entry.id, this.get(entry.kind, entry.id), entry.previous);
    }
    undo.length = 0;
  }

  /** Replaces `previous` (the current value, which the caller has just read) with `next`. */
  private put<K extends ObjectKind>(kind: K, id: string, previous: ObjectOfKind[K] | undefined, next: ObjectOfKind[K] | undefined): void {
    this.undo.push({ kind, id, previous });
    this.write(kind, id, previous, next);
  }

  /** `put` for a task: the same, without dispatching on the kind. */
  private putTask(id: string, previous: Task | undefined, next: Task | undefined): void {
    this.undo.push({ kind: 'task', id, previous });
    if (next === undefined) this.tasks.delete(id);
    else this.tasks.set(id, next);
    this.reindexTask(id, previous, next);
  }

  /** Sets or deletes an object and keeps every index in step. */
  private write(kind: ObjectKind, id: string, previous: AnyObject | undefined, next: AnyObject | undefined): void {
    const map = this.objects[kind] as Map<string, AnyObject>;
    if (next === undefined) map.delete(id);
    else map.set(id, next);
    if (kind === 'task') {
      this.reindexTask(id, previous as Task | undefined, next as Task | undefined);
      return;
    }
    const before = previous && nameOf(kind, previous);
    const after = next && nameOf(kind, next);
    if (before === after) return;
    if (kind === 'node') {
      if (before !== undefined) removeFrom(this.nodeNames, before, id);
      if (after !== undefined) addTo(this.nodeNames, after, id);
    } else if (kind !== 'cluster') {
      const names = this.names[kind];
      if (before !== undefined && names.get(before) === id) names.delete(before);
      if (after !== undefined) names.set(after, id);
    }
  }

  private reindexTask(id: string, previous: Task | undefined, next: Task | undefined): void {
    // A status change, the commonest event, changes no indexed field.
    if (previous !== undefined && next !== undefined && previous.nodeId === next.nodeId
      && previous.serviceId === next.serviceId && previous.slot === next.slot) return;
    if (previous?.serviceId !== next?.serviceId || previous?.slot !== next?.slot) {
      if (previous) {
        removeFrom(this.tasksOfService, previous.serviceId, id);
        const slots = this.tasksOfSlot.get(previous.serviceId);
        if (slots) {
          removeFrom(slots, previous.slot, id);
          if (slots.size === 0) this.tasksOfSlot.delete(previous.serviceId);
        }
      }
      if (next) {
        addTo(this.tasksOfService, next.serviceId, id);
        let slots = this.tasksOfSlot.get(next.serviceId);
        if (!slots) this.tasksOfSlot.set(next.serviceId, (slots = new Map()));
        addTo(slots, next.slot, id);
      }
    }
    if (previous?.nodeId !== next?.nodeId) {
      if (previous && previous.nodeId !== '') removeFrom(this.tasksOfNode, previous.nodeId, id);
      if (next && next.nodeId !== '') addTo(this.tasksOfNode, next.nodeId, id);
    }
  }

  /** The current object, if the event's expectation holds. */
  private expect<K extends ObjectKind>(kind: K, id: string, expectedVersion: number | null): ObjectOfKind[K] {
    return this.expectIn(kind, this.objects[kind] as Map<string, ObjectOfKind[K]>, id, expectedVersion);
  }

  /** `expect` with the kind's map at hand (the task cases pass theirs: one lookup fewer). */
  private expectIn<K extends ObjectKind>(kind: K, map: Map<string, ObjectOfKind[K]>, id: string, expectedVersion: number | null): ObjectOfKind[K] {
    const current = map.get(id);
    if (!current) throw new ObjectNotFoundError(kind, id);
    if (expectedVersion === null || current.meta.version === expectedVersion) return current;
    // An object changed earlier in this batch: the expectation refers to its version before the
    // batch (the proposer cannot know the index its batch will get).
    const before = this.undo.find((entry) => entry.kind === kind && entry.id === id);
    if (before?.previous && before.previous.meta.version === expectedVersion) return current;
    throw new VersionConflictError(kind, id, expectedVersion, before?.previous?.meta.version ?? current.meta.version);
  }

  private create<K extends ObjectKind>(kind: K, object: ObjectOfKind[K]): void {
    if (this.get(kind, object.id)) throw new ObjectExistsError(kind, object.id);
    this.claimName(kind, object);
    this.put(kind, object.id, undefined, object);
  }

  private claimName(kind: ObjectKind, object: AnyObject): void {
    if (kind === 'cluster' || kind === 'node' || kind === 'task') return;
    const name = nameOf(kind, object)!;
    const holder = this.names[kind].get(name);
    if (holder !== undefined && holder !== object.id) throw new NameConflictError(kind, name, holder);
  }

  private applyEvent(event: JournalEvent, index: number): void {
    const at = event.at;
    switch (event.type) {
      case 'cluster.created':
        return this.create('cluster', { id: event.id, meta: { version: index, createdAt: at, updatedAt: at }, spec: event.spec });
      case 'cluster.updated': {
        const current = this.expect('cluster', event.id, event.expectedVersion);
        return this.put('cluster', event.id, current, { ...current, meta: touch(current.meta, index, at), spec: event.spec });
      }
      case 'node.registered':
        return this.create('node', { id: ownString(event.id), meta: { version: index, createdAt: at, updatedAt: at }, spec: event.spec, description: event.description, status: event.status });
      case 'node.updated': {
        const current = this.expect('node', event.id, event.expectedVersion);
        return this.put('node', event.id, current, { ...current, meta: touch(current.meta, index, at), spec: event.spec });
      }
      case 'node.descriptionChanged': {
        const current = this.expect('node', event.id, event.expectedVersion);
        return this.put('node', event.id, current, { ...current, meta: touch(current.meta, index, at), description: event.description });
      }
      case 'node.statusChanged': {
        const current = this.expect('node', event.id, event.expectedVersion);
        return this.put('node', event.id, current, { ...current, meta: touch(current.meta, index, at), status: event.status });
      }
      case 'service.created':
        return this.create('service', {
          id: ownString(event.id), meta: { version: index, createdAt: at, updatedAt: at }, spec: event.spec, previousSpec: null,
          specVersion: index, updateStatus: null, endpoint: null,
        });
      case 'service.updated': {
        const current = this.expect('service', event.id, event.expectedVersion);
        // An unchanged task spec (a scale, a rename) stays the same object: tasks that hold it
        // stay identical to the service's, which keeps the orchestrator's "is this task current" a
        // pointer comparison.
        const spec = sameValue(event.spec.task, current.spec.task) ? { ...event.spec, task: current.spec.task } : event.spec;
        const next = { ...current, meta: touch(current.meta, index, at), spec, previousSpec: current.spec, specVersion: index };
        this.claimName('service', next);
        return this.put('service', event.id, current, next);
      }
      case 'service.updateStatusChanged': {
        const current = this.expect('service', event.id, event.expectedVersion);
        return this.put('service', event.id, current, { ...current, meta: touch(current.meta, index, at), updateStatus: event.updateStatus });
      }
      case 'service.rolledBack': {
        const current = this.expect('service', event.id, event.expectedVersion);
        if (current.previousSpec === null) throw new InvalidTransitionError('service', event.id, 'has no previous spec to roll back to');
        // The two specs trade places: rolling back a rollback is the update again.
        const next = {
          ...current, meta: touch(current.meta, index, at), spec: current.previousSpec, previousSpec: current.spec, specVersion: index,
          updateStatus: event.updateStatus,
        };
        this.claimName('service', next);
        return this.put('service', event.id, current, next);
      }
      case 'service.endpointAllocated': {
        const current = this.expect('service', event.id, event.expectedVersion);
        return this.put('service', event.id, current, { ...current, meta: touch(current.meta, index, at), endpoint: event.endpoint });
      }
      case 'task.created': {
        const service = this.get('service', event.serviceId);
        if (!service) throw new ObjectNotFoundError('service', event.serviceId);
        if (this.tasks.has(event.id)) throw new ObjectExistsError('task', event.id);
        // A task's spec is nearly always a copy of its service's: hold the service's object
        // (equal, immutable) instead of one decoded tree per task.
        const spec = this.isServiceSpec(event.spec, service.spec.task) ? service.spec.task : event.spec;
        // The strings a task shares with its service, its node and the enumerations are held once
        // (a decoded string is a fresh copy per event, on every manager).
        const id = ownString(event.id);
        return this.putTask(id, undefined, {
          id, meta: this.meta(index, at, at), serviceId: service.id, slot: event.slot, nodeId: this.nodeIdOf(event.nodeId),
          spec, serviceVersion: event.serviceVersion, desiredState: desiredStateOf(event.desiredState), status: this.status(event.status),
          restarts: orEmpty(event.restarts), addresses: orEmpty(event.addresses),
        });
      }
      case 'task.assigned': {
        const current = this.expectIn('task', this.tasks, event.id, event.expectedVersion);
        if (current.nodeId !== '' && current.nodeId !== event.nodeId) {
          throw new InvalidTransitionError('task', event.id, `is bound to node ${current.nodeId}; a binding never changes (asked ${event.nodeId})`);
        }
        checkStatus(current, event.status);
        return this.putTask(event.id, current, nextTask(current, this.touch(current.meta, index, at), current.nodeId !== '' ? current.nodeId : this.nodeIdOf(event.nodeId), current.desiredState, this.status(event.status), current.addresses));
      }
      case 'task.statusChanged': {
        const current = this.expectIn('task', this.tasks, event.id, event.expectedVersion);
        checkStatus(current, event.status);
        return this.putTask(event.id, current, nextTask(current, this.touch(current.meta, index, at), current.nodeId, current.desiredState, this.status(event.status), current.addresses));
      }
      case 'task.desiredStateChanged': {
        const current = this.expectIn('task', this.tasks, event.id, event.expectedVersion);
        return this.putTask(event.id, current, nextTask(current, this.touch(current.meta, index, at), current.nodeId, desiredStateOf(event.desiredState), current.status, current.addresses));
      }
      case 'task.allocated': {
        const current = this.expectIn('task', this.tasks, event.id, event.expectedVersion);
        checkStatus(current, event.status);
        return this.putTask(event.id, current, nextTask(current, this.touch(current.meta, index, at), current.nodeId, current.desiredState, this.status(event.status), orEmpty(event.addresses)));
      }
      case 'network.created':
        return this.create('network', { id: event.id, meta: { version: index, createdAt: at, updatedAt: at }, spec: event.spec });
      case 'secret.created':
        return this.create('secret', { id: event.id, meta: { version: index, createdAt: at, updatedAt: at }, spec: event.spec });
      case 'secret.updated': {
        const current = this.expect('secret', event.id, event.expectedVersion);
        const spec = { ...current.spec, annotations: { ...current.spec.annotations, labels: event.labels } };
        return this.put('secret', event.id, current, { ...current, meta: touch(current.meta, index, at), spec });
      }
      case 'config.created':
        return this.create('config', { id: event.id, meta: { version: index, createdAt: at, updatedAt: at }, spec: event.spec });
      case 'node.removed':
      case 'service.removed':
      case 'task.removed':
      case 'network.removed':
      case 'secret.removed':
      case 'config.removed': {
        const kind = event.type.slice(0, event.type.indexOf('.')) as ObjectKind;
        const current = this.expect(kind, event.id, event.expectedVersion);
        return this.put(kind, event.id, current, undefined);
      }
      default:
        return assertNever(event, 'event');
    }
  }

  /** Is the created task's spec equal to its service's (see `specVerdict`)? */
  private isServiceSpec(taskSpec: TaskSpec, serviceSpec: TaskSpec): boolean {
    const last = this.specVerdict;
    if (last !== undefined && last.taskSpec === taskSpec && last.serviceSpec === serviceSpec) return last.same;
    const same = sameValue(taskSpec, serviceSpec);
    this.specVerdict = { taskSpec, serviceSpec, same };
    return same;
  }

  /** A task's meta: the last one given when equal (see `sharedMeta`). */
  private meta(version: number, createdAt: number, updatedAt: number): Meta {
    const last = this.sharedMeta;
    if (last !== undefined && last.version === version && last.createdAt === createdAt && last.updatedAt === updatedAt) return last;
    return (this.sharedMeta = { version, createdAt, updatedAt });
  }

  /** The meta of a changed task. */
  private touch(meta: Meta, index: number, at: number): Meta {
    return this.meta(index, meta.createdAt, at);
  }

  /** A task's status: the last one given when equal (see `sharedStatus`), its state the enumeration's own string. */
  private status(status: TaskStatus): TaskStatus {
    const last = this.sharedStatus;
    if (last !== undefined && last.timestamp === status.timestamp && last.state === status.state && last.message === status.message && last.err === status.err) return last;
    return (this.sharedStatus = { state: TASK_STATE_OF.get(status.state) ?? status.state, message: ownString(status.message), timestamp: status.timestamp, err: ownString(status.err) });
  }

  /** A node id as the node object holds it, when the node is known (a bound task names its node's id). */
  private nodeIdOf(nodeId: string): string {
    if (nodeId === '') return '';
    return this.objects.node.get(nodeId)?.id ?? nodeId;
  }

  // ---- snapshot (the format is in snapshot.ts) ----

  /** The store at this index, as arrays of its (immutable) objects: cheap, and stays consistent. */
  private view(): StoreView {
    const objects = {} as { [K in ObjectKind]: ObjectOfKind[K][] };
    for (const kind of OBJECT_KINDS) {
      (objects as Record<ObjectKind, AnyObject[]>)[kind] = kind === 'task' ? Array.from(this.tasks.values()) : this.sortedObjects(kind);
    }
    return { index: this.lastIndex, objects, sorted: (kind, sorted) => this.keepOrder(kind, sorted) };
  }

  /**
   * Keeps the order a snapshot writer sorted a kind's objects into (a view gave them unsorted, see
   * sortedObjects), as that view's. The store may have changed since: the next view's merge
   * accounts for that, as it does for any change after a view.
   */
  private keepOrder(kind: ObjectKind, sorted: readonly AnyObject[]): void {
    if (kind === 'task') return;
    const ids = sorted.map((object) => object.id);
    this.sortedIds.set(kind, { ids, known: new Set(ids) });
  }

  /**
   * The objects of a kind sorted by id (the snapshot's order), kept up to date from the last
   * view's order: the ids added since are sorted and merged in, those removed skipped. A snapshot
   * then sorts only what changed (its writer finds the view sorted). Not for tasks: a million of
   * them would hold tens of MiB more for this, and their writer sorts them in steps.
   */
  private sortedObjects(kind: Exclude<ObjectKind, 'task'>): AnyObject[] {
    const map = this.objects[kind] as Map<string, AnyObject>;
    let order = this.sortedIds.get(kind);
    if (order === undefined) {
      order = { ids: [], known: new Set() };
      this.sortedIds.set(kind, order);
    }
    const { known } = order;
    const added: string[] = [];
    for (const id of map.keys()) if (!known.has(id)) added.push(id);
    if (added.length > VIEW_SORT_MAX) {
      // Too many to sort here, in one turn of the event loop (100,000 new configs took 300-600 ms
      // on a busy manager): the writer sorts them in steps and tells keepOrder the order.
      this.sortedIds.delete(kind);
      return Array.from(map.values());
    }
    added.sort(); // UTF-16 code unit order, the order of `<` (byId)
    const ids: string[] = [];
    const objects: AnyObject[] = [];
    let a = 0;
    for (const id of order.ids) {
      const object = map.get(id);
      if (object === undefined) {
        known.delete(id);
        continue;
      }
      while (a < added.length && (added[a] as string) < id) {
        const newId = added[a++] as string;
        ids.push(newId);
        objects.push(map.get(newId) as AnyObject);
      }
      ids.push(id);
      objects.push(object);
    }
    for (; a < added.length; a++) {
      const newId = added[a] as string;
      ids.push(newId);
      objects.push(map.get(newId) as AnyObject);
    }
    for (const id of added) known.add(id);
    order.ids = ids;
    return objects;
  }

  /**
   * The store as bytes for a Raft snapshot: the same store always yields the same bytes. Version
   * STORE_SNAPSHOT_VERSION unless told; version 1 is the first format, every object a canonical map (see snapshot.ts).
   */
  serialize(options: { readonly version?: StoreSnapshotVersion } = {}): Uint8Array {
    if (options.version === 1) return serializeV1(this.view());
    const writer = new StoreSnapshotWriter(this.view());
    while (!writer.step());
    return writer.bytes();
  }

  /**
   * A writer of this store's snapshot as it is now, to run a step at a time (`step()` until it
   * returns true, then `bytes()`): the store may apply batches between steps, and the bytes are
   * still those `serialize()` gives at this point. Capturing the view copies one reference per
   * object (and sorts at most VIEW_SORT_MAX new ids); each step then does bounded work: a sort run
   * or merge, a thousand objects whose bytes are known, or 32 to encode.
   */
  snapshotWriter(frame?: SnapshotFrame): StoreSnapshotWriter {
    return new StoreSnapshotWriter(this.view(), frame);
  }

  /**
   * `serialize()` without stopping the world: a step at a time, awaiting `nextTurn` (the Env's
   * way to yield to the event loop, e.g. a setImmediate) between steps.
   */
  async serializeIncrementally(nextTurn: () => Promise<void>): Promise<Uint8Array> {
    const writer = this.snapshotWriter();
    while (!writer.step()) await nextTurn();
    return writer.bytes();
  }

  /** Rebuilds a store (objects and indexes) from `serialize`'s bytes, of any version; StoreSnapshotInvalidError otherwise. */
  static restore(bytes: Uint8Array): Store {
    const { index, objects } = decodeStoreSnapshot(bytes);
    const store = new Store();
    store.lastIndex = index;
    for (const kind of OBJECT_KINDS) {
      const list: readonly AnyObject[] = objects[kind];
      for (let i = 0; i < list.length; i++) {
        const object = list[i] as AnyObject;
        const field = `objects.${kind}[${i}]`;
        if (store.objects[kind].has(object.id)) throw new StoreSnapshotInvalidError(`${field}.id`, `repeats ${object.id}`);
        if (object.meta.version > index) throw new StoreSnapshotInvalidError(`${field}.meta.version`, `is after the snapshot's index ${index}`);
        // A change of spec is a change of the service: its specVersion is never after its version.
        if (kind === 'service' && (object as Service).specVersion > object.meta.version) {
          throw new StoreSnapshotInvalidError(`${field}.specVersion`, `is after the service's meta.version ${object.meta.version}`);
        }
        try {
          store.claimName(kind, object);
        } catch (error) {
          throw new StoreSnapshotInvalidError(`${field}.spec.annotations.name`, error instanceof Error ? error.message : String(error), { cause: error });
        }
        store.write(kind, object.id, undefined, object);
      }
    }
    return store;
  }
}

/**
 * A string of its own, not a slice of a larger one. The decoder reads a batch's strings as slices
 * of a few long strings (up to about 6 KB each, cut from the entry's bytes), and a slice keeps the
 * whole of its parent alive: an id the store keeps for as long as the object lives would keep its
 * event's neighbours' text too (at 100,000 tasks, about 250 bytes per task on each manager) and
 * make the GC promote every such block. A concatenation flattened by `slice` copies the characters
 * into a string the size of the id.
 */
function ownString(value: string): string {
  return value.length < SLICE_LENGTH_MIN ? value : (' ' + value).slice(1);
}
/**
 * Ids added since the last view that the view itself sorts (a few milliseconds); with more, it
 * gives the kind unsorted and the snapshot writer sorts it in steps.
 */
const VIEW_SORT_MAX = 4096;

/** V8 copies a substring shorter than this rather than slicing it (SlicedString::kMinLength). */
const SLICE_LENGTH_MIN = 13;

/**
 * A changed task, built field by field in the order of a created one (and of the schema), so that
 * every task in the store has one hidden class: a spread of a dozen fields costs more and may not.
 */
function nextTask(task: Task, meta: Meta, nodeId: string, desiredState: DesiredState, status: TaskStatus, addresses: readonly NetworkAddress[]): Task {
  return {
    id: task.id, meta, serviceId: task.serviceId, slot: task.slot, nodeId,
    spec: task.spec, serviceVersion: task.serviceVersion, desiredState, status, restarts: task.restarts, addresses,
  };
}

/** The meta of a changed object: a module function, not a closure per event (apply is hot). */
function touch(meta: Meta, index: number, at: number): Meta {
  return { version: index, createdAt: meta.createdAt, updatedAt: at };
}

/**
 * TASK_STATE_ORDER as a Map: a decoded state is a fresh, non-internalized string, which as a
 * property key costs a string-table lookup, where a Map lookup only hashes it.
 */
const STATE_RANK = new Map<string, number>(Object.entries(TASK_STATE_ORDER));
/** Each task state and desired state as the enumeration's own string: one copy of each, however many tasks hold it. */
const TASK_STATE_OF = new Map<string, TaskState>(TASK_STATES.map((state) => [state, state]));
const DESIRED_STATE_OF = new Map<string, DesiredState>(DESIRED_STATES.map((state) => [state, state]));

function desiredStateOf(desiredState: DesiredState): DesiredState {
  return DESIRED_STATE_OF.get(desiredState) ?? desiredState;
}

function checkStatus(task: Task, status: TaskStatus): void {
  if (STATE_RANK.get(status.state)! < STATE_RANK.get(task.status.state)!) {
    throw new InvalidTransitionError('task', task.id, `observed state may not go back from ${task.status.state} to ${status.state}`);
  }
}

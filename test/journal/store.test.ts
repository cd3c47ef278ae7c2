// The store projection: objects and meta versions, every index, optimistic concurrency (version
// and name conflicts, refused whole and identically at apply time, or up front with check), the
// task rules (state never back, node binding immutable), the orchestration's events (update
// status, rollback, endpoint, task allocation), and the snapshot's properties, old versions included.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import {
  InvalidTransitionError, NameConflictError, ObjectExistsError, ObjectNotFoundError, STORE_SNAPSHOT_VERSION, Store, StoreSnapshotInvalidError,
  VersionConflictError, DESIRED_STATES, OBJECT_KINDS, decodeBatch, encodeBatch, sameValue,
  type JournalEvent, type StoreConflictError, type Task,
} from '../../journal/index.js';
import { InvariantViolation, decodeMessage, encodeMessage } from '../../runtime/index.js';
import { batchesArb, blob, nodeDescription, nodeSpec, nodeStatus, oneOfEach, serviceEndpoint, serviceSpec, status, taskSpec, updateStatus } from './journal-fixtures.js';
import { thrown } from './helpers.js';


/** Applies each event as its own entry, at indexes 1, 2, ... */
function storeOf(events: readonly JournalEvent[]): Store {
  const store = new Store();
  events.forEach((event, i) => {
    const result = store.applyBatch([event], i + 1);
    if (!result.applied) throw result.error;
  });
  return store;
}

/** Everything a reader can see, indexes recomputed by brute force from the objects. */
function bruteView(store: Store): unknown {
  const tasks = store.list('task');
  const group = (key: (t: Task) => string | undefined): Record<string, string[]> => {
    const out: Record<string, string[]> = {};
    for (const task of tasks) {
      const k = key(task);
      if (k !== undefined) (out[k] ??= []).push(task.id);
    }
    return out;
  };
  return {
    byService: group((t) => t.serviceId),
    byNode: group((t) => (t.nodeId === '' ? undefined : t.nodeId)),
    bySlot: group((t) => `${t.serviceId}/${t.slot}`),
    byDesired: group((t) => t.desiredState),
    names: Object.fromEntries((['service', 'network', 'secret', 'config'] as const).map((kind) => [kind, Object.fromEntries(store.list(kind).map((o) => [o.spec.annotations.name, o.id]))])),
    nodeNames: Object.fromEntries([...new Set(store.list('node').map((n) => n.spec.annotations.name))].map((name) => [name, store.list('node').filter((n) => n.spec.annotations.name === name).map((n) => n.id)])),
  };
}

/** The same, read through the store's indexes. */
function indexView(store: Store): unknown {
  const tasks = store.list('task');
  const ids = (list: { id: string }[]): string[] => list.map((o) => o.id);
  const nonEmpty = (entries: [string, string[]][]): Record<string, string[]> => Object.fromEntries(entries.filter(([, v]) => v.length > 0));
  return {
    byService: nonEmpty([...new Set(tasks.map((t) => t.serviceId))].map((s) => [s, ids(store.tasksByService(s))])),
    byNode: nonEmpty([...new Set(tasks.map((t) => t.nodeId))].filter((n) => n !== '').map((n) => [n, ids(store.tasksByNode(n))])),
    bySlot: nonEmpty([...new Set(tasks.map((t) => `${t.serviceId}/${t.slot}`))].map((k) => [k, ids(store.tasksBySlot(k.split('/')[0]!, Number(k.split('/')[1])))])),
    byDesired: nonEmpty(DESIRED_STATES.map((d) => [d, ids(store.tasksByDesiredState(d))])),
    names: Object.fromEntries((['service', 'network', 'secret', 'config'] as const).map((kind) => [kind, Object.fromEntries(store.list(kind).map((o) => [o.spec.annotations.name, store.byName(kind, o.spec.annotations.name)?.id]))])),
    nodeNames: Object.fromEntries([...new Set(store.list('node').map((n) => n.spec.annotations.name))].map((name) => [name, ids(store.nodesByName(name))])),
  };
}

const objectsOf = (store: Store): unknown => OBJECT_KINDS.map((kind) => store.list(kind));
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** A frozen golden of entries and the snapshots a writer made of them, and the store its entries replay to. */
function snapshotFixture<S>(file: string): { fixture: { index: number; entries: string[] } & S; replayed: Store } {
  const fixture = JSON.parse(readFileSync(path.join(import.meta.dirname, 'golden', file), 'utf8')) as { index: number; entries: string[] } & S;
  const replayed = new Store();
  fixture.entries.forEach((entry, i) => {
    const result = replayed.applyBatch(decodeBatch(bytes(entry)).events, i + 1);
    if (!result.applied) throw result.error;
  });
  return { fixture, replayed };
}

const bytes = (base64: string): Uint8Array => new Uint8Array(Buffer.from(base64, 'base64'));

/** Each frozen snapshot (base64, with the version it was written in) restores to the store its entries replay to: the same objects, indexes and bytes. */
function expectRestoresTo(replayed: Store, index: number, snapshots: ReadonlyArray<readonly [string, number]>): void {
  const expected = hex(replayed.serialize());
  for (const [snapshot, version] of snapshots) {
    expect((decodeMessage(bytes(snapshot)) as { v: number }).v).toBe(version);
    const restored = Store.restore(bytes(snapshot));
    expect(restored.index).toBe(index);
    expect(objectsOf(restored)).toEqual(objectsOf(replayed));
    expect(indexView(restored)).toEqual(indexView(replayed));
    expect(hex(restored.serialize())).toBe(expected);
  }
}

describe('store: apply', () => {
  test('objects get meta from the event and the index; every index follows', () => {
    const events = oneOfEach();
    // Up to the task's desired state change (index 15).
    const store = storeOf(events.slice(0, 15));
    expect(store.index).toBe(15);
    const cluster = store.get('cluster', 'c1')!;
    expect(cluster.spec.annotations.name).toBe('renamed');
    expect(cluster.meta).toEqual({ version: 2, createdAt: 1_000, updatedAt: 1_000 });
    const node = store.get('node', 'n1')!;
    expect(node).toMatchObject({ meta: { version: 5 }, spec: { availability: 'drain' }, status: { state: 'ready' } });
    expect(store.nodesByName('host-1').map((n) => n.id)).toEqual(['n1']);
    const service = store.get('service', 's1')!;
    expect(service.meta.version).toBe(11);
    expect(service.previousSpec).toEqual(serviceSpec('web'));
    expect(service.spec.mode).toEqual({ kind: 'replicated', replicas: 5 });
    expect(store.byName('service', 'web')?.id).toBe('s1');
    expect(store.byName('network', 'backend')?.id).toBe('net1');
    expect(store.byName('secret', 'db-password')?.spec.annotations.labels).toEqual({ rotated: 'yes' });
    expect(store.byName('config', 'nginx.conf')?.id).toBe('cfg1');
    const task = store.get('task', 't1')!;
    expect(task).toMatchObject({ nodeId: 'n1', desiredState: 'shutdown', status: { state: 'running' }, meta: { version: 15, createdAt: 1_000 } });
    expect(store.tasksByService('s1')).toEqual([task]);
    expect(store.tasksByNode('n1')).toEqual([task]);
    expect(store.tasksBySlot('s1', 1)).toEqual([task]);
    expect(store.tasksBySlot('s1', 2)).toEqual([]);
    expect(store.tasksByDesiredState('shutdown')).toEqual([task]);
    expect(store.tasksByDesiredState('running')).toEqual([]);
    expect(indexView(store)).toEqual(bruteView(store));

    // The rest removes everything, and leaves no index entry behind.
    const empty = storeOf(events);
    for (const kind of OBJECT_KINDS.filter((k) => k !== 'cluster')) expect(empty.count(kind)).toBe(0);
    expect(empty.tasksByService('s1')).toEqual([]);
    expect(empty.tasksByNode('n1')).toEqual([]);
    expect(empty.byName('service', 'web')).toBeUndefined();
    expect(empty.nodesByName('host-1')).toEqual([]);
  });

  test('a stale expected version is refused whole, with kind, id and both versions; the index advances', () => {
    const store = storeOf(oneOfEach().slice(0, 11)); // s1 is at version 11
    const before = objectsOf(store);
    const result = store.applyBatch([
      { type: 'service.created', v: 2, at: 2, id: 's2', spec: serviceSpec('api') },
      { type: 'service.updated', v: 2, at: 2, id: 's1', spec: serviceSpec('web', 9), expectedVersion: 10 },
    ], 12);
    expect(result.applied).toBe(false);
    if (result.applied) return;
    expect(result.error).toBeInstanceOf(VersionConflictError);
    expect(result.error).toMatchObject({ code: 'VERSION_CONFLICT', kind: 'service', id: 's1', expectedVersion: 10, actualVersion: 11 });
    expect(objectsOf(store)).toEqual(before);
    expect(store.byName('service', 'api')).toBeUndefined();
    expect(store.index).toBe(12);
    expect(indexView(store)).toEqual(bruteView(store));
    // The current version is accepted.
    expect(store.applyBatch([{ type: 'service.updated', v: 2, at: 3, id: 's1', spec: serviceSpec('web', 9), expectedVersion: 11 }], 13)).toEqual({ applied: true, index: 13 });
    expect(store.get('service', 's1')!.meta).toEqual({ version: 13, createdAt: 1_000, updatedAt: 3 });
  });

  test('within a batch, an expected version refers to the object before the batch', () => {
    const store = storeOf(oneOfEach().slice(0, 12)); // t1 created at 12
    const result = store.applyBatch([
      { type: 'task.assigned', v: 1, at: 5, id: 't1', nodeId: 'n1', status: status('assigned'), expectedVersion: 12 },
      { type: 'task.statusChanged', v: 1, at: 5, id: 't1', status: status('accepted'), expectedVersion: 12 },
    ], 20);
    expect(result.applied).toBe(true);
    expect(store.get('task', 't1')).toMatchObject({ nodeId: 'n1', status: { state: 'accepted' }, meta: { version: 20 } });
    const stale = store.applyBatch([{ type: 'task.statusChanged', v: 1, at: 5, id: 't1', status: status('running'), expectedVersion: 12 }], 21);
    expect(stale).toMatchObject({ applied: false, error: { kind: 'task', expectedVersion: 12, actualVersion: 20 } });
  });

  test('names are unique per kind: on create, on rename, and a rename frees the old name', () => {
    const store = storeOf(oneOfEach().slice(0, 11));
    const clash = store.applyBatch([{ type: 'service.created', v: 2, at: 0, id: 's2', spec: serviceSpec('web') }], 12);
    expect(clash).toMatchObject({ applied: false });
    if (clash.applied) return;
    expect(clash.error).toBeInstanceOf(NameConflictError);
    expect(clash.error).toMatchObject({ code: 'NAME_CONFLICT', kind: 'service', objectName: 'web', existingId: 's1' });
    // A network may share a service's name: uniqueness is per kind.
    expect(store.applyBatch([{ type: 'network.created', v: 1, at: 0, id: 'net2', spec: { ...oneOfEach()[5]!.type === 'network.created' ? (oneOfEach()[5] as Extract<JournalEvent, { type: 'network.created' }>).spec : undefined!, annotations: { name: 'web', labels: {} } } }], 13).applied).toBe(true);
    expect(store.applyBatch([
      { type: 'service.created', v: 2, at: 0, id: 's2', spec: serviceSpec('api') },
      { type: 'service.updated', v: 2, at: 0, id: 's2', spec: serviceSpec('web'), expectedVersion: null },
    ], 14)).toMatchObject({ applied: false, error: { code: 'NAME_CONFLICT', existingId: 's1' } });
    expect(store.applyBatch([{ type: 'service.updated', v: 2, at: 0, id: 's1', spec: serviceSpec('www'), expectedVersion: null }], 15).applied).toBe(true);
    expect(store.byName('service', 'web')).toBeUndefined();
    expect(store.byName('service', 'www')?.id).toBe('s1');
    expect(store.applyBatch([{ type: 'service.created', v: 2, at: 0, id: 's2', spec: serviceSpec('web') }], 16).applied).toBe(true);
    expect(indexView(store)).toEqual(bruteView(store));
  });

  test('task rules: the observed state never goes back, the node binding never changes, the service must exist', () => {
    const store = storeOf(oneOfEach().slice(0, 14)); // t1 running on n1
    const back = store.applyBatch([{ type: 'task.statusChanged', v: 1, at: 0, id: 't1', status: status('starting'), expectedVersion: null }], 15);
    expect(back).toMatchObject({ applied: false, error: { code: 'INVALID_TRANSITION', kind: 'task', id: 't1' } });
    if (!back.applied) expect(back.error).toBeInstanceOf(InvalidTransitionError);
    // The same state again (a new message) is fine.
    expect(store.applyBatch([{ type: 'task.statusChanged', v: 1, at: 0, id: 't1', status: { ...status('running'), message: 'healthy' }, expectedVersion: null }], 16).applied).toBe(true);
    expect(store.applyBatch([{ type: 'task.assigned', v: 1, at: 0, id: 't1', nodeId: 'n2', status: status('running'), expectedVersion: null }], 17))
      .toMatchObject({ applied: false, error: { code: 'INVALID_TRANSITION' } });
    const orphan = store.applyBatch([{
      type: 'task.created', v: 2, at: 0, id: 't9', serviceId: 'nope', slot: 1, nodeId: '', spec: taskSpec(), serviceVersion: 0, desiredState: 'running', status: status('new'),
      restarts: [], addresses: [],
    }], 18);
    expect(orphan).toMatchObject({ applied: false, error: { code: 'OBJECT_NOT_FOUND', kind: 'service', id: 'nope' } });
    if (!orphan.applied) expect(orphan.error).toBeInstanceOf(ObjectNotFoundError);
    const again = store.applyBatch([oneOfEach()[0]!], 19);
    expect(again).toMatchObject({ applied: false, error: { code: 'OBJECT_EXISTS', kind: 'cluster', id: 'c1' } });
    if (!again.applied) expect(again.error).toBeInstanceOf(ObjectExistsError);
    expect(store.applyBatch([{ type: 'node.removed', v: 1, at: 0, id: 'n7', expectedVersion: null }], 20)).toMatchObject({ applied: false, error: { code: 'OBJECT_NOT_FOUND', kind: 'node' } });
  });

  test('check: the propose-time dry run throws the conflict and changes nothing', () => {
    const store = storeOf(oneOfEach().slice(0, 11));
    const bytes = hex(store.serialize());
    const error = thrown(() => store.check([
      { type: 'service.created', v: 2, at: 0, id: 's2', spec: serviceSpec('api') },
      { type: 'service.created', v: 2, at: 0, id: 's3', spec: serviceSpec('api') },
    ]));
    expect(error).toMatchObject({ code: 'NAME_CONFLICT', objectName: 'api', existingId: 's2' });
    store.check([{ type: 'service.created', v: 2, at: 0, id: 's2', spec: serviceSpec('api') }]);
    expect(hex(store.serialize())).toBe(bytes);
    expect(store.byName('service', 'api')).toBeUndefined();
    store.checkVersion('service', 's1', 11);
    expect(thrown(() => store.checkVersion('service', 's1', 3))).toMatchObject({ code: 'VERSION_CONFLICT', expectedVersion: 3, actualVersion: 11 });
    expect(thrown(() => store.checkVersion('task', 'zz', 3))).toBeInstanceOf(ObjectNotFoundError);
  });

  test("a task whose spec equals its service's holds the service's spec object; any difference keeps its own", () => {
    const events = oneOfEach();
    const store = storeOf(events.slice(0, 11)); // s1 created and updated: spec serviceSpec('web', 5)
    const service = store.get('service', 's1')!;
    const create = (id: string, spec: Task['spec'], index: number): void => {
      const result = store.applyBatch([{
        type: 'task.created', v: 2, at: 0, id, serviceId: 's1', slot: 1, nodeId: '', spec, serviceVersion: 11, desiredState: 'running', status: status('new'), restarts: [], addresses: [],
      }], index);
      expect(result.applied).toBe(true);
    };
    // (Copies by the fixture, not structuredClone: jest's realm makes foreign arrays, which cbor-x encodes differently.)
    expect(taskSpec()).not.toBe(service.spec.task);
    create('t1', taskSpec(), 12);
    expect(store.get('task', 't1')!.spec).toBe(service.spec.task);
    // One leaf differs, a key is in another order, 0 is -0: not the same value.
    const other = taskSpec();
    create('t2', { ...other, container: { ...other.container, args: [...other.container.args, 'x'] } }, 13);
    const { networks, ...rest } = other;
    create('t3', { networks, ...rest }, 14);
    create('t4', { ...other, placement: { ...other.placement, maxReplicasPerNode: -0 } }, 15);
    for (const id of ['t2', 't3', 't4']) expect(store.get('task', id)!.spec).not.toBe(service.spec.task);
    expect(Object.keys(store.get('task', 't3')!.spec)[0]).toBe('networks');
    // Sharing never shows in the bytes: a store that shares nothing (restored) serializes the same.
    const bytes = hex(store.serialize());
    expect(hex(Store.restore(store.serialize()).serialize())).toBe(bytes);
  });

  test('indexes must increase: applying an old index is a bug', () => {
    const store = storeOf(oneOfEach().slice(0, 2));
    expect(thrown(() => store.applyBatch([], 2))).toBeInstanceOf(InvariantViolation);
    expect(store.applyBatch([], 7)).toEqual({ applied: true, index: 7 });
  });
});

/** What identifies a refusal: its class, code and message (which names kind, id and versions). */
const refusal = (error: unknown): unknown => ({ name: (error as Error).constructor.name, code: (error as StoreConflictError).code, message: (error as Error).message });

/**
 * Applies `batch` after `events` (one entry each) on two stores, dry-running it first on one:
 * refused the same way by both and by the dry run, changing no object. Returns the refusal.
 */
function expectRefused(events: readonly JournalEvent[], batch: readonly JournalEvent[]): StoreConflictError {
  const one = storeOf(events);
  const two = storeOf(events);
  const before = objectsOf(one);
  const dry = thrown(() => one.check(batch));
  const a = one.applyBatch(batch, events.length + 1);
  const b = two.applyBatch(batch, events.length + 1);
  if (a.applied || b.applied) throw new Error(`applied: ${JSON.stringify(batch)}`);
  expect(refusal(b.error)).toEqual(refusal(a.error));
  expect(refusal(dry)).toEqual(refusal(a.error));
  expect(objectsOf(one)).toEqual(before);
  expect(objectsOf(two)).toEqual(before);
  expect(one.index).toBe(events.length + 1);
  return a.error;
}

describe("store: the orchestration's events", () => {
  const at = 3_000;
  // oneOfEach: s1 created at 10, updated at 11; t1 created at 12 (with restarts), assigned at 13.
  const apply = (store: Store, event: JournalEvent): void => {
    const result = store.applyBatch([event], store.index + 1);
    if (!result.applied) throw result.error;
  };

  test('service.created starts specVersion at its index with no update status or endpoint; only a change of spec moves specVersion', () => {
    const store = storeOf(oneOfEach().slice(0, 10));
    expect(store.get('service', 's1')).toMatchObject({ meta: { version: 10 }, specVersion: 10, previousSpec: null, updateStatus: null, endpoint: null });
    apply(store, { type: 'service.endpointAllocated', v: 1, at, id: 's1', endpoint: serviceEndpoint(), expectedVersion: 10 });
    expect(store.get('service', 's1')).toMatchObject({ meta: { version: 11, updatedAt: at }, specVersion: 10, endpoint: serviceEndpoint(), updateStatus: null });
    apply(store, { type: 'service.updateStatusChanged', v: 1, at, id: 's1', updateStatus: updateStatus('updating'), expectedVersion: 11 });
    expect(store.get('service', 's1')).toMatchObject({ meta: { version: 12 }, specVersion: 10, updateStatus: updateStatus('updating') });
    apply(store, { type: 'service.updated', v: 2, at, id: 's1', spec: serviceSpec('web', 7), expectedVersion: 12 });
    const updated = store.get('service', 's1')!;
    expect(updated).toMatchObject({ meta: { version: 13 }, specVersion: 13, updateStatus: updateStatus('updating'), endpoint: serviceEndpoint() });
    expect(updated.spec).toEqual(serviceSpec('web', 7));
    expect(updated.previousSpec).toEqual(serviceSpec('web'));
    // null clears the update status.
    apply(store, { type: 'service.updateStatusChanged', v: 1, at, id: 's1', updateStatus: null, expectedVersion: null });
    expect(store.get('service', 's1')).toMatchObject({ meta: { version: 14 }, specVersion: 13, updateStatus: null, endpoint: serviceEndpoint() });
  });

  test('service.rolledBack: the specs trade places, specVersion moves on, the update status is the event\'s', () => {
    const store = storeOf(oneOfEach().slice(0, 11)); // s1: serviceSpec('web', 5), previously serviceSpec('web')
    apply(store, { type: 'service.endpointAllocated', v: 1, at, id: 's1', endpoint: serviceEndpoint(), expectedVersion: 11 });
    apply(store, { type: 'service.rolledBack', v: 1, at, id: 's1', updateStatus: updateStatus('rollbackStarted'), expectedVersion: 12 });
    const rolledBack = store.get('service', 's1')!;
    expect(rolledBack).toMatchObject({ meta: { version: 13, updatedAt: at }, specVersion: 13, updateStatus: updateStatus('rollbackStarted'), endpoint: serviceEndpoint() });
    expect(rolledBack.spec).toEqual(serviceSpec('web'));
    expect(rolledBack.previousSpec).toEqual(serviceSpec('web', 5));
    // Rolling back the rollback is the update again.
    apply(store, { type: 'service.rolledBack', v: 1, at, id: 's1', updateStatus: updateStatus('rollbackCompleted', at), expectedVersion: null });
    expect(store.get('service', 's1')!.spec).toEqual(serviceSpec('web', 5));
    expect(store.get('service', 's1')).toMatchObject({ specVersion: 14, updateStatus: updateStatus('rollbackCompleted', at) });
    expect(indexView(store)).toEqual(bruteView(store));
  });

  test('service.rolledBack is refused without a previous spec, and when the previous name is taken by now', () => {
    const created = oneOfEach().slice(0, 10); // s1 never updated
    const noPrevious = expectRefused(created, [{ type: 'service.rolledBack', v: 1, at, id: 's1', updateStatus: updateStatus('rollbackStarted'), expectedVersion: null }]);
    expect(noPrevious).toBeInstanceOf(InvalidTransitionError);
    expect(noPrevious).toMatchObject({ code: 'INVALID_TRANSITION', kind: 'service', id: 's1' });
    const renamed: JournalEvent[] = [
      ...created,
      { type: 'service.updated', v: 2, at, id: 's1', spec: serviceSpec('www'), expectedVersion: null },
      { type: 'service.created', v: 2, at, id: 's2', spec: serviceSpec('web') },
    ];
    const taken = expectRefused(renamed, [{ type: 'service.rolledBack', v: 1, at, id: 's1', updateStatus: updateStatus('rollbackStarted'), expectedVersion: null }]);
    expect(taken).toBeInstanceOf(NameConflictError);
    expect(taken).toMatchObject({ kind: 'service', objectName: 'web', existingId: 's2' });
  });

  test('task.created carries restarts and addresses; task.allocated sets the addresses and the status, and later changes keep them', () => {
    const store = storeOf(oneOfEach().slice(0, 12));
    const created = store.get('task', 't1')!;
    expect(created).toMatchObject({ restarts: [400, 900], addresses: [], meta: { version: 12 } });
    const addresses = [{ networkId: 'net1', addr: '10.1.0.9/24' }];
    apply(store, { type: 'task.allocated', v: 1, at, id: 't1', addresses, status: status('pending', 5), expectedVersion: 12 });
    const allocated = store.get('task', 't1')!;
    expect(allocated).toMatchObject({ meta: { version: 13, updatedAt: at }, nodeId: '', desiredState: 'running', status: status('pending', 5), restarts: [400, 900], addresses });
    expect(allocated.spec).toBe(created.spec);
    apply(store, { type: 'task.assigned', v: 1, at, id: 't1', nodeId: 'n1', status: status('assigned'), expectedVersion: 13 });
    apply(store, { type: 'task.statusChanged', v: 1, at, id: 't1', status: status('running'), expectedVersion: null });
    apply(store, { type: 'task.desiredStateChanged', v: 1, at, id: 't1', desiredState: 'shutdown', expectedVersion: null });
    expect(store.get('task', 't1')).toMatchObject({ nodeId: 'n1', desiredState: 'shutdown', status: { state: 'running' }, restarts: [400, 900], addresses });
    // Allocated again (a network added) in the same state: the addresses are replaced.
    apply(store, { type: 'task.allocated', v: 1, at, id: 't1', addresses: [], status: status('running', 9), expectedVersion: null });
    expect(store.get('task', 't1')).toMatchObject({ addresses: [], status: status('running', 9) });
    expect(indexView(store)).toEqual(bruteView(store));
  });

  test('task.allocated may not take the observed state back', () => {
    const events = oneOfEach().slice(0, 13); // t1 assigned
    const error = expectRefused(events, [{ type: 'task.allocated', v: 1, at, id: 't1', addresses: [], status: status('pending'), expectedVersion: null }]);
    expect(error).toBeInstanceOf(InvalidTransitionError);
    expect(error).toMatchObject({ code: 'INVALID_TRANSITION', kind: 'task', id: 't1' });
    expect(error.message).toMatch(/from assigned to pending/);
  });

  test('each new event refuses a stale expected version, and a missing object, like the others', () => {
    const events = oneOfEach().slice(0, 12); // s1 at 11, t1 at 12
    const stale: [JournalEvent, string, number][] = [
      [{ type: 'service.updateStatusChanged', v: 1, at, id: 's1', updateStatus: updateStatus('paused'), expectedVersion: 10 }, 's1', 11],
      [{ type: 'service.rolledBack', v: 1, at, id: 's1', updateStatus: updateStatus('rollbackStarted'), expectedVersion: 10 }, 's1', 11],
      [{ type: 'service.endpointAllocated', v: 1, at, id: 's1', endpoint: serviceEndpoint(), expectedVersion: 10 }, 's1', 11],
      [{ type: 'task.allocated', v: 1, at, id: 't1', addresses: [], status: status('pending'), expectedVersion: 11 }, 't1', 12],
    ];
    for (const [event, id, actualVersion] of stale) {
      const error = expectRefused(events, [event]);
      expect(error).toBeInstanceOf(VersionConflictError);
      expect(error).toMatchObject({ code: 'VERSION_CONFLICT', id, expectedVersion: (event as { expectedVersion: number }).expectedVersion, actualVersion });
      // The same event at the current version applies.
      const store = storeOf(events);
      expect(store.applyBatch([{ ...event, expectedVersion: actualVersion } as JournalEvent], 13).applied).toBe(true);
      // And about an object that does not exist, it is refused naming it.
      expect(expectRefused(events, [{ ...event, id: 'zz' } as JournalEvent])).toMatchObject({ code: 'OBJECT_NOT_FOUND', id: 'zz' });
    }
  });
});

describe('store: parts that tasks share', () => {
  // What a manager applies: decoded batches, where every event holds fresh objects and strings.
  const decoded = (events: JournalEvent[]): JournalEvent[] => [...decodeBatch(encodeBatch(events)).events];
  const created = (id: string, slot: number, at: number): JournalEvent => ({
    type: 'task.created', v: 3, at, id, serviceId: 's1', slot, nodeId: '', spec: taskSpec(), serviceVersion: 10,
    desiredState: 'running', status: { state: 'new', message: 'created', timestamp: at, err: '' }, restarts: [], addresses: [],
  });
  const assigned = (id: string, nodeId: string, timestamp: number, message = 'scheduler assigned task to node'): JournalEvent => ({
    type: 'task.assigned', v: 1, at: timestamp, id, nodeId, status: { state: 'assigned', message, timestamp, err: '' }, expectedVersion: null,
  });

  test('equal metas and statuses within a batch are one object; the values are the events\' and the service\'s and node\'s ids are theirs', () => {
    const store = storeOf([
      { type: 'node.registered', v: 1, at: 1, id: 'n1', spec: nodeSpec('host-1'), description: nodeDescription('host-1'), status: nodeStatus('ready') },
      { type: 'node.registered', v: 1, at: 1, id: 'n2', spec: nodeSpec('host-2'), description: nodeDescription('host-2'), status: nodeStatus('ready') },
      { type: 'service.created', v: 4, at: 1, id: 's1', spec: { ...serviceSpec('web'), task: taskSpec() } },
    ]);
    expect(store.applyBatch(decoded([created('t1', 1, 50), created('t2', 2, 50), created('t3', 3, 60)]), 4).applied).toBe(true);
    const [t1, t2, t3] = ['t1', 't2', 't3'].map((id) => store.get('task', id)!);
    expect(t1!.meta).toBe(t2!.meta);
    expect(t1!.status).toBe(t2!.status);
    expect(t3!.meta).not.toBe(t1!.meta);
    expect(t3!.status).not.toBe(t1!.status);
    expect(t1!.meta).toEqual({ version: 4, createdAt: 50, updatedAt: 50 });
    expect(t3!.status).toEqual({ state: 'new', message: 'created', timestamp: 60, err: '' });
    expect(t1!.serviceId).toBe(store.get('service', 's1')!.id);

    expect(store.applyBatch(decoded([assigned('t1', 'n1', 70), assigned('t2', 'n2', 70), assigned('t3', 'n1', 70, 'another message')]), 5).applied).toBe(true);
    const [a1, a2, a3] = ['t1', 't2', 't3'].map((id) => store.get('task', id)!);
    expect(a1!.status).toBe(a2!.status);
    expect(a3!.status).not.toBe(a1!.status);
    expect(a3!.status).toEqual({ state: 'assigned', message: 'another message', timestamp: 70, err: '' });
    // createdAt differs between t1 and t3: their metas differ; t1 and t2 share one.
    expect(a1!.meta).toBe(a2!.meta);
    expect(a1!.meta).toEqual({ version: 5, createdAt: 50, updatedAt: 70 });
    expect(a3!.meta).toEqual({ version: 5, createdAt: 60, updatedAt: 70 });
    expect([a1!.nodeId, a2!.nodeId, a3!.nodeId]).toEqual(['n1', 'n2', 'n1']);
    expect(store.tasksByNode('n1').map((t) => t.id)).toEqual(['t1', 't3']);
    expect(indexView(store)).toEqual(bruteView(store));

    // The same events one per entry, not decoded: equal objects (the sharing shows only as identity).
    const plain = storeOf([
      { type: 'node.registered', v: 1, at: 1, id: 'n1', spec: nodeSpec('host-1'), description: nodeDescription('host-1'), status: nodeStatus('ready') },
      { type: 'node.registered', v: 1, at: 1, id: 'n2', spec: nodeSpec('host-2'), description: nodeDescription('host-2'), status: nodeStatus('ready') },
      { type: 'service.created', v: 4, at: 1, id: 's1', spec: { ...serviceSpec('web'), task: taskSpec() } },
    ]);
    expect(plain.applyBatch([created('t1', 1, 50), created('t2', 2, 50), created('t3', 3, 60)], 4).applied).toBe(true);
    expect(plain.applyBatch([assigned('t1', 'n1', 70), assigned('t2', 'n2', 70), assigned('t3', 'n1', 70, 'another message')], 5).applied).toBe(true);
    expect(plain.list('task')).toEqual(store.list('task'));
    expect(plain.serialize()).toEqual(store.serialize());
  });

  test('a refused batch leaves no shared part behind in the tasks it touched', () => {
    const store = storeOf([
      { type: 'node.registered', v: 1, at: 1, id: 'n1', spec: nodeSpec('host-1'), description: nodeDescription('host-1'), status: nodeStatus('ready') },
      { type: 'service.created', v: 4, at: 1, id: 's1', spec: { ...serviceSpec('web'), task: taskSpec() } },
    ]);
    expect(store.applyBatch(decoded([created('t1', 1, 50)]), 3).applied).toBe(true);
    const before = store.get('task', 't1')!;
    // The second event is stale: the batch is refused whole.
    const result = store.applyBatch(decoded([assigned('t1', 'n1', 70), { ...assigned('t1', 'n1', 80), expectedVersion: 1 } as JournalEvent]), 4);
    expect(result.applied).toBe(false);
    expect(store.get('task', 't1')).toBe(before);
    expect(store.applyBatch(decoded([assigned('t1', 'n1', 70)]), 5).applied).toBe(true);
    expect(store.get('task', 't1')).toMatchObject({ nodeId: 'n1', meta: { version: 5, createdAt: 50, updatedAt: 70 }, status: { state: 'assigned', timestamp: 70 } });
  });
});

describe('store: sameValue', () => {
  /** The reference: Object.keys per object, as sameValue was written first. */
  function reference(a: unknown, b: unknown): boolean {
    if (Object.is(a, b)) return true;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((item, i) => reference(item, b[i]));
    if (Array.isArray(b)) return false;
    if (a instanceof Uint8Array || b instanceof Uint8Array) {
      return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length && a.every((byte, i) => byte === b[i]);
    }
    const aKeys = Object.keys(a);
    const bKeys = Object.keys(b);
    return aKeys.length === bKeys.length && aKeys.every((key, i) => key === bKeys[i] && reference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
  }
  // Small pools of keys and leaves, so that equal and nearly equal values are common.
  const leaf = fc.oneof(fc.constantFrom(0, -0, 1, 'a', 'b', '', true, false, null), fc.constantFrom(Uint8Array.of(), Uint8Array.of(1), Uint8Array.of(1, 2)));
  const value = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
    array: fc.array(tie('value'), { maxLength: 3 }),
    object: fc.array(fc.tuple(fc.constantFrom('x', 'y', 'z', '1', '0'), tie('value')), { maxLength: 4 }).map((entries) => Object.fromEntries(entries)),
  })).value;
  /** The same value rebuilt: fresh objects, and sometimes an object's keys in another order. */
  const rebuilt = (v: unknown, reorder: boolean): unknown => {
    if (Array.isArray(v)) return v.map((item) => rebuilt(item, reorder));
    if (v instanceof Uint8Array) return Uint8Array.from(v);
    if (v === null || typeof v !== 'object') return v;
    const entries = Object.entries(v).map(([k, item]) => [k, rebuilt(item, reorder)] as const);
    return Object.fromEntries(reorder ? entries.reverse() : entries);
  };

  test('agrees with Object.keys-based equality, key order included, on random values and their rebuilt copies', () => {
    fc.assert(fc.property(value, value, fc.boolean(), (a, b, reorder) => {
      expect(sameValue(a, b)).toBe(reference(a, b));
      const copy = rebuilt(a, reorder);
      expect(sameValue(a, copy)).toBe(reference(a, copy));
      expect(sameValue(copy, a)).toBe(reference(copy, a));
      // Nested in a larger value, after a comparison that failed midway: no state is left behind.
      expect(sameValue({ x: [a, 1], y: copy }, { x: [copy, 1], y: a })).toBe(reference({ x: [a, 1], y: copy }, { x: [copy, 1], y: a }));
    }), { numRuns: 500 });
  });

  test('inherited keys do not count; a missing key and an extra one differ', () => {
    const proto = { inherited: 1 };
    const withProto = Object.assign(Object.create(proto) as Record<string, unknown>, { a: 1 });
    expect(sameValue(withProto, { a: 1 })).toBe(true);
    expect(sameValue({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(sameValue({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(false);
    expect(sameValue({ a: [{ b: 1 }] }, { a: [{ b: 1 }] })).toBe(true);
  });
});

describe('store: snapshot', () => {
  test('restore rebuilds objects and indexes', () => {
    const store = storeOf(oneOfEach().slice(0, 15));
    const restored = Store.restore(store.serialize());
    expect(restored.index).toBe(15);
    expect(objectsOf(restored)).toEqual(objectsOf(store));
    expect(indexView(restored)).toEqual(indexView(store));
    expect(restored.byName('secret', 'db-password')?.spec.data).toEqual(new TextEncoder().encode('hunter2'));
  });

  test('bad snapshot bytes are typed errors naming the field', () => {
    const good = Store.restore(storeOf(oneOfEach().slice(0, 15)).serialize());
    const raw = { format: 'swarm.store', v: 1, index: 15, objects: Object.fromEntries(OBJECT_KINDS.map((k) => [k, good.list(k)])) };
    expect(Store.restore(encodeMessage(raw)).index).toBe(15);
    const cases: [unknown, string][] = [
      [{ ...raw, format: 'other' }, 'format'],
      [{ ...raw, v: 9 }, 'v'],
      [{ ...raw, index: -1 }, 'index'],
      [{ ...raw, objects: { ...raw.objects, task: {} } }, 'objects.task'],
      [{ ...raw, objects: { ...raw.objects, task: [{ ...good.get('task', 't1')!, slot: 'one' }] } }, 'objects.task[0]'],
      [{ ...raw, objects: { ...raw.objects, node: [good.get('node', 'n1'), good.get('node', 'n1')] } }, 'objects.node[1].id'],
      [{ ...raw, index: 3 }, 'objects.node[0].meta.version'], // the cluster is at 2, the node at 5
      [{ ...raw, objects: { ...raw.objects, service: [good.get('service', 's1'), { ...good.get('service', 's1')!, id: 's9' }] } }, 'objects.service[1].spec.annotations.name'],
      [{ ...raw, objects: { ...raw.objects, service: [{ ...good.get('service', 's1')!, specVersion: 12 }] } }, 'objects.service[0].specVersion'], // s1 is at 11
    ];
    for (const [value, field] of cases) {
      const error = thrown(() => Store.restore(encodeMessage(value)));
      expect(error).toBeInstanceOf(StoreSnapshotInvalidError);
      expect((error as StoreSnapshotInvalidError).field).toBe(field);
    }
    expect(thrown(() => Store.restore(Uint8Array.of(0xff)))).toBeInstanceOf(StoreSnapshotInvalidError);
  });

  /** Applies batches at indexes start, start + 1, ...; returns how many were refused. */
  function applyAll(store: Store, batches: readonly JournalEvent[][], start: number): number {
    let refused = 0;
    batches.forEach((batch, i) => {
      const before = objectsOf(store);
      const result = store.applyBatch(batch, start + i);
      if (!result.applied) {
        refused++;
        expect(objectsOf(store)).toEqual(before); // all or nothing
      }
    });
    return refused;
  }

  test('property: replay is byte-identical, serialize -> restore -> serialize is identity, restore then apply equals apply all, indexes stay exact', () => {
    let applied = 0;
    let total = 0;
    fc.assert(fc.property(batchesArb, fc.nat(), (batches, cut) => {
      const one = new Store();
      const refused = applyAll(one, batches, 1);
      applied += batches.length - refused;
      total += batches.length;
      const two = new Store();
      applyAll(two, batches, 1);
      const bytes = hex(one.serialize());
      expect(hex(two.serialize())).toBe(bytes);
      expect(hex(Store.restore(one.serialize()).serialize())).toBe(bytes);
      expect(hex(Store.restore(one.serialize({ version: 1 })).serialize())).toBe(bytes);
      expect(indexView(one)).toEqual(bruteView(one));

      const at = batches.length === 0 ? 0 : cut % (batches.length + 1);
      const prefix = new Store();
      applyAll(prefix, batches.slice(0, at), 1);
      const resumed = Store.restore(prefix.serialize());
      applyAll(resumed, batches.slice(at), at + 1);
      expect(hex(resumed.serialize())).toBe(bytes);
      expect(indexView(resumed)).toEqual(indexView(one));

      // A snapshot written a step at a time while the store moves on is the one of when it began.
      const moving = new Store();
      applyAll(moving, batches.slice(0, at), 1);
      const atStart = hex(moving.serialize());
      const writer = moving.snapshotWriter();
      let next = at;
      while (!writer.step()) if (next < batches.length) applyAll(moving, [batches[next] as JournalEvent[]], ++next);
      applyAll(moving, batches.slice(next), next + 1);
      expect(hex(writer.bytes())).toBe(atStart);
      expect(hex(moving.serialize())).toBe(bytes);
    }), { numRuns: 150 });
    // The generator must exercise both sides: batches that apply and batches that are refused.
    expect(applied).toBeGreaterThan(total / 4);
    expect(applied).toBeLessThan(total);
  });

  test('property: a store snapshotted after every batch (its kept id order and object bytes carried along) writes the bytes of one that never was', () => {
    fc.assert(fc.property(batchesArb, (batches) => {
      const incremental = new Store();
      const fresh = new Store();
      batches.forEach((batch, i) => {
        applyAll(incremental, [batch], i + 1);
        applyAll(fresh, [batch], i + 1);
        const bytes = hex(incremental.serialize());
        // Every few batches, against a store that shares no object and no order with it.
        if (i % 3 === 2) expect(bytes).toBe(hex(Store.restore(fresh.serialize({ version: 1 })).serialize()));
      });
      expect(hex(incremental.serialize())).toBe(hex(fresh.serialize()));
    }), { numRuns: 150 });
  });

  /**
   * A store big enough for several chunks and sort runs: `tasks` tasks created in a shuffled id
   * order over `services` services, whose specs are equal per service but each task's its own
   * object (as after a restore of v1, or events decoded one by one).
   */
  function bigStore(tasks: number, services: number, shareObjects: boolean): Store {
    const store = new Store();
    let index = 0;
    const apply = (events: JournalEvent[]): void => {
      const result = store.applyBatch(events, ++index);
      if (!result.applied) throw result.error;
    };
    apply(oneOfEach().slice(0, 3)); // a cluster and a node
    const specs = Array.from({ length: services }, (_, s) => taskSpec(`img:${s}`));
    for (let s = 0; s < services; s++) apply([{ type: 'service.created', v: 2, at: 1, id: `svc${s}`, spec: serviceSpec(`web-${s}`, Math.ceil(tasks / services), `img:${s}`) }]);
    const order = Array.from({ length: tasks }, (_, t) => (t * 7919) % tasks); // a permutation: 7919 is prime
    for (const t of order) {
      const s = t % services;
      apply([{
        type: 'task.created', v: 2, at: 2, id: `task-${t}`, serviceId: `svc${s}`, slot: Math.floor(t / services) + 1, nodeId: t % 3 === 0 ? '' : 'n1',
        spec: shareObjects ? (specs[s] as ReturnType<typeof taskSpec>) : taskSpec(`img:${s}`), serviceVersion: 1, desiredState: t % 5 === 0 ? 'shutdown' : 'running', status: status(t % 2 === 0 ? 'running' : 'pending', t),
        restarts: t % 4 === 0 ? [t] : [], addresses: t % 6 === 0 ? [{ networkId: 'net1', addr: `10.1.${t >> 8}.${t & 0xff}/16` }] : [],
      }]);
    }
    return store;
  }

  test('v3 stores a task spec once per distinct spec and restores it as one object its tasks share', () => {
    const store = bigStore(3000, 7, false);
    const bytes = store.serialize();
    const raw = decodeMessage(bytes) as { v: number; taskSpecs: unknown[]; objects: Record<string, unknown[]> };
    expect(raw.v).toBe(STORE_SNAPSHOT_VERSION);
    expect(STORE_SNAPSHOT_VERSION).toBe(3);
    expect(raw.taskSpecs).toHaveLength(7);
    expect(raw.objects.task).toHaveLength(3); // chunks of 1024 tasks
    const restored = Store.restore(bytes);
    expect(restored.index).toBe(store.index);
    expect(objectsOf(restored)).toEqual(objectsOf(store));
    expect(indexView(restored)).toEqual(indexView(store));
    expect(indexView(restored)).toEqual(bruteView(restored));
    for (let s = 0; s < 7; s++) {
      const tasks = restored.tasksByService(`svc${s}`);
      expect(tasks.length).toBeGreaterThan(400);
      for (const task of tasks) expect(task.spec).toBe((tasks[0] as Task).spec);
    }
    expect(restored.get('task', 'task-0')!.spec).not.toBe(restored.get('task', 'task-1')!.spec);
    // Far smaller than v1, which repeats every spec in every task.
    expect(bytes.byteLength).toBeLessThan(store.serialize({ version: 1 }).byteLength / 3);
  });

  test('v3 bytes depend on the store\'s content, not on which objects it shares; restore and serialize again is identity', () => {
    const shared = bigStore(2500, 4, true);
    const separate = bigStore(2500, 4, false);
    const bytes = hex(shared.serialize());
    expect(hex(separate.serialize())).toBe(bytes);
    expect(hex(Store.restore(shared.serialize()).serialize())).toBe(bytes);
    expect(hex(shared.serialize({ version: 1 }))).toBe(hex(separate.serialize({ version: 1 })));
  });

  test('a v1 snapshot still restores, to the store a v3 one restores to', () => {
    const store = bigStore(1500, 3, true);
    const v1 = store.serialize({ version: 1 });
    expect((decodeMessage(v1) as { v: number }).v).toBe(1);
    const fromV1 = Store.restore(v1);
    expect(fromV1.index).toBe(store.index);
    expect(objectsOf(fromV1)).toEqual(objectsOf(store));
    expect(indexView(fromV1)).toEqual(indexView(store));
    expect(hex(fromV1.serialize())).toBe(hex(store.serialize()));
    expect(hex(fromV1.serialize({ version: 1 }))).toBe(hex(v1));
  });

  test('a snapshot a step at a time: many bounded steps, the bytes of serialize() at its start while the store applies between steps', async () => {
    const store = bigStore(5000, 5, false);
    const expected = hex(store.serialize());
    let turns = 0;
    let n = 0;
    const bytes = await store.serializeIncrementally(async () => {
      turns++;
      const result = store.applyBatch([{ type: 'task.statusChanged', v: 1, at: 3, id: `task-${n++}`, status: status('running', 9_999), expectedVersion: null }], store.index + 1);
      expect(result.applied).toBe(true);
    });
    expect(hex(bytes)).toBe(expected);
    // Sort runs and merge steps and chunks: at least one step per 1024 objects.
    expect(turns).toBeGreaterThan(10);
    expect(hex(store.serialize())).not.toBe(expected);
    const writer = Store.restore(bytes).snapshotWriter();
    expect(thrown(() => writer.bytes())).toBeInstanceOf(InvariantViolation);
    while (!writer.step());
    expect(writer.step()).toBe(true);
    expect(hex(writer.bytes())).toBe(expected);
  });

  test('a snapshot after many creates: the writer sorts the new ids and encodes the new objects in bounded steps, and its order serves the next snapshot', () => {
    const store = new Store();
    let index = 0;
    const apply = (events: JournalEvent[]): void => {
      const result = store.applyBatch(events, ++index);
      if (!result.applied) throw result.error;
    };
    const configs = 6000; // above what a view sorts itself (4,096)
    const order = Array.from({ length: configs }, (_, c) => (c * 7919) % configs);
    for (let i = 0; i < order.length; i += 100) {
      apply(order.slice(i, i + 100).map((c): JournalEvent => ({ type: 'config.created', v: 1, at: 1, id: `cfg-${c}`, spec: blob(`config-${c}`, `data ${c}`) })));
    }
    const fresh = (): string => hex(Store.restore(store.serialize({ version: 1 })).serialize());
    const expected = fresh();
    const writer = store.snapshotWriter();
    let steps = 0;
    while (!writer.step()) steps++;
    expect(hex(writer.bytes())).toBe(expected);
    // Sort runs and merges (6 runs of 1024, 3 rounds of 8192-move steps), then 128 fresh objects a step.
    expect(steps).toBeGreaterThanOrEqual(6 + Math.floor(configs / 128));
    // The second time their bytes are known and the kept order is sorted: a step per chunk of 1024.
    const again = store.snapshotWriter();
    let stepsAgain = 0;
    while (!again.step()) stepsAgain++;
    expect(hex(again.bytes())).toBe(expected);
    expect(stepsAgain).toBeLessThan(Math.ceil(configs / 1024) + 5);
    // Changes after the kept order: some removed, a few added, each in the next snapshot's merge.
    apply([0, 1, 2, 4000, 5999].map((c): JournalEvent => ({ type: 'config.removed', v: 1, at: 2, id: `cfg-${c}`, expectedVersion: null })));
    apply([{ type: 'config.created', v: 1, at: 2, id: 'cfg-10000', spec: blob('config-10000') }, { type: 'config.created', v: 1, at: 2, id: 'a-first', spec: blob('a-first') }]);
    expect(hex(store.serialize())).toBe(fresh());
    expect(store.count('config')).toBe(configs - 5 + 2);
  });

  test('bad v3 snapshot bytes are typed errors naming the field', () => {
    const store = bigStore(10, 2, true);
    const raw = decodeMessage(store.serialize()) as Record<string, unknown> & { objects: Record<string, unknown[]>; taskSpecs: unknown[] };
    const tuples = decodeMessage(raw.objects.task[0] as Uint8Array) as unknown[][];
    const withTask = (i: number, value: unknown): unknown => {
      const changed = [...tuples];
      changed[0] = (tuples[0] as unknown[]).map((v, j) => (j === i ? value : v));
      return { ...raw, objects: { ...raw.objects, task: [encodeMessage(changed)] } };
    };
    expect(Store.restore(encodeMessage(raw)).count('task')).toBe(10);
    const cases: [unknown, string][] = [
      [{ ...raw, v: 4 }, 'v'],
      // Version 2's tuples have 14 fields: a v3 body is not one.
      [{ ...raw, v: 2 }, 'objects.task[0]'],
      [{ ...raw, taskSpecs: {} }, 'taskSpecs'],
      [{ ...raw, taskSpecs: [{ ...(raw.taskSpecs[0] as object), container: 7 }, raw.taskSpecs[1]] }, 'taskSpecs[0]'],
      [{ ...raw, objects: { ...raw.objects, task: [Uint8Array.of(0xff)] } }, 'objects.task'],
      [{ ...raw, objects: { ...raw.objects, task: [[1, 2]] } }, 'objects.task'],
      [{ ...raw, objects: { ...raw.objects, task: {} } }, 'objects.task'],
      [withTask(0, ''), 'objects.task[0].id'],
      [withTask(1, 0), 'objects.task[0].meta.version'],
      [withTask(5, -1), 'objects.task[0].slot'],
      [withTask(7, 2), 'objects.task[0].spec'],
      [withTask(9, 'sleeping'), 'objects.task[0].desiredState'],
      [withTask(10, 'running!'), 'objects.task[0].status.state'],
      [withTask(12, 1.5), 'objects.task[0].status.timestamp'],
      [withTask(14, [1, -1]), 'objects.task[0].restarts[1]'],
      [withTask(14, {}), 'objects.task[0].restarts'],
      [withTask(15, [['net1']]), 'objects.task[0].addresses[0]'],
      [withTask(15, [['', '10.0.0.1/24']]), 'objects.task[0].addresses[0].networkId'],
      [withTask(15, [['net1', 7]]), 'objects.task[0].addresses[0].addr'],
      [withTask(15, 'net1'), 'objects.task[0].addresses'],
      [{ ...raw, objects: { ...raw.objects, task: [encodeMessage([...tuples, tuples[0]])] } }, 'objects.task[10].id'],
      [{ ...raw, objects: { ...raw.objects, task: [encodeMessage([(tuples[0] as unknown[]).slice(1)])] } }, 'objects.task[0]'],
      [{ ...raw, index: 2 }, 'objects.service[1].meta.version'], // the services are at 2 and 3
    ];
    for (const [value, field] of cases) {
      const error = thrown(() => Store.restore(encodeMessage(value)));
      expect(error).toBeInstanceOf(StoreSnapshotInvalidError);
      expect((error as StoreSnapshotInvalidError).field).toBe(field);
    }
  });

  test('v3 carries the orchestration\'s fields: update status, endpoint, rolled-back specs, restarts and addresses', () => {
    const store = storeOf(oneOfEach().slice(0, 19)); // through task.allocated
    const service = store.get('service', 's1')!;
    expect(service).toMatchObject({ specVersion: 17, updateStatus: updateStatus('rollbackStarted'), endpoint: serviceEndpoint() });
    const task = store.get('task', 't1')!;
    expect(task).toMatchObject({ restarts: [400, 900], addresses: [{ networkId: 'net1', addr: '10.1.0.7/24' }] });
    const bytes = store.serialize();
    const raw = decodeMessage(bytes) as { v: number; objects: Record<string, Uint8Array[]> };
    expect(raw.v).toBe(3);
    const tuple = (decodeMessage(raw.objects.task![0]!) as unknown[][])[0]!;
    expect(tuple).toHaveLength(16);
    expect(tuple.slice(14)).toEqual([[400, 900], [['net1', '10.1.0.7/24']]]);
    for (const restored of [Store.restore(bytes), Store.restore(store.serialize({ version: 1 }))]) {
      expect(objectsOf(restored)).toEqual(objectsOf(store));
      expect(hex(restored.serialize())).toBe(hex(bytes));
    }
  });

  test('snapshots of the writers before v3 (versions 1 and 2) restore, their later fields at the defaults, to the store their entries replay to', () => {
    // Written at the commit before v3 (a6657b3): its entries (events of schema v1), and the v1
    // and v2 snapshots its store made of them. Frozen.
    const { fixture, replayed } = snapshotFixture<{ snapshotV1: string; snapshotV2: string }>('store-snapshots-v1-v2.json');
    expect(replayed.index).toBe(fixture.index);
    const web = replayed.get('service', 'web')!;
    // Created at 2, updated at 5; the later fields at their defaults.
    expect(web).toMatchObject({ meta: { version: 5 }, specVersion: 5, updateStatus: null, endpoint: null, spec: { rebalance: false }, previousSpec: { rebalance: false } });
    expect(replayed.get('service', 'job')).toMatchObject({ meta: { version: 3 }, specVersion: 3, previousSpec: null });
    expect(replayed.count('task')).toBe(4);
    for (const task of replayed.list('task')) {
      expect(task).toMatchObject({ restarts: [], addresses: [], spec: { forceUpdate: 0, placement: { preferences: [], platforms: [] } } });
    }
    expectRestoresTo(replayed, fixture.index, [[fixture.snapshotV1, 1], [fixture.snapshotV2, 2]]);
    // Version 2's tasks of one spec share the one object restored from its taskSpecs.
    const v2 = Store.restore(bytes(fixture.snapshotV2));
    expect(v2.get('task', 'web.1')!.spec).toBe(v2.get('task', 'web.2')!.spec);
    expect(v2.get('task', 'web.1')!.spec).not.toBe(v2.get('task', 'web.3')!.spec);
  });

  test('snapshots written before event schema v3 (versions 1 and 3) restore, the specs\' fields of v3 at their defaults, to the store their entries replay to', () => {
    // Written at the commit before event schema v3 (6c5c0a7): entries of schema v2 and the v1 and
    // v3 snapshots of their store, whose specs lack the fields of schema v3. Frozen: snapshot
    // version 3 did not move for them (see journal/store/snapshot.ts).
    const { fixture, replayed } = snapshotFixture<{ snapshotV1: string; snapshotV3: string }>('store-snapshots-v3.json');
    expect(replayed.index).toBe(fixture.index);
    const api = replayed.get('service', 'api')!;
    const specs = [api.spec.task, api.previousSpec!.task, ...replayed.list('task').map((task) => task.spec)];
    expect(replayed.count('task')).toBeGreaterThan(0);
    for (const spec of specs) {
      expect(spec.container).toMatchObject({ healthcheck: null, mounts: [], dir: '', user: '', stopSignal: '', stopGracePeriodMs: 10_000, hostname: '' });
      expect(spec.runtime).toBe('container');
    }
    expectRestoresTo(replayed, fixture.index, [[fixture.snapshotV1, 1], [fixture.snapshotV3, 3]]);
  });

  test('snapshots written before event schema v4 (versions 1 and 3) restore, the service specs with no dependencies, to the store their entries replay to', () => {
    // Written at the commit before event schema v4 (4ec0571): entries of schema v3 and the v1 and
    // v3 snapshots of their store, whose service specs lack dependsOn. Frozen: snapshot version 3
    // did not move for it (see journal/store/snapshot.ts).
    const { fixture, replayed } = snapshotFixture<{ snapshotV1: string; snapshotV3: string }>('store-snapshots-v3-events-v3.json');
    expect(replayed.index).toBe(fixture.index);
    const api = replayed.get('service', 'api')!;
    const specs = [...replayed.list('service').map((service) => service.spec), api.previousSpec!];
    expect(specs.length).toBeGreaterThan(2);
    for (const spec of specs) expect(spec.dependsOn).toEqual([]);
    expectRestoresTo(replayed, fixture.index, [[fixture.snapshotV1, 1], [fixture.snapshotV3, 3]]);
  });
});

// The store projection: objects and meta versions, every index, optimistic concurrency (version
// and name conflicts, refused whole and identically at apply time, or up front with check), the
// task rules (state never back, node binding immutable), and the snapshot's properties.
import fc from 'fast-check';
import {
  InvalidTransitionError, NameConflictError, ObjectExistsError, ObjectNotFoundError, STORE_SNAPSHOT_VERSION, Store, StoreSnapshotInvalidError,
  VersionConflictError, DESIRED_STATES, OBJECT_KINDS,
  type JournalEvent, type Task,
} from '../../journal/index.js';
import { InvariantViolation, decodeMessage, encodeMessage } from '../../runtime/index.js';
import { batchesArb, oneOfEach, serviceSpec, status, taskSpec } from './journal-fixtures.js';
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
      { type: 'service.created', v: 1, at: 2, id: 's2', spec: serviceSpec('api') },
      { type: 'service.updated', v: 1, at: 2, id: 's1', spec: serviceSpec('web', 9), expectedVersion: 10 },
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
    expect(store.applyBatch([{ type: 'service.updated', v: 1, at: 3, id: 's1', spec: serviceSpec('web', 9), expectedVersion: 11 }], 13)).toEqual({ applied: true, index: 13 });
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
    const clash = store.applyBatch([{ type: 'service.created', v: 1, at: 0, id: 's2', spec: serviceSpec('web') }], 12);
    expect(clash).toMatchObject({ applied: false });
    if (clash.applied) return;
    expect(clash.error).toBeInstanceOf(NameConflictError);
    expect(clash.error).toMatchObject({ code: 'NAME_CONFLICT', kind: 'service', objectName: 'web', existingId: 's1' });
    // A network may share a service's name: uniqueness is per kind.
    expect(store.applyBatch([{ type: 'network.created', v: 1, at: 0, id: 'net2', spec: { ...oneOfEach()[5]!.type === 'network.created' ? (oneOfEach()[5] as Extract<JournalEvent, { type: 'network.created' }>).spec : undefined!, annotations: { name: 'web', labels: {} } } }], 13).applied).toBe(true);
    expect(store.applyBatch([
      { type: 'service.created', v: 1, at: 0, id: 's2', spec: serviceSpec('api') },
      { type: 'service.updated', v: 1, at: 0, id: 's2', spec: serviceSpec('web'), expectedVersion: null },
    ], 14)).toMatchObject({ applied: false, error: { code: 'NAME_CONFLICT', existingId: 's1' } });
    expect(store.applyBatch([{ type: 'service.updated', v: 1, at: 0, id: 's1', spec: serviceSpec('www'), expectedVersion: null }], 15).applied).toBe(true);
    expect(store.byName('service', 'web')).toBeUndefined();
    expect(store.byName('service', 'www')?.id).toBe('s1');
    expect(store.applyBatch([{ type: 'service.created', v: 1, at: 0, id: 's2', spec: serviceSpec('web') }], 16).applied).toBe(true);
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
      type: 'task.created', v: 1, at: 0, id: 't9', serviceId: 'nope', slot: 1, nodeId: '', spec: taskSpec(), serviceVersion: 0, desiredState: 'running', status: status('new'),
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
      { type: 'service.created', v: 1, at: 0, id: 's2', spec: serviceSpec('api') },
      { type: 'service.created', v: 1, at: 0, id: 's3', spec: serviceSpec('api') },
    ]));
    expect(error).toMatchObject({ code: 'NAME_CONFLICT', objectName: 'api', existingId: 's2' });
    store.check([{ type: 'service.created', v: 1, at: 0, id: 's2', spec: serviceSpec('api') }]);
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
      const result = store.applyBatch([{ type: 'task.created', v: 1, at: 0, id, serviceId: 's1', slot: 1, nodeId: '', spec, serviceVersion: 11, desiredState: 'running', status: status('new') }], index);
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
    for (let s = 0; s < services; s++) apply([{ type: 'service.created', v: 1, at: 1, id: `svc${s}`, spec: serviceSpec(`web-${s}`, Math.ceil(tasks / services), `img:${s}`) }]);
    const order = Array.from({ length: tasks }, (_, t) => (t * 7919) % tasks); // a permutation: 7919 is prime
    for (const t of order) {
      const s = t % services;
      apply([{
        type: 'task.created', v: 1, at: 2, id: `task-${t}`, serviceId: `svc${s}`, slot: Math.floor(t / services) + 1, nodeId: t % 3 === 0 ? '' : 'n1',
        spec: shareObjects ? (specs[s] as ReturnType<typeof taskSpec>) : taskSpec(`img:${s}`), serviceVersion: 1, desiredState: t % 5 === 0 ? 'shutdown' : 'running', status: status(t % 2 === 0 ? 'running' : 'pending', t),
      }]);
    }
    return store;
  }

  test('v2 stores a task spec once per distinct spec and restores it as one object its tasks share', () => {
    const store = bigStore(3000, 7, false);
    const bytes = store.serialize();
    const raw = decodeMessage(bytes) as { v: number; taskSpecs: unknown[]; objects: Record<string, unknown[]> };
    expect(raw.v).toBe(STORE_SNAPSHOT_VERSION);
    expect(STORE_SNAPSHOT_VERSION).toBe(2);
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

  test('v2 bytes depend on the store\'s content, not on which objects it shares; restore and serialize again is identity', () => {
    const shared = bigStore(2500, 4, true);
    const separate = bigStore(2500, 4, false);
    const bytes = hex(shared.serialize());
    expect(hex(separate.serialize())).toBe(bytes);
    expect(hex(Store.restore(shared.serialize()).serialize())).toBe(bytes);
    expect(hex(shared.serialize({ version: 1 }))).toBe(hex(separate.serialize({ version: 1 })));
  });

  test('a v1 snapshot still restores, to the store a v2 one restores to', () => {
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

  test('bad v2 snapshot bytes are typed errors naming the field', () => {
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
      [{ ...raw, v: 3 }, 'v'],
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
});

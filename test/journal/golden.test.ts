import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KvLogStorage, Store, decodeBatch, encodeBatch, type JournalEvent, type ServiceSpec, type TaskSpec } from '../../journal/index.js';
import { MemoryStorage } from '../../runtime/index.js';
import { networkSpec, nodeDescription, nodeSpec, nodeStatus, oneOfEach, processTaskSpec, serviceEndpoint, serviceSpec, status, updateStatus } from './journal-fixtures.js';

// Golden journals: logs written by some version, committed as their raw store records (key and
// bytes), replayed by every later version. A later schema must keep them opening, decoding
// (upgrading old events) and applying to the same store. `GOLDEN_REWRITE=1` writes the goldens of
// the current schema anew, which only a deliberate change of the record or store format should
// need (say so in the commit). The goldens of earlier schemas are frozen: their writers are gone
// with their schema, and their records are never rewritten. When the store's objects gain a field,
// every fingerprint changes: update a frozen golden's storeSha256 by hand, never its records.

const here = path.join(import.meta.dirname, 'golden');
const rewrite = process.env.GOLDEN_REWRITE === '1';

interface Golden {
  readonly about: string;
  /** The store's records: key and base64 value, in key order. */
  readonly records: ReadonlyArray<readonly [string, string]>;
  readonly lastIndex: number;
  /** sha256 of the store's version-1 serialization (its fingerprint) after replaying every entry. */
  readonly storeSha256: string;
  readonly objects: Record<string, number>;
}

/**
 * A service's life in the orchestration (schema v4): placement preferences and platforms, a health
 * check and mounts, dependencies, an endpoint allocated, tasks allocated addresses, one restarted,
 * an update (that drops a dependency) rolled back; and a service of the process runtime beside it,
 * its task run and completed.
 */
function orchestrationLife(): JournalEvent[][] {
  const at = 2_000;
  const spec = (image: string, forceUpdate: number): ServiceSpec => {
    const base = serviceSpec('api', 3, image);
    const container = { ...base.task.container, stopGracePeriodMs: 5_000 + forceUpdate };
    const dependsOn: ServiceSpec['dependsOn'] = forceUpdate === 0 ? [{ service: 'worker', condition: 'completedSuccessfully' }, { service: 'db', condition: 'healthy' }] : [{ service: 'db', condition: 'started' }];
    return { ...base, task: { ...base.task, container, networks: ['net2'], forceUpdate }, rebalance: true, dependsOn };
  };
  const worker: ServiceSpec = { ...serviceSpec('worker', 1), task: processTaskSpec('/opt/worker/bin/run'), endpoint: { ports: [] }, dependsOn: [] };
  const batches: JournalEvent[][] = [oneOfEach()];
  batches.push([
    { type: 'node.registered', v: 1, at, id: 'n2', spec: nodeSpec('host-2'), description: nodeDescription('host-2'), status: nodeStatus() },
    { type: 'node.registered', v: 1, at, id: 'n3', spec: nodeSpec('host-3'), description: nodeDescription('host-3'), status: nodeStatus() },
    { type: 'network.created', v: 1, at, id: 'net2', spec: networkSpec('frontend') },
    { type: 'service.created', v: 4, at, id: 'api', spec: spec('api:2', 0) },
    { type: 'service.created', v: 4, at, id: 'worker', spec: worker },
  ]);
  batches.push([
    { type: 'task.created', v: 3, at, id: 'worker.1', serviceId: 'worker', slot: 1, nodeId: '', spec: worker.task, serviceVersion: 2, desiredState: 'running', status: status('new'), restarts: [], addresses: [] },
    { type: 'task.assigned', v: 1, at, id: 'worker.1', nodeId: 'n2', status: status('assigned'), expectedVersion: null },
    { type: 'task.statusChanged', v: 1, at, id: 'worker.1', status: status('running', 2), expectedVersion: null },
    { type: 'task.statusChanged', v: 1, at: at + 1, id: 'worker.1', status: status('complete', 3), expectedVersion: null },
  ]);
  batches.push([{ type: 'service.endpointAllocated', v: 1, at, id: 'api', endpoint: { ...serviceEndpoint(), virtualIps: [{ networkId: 'net2', addr: '10.2.0.2/24' }] }, expectedVersion: null }]);
  for (let slot = 1; slot <= 3; slot++) {
    const id = `api.${slot}`;
    batches.push([{ type: 'task.created', v: 3, at, id, serviceId: 'api', slot, nodeId: '', spec: spec('api:2', 0).task, serviceVersion: 2, desiredState: 'running', status: status('new'), restarts: [], addresses: [] }]);
    batches.push([
      { type: 'task.allocated', v: 1, at, id, addresses: [{ networkId: 'net2', addr: `10.2.0.${10 + slot}/24` }], status: status('pending'), expectedVersion: null },
      { type: 'task.assigned', v: 1, at, id, nodeId: slot % 2 === 0 ? 'n2' : 'n3', status: status('assigned'), expectedVersion: null },
      { type: 'task.statusChanged', v: 1, at, id, status: status('running', 2), expectedVersion: null },
    ]);
  }
  batches.push([
    { type: 'service.updated', v: 4, at: at + 10, id: 'api', spec: spec('api:3', 1), expectedVersion: null },
    { type: 'service.updateStatusChanged', v: 1, at: at + 10, id: 'api', updateStatus: updateStatus('updating'), expectedVersion: null },
    { type: 'task.desiredStateChanged', v: 1, at: at + 10, id: 'api.1', desiredState: 'shutdown', expectedVersion: null },
  ]);
  batches.push([
    { type: 'task.statusChanged', v: 1, at: at + 11, id: 'api.1', status: { ...status('failed', 3), err: 'exit 1' }, expectedVersion: null },
    {
      type: 'task.created', v: 3, at: at + 11, id: 'api.1b', serviceId: 'api', slot: 1, nodeId: '', spec: spec('api:3', 1).task, serviceVersion: 10,
      desiredState: 'running', status: status('new'), restarts: [at + 11], addresses: [],
    },
  ]);
  batches.push([
    { type: 'service.rolledBack', v: 1, at: at + 20, id: 'api', updateStatus: updateStatus('rollbackStarted'), expectedVersion: null },
    { type: 'task.removed', v: 1, at: at + 20, id: 'api.1b', expectedVersion: null },
  ]);
  batches.push([{ type: 'service.updateStatusChanged', v: 1, at: at + 30, id: 'api', updateStatus: updateStatus('rollbackCompleted', at + 30), expectedVersion: null }]);
  return batches;
}

async function write(name: string, about: string, batches: readonly JournalEvent[][]): Promise<void> {
  const kv = await new MemoryStorage().openKv('log');
  const log = await KvLogStorage.open(kv, { initialConfState: { voters: ['m1'], learners: [] } });
  // One entry per batch, saved a few entries at a time as a leader's Readies would be.
  let index = 0;
  for (let i = 0; i < batches.length; i += 3) {
    const entries = batches.slice(i, i + 3).map((events) => ({ index: ++index, term: 1, type: 'normal' as const, data: encodeBatch(events) }));
    await log.save({ hardState: { term: 1, vote: 'm1', commit: index }, entries });
  }
  const store = await replay(log);
  const records = (await kv.range({})).map(([k, v]) => [k, Buffer.from(v).toString('base64')] as const);
  const golden: Golden = { about, records, lastIndex: log.lastIndex(), storeSha256: sha256(store.serialize({ version: 1 })), objects: counts(store) };
  writeFileSync(path.join(here, `${name}.json`), `${JSON.stringify(golden, null, 1)}\n`);
}

async function replay(log: KvLogStorage, afterEach: (store: Store) => void = () => undefined): Promise<Store> {
  const store = new Store();
  for (const entry of log.entries(log.firstIndex(), log.lastIndex() + 1)) {
    const result = store.applyBatch(decodeBatch(entry.data).events, entry.index);
    if (!result.applied) throw result.error;
    afterEach(store);
  }
  return store;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const counts = (store: Store): Record<string, number> => Object.fromEntries((['cluster', 'node', 'service', 'task', 'network', 'secret', 'config'] as const).map((k) => [k, store.count(k)]));

/** Goldens of the current schema, with their writers. */
const GOLDENS: Array<[string, string, () => JournalEvent[][]]> = [
  ['v4-every-event', 'one event of every type, each in its own entry (event schema v4: service.created and service.updated at 4, task.created at 3)', () => oneOfEach().map((e) => [e])],
  [
    'v4-orchestration',
    'a service in the orchestration: preferences and platforms, a health check and mounts, dependencies, its endpoint and its tasks allocated, a task restarted, an update rolled back; a process-runtime service beside it (event schema v4)',
    orchestrationLife,
  ],
];
/** Goldens of earlier schemas: frozen. */
const FROZEN_V1 = ['v1-every-event', 'v1-cluster-life'];
const FROZEN_V2 = ['v2-every-event', 'v2-orchestration'];
const FROZEN_V3 = ['v3-every-event', 'v3-orchestration'];
const FROZEN = [...FROZEN_V1, ...FROZEN_V2, ...FROZEN_V3];

/** Every spec in the store: services' specs and previous specs, their task specs, and the tasks' own. */
function specsOf(store: Store): { services: ServiceSpec[]; tasks: TaskSpec[] } {
  const services = store.list('service').flatMap((s) => (s.previousSpec ? [s.spec, s.previousSpec] : [s.spec]));
  return { services, tasks: [...services.map((s) => s.task), ...store.list('task').map((t) => t.spec)] };
}

/** The field of event schema v4 at its default, as the upgrades from 1, 2 and 3 fill it: no dependencies. */
function expectV4Defaults(spec: ServiceSpec): void {
  expect(spec.dependsOn).toEqual([]);
}

/** The fields of event schema v3 at their defaults, as the upgrades from 1 and 2 fill them. */
function expectV3Defaults(spec: TaskSpec): void {
  expect(spec.container).toMatchObject({ healthcheck: null, mounts: [], dir: '', user: '', stopSignal: '', stopGracePeriodMs: 10_000, hostname: '' });
  expect(spec.runtime).toBe('container');
}

function readGolden(name: string): Golden {
  return JSON.parse(readFileSync(path.join(here, `${name}.json`), 'utf8')) as Golden;
}

describe('golden journals', () => {
  if (rewrite) {
    test.each(GOLDENS)('rewrites %s', async (name, about, batches) => {
      await write(name, about, batches());
    });
    return;
  }
  test.each([...FROZEN, ...GOLDENS.map(([name]) => name)])('%s opens, decodes and replays to the same store', async (name) => {
    const golden = readGolden(name);
    const kv = await new MemoryStorage().openKv('log');
    await kv.batch(golden.records.map(([key, value]) => ({ type: 'put' as const, key, value: new Uint8Array(Buffer.from(value, 'base64')) })));
    const log = await KvLogStorage.open(kv);
    expect(log.recovery.tornTailDropped).toBe(0);
    expect(log.lastIndex()).toBe(golden.lastIndex);
    const store = await replay(log);
    expect(counts(store)).toEqual(golden.objects);
    expect(sha256(store.serialize({ version: 1 }))).toBe(golden.storeSha256);
    // The current format restores to the same store.
    expect(sha256(Store.restore(store.serialize()).serialize({ version: 1 }))).toBe(golden.storeSha256);
  });

  test.each(FROZEN_V1)('%s (schema v1) replays to objects whose later fields hold their defaults, after every entry', async (name) => {
    const golden = readGolden(name);
    const kv = await new MemoryStorage().openKv('log');
    await kv.batch(golden.records.map(([key, value]) => ({ type: 'put' as const, key, value: new Uint8Array(Buffer.from(value, 'base64')) })));
    let checked = 0;
    await replay(await KvLogStorage.open(kv), (store) => {
      const services = store.list('service');
      const specs = specsOf(store);
      for (const service of services) expect(service).toMatchObject({ specVersion: service.meta.version, updateStatus: null, endpoint: null });
      for (const spec of specs.services) {
        expect(spec.rebalance).toBe(false);
        expectV4Defaults(spec);
      }
      for (const spec of specs.tasks) {
        expect(spec).toMatchObject({ forceUpdate: 0, placement: { preferences: [], platforms: [] } });
        expectV3Defaults(spec);
      }
      for (const task of store.list('task')) expect(task).toMatchObject({ restarts: [], addresses: [] });
      checked += services.length + store.count('task');
    });
    // The golden holds services and tasks to check.
    expect(checked).toBeGreaterThan(0);
  });

  test.each(FROZEN_V2)('%s (schema v2) replays to specs whose fields of schema v3 hold their defaults, after every entry', async (name) => {
    const golden = readGolden(name);
    const kv = await new MemoryStorage().openKv('log');
    await kv.batch(golden.records.map(([key, value]) => ({ type: 'put' as const, key, value: new Uint8Array(Buffer.from(value, 'base64')) })));
    let checked = 0;
    let store: Store | undefined;
    await replay(await KvLogStorage.open(kv), (after) => {
      store = after;
      for (const spec of specsOf(after).tasks) expectV3Defaults(spec);
      for (const spec of specsOf(after).services) expectV4Defaults(spec);
      checked += after.count('service') + after.count('task');
    });
    expect(checked).toBeGreaterThan(0);
    // So do they once the store is snapshotted and restored, in either format.
    for (const restored of [Store.restore(store!.serialize()), Store.restore(store!.serialize({ version: 1 }))]) {
      for (const spec of specsOf(restored).tasks) expectV3Defaults(spec);
      for (const spec of specsOf(restored).services) expectV4Defaults(spec);
    }
  });

  test.each(FROZEN_V3)('%s (schema v3) replays to service specs with no dependencies, after every entry and once restored', async (name) => {
    const golden = readGolden(name);
    const kv = await new MemoryStorage().openKv('log');
    await kv.batch(golden.records.map(([key, value]) => ({ type: 'put' as const, key, value: new Uint8Array(Buffer.from(value, 'base64')) })));
    let services = 0;
    let store: Store | undefined;
    await replay(await KvLogStorage.open(kv), (after) => {
      store = after;
      for (const spec of specsOf(after).services) expectV4Defaults(spec);
      services += after.count('service');
    });
    expect(services).toBeGreaterThan(0);
    for (const restored of [Store.restore(store!.serialize()), Store.restore(store!.serialize({ version: 1 }))]) {
      for (const spec of specsOf(restored).services) expectV4Defaults(spec);
    }
  });

  test('the v4 goldens hold service specs with dependencies of every condition, and an update that changes them', () => {
    const specs = orchestrationLife().flat().flatMap((event) => (event.type === 'service.created' || event.type === 'service.updated' ? [event.spec] : []));
    const conditions = new Set(specs.flatMap((spec) => spec.dependsOn.map((d) => d.condition)));
    expect([...conditions].sort()).toEqual(['completedSuccessfully', 'healthy', 'started']);
    expect(new Set(specs.filter((s) => s.annotations.name === 'api').map((s) => JSON.stringify(s.dependsOn))).size).toBe(2);
  });

  test('the v4 goldens hold specs away from the v3 defaults: health checks, mounts and the process runtime', () => {
    const specs = orchestrationLife().flat().flatMap((event) => (event.type === 'task.created' ? [event.spec] : event.type === 'service.created' ? [event.spec.task] : []));
    expect(specs.some((spec) => spec.runtime === 'process' && spec.container.image === '')).toBe(true);
    expect(specs.some((spec) => spec.container.healthcheck !== null && spec.container.mounts.length > 0)).toBe(true);
  });
});

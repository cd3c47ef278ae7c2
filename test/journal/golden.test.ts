import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KvLogStorage, Store, decodeBatch, encodeBatch, type JournalEvent } from '../../journal/index.js';
import { MemoryStorage } from '../../runtime/index.js';
import { blob, networkSpec, nodeDescription, nodeSpec, nodeStatus, oneOfEach, serviceSpec, status, taskSpec } from './journal-fixtures.js';

// Golden journals: logs written by this version, committed as their raw store records (key and
// bytes), replayed by every later version. A later schema must keep them opening, decoding
// (upgrading old events) and applying to the same store. `GOLDEN_REWRITE=1` writes them anew,
// which only a deliberate change of the record or store format should need (say so in the commit).

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

/** A small cluster's life: services scaled, tasks through their states, a node drained. */
function clusterLife(): JournalEvent[][] {
  const at = 1_000;
  const batches: JournalEvent[][] = [oneOfEach()];
  batches.push([
    { type: 'node.registered', v: 1, at, id: 'n2', spec: nodeSpec('host-2'), description: nodeDescription('host-2'), status: nodeStatus() },
    { type: 'node.registered', v: 1, at, id: 'n3', spec: nodeSpec('host-3'), description: nodeDescription('host-3'), status: nodeStatus() },
    { type: 'network.created', v: 1, at, id: 'net2', spec: networkSpec('frontend') },
    { type: 'secret.created', v: 1, at, id: 'sec2', spec: blob('api-key', 'k3y') },
    { type: 'service.created', v: 1, at, id: 'api', spec: serviceSpec('api', 4, 'api:2') },
  ]);
  for (let slot = 1; slot <= 4; slot++) {
    const id = `api.${slot}`;
    batches.push([{ type: 'task.created', v: 1, at, id, serviceId: 'api', slot, nodeId: '', spec: taskSpec('api:2'), serviceVersion: 1, desiredState: 'running', status: status('pending') }]);
    batches.push([
      { type: 'task.assigned', v: 1, at, id, nodeId: slot % 2 === 0 ? 'n2' : 'n3', status: status('assigned'), expectedVersion: null },
      { type: 'task.statusChanged', v: 1, at, id, status: status('running', 2), expectedVersion: null },
    ]);
  }
  batches.push([
    { type: 'node.updated', v: 1, at, id: 'n3', spec: nodeSpec('host-3', 'drain'), expectedVersion: null },
    { type: 'task.desiredStateChanged', v: 1, at, id: 'api.1', desiredState: 'shutdown', expectedVersion: null },
    { type: 'task.statusChanged', v: 1, at, id: 'api.1', status: status('shutdown', 3), expectedVersion: null },
    { type: 'service.updated', v: 1, at, id: 'api', spec: serviceSpec('api', 2, 'api:3'), expectedVersion: null },
  ]);
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

async function replay(log: KvLogStorage): Promise<Store> {
  const store = new Store();
  for (const entry of log.entries(log.firstIndex(), log.lastIndex() + 1)) {
    const result = store.applyBatch(decodeBatch(entry.data).events, entry.index);
    if (!result.applied) throw result.error;
  }
  return store;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const counts = (store: Store): Record<string, number> => Object.fromEntries((['cluster', 'node', 'service', 'task', 'network', 'secret', 'config'] as const).map((k) => [k, store.count(k)]));

const GOLDENS: Array<[string, string, () => JournalEvent[][]]> = [
  ['v1-every-event', 'one event of every type, each in its own entry (schema v1)', () => oneOfEach().map((e) => [e])],
  ['v1-cluster-life', 'a small cluster: nodes, a network, a secret, a service scaled up and updated, tasks through their states, a node drained (schema v1)', clusterLife],
];

describe('golden journals', () => {
  if (rewrite) {
    test.each(GOLDENS)('rewrites %s', async (name, about, batches) => {
      await write(name, about, batches());
    });
    return;
  }
  test.each(GOLDENS)('%s opens, decodes and replays to the same store', async (name) => {
    const golden = JSON.parse(readFileSync(path.join(here, `${name}.json`), 'utf8')) as Golden;
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
});

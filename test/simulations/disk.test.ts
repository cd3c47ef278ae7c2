import fc from 'fast-check';
import { SeededRandom } from '../../runtime/index.js';
import type { KvOp, KvStore } from '../../runtime/index.js';
import { SimLoop, SimStorage } from '../../simulations/index.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : new TextDecoder().decode(value));

async function dump(store: KvStore): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [key, value] of await store.range({})) out[key] = text(value) as string;
  return out;
}

/** Settles promises without running any loop event. */
const flush = (): Promise<void> => new SimLoop().run().then(() => undefined);

describe('SimStorage', () => {
  it('reads its own writes at once, in key order, with gte/lt/limit', async () => {
    const storage = new SimStorage(new SimLoop(), new SeededRandom(1), { writeLatencyMsMax: 5 });
    const store = await storage.openKv('log');
    await store.batch([
      { type: 'put', key: 'b', value: bytes('2') },
      { type: 'put', key: 'a', value: bytes('1') },
      { type: 'put', key: 'd', value: bytes('4') },
      { type: 'put', key: 'c', value: bytes('3') },
    ]);
    await store.batch([{ type: 'del', key: 'd' }]);
    expect(text(await store.get('a'))).toBe('1');
    expect(await store.get('d')).toBeUndefined();
    expect((await store.range({})).map(([k]) => k)).toEqual(['a', 'b', 'c']);
    expect((await store.range({ gte: 'b' })).map(([k]) => k)).toEqual(['b', 'c']);
    expect((await store.range({ gte: 'a', lt: 'c' })).map(([k]) => k)).toEqual(['a', 'b']);
    expect((await store.range({ limit: 2 })).map(([k]) => k)).toEqual(['a', 'b']);
    expect(await store.range({ limit: 0 })).toEqual([]);
  });

  it('keeps its own copy of written values and hands out copies', async () => {
    const storage = new SimStorage(new SimLoop(), new SeededRandom(1), { writeLatencyMsMax: 0 });
    const store = await storage.openKv('kv');
    const value = bytes('abc');
    await store.batch([{ type: 'put', key: 'k', value }]);
    value[0] = 0;
    const read = (await store.get('k')) as Uint8Array;
    read[1] = 0;
    expect(text(await store.get('k'))).toBe('abc');
  });

  it('keeps a value handed over as it is, still handing out copies', async () => {
    const storage = new SimStorage(new SimLoop(), new SeededRandom(1), { writeLatencyMsMax: 0 });
    const store = await storage.openKv('kv');
    const value = bytes('abc');
    await store.batch([{ type: 'put', key: 'k', value }], { handOver: true });
    const read = (await store.get('k')) as Uint8Array;
    expect(read).not.toBe(value);
    read[1] = 0;
    expect(text(await store.get('k'))).toBe('abc');
    // The buffer itself is what the store holds (the caller promised never to change it).
    value[0] = 0x78;
    expect(text(await store.get('k'))).toBe('xbc');
  });

  it('resolves a synced batch after a latency on the loop, and keeps it through a crash', async () => {
    const loop = new SimLoop();
    const storage = new SimStorage(loop, new SeededRandom(2), { writeLatencyMsMax: 30 });
    const store = await storage.openKv('log');
    let doneAt: number | undefined;
    void store.batch([{ type: 'put', key: 'x', value: bytes('1') }], { sync: true }).then(() => {
      doneAt = loop.now();
    });
    await flush();
    expect(doneAt).toBeUndefined();
    await loop.run();
    expect(doneAt).toBeDefined();
    expect(doneAt).toBeLessThanOrEqual(30);
    storage.crash();
    const reopened = await storage.openKv('log');
    expect(text(await reopened.get('x'))).toBe('1');
  });

  it('loses unsynced batches on some crashes, and a sync makes earlier unsynced batches durable', async () => {
    let lost = 0;
    let kept = 0;
    for (let seed = 0; seed < 40; seed++) {
      const loop = new SimLoop();
      const storage = new SimStorage(loop, new SeededRandom(seed), { writeLatencyMsMax: 10 });
      const store = await storage.openKv('kv');
      await store.batch([{ type: 'put', key: 'unsynced', value: bytes('u') }]);
      storage.crash();
      const after = await storage.openKv('kv');
      if ((await after.get('unsynced')) === undefined) lost++;
      else kept++;

      await after.batch([{ type: 'put', key: 'early', value: bytes('e') }]);
      const synced = after.batch([{ type: 'put', key: 'late', value: bytes('l') }], { sync: true });
      await loop.run();
      await synced;
      storage.crash();
      expect(await dump(await storage.openKv('kv'))).toMatchObject({ early: 'e', late: 'l' });
    }
    expect(lost).toBeGreaterThan(0);
    expect(kept).toBeGreaterThan(0);
  });

  it('never answers a sync in flight at a crash, nor any call on a handle from before it', async () => {
    const loop = new SimLoop();
    const storage = new SimStorage(loop, new SeededRandom(3), { writeLatencyMsMax: 10 });
    const store = await storage.openKv('log');
    let settled = false;
    const settle = (): void => {
      settled = true;
    };
    store.batch([{ type: 'put', key: 'a', value: bytes('1') }], { sync: true }).then(settle, settle);
    storage.crash();
    expect(loop.pending()).toBe(0);
    store.get('a').then(settle, settle);
    store.batch([{ type: 'put', key: 'zombie', value: bytes('z') }]).then(settle, settle);
    store.close().then(settle, settle);
    await loop.run();
    await flush();
    expect(settled).toBe(false);
    expect(await (await storage.openKv('log')).get('zombie')).toBeUndefined();
  });

  it('rejects calls on a closed handle', async () => {
    const storage = new SimStorage(new SimLoop(), new SeededRandom(4), { writeLatencyMsMax: 0 });
    const store = await storage.openKv('kv');
    await store.close();
    await expect(store.get('a')).rejects.toThrow(/closed/);
    await expect(store.batch([])).rejects.toThrow(/closed/);
  });

  it('keeps durable state plus a whole-batch prefix of the unsynced ones, never half a batch', async () => {
    // Each batch i writes keys `i/0..i/(n-1)`; syncs are random; the crash comes at a random
    // point of the loop, possibly with syncs in flight.
    const batchArb = fc.record({ size: fc.integer({ min: 1, max: 4 }), sync: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.array(batchArb, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 40 }),
        fc.boolean(),
        async (seed, batches, crashAtMs, tornTail) => {
          const loop = new SimLoop();
          const storage = new SimStorage(loop, new SeededRandom(seed), { writeLatencyMsMax: 20, tornTail });
          const store = await storage.openKv('log');
          const acknowledged = new Set<number>();
          batches.forEach(({ size, sync }, i) => {
            loop.schedule(i * 3, () => {
              const ops: KvOp[] = [];
              for (let j = 0; j < size; j++) ops.push({ type: 'put', key: `${String(i).padStart(2, '0')}/${j}`, value: bytes(String(i)) });
              void store.batch(ops, { sync }).then(() => {
                if (sync) acknowledged.add(i);
              });
            });
          });
          await loop.run({ untilMs: crashAtMs });
          storage.crash();
          const survived = await dump(await storage.openKv('log'));
          const perBatch = new Map<number, number>();
          for (const key of Object.keys(survived)) {
            const i = Number(key.split('/')[0]);
            perBatch.set(i, (perBatch.get(i) ?? 0) + 1);
          }
          // Whole batches only, and a prefix: no batch survives after one that was lost.
          let lostOne = false;
          batches.forEach(({ size }, i) => {
            const count = perBatch.get(i) ?? 0;
            expect(count === 0 || count === size).toBe(true);
            if (count === 0) lostOne = true;
            else expect(lostOne).toBe(false);
          });
          // An acknowledged sync survives, and so does everything before it.
          const lastAcknowledged = Math.max(-1, ...acknowledged);
          for (let i = 0; i <= lastAcknowledged; i++) expect(perBatch.get(i)).toBe(batches[i]?.size);
        },
      ),
      { numRuns: 150 },
    );
  });
});

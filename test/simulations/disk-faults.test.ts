// SimStorage's optional faults: failed syncs and torn writes. The base behaviour (visibility,
// latency, crash prefixes) is in disk.test.ts.
import fc from 'fast-check';
import { SeededRandom } from '../../runtime/index.js';
import type { KvOp, KvStore } from '../../runtime/index.js';
import { SimLoop, SimStorage, type SimStorageOptions } from '../../simulations/index.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : new TextDecoder().decode(value));

async function dump(store: KvStore): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [key, value] of await store.range({})) out[key] = text(value) as string;
  return out;
}

/** Writes `count` synced one-key batches at 0, 3, 6, … ms and records when each settles, and how. */
async function syncedWrites(seed: number, options: SimStorageOptions, count: number): Promise<string[]> {
  const loop = new SimLoop();
  const storage = new SimStorage(loop, new SeededRandom(seed), options);
  const store = await storage.openKv('log');
  const outcomes: string[] = [];
  for (let i = 0; i < count; i++) {
    loop.schedule(i * 3, () => {
      store.batch([{ type: 'put', key: `k${i}`, value: bytes(String(i)) }], { sync: true }).then(
        () => outcomes.push(`${i} ok @${loop.now()}`),
        (error: Error) => outcomes.push(`${i} ${error.message} @${loop.now()}`),
      );
    });
  }
  await loop.run();
  return outcomes;
}

describe('SimStorage faults', () => {
  test('refuses probabilities outside [0, 1]', () => {
    expect(() => new SimStorage(new SimLoop(), new SeededRandom(1), { writeLatencyMsMax: 1, syncFailureProbability: 1.5 })).toThrow(RangeError);
    expect(() => new SimStorage(new SimLoop(), new SeededRandom(1), { writeLatencyMsMax: 1, tornWriteProbability: -0.1 })).toThrow(RangeError);
  });

  test('failures draw from their own stream: latencies stay those of the same seed without them', async () => {
    for (let seed = 0; seed < 5; seed++) {
      const plain = await syncedWrites(seed, { writeLatencyMsMax: 20 }, 12);
      const zero = await syncedWrites(seed, { writeLatencyMsMax: 20, syncFailureProbability: 0, tornWriteProbability: 0 }, 12);
      const failing = await syncedWrites(seed, { writeLatencyMsMax: 20, syncFailureProbability: 0.5 }, 12);
      expect(zero).toEqual(plain);
      const when = (outcomes: string[]) => outcomes.map((o) => `${o.split(' ')[0]}${o.slice(o.indexOf('@'))}`);
      expect(when(failing)).toEqual(when(plain));
      expect(failing.some((o) => o.includes('simulated fsync failure'))).toBe(true);
    }
  });

  test('a failed sync rejects at its completion time, and its batch stays visible but not durable', async () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const loop = new SimLoop();
      const storage = new SimStorage(loop, new SeededRandom(seed), { writeLatencyMsMax: 10, syncFailureProbability: 1 });
      const store = await storage.openKv('kv');
      let failedAt: number | undefined;
      let failure: unknown = 'resolved instead';
      store.batch([{ type: 'put', key: 'a', value: bytes('1') }, { type: 'put', key: 'b', value: bytes('2') }], { sync: true }).then(
        () => undefined,
        (error: unknown) => {
          failedAt = loop.now();
          failure = error;
        },
      );
      await loop.run();
      expect(failure).toEqual(new Error('simulated fsync failure'));
      expect(failedAt).toBeLessThanOrEqual(10);
      expect(await dump(store)).toEqual({ a: '1', b: '2' });
      storage.crash();
      const survived = await dump(await storage.openKv('kv'));
      // Whole or nothing, as for any unsynced batch.
      if (Object.keys(survived).length === 0) outcomes.add('lost');
      else {
        expect(survived).toEqual({ a: '1', b: '2' });
        outcomes.add('kept');
      }
    }
    expect([...outcomes].sort()).toEqual(['kept', 'lost']);
  });

  test('a torn write cuts the last put of the last batch a crash keeps', async () => {
    let tornSeen = 0;
    for (let seed = 0; seed < 30; seed++) {
      const loop = new SimLoop();
      const storage = new SimStorage(loop, new SeededRandom(seed), { writeLatencyMsMax: 10, tornWriteProbability: 1 });
      const store = await storage.openKv('kv');
      await store.batch([
        { type: 'put', key: 'first', value: bytes('first value') },
        { type: 'put', key: 'last', value: bytes('0123456789') },
        { type: 'del', key: 'nothing' },
      ]);
      const report = storage.crash();
      const survived = await dump(await storage.openKv('kv'));
      if (Object.keys(survived).length === 0) {
        expect(report.torn).toEqual([]);
        continue;
      }
      tornSeen++;
      expect(report.torn).toHaveLength(1);
      const tear = report.torn[0] as (typeof report.torn)[number];
      expect(tear).toMatchObject({ store: 'kv', key: 'last', writtenBytes: 10 });
      expect(tear.keptBytes).toBeLessThan(10);
      expect(survived).toEqual({ first: 'first value', last: '0123456789'.slice(0, tear.keptBytes) });
    }
    expect(tornSeen).toBeGreaterThan(0);
  });

  test('a batch whose sync completed is never torn, nor a batch without puts', async () => {
    let deleteKept = 0;
    for (let seed = 0; seed < 20; seed++) {
      const loop = new SimLoop();
      const storage = new SimStorage(loop, new SeededRandom(seed), { writeLatencyMsMax: 10, tornWriteProbability: 1 });
      const store = await storage.openKv('kv');
      const synced = store.batch([{ type: 'put', key: 'a', value: bytes('whole') }, { type: 'put', key: 'b', value: bytes('whole') }], { sync: true });
      await loop.run();
      await synced;
      expect(storage.crash().torn).toEqual([]);
      const again = await storage.openKv('kv');
      expect(await dump(again)).toEqual({ a: 'whole', b: 'whole' });
      await again.batch([{ type: 'del', key: 'a' }]);
      expect(storage.crash().torn).toEqual([]);
      const survived = await dump(await storage.openKv('kv'));
      if (survived.a === undefined) deleteKept++;
      expect(survived.b).toBe('whole');
    }
    expect(deleteKept).toBeGreaterThan(0);
  });

  test('with both faults on, crashes keep whole-batch prefixes, acknowledged batches whole, and tear only the last unacknowledged one', async () => {
    const batchArb = fc.record({ size: fc.integer({ min: 1, max: 3 }), sync: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.array(batchArb, { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 0, max: 40 }),
        fc.constantFrom(0, 0.3, 1),
        fc.constantFrom(0, 0.5, 1),
        async (seed, batches, crashAtMs, syncFailureProbability, tornWriteProbability) => {
          const loop = new SimLoop();
          const storage = new SimStorage(loop, new SeededRandom(seed), { writeLatencyMsMax: 20, syncFailureProbability, tornWriteProbability });
          const store = await storage.openKv('log');
          const value = (i: number, j: number) => `batch ${i} put ${j}`;
          const acknowledged = new Set<number>();
          batches.forEach(({ size, sync }, i) => {
            loop.schedule(i * 3, () => {
              const ops: KvOp[] = [];
              for (let j = 0; j < size; j++) ops.push({ type: 'put', key: `${String(i).padStart(2, '0')}/${j}`, value: bytes(value(i, j)) });
              store.batch(ops, { sync }).then(
                () => {
                  if (sync) acknowledged.add(i);
                },
                () => undefined,
              );
            });
          });
          await loop.run({ untilMs: crashAtMs });
          const report = storage.crash();
          const survived = await dump(await storage.openKv('log'));
          const perBatch = new Map<number, number>();
          for (const key of Object.keys(survived)) {
            const i = Number(key.split('/')[0]);
            perBatch.set(i, (perBatch.get(i) ?? 0) + 1);
          }
          let lostOne = false;
          let lastKept = -1;
          batches.forEach(({ size }, i) => {
            const count = perBatch.get(i) ?? 0;
            expect(count === 0 || count === size).toBe(true);
            if (count === 0) lostOne = true;
            else {
              expect(lostOne).toBe(false);
              lastKept = i;
            }
          });
          const lastAcknowledged = Math.max(-1, ...acknowledged);
          for (let i = 0; i <= lastAcknowledged; i++) expect(perBatch.get(i)).toBe(batches[i]?.size);
          expect(report.torn.length).toBeLessThanOrEqual(1);
          const tornKey = report.torn[0]?.key;
          if (tornKey !== undefined) {
            const i = Number(tornKey.split('/')[0]);
            expect(i).toBe(lastKept);
            expect(acknowledged.has(i)).toBe(false);
            expect(tornKey).toBe(`${String(i).padStart(2, '0')}/${(batches[i]?.size as number) - 1}`);
          }
          for (const [key, got] of Object.entries(survived)) {
            const [i, j] = key.split('/').map(Number) as [number, number];
            if (key === tornKey) expect(value(i, j).startsWith(got) && got.length < value(i, j).length).toBe(true);
            else expect(got).toBe(value(i, j));
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

import { webcrypto } from 'node:crypto';
import { KEY_FILE_KEY } from '../../journal/index.js';
import { SeededRandom, type KvKey, type KvOp, type KvStore } from '../../runtime/index.js';
import { SimKeyFile, SimLoop, openKeyStore } from '../../simulations/index.js';

/** A KvStore in a Map, for the key file's framing. */
function memoryKv(): KvStore & { map: Map<KvKey, Uint8Array> } {
  const map = new Map<KvKey, Uint8Array>();
  return {
    map,
    get: (key) => Promise.resolve(map.get(key)),
    batch: (ops: readonly KvOp[]) => {
      for (const op of ops) if (op.type === 'put') map.set(op.key, op.value);
      return Promise.resolve();
    },
    range: () => Promise.resolve([]),
    close: () => Promise.resolve(),
  };
}

test('SimLoop.hold: no event runs until work from outside the loop settles', async () => {
  const loop = new SimLoop();
  const order: string[] = [];
  loop.schedule(0, () => {
    order.push('a');
    void loop.hold(webcrypto.subtle.digest('SHA-256', new Uint8Array(8)).then(() => order.push('crypto')));
  });
  loop.schedule(0, () => order.push('b'));
  await loop.run();
  expect(order).toEqual(['a', 'crypto', 'b']);
});

test('the key file reads as the newest intact slot: a torn write reads as the one before it', async () => {
  const kv = memoryKv();
  const keyFile = new SimKeyFile(kv, new SimLoop());
  const text = (s: string) => new TextEncoder().encode(s);
  await keyFile.batch([{ type: 'put', key: KEY_FILE_KEY, value: text('first') }]);
  await keyFile.batch([{ type: 'put', key: KEY_FILE_KEY, value: text('second') }]);
  expect(new TextDecoder().decode(await keyFile.get(KEY_FILE_KEY))).toBe('second');
  // Tear the newer slot (seq 2, slot 0): the older one is read.
  const newer = kv.map.get(`${KEY_FILE_KEY}.0`) as Uint8Array;
  kv.map.set(`${KEY_FILE_KEY}.0`, newer.slice(0, newer.byteLength - 2));
  const reopened = new SimKeyFile(kv, new SimLoop());
  expect(new TextDecoder().decode(await reopened.get(KEY_FILE_KEY))).toBe('first');
  // The next write goes past both slots' sequence numbers, into the torn slot.
  await reopened.batch([{ type: 'put', key: KEY_FILE_KEY, value: text('third') }]);
  expect(new TextDecoder().decode(await new SimKeyFile(kv, new SimLoop()).get(KEY_FILE_KEY))).toBe('third');
});

test('a manager\'s KeyStore on the key file: created once, reopened with every DEK after a rotation', async () => {
  const kv = memoryKv();
  const storage = { openKv: () => Promise.resolve(kv) };
  const random = new SeededRandom('keys');
  const randomBytes = (length: number) => random.bytes(length);
  const first = await openKeyStore(storage, new SimLoop(), randomBytes);
  expect(first.keyStore.keyring.ids()).toEqual([1]);
  expect(await first.keyFile.run(() => first.keyStore.rotateDek())).toBe(2);
  const again = await openKeyStore(storage, new SimLoop(), randomBytes);
  expect(again.keyStore.keyring.ids()).toEqual([1, 2]);
  expect(again.keyStore.keyring.current).toBe(2);
});

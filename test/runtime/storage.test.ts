import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MemoryStorage, SeededRandom, type Storage } from '../../runtime/index.js';
import { CHAINED_BATCH_BYTES_MAX, LevelStorage } from '../../runtime/env/real/index.js';
import { SimLoop, SimStorage } from '../../simulations/index.js';

const bytes = (...values: number[]) => new Uint8Array(values);
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'swarm-storage-'));
  dirs.push(dir);
  return dir;
}

const loop = new SimLoop();
const implementations: Array<[string, () => Storage]> = [
  ['memory', () => new MemoryStorage()],
  ['simulated', () => new SimStorage(loop, new SeededRandom('storage'), { writeLatencyMsMax: 0 })],
  ['LevelDB', () => new LevelStorage(tempDir())],
];

describe.each(implementations)('the %s KvStore', (_name, make) => {
  test('puts, deletes atomically in batches, reads ranges in key order, and keeps data across reopen', async () => {
    const storage = make();
    const store = await storage.openKv('main');
    const written = store.batch([
      { type: 'put', key: 'log/0002', value: bytes(2) },
      { type: 'put', key: 'log/0001', value: bytes(1) },
      { type: 'put', key: 'log/0003', value: bytes(3) },
      { type: 'put', key: 'meta', value: bytes(9) },
    ], { sync: true });
    await loop.run({});
    await written;
    expect(await store.get('log/0002')).toEqual(bytes(2));
    expect(await store.get('missing')).toBeUndefined();
    const range = await store.range({ gte: 'log/', lt: 'log0' });
    expect(range.map(([k, v]) => [k, [...v]])).toEqual([['log/0001', [1]], ['log/0002', [2]], ['log/0003', [3]]]);
    expect((await store.range({ gte: 'log/', limit: 2 })).map(([k]) => k)).toEqual(['log/0001', 'log/0002']);
    const removed = store.batch([{ type: 'del', key: 'log/0001' }, { type: 'put', key: 'log/0004', value: bytes(4) }], { sync: true });
    await loop.run({});
    await removed;
    await store.close();
    const again = await storage.openKv('main');
    expect((await again.range({})).map(([k]) => k)).toEqual(['log/0002', 'log/0003', 'log/0004', 'meta']);
    await again.close();
  });
});

describe('LevelStorage across processes', () => {
  test('a batch whose promise resolved survives kill -9 of the process that wrote it (fsync itself would need a power cut)', async () => {
    const dir = tempDir();
    const script = `
      import { LevelStorage } from './runtime/env/real/index.ts';
      const store = await new LevelStorage(${JSON.stringify(dir)}).openKv('journal');
      await store.batch([{ type: 'put', key: 'entry/1', value: new Uint8Array([42]) }], { sync: true });
      process.stdout.write('synced\\n');
      await new Promise(() => {});
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => { if (chunk.toString().includes('synced')) resolve(); });
      child.on('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
    });
    const exited = new Promise((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const store = await new LevelStorage(dir).openKv('journal');
    expect(await store.get('entry/1')).toEqual(bytes(42));
    await store.close();
  });

  test('a clean close leaves nothing in the write-ahead log to replay, and the data stays', async () => {
    const dir = tempDir();
    const store = await new LevelStorage(dir).openKv('journal');
    const big = new Uint8Array(1 << 20).fill(7);
    await store.batch([{ type: 'put', key: 'a', value: big }, { type: 'put', key: 'b', value: new Uint8Array([1]) }], { sync: true });
    await store.close();
    const files = readdirSync(path.join(dir, 'journal'));
    const logs = files.filter((f) => f.endsWith('.log'));
    expect(logs.length).toBeGreaterThan(0);
    // The memtable was written to a table: every write-ahead log LevelDB left is empty.
    for (const log of logs) expect(statSync(path.join(dir, 'journal', log)).size).toBe(0);
    expect(files.some((f) => f.endsWith('.ldb'))).toBe(true);
    const reopened = await new LevelStorage(dir).openKv('journal');
    expect(await reopened.range({})).toEqual([['a', big], ['b', new Uint8Array([1])]]);
    await reopened.close();
  });

  test('writes views at an offset as their own bytes, orders UTF-8 keys by their bytes, deletes, and takes an empty batch', async () => {
    const dir = tempDir();
    const store = await new LevelStorage(dir).openKv('journal');
    const backing = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
    await store.batch([
      { type: 'put', key: 'k/é', value: backing.subarray(5, 8) },
      { type: 'put', key: 'k/z', value: backing.subarray(0, 2) },
      { type: 'put', key: 'k/a', value: new Uint8Array(0) },
      { type: 'put', key: 'k/gone', value: bytes(1) },
    ], { sync: true });
    await store.batch([{ type: 'del', key: 'k/gone' }, { type: 'del', key: 'k/never' }], { sync: true });
    await store.batch([], { sync: true });
    await store.close();
    const reopened = await new LevelStorage(dir).openKv('journal');
    // 'é' is two bytes above every ASCII letter: keys sort by their UTF-8 bytes.
    expect(await reopened.range({})).toEqual([['k/a', new Uint8Array(0)], ['k/z', bytes(0, 1)], ['k/é', bytes(5, 6, 7)]]);
    await reopened.close();
  });

  // Small batches go through classic-level's chained batch, large ones through the array form
  // (level-storage.ts): both must be atomic, take deletes with puts, and refuse a bad operation whole.
  test.each([['small', 16], ['large', CHAINED_BATCH_BYTES_MAX + 1]])('a %s batch writes its puts and deletes at once, and one with a bad operation writes none of it', async (_size, valueBytes) => {
    const dir = tempDir();
    const store = await new LevelStorage(dir).openKv('journal');
    const value = new Uint8Array(valueBytes as number).fill(9);
    await store.batch([{ type: 'put', key: 'kept', value: bytes(1) }, { type: 'put', key: 'gone', value: bytes(2) }], { sync: true });
    await store.batch([{ type: 'put', key: 'v', value }, { type: 'del', key: 'gone' }], { sync: true });
    const bad = [
      { type: 'put', key: 'a', value },
      { type: 'del', key: 'kept' },
      { type: 'put', key: 'b', value: undefined as unknown as Uint8Array },
    ] as const;
    await expect(store.batch(bad, { sync: true })).rejects.toThrow(/value/i);
    await store.batch([{ type: 'put', key: 'c', value: bytes(3) }], { sync: true });
    await store.close();
    const reopened = await new LevelStorage(dir).openKv('journal');
    expect(await reopened.range({})).toEqual([['c', bytes(3)], ['kept', bytes(1)], ['v', value]]);
    await reopened.close();
  });

  test('refuses a store name that could escape its directory', async () => {
    await expect(new LevelStorage(tempDir()).openKv('../etc')).rejects.toThrow("store name '../etc' must be letters");
  });
});

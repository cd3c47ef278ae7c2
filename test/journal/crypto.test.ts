// Encryption at rest: entries and snapshots sealed through KvLogStorage's cipher (AES-256-GCM,
// a key id per record), the key file (DEKs wrapped as a JWE by a KEK, stored beside it or derived
// from an unlock key with auto-lock), DEK rotation and unlock-key rotation, on MemoryStorage and
// on the real LevelStorage.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  DecryptionError,
  KeyStore,
  KeyStoreLockedError,
  KvLogStorage,
  LogCorruptError,
  MalformedUnlockKeyError,
  SEALED_OVERHEAD_BYTES,
  WrongUnlockKeyError,
  parseUnlockKey,
  type Entry,
  type HardState,
} from '../../journal/index.js';
import { MemoryStorage, type KvStore, type Storage } from '../../runtime/index.js';
import { LevelStorage, secureRandomBytes } from '../../runtime/env/real/index.js';
import { rejection } from './helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'swarm-crypto-'));
  dirs.push(dir);
  return dir;
}

const randomBytes = secureRandomBytes;
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const marker = (index: number): string => `plaintext-marker-${index}-of-the-log`;
const entry = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: text(marker(index)) });
const entriesOf = (first: number, count: number, term = 1): Entry[] => Array.from({ length: count }, (_, i) => entry(first + i, term));
const hard = (term: number, commit: number): HardState => ({ term, vote: '', commit });
const key = (index: number): string => `e/${index.toString(16).padStart(16, '0')}`;
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);


async function records(kv: KvStore): Promise<Array<[string, string]>> {
  return (await kv.range({})).map(([k, v]) => [k, Buffer.from(v).toString('hex')]);
}

/** A key file and a log of entries 1..10 in three writes (segments 1, 5, 9), closed again. */
async function encryptedLog(storage: Storage, options: { autoLock?: boolean } = {}): Promise<string | undefined> {
  const { keyStore, unlockKey } = await KeyStore.init(await storage.openKv('keys'), { randomBytes, autoLock: options.autoLock ?? false });
  const log = await KvLogStorage.open(await storage.openKv('log'), { cipher: keyStore.cipher, initialConfState: { voters: ['a'], learners: [] } });
  await log.save({ hardState: hard(1, 0), entries: entriesOf(1, 4) });
  await log.save({ hardState: hard(1, 4), entries: entriesOf(5, 4) });
  await log.save({ hardState: hard(1, 8), entries: entriesOf(9, 2) });
  await log.close();
  await keyStore.close();
  return unlockKey;
}

async function openLog(storage: Storage, unlockKey?: string): Promise<{ keyStore: KeyStore; log: KvLogStorage }> {
  const keyStore = await KeyStore.open(await storage.openKv('keys'), { randomBytes, ...(unlockKey === undefined ? {} : { unlockKey }) });
  const log = await KvLogStorage.open(await storage.openKv('log'), { cipher: keyStore.cipher });
  return { keyStore, log };
}

async function expectLogOf(log: KvLogStorage, first: number, last: number): Promise<void> {
  expect(log.firstIndex()).toBe(first);
  expect(log.lastIndex()).toBe(last);
  expect(log.entries(first, last + 1).map((e) => decode(e.data))).toEqual(Array.from({ length: last - first + 1 }, (_, i) => marker(first + i)));
}

/**
 * Changes the sealed segment under `segmentKey`: flips a byte `fromEnd` bytes before its end, or
 * cuts it short by `fromEnd` bytes. A sealed segment: magic 0xE4, the length of the rest, then
 * the sealed record (magic 0xC1, key id, nonce, ciphertext, tag).
 */
async function tamperSegment(storage: Storage, segmentKey: string, how: 'flip' | 'cut', fromEnd = 20): Promise<void> {
  const kv = await storage.openKv('log');
  let value = ((await kv.get(segmentKey)) as Uint8Array).slice();
  if (how === 'flip') value[value.length - fromEnd] = (value[value.length - fromEnd] as number) ^ 0x01;
  else value = value.slice(0, value.length - fromEnd);
  await kv.batch([{ type: 'put', key: segmentKey, value }]);
}

describe('KvLogStorage with a cipher', () => {
  test('round trip on MemoryStorage: entries, hard state and snapshot come back after reopen; the mirror is plaintext', async () => {
    const storage = new MemoryStorage();
    await encryptedLog(storage);
    const { keyStore, log } = await openLog(storage);
    await expectLogOf(log, 1, 10);
    expect(log.initialState().hardState).toEqual(hard(1, 8));
    const snap = await log.createSnapshot(6, { voters: ['a'], learners: [] }, text('the store at 6'));
    expect(decode(snap.data)).toBe('the store at 6');
    await log.compact(4);
    await log.close();
    const again = await KvLogStorage.open(await storage.openKv('log'), { cipher: keyStore.cipher });
    expect(decode(again.snapshot().data)).toBe('the store at 6');
    await expectLogOf(again, 7, 10);
    // Every stored segment is sealed whole: 0xE4, its CRC, then 0xC1, key id 1, nonce, ciphertext, tag.
    const stored = (await (await storage.openKv('log')).get(key(9))) as Uint8Array;
    expect([...stored.subarray(0, 1)]).toEqual([0xe4]);
    expect([...stored.subarray(5, 10)]).toEqual([0xc1, 0, 0, 0, 1]);
    expect(stored.byteLength).toBe(5 + SEALED_OVERHEAD_BYTES + 9 + 2 * (4 + 17) + marker(9).length + marker(10).length);
    await again.close();
    await keyStore.close();
  });

  test('round trip on LevelStorage with reopen; the bytes on disk never hold the plaintext', async () => {
    const dir = tempDir();
    await encryptedLog(new LevelStorage(dir));
    const { keyStore, log } = await openLog(new LevelStorage(dir));
    await expectLogOf(log, 1, 10);
    await log.save({ entries: entriesOf(11, 3) });
    await log.createSnapshot(12, { voters: ['a'], learners: [] }, text('snapshot-plaintext-marker'));
    await log.close();
    await keyStore.close();
    const reopened = await openLog(new LevelStorage(dir));
    // The log reopens at its snapshot.
    await expectLogOf(reopened.log, 13, 13);
    expect(decode(reopened.log.snapshot().data)).toBe('snapshot-plaintext-marker');
    await reopened.log.close();
    await reopened.keyStore.close();
    const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    expect(files.length).toBeGreaterThan(0);
    const disk = Buffer.concat(files.map((f) => readFileSync(path.join(f.parentPath, f.name))));
    expect(disk.includes('plaintext-marker')).toBe(false);
    // The same scan finds the plaintext of a log written without a cipher. LevelDB's tables are
    // snappy-compressed (a clean close writes one): of text that repeats, only the first
    // occurrence is stored literally, so the scan looks for the first marker, and the scan above
    // for the prefix every marker shares.
    const plainDir = tempDir();
    const plain = await KvLogStorage.open(await new LevelStorage(plainDir).openKv('log'));
    await plain.save({ entries: entriesOf(1, 3) });
    await plain.close();
    const plainDisk = Buffer.concat(readdirSync(plainDir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile()).map((f) => readFileSync(path.join(f.parentPath, f.name))));
    expect(plainDisk.includes(marker(1))).toBe(true);
  });

  test('a snapshot of megabytes (sealed in pieces, its record framed around the data) comes back whole after reopen, sealed or plain', async () => {
    // Not a multiple of the cipher's piece, with a marker in the last piece.
    const data = new Uint8Array(3 * 1024 * 1024 + 12_345).map((_, i) => (i * 7 + (i >>> 13)) & 0xff);
    data.set(text('snapshot-plaintext-marker'), data.byteLength - 100);
    const conf = { voters: ['a', 'b'], learners: ['c'] };
    for (const sealed of [true, false]) {
      const dir = tempDir();
      const { keyStore, log } = sealed ? await (async () => (await encryptedLog(new LevelStorage(dir)), openLog(new LevelStorage(dir))))() : { keyStore: undefined, log: await KvLogStorage.open(await new LevelStorage(dir).openKv('log')) };
      // The encrypted log holds entries 1..10 already (committed up to 8).
      await log.save(sealed ? { entries: entriesOf(11, 3) } : { hardState: hard(1, 2), entries: entriesOf(1, 3) });
      const index = sealed ? 12 : 2;
      await log.createSnapshot(index, conf, data);
      await log.close();
      await keyStore?.close();
      const reopened = sealed ? await openLog(new LevelStorage(dir)) : { keyStore: undefined, log: await KvLogStorage.open(await new LevelStorage(dir).openKv('log')) };
      const snapshot = reopened.log.snapshot();
      expect(snapshot.meta).toEqual({ index, term: 1, confState: conf });
      expect(Buffer.from(snapshot.data).equals(Buffer.from(data))).toBe(true);
      await reopened.log.close();
      await reopened.keyStore?.close();
      const disk = Buffer.concat(readdirSync(dir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile()).map((f) => readFileSync(path.join(f.parentPath, f.name))));
      expect(disk.includes('snapshot-plaintext-marker')).toBe(!sealed);
    }
  });

  test('a wrong DEK is a DecryptionError naming the entry and the key id, never garbage', async () => {
    const storage = new MemoryStorage();
    await encryptedLog(storage);
    const other = await KeyStore.init(await new MemoryStorage().openKv('keys'), { randomBytes });
    const error = await rejection(KvLogStorage.open(await storage.openKv('log'), { cipher: other.keyStore.cipher }));
    expect(error).toBeInstanceOf(DecryptionError);
    expect(error).toMatchObject({ code: 'DECRYPTION_FAILED', keyId: 1 });
    expect((error as Error).message).toMatch(/snapshot 0|entry 1/);
  });

  test('a flipped byte is a DecryptionError naming the segment and key (in the last segment too); a segment cut short reads as torn', async () => {
    const storage = new MemoryStorage();
    const { keyStore } = await KeyStore.init(await storage.openKv('keys'), { randomBytes });
    const log = await KvLogStorage.open(await storage.openKv('log'), { cipher: keyStore.cipher });
    for (let i = 1; i <= 3; i++) await log.save({ hardState: hard(1, i - 1), entries: [entry(i, 1)] });
    await log.close();

    await tamperSegment(storage, key(2), 'flip');
    const middle = await rejection(KvLogStorage.open(await storage.openKv('log'), { cipher: keyStore.cipher }));
    expect(middle).toBeInstanceOf(DecryptionError);
    expect(middle).toMatchObject({ subject: `entries from 2 (${key(2)})`, keyId: 1 });

    // In the last segment too: a whole record is no torn write and is not dropped.
    const storage2 = new MemoryStorage();
    const log2 = await KvLogStorage.open(await storage2.openKv('log'), { cipher: keyStore.cipher });
    await log2.save({ entries: [entry(1, 1)] });
    await log2.close();
    await tamperSegment(storage2, key(1), 'flip');
    expect(await rejection(KvLogStorage.open(await storage2.openKv('log'), { cipher: keyStore.cipher }))).toMatchObject({ code: 'DECRYPTION_FAILED', subject: `entries from 1 (${key(1)})` });
    // Cut short, the last segment is a torn write and is dropped, as in a plain log; in the middle, corruption.
    await tamperSegment(storage, key(2), 'cut', 7);
    expect(await rejection(KvLogStorage.open(await storage.openKv('log'), { cipher: keyStore.cipher }))).toBeInstanceOf(LogCorruptError);
    await tamperSegment(storage2, key(1), 'cut', 7);
    const reopened = await KvLogStorage.open(await storage2.openKv('log'), { cipher: keyStore.cipher });
    expect(reopened.recovery.tornTailDropped).toBe(1);
    expect(reopened.lastIndex()).toBe(0);
  });

  test('a sealed segment moved under another key fails: its first index is authenticated', async () => {
    const storage = new MemoryStorage();
    const { keyStore } = await KeyStore.init(await storage.openKv('keys'), { randomBytes });
    const log = await KvLogStorage.open(await storage.openKv('log'), { cipher: keyStore.cipher });
    await log.save({ entries: [entry(1, 1)] });
    await log.save({ entries: [entry(2, 1)] });
    await log.close();
    const kv = await storage.openKv('log');
    const first = (await kv.get(key(1))) as Uint8Array;
    await kv.batch([{ type: 'put', key: key(2), value: first }]);
    expect(await rejection(KvLogStorage.open(await storage.openKv('log'), { cipher: keyStore.cipher }))).toMatchObject({ code: 'DECRYPTION_FAILED', subject: `entries from 2 (${key(2)})` });
  });

  test('an encrypted log opened without its cipher, or a plain one with a cipher, is refused (by its segments or its snapshot)', async () => {
    const storage = new MemoryStorage();
    await encryptedLog(storage);
    expect(await rejection(KvLogStorage.open(await storage.openKv('log')))).toMatchObject({ code: 'LOG_CORRUPT', message: expect.stringMatching(/open the log with its cipher/) });
    // With no segment at all, the snapshot record says it is sealed.
    const snapshotOnly = new MemoryStorage();
    const { keyStore: keys } = await KeyStore.init(await snapshotOnly.openKv('keys'), { randomBytes });
    await (await KvLogStorage.open(await snapshotOnly.openKv('log'), { cipher: keys.cipher, initialConfState: { voters: ['a'], learners: [] } })).close();
    expect(await rejection(KvLogStorage.open(await snapshotOnly.openKv('log')))).toMatchObject({ code: 'LOG_CORRUPT', message: expect.stringMatching(/sealed snapshot: open the log with its cipher/) });
    const plainStorage = new MemoryStorage();
    const plain = await KvLogStorage.open(await plainStorage.openKv('log'));
    await plain.save({ entries: entriesOf(1, 2) });
    await plain.close();
    const { keyStore } = await KeyStore.init(await plainStorage.openKv('keys'), { randomBytes });
    expect(await rejection(KvLogStorage.open(await plainStorage.openKv('log'), { cipher: keyStore.cipher }))).toMatchObject({ code: 'LOG_CORRUPT', message: expect.stringMatching(/plaintext segment in an encrypted log/) });
  });
});

describe('the key file and auto-lock', () => {
  test('auto-lock: a reopened key store stays locked until given the unlock key; a wrong key is refused and changes nothing', async () => {
    const storage = new MemoryStorage();
    const unlockKey = (await encryptedLog(storage, { autoLock: true })) as string;
    expect(unlockKey).toMatch(/^SWMKEY-1-[A-Za-z0-9+/]{43}$/);
    const kv = await storage.openKv('keys');
    expect(await KeyStore.isLocked(kv)).toBe(true);
    // The KEK is not stored; only the wrapped DEKs and the salt.
    const file = JSON.parse(decode((await kv.get('keys')) as Uint8Array)) as Record<string, unknown>;
    expect(Object.keys(file).sort()).toEqual(['jwe', 'salt', 'v']);
    expect(String(file.jwe).split('.')).toHaveLength(5);

    const before = [...(await records(kv)), ...(await records(await storage.openKv('log')))];
    expect(await rejection(KeyStore.open(kv, { randomBytes }))).toBeInstanceOf(KeyStoreLockedError);
    const wrong = `SWMKEY-1-${Buffer.from(randomBytes(32)).toString('base64').replace(/=+$/, '')}`;
    expect(await rejection(KeyStore.open(kv, { randomBytes, unlockKey: wrong }))).toBeInstanceOf(WrongUnlockKeyError);
    expect(await rejection(KeyStore.open(kv, { randomBytes, unlockKey: 'SWMKEY-1-short' }))).toBeInstanceOf(MalformedUnlockKeyError);
    expect([...(await records(kv)), ...(await records(await storage.openKv('log')))]).toEqual(before);

    const { keyStore, log } = await openLog(storage, unlockKey);
    expect(keyStore.autoLocked).toBe(true);
    await expectLogOf(log, 1, 10);
  });

  test('a malformed unlock key names what is wrong', () => {
    const good = `SWMKEY-1-${'A'.repeat(43)}`;
    expect(parseUnlockKey(good)).toHaveLength(32);
    expect(() => parseUnlockKey('SWMTKN-1-abc')).toThrow(/does not start with SWMKEY-1-/);
    expect(() => parseUnlockKey(`SWMKEY-2-${'A'.repeat(43)}`)).toThrow(/unknown unlock key version 2/);
    expect(() => parseUnlockKey(`SWMKEY-1-${'A'.repeat(42)}!`)).toThrow(/character '!' at position 51 is not base64/);
    expect(() => parseUnlockKey(`SWMKEY-1-${'A'.repeat(40)}`)).toThrow(/40 characters, not 43/);
    expect(() => parseUnlockKey('x')).toThrow(MalformedUnlockKeyError);
  });

  test('unlock-key rotation: the new key opens after reopen, the old one is refused; auto-lock can be turned off', async () => {
    const dir = tempDir();
    const oldKey = (await encryptedLog(new LevelStorage(dir), { autoLock: true })) as string;
    const { keyStore, log } = await openLog(new LevelStorage(dir), oldKey);
    const newKey = await keyStore.rotateUnlockKey();
    expect(newKey).not.toBe(oldKey);
    await log.close();
    await keyStore.close();

    const kv = await new LevelStorage(dir).openKv('keys');
    expect(await rejection(KeyStore.open(kv, { randomBytes, unlockKey: oldKey }))).toBeInstanceOf(WrongUnlockKeyError);
    await kv.close();
    const reopened = await openLog(new LevelStorage(dir), newKey);
    await expectLogOf(reopened.log, 1, 10);
    expect(await reopened.keyStore.setAutoLock(false)).toBeUndefined();
    await reopened.log.close();
    await reopened.keyStore.close();
    const unlocked = await openLog(new LevelStorage(dir));
    expect(unlocked.keyStore.autoLocked).toBe(false);
    expect(await rejection(unlocked.keyStore.rotateUnlockKey())).toMatchObject({ code: 'NOT_AUTO_LOCKED' });
    await expectLogOf(unlocked.log, 1, 10);
    await unlocked.log.close();
    await unlocked.keyStore.close();
  });

  test('DEK rotation: new entries and snapshots use the new key, old entries stay readable after reopen, the old key is forgotten once unused', async () => {
    const dir = tempDir();
    await encryptedLog(new LevelStorage(dir));
    const { keyStore, log } = await openLog(new LevelStorage(dir));
    expect(await keyStore.rotateDek()).toBe(2);
    await log.save({ hardState: hard(1, 12), entries: entriesOf(11, 2) });
    expect(await log.keyIdsInUse()).toEqual(new Set([1, 2]));
    // Nothing to forget while entries sealed with key 1 are stored.
    expect(await keyStore.forgetDeks(await log.keyIdsInUse())).toEqual([]);
    await log.close();
    await keyStore.close();

    const second = await openLog(new LevelStorage(dir));
    expect(second.keyStore.keyring.ids()).toEqual([1, 2]);
    await expectLogOf(second.log, 1, 12);
    // Two snapshots fill both slots with key 2; compaction drops every segment key 1 sealed.
    await second.log.createSnapshot(10, { voters: ['a'], learners: [] }, text('at 10'));
    await second.log.createSnapshot(11, { voters: ['a'], learners: [] }, text('at 11'));
    await second.log.compact(10);
    expect(await second.log.keyIdsInUse()).toEqual(new Set([2]));
    expect(await second.keyStore.forgetDeks(await second.log.keyIdsInUse())).toEqual([1]);
    await second.log.close();
    await second.keyStore.close();

    const third = await openLog(new LevelStorage(dir));
    expect(third.keyStore.keyring.ids()).toEqual([2]);
    expect(decode(third.log.snapshot().data)).toBe('at 11');
    await expectLogOf(third.log, 12, 12);
    await third.log.close();
    await third.keyStore.close();
  });
});

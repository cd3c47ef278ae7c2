// The key file: the log's DEKs, wrapped by a key encryption key (KEK) as a compact JWE
// (`dir` + A256GCM, via jose), kept as one record of a KvStore, so that every change (a DEK
// rotation, an unlock-key rotation, turning auto-lock on or off) is one atomic, synced put: a
// crash leaves the old key file or the new one, never neither.
//
// The record, key `keys`, is UTF-8 JSON:
//   { "v": 1, "jwe": "<compact JWE>", "kek": "<base64url KEK>" }            unlocked: the KEK beside it
//   { "v": 1, "jwe": "<compact JWE>", "salt": "<base64url>" }               auto-locked: KEK = HKDF(unlock key, salt)
// and the JWE's plaintext is UTF-8 JSON { "v": 1, "current": id, "nextId": id,
// "deks": [{ "id": id, "key": "<base64url 32 bytes>" }] }. As SwarmKit does, an unlocked manager
// keeps its KEK in plain beside the DEKs (encryption at rest then guards only against a copy of
// the log without the key file); with auto-lock the KEK exists only while the manager runs.
import { CompactEncrypt, compactDecrypt } from 'jose';
import type { KvStore } from '../../runtime/index.js';
import { KeyFileCorruptError, KeyStoreLockedError, NotAutoLockedError, WrongUnlockKeyError } from '../errors.js';
import { AesGcmCipher, DEK_BYTES, Keyring, type RandomBytes } from './cipher.js';
import { KEK_BYTES, deriveKek, newUnlockKey, parseUnlockKey } from './unlock-key.js';

export const KEY_FILE_KEY = 'keys';
const KEY_FILE_VERSION = 1;
const SALT_BYTES = 16;

export interface KeyStoreOptions {
  /** Cryptographically secure randomness for DEKs, KEKs, salts, unlock keys and nonces. */
  readonly randomBytes: RandomBytes;
}

export interface KeyStoreInitOptions extends KeyStoreOptions {
  /** Derive the KEK from an unlock key (returned once by init) instead of storing it. */
  readonly autoLock?: boolean;
  /**
   * With `autoLock`: wrap with this unlock key instead of a fresh one (a manager joining an
   * auto-locked cluster uses the cluster's unlock key, so one key unlocks every manager).
   */
  readonly unlockKey?: string;
}

export interface KeyStoreOpenOptions extends KeyStoreOptions {
  /** Required when the key file is auto-locked (`SWMKEY-1-…`); ignored otherwise. */
  readonly unlockKey?: string;
}

interface Wrapping {
  readonly kek: Uint8Array;
  /** Set when auto-locked: the HKDF salt the KEK was derived with (the KEK is then not stored). */
  readonly salt?: Uint8Array;
}

interface KeyFileRecord {
  readonly v: number;
  readonly jwe: string;
  readonly kek?: string;
  readonly salt?: string;
}

export class KeyStore {
  readonly keyring: Keyring;
  /** The cipher for `KvLogStorage.open(kv, { cipher })`; sees DEK rotations at once. */
  readonly cipher: AesGcmCipher;
  private wrapping: Wrapping;
  private nextId: number;
  /** Key-file writes one at a time: each one writes the whole file as it is then. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly kv: KvStore,
    private readonly randomBytes: RandomBytes,
    keyring: Keyring,
    nextId: number,
    wrapping: Wrapping,
  ) {
    this.keyring = keyring;
    this.cipher = new AesGcmCipher(keyring, randomBytes);
    this.nextId = nextId;
    this.wrapping = wrapping;
  }

  /**
   * Creates the key file with one fresh DEK. With `autoLock`, resolves with the unlock key too:
   * shown once, it is needed at every restart. Refuses a store that already holds a key file.
   */
  static async init(kv: KvStore, options: KeyStoreInitOptions): Promise<{ keyStore: KeyStore; unlockKey: string | undefined }> {
    if ((await kv.get(KEY_FILE_KEY)) !== undefined) throw new KeyFileCorruptError('init found a key file already (open it instead)');
    const { wrapping, unlockKey } = newWrapping(options.randomBytes, options.autoLock === true, options.unlockKey);
    const keyring = new Keyring([{ id: 1, key: options.randomBytes(DEK_BYTES) }], 1);
    const keyStore = new KeyStore(kv, options.randomBytes, keyring, 2, wrapping);
    await keyStore.persist(keyStore.wrapping);
    return { keyStore, unlockKey };
  }

  /** Whether the store's key file is auto-locked (open then needs the unlock key). */
  static async isLocked(kv: KvStore): Promise<boolean> {
    return (await readKeyFile(kv)).kek === undefined;
  }

  /**
   * Reads the key file. An auto-locked one needs `unlockKey`: without it KeyStoreLockedError, a
   * malformed one MalformedUnlockKeyError, a wrong one WrongUnlockKeyError. Open writes nothing.
   */
  static async open(kv: KvStore, options: KeyStoreOpenOptions): Promise<KeyStore> {
    const record = await readKeyFile(kv);
    let wrapping: Wrapping;
    if (record.kek !== undefined) {
      wrapping = { kek: fromBase64url(record.kek, 'kek', KEK_BYTES) };
    } else {
      if (record.salt === undefined) throw new KeyFileCorruptError('neither a KEK nor a salt');
      if (options.unlockKey === undefined) throw new KeyStoreLockedError();
      const salt = fromBase64url(record.salt, 'salt', SALT_BYTES);
      wrapping = { kek: deriveKek(parseUnlockKey(options.unlockKey), salt), salt };
    }
    let plaintext: Uint8Array;
    try {
      plaintext = (await compactDecrypt(record.jwe, wrapping.kek)).plaintext;
    } catch (error) {
      if (wrapping.salt !== undefined) throw new WrongUnlockKeyError();
      throw new KeyFileCorruptError('the DEKs do not decrypt with the stored KEK', { cause: error });
    }
    const { keyring, nextId } = parseDeks(plaintext);
    return new KeyStore(kv, options.randomBytes, keyring, nextId, wrapping);
  }

  get autoLocked(): boolean {
    return this.wrapping.salt !== undefined;
  }

  /**
   * Adds a fresh DEK and makes it the one that seals: new entries and the next snapshot use it.
   * The key file holds it before any record sealed with it is written. Resolves with its id.
   */
  rotateDek(): Promise<number> {
    return this.serially(async () => {
      const id = this.nextId;
      const key = this.randomBytes(DEK_BYTES);
      this.keyring.add(id, key);
      this.nextId = id + 1;
      try {
        await this.persist(this.wrapping, id);
      } catch (error) {
        this.keyring.remove(id);
        throw error;
      }
      this.keyring.use(id);
      return id;
    });
  }

  /**
   * Forgets every DEK that is neither current nor in `inUse` (e.g. `KvLogStorage.keyIdsInUse()`
   * once compaction dropped the last record an old key sealed). Resolves with the ids forgotten.
   */
  forgetDeks(inUse: ReadonlySet<number>): Promise<number[]> {
    return this.serially(async () => {
      const unused = this.keyring.ids().filter((id) => id !== this.keyring.current && !inUse.has(id));
      if (unused.length === 0) return [];
      const keep = this.keyring.ids().filter((id) => !unused.includes(id));
      await this.persist(this.wrapping, this.keyring.current, keep);
      for (const id of unused) this.keyring.remove(id);
      return unused;
    });
  }

  /**
   * Rewraps the DEKs with a KEK from a new unlock key, in one put: the old unlock key stops
   * working once this resolves. Resolves with the new unlock key. NotAutoLockedError unless auto-locked.
   */
  rotateUnlockKey(): Promise<string> {
    return this.serially(async () => {
      if (!this.autoLocked) throw new NotAutoLockedError();
      const { wrapping, unlockKey } = newWrapping(this.randomBytes, true);
      await this.persist(wrapping);
      this.wrapping = wrapping;
      return unlockKey as string;
    });
  }

  /** Turns auto-lock on (resolves with the new unlock key) or off (the KEK is stored again). */
  setAutoLock(on: boolean): Promise<string | undefined> {
    return this.serially(async () => {
      const { wrapping, unlockKey } = newWrapping(this.randomBytes, on);
      await this.persist(wrapping);
      this.wrapping = wrapping;
      return unlockKey;
    });
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    await this.kv.close();
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Writes the whole key file (the keyring's `ids`, `current` sealing) under `wrapping`. */
  private async persist(wrapping: Wrapping, current = this.keyring.current, ids = this.keyring.ids()): Promise<void> {
    const deks = ids.map((id) => ({ id, key: toBase64url(this.keyring.export(id)) }));
    const plaintext = new TextEncoder().encode(JSON.stringify({ v: KEY_FILE_VERSION, current, nextId: this.nextId, deks }));
    const jwe = await new CompactEncrypt(plaintext).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'swarm-deks+json' }).encrypt(wrapping.kek);
    const record: KeyFileRecord =
      wrapping.salt === undefined ? { v: KEY_FILE_VERSION, jwe, kek: toBase64url(wrapping.kek) } : { v: KEY_FILE_VERSION, jwe, salt: toBase64url(wrapping.salt) };
    await this.kv.batch([{ type: 'put', key: KEY_FILE_KEY, value: new TextEncoder().encode(JSON.stringify(record)) }], { sync: true });
  }
}

function newWrapping(randomBytes: RandomBytes, autoLock: boolean, given?: string): { wrapping: Wrapping; unlockKey: string | undefined } {
  if (!autoLock) return { wrapping: { kek: randomBytes(KEK_BYTES) }, unlockKey: undefined };
  const unlockKey = given ?? newUnlockKey(randomBytes);
  const salt = randomBytes(SALT_BYTES);
  return { wrapping: { kek: deriveKek(parseUnlockKey(unlockKey), salt), salt }, unlockKey };
}

async function readKeyFile(kv: KvStore): Promise<KeyFileRecord> {
  const raw = await kv.get(KEY_FILE_KEY);
  if (raw === undefined) throw new KeyFileCorruptError('no key file');
  let record: unknown;
  try {
    record = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (error) {
    throw new KeyFileCorruptError('not UTF-8 JSON', { cause: error });
  }
  if (!isObject(record)) throw new KeyFileCorruptError('not a JSON object');
  if (record.v !== KEY_FILE_VERSION) throw new KeyFileCorruptError(`unknown version ${String(record.v)}`);
  if (typeof record.jwe !== 'string') throw new KeyFileCorruptError('no JWE');
  if (record.kek !== undefined && typeof record.kek !== 'string') throw new KeyFileCorruptError('a KEK that is not a string');
  if (record.salt !== undefined && typeof record.salt !== 'string') throw new KeyFileCorruptError('a salt that is not a string');
  return record as unknown as KeyFileRecord;
}

function parseDeks(plaintext: Uint8Array): { keyring: Keyring; nextId: number } {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
  } catch (error) {
    throw new KeyFileCorruptError('the DEKs are not UTF-8 JSON', { cause: error });
  }
  if (!isObject(body) || body.v !== KEY_FILE_VERSION || !Array.isArray(body.deks) || !isId(body.current) || !isId(body.nextId)) throw new KeyFileCorruptError('bad DEK list');
  const keys = body.deks.map((dek: unknown) => {
    if (!isObject(dek) || !isId(dek.id) || typeof dek.key !== 'string') throw new KeyFileCorruptError('bad DEK');
    return { id: dek.id, key: fromBase64url(dek.key, `DEK ${dek.id}`, DEK_BYTES) };
  });
  if (!keys.some((k) => k.id === body.current)) throw new KeyFileCorruptError(`the current DEK ${body.current} is missing`);
  if (keys.some((k) => k.id >= (body.nextId as number))) throw new KeyFileCorruptError('a DEK id at or above the next id');
  return { keyring: new Keyring(keys, body.current), nextId: body.nextId };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value < 2 ** 32;
}

function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

function fromBase64url(text: string, what: string, length: number): Uint8Array {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.byteLength !== length) throw new KeyFileCorruptError(`the ${what} is ${bytes.byteLength} bytes, not ${length}`);
  return new Uint8Array(bytes);
}

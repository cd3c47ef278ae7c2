// Encryption at rest in the Raft workload: each manager keeps its DEKs in a KeyStore
// (journal/crypto) on its simulated disk, opened again at every restart, and seals its log with
// the KeyStore's cipher. Two things stand between the KeyStore and the simulator:
//  - jose seals the key file with WebCrypto, which completes on a thread pool, outside the loop:
//    each KeyStore operation holds virtual time (SimLoop.hold) until it writes the key file or
//    settles, so that what follows happens at the same virtual instant in every run;
//  - the KeyStore writes its key file as one put, relying on the store's atomic batch (LevelDB's
//    WAL drops a torn record). The simulated disk may tear a value instead, so the record is kept
//    in two alternating slots, each with a sequence number and a CRC-32, and reads as the newest
//    intact one: a torn key file reads as the one before it.
import { KEY_FILE_KEY, KeyStore, crc32, type RandomBytes } from '../journal/index.js';
import { assert, type KvKey, type KvOp, type KvStore, type Storage } from '../runtime/index.js';
import type { SimLoop } from './loop.js';

const SLOT_HEADER_BYTES = 8;

function frame(seq: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(SLOT_HEADER_BYTES + value.byteLength);
  out.set(value, SLOT_HEADER_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, seq);
  view.setUint32(4, crc32(out.subarray(SLOT_HEADER_BYTES)) ^ seq);
  return out;
}

function unframe(raw: Uint8Array | undefined): { seq: number; value: Uint8Array } | undefined {
  if (raw === undefined || raw.byteLength < SLOT_HEADER_BYTES) return undefined;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const seq = view.getUint32(0);
  const value = raw.subarray(SLOT_HEADER_BYTES);
  return (crc32(value) ^ seq) >>> 0 === view.getUint32(4) ? { seq, value } : undefined;
}

/** The KvStore a manager's KeyStore sees (see the top of this file). */
export class SimKeyFile implements KvStore {
  private seq = 0;
  private release: (() => void) | undefined;

  constructor(
    private readonly inner: KvStore,
    private readonly loop: SimLoop,
  ) {}

  /** Runs one KeyStore operation with virtual time held until it writes the key file or settles. */
  run<T>(operation: () => Promise<T>): Promise<T> {
    assert(this.release === undefined, 'one key-file operation at a time');
    this.loop.hold(new Promise<void>((resolve) => {
      this.release = resolve;
    }));
    const result = operation();
    result.then(() => this.releaseHold(), () => this.releaseHold());
    return result;
  }

  async get(key: KvKey): Promise<Uint8Array | undefined> {
    const slots = [unframe(await this.inner.get(`${key}.0`)), unframe(await this.inner.get(`${key}.1`))];
    let newest: { seq: number; value: Uint8Array } | undefined;
    for (const slot of slots) if (slot !== undefined && (newest === undefined || slot.seq > newest.seq)) newest = slot;
    this.seq = Math.max(this.seq, newest?.seq ?? 0);
    return newest?.value;
  }

  batch(ops: readonly KvOp[], options?: { sync?: boolean; handOver?: boolean }): Promise<void> {
    // The operation's WebCrypto work is done: the write is an event on the loop.
    this.releaseHold();
    const framed = ops.map((op): KvOp => {
      assert(op.type === 'put' && op.key === KEY_FILE_KEY, () => `the key file takes one put of '${KEY_FILE_KEY}'`);
      this.seq++;
      return { type: 'put', key: `${op.key}.${this.seq % 2}`, value: frame(this.seq, op.value) };
    });
    return this.inner.batch(framed, options);
  }

  range(): Promise<Array<[KvKey, Uint8Array]>> {
    return Promise.reject(new Error('SimKeyFile: no ranges'));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private releaseHold(): void {
    const release = this.release;
    this.release = undefined;
    release?.();
  }
}

/** Opens the manager's KeyStore, creating it with one DEK at the first boot. */
export async function openKeyStore(storage: Storage, loop: SimLoop, randomBytes: RandomBytes): Promise<{ keyStore: KeyStore; keyFile: SimKeyFile }> {
  const keyFile = new SimKeyFile(await storage.openKv('keys'), loop);
  const keyStore = (await keyFile.get(KEY_FILE_KEY)) === undefined
    ? (await keyFile.run(() => KeyStore.init(keyFile, { randomBytes }))).keyStore
    : await keyFile.run(() => KeyStore.open(keyFile, { randomBytes }));
  return { keyStore, keyFile };
}

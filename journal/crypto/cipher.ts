// AES-256-GCM sealing of the log's data at rest with a data encryption key (DEK). A sealed record:
// magic byte 0xC1 (AES-256-GCM, format 1), the key id (4 bytes, big-endian), the 96-bit nonce
// (12 bytes), the ciphertext (as long as the data) and the 16-byte tag. The header and the
// caller's context are authenticated, so a changed key id, nonce, ciphertext or a record moved to
// another place all fail the tag. Nonces are random, from the injected source of randomness: with
// 2^32 seals per key the chance of a repeated nonce stays below 2^-32 (NIST SP 800-38D), and keys
// are rotated long before that.
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { assert } from '../../runtime/index.js';
import { DecryptionError } from '../errors.js';
import type { LogCipher } from '../log/types.js';

/** Cryptographically secure random bytes (runtime/env/real's `secureRandomBytes` in a real node). */
export type RandomBytes = (length: number) => Uint8Array;

export const SEALED_MAGIC = 0xc1;
export const DEK_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SEALED_HEADER_BYTES = 1 + 4 + NONCE_BYTES;
/** What sealing adds to each record's data. */
export const SEALED_OVERHEAD_BYTES = SEALED_HEADER_BYTES + TAG_BYTES;
const KEY_ID_MAX = 2 ** 32 - 1;

/**
 * The DEKs that can open records, by id, and the one that seals new records. Shared by the
 * cipher and the KeyStore: a DEK rotation in the key store is seen by the log at its next write.
 */
export class Keyring {
  private readonly keys = new Map<number, KeyObject>();
  private currentId: number;

  constructor(keys: ReadonlyArray<{ id: number; key: Uint8Array }>, currentId: number) {
    for (const { id, key } of keys) this.add(id, key);
    assert(this.keys.has(currentId), () => `the current key ${currentId} is not in the keyring`);
    this.currentId = currentId;
  }

  get current(): number {
    return this.currentId;
  }

  ids(): number[] {
    return [...this.keys.keys()].sort((a, b) => a - b);
  }

  get(id: number): KeyObject | undefined {
    return this.keys.get(id);
  }

  /** The raw key, for the key file. */
  export(id: number): Uint8Array {
    const key = this.keys.get(id);
    assert(key !== undefined, () => `no key ${id}`);
    return new Uint8Array(key.export());
  }

  add(id: number, key: Uint8Array): void {
    assert(Number.isInteger(id) && id >= 1 && id <= KEY_ID_MAX, () => `key id ${id} out of range`);
    assert(key.byteLength === DEK_BYTES, () => `a DEK of ${key.byteLength} bytes (expected ${DEK_BYTES})`);
    this.keys.set(id, createSecretKey(key));
  }

  use(id: number): void {
    assert(this.keys.has(id), () => `cannot seal with key ${id}: not in the keyring`);
    this.currentId = id;
  }

  remove(id: number): void {
    assert(id !== this.currentId, () => `cannot forget the current key ${id}`);
    this.keys.delete(id);
  }
}

/** The most bytes sealed per cipher update. */
const SEAL_PIECE_BYTES = 256 * 1024;

export class AesGcmCipher implements LogCipher {
  readonly overheadBytes = SEALED_OVERHEAD_BYTES;

  constructor(
    private readonly keyring: Keyring,
    private readonly randomBytes: RandomBytes,
  ) {}

  seal(data: Uint8Array, context: Uint8Array, headroom = 0): Uint8Array {
    const id = this.keyring.current;
    const key = this.keyring.get(id) as KeyObject;
    const nonce = this.randomBytes(NONCE_BYTES);
    assert(nonce.byteLength === NONCE_BYTES, 'the random source returned a nonce of the wrong length');
    const out = new Uint8Array(headroom + SEALED_OVERHEAD_BYTES + data.byteLength);
    const header = out.subarray(headroom, headroom + SEALED_HEADER_BYTES);
    header[0] = SEALED_MAGIC;
    new DataView(out.buffer, headroom).setUint32(1, id);
    header.set(nonce, 5);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(header);
    cipher.setAAD(context);
    // A piece at a time: update returns a new buffer of its input's size, and a snapshot's data
    // (megabytes) in one call would be a second buffer as large as `out`, faulted in page by page.
    let at = headroom + SEALED_HEADER_BYTES;
    for (let from = 0; from < data.byteLength; from += SEAL_PIECE_BYTES) {
      const body = cipher.update(data.subarray(from, Math.min(data.byteLength, from + SEAL_PIECE_BYTES)));
      out.set(body, at);
      at += body.byteLength;
    }
    // GCM is a stream mode: update returns every byte, final returns none.
    const rest = cipher.final();
    assert(at - headroom - SEALED_HEADER_BYTES === data.byteLength && rest.byteLength === 0, 'GCM output length');
    out.set(cipher.getAuthTag(), headroom + SEALED_HEADER_BYTES + data.byteLength);
    return out;
  }

  open(sealed: Uint8Array, context: Uint8Array, subject: string): Uint8Array {
    if (sealed.byteLength < SEALED_OVERHEAD_BYTES) throw new DecryptionError(subject, undefined, `${sealed.byteLength} bytes is shorter than a sealed record`);
    if (sealed[0] !== SEALED_MAGIC) throw new DecryptionError(subject, undefined, `not a sealed record (format 0x${(sealed[0] as number).toString(16)})`);
    const id = this.keyIdOf(sealed) as number;
    const key = this.keyring.get(id);
    if (key === undefined) throw new DecryptionError(subject, id, 'the key is not in the keyring');
    const end = sealed.byteLength - TAG_BYTES;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(5, SEALED_HEADER_BYTES));
      decipher.setAAD(sealed.subarray(0, SEALED_HEADER_BYTES));
      decipher.setAAD(context);
      decipher.setAuthTag(sealed.subarray(end));
      const body = decipher.update(sealed.subarray(SEALED_HEADER_BYTES, end));
      decipher.final();
      return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    } catch (error) {
      throw new DecryptionError(subject, id, 'authentication failed (tampered data or the wrong key)', { cause: error });
    }
  }

  keyIdOf(sealed: Uint8Array): number | undefined {
    if (sealed.byteLength < SEALED_OVERHEAD_BYTES || sealed[0] !== SEALED_MAGIC) return undefined;
    return new DataView(sealed.buffer, sealed.byteOffset, sealed.byteLength).getUint32(1);
  }
}

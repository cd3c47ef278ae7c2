import { Encoder } from 'cbor-x';
import { assert } from './errors.js';

/**
 * The one CBOR codec for messages that cross a node boundary. Plain records (no cbor-x record
 * extension), so that any CBOR decoder on the other end reads them; maps decode as plain objects.
 *
 * `encodeMessage` returns, as cbor-x does, a view into the codec's shared buffer (which grows to
 * four times the largest message encoded so far), and decoded byte strings are views into the
 * input: no copy on the hot paths, where results are consumed at once or held briefly (a Raft
 * entry until the log is compacted). A value kept for long must not be such a view, or it keeps
 * alive the whole buffer it lies in (every message encoded around it): those use
 * `encodeMessageOwned` (a snapshot's bytes, the store's per-object encodings).
 */
const codec = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });

export function encodeMessage(value: unknown): Uint8Array {
  return codec.encode(value);
}

/** The encoding of `value` in a buffer of its own, its exact size: for bytes that are kept. */
export function encodeMessageOwned(value: unknown): Uint8Array {
  // A copy (a Buffer's own slice() would be another view).
  return new Uint8Array(codec.encode(value));
}

export function decodeMessage(bytes: Uint8Array): unknown {
  return codec.decode(bytes);
}

/** The head of a CBOR data item of major type `major` (0-7) with argument `n`, shortest form. */
export function cborHead(major: number, n: number): Uint8Array {
  assert(Number.isSafeInteger(n) && n >= 0 && n < 2 ** 32, () => `CBOR length ${n}`);
  const type = major << 5;
  if (n < 24) return Uint8Array.of(type | n);
  if (n < 0x100) return Uint8Array.of(type | 24, n);
  if (n < 0x10000) return Uint8Array.of(type | 25, n >>> 8, n & 0xff);
  return Uint8Array.of(type | 26, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

const CBOR_BYTES = 2;
const CBOR_MAP = 5;
/** The tag `tagUint8Array` puts before a Uint8Array's bytes (RFC 8746, uint8 typed array). */
const UINT8_ARRAY_TAG = Uint8Array.of(0xd8, 0x40);

/**
 * `encodeMessage(record)` cut around the bytes of one field, given only their length: `before`,
 * then the field's `length` bytes, then `after` are the bytes encodeMessage gives for `record` with
 * those bytes in that field. So a record that embeds a large byte string (a snapshot) is written
 * into one buffer by whoever makes the bytes, with no copy of them into a second one. `record`
 * holds every other field, in order; the field's own value in it is ignored.
 */
export function encodeAround(record: Readonly<Record<string, unknown>>, field: string, length: number): { before: Uint8Array; after: Uint8Array } {
  const keys = Object.keys(record);
  assert(keys.includes(field) && keys.length < 0x10000, () => `encodeAround: the record has no field '${field}' (or too many)`);
  // cbor-x writes an object's map head with a 16-bit count (it fills the count in after the fields).
  const before: Uint8Array[] = [Uint8Array.of((CBOR_MAP << 5) | 25, keys.length >>> 8, keys.length & 0xff)];
  const after: Uint8Array[] = [];
  let into = before;
  for (const key of keys) {
    into.push(encodeMessageOwned(key));
    if (key === field) {
      into.push(UINT8_ARRAY_TAG, cborHead(CBOR_BYTES, length));
      into = after;
    } else {
      into.push(encodeMessageOwned(record[key]));
    }
  }
  return { before: concatBytes(before), after: concatBytes(after) };
}

/** The parts one after the other, in one new buffer. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

import { Encoder } from 'cbor-x';

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

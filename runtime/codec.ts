import { Encoder } from 'cbor-x';

/**
 * The one CBOR codec for messages that cross a node boundary. Plain records (no cbor-x record
 * extension), so that any CBOR decoder on the other end reads them; maps decode as plain objects.
 *
 * What it returns shares memory with nothing else, in either direction. cbor-x on its own returns
 * an encoding as a view into its shared buffer (which grows to four times the largest message
 * encoded so far), and decodes byte strings as views into the input. A view that is kept (a log
 * entry's data, a config's bytes in the store) keeps alive the whole buffer it lies in: every
 * message encoded around it, or a whole network frame. So each encoding is copied out at its exact
 * size, and the decoder copies byte strings out of its input (`copyBuffers`).
 */
const codec = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true, copyBuffers: true });

/** The encoding of `value` in a buffer of its own, its exact size. */
export function encodeMessage(value: unknown): Uint8Array {
  // A copy (a Buffer's own slice() would be another view).
  return new Uint8Array(codec.encode(value));
}

/**
 * The encoding of `value` as a view into the codec's shared buffer, for a caller that copies it
 * at once and keeps nothing (a transport framing it): one copy fewer than `encodeMessage`.
 */
export function encodeMessageView(value: unknown): Uint8Array {
  return codec.encode(value);
}

/** Decodes one message; its byte strings are copies, sharing nothing with `bytes`. */
export function decodeMessage(bytes: Uint8Array): unknown {
  return codec.decode(bytes);
}

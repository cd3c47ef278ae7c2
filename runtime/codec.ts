import { Encoder } from 'cbor-x';

/**
 * The one CBOR codec for messages that cross a node boundary. Plain records (no cbor-x record
 * extension), so that any CBOR decoder on the other end reads them; maps decode as plain objects.
 */
const codec = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });

export function encodeMessage(value: unknown): Uint8Array {
  return codec.encode(value);
}

export function decodeMessage(bytes: Uint8Array): unknown {
  return codec.decode(bytes);
}

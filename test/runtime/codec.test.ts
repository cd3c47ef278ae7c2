// What is kept for long shares no memory with the codec's buffers: an owned encoding is its own
// exact-size buffer, and a journal event's bytes (a config's data, which the store keeps) decode as
// a copy. A kept view would keep alive the whole buffer it lies in.
import { decodeBatch, encodeBatch, type JournalEvent } from '../../journal/index.js';
import { decodeMessage, encodeAround, encodeMessage, encodeMessageOwned } from '../../runtime/index.js';

const bytesOf = (n: number, seed: number): Uint8Array => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);

describe('runtime codec', () => {
  test('an owned encoding is a buffer of its own, its exact size, the same bytes, and later encodings leave it unchanged', () => {
    // A large message first, so that the codec's buffer is much larger than what follows.
    encodeMessage({ big: bytesOf(300_000, 1) });
    const value = { n: 1, data: bytesOf(200, 2) };
    const owned = encodeMessageOwned(value);
    const copy = Uint8Array.from(owned);
    for (let i = 0; i < 1000; i++) encodeMessage({ n: i, data: bytesOf(500, i) });
    expect(owned.byteOffset).toBe(0);
    expect(owned.buffer.byteLength).toBe(owned.byteLength);
    expect(owned).toEqual(copy);
    expect(Uint8Array.from(encodeMessage(value))).toEqual(copy);
    expect(decodeMessage(owned)).toEqual(value);
  });

  test("a journal event's bytes (a config's data) decode as a copy, not a view into the batch or the frame around it", () => {
    const event = { type: 'config.created', v: 1, at: 1, id: 'c1', spec: { annotations: { name: 'one', labels: {} }, data: bytesOf(256, 5) } } as JournalEvent;
    const batch = encodeBatch([event]);
    const frame = new Uint8Array(65_536);
    frame.set(batch, 100);
    const decoded = decodeBatch(frame.subarray(100, 100 + batch.byteLength)).events[0] as { spec: { data: Uint8Array } };
    expect(decoded.spec.data.buffer.byteLength).toBe(256);
    frame.fill(0);
    expect(decoded.spec.data).toEqual(bytesOf(256, 5));
  });

  test('encodeAround: the bytes before and after a field, given only its length, frame it into exactly what encodeMessage gives', () => {
    // Lengths around each width of a CBOR length head (1, 2, 3 and 5 bytes).
    for (const n of [0, 23, 24, 255, 256, 65_535, 65_536, 300_000]) {
      const bytes = bytesOf(n, n);
      const records: Array<Record<string, unknown>> = [
        { v: 1, store: bytes, security: { roots: ['a', 'b'], n: null }, applied: ['x', 'y'] },
        { store: bytes },
        { a: undefined, store: bytes, z: 'last' },
        { meta: { index: 7, term: 2 }, seq: 3, data: bytes },
      ];
      for (const record of records) {
        const field = 'store' in record ? 'store' : 'data';
        const { before, after } = encodeAround({ ...record, [field]: undefined }, field, n);
        const framed = new Uint8Array(before.byteLength + n + after.byteLength);
        framed.set(before, 0);
        framed.set(bytes, before.byteLength);
        framed.set(after, before.byteLength + n);
        expect(Buffer.from(framed).equals(Buffer.from(encodeMessage(record)))).toBe(true);
        expect(decodeMessage(framed)).toEqual(record);
      }
    }
    expect(() => encodeAround({ v: 1 }, 'store', 4)).toThrow(/no field 'store'/);
  });
});

// The message codec shares no memory with anything: an encoding is its own exact-size buffer, and
// a decoded byte string is a copy. A shared view kept by a long-lived holder (a log entry, a
// config in the store) would keep alive the whole buffer it lies in.
import { decodeBatch, encodeBatch, type JournalEvent } from '../../journal/index.js';
import { decodeMessage, encodeMessage, encodeMessageView } from '../../runtime/index.js';

const bytesOf = (n: number, seed: number): Uint8Array => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);

describe('runtime codec', () => {
  test('an encoding is a buffer of its own, its exact size, and later encodings leave it unchanged', () => {
    // A large message first, so that the encoder's buffer is much larger than what follows.
    encodeMessage({ big: bytesOf(300_000, 1) });
    const first = encodeMessage({ n: 1, data: bytesOf(200, 2) });
    const copy = Uint8Array.from(first);
    for (let i = 0; i < 1000; i++) encodeMessage({ n: i, data: bytesOf(500, i) });
    expect(first.byteOffset).toBe(0);
    expect(first.buffer.byteLength).toBe(first.byteLength);
    expect(first).toEqual(copy);
    expect(decodeMessage(first)).toEqual({ n: 1, data: bytesOf(200, 2) });
    // The view variant encodes the same bytes (it is for callers that copy it at once).
    expect(Uint8Array.from(encodeMessageView({ n: 1, data: bytesOf(200, 2) }))).toEqual(copy);
  });

  test('decoded byte strings are copies: they do not hold the input buffer, and changing the input leaves them as they were', () => {
    const encoded = encodeMessage({ entries: [{ index: 1, data: bytesOf(256, 3) }, { index: 2, data: bytesOf(256, 4) }] });
    const frame = new Uint8Array(65_536);
    frame.set(encoded, 1000);
    const decoded = decodeMessage(frame.subarray(1000, 1000 + encoded.byteLength)) as { entries: Array<{ data: Uint8Array }> };
    for (const entry of decoded.entries) {
      expect(entry.data.buffer).not.toBe(frame.buffer);
      expect(entry.data.buffer.byteLength).toBe(256);
    }
    frame.fill(0);
    expect(decoded.entries[1]!.data).toEqual(bytesOf(256, 4));
  });

  test("a journal event's bytes (a config's data) decode as a copy, not a view into the batch", () => {
    const event = { type: 'config.created', v: 1, at: 1, id: 'c1', spec: { annotations: { name: 'one', labels: {} }, data: bytesOf(256, 5) } } as JournalEvent;
    const batch = encodeBatch([event]);
    const frame = new Uint8Array(65_536);
    frame.set(batch, 100);
    const decoded = decodeBatch(frame.subarray(100, 100 + batch.byteLength)).events[0] as { spec: { data: Uint8Array } };
    expect(decoded.spec.data.buffer.byteLength).toBe(256);
    frame.fill(0);
    expect(decoded.spec.data).toEqual(bytesOf(256, 5));
  });
});

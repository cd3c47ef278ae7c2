import { decodeCommand, encodeCommand, type ClusterCommand } from '../../actors/index.js';
import { encodeMessage } from '../../runtime/index.js';

describe('encodeCommand', () => {
  it('writes exactly what the codec writes, in a buffer of its own, for batches of every byte-string head size', () => {
    for (const length of [0, 1, 23, 24, 255, 256, 65_535, 65_536, 200_000]) {
      const batch = new Uint8Array(length).map((_, i) => (i * 31) & 0xff);
      const command: ClusterCommand = { op: 'events', opId: `op-${length}`, batch };
      const encoded = encodeCommand(command);
      expect(Buffer.from(encoded).equals(Buffer.from(encodeMessage(command)))).toBe(true);
      expect(encoded.byteOffset).toBe(0);
      expect(encoded.buffer.byteLength).toBe(encoded.byteLength);
      expect(decodeCommand(encoded)).toEqual(command);
    }
  });

  it('falls back to the codec for other shapes', () => {
    const reordered = { opId: 'x', op: 'events', batch: Uint8Array.of(1, 2) } as ClusterCommand;
    expect(Buffer.from(encodeCommand(reordered)).equals(Buffer.from(encodeMessage(reordered)))).toBe(true);
  });
});

import fc from 'fast-check';
import { crc32 } from '../../journal/index.js';

/** The textbook bitwise CRC-32 (reflected, polynomial 0xEDB88320), one bit at a time. */
function reference(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('crc32', () => {
  test('known values', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(new TextEncoder().encode('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });

  test('equals the bitwise definition on any bytes and any range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const end = start + (bytes.length - start === 0 ? 0 : b % (bytes.length - start + 1));
        expect(crc32(bytes)).toBe(reference(bytes));
        expect(crc32(bytes, start, end)).toBe(reference(bytes.subarray(start, end)));
      }),
      { numRuns: 500 },
    );
  });

  test('ranges long enough for the native path agree with the bitwise definition', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4096, maxLength: 20_000 }), fc.nat(), (bytes, a) => {
        const start = a % 64;
        expect(crc32(bytes)).toBe(reference(bytes));
        expect(crc32(bytes, start, bytes.length - 1)).toBe(reference(bytes.subarray(start, bytes.length - 1)));
        expect(crc32(bytes, start, start + 4096)).toBe(reference(bytes.subarray(start, start + 4096)));
      }),
      { numRuns: 30 },
    );
  });
});

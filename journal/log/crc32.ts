// CRC-32 (IEEE 802.3, the zlib/PNG polynomial). Ranges of NATIVE_BYTES_MIN bytes or more go to
// zlib's crc32 (Node 20.15 and 22.2 on; our engines field asks for 20.19): about 5x the JS loop
// on a large record (a 55 MiB snapshot: 38 ms against 190 ms), but its cost per call (a view and
// a binding crossing) loses to the loop on entry-sized ranges, which keep the JS version below:
// slicing-by-8, eight 256-entry tables taking eight bytes per step (about 4x a bytewise loop).
// A cryptographic hash would cost more than a torn-write check needs.
import zlib from 'node:zlib';

/** From this range length on, zlib's native crc32 is the faster. */
const NATIVE_BYTES_MIN = 4096;

const TABLES = buildTables();

function buildTables(): Uint32Array {
  const out = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    out[n] = c >>> 0;
  }
  // Table t advances a byte's CRC through t more zero bytes.
  for (let t = 1; t < 8; t++) {
    for (let n = 0; n < 256; n++) {
      const previous = out[(t - 1) * 256 + n] as number;
      out[t * 256 + n] = ((out[previous & 0xff] as number) ^ (previous >>> 8)) >>> 0;
    }
  }
  return out;
}

/**
 * The CRC-32 of `bytes` (of bytes[start, end) when given) as an unsigned 32-bit integer
 * (crc32('123456789') = 0xcbf43926). The range spares a caller a subarray per checksum.
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  if (end - start >= NATIVE_BYTES_MIN) return zlib.crc32(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end));
  const t = TABLES;
  let crc = 0xffffffff;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = crc ^ ((bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24));
    crc =
      (t[7 * 256 + (lo & 0xff)] as number) ^
      (t[6 * 256 + ((lo >>> 8) & 0xff)] as number) ^
      (t[5 * 256 + ((lo >>> 16) & 0xff)] as number) ^
      (t[4 * 256 + (lo >>> 24)] as number) ^
      (t[3 * 256 + (bytes[i + 4] as number)] as number) ^
      (t[2 * 256 + (bytes[i + 5] as number)] as number) ^
      (t[256 + (bytes[i + 6] as number)] as number) ^
      (t[bytes[i + 7] as number] as number);
  }
  for (; i < end; i++) crc = (t[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

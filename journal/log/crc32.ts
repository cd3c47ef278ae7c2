// CRC-32 (IEEE 802.3, the zlib/PNG polynomial), table driven. Node 20's zlib has no crc32 (it
// arrived in Node 22), and a cryptographic hash would cost more than a torn-write check needs.

const table = buildTable();

function buildTable(): Uint32Array {
  const out = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    out[n] = c >>> 0;
  }
  return out;
}

/**
 * The CRC-32 of `bytes` (of bytes[start, end) when given) as an unsigned 32-bit integer
 * (crc32('123456789') = 0xcbf43926). The range spares a caller a subarray per checksum.
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) {
    crc = (table[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

// How the log lies in a key-value store. Keys: `e/` + an index as 16 zero-padded hex digits
// (fixed width, so key order is index order in any byte-ordered store), `h0`/`h1` the hard state
// and `s0`/`s1` the snapshot (two slots each, written in turn). Every value carries a CRC-32, so
// that a torn or damaged value is caught on load rather than handed to Raft.
//
// The entries of one write are one record, a segment, under the key of its first entry's index
// (see `sealSegment`): a write costs one put however many entries it carries. A segment whose
// first index falls inside the range of the segment before it (a conflicting tail truncated by a
// new leader) overrides the rest of that one: the older record is never rewritten, so a crash
// that tears the new one leaves the old one whole. The hard state and the snapshot are CBOR
// records `{ v, crc, payload }` whose crc covers the payload's CBOR bytes.
//
// A snapshot's data is either in its record (`data`), or, when larger than a chunk, in chunks of
// its own under `s0/` or `s1/` + a chunk number (8 hex digits) beside the record's slot, which
// then says how many (`chunks`) and how many bytes in all (`bytes`). Each chunk is framed by a
// magic byte (0xE6) and the CRC-32 of the rest; with a cipher the rest is sealed, bound to the
// snapshot's index, term and the chunk's number. The chunks are written before the record, each
// in a write of its own: see KvLogStorage.createSnapshot.
import { assert, decodeMessage, encodeAround, encodeMessage } from '../../runtime/index.js';
import { LogCorruptError } from '../errors.js';
import { crc32 } from './crc32.js';
import type { ConfState, Entry, HardState, PeerId, Snapshot, SnapshotMeta } from './types.js';

export const HARD_STATE_KEY = 'h';
/**
 * The hard state is written to two slots in turn, each record carrying a sequence number: a write
 * torn by a crash damages only the slot being written, and the other still holds the hard state
 * before it (which is all that was ever acknowledged).
 */
export const HARD_STATE_SLOTS = ['h0', 'h1'] as const;
export const SNAPSHOT_KEY = 's';
/** The snapshot is written to two slots in turn, like the hard state, for the same reason. */
export const SNAPSHOT_SLOTS = ['s0', 's1'] as const;
export const ENTRY_KEY_PREFIX = 'e/';
const CHUNK_NUMBER_HEX_DIGITS = 8;
/** Above every entry key and below any other `e…` key: '0' follows '/' in ASCII. */
export const ENTRY_KEY_END = 'e0';

/** The hard-state and snapshot record format; a reader refuses versions it does not know. */
const RECORD_VERSION = 1;
const INDEX_HEX_DIGITS = 16;

/** The key of chunk `n` of the snapshot whose record is in `slot` (`s0` or `s1`). */
export function snapshotChunkKey(slot: string, n: number): string {
  return `${slot}/${n.toString(16).padStart(CHUNK_NUMBER_HEX_DIGITS, '0')}`;
}

/** The keys of a slot's chunks from chunk `from` on: `s0/…` sorts before `s00` ('0' follows '/'). */
export function snapshotChunkRange(slot: string, from = 0): { gte: string; lt: string } {
  return { gte: snapshotChunkKey(slot, from), lt: `${slot}0` };
}

/** The key of the segment whose first entry is `index`. */
export function entryKey(index: number): string {
  return ENTRY_KEY_PREFIX + index.toString(16).padStart(INDEX_HEX_DIGITS, '0');
}

/** The index an entry key names, or undefined when the key is not a well-formed entry key. */
export function parseEntryKey(key: string): number | undefined {
  const hex = key.slice(ENTRY_KEY_PREFIX.length);
  if (!key.startsWith(ENTRY_KEY_PREFIX) || !/^[0-9a-f]{16}$/.test(hex)) return undefined;
  const index = parseInt(hex, 16);
  return Number.isSafeInteger(index) ? index : undefined;
}

// ---- sealing --------------------------------------------------------------------------------------

function seal(payload: unknown): Uint8Array {
  const bytes = encodeMessage(payload);
  return encodeMessage({ v: RECORD_VERSION, crc: crc32(bytes), payload: bytes });
}

/**
 * A segment record, format 2 (written now): magic byte 0xE5, the number of entries (4 bytes,
 * big-endian), the CRC-32 of everything after it (4 bytes), then each entry as its length (4
 * bytes) and its entry record: index and term (8 bytes each, big-endian), type (1 byte: 0 normal,
 * 1 confChange), then the data as is. One checksum per write, not per entry: the CRC-32 of a whole
 * segment goes through zlib's native crc32 (see crc32.ts), where one per entry ran the JS loop a
 * million times for a long log, for a fifth of its open time. Damage is then pinned to a segment
 * (one write), not to an entry, which is all open needs: a damaged segment is dropped if it is the
 * last (a torn write) and corruption otherwise. The count in the header tells a segment cut short
 * at an entry boundary from a whole one, as the checksum would.
 *
 * Format 1, still read (golden journals hold it), is magic byte 0xE3, the count, then each entry as
 * its length and an entry record with its own checksum: magic byte 0xE2, CRC-32 of everything after
 * it (4 bytes), index, term, type and data as above. (The single-entry records of the format before
 * segments, magic 0xE2 as a whole value, are refused as an unknown segment format.)
 */
const SEGMENT_MAGIC = 0xe5;
const SEGMENT_HEADER_BYTES = 1 + 4 + 4;
const ENTRY_HEADER_BYTES = 8 + 8 + 1;
const SEGMENT_V1_MAGIC = 0xe3;
const SEGMENT_V1_HEADER_BYTES = 1 + 4;
const ENTRY_V1_MAGIC = 0xe2;
const ENTRY_V1_HEADER_BYTES = 1 + 4 + 8 + 8 + 1;
const ENTRY_LENGTH_BYTES = 4;
const UINT32_COUNT = 2 ** 32;

/** The segment record of `entries.slice(from)`: contiguous entries, at least one. */
export function sealSegment(entries: readonly Entry[], from = 0): Uint8Array {
  return sealSegmentStored(entries, from).bytes;
}

/**
 * The segment record of `entries.slice(from)`, as sealSegment, and the record as a StoredSegment
 * (as scanSegment would read it back), whose entries' data are views into the record: a log that
 * keeps the record may keep its entries as that, rather than a second copy of their data.
 */
export function sealSegmentStored(entries: readonly Entry[], from = 0): StoredSegment {
  assert(from < entries.length, () => `a segment of no entries (from ${from} of ${entries.length})`);
  const count = entries.length - from;
  const terms = new Float64Array(count);
  const types = new Uint8Array(count);
  const starts = new Uint32Array(count);
  const ends = new Uint32Array(count);
  let bytes = SEGMENT_HEADER_BYTES;
  for (let i = from; i < entries.length; i++) bytes += ENTRY_LENGTH_BYTES + ENTRY_HEADER_BYTES + (entries[i] as Entry).data.byteLength;
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  out[0] = SEGMENT_MAGIC;
  view.setUint32(1, entries.length - from);
  let at = SEGMENT_HEADER_BYTES;
  const first = (entries[from] as Entry).index;
  for (let i = from; i < entries.length; i++) {
    const entry = entries[i] as Entry;
    assert(entry.index === first + i - from, () => `segment entry ${entry.index} is not contiguous (expected ${first + i - from})`);
    const length = ENTRY_HEADER_BYTES + entry.data.byteLength;
    assert(length < UINT32_COUNT, () => `entry ${entry.index} of ${entry.data.byteLength} bytes is too big for a segment`);
    view.setUint32(at, length);
    const record = at + ENTRY_LENGTH_BYTES;
    // Index and term as two 32-bit halves: no BigInt per entry.
    view.setUint32(record, Math.floor(entry.index / UINT32_COUNT));
    view.setUint32(record + 4, entry.index >>> 0);
    view.setUint32(record + 8, Math.floor(entry.term / UINT32_COUNT));
    view.setUint32(record + 12, entry.term >>> 0);
    out[record + 16] = entry.type === 'normal' ? 0 : 1;
    out.set(entry.data, record + ENTRY_HEADER_BYTES);
    at = record + length;
    terms[i - from] = entry.term;
    types[i - from] = entry.type === 'normal' ? 0 : 1;
    starts[i - from] = record + ENTRY_HEADER_BYTES;
    ends[i - from] = at;
  }
  view.setUint32(5, crc32(out, SEGMENT_HEADER_BYTES));
  return new StoredSegment(first, out, terms, types, starts, ends);
}

/**
 * A sealed segment record (a log opened with a cipher): magic byte 0xE4, the length of the rest
 * (4 bytes, big-endian), then the segment record above sealed whole by the cipher: one AES-GCM
 * operation per write, not one per entry (Node's cost per call would dominate small entries).
 * The sealed record authenticates itself, so no CRC: a value shorter than its length is a torn
 * write (dropped at open if it is the last segment, as in a plain log); a whole one that fails
 * authentication is tampered or under the wrong key, a DecryptionError, never dropped. (A torn
 * write cuts a value short; LevelDB's own log checksums its records.)
 */
const SEALED_SEGMENT_MAGIC = 0xe4;
export const SEALED_SEGMENT_HEADER_BYTES = 1 + 4;

/** Fills in the header of a sealed segment record whose first SEALED_SEGMENT_HEADER_BYTES are free. */
export function frameSealedSegment(value: Uint8Array): Uint8Array {
  value[0] = SEALED_SEGMENT_MAGIC;
  new DataView(value.buffer, value.byteOffset, value.byteLength).setUint32(1, value.byteLength - SEALED_SEGMENT_HEADER_BYTES);
  return value;
}

/** The sealed bytes of a sealed segment record; LogCorruptError if it is cut short. */
export function unframeSealedSegment(key: string, value: Uint8Array): Uint8Array {
  checkSegmentFormat(key, value, true);
  if (value.byteLength < SEALED_SEGMENT_HEADER_BYTES) throw new LogCorruptError(key, `a sealed segment record of ${value.byteLength} bytes is shorter than its header`);
  const length = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(1);
  if (length !== value.byteLength - SEALED_SEGMENT_HEADER_BYTES) throw new LogCorruptError(key, `a sealed segment of ${length} bytes holds ${value.byteLength - SEALED_SEGMENT_HEADER_BYTES}`);
  return value.subarray(SEALED_SEGMENT_HEADER_BYTES);
}

export function sealHardState(hardState: HardState, seq: number): Uint8Array {
  return seal({ term: hardState.term, vote: hardState.vote, commit: hardState.commit, seq });
}

/**
 * `sealed`: the data is sealed by a cipher (an encrypted log); the record then says so, so that
 * the log is never opened the wrong way even when it holds no segment. Plain records omit it.
 */
export function sealSnapshot(snapshot: Snapshot, seq: number, sealed = false): Uint8Array {
  return sealSnapshotInto(snapshot.meta, seq, sealed, snapshot.data.byteLength, (headroom) => {
    const out = new Uint8Array(headroom + snapshot.data.byteLength);
    out.set(snapshot.data, headroom);
    return out;
  });
}

/**
 * The snapshot record of `dataBytes` bytes of data that `fill(headroom)` returns at offset
 * `headroom` of a buffer it allocates (a cipher seals into one such buffer): the record's frame is
 * written into the headroom, so the data, megabytes in a large cluster, is copied once at most,
 * where encoding the record as a value copies it several times over and grows the codec's shared
 * buffer to four times its size. The bytes are those `seal` gives for the same record, with the
 * data as the payload's last field (the key order is free: any order decodes the same).
 */
export function sealSnapshotInto(meta: SnapshotMeta, seq: number, sealed: boolean, dataBytes: number, fill: (headroom: number) => Uint8Array): Uint8Array {
  const payload = { ...snapshotPayload(meta, seq, sealed), data: undefined };
  const payloadFrame = encodeAround(payload, 'data', dataBytes);
  assert(payloadFrame.after.byteLength === 0, 'the data is the payload\'s last field');
  const payloadBytes = payloadFrame.before.byteLength + dataBytes;
  // The record's head varies with the CRC's encoding (1 to 5 bytes): room for the longest.
  const recordHeadMax = encodeAround({ v: RECORD_VERSION, crc: 0xffffffff, payload: undefined }, 'payload', payloadBytes).before.byteLength;
  const headroom = recordHeadMax + payloadFrame.before.byteLength;
  const out = fill(headroom);
  assert(out.byteLength === headroom + dataBytes, () => `the snapshot's data filled ${out.byteLength - headroom} bytes, not ${dataBytes}`);
  const payloadStart = headroom - payloadFrame.before.byteLength;
  out.set(payloadFrame.before, payloadStart);
  const record = encodeAround({ v: RECORD_VERSION, crc: crc32(out, payloadStart), payload: undefined }, 'payload', payloadBytes);
  assert(record.after.byteLength === 0, 'the payload is the record\'s last field');
  const start = payloadStart - record.before.byteLength;
  out.set(record.before, start);
  return out.subarray(start);
}

const SNAPSHOT_CHUNK_MAGIC = 0xe6;
/** Magic byte and CRC-32. */
export const SNAPSHOT_CHUNK_HEADER_BYTES = 1 + 4;

/**
 * A chunk's stored value from `fill(headroom)`, which returns its body at offset `headroom` of a
 * buffer it allocates (a cipher seals into one such buffer): the header goes into the headroom.
 */
export function frameSnapshotChunk(fill: (headroom: number) => Uint8Array): Uint8Array {
  const out = fill(SNAPSHOT_CHUNK_HEADER_BYTES);
  out[0] = SNAPSHOT_CHUNK_MAGIC;
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(1, crc32(out, SNAPSHOT_CHUNK_HEADER_BYTES));
  return out;
}

/** A chunk's body (a view), once its frame and checksum are checked; LogCorruptError naming the key otherwise. */
export function unframeSnapshotChunk(key: string, value: Uint8Array): Uint8Array {
  if (value.byteLength < SNAPSHOT_CHUNK_HEADER_BYTES || value[0] !== SNAPSHOT_CHUNK_MAGIC) throw new LogCorruptError(key, 'not a snapshot chunk record');
  const stored = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(1);
  const actual = crc32(value, SNAPSHOT_CHUNK_HEADER_BYTES);
  if (stored !== actual) throw new LogCorruptError(key, `checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`);
  return value.subarray(SNAPSHOT_CHUNK_HEADER_BYTES);
}

/** How a chunked snapshot's data is stored: its number of chunks and its length. */
export interface SnapshotChunks {
  readonly count: number;
  readonly bytes: number;
}

/** The record of a snapshot whose data is in `chunks.count` chunks beside it. */
export function sealChunkedSnapshot(meta: SnapshotMeta, seq: number, sealed: boolean, chunks: SnapshotChunks): Uint8Array {
  return seal({ ...snapshotPayload(meta, seq, sealed), chunks: chunks.count, bytes: chunks.bytes });
}

/** What every snapshot record's payload holds besides its data (or where its data is). */
function snapshotPayload(meta: SnapshotMeta, seq: number, sealed: boolean): Record<string, unknown> {
  const { index, term, confState } = meta;
  return { meta: { index, term, confState: { voters: [...confState.voters], learners: [...confState.learners] } }, seq, ...(sealed ? { sealed: true } : {}) };
}

// ---- opening: every failure is a LogCorruptError naming the key ---------------------------------------

/**
 * The sequence number a hard-state or snapshot record claims, read without checking its checksum
 * (cheap: the payload and the data in it are views, not copies); -1 if it does not decode. It
 * orders the two slots of a record, newest first, so that open checks the newest and reads the
 * other only if that one fails: a snapshot is the biggest record, and its older copy is rarely
 * needed. Never trusted beyond that: the record is checked before use.
 */
export function peekSeq(value: Uint8Array): number {
  const seq = peekPayload(value)?.seq;
  return isIndex(seq) ? seq : -1;
}

/** A record's payload, decoded without checking the record's checksum; undefined if it does not decode. */
function peekPayload(value: Uint8Array): Record<string, unknown> | undefined {
  try {
    const record = decodeMessage(value);
    if (!isObject(record) || !(record.payload instanceof Uint8Array)) return undefined;
    const payload = decodeMessage(record.payload);
    return isObject(payload) ? payload : undefined;
  } catch {
    return undefined;
  }
}

/** Checks the record's frame and checksum and decodes its payload. */
function unseal(key: string, value: Uint8Array): Record<string, unknown> {
  let record: unknown;
  try {
    record = decodeMessage(value);
  } catch (error) {
    throw new LogCorruptError(key, `undecodable record (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isObject(record)) throw new LogCorruptError(key, 'the record is not a map');
  if (record.v !== RECORD_VERSION) throw new LogCorruptError(key, `unknown record version ${String(record.v)}`);
  const { crc, payload } = record;
  if (!(payload instanceof Uint8Array) || typeof crc !== 'number') throw new LogCorruptError(key, 'the record lacks its payload or checksum');
  const actual = crc32(payload);
  if (actual !== crc) throw new LogCorruptError(key, `checksum mismatch (stored ${hex32(crc)}, computed ${hex32(actual)})`);
  let decoded: unknown;
  try {
    decoded = decodeMessage(payload);
  } catch (error) {
    throw new LogCorruptError(key, `undecodable payload (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isObject(decoded)) throw new LogCorruptError(key, 'the payload is not a map');
  return decoded;
}

/**
 * Throws LogCorruptError unless `value` starts as a segment record of the format this code
 * writes. A torn write cuts a value short but keeps what it starts with, so an unknown format is
 * never a torn write, even in the last segment; an empty value tells nothing and passes.
 */
export function checkSegmentFormat(key: string, value: Uint8Array, sealed = false): void {
  if (value.byteLength === 0) return;
  const magic = value[0] as number;
  const plain = magic === SEGMENT_MAGIC || magic === SEGMENT_V1_MAGIC;
  if (sealed ? magic !== SEALED_SEGMENT_MAGIC : !plain) {
    const what = magic === SEALED_SEGMENT_MAGIC ? ' (a sealed segment: open the log with its cipher)' : plain ? ' (a plaintext segment in an encrypted log)' : '';
    throw new LogCorruptError(key, `unknown segment record format 0x${magic.toString(16)}${what}`);
  }
}

/**
 * A segment record read at open, checked whole, whose entries are not made into objects: the
 * log's in-memory mirror holds one of these per stored write, and an Entry (its data a view of
 * the record's bytes, not a copy) is made when a reader asks for it and dropped after use. A
 * million entries cost a million Entry objects otherwise, all alive at once and in the old
 * generation: most of the time of opening a long log went to allocating and collecting them.
 */
export class StoredSegment {
  constructor(
    readonly first: number,
    private readonly value: Uint8Array,
    /** Per entry, from `first` on: term, type (0 normal, 1 confChange), and where its data lies in `value`. */
    private readonly terms: Float64Array,
    private readonly types: Uint8Array,
    private readonly starts: Uint32Array,
    private readonly ends: Uint32Array,
  ) {}

  get count(): number {
    return this.terms.length;
  }

  /** The record's bytes. */
  get bytes(): Uint8Array {
    return this.value;
  }

  term(index: number): number {
    return this.terms[index - this.first] as number;
  }

  entry(index: number): Entry {
    const i = index - this.first;
    const start = this.starts[i] as number;
    // A plain Uint8Array even when the store hands out Buffers.
    const data = new Uint8Array(this.value.buffer, this.value.byteOffset + start, (this.ends[i] as number) - start);
    return { term: this.terms[i] as number, index, type: this.types[i] === 0 ? 'normal' : 'confChange', data };
  }

  entries(): Entry[] {
    return Array.from({ length: this.count }, (_, i) => this.entry(this.first + i));
  }
}

/** A segment record whose first entry is `first`, checked against its checksum (or its entries' in format 1). */
export function scanSegment(key: string, value: Uint8Array, first: number): StoredSegment {
  checkSegmentFormat(key, value);
  const v1 = value[0] === SEGMENT_V1_MAGIC;
  const headerBytes = v1 ? SEGMENT_V1_HEADER_BYTES : SEGMENT_HEADER_BYTES;
  if (value.byteLength < headerBytes) throw new LogCorruptError(key, `a segment record of ${value.byteLength} bytes is shorter than its header`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const count = view.getUint32(1);
  if (count === 0) throw new LogCorruptError(key, 'a segment of no entries');
  if (!v1) {
    const stored = view.getUint32(5);
    const actual = crc32(value, SEGMENT_HEADER_BYTES);
    if (stored !== actual) throw new LogCorruptError(key, `checksum mismatch in the segment of ${count} entries from ${first} (stored ${hex32(stored)}, computed ${hex32(actual)})`);
  }
  // Format 1 puts a magic byte and a checksum before each entry's index, term and type.
  const prefix = v1 ? 1 + 4 : 0;
  const entryHeaderBytes = v1 ? ENTRY_V1_HEADER_BYTES : ENTRY_HEADER_BYTES;
  // The count is checked against the bytes before anything is sized by it.
  if (count > (value.byteLength - headerBytes) / (ENTRY_LENGTH_BYTES + entryHeaderBytes)) throw new LogCorruptError(key, `the segment ends before its ${count} entries`);
  const terms = new Float64Array(count);
  const types = new Uint8Array(count);
  const starts = new Uint32Array(count);
  const ends = new Uint32Array(count);
  let at = headerBytes;
  for (let i = 0; i < count; i++) {
    const index = first + i;
    if (at + ENTRY_LENGTH_BYTES > value.byteLength) throw new LogCorruptError(key, `the segment ends before entry ${index} (${i} of ${count} entries)`);
    const length = view.getUint32(at);
    const record = at + ENTRY_LENGTH_BYTES;
    const end = record + length;
    if (length < entryHeaderBytes || end > value.byteLength) throw new LogCorruptError(key, `entry ${index} (${i + 1} of ${count}) runs past the segment's ${value.byteLength} bytes or is shorter than its header`);
    if (v1) {
      if (value[record] !== ENTRY_V1_MAGIC) throw new LogCorruptError(key, `unknown entry record format 0x${(value[record] as number).toString(16)} at entry ${index}`);
      const stored = view.getUint32(record + 1);
      const actual = crc32(value, record + 5, end);
      if (stored !== actual) throw new LogCorruptError(key, `checksum mismatch at entry ${index} (stored ${hex32(stored)}, computed ${hex32(actual)})`);
    }
    const fields = record + prefix;
    const storedIndex = view.getUint32(fields) * UINT32_COUNT + view.getUint32(fields + 4);
    const term = view.getUint32(fields + 8) * UINT32_COUNT + view.getUint32(fields + 12);
    const type = value[fields + 16];
    if (storedIndex !== index) throw new LogCorruptError(key, `holds entry ${storedIndex} where entry ${index} belongs`);
    if (!isIndex(term)) throw new LogCorruptError(key, `bad term at entry ${index}`);
    if (type !== 0 && type !== 1) throw new LogCorruptError(key, `bad entry type ${String(type)} at entry ${index}`);
    terms[i] = term;
    types[i] = type;
    starts[i] = record + entryHeaderBytes;
    ends[i] = end;
    at = end;
  }
  if (at !== value.byteLength) throw new LogCorruptError(key, `${value.byteLength - at} bytes after the segment's ${count} entries`);
  return new StoredSegment(first, value, terms, types, starts, ends);
}

/** The entries of a segment record whose first entry is `first`, each checked against its checksum. */
export function openSegment(key: string, value: Uint8Array, first: number): Entry[] {
  return scanSegment(key, value, first).entries();
}

export function openHardState(key: string, value: Uint8Array): { hardState: HardState; seq: number } {
  const { term, vote, commit, seq } = unseal(key, value);
  if (!isIndex(term) || typeof vote !== 'string' || !isIndex(commit) || !isIndex(seq)) throw new LogCorruptError(key, 'bad hard state fields');
  return { hardState: { term, vote, commit }, seq };
}

/**
 * A snapshot record: its data when the record holds it, else how its chunks hold it (the caller
 * reads them: `data` is then empty).
 */
export interface OpenedSnapshot {
  readonly key: string;
  readonly snapshot: Snapshot;
  readonly chunks: SnapshotChunks | undefined;
  readonly seq: number;
  readonly sealed: boolean;
}

export function openSnapshot(key: string, value: Uint8Array): OpenedSnapshot {
  const { meta, data, seq, sealed, chunks, bytes } = unseal(key, value);
  if (sealed !== undefined && sealed !== true) throw new LogCorruptError(key, 'bad snapshot sealed flag');
  const inline = data instanceof Uint8Array && chunks === undefined && bytes === undefined;
  const chunked = data === undefined && isIndex(chunks) && chunks > 0 && isIndex(bytes);
  if (!isObject(meta) || !isIndex(meta.index) || !isIndex(meta.term) || !(inline || chunked) || !isIndex(seq)) throw new LogCorruptError(key, 'bad snapshot fields');
  const confState = meta.confState;
  if (!isObject(confState) || !isPeerList(confState.voters) || !isPeerList(confState.learners)) throw new LogCorruptError(key, 'bad snapshot ConfState');
  const conf: ConfState = { voters: confState.voters, learners: confState.learners };
  return {
    key,
    snapshot: { meta: { index: meta.index, term: meta.term, confState: conf }, data: inline ? plainBytes(data) : new Uint8Array(0) },
    chunks: chunked ? { count: chunks, bytes } : undefined,
    seq,
    sealed: sealed === true,
  };
}

/**
 * How many chunks a slot's record says it has, read without checking it (as peekSeq): which
 * chunk keys of the slot are not stray. 0 when it does not decode or holds its data.
 */
export function peekChunkCount(value: Uint8Array): number {
  const chunks = peekPayload(value)?.chunks;
  return isIndex(chunks) ? chunks : 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isPeerList(value: unknown): value is PeerId[] {
  return Array.isArray(value) && value.every((id) => typeof id === 'string');
}

/** The decoder may hand out a Buffer; callers get a plain Uint8Array view of the same bytes. */
function plainBytes(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function hex32(value: unknown): string {
  return typeof value === 'number' ? `0x${value.toString(16).padStart(8, '0')}` : String(value);
}

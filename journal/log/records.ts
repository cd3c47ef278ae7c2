// How the log lies in a key-value store. Keys: `e/` + the entry index as 16 zero-padded hex digits
// (fixed width, so key order is index order in any byte-ordered store), `h0`/`h1` the hard state
// and `s0`/`s1` the snapshot (two slots each, written in turn). Every value carries a CRC-32, so
// that a torn or damaged value is caught on load rather than handed to Raft. Entries, the bulk of
// the writes, use a fixed binary layout (see `sealEntry`); the hard state and the snapshot a CBOR
// record `{ v, crc, payload }` whose crc covers the payload's CBOR bytes.
import { decodeMessage, encodeMessage } from '../../runtime/index.js';
import { LogCorruptError } from '../errors.js';
import { crc32 } from './crc32.js';
import type { ConfState, Entry, HardState, PeerId, Snapshot } from './types.js';

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
/** Above every entry key and below any other `e…` key: '0' follows '/' in ASCII. */
export const ENTRY_KEY_END = 'e0';

/** The record format; a reader refuses versions it does not know. */
const RECORD_VERSION = 1;
const INDEX_HEX_DIGITS = 16;

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
 * An entry record: magic byte 0xE2, CRC-32 of everything after it (4 bytes), index and term
 * (8 bytes each, big-endian), type (1 byte: 0 normal, 1 confChange), then the data as is. A
 * fixed layout costs one copy and one checksum per entry, where CBOR cost two encodings.
 */
const ENTRY_MAGIC = 0xe2;
const ENTRY_HEADER_BYTES = 1 + 4 + 8 + 8 + 1;

export function sealEntry(entry: Entry): Uint8Array {
  const out = new Uint8Array(ENTRY_HEADER_BYTES + entry.data.byteLength);
  const view = new DataView(out.buffer);
  out[0] = ENTRY_MAGIC;
  view.setBigUint64(5, BigInt(entry.index));
  view.setBigUint64(13, BigInt(entry.term));
  out[21] = entry.type === 'normal' ? 0 : 1;
  out.set(entry.data, ENTRY_HEADER_BYTES);
  view.setUint32(1, crc32(out.subarray(5)));
  return out;
}

export function sealHardState(hardState: HardState, seq: number): Uint8Array {
  return seal({ term: hardState.term, vote: hardState.vote, commit: hardState.commit, seq });
}

export function sealSnapshot(snapshot: Snapshot, seq: number): Uint8Array {
  const { index, term, confState } = snapshot.meta;
  return seal({ meta: { index, term, confState: { voters: [...confState.voters], learners: [...confState.learners] } }, data: snapshot.data, seq });
}

// ---- opening: every failure is a LogCorruptError naming the key ---------------------------------------

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

export function openEntry(key: string, value: Uint8Array, index: number): Entry {
  if (value.byteLength < ENTRY_HEADER_BYTES) throw new LogCorruptError(key, `an entry record of ${value.byteLength} bytes is shorter than its header`);
  if (value[0] !== ENTRY_MAGIC) throw new LogCorruptError(key, `unknown entry record format 0x${(value[0] as number).toString(16)}`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const stored = view.getUint32(1);
  const actual = crc32(value.subarray(5));
  if (stored !== actual) throw new LogCorruptError(key, `checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`);
  const storedIndex = Number(view.getBigUint64(5));
  const term = Number(view.getBigUint64(13));
  const type = value[21];
  if (storedIndex !== index) throw new LogCorruptError(key, `holds entry ${storedIndex}`);
  if (!isIndex(term)) throw new LogCorruptError(key, 'bad term');
  if (type !== 0 && type !== 1) throw new LogCorruptError(key, `bad entry type ${String(type)}`);
  return { term, index, type: type === 0 ? 'normal' : 'confChange', data: value.slice(ENTRY_HEADER_BYTES) };
}

export function openHardState(key: string, value: Uint8Array): { hardState: HardState; seq: number } {
  const { term, vote, commit, seq } = unseal(key, value);
  if (!isIndex(term) || typeof vote !== 'string' || !isIndex(commit) || !isIndex(seq)) throw new LogCorruptError(key, 'bad hard state fields');
  return { hardState: { term, vote, commit }, seq };
}

export function openSnapshot(key: string, value: Uint8Array): { snapshot: Snapshot; seq: number } {
  const { meta, data, seq } = unseal(key, value);
  if (!isObject(meta) || !isIndex(meta.index) || !isIndex(meta.term) || !(data instanceof Uint8Array) || !isIndex(seq)) throw new LogCorruptError(key, 'bad snapshot fields');
  const confState = meta.confState;
  if (!isObject(confState) || !isPeerList(confState.voters) || !isPeerList(confState.learners)) throw new LogCorruptError(key, 'bad snapshot ConfState');
  const conf: ConfState = { voters: confState.voters, learners: confState.learners };
  return { snapshot: { meta: { index: meta.index, term: meta.term, confState: conf }, data: plainBytes(data) }, seq };
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

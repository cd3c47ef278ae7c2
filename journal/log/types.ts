// The Raft log's data types and the storage contract the consensus core reads through. They live
// in journal/ because the log *is* the journal: raft/ imports them, never the other way round.

/** A peer's id: the node id of a manager (e.g. 'm1'). */
export type PeerId = string;

export type EntryType = 'normal' | 'confChange';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Opaque to Raft: a batch of journal events, or an encoded ConfChange for 'confChange'. */
  readonly data: Uint8Array;
}

/** What must be durable before a peer may answer a vote or acknowledge an append. */
export interface HardState {
  readonly term: number;
  /** The peer voted for in `term`, or '' for none. */
  readonly vote: PeerId;
  readonly commit: number;
}

export interface ConfState {
  readonly voters: readonly PeerId[];
  readonly learners: readonly PeerId[];
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's serialized state at `meta.index` (the store's snapshot). */
  readonly data: Uint8Array;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };
export const EMPTY_SNAPSHOT: Snapshot = { meta: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) };

/** What one Ready asks to make durable, in one atomic synced write. */
export interface LogWrite {
  /** Replaces the stored hard state, if given. */
  readonly hardState?: HardState;
  /**
   * Appended after truncating any stored entries at or after `entries[0].index` (a new leader may
   * overwrite an uncommitted tail). Contiguous, increasing indexes.
   */
  readonly entries: readonly Entry[];
  /**
   * Replaces the log, if given: the log becomes the snapshot and every stored entry is dropped,
   * those above its index too (the core installs a snapshot only when its log does not already
   * hold the snapshot's last entry, so anything after it belongs to another history). `entries`
   * are then appended after it. Its index must be above the stored snapshot's.
   */
  readonly snapshot?: Snapshot;
}

/**
 * The Raft log as the consensus core sees it. Reads are synchronous, from memory: a manager keeps
 * the log since its last snapshot in memory anyway (the snapshot interval bounds it). Writes are
 * durable when their promise resolves.
 */
export interface LogStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries [lo, hi): at least one if lo < hi, and beyond the first only while the total of
   * `data.byteLength` stays at or below `bytesMax` (etcd's limitSize). Throws LogCompactedError
   * when lo < firstIndex() and LogUnavailableError when hi > lastIndex() + 1.
   */
  entries(lo: number, hi: number, bytesMax?: number): Entry[];
  /**
   * The term of entry `index`; firstIndex()-1 answers the term of the last compacted entry (the
   * snapshot's, unless a tail below the snapshot is kept). Throws LogCompactedError below
   * firstIndex()-1 and LogUnavailableError above lastIndex().
   */
  term(index: number): number;
  /**
   * The first index still stored: one past the last compacted entry. That is the snapshot's
   * index + 1, or lower while `compact` keeps a tail below a snapshot from `createSnapshot`.
   */
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
  /** Persists hard state, entries and snapshot together, synced. */
  save(write: LogWrite): Promise<void>;
  /**
   * Records the state machine's snapshot at `index` (an applied entry, above the stored
   * snapshot's index) without dropping any entry, like etcd's CreateSnapshot: `compact` then
   * drops entries up to a point of the caller's choosing, keeping a tail for slow followers.
   * Resolves with the stored snapshot (its term is the entry's) once it is durable, or once a
   * newer snapshot stored meanwhile is. The storage keeps `data` (it is the snapshot) and may
   * read it after the call: the caller must not change it.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot>;
  /**
   * Drops entries up to and including `index`, which must be covered by the snapshot (at or below
   * its index). An index at or below firstIndex()-1 has nothing left to drop: a no-op.
   */
  compact(index: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Seals the log at rest (journal/crypto's `AesGcmCipher`): KvLogStorage seals each segment record
 * whole (every entry of one write, data and all) and each snapshot's data. `context` is
 * authenticated, not encrypted: what the record is (a segment and its first index, or a snapshot
 * and its index and term), so that sealed bytes moved to another record fail to open.
 */
export interface LogCipher {
  /** What sealing adds to the data's length (header and tag): a sealed record is this much longer. */
  readonly overheadBytes: number;
  /** The sealed record, starting `headroom` bytes into the array returned (left for a caller's header). */
  seal(data: Uint8Array, context: Uint8Array, headroom?: number): Uint8Array;
  /** The data, or a DecryptionError naming `subject` (e.g. 'entries from 17') and the key id. */
  open(sealed: Uint8Array, context: Uint8Array, subject: string): Uint8Array;
  /** The id of the key that sealed `sealed`, or undefined if it is not a sealed record. */
  keyIdOf(sealed: Uint8Array): number | undefined;
}

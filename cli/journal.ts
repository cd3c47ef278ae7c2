// `swarm journal dump` and `swarm journal check`: read a manager's journal (its Raft log) from a
// state directory without changing it. The log is opened through a read-only view of its store:
// the repairs that a manager's start would make (dropping a torn tail, for one) are reported, not
// written.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { KeyStore, KeyStoreLockedError, KvLogStorage, LogCorruptError, MalformedUnlockKeyError, WrongUnlockKeyError, decodeBatch, type Entry, type JournalEvent, type LogCipher } from '../journal/index.js';
import { decodeConfChange } from '../raft/index.js';
import { decodeCommand, type ClusterCommand, type SecurityChange } from '../actors/index.js';
import type { KvKey, KvOp, KvStore } from '../runtime/index.js';
import { LevelStorage, secureRandomBytes } from '../runtime/env/real/index.js';
import { CliError } from './errors.js';

/** Where a manager keeps its Raft log inside its state directory. */
export const RAFT_LOG_DIR = 'raft';
export const RAFT_LOG_STORE = 'log';
/** The key file (the journal's DEKs, wrapped): present when the journal is encrypted at rest. */
export const RAFT_KEYS_STORE = 'keys';

export { CliError };

/** Lines go to `out`; the caller decides where (stdout, a test's array). */
export type Out = (line: string) => void;

/** A KvStore that reads through and refuses nothing, but writes nothing: it counts what it was asked to write. */
class ReadOnlyKv implements KvStore {
  skippedOps = 0;
  constructor(private readonly inner: KvStore) {}
  get(key: KvKey): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }
  async batch(ops: readonly KvOp[]): Promise<void> {
    this.skippedOps += ops.length;
  }
  range(options: { gte?: KvKey; lt?: KvKey; limit?: number }): Promise<Array<[KvKey, Uint8Array]>> {
    return this.inner.range(options);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The journal's cipher from its key file, or undefined for a journal that is not encrypted. */
async function cipherOf(stateDir: string, dir: string, unlockKey: string | undefined): Promise<{ cipher: LogCipher; close: () => Promise<void> } | undefined> {
  if (!existsSync(path.join(dir, RAFT_KEYS_STORE))) return undefined;
  const kv = new ReadOnlyKv(await new LevelStorage(dir).openKv(RAFT_KEYS_STORE));
  try {
    const keyStore = await KeyStore.open(kv, { randomBytes: secureRandomBytes, ...(unlockKey === undefined ? {} : { unlockKey }) });
    return { cipher: keyStore.cipher, close: () => keyStore.close() };
  } catch (error) {
    await kv.close();
    if (error instanceof KeyStoreLockedError) throw new CliError(`--state-dir ${stateDir}: the journal is locked (auto-lock is on): give its unlock key with --unlock-key SWMKEY-1-...`);
    if (error instanceof WrongUnlockKeyError) throw new CliError(`--unlock-key: not this journal's unlock key`);
    if (error instanceof MalformedUnlockKeyError) throw new CliError(`--unlock-key: ${error.message}`);
    throw error;
  }
}

async function openReadOnly(stateDir: string, unlockKey?: string): Promise<{ storage: KvLogStorage; kv: ReadOnlyKv }> {
  if (!existsSync(stateDir) || !statSync(stateDir).isDirectory()) throw new CliError(`--state-dir ${stateDir}: no such directory`);
  const dir = path.join(stateDir, RAFT_LOG_DIR);
  if (!existsSync(path.join(dir, RAFT_LOG_STORE))) throw new CliError(`--state-dir ${stateDir}: holds no journal (no ${path.join(RAFT_LOG_DIR, RAFT_LOG_STORE)} in it)`);
  let inner: KvStore;
  try {
    inner = await new LevelStorage(dir).openKv(RAFT_LOG_STORE);
  } catch (error) {
    const text = error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? '')}` : String(error);
    if (/lock/i.test(text)) throw new CliError(`--state-dir ${stateDir}: the journal is in use (a running manager holds its lock); stop the manager first`);
    throw new CliError(`--state-dir ${stateDir}: cannot open the journal: ${text}`);
  }
  const kv = new ReadOnlyKv(inner);
  let keys: Awaited<ReturnType<typeof cipherOf>>;
  try {
    keys = await cipherOf(stateDir, dir, unlockKey);
    return { storage: await KvLogStorage.open(kv, keys === undefined ? {} : { cipher: keys.cipher }), kv };
  } catch (error) {
    await inner.close();
    throw error;
  } finally {
    // The cipher keeps its keys in memory: the key file itself is no longer needed.
    await keys?.close();
  }
}

/** A security change without its secrets (keys, tokens and the unlock key are never printed). */
function describeSecurityChange(change: SecurityChange): string {
  switch (change.kind) {
    case 'init': return `init (cluster ${change.state.clusterId})`;
    case 'tokensRotated': return `join tokens rotated (${[change.worker === null ? '' : 'worker', change.manager === null ? '' : 'manager'].filter((r) => r !== '').join(', ')})`;
    case 'certificateIssued': return `certificate issued to ${change.nodeId} (${change.certificate.role}, serial ${change.certificate.serial})`;
    case 'nodeRevoked': return `node ${change.nodeId} removed; its certificates refused until ${new Date(change.until).toISOString()}`;
    case 'rootRotationStarted': return 'root CA rotation started';
    case 'rootRotationFinished': return 'root CA rotation finished';
    case 'unlockKeyChanged': return 'unlock key changed';
    case 'certValidityChanged': return `node certificate life now ${change.nodeCertValidityMs} ms`;
    default: return 'unknown change';
  }
}

function describeEntry(entry: Entry): string {
  const head = `${String(entry.index).padStart(8)}  term ${entry.term}  ${entry.type}`;
  if (entry.type === 'confChange') {
    try {
      return `${head}  ${JSON.stringify(decodeConfChange(entry.data))}`;
    } catch (error) {
      return `${head}  (undecodable conf change: ${(error as Error).message})`;
    }
  }
  if (entry.data.byteLength === 0) return `${head}  (empty: a new leader's first entry)`;
  let events: readonly JournalEvent[];
  let batch = entry.data;
  let command: ClusterCommand | undefined;
  try {
    const decoded = decodeCommand(entry.data);
    if (decoded !== null && typeof decoded === 'object' && (decoded.op === 'events' || decoded.op === 'security')) command = decoded;
  } catch {
    // not a manager's command: a bare event batch (the simulator's, older journals)
  }
  if (command?.op === 'security') return `${head}  security: ${describeSecurityChange(command.change)} (command ${command.opId})`;
  if (command?.op === 'events') batch = command.batch;
  try {
    events = decodeBatch(batch).events;
  } catch (error) {
    return `${head}  ${entry.data.byteLength} bytes (not an event batch: ${(error as Error).message})`;
  }
  return [`${head}  ${events.length} event${events.length === 1 ? '' : 's'}, ${entry.data.byteLength} bytes`, ...events.map(describeEvent)].join('\n');
}

/** One event on one line: its type and id, then the rest as compact JSON (long ones cut). */
function describeEvent(event: JournalEvent): string {
  const { type, id, v, ...rest } = event as JournalEvent & { id?: string };
  const json = JSON.stringify(rest, (_key, value: unknown) => (value instanceof Uint8Array ? `<${value.byteLength} bytes>` : value));
  return `            ${type} ${id ?? ''} v${v} ${json.length > 200 ? `${json.slice(0, 199)}…` : json}`;
}

function describeRecovery(storage: KvLogStorage, kv: ReadOnlyKv, out: Out): void {
  const r = storage.recovery;
  if (r.tornTailDropped > 0) out(`recovery: a torn last write (key ${r.tornTailKey ?? '?'}) would be dropped at the next start; it was never acknowledged`);
  if (r.commitLoweredFrom !== undefined) out(`recovery: commit would be lowered from ${r.commitLoweredFrom} to ${storage.initialState().hardState.commit}`);
  if (r.entriesBelowSnapshotDropped > 0) out(`recovery: ${r.entriesBelowSnapshotDropped} entries at or below the snapshot are left out of the log`);
  if (kv.skippedOps > 0) out(`(read-only: ${kv.skippedOps} repair writes were not made)`);
}

export interface DumpOptions {
  readonly stateDir: string;
  /** For an auto-locked journal: its SWMKEY-1-... unlock key. */
  readonly unlockKey?: string;
  /** Print at most this many entries from the end (all when undefined). */
  readonly tail?: number;
}

export async function journalDump(options: DumpOptions, out: Out): Promise<void> {
  const { storage, kv } = await openReadOnly(options.stateDir, options.unlockKey);
  try {
    const { hardState, confState } = storage.initialState();
    const snapshot = storage.snapshot();
    out(`hard state: term ${hardState.term}, vote ${hardState.vote === '' ? '(none)' : hardState.vote}, commit ${hardState.commit}`);
    out(`snapshot: index ${snapshot.meta.index}, term ${snapshot.meta.term}, ${snapshot.data.byteLength} bytes; voters [${confState.voters.join(', ')}], learners [${confState.learners.join(', ')}]`);
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    out(`entries: ${last - first + 1} (${first}..${last})`);
    describeRecovery(storage, kv, out);
    const from = options.tail === undefined ? first : Math.max(first, last - options.tail + 1);
    // In pages, so that a long log is never held twice.
    for (let lo = from; lo <= last; lo += 1000) for (const entry of storage.entries(lo, Math.min(last + 1, lo + 1000))) out(describeEntry(entry));
  } finally {
    await storage.close();
  }
}

/** Returns the number of problems found (0: the journal is sound). */
export async function journalCheck(options: { readonly stateDir: string; readonly unlockKey?: string }, out: Out): Promise<number> {
  let opened: { storage: KvLogStorage; kv: ReadOnlyKv };
  try {
    // Opening reads every record and verifies its checksum, the order of indexes and terms.
    opened = await openReadOnly(options.stateDir, options.unlockKey);
  } catch (error) {
    if (!(error instanceof LogCorruptError)) throw error;
    out(`corrupt: ${error.message}`);
    return 1;
  }
  const { storage, kv } = opened;
  try {
    const entries = storage.lastIndex() - storage.firstIndex() + 1;
    out(`ok: ${entries} entries after the snapshot at ${storage.snapshot().meta.index}; every checksum verified`);
    describeRecovery(storage, kv, out);
    return 0;
  } finally {
    await storage.close();
  }
}

// The Raft workload under the simulator: 3-7 managers, each running the Raft peer actor on a
// KvLogStorage over its simulated disk, a replicated key-value register on top, and clients that
// write and read (linearizable reads through ReadIndex), under the full fault mix: loss,
// duplication, reordering, partitions (also asymmetric), crashes and restarts, torn writes,
// fsync failures (which crash the node), isolation, membership changes, and in some seeds the
// stranded-entries schedule of raft-strand.ts (Figure 8 histories).
//
// The entries also carry journal event batches: orchestrator clients (raft-orchestrator.ts) read
// a manager's store, possibly stale, and propose batches with `expectedVersion` from that read, so
// that some are refused at apply time (identically on every manager). Each manager's applier
// keeps a Store, applies every committed entry at its index, and puts the store's `serialize()`
// bytes (beside the register) in its Raft snapshots, written a step at a time as a manager does
// (store.snapshotWriter(): the view is captured at the snapshot's index, entries go on being
// applied between the steps and must not show in it); a snapshot install or a restart restores it.
// In some seeds every manager's log is sealed (AES-256-GCM) with the DEKs of a KeyStore on its
// simulated disk, reopened at every restart (raft-keys.ts), and one manager rotates its DEK
// mid-run: it must then seal with the new key while its older records stay readable.
//
// Checked after every event: election safety (one leader per term), state-machine safety (no two
// peers apply different entries at an index; each applies in order), votes durable before they
// are granted (checked at every restart); the store check: at every index a manager's store
// reaches (apply, snapshot install, restart), its index is that index and the sha256 of its
// `serialize()` equals that of the first manager to reach the index. At the end: no acknowledged
// write lost, and the client history is linearizable. A liveness phase heals everything and needs
// a leader within 10 election timeouts and every client operation resolved.
import { createHash } from 'node:crypto';
import { KvLogStorage, Store, decodeBatch, encodeBatch, type StoreSnapshotWriter, type ConfState, type Entry, type KeyStore, type LogCipher, type PeerId, type Snapshot } from '../journal/index.js';
import { decodeConfChange, nextConfState, raftProps, type ApplyMessage, type ConfChange, type Message, type ProposeReply, type RaftBug } from '../raft/index.js';
import { SeededRandom, assert, decodeMessage, encodeMessage, encodeMessageOwned, messageType, plain, type ActorContext, type Address, type InspectionEvent, type Random } from '../runtime/index.js';
import { SimCluster, type BootNode } from './cluster.js';
import { checkLinearizable, type HistoryOp } from './linearizability.js';
import { openKeyStore, type SimKeyFile } from './raft-keys.js';
import { nextEventBatch } from './raft-orchestrator.js';
import { StrandedEntries } from './raft-strand.js';

export const RAFT_BUGS: readonly RaftBug[] = ['skipVoteTermCheck', 'commitPreviousTermByCounting', 'ackBeforePersist', 'applyBeforeCommit', 'forgetVoteOnRestart'];

export interface RaftSimOptions {
  readonly peers: number;
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  readonly lossProbability: number;
  readonly duplicateProbability: number;
  readonly reorder: boolean;
  readonly crashMeanIntervalMs: number;
  /** Crashes aimed at the current leader (leader churn with half-replicated entries). */
  readonly leaderCrashMeanIntervalMs: number;
  /** Cut each new leader off shortly after it takes office (half-replicated terms, Figure 8 histories). */
  readonly leaderChurn: boolean;
  /**
   * The stranded-entries schedule (raft-strand.ts): minorities cut off in turn as leaders change,
   * so that an older term's entry reaches a majority without the new leader's own (Figure 8).
   * Such seeds use an appendBytesMax below any command's size: one command per append.
   */
  readonly strandedEntries: boolean;
  /** Process pauses (GC, a stopped VM): the node runs nothing for up to 3 election timeouts. */
  readonly pauseMeanIntervalMs: number;
  /** Partitions that cut the current leader off alone. */
  readonly isolateLeaderProbability: number;
  readonly partitions: 'off' | 'symmetric' | 'asymmetric';
  readonly partitionMeanIntervalMs: number;
  readonly tornWriteProbability: number;
  readonly syncFailureProbability: number;
  readonly diskLatencyMsMax: number;
  /** A crash right after a write was issued, before its fsync completes (torn and lost writes). */
  readonly crashDuringWriteProbability: number;
  readonly membershipChanges: boolean;
  readonly clients: number;
  readonly keys: number;
  readonly opIntervalMsMax: number;
  /** Entry bytes per append: small values split appends, so acknowledgements trail the leader. */
  readonly appendBytesMax: number;
  readonly inflightAppendsMax: number;
  readonly snapshotIntervalEntries: number;
  readonly snapshotTailEntries: number;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly safetyPhaseMs: number;
  /** Orchestrator clients proposing journal event batches (raft-orchestrator.ts). */
  readonly orchestrators: number;
  readonly orchestratorIntervalMsMax: number;
  /** Every manager's log sealed with AES-256-GCM, its DEKs in a KeyStore on its disk (raft-keys.ts). */
  readonly encryptedAtRest: boolean;
  /** When set (> 0), a manager rotates its DEK at this virtual time: new records use the new key. */
  readonly dekRotationAtMs: number;
  /** Peers take the next Ready while earlier writes are in flight (RaftConfig.asyncStorageWrites), as the real node does. */
  readonly asyncStorageWrites: boolean;
  /**
   * After a crash, each live peer gets the real transport's hint that the crashed node's process
   * is gone (`raft.peerGone`, RaftCore.leaderGone) with this probability, 1-60 ms later and only
   * while the node is still down (a restarted process listens again). 0: no hints.
   */
  readonly leaderGoneHintProbability: number;
  /** Wrong hints: a follower told that its live leader is gone, at this mean interval (0: none). */
  readonly wrongHintMeanIntervalMs: number;
}

export function chooseRaftOptions(random: Random): RaftSimOptions {
  const r = random.fork('options');
  const delayMsMin = r.int(0, 5);
  const options: RaftSimOptions = {
    peers: r.int(3, 7),
    delayMsMin,
    delayMsMax: delayMsMin + r.int(1, 40),
    lossProbability: r.chance(0.7) ? r.int(0, 20) / 100 : 0,
    duplicateProbability: r.chance(0.5) ? r.int(0, 20) / 100 : 0,
    reorder: r.chance(0.5),
    crashMeanIntervalMs: r.chance(0.8) ? r.int(1500, 6000) : 0,
    leaderCrashMeanIntervalMs: r.chance(0.5) ? r.int(1000, 5000) : 0,
    isolateLeaderProbability: r.chance(0.5) ? r.int(20, 80) / 100 : 0,
    pauseMeanIntervalMs: r.chance(0.5) ? r.int(1500, 6000) : 0,
    leaderChurn: r.chance(0.3),
    partitions: r.pick(['off', 'symmetric', 'asymmetric', 'asymmetric'] as const),
    partitionMeanIntervalMs: r.int(2000, 6000),
    tornWriteProbability: r.chance(0.5) ? r.int(10, 60) / 100 : 0,
    syncFailureProbability: r.chance(0.3) ? r.int(1, 10) / 1000 : 0,
    diskLatencyMsMax: r.int(1, 20),
    crashDuringWriteProbability: r.chance(0.5) ? r.int(10, 50) / 1000 : 0,
    membershipChanges: r.chance(0.5),
    clients: r.int(2, 5),
    keys: r.int(1, 4),
    opIntervalMsMax: r.int(50, 400),
    appendBytesMax: r.pick([64, 256, 1024 * 1024]),
    inflightAppendsMax: r.pick([1, 4, 256]),
    snapshotIntervalEntries: r.int(10, 40),
    snapshotTailEntries: r.int(0, 10),
    tickMs: 100,
    electionTicks: 10,
    safetyPhaseMs: 30_000,
    strandedEntries: false,
    ...storeOptions(random),
    // From a stream of its own: the seed's other options stay as they were.
    asyncStorageWrites: random.fork('asyncStorageWrites').chance(0.5),
    ...hintOptions(random),
  };
  // From a stream of its own, so that a seed's other options stay as they were. A leader then
  // replicates an older term's entries one message at a time, ahead of its own entry.
  if (random.fork('strandedEntries').chance(0.3)) return { ...options, strandedEntries: true, appendBytesMax: 16 };
  return options;
}

/** The leader-gone hints' options, from a stream of their own (the other options stay as they were). */
function hintOptions(random: Random): Pick<RaftSimOptions, 'leaderGoneHintProbability' | 'wrongHintMeanIntervalMs'> {
  const r = random.fork('leaderGoneHints');
  return {
    leaderGoneHintProbability: r.chance(0.6) ? r.pick([0.5, 0.9, 1]) : 0,
    wrongHintMeanIntervalMs: r.chance(0.4) ? r.int(1000, 6000) : 0,
  };
}

/** The store workload's options, from streams of their own (the other options stay as they were). */
function storeOptions(random: Random): Pick<RaftSimOptions, 'orchestrators' | 'orchestratorIntervalMsMax' | 'encryptedAtRest' | 'dekRotationAtMs'> {
  const orchestration = random.fork('orchestrators');
  const encryption = random.fork('encryption');
  const encryptedAtRest = encryption.chance(0.4);
  return {
    orchestrators: orchestration.int(1, 2),
    orchestratorIntervalMsMax: orchestration.int(200, 800),
    encryptedAtRest,
    dekRotationAtMs: encryptedAtRest && encryption.chance(0.75) ? encryption.int(3000, 25_000) : 0,
  };
}

export interface RaftSimRun {
  readonly seed: string;
  readonly options: RaftSimOptions;
  readonly bug: RaftBug | undefined;
  readonly ok: boolean;
  readonly failure: string | undefined;
  readonly traceDigest: string;
  readonly virtualMs: number;
  readonly events: number;
  readonly ops: { total: number; ok: number; failed: number; indeterminate: number };
  /** Rare situations reached ("sometimes" properties). */
  readonly sometimes: RaftSimSometimes;
}

export interface RaftSimSometimes {
  leaderChanges: number;
  snapshotInstalls: number;
  membershipChangesUnderPartition: number;
  tornWriteRecoveries: number;
  crashes: number;
  pauses: number;
  storageFailures: number;
  /** A manager's store rebuilt with Store.restore from a non-empty snapshot (install or restart). */
  storeRestores: number;
  /** Raft snapshots of the store written a step at a time while the manager applied entries. */
  snapshotsOverlappingApplies: number;
  /** Committed event batches the store refused (a conflict), counted once per index. */
  refusedBatches: number;
  /** Events of committed batches that took effect, counted once per index. */
  storeEventsApplied: number;
  /** Managers whose log is sealed (encryption at rest). */
  encryptedManagers: number;
  dekRotations: number;
  /** A rotated manager restarted on a log that holds records sealed by both DEKs. */
  mixedKeyRecoveries: number;
  /** Hints delivered that a crashed node's process was gone (RaftCore.leaderGone). */
  leaderGoneHints: number;
  /** Wrong hints delivered: a follower told that its live leader was gone. */
  wrongHints: number;
}

// ---- the replicated register and store (the applier) --------------------------------------

/** What a normal entry carries: a register write, or a batch of journal events (encodeBatch). */
type EntryCommand =
  | { op: 'write'; key: string; value: string; opId: string }
  | { op: 'events'; opId: string; batch: Uint8Array };
type KvRequest =
  | { type: 'kv.write'; key: string; value: string; opId: string; replyTo: Address }
  | { type: 'kv.read'; key: string; opId: string; replyTo: Address }
  | { type: 'store.propose'; opId: string; batch: Uint8Array; replyTo: Address };
type KvReply =
  | { type: 'kv.ok'; opId: string; value?: string | null }
  | { type: 'kv.fail'; opId: string; reason: string }
  /** The batch's entry was applied: its events took effect, or were refused whole (`code`). */
  | { type: 'store.applied'; opId: string; refused: string | null };

interface KvState {
  values: Record<string, string>;
  /** Every command applied, by opId: register writes and event batches. */
  applied: string[];
}

/** A Raft snapshot's data: the register and the store's `serialize()` bytes. */
interface SnapshotData {
  kv: KvState;
  store: Uint8Array;
}

/** How a manager's store reached an index. */
export type StoreReach = 'apply' | 'snapshot install' | 'restart';

/** Test-only store bugs, to show that the store check catches them. */
export type StoreBug =
  /** m1 drops the last event of every batch of two or more events. */
  | 'dropEvent'
  /** Every manager's Raft snapshots hold the store as it was when serialized before (an older index). */
  | 'staleSnapshot'
  /** Snapshots written a step at a time hold the store as it is when the last step ends, not as it was at their index. */
  | 'unisolatedSnapshot';
export const STORE_BUGS: readonly StoreBug[] = ['dropEvent', 'staleSnapshot', 'unisolatedSnapshot'];

export interface ApplierHooks {
  /**
   * Called with the manager's store each time it reaches an index, with `store.serialize()` after
   * a restore and after a batch (whose objects may have changed); without it after an entry that
   * leaves the objects as they were (a register write, a conf change, an empty entry).
   */
  storeReached(node: PeerId, index: number, store: Store, how: StoreReach, serialized: Uint8Array | undefined): void;
  /**
   * The store serialized at `index` for a Raft snapshot; `overlapped`: entries were applied while
   * it was being written, a step at a time.
   */
  storeSerialized(node: PeerId, index: number, serialized: Uint8Array, overlapped: boolean): void;
  /** An event batch was applied at `index` (`refused` set when the store refused it). */
  batchApplied(node: PeerId, index: number, events: number, refused: string | undefined): void;
  readonly bug: StoreBug | undefined;
}

function readSnapshot(data: Uint8Array): { kv: KvState; store: Store } {
  if (data.byteLength === 0) return { kv: { values: {}, applied: [] }, store: new Store() };
  const snapshot = decodeMessage(data) as SnapshotData;
  return { kv: snapshot.kv, store: Store.restore(snapshot.store) };
}

/** The applier's note to itself: write the next step of the Raft snapshot in progress. */
type SnapshotStep = { type: 'store.snapshotStep' };

/**
 * Virtual time between two steps of a snapshot. A sim store is small (a few steps), so each step
 * stands for the many of a big store: entries keep being applied while a snapshot is written.
 */
const SNAPSHOT_STEP_MS = 15;
/** A manager's log writes a snapshot larger than this in chunks (the real default is 1 MiB). */
const SIM_SNAPSHOT_CHUNK_BYTES = 512;

/** A Raft snapshot being written a step at a time (the store's view was captured at `index`). */
interface SnapshotInProgress {
  readonly index: number;
  readonly confState: ConfState;
  readonly kv: KvState;
  readonly writer: StoreSnapshotWriter;
  /** Entries were applied between its steps. */
  overlapped: boolean;
}

function kvActor(node: string, storage: KvLogStorage, options: RaftSimOptions, hooks: ApplierHooks): { kind: string; create: (ctx: ActorContext) => { receive: (m: KvRequest | ApplyMessage | ProposeReply | SnapshotStep) => void } } {
  return {
    kind: 'kv',
    create: (ctx) => {
      // Rebuilt from the log's snapshot at every start; the peer hands out what follows it.
      const snapshot = storage.snapshot();
      let { kv: state, store } = readSnapshot(snapshot.data);
      /**
       * The network may duplicate a forwarded proposal, and the leader then appends it twice: a
       * command already applied is applied once (client sessions, Raft thesis section 6.3).
       */
      let appliedIds = new Set(state.applied);
      let appliedIndex = snapshot.meta.index;
      /** The store's bytes as last serialized (for the staleSnapshot bug only). */
      let previousSerialized = store.serialize();
      hooks.storeReached(node, appliedIndex, store, 'restart', previousSerialized);
      let conf: ConfState = snapshot.meta.confState;
      let lastSnapshotIndex = snapshot.meta.index;
      let snapshotting: SnapshotInProgress | undefined;
      const writes = new Map<string, Address>();
      /** Write requests seen by this incarnation (a duplicate is dropped). */
      const requested = new Set<string>();
      const reads = new Map<string, { key: string; replyTo: Address }>();
      let readyReads: Array<{ index: number; context: string }> = [];
      const peer = `${node}/raft/peer`;
      const serveReads = () => {
        const still: typeof readyReads = [];
        for (const r of readyReads) {
          const read = reads.get(r.context);
          if (read === undefined) continue;
          if (r.index > appliedIndex) {
            still.push(r);
            continue;
          }
          reads.delete(r.context);
          ctx.send(read.replyTo, { type: 'kv.ok', opId: r.context, value: state.values[read.key] ?? null } satisfies KvReply);
        }
        readyReads = still;
      };
      const propose = (opId: string, replyTo: Address, command: EntryCommand): void => {
        // The network may deliver a request twice: a second copy is not a second write (the
        // first may have been refused, and the copy's success would then be a write the
        // client was told failed).
        if (requested.has(opId)) return;
        requested.add(opId);
        writes.set(opId, replyTo);
        ctx.send(peer, { type: 'raft.propose', data: encodeMessage(command), requestId: opId, replyTo: ctx.self });
      };
      /**
       * Applies one normal entry's command to the register or the store, at `index`. True when
       * it ran a batch of events on the store (applied or refused): its objects may have changed.
       */
      const applyCommand = (command: EntryCommand | undefined, index: number): boolean => {
        if (command === undefined || appliedIds.has(command.opId)) {
          // No command, or a repeated one: the store's index moves on with the log, nothing else.
          store.applyBatch([], index);
          return false;
        }
        appliedIds.add(command.opId);
        state.applied.push(command.opId);
        const replyTo = writes.get(command.opId);
        writes.delete(command.opId);
        if (command.op === 'write') {
          store.applyBatch([], index);
          state.values[command.key] = command.value;
          if (replyTo !== undefined) ctx.send(replyTo, { type: 'kv.ok', opId: command.opId } satisfies KvReply);
          return false;
        }
        let events = decodeBatch(command.batch).events;
        if (hooks.bug === 'dropEvent' && node === 'm1' && events.length > 1) events = events.slice(0, -1);
        const result = store.applyBatch(events, index);
        const refused = result.applied ? undefined : result.error.code;
        hooks.batchApplied(node, index, events.length, refused);
        if (replyTo !== undefined) ctx.send(replyTo, { type: 'store.applied', opId: command.opId, refused: refused ?? null } satisfies KvReply);
        return true;
      };
      return {
        receive: (m) => {
          switch (m.type) {
            case 'kv.write':
              propose(m.opId, m.replyTo, { op: 'write', key: m.key, value: m.value, opId: m.opId });
              return;
            case 'store.propose':
              propose(m.opId, m.replyTo, { op: 'events', opId: m.opId, batch: m.batch });
              return;
            case 'kv.read':
              reads.set(m.opId, { key: m.key, replyTo: m.replyTo });
              ctx.send(peer, { type: 'raft.readIndex', context: m.opId });
              return;
            case 'raft.refused': {
              // Refused here: never appended anywhere, a definite failure.
              const replyTo = writes.get(m.requestId);
              writes.delete(m.requestId);
              if (replyTo !== undefined) ctx.send(replyTo, { type: 'kv.fail', opId: m.requestId, reason: m.code } satisfies KvReply);
              return;
            }
            case 'raft.proposed':
              return;
            case 'raft.apply': {
              if (m.snapshot !== undefined) {
                ({ kv: state, store } = readSnapshot(m.snapshot.data));
                appliedIds = new Set(state.applied);
                appliedIndex = m.snapshot.meta.index;
                conf = m.snapshot.meta.confState;
                lastSnapshotIndex = m.snapshot.meta.index;
                hooks.storeReached(node, appliedIndex, store, 'snapshot install', store.serialize());
              }
              for (const entry of m.entries) {
                if (entry.index <= appliedIndex) continue;
                appliedIndex = entry.index;
                if (snapshotting !== undefined) snapshotting.overlapped = true;
                let batch = false;
                if (entry.type === 'confChange') {
                  conf = nextConfState(conf, decodeConfChange(entry.data));
                  applyCommand(undefined, entry.index);
                } else {
                  batch = applyCommand(entry.data.byteLength === 0 ? undefined : (decodeMessage(entry.data) as EntryCommand), entry.index);
                }
                hooks.storeReached(node, appliedIndex, store, 'apply', batch ? store.serialize() : undefined);
              }
              readyReads.push(...m.readStates);
              serveReads();
              if (appliedIndex - lastSnapshotIndex >= options.snapshotIntervalEntries && snapshotting === undefined) {
                // Written a step at a time, as a manager does not to stop the world: the store's
                // view is captured now, and entries applied between the steps must not show in it
                // (the store check compares its bytes with the digest recorded at this index).
                lastSnapshotIndex = appliedIndex;
                snapshotting = { index: appliedIndex, confState: conf, kv: { values: { ...state.values }, applied: [...state.applied] }, writer: store.snapshotWriter(), overlapped: false };
                ctx.setTimer('snapshotStep', SNAPSHOT_STEP_MS, { type: 'store.snapshotStep' } satisfies SnapshotStep);
              }
              return;
            }
            case 'store.snapshotStep': {
              if (snapshotting === undefined || !snapshotting.writer.step()) {
                if (snapshotting !== undefined) ctx.setTimer('snapshotStep', SNAPSHOT_STEP_MS, { type: 'store.snapshotStep' } satisfies SnapshotStep);
                return;
              }
              const { index, confState, kv, writer, overlapped } = snapshotting;
              snapshotting = undefined;
              const serialized = hooks.bug === 'unisolatedSnapshot' ? store.serialize() : writer.bytes();
              hooks.storeSerialized(node, index, serialized, overlapped);
              const data: SnapshotData = { kv, store: hooks.bug === 'staleSnapshot' ? previousSerialized : serialized };
              previousSerialized = serialized;
              // The log refuses a snapshot at or below its own (a newer one may have been installed meanwhile).
              // Owned bytes: the log keeps them (and seals its chunks from them over later turns).
              ctx.send(`${node}/raft/log`, { type: 'log.snapshot', index, confState, data: encodeMessageOwned(data), keepEntries: options.snapshotTailEntries });
              return;
            }
            default:
              return;
          }
        },
      };
    },
  };
}

// ---- the run ------------------------------------------------------------------------------

export interface RaftSimRunOptions {
  readonly bug?: RaftBug;
  /** A planted store bug (tests only): the store check must catch it. */
  readonly storeBug?: StoreBug;
  readonly traceFile?: string;
}

/** Past this many indices back, the store bytes behind a digest are dropped (the digest stays). */
const STORE_BYTES_KEPT_INDICES = 256;

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Where a manager's store objects last may have changed: the index, and the digest of `serialize()` there. */
interface StoreAnchor {
  readonly index: number;
  readonly digest: string;
}

/** The first object on which two serialized stores differ, for a failure message. */
function storeDifference(expected: Uint8Array | undefined, actual: Uint8Array, expectedNode: PeerId, actualNode: PeerId): string {
  if (expected === undefined) return '';
  type Serialized = { index: number; objects: Record<string, Array<{ id: string }>> };
  const [a, b] = [decodeMessage(expected) as Serialized, decodeMessage(actual) as Serialized];
  // The store's snapshot format is the store's own: a shape other than this one names no object.
  if (typeof a.objects !== 'object' || a.objects === null || typeof b.objects !== 'object' || b.objects === null) return '';
  if (a.index !== b.index) return `; store index ${b.index}, expected ${a.index}`;
  for (const kind of Object.keys(a.objects).sort()) {
    const theirs = new Map((a.objects[kind] ?? []).map((o) => [o.id, sha256(encodeMessage(o))]));
    const ours = new Map((b.objects[kind] ?? []).map((o) => [o.id, sha256(encodeMessage(o))]));
    for (const id of [...new Set([...theirs.keys(), ...ours.keys()])].sort()) {
      if (!ours.has(id)) return `; first difference: ${kind} ${id} is in ${expectedNode}'s store, not in ${actualNode}'s`;
      if (!theirs.has(id)) return `; first difference: ${kind} ${id} is in ${actualNode}'s store, not in ${expectedNode}'s`;
      if (ours.get(id) !== theirs.get(id)) return `; first difference: ${kind} ${id} differs`;
    }
  }
  return '';
}

const hashEntry = (e: Entry): string => `${e.term}/${e.type}/${createHash('sha256').update(e.data).digest('hex').slice(0, 16)}`;

export async function runRaftSim(seed: string | number, runOptions: RaftSimRunOptions = {}): Promise<RaftSimRun> {
  const options = chooseRaftOptions(new SeededRandom(`raft/${seed}`));
  const bug = runOptions.bug;
  const peers = [...Array(options.peers).keys()].map((i) => `m${i + 1}`);
  const clientNode = 'client';
  const storages = new Map<PeerId, KvLogStorage>();
  const history: HistoryOp[] = [];
  const opsInFlight = new Map<string, HistoryOp>();
  const sometimes: RaftSimSometimes = {
    leaderChanges: 0, snapshotInstalls: 0, membershipChangesUnderPartition: 0, tornWriteRecoveries: 0, crashes: 0, pauses: 0, storageFailures: 0,
    storeRestores: 0, snapshotsOverlappingApplies: 0, refusedBatches: 0, storeEventsApplied: 0, encryptedManagers: 0, dekRotations: 0, mixedKeyRecoveries: 0, leaderGoneHints: 0, wrongHints: 0,
  };
  // The store check: every manager's store equals every other's at the same applied index. The
  // digest is the sha256 of `serialize()`, taken wherever the objects may have changed (after a
  // batch, applied or refused, and after a restore) and for every Raft snapshot. An entry that
  // leaves the objects alone (a register write, a conf change, an empty entry) moves the store's
  // index only: there the check compares the anchor, the index and digest at which each
  // manager's objects last may have changed, rather than serialize the same objects again.
  /** Per index, the first digest of `serialize()` taken there. */
  const serializedAt = new Map<number, { digest: string; node: PeerId; how: StoreReach | 'snapshot' }>();
  /** The bytes behind recent digests, to name the first differing object. */
  const storeBytesAt = new Map<number, Uint8Array>();
  /** Per index, the anchor of the first manager's store to reach it. */
  const storeAt = new Map<number, { anchor: StoreAnchor; node: PeerId; how: StoreReach }>();
  /** Each manager's anchor as of the last index it reached. */
  const anchors = new Map<PeerId, StoreAnchor>();
  /** Each manager's store as last reached: what the orchestrators read (possibly stale). */
  const liveStores = new Map<PeerId, Store>();
  /** Indices of event batches already counted in `sometimes`. */
  const batchesCounted = new Set<number>();
  const checkSerialized = (node: PeerId, index: number, bytes: Uint8Array, how: StoreReach | 'snapshot'): { digest: string; known: boolean } => {
    const digest = sha256(bytes);
    const first = serializedAt.get(index);
    if (first === undefined) {
      serializedAt.set(index, { digest, node, how });
      storeBytesAt.set(index, bytes);
      storeBytesAt.delete(index - STORE_BYTES_KEPT_INDICES);
      return { digest, known: false };
    }
    if (first.digest !== digest) {
      cluster.fail(`store divergence at index ${index}: ${node}'s store (by ${how}) is ${digest.slice(0, 16)} but ${first.node}'s (by ${first.how}) was ${first.digest.slice(0, 16)}${storeDifference(storeBytesAt.get(index), bytes, first.node, node)}`);
    }
    return { digest, known: true };
  };
  const applierHooks: ApplierHooks = {
    bug: runOptions.storeBug,
    storeReached: (node, index, store, how, bytes) => {
      liveStores.set(node, store);
      if (how !== 'apply' && store.count('cluster') > 0) sometimes.storeRestores++;
      if (store.index !== index) cluster.fail(`store index: ${node}'s store is at index ${store.index} after ${how} at applied index ${index}`);
      let anchor = anchors.get(node);
      if (bytes !== undefined) {
        const { digest, known } = checkSerialized(node, index, bytes, how);
        // A batch moves the anchor here. A restored store whose bytes matched those of the
        // managers that applied their way here takes their anchor.
        const applied = storeAt.get(index)?.anchor;
        anchor = how === 'apply' || !known || applied === undefined ? { index, digest } : applied;
      }
      assert(anchor !== undefined, () => `${node} reached index ${index} by ${how} with no anchor`);
      anchors.set(node, anchor);
      const first = storeAt.get(index);
      if (first === undefined) storeAt.set(index, { anchor, node, how });
      else if (first.anchor.index !== anchor.index || first.anchor.digest !== anchor.digest) {
        cluster.fail(`store divergence at index ${index}: ${node}'s store (by ${how}) last changed at index ${anchor.index} to ${anchor.digest.slice(0, 16)} but ${first.node}'s (by ${first.how}) at ${first.anchor.index} to ${first.anchor.digest.slice(0, 16)}`);
      }
    },
    storeSerialized: (node, index, bytes, overlapped) => {
      if (overlapped) sometimes.snapshotsOverlappingApplies++;
      checkSerialized(node, index, bytes, 'snapshot');
    },
    batchApplied: (_node, index, events, refused) => {
      if (batchesCounted.has(index)) return;
      batchesCounted.add(index);
      if (refused !== undefined) sometimes.refusedBatches++;
      else sometimes.storeEventsApplied += events;
    },
  };
  /** Each manager's KeyStore (encrypted seeds), as its current incarnation opened it. */
  const keyStores = new Map<PeerId, { keyStore: KeyStore; keyFile: SimKeyFile; system: unknown }>();
  /** Managers that rotated their DEK: the id of the new key, and their log's last index then. */
  const rotations = new Map<PeerId, { keyId: number; lastIndex: number }>();
  const leaderOfTerm = new Map<number, PeerId>();
  let highestLeaderTerm = 0;
  let currentLeader: PeerId = '';
  /** Entry identity by index, as first applied anywhere (state-machine safety). */
  const appliedAt = new Map<number, string>();
  const lastAppliedBy = new Map<PeerId, number>();
  /** Votes granted (seen delivered): the voter must still hold them after a restart. */
  const votesGranted = new Map<PeerId, { term: number; candidate: PeerId }>();
  let partitioned = false;
  let faultsOn = true;
  /** The configuration as committed (from the first application of each conf change). */
  let membership: ConfState = { voters: [...peers], learners: [] };
  let now = () => 0;

  // Log Matching (Figure 3): entries with the same index and term are the same entry, on every
  // peer's log. Checked every few hundred deliveries and at the end.
  let deliveries = 0;
  const checkLogMatching = (): void => {
    const seen = new Map<string, string>();
    for (const [id, storage] of storages) {
      if (!cluster.node(id).up) continue;
      const first = storage.firstIndex();
      const last = storage.lastIndex();
      if (last < first) continue;
      for (const e of storage.entries(first, last + 1)) {
        const key = `${e.index}/${e.term}`;
        const id2 = hashEntry(e);
        const known = seen.get(key);
        if (known === undefined) seen.set(key, id2);
        else if (known !== id2) cluster.fail(`log matching: two different entries at index ${e.index} term ${e.term} (one on ${id})`);
      }
    }
  };

  /** Each peer's role, as its peer actor last reported it. */
  const roleOf = new Map<PeerId, string>();
  const observe = (node: string, event: InspectionEvent): void => {
    if (event.type === 'snapshot.changed' && event.address === `${node}/raft/peer`) {
      const role = (event.state as { role?: string }).role ?? '';
      if (role === 'leader' && roleOf.get(node) !== 'leader' && faultsOn) strand?.leaderTookOffice(node);
      roleOf.set(node, role);
      return;
    }
    if (event.type !== 'message.delivered') return;
    if (event.to === `${node}/raft/peer` && messageType(event.message) === 'raft.propose' && roleOf.get(node) === 'leader' && faultsOn) strand?.proposalTaken(node);
    if (++deliveries % 500 === 0) checkLogMatching();
    if (event.to === `${node}/raft/log` && messageType(event.message) === 'log.save' && faultsOn && strand?.active !== true && options.crashMeanIntervalMs > 0 && options.crashDuringWriteProbability > 0) {
      if (nemesis.chance(options.crashDuringWriteProbability)) {
        // The write is issued later in this instant; its fsync completes within the latency.
        loop.schedule(nemesis.int(1, Math.max(1, options.diskLatencyMsMax)), () => {
          if (!cluster.node(node).up) return;
          cluster.crash(node);
          loop.schedule(nemesis.int(100, 3000), () => cluster.restart(node));
        });
      }
      return;
    }
    const payload = event.message as { type?: string; message?: Message };
    if (payload.type === 'raft.message' && payload.message !== undefined) {
      const m = payload.message;
      if (m.type === 'app') strand?.appendDelivered(m.from, m.term, m.commit);
      else if (m.type === 'appResp' && !m.reject && faultsOn) strand?.appendAcked(m.to, m.from, m.term, m.index);
      else if (m.type === 'prop' && roleOf.get(node) === 'leader' && faultsOn) strand?.proposalTaken(node);
      if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        const known = leaderOfTerm.get(m.term);
        if (known === undefined) {
          leaderOfTerm.set(m.term, m.from);
          if (m.term > highestLeaderTerm) {
            if (currentLeader !== '' && currentLeader !== m.from) sometimes.leaderChanges++;
            highestLeaderTerm = m.term;
            currentLeader = m.from;
            if (options.leaderChurn && faultsOn && strand?.active !== true && nemesis.chance(0.6)) {
              const leader = m.from;
              loop.schedule(nemesis.int(1, 60), () => {
                if (!faultsOn) return;
                const others = peers.filter((p) => p !== leader);
                trace.record({ t: loop.now(), kind: 'partition', a: [leader], b: others, asymmetric: false, churn: true });
                network.partition([leader], others);
                loop.schedule(nemesis.int(300, 2500), () => {
                  if (!faultsOn) return;
                  for (const p of others) {
                    network.unblock(leader, p);
                    network.unblock(p, leader);
                  }
                  strand?.keepCut();
                });
              });
            }
          }
        } else if (known !== m.from) {
          cluster.fail(`election safety: two leaders in term ${m.term}: ${known} and ${m.from}`);
        }
      } else if (m.type === 'voteResp' && !m.reject) {
        const previous = votesGranted.get(m.from);
        if (previous === undefined || m.term > previous.term) votesGranted.set(m.from, { term: m.term, candidate: m.to });
      }
      return;
    }
    if (payload.type === 'raft.apply' && event.to === `${node}/kv`) {
      const apply = payload as ApplyMessage;
      if (apply.snapshot !== undefined) {
        sometimes.snapshotInstalls++;
        lastAppliedBy.set(node, apply.snapshot.meta.index);
      }
      for (const entry of apply.entries) {
        const last = lastAppliedBy.get(node) ?? 0;
        if (entry.index <= last) continue;
        if (entry.index !== last + 1) cluster.fail(`${node} applied entry ${entry.index} after ${last}: a gap`);
        lastAppliedBy.set(node, entry.index);
        const id = hashEntry(entry);
        const known = appliedAt.get(entry.index);
        if (known === undefined) {
          appliedAt.set(entry.index, id);
          if (entry.type === 'confChange') membership = nextConfState(membership, decodeConfChange(entry.data));
        }
        else if (known !== id) cluster.fail(`state machine safety: entry ${entry.index} applied as ${known} elsewhere but as ${id} on ${node}`);
      }
    }
  };

  const boot: BootNode = async (node) => {
    const { system, env } = node;
    if (node.id === clientNode) {
      system.spawn('clients', plain<KvReply>('clients', (m) => {
        // An orchestrator's batch: applied, refused whole by the store, or not proposed.
        if (batchesInFlight.delete(m.opId)) return;
        if (m.type === 'store.applied') return;
        const op = opsInFlight.get(m.opId);
        if (op === undefined) return;
        opsInFlight.delete(m.opId);
        const done = op as { completedAt?: number; output?: string | null | boolean; failed?: boolean };
        if (m.type === 'kv.fail') done.failed = true;
        else {
          done.completedAt = now();
          if (op.op.kind === 'read') done.output = m.value ?? null;
        }
      }));
      return;
    }
    const kv = await node.storage.openKv('raft-log');
    let storage: KvLogStorage;
    try {
      let cipher: LogCipher | undefined;
      if (options.encryptedAtRest) {
        // Keys from the Env's seeded randomness; the key file on this manager's disk.
        const keyRandom = env.random.fork('keys');
        const keys = await openKeyStore(node.storage, loop, (length) => keyRandom.bytes(length));
        if (node.system !== system) return;
        if (!keyStores.has(node.id)) sometimes.encryptedManagers++;
        keyStores.set(node.id, { ...keys, system });
        cipher = keys.keyStore.cipher;
      }
      // Small chunks, so that the simulator's snapshots (kilobytes) are written in chunks, through its crashes and torn writes.
      storage = await KvLogStorage.open(kv, { initialConfState: { voters: peers, learners: [] }, snapshotChunkBytes: SIM_SNAPSHOT_CHUNK_BYTES, ...(cipher !== undefined ? { cipher } : {}) });
      // Old records stay readable after a rotation: the log opened on both keys.
      if (rotations.has(node.id) && (await storage.keyIdsInUse()).size > 1) sometimes.mixedKeyRecoveries++;
    } catch (error) {
      // Recovery writes can meet a failed fsync too: the node dies again and is restarted later.
      if (!String(error).includes('simulated fsync failure')) throw error;
      sometimes.storageFailures++;
      cluster.crash(node.id);
      loop.schedule(1000, () => cluster.restart(node.id));
      return;
    }
    if (node.system !== system) return;
    storages.set(node.id, storage);
    if (storage.recovery.tornTailDropped > 0) sometimes.tornWriteRecoveries++;
    const { hardState } = storage.initialState();
    const granted = votesGranted.get(node.id);
    if (granted !== undefined && bug !== 'forgetVoteOnRestart') {
      const kept = hardState.term > granted.term || (hardState.term === granted.term && hardState.vote === granted.candidate);
      if (!kept) cluster.fail(`vote not durable: ${node.id} granted its vote in term ${granted.term} to ${granted.candidate} but restarted with term ${hardState.term} vote '${hardState.vote}'`);
    }
    lastAppliedBy.set(node.id, storage.snapshot().meta.index);
    system.spawn('kv', kvActor(node.id, storage, options, applierHooks));
    system.spawn('raft', raftProps({
      id: node.id,
      storage,
      random: env.random.fork('raft'),
      peerAddress: (peer) => `${peer}/raft/peer`,
      applier: `${node.id}/kv`,
      tickMs: options.tickMs,
      config: { electionTicks: options.electionTicks, heartbeatTicks: 1, snapshotChunkBytes: 512, appendBytesMax: options.appendBytesMax, inflightAppendsMax: options.inflightAppendsMax, asyncStorageWrites: options.asyncStorageWrites },
      ...(bug !== undefined ? { bugs: [bug] } : {}),
    }));
  };

  const cluster = new SimCluster({
    seed: `raft/${seed}`,
    nodeIds: [...peers, clientNode],
    network: { delayMsMin: options.delayMsMin, delayMsMax: options.delayMsMax, lossProbability: options.lossProbability, duplicateProbability: options.duplicateProbability, reorder: options.reorder },
    disk: { writeLatencyMsMax: options.diskLatencyMsMax, tornWriteProbability: options.tornWriteProbability, syncFailureProbability: options.syncFailureProbability },
    boot,
    observe,
    // Every process crash: the other nodes' transports find its address refusing (the hints).
    onCrash: (node) => hintGone(node),
    onRootFailure: (node, failure) => {
      // A failed fsync crashes the node, as it must; any other escalation is a bug.
      if (hasCode(failure.error, 'STORAGE_FAILED')) {
        sometimes.storageFailures++;
        loop.schedule(nemesis.int(100, 3000), () => cluster.restart(node));
        return 'crash';
      }
      return 'fail';
    },
    ...(runOptions.traceFile ? { trace: { filePath: runOptions.traceFile } } : {}),
  });
  const { loop, network, trace } = cluster;
  now = () => loop.now();
  trace.record({ t: 0, kind: 'options', seed: String(seed), options, bug: bug ?? null });
  const workload = cluster.random.fork('workload');
  const nemesis = cluster.random.fork('nemesis');
  // The transport's hint after a process crash (a refused reconnect), from a stream of its own.
  const hints = cluster.random.fork('hints');
  const sendGone = (to: PeerId, gone: PeerId, wrong: boolean): void => {
    trace.record({ t: loop.now(), kind: 'hint.peerGone', to, gone, wrong });
    if (wrong) sometimes.wrongHints++;
    else sometimes.leaderGoneHints++;
    cluster.node(to).system?.send(`${to}/raft/peer`, { type: 'raft.peerGone', peer: gone });
  };
  const hintGone = (crashed: PeerId): void => {
    if (options.leaderGoneHintProbability <= 0) return;
    for (const p of peers) {
      if (p === crashed || !hints.chance(options.leaderGoneHintProbability)) continue;
      loop.schedule(hints.int(1, 60), () => {
        if (!cluster.node(crashed).up && cluster.node(p).up) sendGone(p, crashed, false);
      });
    }
  };
  const strand = options.strandedEntries
    ? new StrandedEntries({ peers, voters: () => membership.voters, loop, network, trace, random: cluster.random.fork('strand') })
    : undefined;
  cluster.startAll();

  // Clients: each has at most one operation in flight; an operation unanswered after a while is
  // indeterminate (the client gives up, as a real one would).
  let opSeq = 0;
  let clientsActive = true;
  const opTimeoutMs = 4000;
  const issue = (client: string): void => {
    if (!clientsActive) return;
    const target = workload.pick(peers);
    const key = `k${workload.int(1, options.keys)}`;
    const opId = `${client}.${++opSeq}`;
    const isWrite = workload.chance(0.6);
    const op: HistoryOp = isWrite
      ? { id: opSeq, client, op: { kind: 'write', key, value: opId }, invokedAt: loop.now() }
      : { id: opSeq, client, op: { kind: 'read', key }, invokedAt: loop.now() };
    history.push(op);
    opsInFlight.set(opId, op);
    const request: KvRequest = isWrite ? { type: 'kv.write', key, value: opId, opId, replyTo: `${clientNode}/clients` } : { type: 'kv.read', key, opId, replyTo: `${clientNode}/clients` };
    cluster.node(clientNode).system?.send(`${target}/kv`, request, `${clientNode}/clients`);
    const next = (): void => issue(client);
    loop.schedule(opTimeoutMs, () => {
      // Unanswered: indeterminate from here on (completedAt stays undefined).
      opsInFlight.delete(opId);
    });
    const waitForIt = (): void => {
      if (!opsInFlight.has(opId)) loop.schedule(workload.int(1, options.opIntervalMsMax), next);
      else loop.schedule(50, waitForIt);
    };
    loop.schedule(1, waitForIt);
  };
  for (let c = 0; c < options.clients; c++) loop.schedule(500 + workload.int(0, 500), () => issue(`c${c}`));

  // Orchestrators: each reads a manager's store (possibly stale), proposes the next batch through
  // a manager, and waits for its outcome (applied or refused) or gives up after a while.
  const orchestration = cluster.random.fork('orchestrator');
  const batchesInFlight = new Set<string>();
  let batchSeq = 0;
  let objectSeq = 0;
  const orchestrate = (client: string): void => {
    if (!clientsActive) return;
    const next = (): void => {
      loop.schedule(orchestration.int(1, options.orchestratorIntervalMsMax), () => orchestrate(client));
    };
    const readable = peers.filter((p) => cluster.node(p).up && liveStores.has(p));
    const read = readable.length > 0 ? liveStores.get(orchestration.pick(readable)) : undefined;
    const events = read === undefined ? undefined : nextEventBatch(read, orchestration, loop.now(), () => `${client}-${++objectSeq}`);
    if (events === undefined) {
      next();
      return;
    }
    const opId = `${client}.${++batchSeq}`;
    batchesInFlight.add(opId);
    const target = orchestration.pick(peers);
    cluster.node(clientNode).system?.send(`${target}/kv`, { type: 'store.propose', opId, batch: encodeBatch(events), replyTo: `${clientNode}/clients` } satisfies KvRequest, `${clientNode}/clients`);
    const sentAt = loop.now();
    const waitForIt = (): void => {
      if (!batchesInFlight.has(opId) || loop.now() - sentAt >= opTimeoutMs) {
        batchesInFlight.delete(opId);
        next();
      } else loop.schedule(50, waitForIt);
    };
    loop.schedule(1, waitForIt);
  };
  for (let o = 0; o < options.orchestrators; o++) loop.schedule(300 + orchestration.int(0, 500), () => orchestrate(`o${o + 1}`));

  // Encryption at rest: one manager rotates its DEK (the key file holds the new key before any
  // record is sealed with it); new entries and snapshots use the new key, old ones stay readable.
  if (options.encryptedAtRest && options.dekRotationAtMs > 0) {
    const rotation = cluster.random.fork('rotation');
    loop.schedule(options.dekRotationAtMs, () => {
      const up = peers.filter((p) => cluster.node(p).up && keyStores.get(p)?.system === cluster.node(p).system && storages.has(p));
      if (up.length === 0) return;
      const id = up.includes(currentLeader) && rotation.chance(0.5) ? currentLeader : rotation.pick(up);
      const { keyStore, keyFile } = keyStores.get(id) as { keyStore: KeyStore; keyFile: SimKeyFile };
      const lastIndex = (storages.get(id) as KvLogStorage).lastIndex();
      keyFile.run(() => keyStore.rotateDek()).then((keyId) => {
        rotations.set(id, { keyId, lastIndex });
        sometimes.dekRotations++;
        trace.record({ t: loop.now(), kind: 'dek.rotated', node: id, keyId });
      }, (error: unknown) => {
        // A failed fsync of the key file: the rotation did not happen (the old key still seals).
        if (!String(error).includes('simulated fsync failure')) cluster.fail(`DEK rotation on ${id} failed: ${String(error)}`);
      });
    });
  }

  // Nemesis.
  const schedule = (meanMs: number, fn: () => void, random: Random = nemesis): void => {
    if (meanMs <= 0) return;
    for (let at = expDelay(random, meanMs); at < options.safetyPhaseMs; at += expDelay(random, meanMs)) loop.schedule(at, fn);
  };
  /** While a stranded-entries episode runs, other faults are skipped: they would undo its cuts or stop the leaders it follows. */
  const fault = (fn: () => void) => (): void => {
    if (strand?.active !== true) fn();
  };
  schedule(options.crashMeanIntervalMs, fault(() => {
    const id = nemesis.pick(peers);
    if (!cluster.node(id).up) return;
    cluster.crash(id);
    loop.schedule(nemesis.int(100, 4000), () => cluster.restart(id));
  }));
  schedule(options.pauseMeanIntervalMs, fault(() => {
    // Half the pauses hit the leader: a leader that wakes up after its term ended must not act on it.
    const id = currentLeader !== '' && nemesis.chance(0.5) ? currentLeader : nemesis.pick(peers);
    cluster.pause(id, nemesis.int(100, 3 * options.electionTicks * options.tickMs));
  }));
  schedule(options.leaderCrashMeanIntervalMs, fault(() => {
    const id = currentLeader;
    if (id === '' || !cluster.node(id).up) return;
    cluster.crash(id);
    loop.schedule(nemesis.int(100, 3000), () => cluster.restart(id));
  }));
  // A wrong hint: a follower told that its live leader's process is gone. It must disrupt nothing.
  schedule(options.wrongHintMeanIntervalMs, fault(() => {
    const leader = currentLeader;
    if (leader === '' || !cluster.node(leader).up) return;
    const followers = peers.filter((p) => p !== leader && cluster.node(p).up);
    if (followers.length > 0) sendGone(hints.pick(followers), leader, true);
  }), hints);
  if (options.partitions !== 'off') {
    schedule(options.partitionMeanIntervalMs, fault(() => {
      const shuffled = peers.map((id) => ({ id, key: nemesis.uint32() })).sort((a, b) => a.key - b.key).map((x) => x.id);
      const cut = nemesis.int(1, peers.length - 1);
      const isolateLeader = currentLeader !== '' && nemesis.chance(options.isolateLeaderProbability);
      const [a, b] = isolateLeader ? [[currentLeader], peers.filter((p) => p !== currentLeader)] : [shuffled.slice(0, cut), shuffled.slice(cut)];
      const asymmetric = options.partitions === 'asymmetric' && nemesis.chance(0.5);
      trace.record({ t: loop.now(), kind: 'partition', a, b, asymmetric });
      if (asymmetric) for (const x of a) for (const y of b) network.block(x, y);
      else network.partition(a, b);
      partitioned = true;
      loop.schedule(nemesis.int(200, 5000), () => {
        trace.record({ t: loop.now(), kind: 'heal' });
        network.heal();
        strand?.keepCut();
        partitioned = false;
      });
    }));
  }
  if (options.membershipChanges) {
    // Remove a voter, then add it back as a learner and promote it: one change at a time.
    const removed: PeerId[] = [];
    schedule(5000, () => {
      const leader = currentLeader;
      if (leader === '' || !cluster.node(leader).up) return;
      const change: ConfChange = removed.length > 0
        ? { type: 'addVoter', peer: removed.shift() as PeerId }
        : { type: 'removePeer', peer: nemesis.pick(peers.filter((p) => p !== leader)) };
      if (change.type === 'removePeer' && peers.length <= 3) return;
      if (change.type === 'removePeer') removed.push(change.peer);
      if (partitioned) sometimes.membershipChangesUnderPartition++;
      trace.record({ t: loop.now(), kind: 'confChange', change });
      cluster.node(leader).system?.send(`${leader}/raft/peer`, { type: 'raft.proposeConfChange', change });
    });
  }

  await cluster.run(options.safetyPhaseMs);

  // Liveness: everything heals; a leader within 10 election timeouts; every client op resolved.
  if (cluster.failure === undefined) {
    clientsActive = false;
    faultsOn = false;
    trace.record({ t: loop.now(), kind: 'liveness' });
    strand?.stop();
    network.heal();
    network.setLossProbability(0);
    for (const node of cluster.nodes) node.storage.setFaults({ syncFailureProbability: 0, tornWriteProbability: 0 });
    for (const id of peers) cluster.restart(id);
    const electionMs = options.electionTicks * options.tickMs;
    const healedAt = loop.now();
    const termAtHeal = highestLeaderTerm;
    // A leader within 10 election timeouts: one that is up and heard from after the heal.
    await cluster.run(healedAt + 10 * 2 * electionMs, () => currentLeaderUp() && (highestLeaderTerm > termAtHeal || loop.now() > healedAt + 2 * electionMs));
    if (cluster.failure === undefined && !currentLeaderUp()) cluster.fail(`no liveness: no leader within 10 election timeouts (${10 * 2 * electionMs} ms) after healing`);
    // Through every peer still in the configuration (a removed peer hears of no commit), a
    // client writes until one write succeeds, as a real client retries: a proposal forwarded to
    // a leader that then lost office is dropped silently, in etcd's Raft as in ours. Liveness
    // means that every such client succeeds within the deadline.
    const members = peers.filter((p) => membership.voters.includes(p) || membership.learners.includes(p));
    const succeeded = new Set<PeerId>();
    const attemptMs = 3000;
    const attempt = (id: PeerId, n: number): void => {
      if (succeeded.has(id) || cluster.failure !== undefined) return;
      const opId = `final.${id}.${n}`;
      const op: HistoryOp = { id: ++opSeq, client: `final-${id}`, op: { kind: 'write', key: 'k1', value: opId }, invokedAt: loop.now() };
      history.push(op);
      opsInFlight.set(opId, op);
      cluster.node(clientNode).system?.send(`${id}/kv`, { type: 'kv.write', key: 'k1', value: opId, opId, replyTo: `${clientNode}/clients` } satisfies KvRequest, `${clientNode}/clients`);
      const check = (waited: number): void => {
        if (op.completedAt !== undefined) {
          succeeded.add(id);
          return;
        }
        if (opsInFlight.has(opId) && waited < attemptMs) {
          loop.schedule(50, () => check(waited + 50));
          return;
        }
        opsInFlight.delete(opId);
        attempt(id, n + 1);
      };
      loop.schedule(50, () => check(50));
    };
    for (const id of members) attempt(id, 1);
    // Membership may still change as the last conf changes apply: judge by the latest one.
    const isMember = (id: PeerId) => membership.voters.includes(id) || membership.learners.includes(id);
    await cluster.run(loop.now() + 30_000, () => members.every((id) => succeeded.has(id) || !isMember(id)));
    const stuck = members.filter((id) => !succeeded.has(id) && isMember(id));
    if (cluster.failure === undefined && stuck.length > 0) {
      cluster.fail(`no liveness: 30 s after healing, no write through ${stuck.join(', ')} succeeded (leader: ${currentLeader || 'none'})`);
    }
    await cluster.run(loop.now() + 5000);
  }

  function currentLeaderUp(): boolean {
    return currentLeader !== '' && cluster.node(currentLeader).up;
  }

  // End checks: acknowledged writes are applied everywhere still in the cluster, and the history
  // is linearizable.
  if (cluster.failure === undefined) {
    const acked = history.filter((h) => h.op.kind === 'write' && h.completedAt !== undefined);
    const maxApplied = Math.max(...[...lastAppliedBy.values()]);
    for (const h of acked) {
      const value = (h.op as { value: string }).value;
      const found = [...appliedAt.entries()].some(([index]) => index <= maxApplied) && appliedOpIds().has(value);
      if (!found) {
        cluster.fail(`acknowledged write lost: ${value} was acknowledged but no peer applied it`);
        break;
      }
    }
  }
  if (cluster.failure === undefined) checkLogMatching();
  // A manager that rotated its DEK and appended since seals with the new key.
  for (const [id, rotated] of rotations) {
    const storage = storages.get(id);
    if (cluster.failure !== undefined || storage === undefined || !cluster.node(id).up || storage.lastIndex() <= rotated.lastIndex) continue;
    const inUse = await storage.keyIdsInUse();
    if (!inUse.has(rotated.keyId)) cluster.fail(`DEK rotation: ${id} rotated to key ${rotated.keyId} and appended since, but its log holds no record sealed with it (keys in use: ${[...inUse].join(', ')})`);
  }
  if (cluster.failure === undefined && currentLeader !== '' && storages.has(currentLeader)) {
    // Leader Completeness (Figure 3): every entry applied anywhere is in the final leader's log
    // (or below its snapshot).
    const leaderLog = storages.get(currentLeader) as KvLogStorage;
    const first = leaderLog.firstIndex();
    for (const [index, id] of appliedAt) {
      if (index < first || index > leaderLog.lastIndex()) continue;
      const entry = leaderLog.entries(index, index + 1)[0] as Entry;
      if (hashEntry(entry) !== id) {
        cluster.fail(`leader completeness: entry ${index} was applied as ${id} but leader ${currentLeader} holds ${hashEntry(entry)}`);
        break;
      }
    }
  }
  if (cluster.failure === undefined) {
    const result = checkLinearizable(history);
    if (!result.ok && result.failure !== undefined) cluster.fail(`not linearizable: ${result.failure.message}`);
  }

  function appliedOpIds(): Set<string> {
    const ids = new Set<string>();
    for (const storage of storages.values()) {
      const snap: Snapshot = storage.snapshot();
      if (snap.data.byteLength > 0) for (const id of (decodeMessage(snap.data) as SnapshotData).kv.applied) ids.add(id);
      const first = storage.firstIndex();
      const last = storage.lastIndex();
      if (last >= first) {
        for (const e of storage.entries(first, last + 1)) {
          if (e.type === 'normal' && e.data.byteLength > 0) ids.add((decodeMessage(e.data) as EntryCommand).opId);
        }
      }
    }
    return ids;
  }

  const counts = { total: history.length, ok: history.filter((h) => h.completedAt !== undefined).length, failed: history.filter((h) => h.failed === true).length, indeterminate: 0 };
  counts.indeterminate = counts.total - counts.ok - counts.failed;
  sometimes.crashes = cluster.crashes.count;
  sometimes.pauses = cluster.pauses.count;
  trace.record({ t: loop.now(), kind: 'end', failure: cluster.failure ?? null, sometimes, ops: counts });
  await cluster.finish();
  return {
    seed: String(seed),
    options,
    bug,
    ok: cluster.failure === undefined,
    failure: cluster.failure,
    traceDigest: trace.digest(),
    virtualMs: loop.now(),
    events: loop.eventsProcessed,
    ops: counts,
    sometimes,
  };
}

function hasCode(error: unknown, code: string): boolean {
  for (let e: unknown = error; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === code) return true;
  }
  return false;
}

function expDelay(random: Random, meanMs: number): number {
  return Math.max(1, Math.round(-Math.log(1 - random.float()) * meanMs));
}


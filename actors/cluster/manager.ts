// The manager's state actor: the applier of the Raft peer and the door through which the control
// API writes and reads. It applies every committed entry, in order, to the store (journal events)
// and to the security state (actors/cluster/security.ts); it proposes the API's commands and
// answers each once its entry has applied (or failed), and serves linearizable reads through
// ReadIndex: a read waits until this manager has applied the index the leader confirmed. Its
// snapshots (the Raft snapshot's data) hold the store, the security state and the recent command
// ids, written a step at a time so that a large store does not stop the world.
import type { ConfState } from '../../journal/index.js';
import { Store, decodeBatch, type StoreSnapshotWriter } from '../../journal/index.js';
import type { JournalEvent } from '../../journal/index.js';
import { decodeConfChange, nextConfState, type ApplyMessage, type ConfChange, type ProposeReply, type SoftStateMessage } from '../../raft/index.js';
import { InvariantViolation, decodeMessage, encodeAround, encodeMessageOwned, type ActorContext, type Address, type Props } from '../../runtime/index.js';
import type { ManagerCommitted, ManagerLeadership, ManagerSubscribe } from '../orchestrator/protocol.js';
import { applySecurityChange, type SecurityChange, type SecurityState } from './security.js';

/** What a normal Raft entry of a manager carries. */
export type ClusterCommand =
  | { readonly op: 'events'; readonly opId: string; readonly batch: Uint8Array }
  | { readonly op: 'security'; readonly opId: string; readonly change: SecurityChange };

export type ManagerInput =
  | ApplyMessage
  | ProposeReply
  | SoftStateMessage
  | ManagerSubscribe
  | { readonly type: 'manager.write'; readonly command: ClusterCommand; readonly replyTo: Address }
  | { readonly type: 'manager.confChange'; readonly opId: string; readonly change: ConfChange; readonly replyTo: Address }
  | { readonly type: 'manager.barrier'; readonly opId: string; readonly replyTo: Address }
  /**
   * The asker of a write, membership change or read gave up on it (its timeout): forget who waits.
   * A write may still apply; it is then answered to no one. Without this, a proposal that a live
   * leader dropped (its uncommitted-bytes limit) or a read no leader confirmed would stay here.
   */
  | { readonly type: 'manager.forget'; readonly opId: string }
  | { readonly type: 'manager.snapshotStep' };

export type ManagerReply =
  /**
   * The command's entry applied at `index`; `refused` when the store refused its batch (identically
   * everywhere). A command this manager learned of from an installed snapshot applied at or before
   * the snapshot's `index`, and the reply says so with that index.
   */
  | { readonly type: 'manager.applied'; readonly opId: string; readonly index: number; readonly refused: { readonly code: string; readonly message: string } | null }
  /** Definitely not applied (refused by Raft here, or its log slot was taken by another leader's entry). */
  | { readonly type: 'manager.failed'; readonly opId: string; readonly code: string; readonly message: string; readonly leader: string }
  /** A read may now be served from this manager's state: it has applied `index`, which the leader confirmed. */
  | { readonly type: 'manager.readable'; readonly opId: string; readonly index: number };

/** What the shell (the node process) may read at any time; replaced wholesale on a snapshot install. */
export interface ManagerView {
  readonly store: Store;
  readonly security: SecurityState | null;
  readonly conf: ConfState;
  readonly appliedIndex: number;
}

/** What changed in one apply turn, for the shell to react to (address book, TLS trust, membership). */
export interface AppliedChanges {
  readonly nodes: boolean;
  readonly security: boolean;
  readonly conf: boolean;
  readonly restored: boolean;
}

export interface ManagerOptions {
  readonly nodeId: string;
  /** The Raft peer (`raftProps`' `peer` child) and log addresses. */
  readonly peer: Address;
  readonly log: Address;
  /** The Raft snapshot's data at start (the log's snapshot), empty for a new log. */
  readonly snapshotData: Uint8Array;
  readonly snapshotIndex: number;
  readonly snapshotConf: ConfState;
  readonly snapshotIntervalEntries: number;
  readonly snapshotTailEntries: number;
  /** Called after every apply turn, with the new view and what changed. */
  readonly onApplied?: (view: ManagerView, changes: AppliedChanges) => void;
  /**
   * Called once per apply turn that applied events or installed a snapshot, with the events of
   * the turn's entries in order and the last applied index (the shell's watch feed). `restored`:
   * a snapshot replaced the store this turn, so a watcher's earlier view is void.
   */
  readonly onCommitted?: (committed: { readonly index: number; readonly events: readonly JournalEvent[]; readonly restored: boolean }) => void;
  /** Called when the Raft peer follows another leader than before, or none (`''`). */
  readonly onLeaderChange?: (leader: string, term: number) => void;
}

/** Applied command ids remembered (a command proposed twice applies once). */
const APPLIED_IDS_MAX = 100_000;
/**
 * Snapshot writer steps run one per turn, this far apart: a step is about a millisecond of work
 * at most (see the store's writer), so a snapshot takes about a fifth of a core while it runs and
 * the writes between its steps find the machine free. At 1 ms apart the steps of the three
 * managers (which snapshot at the same index) took most of both cores for a second, and the
 * writes of that second waited (bench/README.md, "snapshots that leave the machine free").
 */
const SNAPSHOT_STEP_MS = 4;

interface SnapshotData {
  readonly v: 1;
  readonly store: Uint8Array;
  readonly security: SecurityState | null;
  readonly applied: readonly string[];
  /**
   * The store's refusals among `applied`: [id, code, message]. A manager that learns of its write
   * from a snapshot answers with it. Absent in snapshots written before 2026-12-05: a manager that
   * installs one of those does not know which of its writes the store refused, and answers none.
   */
  readonly refused?: ReadonlyArray<readonly [string, string, string]>;
}

/** A command the store refused (applied as nothing, identically on every manager). */
interface Refusal {
  readonly code: string;
  readonly message: string;
}

function readSnapshot(data: Uint8Array): { store: Store; security: SecurityState | null; applied: string[]; refusals: Map<string, Refusal>; refusalsKnown: boolean } {
  if (data.byteLength === 0) return { store: new Store(), security: null, applied: [], refusals: new Map(), refusalsKnown: true };
  const snapshot = decodeMessage(data) as SnapshotData;
  if (snapshot.v !== 1) throw new InvariantViolation(`manager snapshot version ${String(snapshot.v)} is not supported`);
  const refusals = new Map((snapshot.refused ?? []).map(([id, code, message]) => [id, { code, message }] as const));
  return { store: Store.restore(snapshot.store), security: snapshot.security, applied: [...snapshot.applied], refusals, refusalsKnown: snapshot.refused !== undefined };
}

/**
 * The command's entry data, in a buffer of its own (see encodeMessageOwned): the log keeps an
 * entry's data until a snapshot, and a view into the codec's shared buffer would keep alive
 * everything encoded around it (network messages among it).
 */
export function encodeCommand(command: ClusterCommand): Uint8Array {
  return encodeMessageOwned(command);
}

export function decodeCommand(data: Uint8Array): ClusterCommand {
  return decodeMessage(data) as ClusterCommand;
}

interface Snapshotting {
  readonly index: number;
  readonly conf: ConfState;
  /** Writes the SnapshotData record whole: the store's snapshot framed by the other fields. */
  readonly writer: StoreSnapshotWriter;
}

export function managerActor(options: ManagerOptions): Props<ManagerInput> {
  return {
    kind: 'manager',
    mailboxDepthMax: 200_000,
    supervision: { kind: 'escalate' },
    create: (ctx: ActorContext) => {
      // Rebuilt from the log's snapshot at every start; the peer hands out what follows it.
      let { store, security, applied, refusals } = readSnapshot(options.snapshotData);
      let appliedIds = new Set(applied);
      let appliedIndex = options.snapshotIndex;
      let conf: ConfState = options.snapshotConf;
      let lastSnapshotIndex = options.snapshotIndex;
      let snapshotting: Snapshotting | undefined;
      /**
       * Commands proposed here, by id: who waits for them; for one forwarded to the leader (proposed
       * while this peer did not lead), its entry's bytes, to propose again when the leader changes
       * (see reproposeWrites). `copies`: proposed more than once, so it may sit in several logs;
       * only an apply answers it then (the first copy applies, the others are skipped by id), never
       * a refusal or a lost slot of one copy.
       */
      const writes = new Map<string, { readonly replyTo: Address; readonly forwarded: Uint8Array | undefined; copies: boolean }>();
      /** The last leader the peer reported (never ''): a new one means the writes in flight may be lost. */
      let lastLeader = '';
      /** Entries this manager proposed as leader, by index: the id whose entry must be there. */
      const proposedAt = new Map<number, { opId: string; confChange: boolean }>();
      const confWaiters = new Map<string, Address>();
      const reads = new Map<string, Address>();
      let readyReads: Array<{ index: number; context: string }> = [];
      /** Who gets each apply turn's committed events and the leadership (the orchestration supervisor). */
      const subscribers: Address[] = [];
      /** The events applied this turn, in order. */
      let turnEvents: JournalEvent[] = [];
      /** Raft's view of this peer, and whether subscribers were told it leads (once an entry of its term applied). */
      let role = 'follower';
      let term = 0;
      let leading = false;
      let pendingLeadership = false;
      let leaderNode = '';
      /** The leader the peer last reported, for onLeaderChange. */
      let followedLeader = '';
      const tellLeadership = (leader: boolean): void => {
        leading = leader;
        for (const to of subscribers) ctx.send(to, { type: 'manager.leadership', leader, term, leaderNode } satisfies ManagerLeadership);
      };

      const view = (): ManagerView => ({ store, security, conf, appliedIndex });

      const remember = (opId: string): void => {
        appliedIds.add(opId);
        applied.push(opId);
        if (applied.length > APPLIED_IDS_MAX * 2) {
          applied = applied.slice(-APPLIED_IDS_MAX);
          appliedIds = new Set(applied);
          for (const id of refusals.keys()) if (!appliedIds.has(id)) refusals.delete(id);
        }
      };

      const serveReads = (): void => {
        const still: typeof readyReads = [];
        for (const r of readyReads) {
          const replyTo = reads.get(r.context);
          if (replyTo === undefined) continue;
          if (r.index > appliedIndex) {
            still.push(r);
            continue;
          }
          reads.delete(r.context);
          ctx.send(replyTo, { type: 'manager.readable', opId: r.context, index: r.index } satisfies ManagerReply);
        }
        readyReads = still;
      };

      const fail = (opId: string, code: string, message: string, leader: string): void => {
        const replyTo = writes.get(opId)?.replyTo ?? confWaiters.get(opId);
        writes.delete(opId);
        confWaiters.delete(opId);
        if (replyTo !== undefined) ctx.send(replyTo, { type: 'manager.failed', opId, code, message, leader } satisfies ManagerReply);
      };

      /** Applies one normal entry's command at `index`; says what it changed. */
      const applyCommand = (command: ClusterCommand | undefined, index: number, changed: { nodes: boolean; security: boolean }): void => {
        if (command === undefined || appliedIds.has(command.opId)) {
          store.applyBatch([], index);
          return;
        }
        remember(command.opId);
        const replyTo = writes.get(command.opId)?.replyTo;
        writes.delete(command.opId);
        let refused: { code: string; message: string } | null = null;
        if (command.op === 'events') {
          const events = decodeBatch(command.batch).events;
          const result = store.applyBatch(events, index);
          if (!result.applied) {
            refused = { code: result.error.code, message: result.error.message };
            refusals.set(command.opId, refused);
          } else {
            if (events.some((e) => e.type.startsWith('node.'))) changed.nodes = true;
            if (subscribers.length > 0 || options.onCommitted !== undefined) for (const e of events) turnEvents.push(e);
          }
        } else {
          store.applyBatch([], index);
          security = applySecurityChange(security, command.change);
          changed.security = true;
        }
        if (replyTo !== undefined) ctx.send(replyTo, { type: 'manager.applied', opId: command.opId, index, refused } satisfies ManagerReply);
      };

      /**
       * A new leader: the writes this manager forwarded to the old one and has not applied may have
       * died with it (the proposal in flight, or appended there and never replicated). Each is
       * proposed again, to the new leader; the store applies a command id once (appliedIds), so a
       * copy the old leader did replicate costs only an entry skipped on apply. Without this such a
       * write waits for its asker's timeout (10 s in the node) to learn nothing. Writes proposed
       * while this peer led (the orchestrator's among them, decided on that leader's view) are not:
       * they apply if the new leader holds them, and are failed as ENTRY_LOST if it does not.
       */
      const reproposeWrites = (): void => {
        for (const [opId, w] of writes) {
          if (w.forwarded === undefined || appliedIds.has(opId)) continue;
          w.copies = true;
          // Its first copy's slot, if the peer led after all when it proposed: no ENTRY_LOST from it now.
          for (const [index, p] of proposedAt) if (p.opId === opId) proposedAt.delete(index);
          ctx.send(options.peer, { type: 'raft.propose', data: w.forwarded, requestId: opId, replyTo: ctx.self });
        }
      };

      /**
       * A snapshot replaced the state up to `index`: the entries there will not be applied here one
       * by one. A write this manager waits for whose id the snapshot holds applied there (answered
       * with the snapshot's index and the store's refusal, if any; unanswered, for its asker's timeout,
       * when the snapshot is of a version that kept no refusals). One proposed here as leader at
       * an index the snapshot covers, and whose id it does not hold, lost its slot. Forwarded writes
       * the snapshot does not hold may still come after it (or go again at the next leader change).
       */
      const settleBySnapshot = (index: number, refusalsKnown: boolean): void => {
        if (refusalsKnown) {
          for (const [opId, w] of writes) {
            if (!appliedIds.has(opId)) continue;
            writes.delete(opId);
            ctx.send(w.replyTo, { type: 'manager.applied', opId, index, refused: refusals.get(opId) ?? null } satisfies ManagerReply);
          }
        }
        for (const [at, p] of proposedAt) {
          if (at > index) continue;
          proposedAt.delete(at);
          // A membership change's outcome is in the configuration, not the ids: its asker's timeout answers.
          if (!p.confChange && !appliedIds.has(p.opId)) fail(p.opId, 'ENTRY_LOST', 'another leader wrote this log slot; the command was not applied', '');
        }
      };

      const maybeSnapshot = (): void => {
        if (snapshotting !== undefined || appliedIndex - lastSnapshotIndex < options.snapshotIntervalEntries) return;
        lastSnapshotIndex = appliedIndex;
        // The SnapshotData record around the store's bytes, in the writer's one buffer: they are not copied again.
        // Every refusal still remembered (a few may be older than the ids kept: harmless, never asked for).
        const refused = [...refusals].map(([id, r]) => [id, r.code, r.message] as const);
        const data = { v: 1, store: undefined, security, applied: applied.slice(-APPLIED_IDS_MAX), refused } satisfies Record<keyof SnapshotData, unknown>;
        snapshotting = { index: appliedIndex, conf, writer: store.snapshotWriter((length) => encodeAround(data, 'store', length)) };
        ctx.setTimer('snapshotStep', SNAPSHOT_STEP_MS, { type: 'manager.snapshotStep' } satisfies ManagerInput);
      };

      return {
        receive: (m: ManagerInput) => {
          switch (m.type) {
            case 'manager.write': {
              const { opId } = m.command;
              if (appliedIds.has(opId)) {
                ctx.send(m.replyTo, { type: 'manager.failed', opId, code: 'DUPLICATE', message: `command ${opId} was applied already`, leader: '' } satisfies ManagerReply);
                return;
              }
              const data = encodeCommand(m.command);
              writes.set(opId, { replyTo: m.replyTo, forwarded: role === 'leader' ? undefined : data, copies: false });
              ctx.send(options.peer, { type: 'raft.propose', data, requestId: opId, replyTo: ctx.self });
              return;
            }
            case 'manager.confChange':
              confWaiters.set(m.opId, m.replyTo);
              ctx.send(options.peer, { type: 'raft.proposeConfChange', change: m.change, requestId: m.opId, replyTo: ctx.self });
              return;
            case 'manager.barrier':
              reads.set(m.opId, m.replyTo);
              ctx.send(options.peer, { type: 'raft.readIndex', context: m.opId });
              return;
            case 'manager.forget':
              writes.delete(m.opId);
              confWaiters.delete(m.opId);
              reads.delete(m.opId);
              return;
            case 'manager.subscribe':
              if (!subscribers.includes(m.replyTo)) subscribers.push(m.replyTo);
              ctx.send(m.replyTo, { type: 'manager.leadership', leader: leading, term, leaderNode } satisfies ManagerLeadership);
              return;
            case 'raft.softState':
              role = m.role;
              term = m.term;
              if (m.leader !== '' && m.leader !== lastLeader) {
                const previous = lastLeader;
                lastLeader = m.leader;
                if (previous !== '') reproposeWrites();
              }
              if (m.leader !== followedLeader) {
                followedLeader = m.leader;
                options.onLeaderChange?.(m.leader, m.term);
              }
              if (role !== 'leader' && leading) {
                leaderNode = m.leader;
                tellLeadership(false);
              } else if (m.leader !== leaderNode) {
                leaderNode = m.leader;
                // Not leading (or not yet ready to): say where the leader is.
                if (!leading) tellLeadership(false);
              }
              return;
            case 'raft.refused':
              // A refused copy says nothing of the others: the asker's timeout answers if none applies.
              if (writes.get(m.requestId)?.copies === true) return;
              fail(m.requestId, m.code, m.message, m.leader);
              return;
            case 'raft.proposed':
              if (writes.get(m.requestId)?.copies === true) return;
              proposedAt.set(m.index, { opId: m.requestId, confChange: confWaiters.has(m.requestId) });
              return;
            case 'raft.apply': {
              const changed = { nodes: false, security: false, conf: false, restored: false };
              if (m.snapshot !== undefined) {
                const restored = readSnapshot(m.snapshot.data);
                ({ store, security, applied, refusals } = restored);
                appliedIds = new Set(applied);
                appliedIndex = m.snapshot.meta.index;
                conf = m.snapshot.meta.confState;
                lastSnapshotIndex = m.snapshot.meta.index;
                snapshotting = undefined;
                settleBySnapshot(appliedIndex, restored.refusalsKnown);
                Object.assign(changed, { nodes: true, security: true, conf: true, restored: true });
              }
              for (const entry of m.entries) {
                if (entry.index <= appliedIndex) continue;
                if (entry.index !== appliedIndex + 1) throw new InvariantViolation(`manager ${options.nodeId} applies ${entry.index} after ${appliedIndex}`);
                appliedIndex = entry.index;
                const mine = proposedAt.get(entry.index);
                proposedAt.delete(entry.index);
                if (entry.type === 'confChange') {
                  conf = nextConfState(conf, decodeConfChange(entry.data));
                  changed.conf = true;
                  store.applyBatch([], entry.index);
                  if (mine !== undefined && mine.confChange) {
                    const replyTo = confWaiters.get(mine.opId);
                    confWaiters.delete(mine.opId);
                    if (replyTo !== undefined) ctx.send(replyTo, { type: 'manager.applied', opId: mine.opId, index: entry.index, refused: null } satisfies ManagerReply);
                  } else if (mine !== undefined) {
                    fail(mine.opId, 'ENTRY_LOST', 'another leader wrote this log slot; the command was not applied', '');
                  }
                  continue;
                }
                const command = entry.data.byteLength === 0 ? undefined : decodeCommand(entry.data);
                if (mine !== undefined && (command === undefined || command.opId !== mine.opId)) {
                  fail(mine.opId, 'ENTRY_LOST', 'another leader wrote this log slot; the command was not applied', '');
                }
                applyCommand(command, entry.index, changed);
              }
              if (role === 'leader' && !leading && m.entries.length > 0 && m.entries[m.entries.length - 1]!.term === term && appliedIndex >= m.entries[m.entries.length - 1]!.index) {
                // An entry of this leader's term applied: everything committed before it is in the store.
                pendingLeadership = true;
              }
              if (subscribers.length > 0 && (turnEvents.length > 0 || changed.restored)) {
                const committed: ManagerCommitted = { type: 'manager.committed', index: appliedIndex, events: turnEvents, restored: changed.restored };
                for (const to of subscribers) ctx.send(to, committed);
              }
              if (options.onCommitted !== undefined && (turnEvents.length > 0 || changed.restored)) options.onCommitted({ index: appliedIndex, events: turnEvents, restored: changed.restored });
              turnEvents = [];
              if (pendingLeadership) {
                pendingLeadership = false;
                tellLeadership(true);
              }
              readyReads.push(...m.readStates);
              serveReads();
              maybeSnapshot();
              // Every turn: the shell's view (applied index included) stays current; the flags say what needs a reaction.
              options.onApplied?.(view(), changed);
              return;
            }
            case 'manager.snapshotStep': {
              if (snapshotting === undefined) return;
              if (!snapshotting.writer.step()) {
                ctx.setTimer('snapshotStep', SNAPSHOT_STEP_MS, { type: 'manager.snapshotStep' } satisfies ManagerInput);
                return;
              }
              const { index, conf: snapConf, writer } = snapshotting;
              snapshotting = undefined;
              ctx.send(options.log, { type: 'log.snapshot', index, confState: snapConf, data: writer.bytes(), keepEntries: options.snapshotTailEntries });
              return;
            }
            default:
              return;
          }
        },
        started: () => options.onApplied?.(view(), { nodes: true, security: true, conf: true, restored: true }),
      };
    },
  };
}

// The Raft peer actor: the shell around the pure core. Its statechart has three regions: the
// peer's role (which only follows the core: the algorithm lives once, in the core), the
// persist/send/apply cycle, and the tick clock. It drives the core with ticks and messages,
// hands each Ready's write to the log actor (one atomic synced write), sends `messages` at once
// and `messagesAfterPersist` only once the write is durable, hands committed entries to the
// applier, and advances. The log actor owns the LogStorage, so the machine itself stays free of I/O.
import { enqueueActions, setup, type EventObject } from 'xstate';
import type { ConfState, HardState, LogStorage, LogWrite, PeerId, Snapshot } from '../journal/index.js';
import { InvariantViolation, RuntimeError, fromMachine, sendMessage, type ActorContext, type Address, type Props, type Random } from '../runtime/index.js';
import { RaftCore, type RaftBug } from './core.js';
import { BadMessageError, NotLeaderError, ProposalDroppedError } from './errors.js';
import type { ConfChange, Entry, Message, RaftConfig, ReadState, Ready, Role } from './types.js';

/** Messages the peer actor accepts. */
export type PeerInput =
  | { readonly type: 'raft.message'; readonly message: Message }
  | ({ readonly type: 'raft.propose' } & Proposal)
  /** Several proposals and peer messages in one event, handled in order: what the actor makes of a queued run of them. */
  | { readonly type: 'raft.batch'; readonly events: ReadonlyArray<StepOrPropose> }
  | { readonly type: 'raft.proposeConfChange'; readonly change: ConfChange; readonly requestId?: string; readonly replyTo?: Address }
  | { readonly type: 'raft.readIndex'; readonly context: string }
  | { readonly type: 'raft.transferLeader'; readonly transferee: PeerId }
  | { readonly type: 'raft.campaign' }
  /** The transport's hint that peer `peer`'s process is gone (see RaftCore.leaderGone). */
  | { readonly type: 'raft.peerGone'; readonly peer: PeerId }
  | { readonly type: 'raft.status'; readonly replyTo: Address }
  | { readonly type: 'log.saved'; readonly seq: number }
  | { readonly type: 'log.saveFailed'; readonly seq: number; readonly error: string }
  /** Raised by the machine itself when the core's role differs from the one its role region shows. */
  | { readonly type: 'raft.roleChanged' };

type StepOrPropose = { readonly type: 'raft.message'; readonly message: Message } | ({ readonly type: 'raft.propose' } & Proposal);

/** One proposal: its data and, when `replyTo` is given, where `raft.proposed`/`raft.refused` go. */
export interface Proposal {
  readonly data: Uint8Array;
  readonly requestId?: string;
  readonly replyTo?: Address;
}

/** What the peer tells the applier: entries to apply in order, a snapshot to restore, reads. */
export interface ApplyMessage {
  readonly type: 'raft.apply';
  readonly peer: PeerId;
  readonly snapshot: Snapshot | undefined;
  readonly entries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

/**
 * What the peer tells the applier when its role or the leader it knows changes (sent before the
 * apply of the same Ready, so the applier sees it first).
 */
export interface SoftStateMessage {
  readonly type: 'raft.softState';
  readonly peer: PeerId;
  readonly role: Role;
  readonly leader: PeerId;
  readonly term: number;
}

/** The answer to a proposal at the peer that took it: accepted at (index, term), or refused. */
export type ProposeReply =
  | { readonly type: 'raft.proposed'; readonly requestId: string; readonly index: number; readonly term: number }
  | { readonly type: 'raft.refused'; readonly requestId: string; readonly code: string; readonly message: string; readonly leader: PeerId };

/** The log actor's input. */
export type LogInput =
  | { readonly type: 'log.save'; readonly seq: number; readonly write: LogWrite; readonly replyTo: Address }
  /** The applier's state at `index`: snapshot it, then compact, keeping `keepEntries` for slow followers. */
  | { readonly type: 'log.snapshot'; readonly index: number; readonly confState: ConfState; readonly data: Uint8Array; readonly keepEntries: number };

/** The node's disk failed a synced write: the node must crash (its durable state is unknown). */
export class StorageFailedError extends RuntimeError {
  readonly code = 'STORAGE_FAILED';
  constructor(detail: string) {
    super(`log storage failed: ${detail}`);
  }
}

export interface PeerOptions {
  readonly id: PeerId;
  readonly storage: LogStorage;
  readonly random: Random;
  /** Where `raft.message`s for a peer go, e.g. (id) => `${id}/raft/peer`. */
  readonly peerAddress: (peer: PeerId) => Address;
  /** Where `raft.apply` goes. */
  readonly applier: Address;
  /** The log actor (see `logActor`). */
  readonly log: Address;
  readonly tickMs: number;
  readonly config?: Partial<Omit<RaftConfig, 'id'>>;
  readonly bugs?: readonly RaftBug[];
}

/** A Ready taken from the core, not yet finished (its write, if any, not yet durable). */
interface InFlightReady {
  /** Matched against `log.saved`. */
  readonly seq: number;
  readonly ready: Ready;
  /** Its write is durable (or it needed none). */
  done: boolean;
  /** Its committed entries, snapshot and reads go to the applier when it finishes, not when taken. */
  readonly applyAtFinish: boolean;
}

interface PeerContext {
  readonly core: RaftCore;
  readonly self: Address;
  readonly options: PeerOptions;
  /**
   * Readies taken and not yet finished, oldest first. One at a time, unless the core runs with
   * asynchronous storage writes: then up to `writesInFlightMax`, persisted in order by the log
   * actor and finished (after-persist messages sent, `advance()`) in that order.
   */
  inflight: InFlightReady[];
  readonly writesInFlightMax: number;
  seq: number;
  /** The hard state last handed to the log, and a newer one whose only change is the commit index. */
  savedHardState: HardState;
  deferredHardState: HardState | undefined;
  /** Malformed or unknown messages refused (a counted event, never a crash). */
  badMessages: number;
  /** The role the role region shows (roleOf the core when it last moved). */
  shownRole: string;
}

/**
 * What a Ready must make durable before its acknowledgements go out. A hard state whose only
 * change is the commit index is not waited for (the commit index can always be learnt again from
 * the leader): it rides along with the next write, which saves one synced write per commit.
 */
function writeOf(rd: Ready, context: PeerContext): LogWrite | undefined {
  const hard = rd.hardState;
  const commitOnly = hard !== undefined && hard.term === context.savedHardState.term && hard.vote === context.savedHardState.vote;
  if (rd.entries.length === 0 && rd.snapshot === undefined && (hard === undefined || commitOnly)) {
    if (hard !== undefined) context.deferredHardState = hard;
    return undefined;
  }
  const hardState = hard ?? context.deferredHardState;
  context.deferredHardState = undefined;
  if (hardState !== undefined) context.savedHardState = hardState;
  return { ...(hardState ? { hardState } : {}), entries: rd.entries, ...(rd.snapshot ? { snapshot: rd.snapshot } : {}) };
}

/** Readies whose writes may be in flight at once with asynchronous storage writes. */
const WRITES_IN_FLIGHT_MAX = 8;

function applyOf(context: PeerContext, rd: Ready): ApplyMessage {
  return { type: 'raft.apply', peer: context.options.id, snapshot: rd.snapshot, entries: rd.committedEntries, readStates: rd.readStates };
}

/** Finishes the oldest Readies whose writes are durable: their after-persist messages go, then `advance()`. */
function finishDurable(context: PeerContext, enqueue: (action: ReturnType<typeof sendMessage>) => void): void {
  while (context.inflight.length > 0 && context.inflight[0]!.done) {
    const { ready: rd, applyAtFinish } = context.inflight.shift()!;
    for (const m of rd.messagesAfterPersist) enqueue(sendMessage(context.options.peerAddress(m.to), { type: 'raft.message', message: m }));
    if (applyAtFinish) enqueue(sendMessage(context.options.applier, applyOf(context, rd)));
    context.core.advance();
  }
}

function stepOne(context: PeerContext, message: Message): void {
  try {
    context.core.step(message);
  } catch (error) {
    // A proposal this peer forwarded can come back to it from the network (forwarded on by a
    // peer whose idea of the leader was stale) while it knows no leader: the core refuses it as
    // it would a local proposal. Over the network that is a dropped proposal (its proposer learns
    // by timeout, as of any lost message), never a failure of the peer.
    if (error instanceof NotLeaderError || error instanceof ProposalDroppedError) return;
    if (!(error instanceof BadMessageError)) throw error;
    context.badMessages++;
  }
}

/** Proposes, then answers `replyTo` (if any) with the entry's place, or with the typed refusal. */
function proposeOne(context: PeerContext, p: { readonly requestId?: string; readonly replyTo?: Address }, propose: () => void, enqueue: { (action: ReturnType<typeof sendMessage>): void }): void {
  const requestId = p.requestId ?? '';
  try {
    propose();
    if (p.replyTo !== undefined && context.core.role === 'leader') {
      const index = context.core.log.lastIndex();
      enqueue(sendMessage(p.replyTo, { type: 'raft.proposed', requestId, index, term: context.core.term } satisfies ProposeReply));
    }
  } catch (error) {
    if (!(error instanceof RuntimeError)) throw error;
    if (p.replyTo !== undefined) {
      enqueue(sendMessage(p.replyTo, { type: 'raft.refused', requestId, code: error.code, message: error.message, leader: context.core.lead } satisfies ProposeReply));
    }
  }
}

export const peerMachine = setup({
  types: {} as { context: PeerContext; events: PeerInput; input: { core: RaftCore; self: Address; options: PeerOptions } },
  delays: { tick: ({ context }) => context.options.tickMs },
  guards: {
    canTakeReady: ({ context }) => context.inflight.length < context.writesInFlightMax && context.core.hasReady(),
    hasInflight: ({ context }) => context.inflight.length > 0,
    noInflight: ({ context }) => context.inflight.length === 0,
    // The role region's guards, all read from roleOf: the region's state is always one roleOf gives.
    roleIsFollower: ({ context }) => roleOf(context.core) === 'follower',
    roleIsPreCandidate: ({ context }) => roleOf(context.core) === 'preCandidate',
    roleIsCandidate: ({ context }) => roleOf(context.core) === 'candidate',
    roleIsLeader: ({ context }) => roleOf(context.core) === 'leader',
    roleIsLearner: ({ context }) => roleOf(context.core) === 'learner',
    roleIsRemoved: ({ context }) => roleOf(context.core) === 'removed',
    roleShownStale: ({ context }) => roleOf(context.core) !== context.shownRole,
  },
  actions: {
    tick: ({ context }) => context.core.tick(),
    step: ({ context, event }) => {
      if (event.type === 'raft.message') stepOne(context, event.message);
    },
    propose: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'raft.propose') proposeOne(context, event, () => context.core.propose(event.data), enqueue);
      else if (event.type === 'raft.proposeConfChange') proposeOne(context, event, () => context.core.proposeConfChange(event.change), enqueue);
    }),
    batch: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'raft.batch') return;
      for (const e of event.events) {
        if (e.type === 'raft.message') stepOne(context, e.message);
        else proposeOne(context, e, () => context.core.propose(e.data), enqueue);
      }
    }),
    readIndex: ({ context, event }) => {
      if (event.type === 'raft.readIndex') context.core.readIndex(event.context);
    },
    transferLeader: ({ context, event }) => {
      if (event.type === 'raft.transferLeader') context.core.transferLeadership(event.transferee);
    },
    campaign: ({ context }) => context.core.campaign(),
    peerGone: ({ context, event }) => {
      if (event.type === 'raft.peerGone') context.core.leaderGone(event.peer);
    },
    status: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'raft.status') return;
      enqueue(sendMessage(event.replyTo, { type: 'raft.statusReply', status: context.core.status(), badMessages: context.badMessages, counters: { ...context.core.counters } }));
    }),
    /**
     * Takes the next Ready: sends what may go at once, hands its write to the log actor, and
     * (with asynchronous writes) its committed entries to the applier at once: the core hands out
     * only entries durable here then. A snapshot, and anything after one still in flight, waits
     * for its write, so the applier sees them in order.
     */
    takeReady: enqueueActions(({ context, enqueue }) => {
      const rd = context.core.ready();
      const write = writeOf(rd, context);
      context.seq++;
      if (rd.softState !== undefined) {
        enqueue(sendMessage(context.options.applier, { type: 'raft.softState', peer: context.options.id, role: rd.softState.role, leader: rd.softState.leader, term: context.core.term } satisfies SoftStateMessage));
      }
      for (const m of rd.messages) enqueue(sendMessage(context.options.peerAddress(m.to), { type: 'raft.message', message: m }));
      // The write before the apply: actors run in the order they were sent to, and the write is on
      // every commit's path (a follower's acknowledgement waits for it), the apply only on this
      // peer's own answers. Sent first, the write starts before the apply's turn, not after it.
      if (write !== undefined) {
        enqueue(sendMessage(context.options.log, { type: 'log.save', seq: context.seq, write, replyTo: context.self } satisfies LogInput));
      }
      const applies = rd.committedEntries.length > 0 || rd.snapshot !== undefined || rd.readStates.length > 0;
      const early = context.writesInFlightMax > 1 && rd.snapshot === undefined && !context.inflight.some((r) => r.applyAtFinish);
      if (applies && early) enqueue(sendMessage(context.options.applier, applyOf(context, rd)));
      context.inflight.push({ seq: context.seq, ready: rd, done: write === undefined, applyAtFinish: applies && !early });
      finishDurable(context, enqueue);
    }),
    /** A write is durable: finish every Ready, oldest first, whose write is. */
    saved: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'log.saved') return;
      const item = context.inflight.find((r) => r.seq === event.seq);
      if (item === undefined) return;
      item.done = true;
      finishDurable(context, enqueue);
    }),
    /** The role region follows the core: told by an event raised only when the role changed. */
    showRole: enqueueActions(({ context, enqueue }) => {
      context.shownRole = roleOf(context.core);
      enqueue.raise({ type: 'raft.roleChanged' });
    }),
    crash: ({ event }) => {
      throw new StorageFailedError(event.type === 'log.saveFailed' ? event.error : 'unknown');
    },
  },
}).createMachine({
  id: 'raftPeer',
  type: 'parallel',
  context: ({ input }) => ({
    core: input.core,
    self: input.self,
    options: input.options,
    inflight: [],
    writesInFlightMax: input.core.asyncStorageWrites ? WRITES_IN_FLIGHT_MAX : 1,
    seq: 0,
    savedHardState: input.options.storage.initialState().hardState,
    deferredHardState: undefined,
    badMessages: 0,
    shownRole: 'follower',
  }),
  on: {
    'raft.message': { actions: 'step' },
    'raft.propose': { actions: 'propose' },
    'raft.batch': { actions: 'batch' },
    'raft.proposeConfChange': { actions: 'propose' },
    'raft.readIndex': { actions: 'readIndex' },
    'raft.transferLeader': { actions: 'transferLeader' },
    'raft.campaign': { actions: 'campaign' },
    'raft.peerGone': { actions: 'peerGone' },
    'raft.status': { actions: 'status' },
    'log.saved': { actions: 'saved' },
    'log.saveFailed': { actions: 'crash' },
  },
  states: {
    role: {
      initial: 'follower',
      // The role follows the core; the transitions carry no logic of their own. They wait for
      // `raft.roleChanged`, which the cycle region raises when the core's role is not the one shown
      // (the check after every event is one comparison). Eventless transitions here, five guards
      // after every microstep of every event, cost 4-6% of the writes/s at 1 client (bench/README.md).
      states: {
        follower: { on: { 'raft.roleChanged': [{ guard: 'roleIsRemoved', target: 'removed' }, { guard: 'roleIsLearner', target: 'learner' }, { guard: 'roleIsPreCandidate', target: 'preCandidate' }, { guard: 'roleIsCandidate', target: 'candidate' }, { guard: 'roleIsLeader', target: 'leader' }] } },
        preCandidate: { on: { 'raft.roleChanged': [{ guard: 'roleIsRemoved', target: 'removed' }, { guard: 'roleIsFollower', target: 'follower' }, { guard: 'roleIsCandidate', target: 'candidate' }, { guard: 'roleIsLeader', target: 'leader' }] } },
        candidate: { on: { 'raft.roleChanged': [{ guard: 'roleIsRemoved', target: 'removed' }, { guard: 'roleIsFollower', target: 'follower' }, { guard: 'roleIsLeader', target: 'leader' }] } },
        leader: { on: { 'raft.roleChanged': [{ guard: 'roleIsRemoved', target: 'removed' }, { guard: 'roleIsLearner', target: 'learner' }, { guard: 'roleIsFollower', target: 'follower' }] } },
        learner: { on: { 'raft.roleChanged': [{ guard: 'roleIsRemoved', target: 'removed' }, { guard: 'roleIsFollower', target: 'follower' }, { guard: 'roleIsLeader', target: 'leader' }] } },
        removed: { on: { 'raft.roleChanged': [{ guard: 'roleIsFollower', target: 'follower' }, { guard: 'roleIsLearner', target: 'learner' }] } },
      },
    },
    // idle: no Ready outstanding; persisting: writes in flight (one, or several with asynchronous
    // storage writes, during which further Readies may be taken).
    cycle: {
      initial: 'idle',
      states: {
        idle: { always: [{ guard: 'roleShownStale', actions: 'showRole' }, { guard: 'canTakeReady', actions: 'takeReady' }, { guard: 'hasInflight', target: 'persisting' }] },
        persisting: { always: [{ guard: 'roleShownStale', actions: 'showRole' }, { guard: 'canTakeReady', actions: 'takeReady' }, { guard: 'noInflight', target: 'idle' }] },
      },
    },
    clock: {
      initial: 'ticking',
      states: {
        ticking: { after: { tick: { target: 'ticking', reenter: true, actions: 'tick' } } },
      },
    },
  },
});

/** The role region's state for the core as it is now: removed, learner, or the core's role. */
function roleOf(core: RaftCore): string {
  if (!core.isMember()) return 'removed';
  if (core.isLearner()) return 'learner';
  return core.role;
}

/** The peer actor's props. Any failure escalates: a Raft peer that fails takes its node down. */
export function peerActor(options: PeerOptions): Props {
  return fromMachine({
    kind: 'raft-peer',
    machine: peerMachine,
    // Rebuilt from the durable log at every start: nothing lives only in the actor.
    input: (ctx: ActorContext) => ({ core: new RaftCore({ ...options.config, id: options.id }, options.storage, options.random, options.bugs ?? []), self: ctx.self, options }),
    mailboxDepthMax: 100_000,
    supervision: { kind: 'escalate' },
    coalesce: coalescePeerInput,
  }) as Props;
}

/**
 * A queued run of proposals and peer messages becomes one `raft.batch`, handled in order: one
 * macrostep of the machine instead of one per message (under load they are nearly all of the
 * peer's events). Every other message goes through as it is, in its place.
 */
export function coalescePeerInput(messages: readonly EventObject[]): EventObject[] {
  const out: EventObject[] = [];
  let run: StepOrPropose[] = [];
  const flush = (): void => {
    if (run.length === 1) out.push(run[0] as EventObject);
    else if (run.length > 1) out.push({ type: 'raft.batch', events: run } satisfies PeerInput as EventObject);
    run = [];
  };
  for (const m of messages) {
    if (m.type === 'raft.propose' || m.type === 'raft.message') run.push(m as StepOrPropose);
    else {
      flush();
      out.push(m);
    }
  }
  flush();
  return out;
}

/** The log actor: owns the LogStorage and performs each write in order, then answers. */
export function logActor(storage: LogStorage): Props<LogInput> {
  return {
    kind: 'raft-log',
    create: (ctx) => ({
      receive: (m: LogInput) => {
        switch (m.type) {
          case 'log.save':
            // A write the log refuses as breaking Raft's rules is a bug, not a disk fault: it
            // fails this actor (and so the node) with the violation, rather than passing for
            // an fsync failure.
            return storage.save(m.write).then(
              () => ctx.send(m.replyTo, { type: 'log.saved', seq: m.seq }),
              (error: unknown) => {
                if (error instanceof InvariantViolation) throw error;
                ctx.send(m.replyTo, { type: 'log.saveFailed', seq: m.seq, error: error instanceof Error ? error.message : String(error) });
              },
            );
          case 'log.snapshot': {
            // Only what the log holds can be snapshotted (the applier sends only applied indexes);
            // a stale request is dropped. A failed write fails the node, as a failed save does.
            if (m.index <= storage.snapshot().meta.index || m.index > storage.lastIndex()) return;
            return storage.createSnapshot(m.index, m.confState, m.data).then(
              () => storage.compact(Math.max(0, m.index - m.keepEntries)),
            ).catch((error: unknown) => {
              if (error instanceof InvariantViolation) throw error;
              throw new StorageFailedError(error instanceof Error ? error.message : String(error));
            });
          }
        }
      },
    }),
    mailboxDepthMax: 10_000,
    supervision: { kind: 'escalate' },
  };
}

/** Spawns `raft` (a supervisor) with its `log` and `peer` children under `parent`. */
export function raftProps(options: Omit<PeerOptions, 'log'>): Props {
  return {
    kind: 'raft',
    create: (ctx) => ({
      started: () => {
        const log = ctx.spawn('log', logActor(options.storage));
        ctx.spawn('peer', peerActor({ ...options, log }));
      },
      receive: () => undefined,
    }),
    supervision: { kind: 'escalate' },
  };
}


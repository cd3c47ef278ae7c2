// The Raft consensus core, in the style of etcd's raft: a pure, synchronous state machine. Input
// comes only through `tick`, `step` and the proposal methods; output only through `ready()`. It
// never awaits and never touches a disk, a socket or a clock: time is counted in ticks, and the
// only randomness (election timeouts) comes from the Random it is given.
//
// Sections of the Raft paper (Ongaro & Ousterhout, 2014) and thesis (Ongaro, 2014) are cited
// where a rule is implemented.
import { type ConfState, type Entry, type HardState, type LogStorage, type PeerId, type Snapshot } from '../journal/index.js';
import { assert, assertNever, concatBytes, decodeMessage, encodeMessage, type Random } from '../runtime/index.js';
import { BadMessageError, ConfChangeRefusedError, NotLeaderError, ProposalDroppedError } from './errors.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import {
  DEFAULT_RAFT_CONFIG,
  MESSAGE_TYPES,
  type AppendMessage,
  type ConfChange,
  type HeartbeatMessage,
  type Message,
  type RaftConfig,
  type ReadState,
  type Ready,
  type Role,
  type SnapshotMessage,
  type SoftState,
} from './types.js';

/** Test-only switches that plant known bugs, to prove that the simulator's checkers find them. */
export type RaftBug = 'skipVoteTermCheck' | 'commitPreviousTermByCounting' | 'ackBeforePersist' | 'applyBeforeCommit' | 'forgetVoteOnRestart';

interface PendingRead {
  readonly context: string;
  readonly from: PeerId;
  readonly index: number;
  readonly acks: Set<PeerId>;
}

export interface RaftStatus {
  readonly id: PeerId;
  readonly role: Role;
  readonly term: number;
  readonly vote: PeerId;
  readonly leader: PeerId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly voters: readonly PeerId[];
  readonly learners: readonly PeerId[];
  readonly leadTransferee: PeerId;
  readonly progress: Readonly<Record<PeerId, { match: number; next: number; state: string }>>;
}

/** Counters of conditions worth seeing (refused input, dropped proposals). */
export interface RaftCounters {
  badMessages: number;
  droppedProposals: number;
  staleMessages: number;
  /** Elections started at once on the transport's hint that the leader's process was gone. */
  leaderGoneElections: number;
}

export class RaftCore {
  readonly id: PeerId;
  readonly log: RaftLog;
  readonly counters: RaftCounters = { badMessages: 0, droppedProposals: 0, staleMessages: 0, leaderGoneElections: 0 };
  term = 0;
  vote: PeerId = '';
  lead: PeerId = '';
  role: Role = 'follower';
  private readonly config: RaftConfig;
  private readonly random: Random;
  private readonly bugs: ReadonlySet<RaftBug>;
  /** Voters and learners, each with the leader's view of its replication. */
  private prs = new Map<PeerId, Progress>();
  private votes = new Map<PeerId, boolean>();
  private electionElapsed = 0;
  /**
   * Set by `leaderGone` until a leader is known again: the elections it starts retry after 1-3
   * ticks instead of the usual [T, 2T), since the leader is known to be gone (a pre-vote ignored by
   * a peer that has not yet had the hint, or a split vote, is then tried again within 300 ms).
   */
  private leaderGoneElection = false;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: PeerId = '';
  /** The index of the latest conf change; another may not be proposed until it is applied. */
  private pendingConfIndex = 0;
  /** Proposals were appended since the last broadcast (sent at the next `ready()`). */
  private appendsPending = false;
  private uncommittedBytes = 0;
  private pendingReads: PendingRead[] = [];
  /** Reads that wait for the leader to commit an entry of its own term (thesis §6.4). */
  private readsAwaitingTermCommit: Array<{ context: string; from: PeerId }> = [];
  private readStates: ReadState[] = [];
  private msgs: Message[] = [];
  private msgsAfterPersist: Message[] = [];
  /** Snapshot chunks received so far from the leader. */
  private incomingSnapshot: { index: number; term: number; parts: Uint8Array[]; received: number } | undefined;
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  /** What the outstanding Readies handed out, oldest first (one at a time unless asyncStorageWrites). */
  private readonly pendingReadies: Array<{ lastIndex: number; lastTerm: number; snapshotIndex: number; committedTo: number; hardState: HardState | undefined }> = [];

  constructor(config: Partial<RaftConfig> & { id: PeerId }, storage: LogStorage, random: Random, bugs: readonly RaftBug[] = []) {
    this.config = { ...DEFAULT_RAFT_CONFIG, ...config };
    assert(this.config.heartbeatTicks > 0 && this.config.electionTicks > this.config.heartbeatTicks, 'need 0 < heartbeatTicks < electionTicks');
    assert(this.config.inflightAppendsMax > 0 && this.config.appendBytesMax > 0 && this.config.snapshotChunkBytes > 0, 'raft limits must be positive');
    this.id = config.id;
    this.random = random;
    this.bugs = new Set(bugs);
    this.log = new RaftLog(storage);
    const { hardState, confState } = storage.initialState();
    this.term = hardState.term;
    this.vote = this.bugs.has('forgetVoteOnRestart') ? '' : hardState.vote;
    this.setConf(confState);
    this.prevHardState = hardState;
    this.prevSoftState = { leader: '', role: 'follower' };
    this.becomeFollower(this.term, '');
    if (this.config.forceNewCluster) this.forceNewCluster();
  }

  // ---- inputs ---------------------------------------------------------------------------------

  /** One unit of logical time (DESIGN.md: 100 ms). */
  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  /** Proposes application data. Throws NotLeaderError or ProposalDroppedError when refused here. */
  propose(data: Uint8Array): void {
    this.proposeEntries([{ type: 'normal', data }]);
  }

  proposeConfChange(change: ConfChange): void {
    this.proposeEntries([{ type: 'confChange', data: encodeMessage(change) }]);
  }

  /** Requests a linearizable read; a ReadState with this context appears in a later Ready. */
  readIndex(context: string): void {
    this.step({ type: 'readIndex', from: this.id, to: this.id, term: 0, context });
  }

  transferLeadership(transferee: PeerId): void {
    this.step({ type: 'transferLeader', from: this.id, to: this.id, term: 0, transferee });
  }

  /** Starts an election now (as if the election timeout had elapsed). */
  campaign(): void {
    this.hup(false);
  }

  /**
   * A hint from the transport: peer `id`'s process is gone (its address refuses connections, which
   * a crashed or stopped process gives at once; a lost machine or a cut link never do, and leave
   * the election timeout to notice). A follower of that leader forgets it, which also ends its
   * lease (§4.2.3: it now grants the pre-votes it would have ignored while hearing from a leader),
   * and campaigns at once, pre-vote first: the other followers that got the same hint grant it;
   * one that still hears a live leader ignores it, so a wrong hint costs no election. Anything
   * else (not our leader, not a follower) is ignored. Returns whether an election started.
   *
   * Until a leader is known again, two rules keep hinted peers from costing each other an
   * election's retry (1-3 ticks): a hinted pre-candidate that grants the pre-vote of a peer with a
   * lower id stands back (peers told at once would otherwise split the vote), and a hinted peer
   * that refuses a pre-vote for a shorter log asks for its own again at once (its first may have
   * met the asker's lease before the asker was told).
   */
  leaderGone(id: PeerId): boolean {
    if (this.role !== 'follower' || this.lead === '' || this.lead !== id || id === this.id) return false;
    this.lead = '';
    this.electionElapsed = 0;
    if (!this.promotable()) return false;
    this.leaderGoneElection = true;
    this.resetRandomizedElectionTimeout();
    this.hup(false);
    if (this.role !== 'follower') {
      this.counters.leaderGoneElections++;
      return true;
    }
    // No election now (a configuration change waits to be applied): the usual timeout then.
    this.leaderGoneElection = false;
    this.resetRandomizedElectionTimeout();
    return false;
  }

  /**
   * Handles one message from a peer (or a local one with term 0). A malformed message throws
   * BadMessageError and changes nothing; the caller counts it and goes on.
   */
  step(m: Message): void {
    validateMessage(m);
    if (m.term === 0) {
      // Local message.
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        // Thesis §4.2.3: a peer that hears from a current leader ignores vote requests, so that
        // a removed or partitioned peer cannot disrupt the cluster (unless it is a transfer).
        const inLease = this.config.checkQuorum && this.lead !== '' && this.electionElapsed < this.config.electionTicks;
        if (!m.force && inLease) {
          this.counters.staleMessages++;
          return;
        }
      }
      if (m.type === 'preVote') {
        // A pre-vote never changes our term.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // Granted pre-votes are at our future term; the term changes when we campaign for real.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, '');
      }
    } else if (m.term < this.term) {
      if ((this.config.checkQuorum || this.config.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
        // A stale leader learns our term and steps down (with CheckQuorum it may otherwise never
        // hear a higher term, since we ignore its peers' votes while we hear from our leader).
        this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: 0, reject: true, rejectHint: 0 });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', from: this.id, to: m.from, term: this.term, reject: true });
      } else {
        this.counters.staleMessages++;
      }
      return;
    }

    switch (m.type) {
      case 'vote':
      case 'preVote':
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
      default:
        assertNever(this.role, 'role');
    }
  }

  // ---- output ---------------------------------------------------------------------------------

  /** Whether the shell may take several Readies before advancing (see RaftConfig.asyncStorageWrites). */
  get asyncStorageWrites(): boolean {
    return this.config.asyncStorageWrites;
  }

  /** The highest index a Ready may hand out as committed: with asynchronous writes, only what is durable here. */
  private appliableIndex(): number {
    return this.config.asyncStorageWrites ? this.log.stableLastIndex() : Infinity;
  }

  hasReady(): boolean {
    if (!this.config.asyncStorageWrites && this.pendingReadies.length > 0) return false;
    return (
      this.appendsPending ||
      this.softStateChanged() ||
      this.hardStateChanged() ||
      this.log.hasUnstable() ||
      this.log.hasNextCommittedEntries(this.appliableIndex()) ||
      this.msgs.length > 0 ||
      this.msgsAfterPersist.length > 0 ||
      this.readStates.length > 0
    );
  }

  /** The next batch of work. One Ready at a time: call `advance()` before the next. */
  ready(): Ready {
    assert(this.config.asyncStorageWrites || this.pendingReadies.length === 0, 'ready() called again before advance()');
    if (this.appendsPending) {
      this.appendsPending = false;
      if (this.role === 'leader') this.bcastAppend();
    }
    const soft: SoftState = { leader: this.lead, role: this.role };
    const softState = this.softStateChanged() ? soft : undefined;
    const hard: HardState = { term: this.term, vote: this.vote, commit: this.log.committed };
    const hardState = this.hardStateChanged() ? hard : undefined;
    const { entries, snapshot } = this.log.takeUnstable();
    let committedEntries: Entry[] = [];
    if (this.bugs.has('applyBeforeCommit')) {
      // Planted bug: hands out entries one past the commit index.
      const hi = Math.min(this.log.lastIndex(), this.log.committed + 1);
      const lo = Math.max(this.log.applying + 1, this.log.firstIndex());
      committedEntries = lo <= hi ? this.log.slice(lo, hi + 1) : [];
    } else if (this.log.hasNextCommittedEntries(this.appliableIndex())) {
      committedEntries = this.log.nextCommittedEntries(Infinity, this.appliableIndex());
    }
    const last = entries.length > 0 ? (entries[entries.length - 1] as Entry) : undefined;
    const committedTo = committedEntries.length > 0 ? (committedEntries[committedEntries.length - 1] as Entry).index : snapshot?.meta.index ?? this.log.applying;
    this.log.applying = Math.max(this.log.applying, committedTo);
    for (const entry of committedEntries) {
      if (entry.type === 'confChange') this.applyConfChange(entry);
      if (this.role === 'leader') this.uncommittedBytes = Math.max(0, this.uncommittedBytes - entry.data.byteLength);
    }
    // Planted bug: acknowledges (votes, appends) before the write is durable.
    const ackEarly = this.bugs.has('ackBeforePersist');
    const rd: Ready = {
      softState,
      hardState,
      entries,
      snapshot,
      committedEntries,
      messages: ackEarly ? [...this.msgs, ...this.msgsAfterPersist] : this.msgs,
      messagesAfterPersist: ackEarly ? [] : this.msgsAfterPersist,
      readStates: this.readStates,
    };
    this.msgs = [];
    this.msgsAfterPersist = [];
    this.readStates = [];
    this.prevSoftState = soft;
    // With asynchronous writes the next Ready comes before this one's advance: it must not hand
    // the same hard state out again (the writes are persisted in order, so it will be durable first).
    if (this.config.asyncStorageWrites && hardState !== undefined) this.prevHardState = hardState;
    this.pendingReadies.push({ lastIndex: last?.index ?? 0, lastTerm: last?.term ?? 0, snapshotIndex: snapshot?.meta.index ?? 0, committedTo, hardState });
    return rd;
  }

  /** The last Ready was persisted, its messages sent and its committed entries applied. */
  advance(): void {
    const pending = this.pendingReadies.shift();
    assert(pending !== undefined, 'advance() without an outstanding Ready');
    if (pending.hardState !== undefined) this.prevHardState = pending.hardState;
    if (pending.lastIndex > 0 || pending.snapshotIndex > 0) this.log.stableTo(pending.lastIndex, pending.lastTerm, pending.snapshotIndex);
    if (pending.committedTo > this.log.applied) this.log.appliedTo(Math.min(pending.committedTo, this.log.committed));
    if (this.role === 'leader') {
      // Thesis §10.2.1: the leader counts its own copy only once it is durable.
      const self = this.prs.get(this.id);
      if (self !== undefined && self.maybeUpdate(this.log.stableLastIndex())) this.commitAndNotify();
    }
  }

  status(): RaftStatus {
    const progress: Record<PeerId, { match: number; next: number; state: string }> = {};
    for (const [id, pr] of this.prs) progress[id] = { match: pr.match, next: pr.next, state: pr.state };
    const conf = this.confState();
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      voters: conf.voters,
      learners: conf.learners,
      leadTransferee: this.leadTransferee,
      progress,
    };
  }

  confState(): ConfState {
    const voters: PeerId[] = [];
    const learners: PeerId[] = [];
    for (const [id, pr] of this.prs) (pr.isLearner ? learners : voters).push(id);
    return { voters: voters.sort(), learners: learners.sort() };
  }

  /** A member of the configuration (a voter or a learner). A removed peer is not. */
  isMember(): boolean {
    return this.prs.has(this.id);
  }

  isLearner(): boolean {
    return this.prs.get(this.id)?.isLearner === true;
  }

  private promotable(): boolean {
    const pr = this.prs.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.log.hasPendingSnapshot();
  }

  // ---- roles ----------------------------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = '';
    }
    this.lead = '';
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.votes = new Map();
    const lastIndex = this.log.lastIndex();
    for (const [id, pr] of this.prs) {
      const fresh = new Progress(lastIndex + 1, this.config.inflightAppendsMax, pr.isLearner);
      if (id === this.id) fresh.match = this.log.stableLastIndex();
      this.prs.set(id, fresh);
    }
    this.pendingReads = [];
    this.readsAwaitingTermCommit = [];
    this.uncommittedBytes = 0;
  }

  private becomeFollower(term: number, lead: PeerId): void {
    if (lead !== '') this.leaderGoneElection = false;
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become a pre-candidate');
    // Thesis §9.6: a pre-candidate asks first, without changing its term or vote.
    this.votes = new Map();
    this.lead = '';
    this.role = 'preCandidate';
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.leaderGoneElection = false;
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.prs.get(this.id);
    if (self !== undefined) self.becomeReplicate();
    // §5.4.2 / §8: an empty entry of the new term, so that earlier entries can commit.
    this.appendEntries([{ type: 'normal', data: new Uint8Array(0) }]);
    // No conf change until the leader has applied its term's first entry (testing-anchors §2.4:
    // a leader commits an entry of its own term before it changes the configuration).
    this.pendingConfIndex = this.log.lastIndex();
  }

  private hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.hasUnappliedConfChange()) return;
    if (this.config.preVote && !transfer) this.campaignPre();
    else this.campaignElection(transfer);
  }

  private hasUnappliedConfChange(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    return this.log.slice(this.log.applied + 1, this.log.committed + 1).some((e) => e.type === 'confChange');
  }

  private campaignPre(): void {
    this.becomePreCandidate();
    if (this.poll(this.id, true) === 'won') {
      this.campaignElection(false);
      return;
    }
    for (const id of this.voterIds()) {
      if (id === this.id) continue;
      this.send({ type: 'preVote', from: this.id, to: id, term: this.term + 1, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), force: false });
    }
  }

  private campaignElection(force: boolean): void {
    this.becomeCandidate();
    if (this.poll(this.id, true) === 'won') {
      this.becomeLeader();
      return;
    }
    for (const id of this.voterIds()) {
      if (id === this.id) continue;
      // §5.2: the vote request depends on the new term and self-vote being durable.
      this.sendAfterPersist({ type: 'vote', from: this.id, to: id, term: this.term, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), force });
    }
  }

  private poll(id: PeerId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    let yes = 0;
    let no = 0;
    for (const voter of this.voterIds()) {
      const v = this.votes.get(voter);
      if (v === true) yes++;
      else if (v === false) no++;
    }
    const quorum = this.quorum();
    if (yes >= quorum) return 'won';
    if (no > this.voterIds().length - quorum) return 'lost';
    return 'pending';
  }

  private handleVoteRequest(m: Extract<Message, { type: 'vote' | 'preVote' }>): void {
    // §5.2, §5.4.1: one vote per term, only for a log at least as up to date as ours.
    const canVote =
      this.vote === m.from ||
      (this.vote === '' && this.lead === '') ||
      (m.type === 'preVote' && m.term > this.term) ||
      (this.bugs.has('skipVoteTermCheck') && m.type === 'vote');
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    const upToDate = this.log.isUpToDate(m.index, m.logTerm);
    if (canVote && upToDate) {
      // A pre-vote answer carries the asked term, so that the pre-candidate counts it.
      const term = m.type === 'preVote' ? m.term : this.term;
      this.sendAfterPersist({ type: respType, from: this.id, to: m.from, term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      } else if (this.role === 'preCandidate' && this.leaderGoneElection && m.from < this.id) {
        // Told at the same moment that the leader is gone, both of us campaign at once, grant
        // each other's pre-votes and split the real vote (then 1-3 ticks more). The lower id goes
        // on (its log is at least as good as ours: we granted) and this peer stands back: its own
        // pre-vote answers are then ignored, and its retry stays 1-3 ticks away if the other fails.
        this.becomeFollower(this.term, '');
      }
    } else {
      this.sendAfterPersist({ type: respType, from: this.id, to: m.from, term: this.term, reject: true });
      if (m.type === 'preVote' && canVote && this.leaderGoneElection && this.role !== 'candidate') {
        // Both of us were told the leader is gone, and only our log can win. Our own pre-vote may
        // have reached the asker while it still held its lease (it ignored it, and has since
        // forgotten that leader, or it would not ask): ask again now rather than after 1-3 ticks.
        this.electionElapsed = 0;
        this.resetRandomizedElectionTimeout();
        this.hup(false);
      }
    }
  }

  // ---- leader -----------------------------------------------------------------------------------

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'prop':
        this.leaderPropose(m.entries, m.from);
        return;
      case 'readIndex':
        this.leaderReadIndex(m.context, m.from);
        return;
      case 'transferLeader':
        this.leaderTransfer(m.transferee);
        return;
      default:
        break;
    }
    const pr = this.prs.get(m.from);
    if (pr === undefined) {
      this.counters.staleMessages++;
      return;
    }
    switch (m.type) {
      case 'appResp':
        pr.recentActive = true;
        if (m.reject) {
          if (pr.maybeDecrTo(m.index, m.rejectHint)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.sendAppend(m.from);
          }
          return;
        }
        {
          const wasPaused = pr.isPaused();
          // A probe acknowledged at the match we already knew (after a snapshot, say) tells us
          // nothing new but that the logs agree there: replicate from it, or the follower would
          // stay paused until the next heartbeat (etcd does the same).
          const probeAgreed = pr.state === 'probe' && pr.match === m.index;
          if (!pr.maybeUpdate(m.index) && !probeAgreed) return;
          if (pr.state === 'probe') pr.becomeReplicate();
          else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
          else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
          if (!this.commitAndNotify() && wasPaused) this.sendAppend(m.from);
          // Fill the window as far as it goes.
          while (this.maybeSendAppend(m.from, false)) { /* keep sending */ }
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
        }
        return;
      case 'heartbeatResp':
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.state === 'snapshot') this.sendSnapshotChunk(m.from, pr);
        else if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (m.context !== '') this.ackRead(m.context, m.from);
        return;
      case 'snapResp':
        pr.recentActive = true;
        this.leaderSnapshotResponse(m.from, pr, m);
        return;
      case 'vote':
      case 'preVote':
      case 'voteResp':
      case 'preVoteResp':
      case 'app':
      case 'heartbeat':
      case 'snap':
      case 'timeoutNow':
      case 'readIndexResp':
        this.counters.staleMessages++;
        return;
      default:
        assertNever(m, 'message');
    }
  }

  private proposeEntries(entries: Array<{ type: Entry['type']; data: Uint8Array }>): void {
    if (this.role === 'leader') {
      this.leaderPropose(entries, this.id);
      return;
    }
    if (this.lead === '' || this.config.disableProposalForwarding) {
      this.counters.droppedProposals++;
      throw new NotLeaderError(this.id, this.lead);
    }
    this.send({ type: 'prop', from: this.id, to: this.lead, term: 0, entries });
  }

  private leaderPropose(entries: readonly { type: Entry['type']; data: Uint8Array }[], from: PeerId): void {
    const local = from === this.id;
    const refuse = (error: Error): void => {
      this.counters.droppedProposals++;
      if (local) throw error;
    };
    if (!this.prs.has(this.id)) return refuse(new ProposalDroppedError('this peer was removed from the cluster'));
    if (this.leadTransferee !== '') return refuse(new ProposalDroppedError(`leadership is being transferred to ${this.leadTransferee}`));
    for (const entry of entries) {
      if (entry.type !== 'confChange') continue;
      const reason = this.confChangeRefusal(entry.data);
      if (reason !== undefined) return refuse(new ConfChangeRefusedError(reason));
      this.pendingConfIndex = this.log.lastIndex() + 1;
    }
    if (!this.appendEntries(entries)) return refuse(new ProposalDroppedError(`more than ${this.config.uncommittedBytesMax} bytes are uncommitted`));
    // A follower that forwarded entries answers its clients when it applies them: it is told their commit at once.
    if (!local) {
      const pr = this.prs.get(from);
      if (pr !== undefined) pr.commitWanted = this.log.lastIndex();
    }
    // Proposals between two Readies go out together: one append per follower, not one each.
    this.appendsPending = true;
  }

  private confChangeRefusal(data: Uint8Array): string | undefined {
    let change: ConfChange;
    try {
      change = decodeConfChange(data);
    } catch (error) {
      return (error as Error).message;
    }
    if (this.pendingConfIndex > this.log.applied) return `the change at index ${this.pendingConfIndex} is not applied yet (one change at a time)`;
    const pr = change.type === 'forceVoters' ? undefined : this.prs.get(change.peer);
    switch (change.type) {
      case 'addVoter':
        return pr !== undefined && !pr.isLearner ? `${change.peer} is already a voter` : undefined;
      case 'addLearner':
        return pr !== undefined ? `${change.peer} is already a member` : undefined;
      case 'promoteLearner':
        return pr === undefined || !pr.isLearner ? `${change.peer} is not a learner` : undefined;
      case 'removePeer':
        if (pr === undefined) return `${change.peer} is not a member`;
        if (!pr.isLearner && this.voterIds().length === 1) return `${change.peer} is the last voter`;
        return undefined;
      case 'forceVoters':
        return 'forceVoters is written only by force-new-cluster';
      default:
        return assertNever(change, 'conf change');
    }
  }

  /** Appends at the leader; false if the uncommitted-bytes limit refuses them. */
  private appendEntries(entries: readonly { type: Entry['type']; data: Uint8Array }[]): boolean {
    const bytes = entries.reduce((sum, e) => sum + e.data.byteLength, 0);
    if (this.uncommittedBytes > 0 && bytes > 0 && this.uncommittedBytes + bytes > this.config.uncommittedBytesMax) return false;
    this.uncommittedBytes += bytes;
    let index = this.log.lastIndex();
    this.log.append(entries.map((e) => ({ term: this.term, index: ++index, type: e.type, data: e.data })));
    // Single voter: nothing to wait for but our own disk (counted at advance()).
    return true;
  }

  private maybeCommit(): boolean {
    const matches = this.voterIds().map((id) => (this.prs.get(id) as Progress).match).sort((a, b) => b - a);
    if (matches.length === 0) return false;
    const quorumIndex = matches[this.quorum() - 1] as number;
    if (this.bugs.has('commitPreviousTermByCounting')) {
      // Planted bug (§5.4.2, Figure 8): commits an earlier term's entry by counting replicas.
      if (quorumIndex > this.log.committed) {
        this.log.commitTo(quorumIndex);
        return true;
      }
      return false;
    }
    const committed = this.log.maybeCommit(quorumIndex, this.term);
    if (committed) this.releaseReadsAwaitingTermCommit();
    return committed;
  }

  /**
   * Commits what a quorum holds; when the commit index moves, sends the followers what they need
   * of it. Raft needs a follower to learn the commit index only eventually (§5.3: with later
   * appends and heartbeats): a commit-only append goes at once only to a follower that waits for
   * it (it forwarded an entry or asked for a read up to there) and to every follower when a
   * membership change commits (a removed peer must learn of its own removal while it is still
   * sent to). The others learn it from the next append or heartbeat (within heartbeatTicks). At one
   * client writing through the leader, that is two messages fewer per commit, each a wakeup of a
   * follower. Returns whether the commit index moved.
   */
  private commitAndNotify(): boolean {
    const before = this.log.committed;
    if (!this.maybeCommit()) return false;
    const everyone = this.pendingConfIndex > before && this.pendingConfIndex <= this.log.committed;
    for (const [id, pr] of this.prs) {
      if (id !== this.id) this.maybeSendAppend(id, everyone || pr.commitWanted > pr.commitSent);
    }
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private sendAppend(to: PeerId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends entries (or a heartbeat-like empty append) to `to` if its progress allows. Falls back to
   * a snapshot when the entries it needs were compacted. Returns whether a message was sent.
   */
  private maybeSendAppend(to: PeerId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    let prevTerm: number;
    let entries: Entry[];
    try {
      prevTerm = this.log.term(prevIndex);
      entries = pr.next <= this.log.lastIndex() ? this.log.slice(pr.next, this.log.lastIndex() + 1, this.config.appendBytesMax) : [];
    } catch {
      this.startSnapshot(to, pr);
      return true;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    if (pr.state === 'replicate' && entries.length === 0 && !sendIfEmpty) return false;
    const last = entries.length > 0 ? (entries[entries.length - 1] as Entry).index : prevIndex;
    // Only a new commit index for a follower known to hold the log up to here: no answer wanted.
    const quiet = entries.length === 0 && pr.state === 'replicate' && pr.match >= prevIndex;
    this.send({ type: 'app', from: this.id, to, term: this.term, index: prevIndex, logTerm: prevTerm, entries, commit: this.log.committed, ...(quiet ? { quiet: true as const } : {}) });
    pr.commitSent = Math.max(pr.commitSent, this.log.committed);
    pr.sentEntries(last, entries.length);
    return true;
  }

  private startSnapshot(to: PeerId, pr: Progress): void {
    const snapshot = this.log.storage.snapshot();
    if (snapshot.meta.index === 0) return; // Nothing to send yet; the follower waits.
    pr.becomeSnapshot(snapshot.meta.index);
    this.sendSnapshotChunk(to, pr);
  }

  /** Sends the chunk at the follower's acknowledged offset (stop-and-wait, resent on heartbeats). */
  private sendSnapshotChunk(to: PeerId, pr: Progress): void {
    const snapshot = this.log.storage.snapshot();
    if (snapshot.meta.index !== pr.pendingSnapshot) {
      // The leader compacted again meanwhile: start over with the newer snapshot.
      pr.becomeSnapshot(snapshot.meta.index);
    }
    const offset = pr.snapshotBytesAcked;
    const chunk = snapshot.data.subarray(offset, offset + this.config.snapshotChunkBytes);
    const message: SnapshotMessage = { type: 'snap', from: this.id, to, term: this.term, meta: snapshot.meta, offset, totalBytes: snapshot.data.byteLength, chunk };
    this.send(message);
  }

  private leaderSnapshotResponse(from: PeerId, pr: Progress, m: Extract<Message, { type: 'snapResp' }>): void {
    if (pr.state !== 'snapshot' || m.snapshotIndex !== pr.pendingSnapshot) {
      this.counters.staleMessages++;
      return;
    }
    if (m.installedIndex > 0) {
      pr.maybeUpdate(m.installedIndex);
      pr.becomeProbe();
      this.sendAppend(from);
      return;
    }
    pr.snapshotBytesAcked = m.reject ? 0 : Math.max(pr.snapshotBytesAcked, m.offset);
    this.sendSnapshotChunk(from, pr);
  }

  private bcastHeartbeat(context: string): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      // §5.3: never tell a follower to commit past what it is known to hold.
      const message: HeartbeatMessage = { type: 'heartbeat', from: this.id, to: id, term: this.term, commit: Math.min(pr.match, this.log.committed), context };
      this.send(message);
      pr.commitSent = Math.max(pr.commitSent, message.commit);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum) {
        // Thesis §6.2: a leader that has not heard from a quorum within an election timeout
        // steps down, so that clients find the real leader and stale reads are bounded.
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, '');
          return;
        }
      }
      if (this.leadTransferee !== '') this.abortLeaderTransfer();
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      // Every heartbeat carries the newest pending read's context, so that a read whose own
      // round was lost is still confirmed by a later one (and confirms the earlier reads too).
      const lastRead = this.pendingReads[this.pendingReads.length - 1];
      this.bcastHeartbeat(lastRead?.context ?? '');
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.voterIds()) {
      const pr = this.prs.get(id) as Progress;
      if (id === this.id || pr.recentActive) active++;
      pr.recentActive = false;
    }
    return active >= this.quorum();
  }

  private leaderTransfer(transferee: PeerId): void {
    const pr = this.prs.get(transferee);
    if (pr === undefined || pr.isLearner || transferee === this.id) return;
    if (this.leadTransferee === transferee) return;
    this.abortLeaderTransfer();
    // Thesis §3.10: stop taking proposals, bring the transferee up to date, then tell it to go.
    this.leadTransferee = transferee;
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  private sendTimeoutNow(to: PeerId): void {
    this.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = '';
  }

  // ---- linearizable reads (thesis §6.4) ---------------------------------------------------------

  private leaderReadIndex(context: string, from: PeerId): void {
    if (this.voterIds().length === 1) {
      this.releaseRead({ context, from, index: this.log.committed, acks: new Set() });
      return;
    }
    if (this.log.termOrZero(this.log.committed) !== this.term) {
      // The leader does not know the commit index until an entry of its term commits.
      this.readsAwaitingTermCommit.push({ context, from });
      return;
    }
    this.pendingReads.push({ context, from, index: this.log.committed, acks: new Set([this.id]) });
    this.bcastHeartbeat(context);
  }

  private releaseReadsAwaitingTermCommit(): void {
    const waiting = this.readsAwaitingTermCommit;
    if (waiting.length === 0 || this.log.termOrZero(this.log.committed) !== this.term) return;
    this.readsAwaitingTermCommit = [];
    for (const read of waiting) this.leaderReadIndex(read.context, read.from);
  }

  private ackRead(context: string, from: PeerId): void {
    const at = this.pendingReads.findIndex((r) => r.context === context);
    if (at < 0) return;
    const read = this.pendingReads[at] as PendingRead;
    if (!this.voterIds().includes(from)) return;
    read.acks.add(from);
    if (read.acks.size < this.quorum()) return;
    // A confirmed round confirms every earlier read too.
    const confirmed = this.pendingReads.splice(0, at + 1);
    for (const r of confirmed) this.releaseRead(r);
  }

  private releaseRead(read: Omit<PendingRead, 'acks'> & { acks: Set<PeerId> }): void {
    if (read.from === this.id) this.readStates.push({ index: read.index, context: read.context });
    else {
      this.send({ type: 'readIndexResp', from: this.id, to: read.from, term: this.term, context: read.context, index: read.index });
      // The follower serves the read once it has applied up to read.index: it needs that commit now.
      const pr = this.prs.get(read.from);
      if (pr !== undefined) {
        pr.commitWanted = Math.max(pr.commitWanted, read.index);
        if (pr.commitSent < read.index) this.sendAppend(read.from);
      }
    }
  }

  // ---- candidate and follower -------------------------------------------------------------------

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'prop':
        this.counters.droppedProposals++;
        if (m.from === this.id) throw new NotLeaderError(this.id, '');
        return;
      case 'app':
      case 'heartbeat':
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'voteResp':
      case 'preVoteResp': {
        const expected = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
        if (m.type !== expected) return;
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === 'preCandidate') this.campaignElection(false);
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, '');
        }
        return;
      }
      case 'readIndex':
        this.counters.droppedProposals++;
        return;
      default:
        this.counters.staleMessages++;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'prop':
        if (this.lead === '' || this.config.disableProposalForwarding) {
          this.counters.droppedProposals++;
          if (m.from === this.id) throw new NotLeaderError(this.id, this.lead);
          return;
        }
        this.send({ ...m, to: this.lead });
        return;
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
        this.sendAfterPersist({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, context: m.context });
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshotChunk(m);
        return;
      case 'transferLeader':
        if (this.lead === '') return;
        this.send({ ...m, to: this.lead });
        return;
      case 'timeoutNow':
        // Thesis §3.10: the transferee campaigns at once, skipping pre-vote and leases.
        this.hup(true);
        return;
      case 'readIndex':
        if (this.lead === '') {
          this.counters.droppedProposals++;
          return;
        }
        this.send({ ...m, to: this.lead });
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        this.counters.staleMessages++;
    }
  }

  private handleAppend(m: AppendMessage): void {
    if (m.index < this.log.committed) {
      this.sendAfterPersist({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: this.log.committed, reject: false, rejectHint: 0 });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      // Only an append without entries is quiet (validateMessage): nothing to acknowledge.
      if (m.quiet === true) return;
      this.sendAfterPersist({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: lastNew, reject: false, rejectHint: 0 });
    } else {
      this.sendAfterPersist({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: m.index, reject: true, rejectHint: Math.min(m.index, this.log.lastIndex()) });
    }
  }

  private handleSnapshotChunk(m: SnapshotMessage): void {
    const { meta } = m;
    const ack = (offset: number, reject: boolean, installedIndex: number) => {
      const message: Message = { type: 'snapResp', from: this.id, to: m.from, term: this.term, snapshotIndex: meta.index, offset, reject, installedIndex };
      if (installedIndex > 0) this.sendAfterPersist(message);
      else this.send(message);
    };
    if (meta.index <= this.log.committed) {
      // Already have it (or more): tell the leader where we are.
      ack(m.totalBytes, false, this.log.committed);
      return;
    }
    let incoming = this.incomingSnapshot;
    if (incoming === undefined || incoming.index !== meta.index || incoming.term !== meta.term) {
      if (m.offset !== 0) {
        ack(0, true, 0);
        return;
      }
      incoming = { index: meta.index, term: meta.term, parts: [], received: 0 };
      this.incomingSnapshot = incoming;
    }
    if (m.offset < incoming.received) {
      ack(incoming.received, false, 0);
      return;
    }
    if (m.offset > incoming.received) {
      ack(incoming.received, false, 0);
      return;
    }
    incoming.parts.push(m.chunk.slice());
    incoming.received += m.chunk.byteLength;
    if (incoming.received < m.totalBytes) {
      ack(incoming.received, false, 0);
      return;
    }
    const data = concatBytes(incoming.parts);
    this.incomingSnapshot = undefined;
    const snapshot: Snapshot = { meta, data };
    if (this.restore(snapshot)) ack(m.totalBytes, false, this.log.lastIndex());
    else ack(m.totalBytes, false, this.log.committed);
  }

  /** §7: a follower replaces its log with the snapshot unless its log already covers it. */
  private restore(snapshot: Snapshot): boolean {
    const { index, term } = snapshot.meta;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // Our log holds the snapshot's last entry: keep the log, move commit.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.setConf(snapshot.meta.confState);
    return true;
  }

  private tickElection(): void {
    if (this.leaderGoneElection && this.lead !== '') {
      // A leader is known again (a follower learns it from an append, not by becoming one).
      this.leaderGoneElection = false;
      this.resetRandomizedElectionTimeout();
    }
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private resetRandomizedElectionTimeout(): void {
    if (this.leaderGoneElection) {
      this.randomizedElectionTimeout = 1 + this.random.int(0, 2);
      return;
    }
    // §5.2: randomized timeouts in [T, 2T) make split votes rare.
    this.randomizedElectionTimeout = this.config.electionTicks + this.random.int(0, this.config.electionTicks - 1);
  }

  // ---- configuration ----------------------------------------------------------------------------

  private setConf(conf: ConfState): void {
    const next = new Map<PeerId, Progress>();
    const lastIndex = this.log.lastIndex();
    for (const id of conf.voters) next.set(id, this.prs.get(id) ?? new Progress(lastIndex + 1, this.config.inflightAppendsMax, false));
    for (const id of conf.learners) next.set(id, this.prs.get(id) ?? new Progress(lastIndex + 1, this.config.inflightAppendsMax, true));
    for (const [id, pr] of next) pr.isLearner = conf.learners.includes(id);
    this.prs = next;
  }

  /** Thesis §4.1: one server at a time; the configuration takes effect when the entry is applied. */
  private applyConfChange(entry: Entry): void {
    let change: ConfChange;
    try {
      change = decodeConfChange(entry.data);
    } catch {
      this.counters.badMessages++;
      return;
    }
    const { voters, learners } = nextConfState(this.confState(), change);
    if (voters.length === 0) {
      // Refused at proposal; a log that carries it anyway is not ours to obey.
      this.counters.badMessages++;
      return;
    }
    this.setConf({ voters, learners });
    if (!this.prs.has(this.id) || this.prs.get(this.id)?.isLearner) {
      // Removed (or demoted): a leader steps down; the others will elect a new one.
      if (this.role === 'leader') this.becomeFollower(this.term, '');
      return;
    }
    if (this.role === 'leader') {
      if (this.leadTransferee !== '' && !this.prs.has(this.leadTransferee)) this.abortLeaderTransfer();
      if (this.maybeCommit()) this.bcastAppend();
      else this.bcastAppend();
    }
  }

  /**
   * Force-new-cluster: this peer's log up to its commit index becomes a single-voter cluster.
   * The uncommitted tail is dropped and a committed entry records the new configuration.
   */
  private forceNewCluster(): void {
    const commit = this.log.committed;
    const term = Math.max(this.term, this.log.termOrZero(commit)) + 1;
    this.term = term;
    this.vote = '';
    const change: ConfChange = { type: 'forceVoters', voters: [this.id] };
    this.log.append([{ term, index: commit + 1, type: 'confChange', data: encodeMessage(change) }]);
    this.log.commitTo(commit + 1);
    this.setConf({ voters: [this.id], learners: [] });
  }

  private voterIds(): PeerId[] {
    const ids: PeerId[] = [];
    for (const [id, pr] of this.prs) if (!pr.isLearner) ids.push(id);
    return ids;
  }

  private quorum(): number {
    return Math.floor(this.voterIds().length / 2) + 1;
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private sendAfterPersist(m: Message): void {
    this.msgsAfterPersist.push(m);
  }

  private softStateChanged(): boolean {
    return this.prevSoftState.leader !== this.lead || this.prevSoftState.role !== this.role;
  }

  private hardStateChanged(): boolean {
    const p = this.prevHardState;
    return p.term !== this.term || p.vote !== this.vote || p.commit !== this.log.committed;
  }
}

/**
 * The configuration after one change: a pure function shared by the core and by appliers that
 * track the configuration (to write it into their snapshots). Idempotent: applying a change twice
 * gives the same configuration.
 */
export function nextConfState(conf: ConfState, change: ConfChange): ConfState {
  let voters = [...conf.voters];
  let learners = [...conf.learners];
  switch (change.type) {
    case 'addVoter':
      learners = learners.filter((p) => p !== change.peer);
      if (!voters.includes(change.peer)) voters.push(change.peer);
      break;
    case 'addLearner':
      if (!voters.includes(change.peer) && !learners.includes(change.peer)) learners.push(change.peer);
      break;
    case 'promoteLearner':
      if (learners.includes(change.peer)) {
        learners = learners.filter((p) => p !== change.peer);
        voters.push(change.peer);
      }
      break;
    case 'removePeer':
      voters = voters.filter((p) => p !== change.peer);
      learners = learners.filter((p) => p !== change.peer);
      break;
    case 'forceVoters':
      voters = [...change.voters];
      learners = [];
      break;
    default:
      assertNever(change, 'conf change');
  }
  return { voters: voters.sort(), learners: learners.sort() };
}

export function encodeConfChange(change: ConfChange): Uint8Array {
  return encodeMessage(change);
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const value = decodeMessage(data) as ConfChange | null;
  if (typeof value !== 'object' || value === null || typeof value.type !== 'string') throw new BadMessageError('conf change is not an object with a type');
  switch (value.type) {
    case 'addVoter':
    case 'addLearner':
    case 'promoteLearner':
    case 'removePeer':
      if (typeof value.peer !== 'string' || value.peer === '') throw new BadMessageError(`conf change ${value.type} needs a peer`);
      return value;
    case 'forceVoters':
      if (!Array.isArray(value.voters)) throw new BadMessageError('forceVoters needs voters');
      return value;
    default:
      throw new BadMessageError(`unknown conf change type ${String((value as { type: unknown }).type)}`);
  }
}

const isIndex = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** An entry's type and data (a proposal's entry; an append's carries index and term as well). */
const isEntryBody = (e: unknown): boolean => {
  if (typeof e !== 'object' || e === null) return false;
  const entry = e as Record<string, unknown>;
  return (entry.type === 'normal' || entry.type === 'confChange') && entry.data instanceof Uint8Array;
};

/** Refuses anything that is not a well-formed message, naming what is wrong. */
export function validateMessage(m: unknown): asserts m is Message {
  if (typeof m !== 'object' || m === null) throw new BadMessageError('not an object');
  const msg = m as Record<string, unknown>;
  if (!MESSAGE_TYPES.includes(msg.type as Message['type'])) throw new BadMessageError(`unknown type ${JSON.stringify(msg.type)}`);
  if (typeof msg.from !== 'string' || typeof msg.to !== 'string') throw new BadMessageError(`${String(msg.type)}: from and to must be strings`);
  if (!isIndex(msg.term)) throw new BadMessageError(`${String(msg.type)}: term must be a non-negative integer`);
  // Term 0 marks a local request (or one forwarded as is); a peer's message always has a term,
  // and one without would skip every term check.
  if (msg.term === 0 && msg.type !== 'prop' && msg.type !== 'readIndex' && msg.type !== 'transferLeader') throw new BadMessageError(`${String(msg.type)}: term 0 is only for local requests`);
  switch (msg.type) {
    case 'app':
      if (!isIndex(msg.index) || !isIndex(msg.logTerm) || !isIndex(msg.commit) || !Array.isArray(msg.entries)) throw new BadMessageError('app: index, logTerm, commit and entries are required');
      if (msg.quiet !== undefined && (msg.quiet !== true || (msg.entries as unknown[]).length > 0)) throw new BadMessageError('app: quiet is true or absent, and only on an append without entries');
      {
        // §5.3: the entries follow (index, logTerm) one by one, in terms that never decrease and
        // never pass the sender's; anything else would make the follower ack entries it does not
        // hold, or trip its log's assertions.
        let index = msg.index as number;
        let term = msg.logTerm as number;
        for (const e of msg.entries as unknown[]) {
          const entry = e as Record<string, unknown>;
          if (!isEntryBody(e) || !isIndex(entry.index) || !isIndex(entry.term)) throw new BadMessageError('app: malformed entry');
          if (entry.index !== ++index) throw new BadMessageError(`app: entry index ${String(entry.index)} where ${index} was due`);
          if ((entry.term as number) < term || (entry.term as number) > (msg.term as number)) throw new BadMessageError(`app: entry ${index} of term ${String(entry.term)} outside [${term}, ${String(msg.term)}]`);
          term = entry.term as number;
        }
      }
      return;
    case 'appResp':
      if (!isIndex(msg.index) || typeof msg.reject !== 'boolean' || !isIndex(msg.rejectHint)) throw new BadMessageError('appResp: index, reject and rejectHint are required');
      return;
    case 'vote':
    case 'preVote':
      if (!isIndex(msg.index) || !isIndex(msg.logTerm) || typeof msg.force !== 'boolean') throw new BadMessageError(`${msg.type}: index, logTerm and force are required`);
      return;
    case 'voteResp':
    case 'preVoteResp':
      if (typeof msg.reject !== 'boolean') throw new BadMessageError(`${msg.type}: reject is required`);
      return;
    case 'heartbeat':
      if (!isIndex(msg.commit) || typeof msg.context !== 'string') throw new BadMessageError('heartbeat: commit and context are required');
      return;
    case 'heartbeatResp':
      if (typeof msg.context !== 'string') throw new BadMessageError('heartbeatResp: context is required');
      return;
    case 'snap': {
      if (typeof msg.meta !== 'object' || msg.meta === null || !isIndex(msg.offset) || !isIndex(msg.totalBytes) || !(msg.chunk instanceof Uint8Array)) throw new BadMessageError('snap: meta, offset, totalBytes and chunk are required');
      const meta = msg.meta as Record<string, unknown>;
      const conf = meta.confState as Record<string, unknown> | null | undefined;
      const isPeerList = (v: unknown): boolean => Array.isArray(v) && v.every((p) => typeof p === 'string');
      if (!isIndex(meta.index) || !isIndex(meta.term) || typeof conf !== 'object' || conf === null || !isPeerList(conf.voters) || !isPeerList(conf.learners)) {
        throw new BadMessageError('snap: meta needs index, term and a confState of voters and learners');
      }
      if ((msg.offset as number) + (msg.chunk as Uint8Array).byteLength > (msg.totalBytes as number)) throw new BadMessageError('snap: chunk runs past totalBytes');
      return;
    }
    case 'snapResp':
      if (!isIndex(msg.snapshotIndex) || !isIndex(msg.offset) || typeof msg.reject !== 'boolean' || !isIndex(msg.installedIndex)) throw new BadMessageError('snapResp: snapshotIndex, offset, reject and installedIndex are required');
      return;
    case 'prop':
      // A forwarded proposal is appended as it is: its entries must be well formed too.
      if (!Array.isArray(msg.entries) || !msg.entries.every(isEntryBody)) throw new BadMessageError('prop: entries of type and data are required');
      return;
    case 'readIndex':
    case 'readIndexResp':
      if (typeof msg.context !== 'string') throw new BadMessageError(`${msg.type}: context is required`);
      return;
    case 'transferLeader':
      if (typeof msg.transferee !== 'string') throw new BadMessageError('transferLeader: transferee is required');
      return;
    default:
      return;
  }
}


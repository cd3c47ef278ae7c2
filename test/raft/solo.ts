// One Raft core outside any network, for tests that drive it message by message the way etcd's
// raft_paper_test.go does: the test steps hand-written messages in, and `drain()` runs the core's
// Ready batches as the shell would (persist to a MemoryLogStorage, then collect what each batch
// hands out), so that the test can look at exactly what the core said and when.
import { MemoryLogStorage, type Entry, type PeerId } from '../../journal/index.js';
import {
  RaftCore,
  type AppendMessage,
  type AppendResponse,
  type HeartbeatMessage,
  type Message,
  type RaftBug,
  type RaftConfig,
  type ReadState,
  type VoteMessage,
  type VoteResponse,
} from '../../raft/index.js';
import { SeededRandom } from '../../runtime/index.js';
import { text } from './network.js';

/**
 * The paper's algorithm without the thesis's extensions (PreVote, CheckQuorum), as etcd's paper
 * tests run it. T = 10 ticks; a heartbeat every tick.
 */
export const PAPER: Partial<RaftConfig> = { electionTicks: 10, heartbeatTicks: 1, preVote: false, checkQuorum: false };

/** Entries from index `from`, one per term given (Figure 7 writes logs this way). */
export function entriesOfTerms(terms: readonly number[], from = 1): Entry[] {
  return terms.map((term, i) => ({ term, index: from + i, type: 'normal' as const, data: text(`${from + i}@${term}`) }));
}

export interface SoloInit {
  readonly id?: PeerId;
  readonly voters?: readonly PeerId[];
  readonly learners?: readonly PeerId[];
  /** The terms of the stored entries 1..n. */
  readonly terms?: readonly number[];
  /** The stored term; defaults to the last entry's term. */
  readonly term?: number;
  readonly vote?: PeerId;
  readonly commit?: number;
  readonly config?: Partial<RaftConfig>;
  readonly seed?: string;
  readonly bugs?: readonly RaftBug[];
}

/** What the Ready batches handed out since the last drain, in order. */
export interface Drained {
  readonly messages: Message[];
  readonly messagesAfterPersist: Message[];
  /** Entries persisted. */
  readonly entries: Entry[];
  /** Entries handed out for applying. */
  readonly committed: Entry[];
  readonly readStates: ReadState[];
}

export class Solo {
  readonly core: RaftCore;
  readonly storage: MemoryLogStorage;

  constructor(init: SoloInit = {}) {
    const id = init.id ?? '1';
    const terms = init.terms ?? [];
    const entries = entriesOfTerms(terms);
    const term = init.term ?? terms[terms.length - 1] ?? 0;
    this.storage = MemoryLogStorage.create({
      voters: [...(init.voters ?? ['1', '2', '3'])],
      learners: [...(init.learners ?? [])],
      entries,
      hardState: { term, vote: init.vote ?? '', commit: init.commit ?? 0 },
    });
    this.core = new RaftCore({ ...PAPER, ...init.config, id }, this.storage, new SeededRandom(init.seed ?? `solo-${id}`), init.bugs ?? []);
  }

  get id(): PeerId {
    return this.core.id;
  }

  step(m: Message): void {
    this.core.step(m);
  }

  /** Runs every pending Ready: persist, collect, advance. */
  drain(): Drained {
    const out: Drained = { messages: [], messagesAfterPersist: [], entries: [], committed: [], readStates: [] };
    while (this.core.hasReady()) {
      const rd = this.core.ready();
      this.storage.applyWrite({
        ...(rd.hardState ? { hardState: rd.hardState } : {}),
        entries: rd.entries,
        ...(rd.snapshot ? { snapshot: rd.snapshot } : {}),
      });
      out.messages.push(...rd.messages);
      out.messagesAfterPersist.push(...rd.messagesAfterPersist);
      out.entries.push(...rd.entries);
      out.committed.push(...rd.committedEntries);
      out.readStates.push(...rd.readStates);
      this.core.advance();
    }
    return out;
  }

  /** Both message lists of a drain, after-persist last (the order the shell may send them). */
  sent(): Message[] {
    const out = this.drain();
    return [...out.messages, ...out.messagesAfterPersist];
  }

  /** The stored log's terms, from index 1 (Figure 7's notation). */
  terms(): number[] {
    const out: number[] = [];
    for (let i = this.storage.firstIndex(); i <= this.storage.lastIndex(); i++) out.push(this.storage.term(i));
    return out;
  }

  /**
   * Makes this peer the leader of the next term with the other voters' votes (through PreVote
   * first when it is on), then persists, so that the leader's own entries count.
   */
  becomeLeader(): void {
    const others = this.core.status().voters.filter((v) => v !== this.id);
    this.core.campaign();
    this.drain();
    if (this.core.role === 'preCandidate') {
      for (const from of others) this.step(voteResp(from, this.id, this.core.term + 1, 'preVoteResp'));
      this.drain();
    }
    for (const from of others) if (this.core.role === 'candidate') this.step(voteResp(from, this.id, this.core.term));
    this.drain();
    if (this.core.role !== 'leader') throw new Error(`${this.id} did not become leader (role ${this.core.role})`);
  }

  /** Acknowledges, as every other voter, everything up to the leader's last index. */
  ackAll(from: readonly PeerId[] = this.core.status().voters.filter((v) => v !== this.id)): Drained {
    for (const f of from) this.step(appResp(f, this.id, this.core.term, this.core.status().lastIndex));
    return this.drain();
  }
}

// ---- message builders -------------------------------------------------------------------------

export function append(
  from: PeerId,
  to: PeerId,
  term: number,
  prev: { index: number; logTerm: number },
  entries: readonly Entry[] = [],
  commit = 0,
): AppendMessage {
  return { type: 'app', from, to, term, index: prev.index, logTerm: prev.logTerm, entries, commit };
}

export function appResp(from: PeerId, to: PeerId, term: number, index: number, reject = false, rejectHint = 0): AppendResponse {
  return { type: 'appResp', from, to, term, index, reject, rejectHint };
}

export function heartbeat(from: PeerId, to: PeerId, term: number, commit = 0, context = ''): HeartbeatMessage {
  return { type: 'heartbeat', from, to, term, commit, context };
}

export function vote(from: PeerId, to: PeerId, term: number, last: { index: number; logTerm: number } = { index: 0, logTerm: 0 }, type: VoteMessage['type'] = 'vote'): VoteMessage {
  return { type, from, to, term, index: last.index, logTerm: last.logTerm, force: false };
}

export function voteResp(from: PeerId, to: PeerId, term: number, type: VoteResponse['type'] = 'voteResp', reject = false): VoteResponse {
  return { type, from, to, term, reject };
}

/** The message interface that carries type `T` (VoteMessage for both 'vote' and 'preVote'). */
export type MessageOf<T extends Message['type']> = Message extends infer M ? (M extends { type: infer U } ? (T extends U ? M : never) : never) : never;

/** Messages of one type, optionally to one peer. */
export function ofType<T extends Message['type']>(messages: readonly Message[], type: T, to?: PeerId): MessageOf<T>[] {
  return messages.filter((m): m is MessageOf<T> => m.type === type && (to === undefined || m.to === to));
}

/** The (index, term) pairs of entries, for comparing logs. */
export function indexTerms(entries: readonly Entry[]): Array<[number, number]> {
  return entries.map((e) => [e.index, e.term]);
}

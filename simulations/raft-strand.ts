// A nemesis for Figure 8 histories (Raft §5.4.2): entries of an older term reach a bare majority
// through a later leader that is cut off before its own term's entry does, and a peer holding a
// conflicting entry of a term in between can still be elected. Only partitions, timed by what the
// network shows (who took office, which appends were acknowledged); the algorithm decides the rest.
//
// One minority is cut off at a time, and the cut moves as leaders change:
//   1. a leader is cut off alone as it takes a proposal, so the entry reaches no one;
//   2. the next leader is cut off as it takes office, with just enough voters that the other side
//      is a bare majority; its own first entry stays on its side. The first leader rejoins that
//      majority, in which its log is the longest, so only it can win there;
//   3. once a bare majority has acknowledged an entry past the commit index that leader has
//      announced, it is cut off, with its earliest acknowledgers (which may already hold its
//      pipelined entries); the second leader's side rejoins the rest, a bare majority that only
//      it (or a peer of its side) can lead;
//   4. a while after the next leader takes office, everything heals.
// An episode starts at half the proposals a leader takes, 3-8 s after the last one ended; a step
// that does not come within 8 s ends it, and all heals.
import type { PeerId } from '../journal/index.js';
import type { Random } from '../runtime/index.js';
import type { SimLoop } from './loop.js';
import type { SimNetwork } from './network.js';
import type { Trace } from './trace.js';

export interface StrandedEntriesOptions {
  readonly peers: readonly PeerId[];
  /** The voters of the configuration as committed. */
  readonly voters: () => readonly PeerId[];
  readonly loop: SimLoop;
  readonly network: SimNetwork;
  readonly trace: Trace;
  readonly random: Random;
}

type Step = 'firstCut' | 'secondCut' | 'thirdCut';

interface Episode {
  step: Step;
  /** The peers cut off from the rest now. */
  cut: PeerId[];
  /** In secondCut: the leader elected outside the cut, its term, its announced commit index, and who acknowledged past it. */
  leader: PeerId;
  term: number;
  commit: number;
  acked: PeerId[];
  /** Changes at every step, so that a stale timeout does nothing. */
  epoch: number;
}

const STEP_TIMEOUT_MS = 8000;
const START_PROBABILITY = 0.5;
/** Between episodes the cluster runs under the other faults only. */
const IDLE_AFTER_EPISODE_MS_MIN = 3000;
const IDLE_AFTER_EPISODE_MS_MAX = 8000;

export class StrandedEntries {
  private episode: Episode | undefined;
  private epochs = 0;
  private idleUntil = 0;
  private stopped = false;

  constructor(private readonly options: StrandedEntriesOptions) {}

  /** While an episode runs, the caller skips other faults: they would undo its cuts or stop its leaders. */
  get active(): boolean {
    return this.episode !== undefined;
  }

  /** A leader is handed a proposal (before it appends it). */
  proposalTaken(leader: PeerId): void {
    if (this.stopped || this.episode !== undefined || this.options.loop.now() < this.idleUntil) return;
    if (!this.options.random.chance(START_PROBABILITY)) return;
    this.episode = { step: 'firstCut', cut: [], leader: '', term: 0, commit: 0, acked: [], epoch: 0 };
    this.moveCut('firstCut', [leader]);
  }

  leaderTookOffice(id: PeerId): void {
    const episode = this.episode;
    if (this.stopped || episode === undefined || episode.cut.includes(id)) return;
    switch (episode.step) {
      case 'firstCut': {
        const others = this.options.voters().filter((p) => p !== id && !episode.cut.includes(p));
        this.moveCut('secondCut', [id, ...this.shuffled(others).slice(0, this.spareVoters())]);
        return;
      }
      case 'secondCut':
        episode.leader = id;
        episode.term = 0;
        episode.commit = 0;
        episode.acked = [];
        return;
      case 'thirdCut': {
        const epoch = episode.epoch;
        this.options.loop.schedule(this.options.random.int(300, 2500), () => {
          if (this.episode?.epoch === epoch) this.end();
        });
        return;
      }
    }
  }

  /** An append from `leader` is delivered: it announces the leader's commit index. */
  appendDelivered(leader: PeerId, term: number, commit: number): void {
    const episode = this.episode;
    if (episode === undefined || episode.step !== 'secondCut' || episode.leader !== leader || term < episode.term) return;
    if (term > episode.term) {
      episode.term = term;
      episode.acked = [];
    }
    episode.commit = Math.max(episode.commit, commit);
  }

  /** `from` acknowledged `leader`'s appends up to `index`. */
  appendAcked(leader: PeerId, from: PeerId, term: number, index: number): void {
    const episode = this.episode;
    if (this.stopped || episode === undefined || episode.step !== 'secondCut' || episode.leader !== leader) return;
    if (term !== episode.term || index <= episode.commit || episode.acked.includes(from)) return;
    episode.acked.push(from);
    if (episode.acked.length + 1 < this.quorum()) return;
    this.moveCut('thirdCut', [leader, ...episode.acked.slice(0, this.spareVoters())]);
  }

  /** Another fault healed links: the episode's cut stays. */
  keepCut(): void {
    const cut = this.episode?.cut;
    if (cut !== undefined) this.options.network.partition(cut, this.options.peers.filter((p) => !cut.includes(p)));
  }

  /** The liveness phase: no more episodes (the caller heals the network). */
  stop(): void {
    this.stopped = true;
    this.episode = undefined;
  }

  private quorum(): number {
    return Math.floor(this.options.voters().length / 2) + 1;
  }

  /** Voters that can be cut off with a leader while the rest is still a majority. */
  private spareVoters(): number {
    return this.options.voters().length - 1 - this.quorum();
  }

  private shuffled(ids: readonly PeerId[]): PeerId[] {
    return ids.map((id) => ({ id, key: this.options.random.uint32() })).sort((a, b) => a.key - b.key).map((x) => x.id);
  }

  private moveCut(step: Step, cut: PeerId[]): void {
    const episode = this.episode as Episode;
    const { loop, peers, trace } = this.options;
    this.reconnect(episode.cut, cut);
    episode.step = step;
    episode.cut = cut;
    episode.epoch = ++this.epochs;
    trace.record({ t: loop.now(), kind: 'partition', a: cut, b: peers.filter((p) => !cut.includes(p)), asymmetric: false, strand: step });
    this.keepCut();
    const epoch = episode.epoch;
    loop.schedule(STEP_TIMEOUT_MS, () => {
      if (this.episode?.epoch === epoch) this.end();
    });
  }

  private end(): void {
    const episode = this.episode as Episode;
    const { loop, random, trace } = this.options;
    trace.record({ t: loop.now(), kind: 'heal', strand: episode.step });
    this.reconnect(episode.cut, []);
    this.episode = undefined;
    this.idleUntil = loop.now() + random.int(IDLE_AFTER_EPISODE_MS_MIN, IDLE_AFTER_EPISODE_MS_MAX);
  }

  /** Restores the links between `group` and every peer outside it and outside `except`. */
  private reconnect(group: readonly PeerId[], except: readonly PeerId[]): void {
    const { network, peers } = this.options;
    for (const a of group) {
      for (const b of peers) {
        if (group.includes(b) || except.includes(b)) continue;
        network.unblock(a, b);
        network.unblock(b, a);
      }
    }
  }
}

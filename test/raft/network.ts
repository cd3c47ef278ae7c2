// A deterministic in-process cluster of Raft cores for unit, paper and scenario tests: each peer
// has a MemoryLogStorage (durable at once), Readies are processed in the order the shell would
// (persist, send, apply, advance), and messages wait in one queue until delivered.
import { MemoryLogStorage, type Entry, type PeerId } from '../../journal/index.js';
import { DEFAULT_RAFT_CONFIG, type Message, RaftCore, type RaftBug, type RaftConfig, type ReadState } from '../../raft/index.js';
import { SeededRandom } from '../../runtime/index.js';

export interface Peer {
  core: RaftCore;
  readonly storage: MemoryLogStorage;
  readonly applied: Entry[];
  readonly readStates: ReadState[];
}

export class RaftNetwork {
  readonly peers = new Map<PeerId, Peer>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  /** Every message delivered, for assertions. */
  readonly delivered: Message[] = [];
  /** An adversary: queued messages it matches are dropped at delivery (checked as they go). */
  dropIf: ((m: Message) => boolean) | undefined;
  private readonly cut = new Set<string>();
  private readonly random: SeededRandom;

  constructor(ids: readonly PeerId[], private readonly config: Partial<RaftConfig> = {}, seed = 'raft', private readonly bugs: readonly RaftBug[] = []) {
    this.random = new SeededRandom(seed);
    for (const id of ids) this.add(id, MemoryLogStorage.create({ voters: [...ids] }));
  }

  add(id: PeerId, storage: MemoryLogStorage, config: Partial<RaftConfig> = {}): Peer {
    const core = new RaftCore({ ...this.config, ...config, id }, storage, this.random.fork(id), this.bugs);
    const peer: Peer = { core, storage, applied: [], readStates: [] };
    this.peers.set(id, peer);
    return peer;
  }

  peer(id: PeerId): Peer {
    const p = this.peers.get(id);
    if (p === undefined) throw new Error(`no peer ${id}`);
    return p;
  }

  core(id: PeerId): RaftCore {
    return this.peer(id).core;
  }

  /** Processes every pending Ready of `id` the way the shell does. */
  process(id: PeerId): boolean {
    const peer = this.peer(id);
    let any = false;
    while (peer.core.hasReady()) {
      any = true;
      const rd = peer.core.ready();
      peer.storage.applyWrite({
        ...(rd.hardState ? { hardState: rd.hardState } : {}),
        entries: rd.entries,
        ...(rd.snapshot ? { snapshot: rd.snapshot } : {}),
      });
      this.send(rd.messages);
      this.send(rd.messagesAfterPersist);
      peer.applied.push(...rd.committedEntries);
      peer.readStates.push(...rd.readStates);
      peer.core.advance();
    }
    return any;
  }

  private send(messages: readonly Message[]): void {
    for (const m of messages) this.queue.push(m);
  }

  /** Delivers every queued message (dropping those on cut links or to absent peers). */
  deliverAll(): number {
    const batch = this.queue;
    this.queue = [];
    let n = 0;
    for (const m of batch) {
      if (this.cut.has(`${m.from}->${m.to}`) || !this.peers.has(m.to) || this.dropIf?.(m) === true) continue;
      this.delivered.push(m);
      this.peer(m.to).core.step(m);
      n++;
    }
    return n;
  }

  /** Delivers only the queued messages that `pick` matches (in order); the rest stay queued. */
  deliverWhere(pick: (m: Message) => boolean): number {
    const chosen = this.queue.filter(pick);
    this.queue = this.queue.filter((m) => !pick(m));
    const rest = this.queue;
    this.queue = chosen;
    const n = this.deliverAll();
    this.queue = [...rest, ...this.queue];
    return n;
  }

  /** Processes every peer's Readies once, delivering nothing. */
  processAll(): void {
    for (const id of this.peers.keys()) this.process(id);
  }

  /** Runs Readies and deliveries until nothing moves. */
  stabilize(roundsMax = 1000): void {
    for (let round = 0; round < roundsMax; round++) {
      let moved = false;
      for (const id of this.peers.keys()) moved = this.process(id) || moved;
      moved = this.deliverAll() > 0 || moved;
      if (!moved) return;
    }
    throw new Error(`no quiescence after ${roundsMax} rounds`);
  }

  tick(id: PeerId, n = 1): void {
    for (let i = 0; i < n; i++) this.core(id).tick();
  }

  /**
   * The leader's next heartbeat round, then stabilize: a follower that waits for no commit (it
   * forwarded nothing, asked for no read) learns the leader's commit index this way, or from the
   * next append (RaftCore sends commit-only appends only to followers that wait).
   */
  heartbeat(id: PeerId | undefined = this.leader()): void {
    if (id === undefined) throw new Error('heartbeat: no leader');
    this.tick(id, this.config.heartbeatTicks ?? DEFAULT_RAFT_CONFIG.heartbeatTicks);
    this.stabilize();
  }

  /** Ticks every peer `n` times. */
  tickAll(n: number): void {
    for (let i = 0; i < n; i++) for (const peer of this.peers.values()) peer.core.tick();
  }

  /**
   * Ticks every peer once and stabilizes, until `done` holds; returns the rounds it took. Throws
   * after `roundsMax` rounds.
   */
  tickUntil(done: () => boolean, roundsMax = 200): number {
    for (let round = 0; round < roundsMax; round++) {
      if (done()) return round;
      this.tickAll(1);
      this.stabilize();
    }
    if (done()) return roundsMax;
    throw new Error(`condition not reached after ${roundsMax} ticks`);
  }

  /** The peer is gone for good (its messages too). */
  remove(id: PeerId): void {
    this.peers.delete(id);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
  }

  /** The durable log's (index, term) pairs from the first stored index. */
  logOf(id: PeerId): Array<[number, number]> {
    const { storage } = this.peer(id);
    const out: Array<[number, number]> = [];
    for (let i = storage.firstIndex(); i <= storage.lastIndex(); i++) out.push([i, storage.term(i)]);
    return out;
  }

  isolate(id: PeerId): void {
    for (const other of this.peers.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  cutLink(from: PeerId, to: PeerId): void {
    this.cut.add(`${from}->${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** The peer crashes and restarts on its durable log (MemoryLogStorage is durable at once). */
  restart(id: PeerId, config: Partial<RaftConfig> = {}): void {
    const old = this.peer(id);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    const peer = this.add(id, old.storage, config);
    peer.applied.push(...old.applied.filter((e) => e.index <= old.storage.snapshot().meta.index));
  }

  leader(): PeerId | undefined {
    const leaders = [...this.peers.values()].filter((p) => p.core.role === 'leader');
    const top = leaders.sort((a, b) => b.core.term - a.core.term)[0];
    return top?.core.id;
  }

  /** Elects `id` by campaigning and stabilizing. */
  elect(id: PeerId): void {
    this.core(id).campaign();
    this.stabilize();
  }

  appliedData(id: PeerId): string[] {
    return this.peer(id).applied.filter((e) => e.type === 'normal' && e.data.byteLength > 0).map((e) => new TextDecoder().decode(e.data));
  }

  /** Whether messages from `from` to `to` are dropped (by `isolate`, `partition` or `cutLink`). */
  isLinkCut(from: PeerId, to: PeerId): boolean {
    return this.cut.has(`${from}->${to}`);
  }

  /** Cuts every link between the peers of `group` and all other peers, both ways. */
  partition(group: readonly PeerId[]): void {
    const inside = new Set(group);
    for (const a of inside) {
      for (const b of this.peers.keys()) {
        if (inside.has(b)) continue;
        this.cut.add(`${a}->${b}`);
        this.cut.add(`${b}->${a}`);
      }
    }
  }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

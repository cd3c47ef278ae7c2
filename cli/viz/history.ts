// The visualizer's model of a run: every inspection record (runtime/inspection.ts) in order, from a
// simulator trace or a live node, folded into per-actor timelines so that the system can be shown
// as it was after any record (time travel) without replaying from the start. Each actor keeps
// sorted (seq, value) lists of its lifecycle, state and mailbox depth: the view at record S is a
// binary search per actor. Messages keep a compact index (typed columns) for the filtered timeline;
// their payloads stay where the source keeps them (a file read on demand, or a bounded ring).
import { InvariantViolation, type Chart } from '../../runtime/index.js';

export type TraceRecord = Readonly<Record<string, unknown>> & { readonly kind: string };

export type ActorStatus = 'running' | 'restarting' | 'passive' | 'stopped' | 'failed';

export interface ActorView {
  readonly address: string;
  readonly node: string;
  readonly kind: string;
  readonly status: ActorStatus;
  readonly state: unknown;
  readonly depth: number;
  readonly restarts: number;
  /** The reason of the last stop, when stopped. */
  readonly reason?: string;
}

export interface NodeView {
  readonly id: string;
  readonly status: 'up' | 'crashed' | 'paused' | 'failed';
}

export interface StateChange {
  readonly seq: number;
  readonly t: number;
  readonly from: unknown;
  readonly to: unknown;
  /** The type of the message the actor took in the turn of the change; undefined for a timer's. */
  readonly trigger: string | undefined;
}

export interface MessageRow {
  readonly seq: number;
  readonly t: number;
  /** 'delivered' (actor to actor), 'deadLetter', or the network's own: 'deliver', 'drop', 'duplicate'. */
  readonly kind: string;
  readonly from: string | null;
  readonly to: string;
  readonly fromNode: string | null;
  readonly toNode: string;
  readonly type: string;
}

export interface MessageQuery {
  /** Only messages at or before this record. */
  readonly at: number;
  readonly limit: number;
  /** Either end on this node. */
  readonly node?: string;
  /** Either end is this actor or one below it in the tree (a node id takes the node's network records too). */
  readonly actor?: string;
  /** A case-insensitive part of the type. */
  readonly type?: string;
}

const NETWORK_KINDS = new Set(['deliver', 'drop', 'duplicate']);
const NODE_KINDS: Readonly<Record<string, NodeView['status']>> = {
  'node.started': 'up', 'node.resumed': 'up', 'node.crashed': 'crashed', 'node.paused': 'paused', 'node.failed': 'failed',
};

/** A growable column of numbers in a typed array (int32 for ids, float64 for times and offsets). */
export class Column<A extends Int32Array | Float64Array = Int32Array> {
  private data: A;
  length = 0;

  constructor(private readonly make: (size: number) => A = ((size: number) => new Int32Array(size)) as (size: number) => A) {
    this.data = make(1024);
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = this.make(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  get(i: number): number {
    return this.data[i] as number;
  }
}

export const floatColumn = (): Column<Float64Array> => new Column((size) => new Float64Array(size));

/** Strings to small integers and back. */
class Interner {
  readonly values: string[] = [];
  private readonly index = new Map<string, number>();

  id(value: string): number {
    let id = this.index.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.index.set(value, id);
    }
    return id;
  }

  lookup(value: string): number | undefined {
    return this.index.get(value);
  }
}

interface Life {
  readonly status: ActorStatus;
  readonly restarts: number;
  readonly reason?: string;
}

class ActorTimeline {
  kind = '?';
  readonly lifeSeq: number[] = [];
  readonly life: Life[] = [];
  readonly stateSeq: number[] = [];
  readonly stateT: number[] = [];
  readonly states: unknown[] = [];
  readonly triggers: (string | undefined)[] = [];
  readonly depthSeq: number[] = [];
  readonly depths: number[] = [];
  /** The last message type taken and when, for the next state change's trigger. */
  lastType: string | undefined;
  lastTypeT = 0;
  restarts = 0;

  constructor(
    readonly address: string,
    readonly node: string,
  ) {}

  get current(): Life | undefined {
    return this.life[this.life.length - 1];
  }

  setLife(seq: number, life: Life): void {
    this.lifeSeq.push(seq);
    this.life.push(life);
  }

  view(seq: number): ActorView | undefined {
    const li = lastAtOrBefore(this.lifeSeq, seq);
    if (li < 0) return undefined;
    const life = this.life[li] as Life;
    const si = lastAtOrBefore(this.stateSeq, seq);
    const di = lastAtOrBefore(this.depthSeq, seq);
    return {
      address: this.address,
      node: this.node,
      kind: this.kind,
      status: life.status,
      state: si < 0 ? undefined : this.states[si],
      depth: di < 0 ? 0 : (this.depths[di] as number),
      restarts: life.restarts,
      ...(life.reason === undefined ? {} : { reason: life.reason }),
    };
  }
}

/** Index of the last element <= seq in an ascending list, or -1. */
function lastAtOrBefore(list: readonly number[], seq: number): number {
  let lo = 0;
  let hi = list.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as number) <= seq) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

function nodeOf(address: string): string {
  const slash = address.indexOf('/');
  return slash < 0 ? address : address.slice(0, slash);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A message's type for the timeline; a wrapped message (e.g. `raft.message`) shows its inner type too. */
export function messageLabel(message: unknown): string {
  if (typeof message !== 'object' || message === null) return typeof message;
  const m = message as { type?: unknown; message?: unknown; event?: unknown };
  const outer = typeof m.type === 'string' ? m.type : '?';
  for (const inner of [m.message, m.event]) {
    if (typeof inner === 'object' && inner !== null && typeof (inner as { type?: unknown }).type === 'string') {
      return `${outer}:${(inner as { type: string }).type}`;
    }
  }
  return outer;
}

interface LiveTreeInfo {
  readonly address: string;
  readonly kind: string;
  readonly status: string;
  readonly mailboxDepth: number;
  readonly restarts: number;
  readonly state?: unknown;
  readonly children?: readonly LiveTreeInfo[];
}

export class History {
  private readonly actors = new Map<string, ActorTimeline>();
  private readonly nodeSeq = new Map<string, number[]>();
  private readonly nodeStatus = new Map<string, NodeView['status'][]>();
  private readonly times = floatColumn();
  private readonly kinds = new Interner();
  private readonly kindOf = new Column();
  // The message index: one row per message-like record.
  private readonly msgSeq = new Column();
  private readonly msgKind = new Column();
  private readonly msgFrom = new Column();
  private readonly msgTo = new Column();
  private readonly msgFromNode = new Column();
  private readonly msgToNode = new Column();
  private readonly msgType = new Column();
  private readonly names = new Interner();
  private readonly types = new Interner();
  private lastT = 0;
  /** Records lost by a live source that could not keep up (from its `dropped` records). */
  dropped = 0;
  /** The option record of a simulator run, if any. */
  options: unknown;
  /** The statecharts the source described (`machine` records), by actor kind. */
  readonly charts = new Map<string, Chart>();
  /** A simulator's checker's findings (`violation` records): where a failing seed went wrong. */
  readonly violations: { readonly seq: number; readonly t: number; readonly message: string }[] = [];

  /** Records so far; they are numbered 0..count-1. */
  get count(): number {
    return this.times.length;
  }

  /** The time of record `seq` (the Env clock's ms). */
  timeOf(seq: number): number {
    return this.times.get(seq);
  }

  /** Appends the next record; returns its number. */
  add(record: TraceRecord): number {
    const seq = this.times.length;
    const t = typeof record.t === 'number' ? record.t : typeof record.at === 'number' ? record.at : this.lastT;
    this.lastT = t;
    this.times.push(t);
    this.kindOf.push(this.kinds.id(record.kind));
    switch (record.kind) {
      case 'actor.started': {
        const actor = this.actor(str(record.address) ?? '?');
        actor.kind = str(record.actorKind) ?? actor.kind;
        const incarnation = typeof record.incarnation === 'number' ? record.incarnation : 0;
        actor.restarts = Math.max(actor.restarts, incarnation);
        actor.setLife(seq, { status: 'running', restarts: actor.restarts });
        break;
      }
      case 'actor.restarted': {
        const actor = this.actor(str(record.address) ?? '?');
        actor.restarts = typeof record.incarnation === 'number' ? record.incarnation : actor.restarts + 1;
        actor.setLife(seq, { status: 'running', restarts: actor.restarts });
        break;
      }
      case 'actor.failed': {
        const actor = this.actor(str(record.address) ?? '?');
        const directive = str(record.directive);
        actor.setLife(seq, { status: directive === 'restart' ? 'restarting' : 'failed', restarts: actor.restarts, reason: str(record.error) ?? 'failed' });
        break;
      }
      case 'actor.stopped': {
        const actor = this.actor(str(record.address) ?? '?');
        const reason = str(record.reason) ?? 'stopped';
        // A restart stops the old incarnation; the actor stays "restarting" until it runs again.
        if (reason === 'restarting') actor.setLife(seq, { status: 'restarting', restarts: actor.restarts, reason });
        else if (reason === 'passivated') actor.setLife(seq, { status: 'passive', restarts: actor.restarts, reason });
        else actor.setLife(seq, { status: actor.current?.status === 'failed' ? 'failed' : 'stopped', restarts: actor.restarts, reason });
        break;
      }
      case 'snapshot.changed': {
        const actor = this.actor(str(record.address) ?? '?');
        actor.stateSeq.push(seq);
        actor.stateT.push(t);
        actor.states.push(record.state);
        // A change is put down to the message taken in the same turn (the same clock reading);
        // one without is a timer's (or the actor's own) doing.
        actor.triggers.push(actor.lastType !== undefined && actor.lastTypeT === t ? actor.lastType : undefined);
        actor.lastType = undefined;
        break;
      }
      case 'message.delivered': {
        const to = str(record.to) ?? '?';
        const from = str(record.from) ?? null;
        const type = messageLabel(record.message);
        const actor = this.actor(to);
        actor.lastType = type;
        actor.lastTypeT = t;
        if (typeof record.depth === 'number') {
          actor.depthSeq.push(seq);
          actor.depths.push(record.depth);
        }
        this.addMessage(seq, 'delivered', from, to, from === null ? null : nodeOf(from), str(record.node) ?? nodeOf(to), type);
        break;
      }
      case 'message.deadLetter': {
        const to = str(record.to) ?? '?';
        const from = str(record.from) ?? null;
        this.addMessage(seq, 'deadLetter', from, to, from === null ? null : nodeOf(from), nodeOf(to), `${str(record.type) ?? '?'} (${str(record.reason) ?? 'dead letter'})`);
        break;
      }
      case 'tree': {
        const visit = (info: LiveTreeInfo): void => {
          const actor = this.actor(info.address);
          actor.kind = info.kind;
          actor.restarts = info.restarts;
          const status: ActorStatus = info.status === 'restarting' ? 'restarting' : info.status === 'stopped' ? 'stopped' : 'running';
          actor.setLife(seq, { status, restarts: info.restarts });
          actor.depthSeq.push(seq);
          actor.depths.push(info.mailboxDepth);
          if (info.state !== undefined) {
            actor.stateSeq.push(seq);
            actor.stateT.push(t);
            actor.states.push(info.state);
            actor.triggers.push(undefined);
          }
          for (const child of info.children ?? []) visit(child);
        };
        for (const info of (record.actors as LiveTreeInfo[] | undefined) ?? []) visit(info);
        const node = str(record.node);
        if (node !== undefined) this.setNode(seq, node, 'up');
        break;
      }
      case 'dropped':
        this.dropped += typeof record.count === 'number' ? record.count : 0;
        break;
      case 'options':
        this.options = record.options;
        break;
      case 'machine': {
        const kind = str(record.actorKind);
        if (kind !== undefined && typeof record.chart === 'object' && record.chart !== null) this.charts.set(kind, record.chart as Chart);
        break;
      }
      case 'violation':
        this.violations.push({ seq, t, message: str(record.message) ?? 'violation' });
        break;
      default:
        if (NETWORK_KINDS.has(record.kind)) {
          const from = str(record.from) ?? '?';
          const to = str(record.to) ?? '?';
          this.addMessage(seq, record.kind, from, to, from, to, str(record.type) ?? '?');
        } else if (record.kind in NODE_KINDS) {
          const node = str(record.node) ?? '?';
          const status = NODE_KINDS[record.kind] as NodeView['status'];
          this.setNode(seq, node, status);
          // A crashed process stops every actor at once without a word: mark them.
          if (status === 'crashed' || status === 'failed') {
            for (const actor of this.actors.values()) {
              const life = actor.current;
              if (actor.node === node && life !== undefined && life.status !== 'stopped' && life.status !== 'failed') {
                actor.setLife(seq, { status: 'stopped', restarts: actor.restarts, reason: `node ${status}` });
              }
            }
          }
        }
    }
    return seq;
  }

  private addMessage(seq: number, kind: string, from: string | null, to: string, fromNode: string | null, toNode: string, type: string): void {
    this.msgSeq.push(seq);
    this.msgKind.push(this.kinds.id(kind));
    this.msgFrom.push(from === null ? -1 : this.names.id(from));
    this.msgTo.push(this.names.id(to));
    this.msgFromNode.push(fromNode === null ? -1 : this.names.id(fromNode));
    this.msgToNode.push(this.names.id(toNode));
    this.msgType.push(this.types.id(type));
  }

  private actor(address: string): ActorTimeline {
    let actor = this.actors.get(address);
    if (actor === undefined) {
      actor = new ActorTimeline(address, nodeOf(address));
      this.actors.set(address, actor);
      if (!this.nodeSeq.has(actor.node)) this.setNode(this.count - 1, actor.node, 'up');
    }
    return actor;
  }

  private setNode(seq: number, node: string, status: NodeView['status']): void {
    let seqs = this.nodeSeq.get(node);
    let statuses = this.nodeStatus.get(node);
    if (seqs === undefined || statuses === undefined) {
      seqs = [];
      statuses = [];
      this.nodeSeq.set(node, seqs);
      this.nodeStatus.set(node, statuses);
    }
    seqs.push(seq);
    statuses.push(status);
  }

  /** The nodes known at record `seq`, sorted by id. */
  nodesAt(seq: number): NodeView[] {
    const out: NodeView[] = [];
    for (const [id, seqs] of this.nodeSeq) {
      const i = lastAtOrBefore(seqs, seq);
      if (i >= 0) out.push({ id, status: (this.nodeStatus.get(id) as NodeView['status'][])[i] as NodeView['status'] });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Every actor that had started by record `seq`, as it was then, sorted by address. */
  actorsAt(seq: number): ActorView[] {
    const out: ActorView[] = [];
    for (const actor of this.actors.values()) {
      const view = actor.view(seq);
      if (view !== undefined) out.push(view);
    }
    return out.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  actorAt(address: string, seq: number): ActorView | undefined {
    return this.actors.get(address)?.view(seq);
  }

  /** The last `n` state changes of an actor at or before record `seq`, oldest first. */
  stateChanges(address: string, seq: number, n: number): StateChange[] {
    const actor = this.actors.get(address);
    if (actor === undefined) return [];
    const last = lastAtOrBefore(actor.stateSeq, seq);
    const out: StateChange[] = [];
    for (let i = Math.max(0, last - n + 1); i <= last; i++) {
      out.push({
        seq: actor.stateSeq[i] as number,
        t: actor.stateT[i] as number,
        from: i === 0 ? undefined : actor.states[i - 1],
        to: actor.states[i],
        trigger: actor.triggers[i],
      });
    }
    return out;
  }

  /** The record number of an actor's previous or next state change from `seq`, if any. */
  stateChangeNear(address: string, seq: number, direction: 1 | -1): number | undefined {
    const actor = this.actors.get(address);
    if (actor === undefined) return undefined;
    const i = lastAtOrBefore(actor.stateSeq, direction === 1 ? seq : seq - 1);
    const j = direction === 1 ? i + 1 : i;
    return j >= 0 && j < actor.stateSeq.length ? actor.stateSeq[j] : undefined;
  }

  /** The message types seen so far, sorted. */
  messageTypes(): string[] {
    return [...this.types.values].sort();
  }

  /** The last `limit` messages at or before `at` that pass the filters, oldest first, and how many passed in all. */
  messages(query: MessageQuery): { rows: MessageRow[]; matched: number } {
    const nodeId = query.node === undefined || query.node === '' ? undefined : this.names.lookup(query.node) ?? -2;
    // An actor filter takes the actor and everything below it in the tree (`m1/raft` takes `m1/raft/peer`).
    let actorOk: Uint8Array | undefined;
    if (query.actor !== undefined && query.actor !== '') {
      const exact = query.actor;
      const below = exact.endsWith('/') ? exact : `${exact}/`;
      actorOk = new Uint8Array(this.names.values.length);
      this.names.values.forEach((value, i) => {
        if (value === exact || value.startsWith(below)) actorOk![i] = 1;
      });
    }
    let typeOk: Uint8Array | undefined;
    if (query.type !== undefined && query.type !== '') {
      const needle = query.type.toLowerCase();
      typeOk = new Uint8Array(this.types.values.length);
      this.types.values.forEach((value, i) => {
        if (value.toLowerCase().includes(needle)) typeOk![i] = 1;
      });
    }
    // The rows are in record order: find the last at or before `at`, then walk back.
    let lo = 0;
    let hi = this.msgSeq.length - 1;
    let end = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.msgSeq.get(mid) <= query.at) {
        end = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const picked: number[] = [];
    let matched = 0;
    for (let i = end; i >= 0; i--) {
      if (nodeId !== undefined && this.msgFromNode.get(i) !== nodeId && this.msgToNode.get(i) !== nodeId) continue;
      if (actorOk !== undefined) {
        const from = this.msgFrom.get(i);
        if (actorOk[this.msgTo.get(i)] !== 1 && (from < 0 || actorOk[from] !== 1)) continue;
      }
      if (typeOk !== undefined && typeOk[this.msgType.get(i)] !== 1) continue;
      matched++;
      if (picked.length < query.limit) picked.push(i);
    }
    const rows = picked.reverse().map((i): MessageRow => {
      const seq = this.msgSeq.get(i);
      const from = this.msgFrom.get(i);
      const fromNode = this.msgFromNode.get(i);
      return {
        seq,
        t: this.times.get(seq),
        kind: this.kinds.values[this.msgKind.get(i)] as string,
        from: from < 0 ? null : (this.names.values[from] as string),
        to: this.names.values[this.msgTo.get(i)] as string,
        fromNode: fromNode < 0 ? null : (this.names.values[fromNode] as string),
        toNode: this.names.values[this.msgToNode.get(i)] as string,
        type: this.types.values[this.msgType.get(i)] as string,
      };
    });
    return { rows, matched };
  }

  /** The record kind of record `seq`. */
  kindAt(seq: number): string {
    if (seq < 0 || seq >= this.count) throw new InvariantViolation(`History.kindAt: no record ${seq} (of ${this.count})`);
    return this.kinds.values[this.kindOf.get(seq)] as string;
  }
}

// The live inspection stream a node serves at `GET /inspect` (cli/node/control.ts), what the
// visualizer (`swarm viz`) reads: the node's actor tree as it was when the client subscribed,
// then one JSON line per inspection record (runtime/inspection.ts) as it happens. It keeps three
// promises:
//  - Plain JSON only, and a record never throws the node. Bytes become `{ bytes: <length> }`,
//    never their content: secret and config data travel between actors only as bytes (the spec
//    of a `secret.created` event, a dispatcher's assignments to an agent, the files of an
//    `executor.prepare`, the encoded batches proposed to Raft), so none of it leaves here. Bigints
//    become strings; cycles, functions and class instances become a tag; a value too deep, too
//    long or too large is cut with a marker.
//  - Bounded memory. Records of a client that reads slowly queue up to a limit; past it they are
//    counted, not kept, and a `{ kind: 'dropped', count }` line says how many once the client
//    catches up.
//  - Batched writes: one write per turn of the Env clock's `defer`, however many records came.
import type { ActorInfo, Clock, InspectionEvent } from '../../runtime/index.js';
import { inspectionRecord } from '../../runtime/index.js';

/** How far jsonSafe follows a value. */
export interface JsonSafeLimits {
  /** Nesting depth past which an object becomes '[depth]'. */
  readonly depthMax: number;
  /** Values visited in one call; those past it become '[truncated]'. */
  readonly valuesMax: number;
  /** Items of one array, keys of one object or entries of one map or set kept; the rest are counted. */
  readonly itemsMax: number;
  /** Characters of one string kept; the rest are counted. */
  readonly stringCharsMax: number;
}

export const JSON_SAFE_LIMITS: JsonSafeLimits = { depthMax: 16, valuesMax: 10_000, itemsMax: 1_000, stringCharsMax: 8_192 };

/** A queue of this many records is full: later ones are dropped (and counted) until it drains. */
export const INSPECT_QUEUED_RECORDS_MAX = 10_000;
/** Nor may the queued lines hold more characters than this (about twice as many bytes in memory). */
export const INSPECT_QUEUED_CHARS_MAX = 8 * 1024 * 1024;

const TRUNCATED = '[truncated]';
const UNREADABLE = '[unreadable]';

/**
 * `value` as plain JSON data that JSON.stringify writes without throwing and without calling
 * anything of the value's own (no toJSON, no getters of class instances). Never throws: what
 * cannot be read becomes '[unreadable]'.
 */
export function jsonSafe(value: unknown, limits: JsonSafeLimits = JSON_SAFE_LIMITS): unknown {
  // Objects on the path from the root to the value being visited: one seen again is a cycle
  // (an object shared by two branches is not, and is written twice).
  const path = new Set<object>();
  let budget = limits.valuesMax;

  const visit = (v: unknown, depth: number): unknown => {
    budget -= 1;
    if (budget < 0) return TRUNCATED;
    switch (typeof v) {
      case 'string':
        return v.length > limits.stringCharsMax ? `${v.slice(0, limits.stringCharsMax)}...[${v.length - limits.stringCharsMax} more chars]` : v;
      case 'number':
        return Number.isFinite(v) ? v : String(v);
      case 'boolean':
        return v;
      case 'bigint':
        return v.toString();
      case 'undefined':
        return undefined;
      case 'symbol':
        return v.toString();
      case 'function':
        return `[function ${typeof v.name === 'string' ? v.name : ''}]`;
      default:
        break;
    }
    if (v === null) return null;
    const object = v as object;
    try {
      if (ArrayBuffer.isView(object)) return { bytes: object.byteLength };
      if (object instanceof ArrayBuffer || object instanceof SharedArrayBuffer) return { bytes: object.byteLength };
    } catch {
      // A proxy whose traps throw.
      return UNREADABLE;
    }
    if (path.has(object)) return '[cycle]';
    if (depth >= limits.depthMax) return '[depth]';
    path.add(object);
    try {
      return visitObject(object, depth + 1);
    } finally {
      path.delete(object);
    }
  };

  const visitItems = (items: Iterable<unknown>, size: number, depth: number): unknown[] => {
    const out: unknown[] = [];
    for (const item of items) {
      if (out.length >= limits.itemsMax || budget <= 0) break;
      const safe = visit(item, depth);
      out.push(safe === undefined ? null : safe);
    }
    if (size > out.length) out.push(`[${size - out.length} more]`);
    return out;
  };

  const visitObject = (object: object, depth: number): unknown => {
    try {
      if (Array.isArray(object)) return visitItems(object, object.length, depth);
      if (object instanceof Map) return { map: visitItems(object.entries(), object.size, depth) };
      if (object instanceof Set) return { set: visitItems(object.values(), object.size, depth) };
      if (object instanceof Date) return Number.isNaN(object.getTime()) ? 'Invalid Date' : object.toISOString();
      if (object instanceof Error) return { error: String(object.name), message: String(object.message) };
      const proto: unknown = Object.getPrototypeOf(object);
      if (proto !== Object.prototype && proto !== null) {
        // A class instance: only its class's name. Its fields may be anything (a key store, a
        // socket), and its getters and toJSON are its own code.
        const ctor: unknown = (proto as { constructor?: unknown }).constructor;
        return { instance: typeof ctor === 'function' && typeof ctor.name === 'string' ? ctor.name : 'Object' };
      }
      const out: Record<string, unknown> = {};
      const keys = Object.keys(object);
      let kept = 0;
      for (const key of keys) {
        if (kept >= limits.itemsMax || budget <= 0) break;
        kept += 1;
        let item: unknown;
        try {
          item = (object as Record<string, unknown>)[key];
        } catch {
          item = UNREADABLE;
        }
        const safe = visit(item, depth);
        if (safe === undefined) continue;
        // A key '__proto__' is data here, not the prototype.
        if (key === '__proto__') Object.defineProperty(out, key, { value: safe, enumerable: true, writable: true, configurable: true });
        else out[key] = safe;
      }
      if (keys.length > kept) out['...'] = `[${keys.length - kept} more keys]`;
      return out;
    } catch {
      return UNREADABLE;
    }
  };

  try {
    return visit(value, 0);
  } catch {
    return UNREADABLE;
  }
}

/** The tree's actors as plain data: the runtime's ActorInfo with each state made JSON-safe. */
export function actorTreeJson(actors: readonly ActorInfo[], limits: JsonSafeLimits = JSON_SAFE_LIMITS): Record<string, unknown>[] {
  return actors.map((a) => ({
    address: a.address,
    kind: a.kind,
    status: a.status,
    mailboxDepth: a.mailboxDepth,
    restarts: a.restarts,
    state: jsonSafe(a.state, limits) ?? null,
    children: actorTreeJson(a.children, limits),
  }));
}

/** Where the feed writes: an HTTP response in the node, a fake in the tests. */
export interface InspectSink {
  /** Writes `text`; false when the sink holds more than it wants, until `drained()` is called. */
  write(text: string): boolean;
}

export interface InspectFeedOptions {
  /** The node's id, on every line. */
  readonly node: string;
  /** The Env clock: `now` stamps the tree and dropped lines, `defer` schedules the writes. */
  readonly clock: Pick<Clock, 'now' | 'defer'>;
  /** Only records of these kinds (all, unless given). */
  readonly kinds?: ReadonlySet<string>;
  readonly queuedRecordsMax?: number;
  readonly queuedCharsMax?: number;
  readonly limits?: JsonSafeLimits;
  /**
   * The statechart of the machine an actor runs, if it runs one (the node: its system's
   * `machineOf` through `machineChart`). The first actor of each kind puts a `machine` line
   * before its record (or after the tree line), so that the stream describes its own machines.
   */
  readonly describe?: (address: string) => unknown;
}

export interface InspectFeedStats {
  /** Records queued (and so written, unless the feed closed first). */
  queued: number;
  /** Records dropped because the queue was full. */
  dropped: number;
  /** Calls of the sink's write. */
  writes: number;
}

/**
 * One client's stream: `start` writes the tree line, `listener` (subscribed to the system's
 * inspection) queues records, and a deferred flush writes them in one batch. While the sink is
 * full the feed waits for `drained()`; the queue stays within its limits meanwhile.
 */
export class InspectFeed {
  readonly stats: InspectFeedStats = { queued: 0, dropped: 0, writes: 0 };
  private queue: string[] = [];
  private queuedChars = 0;
  /** Records dropped since the last `dropped` line. */
  private droppedSinceLine = 0;
  private flushArmed = false;
  private waitingForDrain = false;
  private closed = false;
  private readonly queuedRecordsMax: number;
  private readonly queuedCharsMax: number;
  private readonly limits: JsonSafeLimits;

  constructor(private readonly sink: InspectSink, private readonly options: InspectFeedOptions) {
    this.queuedRecordsMax = options.queuedRecordsMax ?? INSPECT_QUEUED_RECORDS_MAX;
    this.queuedCharsMax = options.queuedCharsMax ?? INSPECT_QUEUED_CHARS_MAX;
    this.limits = options.limits ?? JSON_SAFE_LIMITS;
    if (!(this.queuedRecordsMax > 0 && this.queuedCharsMax > 0)) throw new RangeError('InspectFeed: the queue limits must be positive');
  }

  /** Actor kinds described so far (their machine's chart, or that they have none). */
  private readonly describedKinds = new Set<string>();

  /** The `machine` line of an actor's kind, the first time the kind is met; else undefined. */
  private machineLine(address: string, kind: string, t: number): string | undefined {
    if (this.options.describe === undefined || this.describedKinds.has(kind)) return undefined;
    // A kinds filter is obeyed: machine lines only when it names them.
    if (this.options.kinds !== undefined && !this.options.kinds.has('machine')) return undefined;
    this.describedKinds.add(kind);
    try {
      const chart = this.options.describe(address);
      return chart === undefined ? undefined : `${JSON.stringify({ t, node: this.options.node, kind: 'machine', actorKind: kind, chart })}\n`;
    } catch {
      return undefined;
    }
  }

  /** Writes the first line: the actors there are now. Call it just before subscribing `listener`. */
  start(actors: readonly ActorInfo[]): void {
    let line: string;
    try {
      line = `${JSON.stringify({ kind: 'tree', t: this.options.clock.now(), node: this.options.node, actors: actorTreeJson(actors, this.limits) })}\n`;
    } catch {
      line = `${JSON.stringify({ kind: 'tree', t: this.options.clock.now(), node: this.options.node, actors: [], error: 'unserializable' })}\n`;
    }
    const machines: string[] = [];
    const visit = (info: ActorInfo): void => {
      const machine = this.machineLine(info.address, info.kind, this.options.clock.now());
      if (machine !== undefined) machines.push(machine);
      info.children.forEach(visit);
    };
    actors.forEach(visit);
    this.write(line + machines.join(''));
  }

  /**
   * The inspection listener. It runs inside the runtime's own calls, so it never throws, and the
   * record is serialized now: a state or message object may change after this turn.
   */
  readonly listener = (event: InspectionEvent): void => {
    if (this.closed) return;
    if (this.options.kinds !== undefined && !this.options.kinds.has(event.type)) return;
    if (this.queue.length >= this.queuedRecordsMax || this.queuedChars >= this.queuedCharsMax) {
      this.droppedSinceLine += 1;
      this.stats.dropped += 1;
      this.arm();
      return;
    }
    let line: string;
    try {
      line = `${JSON.stringify(jsonSafe(inspectionRecord(this.options.node, event), this.limits))}\n`;
      if (event.type === 'actor.started') line = (this.machineLine(event.address, event.kind, event.at) ?? '') + line;
    } catch {
      line = `${JSON.stringify({ t: event.at, node: this.options.node, kind: event.type, error: 'unserializable' })}\n`;
    }
    this.queue.push(line);
    this.queuedChars += line.length;
    this.stats.queued += 1;
    this.arm();
  };

  /** The sink has room again. */
  drained(): void {
    this.waitingForDrain = false;
    this.arm();
  }

  /** The client went away: nothing more is queued or written. */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.queuedChars = 0;
  }

  private arm(): void {
    if (this.flushArmed || this.waitingForDrain || this.closed) return;
    if (this.queue.length === 0 && this.droppedSinceLine === 0) return;
    this.flushArmed = true;
    this.options.clock.defer(this.flush);
  }

  private readonly flush = (): void => {
    this.flushArmed = false;
    if (this.closed || this.waitingForDrain) return;
    let text = this.queue.join('');
    this.queue = [];
    this.queuedChars = 0;
    // After the records kept: the dropped ones came after them.
    if (this.droppedSinceLine > 0) {
      text += `${JSON.stringify({ kind: 'dropped', t: this.options.clock.now(), node: this.options.node, count: this.droppedSinceLine })}\n`;
      this.droppedSinceLine = 0;
    }
    if (text !== '') this.write(text);
  };

  private write(text: string): void {
    if (this.closed) return;
    this.stats.writes += 1;
    let room: boolean;
    try {
      room = this.sink.write(text);
    } catch {
      this.close();
      return;
    }
    if (!room) this.waitingForDrain = true;
  }
}

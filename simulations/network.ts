// The simulated network: every envelope between nodes is an event on the SimLoop, delayed, lost,
// duplicated or reordered by draws from the seed, and blocked by partitions. Envelopes travel as
// CBOR bytes, as they would on a socket, so a message that cannot cross a process fails at send
// and every receiver gets its own copy.
import { decodeMessage, encodeMessage } from '../runtime/index.js';
import type { Envelope, EnvelopeHandler, Random, Transport } from '../runtime/index.js';
import type { SimLoop } from './loop.js';

export interface SimNetworkOptions {
  delayMsMin: number;
  delayMsMax: number;
  /** Probability that an envelope is lost at send. */
  lossProbability: number;
  /** Probability that an envelope is delivered twice. */
  duplicateProbability: number;
  /**
   * False keeps delivery order per directed link (from node, to node); true gives every
   * envelope an independent delay, so later sends may overtake earlier ones.
   */
  reorder: boolean;
  onTrace?: (record: NetworkTraceRecord) => void;
}

export interface LinkOptions {
  delayMsMin: number;
  delayMsMax: number;
  lossProbability: number;
}

export type NetworkDropReason = 'loss' | 'partition' | 'down' | 'noListener';

export interface NetworkTraceRecord {
  t: number;
  kind: 'deliver' | 'drop' | 'duplicate';
  from: string;
  to: string;
  /** The message's `type`, when it is an object with a string `type`. */
  type?: string;
  reason?: NetworkDropReason;
}

export interface NetworkCounters {
  sent: number;
  delivered: number;
  dropped: Record<NetworkDropReason, number>;
  duplicated: number;
}

/**
 * Messages are plain data (DESIGN.md section 3). cbor-x silently flattens class instances and
 * carries Maps, Sets and Dates through extensions a peer may not share, so anything but plain
 * data is refused here, with the path to the offending value. The bytes themselves come from the
 * runtime's codec, the one real transports use.
 */
function assertPlainData(value: unknown, path: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return;
    case 'function':
    case 'symbol':
      throw new TypeError(`SimNetwork: ${path} is a ${typeof value}, which cannot cross the network`);
    case 'object':
      break;
  }
  if (value === null || value instanceof Uint8Array) return;
  const object = value as object;
  if (ancestors.has(object)) throw new TypeError(`SimNetwork: ${path} is a cycle`);
  ancestors.add(object);
  if (Array.isArray(object)) {
    object.forEach((item: unknown, i) => assertPlainData(item, `${path}[${i}]`, ancestors));
  } else {
    const proto: unknown = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) {
      const name = (object.constructor as { name?: string } | undefined)?.name ?? 'unknown';
      throw new TypeError(`SimNetwork: ${path} is a ${name} instance; messages must be plain data`);
    }
    for (const [key, item] of Object.entries(object)) assertPlainData(item, `${path}.${key}`, ancestors);
  }
  ancestors.delete(object);
}

function messageType(message: unknown): string | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const type = (message as { type?: unknown }).type;
  return typeof type === 'string' ? type : undefined;
}

function linkKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}

function assertProbability(name: string, p: number): void {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`SimNetwork: ${name} must be in [0, 1], got ${p}`);
}

export class SimNetwork {
  private readonly loop: SimLoop;
  private readonly options: SimNetworkOptions;
  private lossProbability: number;
  // One stream per kind of draw, so that changing one probability leaves the other draws alone.
  private readonly delayRandom: Random;
  private readonly lossRandom: Random;
  private readonly duplicateRandom: Random;
  private readonly listeners = new Map<string, EnvelopeHandler>();
  private readonly downNodes = new Set<string>();
  private readonly blocked = new Set<string>();
  /** Nodes whose process is paused: envelopes wait for them in the kernel, in arrival order. */
  private readonly held = new Map<string, Array<() => void>>();
  /** Directed links with their own delay and loss. */
  private readonly links = new Map<string, LinkOptions>();
  /** Latest delivery time per link, which FIFO deliveries may not precede. */
  private readonly lastDeliveryAtMs = new Map<string, number>();
  private readonly counters: NetworkCounters = {
    sent: 0,
    delivered: 0,
    dropped: { loss: 0, partition: 0, down: 0, noListener: 0 },
    duplicated: 0,
  };

  constructor(loop: SimLoop, random: Random, options: SimNetworkOptions) {
    const { delayMsMin, delayMsMax } = options;
    if (!(delayMsMin >= 0 && delayMsMax >= delayMsMin && Number.isFinite(delayMsMax))) {
      throw new RangeError(`SimNetwork: need 0 <= delayMsMin <= delayMsMax, got ${delayMsMin}, ${delayMsMax}`);
    }
    assertProbability('lossProbability', options.lossProbability);
    assertProbability('duplicateProbability', options.duplicateProbability);
    this.loop = loop;
    this.options = { ...options };
    this.lossProbability = options.lossProbability;
    const network = random.fork('network');
    this.delayRandom = network.fork('delay');
    this.lossRandom = network.fork('loss');
    this.duplicateRandom = network.fork('duplicate');
  }

  /** True when every link delivers in send order, exactly once or not at all. */
  get fifoPerLink(): boolean {
    return !this.options.reorder && this.options.duplicateProbability === 0;
  }

  /** A node's door to the network. The node may only listen and send as itself. */
  transportFor(nodeId: string): Transport {
    return {
      fifoPerLink: this.fifoPerLink,
      listen: (listenerNode: string, handler: EnvelopeHandler): (() => void) => {
        this.assertSelf(nodeId, listenerNode, 'listen');
        return this.listen(nodeId, handler);
      },
      send: (fromNode: string, toNode: string, envelope: Envelope): void => {
        this.assertSelf(nodeId, fromNode, 'send');
        this.send(fromNode, toNode, envelope);
      },
    };
  }

  /** A fresh copy of the counters. */
  stats(): NetworkCounters {
    return { ...this.counters, dropped: { ...this.counters.dropped } };
  }

  /** Blocks both directions between every node of `groupA` and every node of `groupB`. */
  partition(groupA: readonly string[], groupB: readonly string[]): void {
    for (const a of groupA) {
      for (const b of groupB) {
        if (a === b) continue;
        this.block(a, b);
        this.block(b, a);
      }
    }
  }

  /** Blocks one direction only: `to` stops hearing `from`, while `from` still hears `to`. */
  block(from: string, to: string): void {
    this.blocked.add(linkKey(from, to));
  }

  unblock(from: string, to: string): void {
    this.blocked.delete(linkKey(from, to));
  }

  heal(): void {
    this.blocked.clear();
  }

  isBlocked(from: string, to: string): boolean {
    return this.blocked.has(linkKey(from, to));
  }

  /**
   * A down node neither sends nor receives. Going down also forgets its listener: the crashed
   * incarnation's handler must never see another envelope, and the restarted node listens anew.
   */
  setNodeUp(nodeId: string, up: boolean): void {
    // A crash discards what waited for the paused process.
    if (!up) this.held.delete(nodeId);
    if (up) {
      this.downNodes.delete(nodeId);
    } else {
      this.downNodes.add(nodeId);
      this.listeners.delete(nodeId);
    }
  }

  isNodeUp(nodeId: string): boolean {
    return !this.downNodes.has(nodeId);
  }

  /**
   * Gives one directed link its own delay range and loss rate (a slow or flaky link, e.g. to a
   * lagging follower); `clearLink` returns it to the network's defaults. FIFO links stay FIFO.
   */
  setLink(from: string, to: string, link: Partial<LinkOptions>): void {
    const merged: LinkOptions = { ...this.linkOptions(from, to), ...link };
    if (!(merged.delayMsMin >= 0 && merged.delayMsMax >= merged.delayMsMin && Number.isFinite(merged.delayMsMax))) {
      throw new RangeError(`SimNetwork.setLink ${from}->${to}: need 0 <= delayMsMin <= delayMsMax, got ${merged.delayMsMin}, ${merged.delayMsMax}`);
    }
    assertProbability('lossProbability', merged.lossProbability);
    this.links.set(linkKey(from, to), merged);
  }

  clearLink(from: string, to: string): void {
    this.links.delete(linkKey(from, to));
  }

  /** Changes the loss rate mid-run, e.g. to end a lossy phase before a liveness check. */
  setLossProbability(p: number): void {
    assertProbability('lossProbability', p);
    this.lossProbability = p;
  }

  private assertSelf(nodeId: string, claimed: string, operation: string): void {
    if (claimed !== nodeId) {
      throw new Error(`SimNetwork: the transport of ${nodeId} cannot ${operation} as ${claimed}`);
    }
  }

  /**
   * One listener per node, as in the runtime's MemoryTransport: a second one is a node started
   * twice. A stale stop function leaves a newer listener in place.
   */
  private listen(nodeId: string, handler: EnvelopeHandler): () => void {
    if (this.listeners.has(nodeId)) throw new Error(`SimNetwork: node ${nodeId} already listens`);
    this.listeners.set(nodeId, handler);
    return () => {
      if (this.listeners.get(nodeId) === handler) this.listeners.delete(nodeId);
    };
  }

  private send(from: string, to: string, envelope: Envelope): void {
    // Encoding comes first so that a message that cannot be sent fails even when it would be lost.
    assertPlainData(envelope, 'envelope', new Set());
    const bytes = encodeMessage(envelope);
    const type = messageType(envelope.message);
    this.counters.sent++;
    if (this.downNodes.has(from)) return this.drop(from, to, type, 'down');
    if (this.isBlocked(from, to)) return this.drop(from, to, type, 'partition');
    if (this.lossRandom.chance(this.linkOptions(from, to).lossProbability)) return this.drop(from, to, type, 'loss');
    this.scheduleDelivery(from, to, type, bytes);
    if (this.duplicateRandom.chance(this.options.duplicateProbability)) {
      this.counters.duplicated++;
      this.trace({ t: this.loop.now(), kind: 'duplicate', from, to, ...(type === undefined ? {} : { type }) });
      this.scheduleDelivery(from, to, type, bytes);
    }
  }

  private scheduleDelivery(from: string, to: string, type: string | undefined, bytes: Uint8Array): void {
    const now = this.loop.now();
    let atMs = now + this.drawDelayMs(from, to);
    if (!this.options.reorder) {
      // Never before the link's previous delivery; at an equal time the loop's sequence number
      // keeps send order.
      const key = linkKey(from, to);
      atMs = Math.max(atMs, this.lastDeliveryAtMs.get(key) ?? atMs);
      this.lastDeliveryAtMs.set(key, atMs);
    }
    this.loop.schedule(atMs - now, () => this.deliver(from, to, type, bytes));
  }

  /** The node's process is paused: what arrives for it waits until `release`. */
  hold(nodeId: string): void {
    if (!this.held.has(nodeId)) this.held.set(nodeId, []);
  }

  /** The paused node runs again: what arrived meanwhile is delivered now, in arrival order. */
  release(nodeId: string): void {
    const waiting = this.held.get(nodeId);
    if (waiting === undefined) return;
    this.held.delete(nodeId);
    for (const deliver of waiting) this.loop.schedule(0, deliver);
  }

  private deliver(from: string, to: string, type: string | undefined, bytes: Uint8Array): void {
    const waiting = this.held.get(to);
    if (waiting !== undefined) {
      waiting.push(() => this.deliver(from, to, type, bytes));
      return;
    }
    // Faults that began while the envelope was in flight still catch it.
    if (this.isBlocked(from, to)) return this.drop(from, to, type, 'partition');
    if (this.downNodes.has(to)) return this.drop(from, to, type, 'down');
    const handler = this.listeners.get(to);
    if (handler === undefined) return this.drop(from, to, type, 'noListener');
    const envelope = decodeMessage(bytes) as Envelope;
    this.counters.delivered++;
    this.trace({ t: this.loop.now(), kind: 'deliver', from, to, ...(type === undefined ? {} : { type }) });
    handler(envelope);
  }

  private drop(from: string, to: string, type: string | undefined, reason: NetworkDropReason): void {
    this.counters.dropped[reason]++;
    this.trace({ t: this.loop.now(), kind: 'drop', from, to, ...(type === undefined ? {} : { type }), reason });
  }

  private linkOptions(from: string, to: string): LinkOptions {
    return this.links.get(linkKey(from, to)) ?? { delayMsMin: this.options.delayMsMin, delayMsMax: this.options.delayMsMax, lossProbability: this.lossProbability };
  }

  private drawDelayMs(from: string, to: string): number {
    const { delayMsMin: min, delayMsMax: max } = this.linkOptions(from, to);
    if (Number.isInteger(min) && Number.isInteger(max)) return this.delayRandom.int(min, max);
    return min + this.delayRandom.float() * (max - min);
  }

  private trace(record: NetworkTraceRecord): void {
    this.options.onTrace?.(record);
  }
}

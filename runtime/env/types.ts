// The Env is the only door to the world (DESIGN.md section 3). Time, randomness, storage and the
// network reach node code only through it: runtime/env/real implements it with Node's timers,
// crypto and disk; simulations/ implements it with a virtual clock, seeded streams and a
// simulated network and disk, so that one seed gives one exact run.

/** A timer handle: opaque to callers, meaningful only to the clock that issued it. */
export type TimerId = { readonly __timer: unique symbol } | number | object;

export interface Clock {
  /** Milliseconds since an epoch chosen by the clock (virtual time in the simulator). */
  now(): number;
  /** Calls `fn` once after `delayMs` (>= 0). Same shape as xstate's clock option. */
  setTimeout(fn: () => void, delayMs: number): TimerId; // allow-ambient: the Env clock's own method
  clearTimeout(id: TimerId): void;
  /**
   * Calls `fn` soon, after the current synchronous work and before any timer that is due later,
   * yielding to I/O first (the runtime's dispatcher drains mailboxes from here).
   */
  defer(fn: () => void): void;
}

/** A stream of pseudo-random numbers. `fork(label)` gives an independent stream per component. */
export interface Random {
  /** A uniformly distributed unsigned 32-bit integer. */
  uint32(): number;
  /** A float in [0, 1). */
  float(): number;
  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** true with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  bytes(length: number): Uint8Array;
  /**
   * An independent stream whose sequence depends only on this stream's seed and the label, not
   * on how many numbers were drawn before: adding a draw in one component leaves the others alone.
   */
  fork(label: string): Random;
  /** The seed this stream was created from, for printing and replay. */
  readonly seed: string;
}

/** The unit carried between nodes: a message from one address to another. */
export interface Envelope {
  readonly from: string;
  readonly to: string;
  readonly message: unknown;
}

export type EnvelopeHandler = (envelope: Envelope) => void;

/**
 * Moves envelopes between nodes. Delivery is best effort: an envelope may be lost (a crashed
 * node, a partition); whether order per link is kept is the transport's declared promise.
 */
export interface Transport {
  /** Starts receiving envelopes addressed to `nodeId`. Returns a function that stops it. */
  listen(nodeId: string, handler: EnvelopeHandler): () => void;
  /** Sends `envelope` from `fromNode` towards the node named in `envelope.to`. */
  send(fromNode: string, toNode: string, envelope: Envelope): void;
  /** True when the transport keeps the per-link (from node, to node) send order. */
  readonly fifoPerLink: boolean;
}

export type KvKey = string;
export type KvOp = { readonly type: 'put'; readonly key: KvKey; readonly value: Uint8Array } | { readonly type: 'del'; readonly key: KvKey };

/**
 * An ordered key-value store. `batch` applies its operations atomically; with `sync: true` they
 * are durable when the promise resolves. Without sync a crash may lose them (never half a batch).
 */
export interface KvStore {
  get(key: KvKey): Promise<Uint8Array | undefined>;
  batch(ops: readonly KvOp[], options?: { sync?: boolean }): Promise<void>;
  /** Entries with gte <= key < lt, in key order. */
  range(options: { gte?: KvKey; lt?: KvKey; limit?: number }): Promise<Array<[KvKey, Uint8Array]>>;
  close(): Promise<void>;
}

export interface Storage {
  /** Opens (creating if needed) the named store of this node. */
  openKv(name: string): Promise<KvStore>;
}

export interface Env {
  readonly clock: Clock;
  readonly random: Random;
  readonly transport: Transport;
  readonly storage: Storage;
}

// One node's simulated disk. Writes are visible at once but durable only when a synced batch
// completes; a crash keeps what was durable plus a random prefix of the unsynced batches, never
// half a batch. Sync completions are events on the SimLoop, so the order of "write done" against
// network deliveries and timers is the seed's.
import type { KvKey, KvOp, KvStore, Random, Storage } from '../runtime/index.js';
import type { SimLoop } from './loop.js';

export interface SimStorageOptions {
  /** A synced batch completes after a latency drawn from [0, writeLatencyMsMax]. */
  writeLatencyMsMax: number;
  /**
   * When set, a crash may also lose the last unsynced batch that would otherwise have survived,
   * which skews crashes towards shorter surviving prefixes.
   */
  tornTail?: boolean;
}

interface PendingBatch {
  /** Increasing per store; a sync makes every pending batch up to its own durable. */
  readonly seq: number;
  readonly ops: readonly KvOp[];
}

/** What one named store holds on the simulated disk. It outlives crashes; handles do not. */
class StoreState {
  readonly durable = new Map<KvKey, Uint8Array>();
  /** durable with the pending batches applied in order: what reads see. */
  visible = new Map<KvKey, Uint8Array>();
  pending: PendingBatch[] = [];
  nextSeq = 1;
  /** Syncs of one store complete in order, like a device queue. */
  lastCompletionAtMs = 0;
  readonly latencyRandom: Random;

  constructor(latencyRandom: Random) {
    this.latencyRandom = latencyRandom;
  }
}

function applyOps(map: Map<KvKey, Uint8Array>, ops: readonly KvOp[]): void {
  for (const op of ops) {
    if (op.type === 'put') map.set(op.key, op.value);
    else map.delete(op.key);
  }
}

/** Copies the values in, so that a caller reusing its buffer cannot change what was written. */
function copyOps(ops: readonly KvOp[]): KvOp[] {
  return ops.map((op): KvOp => {
    if (typeof op.key !== 'string') throw new TypeError('SimStorage: a key must be a string');
    switch (op.type) {
      case 'put':
        if (!(op.value instanceof Uint8Array)) throw new TypeError(`SimStorage: put ${op.key}: value must be a Uint8Array`);
        return { type: 'put', key: op.key, value: new Uint8Array(op.value) };
      case 'del':
        return { type: 'del', key: op.key };
      default:
        throw new TypeError(`SimStorage: unknown op ${(op as { type: unknown }).type}`);
    }
  });
}

/** A promise for a node that has crashed: nothing after the crash may observe an outcome. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

export class SimStorage implements Storage {
  private readonly loop: SimLoop;
  private readonly options: SimStorageOptions;
  private readonly random: Random;
  private readonly crashRandom: Random;
  private readonly stores = new Map<string, StoreState>();
  /** Bumped by crash(): handles of an earlier incarnation go dead. */
  private generation = 0;
  /** Loop ids of sync completions not yet run; a crash cancels them. */
  private readonly inflight = new Set<number>();

  /** `random` should be this node's own stream; it is forked per store and for crashes. */
  constructor(loop: SimLoop, random: Random, options: SimStorageOptions) {
    if (!(options.writeLatencyMsMax >= 0 && Number.isFinite(options.writeLatencyMsMax))) {
      throw new RangeError(`SimStorage: writeLatencyMsMax must be >= 0, got ${options.writeLatencyMsMax}`);
    }
    this.loop = loop;
    this.options = { ...options };
    this.random = random.fork('disk');
    this.crashRandom = this.random.fork('crash');
  }

  async openKv(name: string): Promise<KvStore> {
    const state = this.stores.get(name) ?? new StoreState(this.random.fork(`store/${name}`));
    this.stores.set(name, state);
    const generation = this.generation;
    return new SimKvStore(state, {
      isCurrent: () => generation === this.generation,
      write: (ops, sync) => this.write(state, ops, sync),
    });
  }

  /**
   * The node died. Each store keeps its durable state plus a random prefix of its unsynced
   * batches, which then count as durable (they are what the disk holds); syncs in flight never
   * complete, and handles opened before the crash never answer again.
   */
  crash(): void {
    this.generation++;
    for (const id of this.inflight) this.loop.cancel(id);
    this.inflight.clear();
    for (const state of this.stores.values()) {
      let kept = this.crashRandom.int(0, state.pending.length);
      if (this.options.tornTail && kept > 0 && this.crashRandom.chance(0.5)) kept--;
      for (const batch of state.pending.slice(0, kept)) applyOps(state.durable, batch.ops);
      state.pending = [];
      state.visible = new Map(state.durable);
      state.lastCompletionAtMs = 0;
    }
  }

  /** Makes the batch visible now and, if synced, durable after the drawn latency. */
  private write(state: StoreState, ops: readonly KvOp[], sync: boolean): Promise<void> {
    const batch: PendingBatch = { seq: state.nextSeq++, ops: copyOps(ops) };
    applyOps(state.visible, batch.ops);
    state.pending.push(batch);
    if (!sync) return Promise.resolve();
    const now = this.loop.now();
    const atMs = Math.max(now + this.drawLatencyMs(state.latencyRandom), state.lastCompletionAtMs);
    state.lastCompletionAtMs = atMs;
    return new Promise<void>((resolve) => {
      const id = this.loop.schedule(atMs - now, () => {
        this.inflight.delete(id);
        while (state.pending.length > 0 && (state.pending[0] as PendingBatch).seq <= batch.seq) {
          applyOps(state.durable, (state.pending.shift() as PendingBatch).ops);
        }
        resolve();
      });
      this.inflight.add(id);
    });
  }

  private drawLatencyMs(random: Random): number {
    const max = this.options.writeLatencyMsMax;
    return Number.isInteger(max) ? random.int(0, max) : random.float() * max;
  }
}

/** What a handle may ask of its SimStorage. */
interface StoreAccess {
  /** False once the node has crashed since the handle was opened. */
  isCurrent(): boolean;
  write(ops: readonly KvOp[], sync: boolean): Promise<void>;
}

class SimKvStore implements KvStore {
  private closed = false;
  private readonly state: StoreState;
  private readonly access: StoreAccess;

  constructor(state: StoreState, access: StoreAccess) {
    this.state = state;
    this.access = access;
  }

  get(key: KvKey): Promise<Uint8Array | undefined> {
    return this.whenOpen(() => {
      const value = this.state.visible.get(key);
      return value === undefined ? undefined : new Uint8Array(value);
    });
  }

  batch(ops: readonly KvOp[], options: { sync?: boolean } = {}): Promise<void> {
    if (!this.access.isCurrent()) return never();
    if (this.closed) return Promise.reject(new Error('SimStorage: batch on a closed store'));
    return this.access.write(ops, options.sync === true);
  }

  /**
   * Keys compare as JavaScript strings (UTF-16 code units), which matches a byte-ordered store
   * for the ASCII keys we write.
   */
  range(options: { gte?: KvKey; lt?: KvKey; limit?: number }): Promise<Array<[KvKey, Uint8Array]>> {
    return this.whenOpen(() => {
      const { gte, lt, limit } = options;
      const keys = [...this.state.visible.keys()]
        .filter((key) => (gte === undefined || key >= gte) && (lt === undefined || key < lt))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const taken = limit === undefined || limit < 0 ? keys : keys.slice(0, limit);
      return taken.map((key): [KvKey, Uint8Array] => [key, new Uint8Array(this.state.visible.get(key) as Uint8Array)]);
    });
  }

  close(): Promise<void> {
    if (!this.access.isCurrent()) return never();
    this.closed = true;
    return Promise.resolve();
  }

  private whenOpen<T>(read: () => T): Promise<T> {
    if (!this.access.isCurrent()) return never();
    if (this.closed) return Promise.reject(new Error('SimStorage: the store is closed'));
    return Promise.resolve(read());
  }
}

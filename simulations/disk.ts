// One node's simulated disk. Writes are visible at once but durable only when a synced batch
// completes; a crash keeps what was durable plus a random prefix of the unsynced batches, never
// half a batch. Sync completions are events on the SimLoop, so the order of "write done" against
// network deliveries and timers is the seed's. Two faults are optional: a sync may fail (the
// batch then stays as unsynced as before), and a crash may tear the last batch it keeps.
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
  /**
   * Probability that a synced batch's sync fails: its promise rejects with
   * Error('simulated fsync failure') at the drawn completion time, and the batch (and every
   * unsynced batch before it) stays pending, that is, not durable: a crash keeps a random prefix
   * of them as for any unsynced batch, and a later successful sync makes them durable. Drawn per
   * synced batch, at the time of the write, from a stream of the store's own. Default 0.
   */
  syncFailureProbability?: number;
  /**
   * Probability, per store and per crash, of a torn write. It models a crash in the middle of
   * writing the last batch that reaches the disk: of the pending (never acknowledged) batches a
   * crash keeps, the last one keeps every op, but the value of its last put is cut to a random
   * shorter length (possibly empty), as if only the first sectors of that value were written.
   * A batch whose sync completed is never torn; a crash that keeps no pending batch, or whose
   * last kept batch has no put or ends in an empty value, tears nothing. Readers must detect the
   * damage (a checksum). Default 0.
   */
  tornWriteProbability?: number;
}

/** What a crash did, beyond losing unsynced batches. */
export interface SimCrashReport {
  /** The values cut short by torn writes, at most one per store. */
  readonly torn: ReadonlyArray<{ readonly store: string; readonly key: KvKey; readonly keptBytes: number; readonly writtenBytes: number }>;
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
  /** Separate from the latency stream, so that enabling failures leaves latencies as they were. */
  readonly syncFailureRandom: Random;

  constructor(latencyRandom: Random, syncFailureRandom: Random) {
    this.latencyRandom = latencyRandom;
    this.syncFailureRandom = syncFailureRandom;
  }
}

function applyOps(map: Map<KvKey, Uint8Array>, ops: readonly KvOp[]): void {
  for (const op of ops) {
    if (op.type === 'put') map.set(op.key, op.value);
    else map.delete(op.key);
  }
}

/**
 * Copies the values in, so that a caller reusing its buffer cannot change what was written;
 * values the caller handed over (see KvStore.batch) are kept as they are.
 */
function copyOps(ops: readonly KvOp[], handOver: boolean): KvOp[] {
  return ops.map((op): KvOp => {
    if (typeof op.key !== 'string') throw new TypeError('SimStorage: a key must be a string');
    switch (op.type) {
      case 'put':
        if (!(op.value instanceof Uint8Array)) throw new TypeError(`SimStorage: put ${op.key}: value must be a Uint8Array`);
        return { type: 'put', key: op.key, value: handOver ? op.value : new Uint8Array(op.value) };
      case 'del':
        return { type: 'del', key: op.key };
      default:
        throw new TypeError(`SimStorage: unknown op ${(op as { type: unknown }).type}`);
    }
  });
}

/**
 * The batch with the value of its last put cut to a random shorter length, or undefined when it
 * has no put or the last one's value is empty.
 */
function tearLastPut(batch: PendingBatch, random: Random): { batch: PendingBatch; key: KvKey; keptBytes: number; writtenBytes: number } | undefined {
  for (let i = batch.ops.length - 1; i >= 0; i--) {
    const op = batch.ops[i] as KvOp;
    if (op.type !== 'put') continue;
    if (op.value.byteLength === 0) return undefined;
    const keptBytes = random.int(0, op.value.byteLength - 1);
    const ops = [...batch.ops];
    ops[i] = { type: 'put', key: op.key, value: op.value.slice(0, keptBytes) };
    return { batch: { seq: batch.seq, ops }, key: op.key, keptBytes, writtenBytes: op.value.byteLength };
  }
  return undefined;
}

/** A promise for a node that has crashed: nothing after the crash may observe an outcome. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

export class SimStorage implements Storage {
  private readonly loop: SimLoop;
  private options: SimStorageOptions;
  private readonly random: Random;
  private readonly crashRandom: Random;
  /** Its own stream, so that enabling torn writes leaves the crash prefixes as they were. */
  private readonly tornRandom: Random;
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
    for (const name of ['syncFailureProbability', 'tornWriteProbability'] as const) {
      const p = options[name];
      if (p !== undefined && !(p >= 0 && p <= 1)) throw new RangeError(`SimStorage: ${name} must be in [0, 1], got ${p}`);
    }
    this.loop = loop;
    this.options = { ...options };
    this.random = random.fork('disk');
    this.crashRandom = this.random.fork('crash');
    this.tornRandom = this.random.fork('torn');
  }

  async openKv(name: string): Promise<KvStore> {
    const state = this.stores.get(name) ?? new StoreState(this.random.fork(`store/${name}`), this.random.fork(`store/${name}/sync-failure`));
    this.stores.set(name, state);
    const generation = this.generation;
    return new SimKvStore(state, {
      isCurrent: () => generation === this.generation,
      write: (ops, sync, handOver) => this.write(state, ops, sync, handOver),
    });
  }

  /** Turns disk faults off (or changes them) mid-run, e.g. for a liveness phase. */
  setFaults(faults: Pick<SimStorageOptions, 'syncFailureProbability' | 'tornWriteProbability'>): void {
    this.options = { ...this.options, ...faults };
  }

  /**
   * The node died. Each store keeps its durable state plus a random prefix of its unsynced
   * batches, which then count as durable (they are what the disk holds), the last of them
   * possibly torn (see `tornWriteProbability`); syncs in flight never complete, and handles
   * opened before the crash never answer again.
   */
  crash(): SimCrashReport {
    this.generation++;
    for (const id of this.inflight) this.loop.cancel(id);
    this.inflight.clear();
    const torn: Array<SimCrashReport['torn'][number]> = [];
    for (const [name, state] of this.stores) {
      let kept = this.crashRandom.int(0, state.pending.length);
      if (this.options.tornTail && kept > 0 && this.crashRandom.chance(0.5)) kept--;
      const survivors = state.pending.slice(0, kept);
      const tornWriteProbability = this.options.tornWriteProbability ?? 0;
      if (survivors.length > 0 && tornWriteProbability > 0 && this.tornRandom.chance(tornWriteProbability)) {
        const tear = tearLastPut(survivors[survivors.length - 1] as PendingBatch, this.tornRandom);
        if (tear !== undefined) {
          survivors[survivors.length - 1] = tear.batch;
          torn.push({ store: name, key: tear.key, keptBytes: tear.keptBytes, writtenBytes: tear.writtenBytes });
        }
      }
      for (const batch of survivors) applyOps(state.durable, batch.ops);
      state.pending = [];
      state.visible = new Map(state.durable);
      state.lastCompletionAtMs = 0;
    }
    return { torn };
  }

  /** Makes the batch visible now and, if synced, durable after the drawn latency. */
  private write(state: StoreState, ops: readonly KvOp[], sync: boolean, handOver: boolean): Promise<void> {
    const batch: PendingBatch = { seq: state.nextSeq++, ops: copyOps(ops, handOver) };
    applyOps(state.visible, batch.ops);
    state.pending.push(batch);
    if (!sync) return Promise.resolve();
    const now = this.loop.now();
    const atMs = Math.max(now + this.drawLatencyMs(state.latencyRandom), state.lastCompletionAtMs);
    state.lastCompletionAtMs = atMs;
    // Drawn only when enabled, so that runs without failures keep their streams.
    const syncFailureProbability = this.options.syncFailureProbability ?? 0;
    const fails = syncFailureProbability > 0 && state.syncFailureRandom.chance(syncFailureProbability);
    return new Promise<void>((resolve, reject) => {
      const id = this.loop.schedule(atMs - now, () => {
        this.inflight.delete(id);
        if (fails) {
          // The batch stays pending: nothing of it is known to be on the disk.
          reject(new Error('simulated fsync failure'));
          return;
        }
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
  write(ops: readonly KvOp[], sync: boolean, handOver: boolean): Promise<void>;
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

  batch(ops: readonly KvOp[], options: { sync?: boolean; handOver?: boolean } = {}): Promise<void> {
    if (!this.access.isCurrent()) return never();
    if (this.closed) return Promise.reject(new Error('SimStorage: batch on a closed store'));
    return this.access.write(ops, options.sync === true, options.handOver === true);
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

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { KvKey, KvOp, KvStore, Storage } from '../types.js';

/**
 * The real Storage: one LevelDB database (classic-level) per named store under a node's state
 * directory. A batch is one atomic LevelDB write; `sync: true` makes it fsync before resolving.
 */
export class LevelStorage implements Storage {
  constructor(private readonly directory: string) {}

  async openKv(name: string): Promise<KvStore> {
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.')) {
      throw new Error(`store name '${name}' must be letters, digits, '_', '.' or '-', not starting with '.'`);
    }
    mkdirSync(this.directory, { recursive: true });
    const db = new ClassicLevel<string, Uint8Array>(path.join(this.directory, name), { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.open();
    return new LevelKvStore(db);
  }
}

/** The most bytes of values a batch writes through the chained batch (see `LevelKvStore.batch`). */
export const CHAINED_BATCH_BYTES_MAX = 64 * 1024;

/** A key below every key the stores use (none is empty), so a range of just it holds none. */
const EMPTY_RANGE_KEY = '\u0000';

class LevelKvStore implements KvStore {
  constructor(private readonly db: ClassicLevel<string, Uint8Array>) {}

  async get(key: KvKey): Promise<Uint8Array | undefined> {
    return (await this.db.get(key)) ?? undefined;
  }

  /**
   * One atomic LevelDB write. A small batch (the log's saves: a hard state and a segment of a few
   * kilobytes) goes through classic-level's chained batch, each operation straight to the native
   * batch. The array form (`db.batch(ops)`) clones every operation into a new object before
   * encoding it, which cost such a write about 40% more CPU (52-55 against 37-39 µs for three
   * operations, bench/README.md) and showed in the managers' profiles as hidden classes built anew
   * for each batch. A large batch (a snapshot's chunks: a mebibyte each) takes the array form:
   * a chained batch keeps its native copy of the data until the garbage collector finalizes it,
   * and V8 is not told of that memory, whereas the array form frees its copy once written.
   */
  async batch(ops: readonly KvOp[], options: { sync?: boolean } = {}): Promise<void> {
    if (ops.length === 0) return;
    const sync = options.sync ?? false;
    let bytes = 0;
    for (const op of ops) if (op.type === 'put') bytes += (op.value as Uint8Array | undefined)?.byteLength ?? 0;
    if (bytes > CHAINED_BATCH_BYTES_MAX) {
      await this.db.batch(ops.map((op) => (op.type === 'put' ? { type: 'put' as const, key: op.key, value: op.value } : { type: 'del' as const, key: op.key })), { sync });
      return;
    }
    const batch = this.db.batch();
    try {
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value);
        else batch.del(op.key);
      }
    } catch (error) {
      await batch.close();
      throw error;
    }
    await batch.write({ sync });
  }

  async range(options: { gte?: KvKey; lt?: KvKey; limit?: number }): Promise<Array<[KvKey, Uint8Array]>> {
    const out: Array<[KvKey, Uint8Array]> = [];
    for await (const [key, value] of this.db.iterator({
      ...(options.gte !== undefined ? { gte: options.gte } : {}),
      ...(options.lt !== undefined ? { lt: options.lt } : {}),
      limit: options.limit ?? -1,
    })) {
      out.push([key, value]);
    }
    return out;
  }

  /**
   * Writes LevelDB's memtable out to a table file before closing, so that the next open need not
   * replay the write-ahead log (RocksDB does this at close by default; LevelDB does not). The next
   * start of a manager that has just written a snapshot otherwise spends hundreds of
   * milliseconds rebuilding it (measured: 220-330 ms for 17 MiB of recent writes, against 90-110 ms
   * spent here at close). A compaction of a range that holds no key flushes the memtable and
   * merges nothing. After a crash the log is replayed as before.
   */
  async close(): Promise<void> {
    if (this.db.status === 'open') await this.db.compactRange(EMPTY_RANGE_KEY, EMPTY_RANGE_KEY);
    await this.db.close();
  }
}

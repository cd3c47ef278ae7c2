import type { KvKey, KvOp, KvStore, Storage } from './types.js';

/** A KvStore in memory: durable for the life of the process, nothing more. */
export class MemoryKvStore implements KvStore {
  private closed = false;

  constructor(private readonly entries: Map<KvKey, Uint8Array> = new Map()) {}

  async get(key: KvKey): Promise<Uint8Array | undefined> {
    this.assertOpen();
    return this.entries.get(key);
  }

  async batch(ops: readonly KvOp[]): Promise<void> {
    this.assertOpen();
    for (const op of ops) {
      if (op.type === 'put') this.entries.set(op.key, op.value.slice());
      else this.entries.delete(op.key);
    }
  }

  async range(options: { gte?: KvKey; lt?: KvKey; limit?: number }): Promise<Array<[KvKey, Uint8Array]>> {
    this.assertOpen();
    const keys = [...this.entries.keys()]
      .filter((k) => (options.gte === undefined || k >= options.gte) && (options.lt === undefined || k < options.lt))
      .sort();
    const limited = options.limit === undefined ? keys : keys.slice(0, options.limit);
    return limited.map((k) => [k, this.entries.get(k) as Uint8Array]);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('store is closed');
  }
}

export class MemoryStorage implements Storage {
  private readonly data = new Map<string, Map<KvKey, Uint8Array>>();
  async openKv(name: string): Promise<KvStore> {
    let entries = this.data.get(name);
    if (!entries) {
      entries = new Map();
      this.data.set(name, entries);
    }
    return new MemoryKvStore(entries);
  }
}

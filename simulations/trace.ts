// The run's trace: one canonical JSON line per record, folded into a SHA-256 as it goes. Two runs
// of one seed on one commit must give the same digest (the determinism self-check), so the
// serialization may depend on nothing but the records' data: object keys are sorted.
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';

export interface TraceOptions {
  /** Keep every line in memory (for tests and for printing the tail of a failed seed). */
  keepLines?: boolean;
  /** Stream the lines to this file as JSON Lines. */
  filePath?: string;
  /**
   * Benchmarks only: records are counted, not serialized or hashed (the digest then covers
   * nothing). A run without a trace cannot be checked for determinism.
   */
  off?: boolean;
}

/**
 * JSON with object keys sorted at every level. Byte arrays become base64 strings and bigints
 * decimal strings; anything whose serialization would depend on more than its data (functions,
 * symbols, class instances, cycles) is refused so that it cannot make the digest unstable.
 */
export function canonicalJson(value: unknown): string {
  return serialize(value, '$', new Set());
}

function serialize(value: unknown, path: string, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      // As JSON.stringify does: NaN and the infinities become null.
      return JSON.stringify(value);
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: ${path} is a ${typeof value}`);
  }
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'));
  if (ancestors.has(value)) throw new TypeError(`canonicalJson: ${path} is a cycle`);
  ancestors.add(value);
  let out: string;
  if (Array.isArray(value)) {
    // As JSON.stringify does: an undefined item becomes null, keeping the positions.
    out = `[${value.map((item: unknown, i) => (item === undefined ? 'null' : serialize(item, `${path}[${i}]`, ancestors))).join(',')}]`;
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`canonicalJson: ${path} is a class instance; records must be plain data`);
    }
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    out = `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${serialize(item, `${path}.${key}`, ancestors)}`).join(',')}}`;
  }
  ancestors.delete(value);
  return out;
}

export class Trace {
  private readonly hash: Hash = createHash('sha256');
  private readonly kept: string[] | undefined;
  private readonly file: WriteStream | undefined;
  private fileError: Error | undefined;
  private recordCount = 0;
  private closed = false;

  constructor(options: TraceOptions = {}) {
    this.off = options.off ?? false;
    this.kept = options.keepLines ? [] : undefined;
    if (options.filePath !== undefined) {
      this.file = createWriteStream(options.filePath, { encoding: 'utf8' });
      // Held until close(), which reports it: a trace that failed to reach its file is not one.
      this.file.on('error', (error) => {
        this.fileError ??= error;
      });
    }
  }

  /** Records appended so far. */
  private readonly off: boolean;

  get count(): number {
    return this.recordCount;
  }

  /** The kept lines, without their newlines; empty unless `keepLines` was set. */
  get lines(): readonly string[] {
    return this.kept ?? [];
  }

  record(value: unknown): void {
    if (this.closed) throw new Error('Trace.record: the trace is closed');
    if (this.off) {
      this.recordCount++;
      return;
    }
    const line = canonicalJson(value);
    this.hash.update(line);
    this.hash.update('\n');
    this.recordCount++;
    this.kept?.push(line);
    this.file?.write(`${line}\n`);
  }

  /** Hex SHA-256 of every line so far, newlines included; callable at any time. */
  digest(): string {
    return this.hash.copy().digest('hex');
  }

  /** Flushes and closes the file, if any; rejects if writing it failed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const file = this.file;
    if (file !== undefined) {
      await new Promise<void>((resolve, reject) => {
        file.end((error?: Error | null) => (error ? reject(error) : resolve()));
      });
    }
    if (this.fileError !== undefined) throw this.fileError;
  }
}

// Where the visualizer's records come from: a simulator trace file (JSON Lines, indexed once by
// byte offset so that a record's payload is read back on demand and the page never holds the
// trace), or live nodes' inspection streams (payloads kept in a bounded ring). Both fold into one
// History.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { yieldToMacrotask } from '../../runtime/env/real/clock.js';
import { History, floatColumn, type TraceRecord } from './history.js';

export interface SourceStatus {
  readonly description: string;
  readonly live: boolean;
  /** A trace is fully read (always true for a live source). */
  readonly loaded: boolean;
  /** What went wrong reading the source, for the page to show; the records before it stay usable. */
  readonly error: string | undefined;
  /** Bytes read so far and in all (a trace file); for the page's progress. */
  readonly bytesRead: number;
  readonly bytesTotal: number;
}

export interface Source {
  readonly history: History;
  status(): SourceStatus;
  /** Record `seq` in full, or undefined if the source no longer holds it (a live ring). */
  record(seq: number): TraceRecord | undefined;
  /** Called (at most once per turn of the event loop) after records arrive or the status changes. */
  onChange(listener: () => void): () => void;
  close(): void;
}

/** How much of a trace file is read at a time. */
const READ_BLOCK_BYTES = 4 << 20;

class Listeners {
  private readonly set = new Set<() => void>();

  add(listener: () => void): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  fire(): void {
    for (const listener of this.set) listener();
  }
}

/** Parses one line into a record, or says what is wrong with it. */
export function parseRecordLine(line: string): TraceRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return `not JSON (${(error as Error).message})`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a trace record (a JSON object is expected)';
  if (typeof (value as { kind?: unknown }).kind !== 'string') return 'not a trace record (no "kind" field)';
  return value as TraceRecord;
}

/**
 * A trace file. Reading starts at once and goes on in the background; records become visible as
 * they are indexed. A line that is not a record stops the reading there with an error that names
 * the file and line: the records before it stay shown.
 */
export class TraceFileSource implements Source {
  readonly history = new History();
  private readonly offsets = floatColumn();
  private readonly fd: number;
  private readonly size: number;
  private bytesRead = 0;
  private loaded = false;
  private error: string | undefined;
  private readonly listeners = new Listeners();
  private closed = false;
  private readonly reading: Promise<void>;

  constructor(
    private readonly path: string,
    /** How much is read at a time (tests make it small, to cut lines across blocks). */
    private readonly blockBytes = READ_BLOCK_BYTES,
  ) {
    // Opening is synchronous so that a missing or unreadable file is the caller's error at once.
    this.fd = openSync(path, 'r');
    this.size = statSync(path).size;
    this.reading = this.read();
  }

  /** Resolves when the whole file has been read (or reading stopped at an error). */
  whenLoaded(): Promise<void> {
    return this.reading;
  }

  status(): SourceStatus {
    return { description: `trace ${this.path}`, live: false, loaded: this.loaded, error: this.error, bytesRead: this.bytesRead, bytesTotal: this.size };
  }

  onChange(listener: () => void): () => void {
    return this.listeners.add(listener);
  }

  record(seq: number): TraceRecord | undefined {
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.history.count) return undefined;
    const start = this.offsets.get(seq);
    const end = seq + 1 < this.history.count ? this.offsets.get(seq + 1) : this.bytesRead;
    const buffer = Buffer.alloc(end - start);
    readSync(this.fd, buffer, 0, buffer.length, start);
    const parsed = parseRecordLine(buffer.toString('utf8'));
    return typeof parsed === 'string' ? undefined : parsed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private async read(): Promise<void> {
    let carry: Buffer | undefined;
    let lineNo = 0;
    let offset = 0;
    try {
      // Read in blocks from the open file, and let the server answer between blocks: a read
      // stream's small chunks left the process idle about half the time (measured on 1M records).
      const block = Buffer.allocUnsafe(this.blockBytes);
      for (let position = 0; ; ) {
        await yieldToMacrotask();
        if (this.closed) break;
        const n = readSync(this.fd, block, 0, block.length, position);
        if (n === 0) break;
        position += n;
        const chunk = block.subarray(0, n);
        let data = carry === undefined ? chunk : Buffer.concat([carry, chunk]);
        let start = 0;
        for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
          lineNo++;
          if (!this.take(data.toString('utf8', start, nl), lineNo, offset + start, false)) return this.finish();
          start = nl + 1;
        }
        offset += start;
        data = data.subarray(start);
        // The block is reused: a line cut by its end is copied out.
        carry = data.length > 0 ? Buffer.from(data) : undefined;
        this.bytesRead = offset;
        this.listeners.fire();
      }
      if (carry !== undefined && carry.length > 0) {
        lineNo++;
        // The last line has no newline: a trace cut short while it was written.
        if (this.take(carry.toString('utf8'), lineNo, offset, true)) this.bytesRead = offset + carry.length;
      }
      if (this.history.count === 0 && this.error === undefined) this.error = `${this.path}: the trace is empty (no records)`;
    } catch (error) {
      this.error = `${this.path}: ${(error as Error).message}`;
    }
    this.finish();
  }

  private finish(): void {
    this.loaded = true;
    this.listeners.fire();
  }

  /** Indexes one line; false (with the error set) if it is not a record. */
  private take(line: string, lineNo: number, at: number, last: boolean): boolean {
    if (line.trim() === '') return true;
    const parsed = parseRecordLine(line);
    if (typeof parsed === 'string') {
      const cut = last ? ': the file ends in the middle of a record (was the trace cut short?)' : '';
      this.error = `${this.path} line ${lineNo}: ${parsed}${cut}; showing the ${this.history.count} records before it`;
      return false;
    }
    this.offsets.push(at);
    this.history.add(parsed);
    return true;
  }
}

/**
 * Records pushed by live streams (see live-source.ts). The latest `keep` records are held in full;
 * older ones only in the History's index.
 */
export class LiveSource implements Source {
  readonly history = new History();
  private readonly ring: (TraceRecord | undefined)[];
  private readonly listeners = new Listeners();
  private error: string | undefined;
  private readonly closers: (() => void)[] = [];

  constructor(
    private readonly description: string,
    private readonly keep = 100_000,
  ) {
    this.ring = new Array<TraceRecord | undefined>(keep);
  }

  status(): SourceStatus {
    return { description: this.description, live: true, loaded: true, error: this.error, bytesRead: 0, bytesTotal: 0 };
  }

  onChange(listener: () => void): () => void {
    return this.listeners.add(listener);
  }

  /** Adds a batch of records from a stream. */
  push(records: readonly TraceRecord[]): void {
    for (const record of records) {
      const seq = this.history.add(record);
      this.ring[seq % this.keep] = record;
    }
    if (records.length > 0) this.listeners.fire();
  }

  /** A stream ended: with an error, the page shows it. */
  ended(error: Error | undefined, what: string): void {
    this.error = error === undefined ? `${what}: the stream ended` : `${what}: ${error.message}`;
    this.listeners.fire();
  }

  /** Registers a stream's close, called by close(). */
  own(close: () => void): void {
    this.closers.push(close);
  }

  record(seq: number): TraceRecord | undefined {
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.history.count || seq < this.history.count - this.keep) return undefined;
    return this.ring[seq % this.keep];
  }

  close(): void {
    for (const close of this.closers.splice(0)) close();
  }
}

// The visualizer's live source: a node's `GET /inspect` stream (cli/node/inspect.ts) read from its
// control socket, line by line as the chunks come, handed on in batches (one per chunk read).
import http from 'node:http';
import { existsSync } from 'node:fs';
import { ControlError, refusal } from '../node/client.js';
import { StateDir } from '../node/state-dir.js';

/** A line longer than this is refused: the node's lines are bounded, and so is what we hold of one. */
export const LIVE_LINE_CHARS_MAX = 64 * 1024 * 1024;

export interface LiveSourceOptions {
  /** The node's state directory: its control socket is found there. */
  readonly stateDir?: string;
  /** The control socket itself (wins over stateDir). */
  readonly socketPath?: string;
  /** Only records of these kinds (the tree line always comes); all unless given. */
  readonly kinds?: readonly string[];
}

export interface LiveStream {
  /** Ends the stream (the node unsubscribes); onEnd is called once, without an error. */
  close(): void;
}

/**
 * Splits JSON lines that arrive in chunks which may cut a line anywhere. Each line must be a JSON
 * object; anything else is an error (the stream is not what it claims to be).
 */
export class NdjsonSplitter {
  private partial = '';

  constructor(private readonly lineCharsMax = LIVE_LINE_CHARS_MAX) {}

  /** The records completed by `text`. */
  push(text: string): Record<string, unknown>[] {
    const records: Record<string, unknown>[] = [];
    let newline = text.indexOf('\n');
    if (newline < 0) {
      this.partial += text;
      this.checkPartial();
      return records;
    }
    this.parse(this.partial + text.slice(0, newline), records);
    this.partial = '';
    let start = newline + 1;
    newline = text.indexOf('\n', start);
    while (newline >= 0) {
      this.parse(text.slice(start, newline), records);
      start = newline + 1;
      newline = text.indexOf('\n', start);
    }
    this.partial = text.slice(start);
    this.checkPartial();
    return records;
  }

  /** The record of a last line that had no newline, if any. */
  end(): Record<string, unknown>[] {
    const records: Record<string, unknown>[] = [];
    this.parse(this.partial, records);
    this.partial = '';
    return records;
  }

  private checkPartial(): void {
    if (this.partial.length > this.lineCharsMax) throw new ControlError(`a line of the inspection stream is over ${this.lineCharsMax} characters`, 0, 'BAD_STREAM');
  }

  private parse(line: string, into: Record<string, unknown>[]): void {
    if (line.trim() === '') return;
    if (line.length > this.lineCharsMax) throw new ControlError(`a line of the inspection stream is over ${this.lineCharsMax} characters`, 0, 'BAD_STREAM');
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new ControlError(`the inspection stream sent a line that is not JSON: ${(error as Error).message}`, 0, 'BAD_STREAM');
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ControlError('the inspection stream sent a line that is not a record', 0, 'BAD_STREAM');
    into.push(value as Record<string, unknown>);
  }
}

/**
 * Opens a node's inspection stream. `onRecords` gets the records in batches as they come (the
 * first record is the tree); `onEnd` is called once: without an error when the node ends the
 * stream or the caller closes it, with one when the node cannot be reached, refuses, breaks off
 * or sends what is not a stream of records.
 */
export function openLiveSource(
  options: LiveSourceOptions,
  onRecords: (records: Record<string, unknown>[]) => void,
  onEnd: (error?: Error) => void,
): LiveStream {
  const socketPath = options.socketPath ?? (options.stateDir === undefined ? undefined : new StateDir(options.stateDir).controlSocket);
  if (socketPath === undefined) throw new TypeError('openLiveSource: give stateDir or socketPath');
  let ended = false;
  let closing = false;
  const end = (error?: Error): void => {
    if (ended) return;
    ended = true;
    onEnd(closing ? undefined : error);
  };
  if (!existsSync(socketPath)) {
    const where = options.stateDir === undefined ? socketPath : `--state-dir ${options.stateDir}`;
    void Promise.resolve().then(() => end(new ControlError(`no node is running at ${where} (no ${socketPath}); start one with swarm init, swarm join or swarm start`, 0, 'NOT_RUNNING')));
    return { close: () => { closing = true; } };
  }
  const query = options.kinds === undefined || options.kinds.length === 0 ? '' : `?kinds=${encodeURIComponent(options.kinds.join(','))}`;
  const path = `/inspect${query}`;
  // Its own connection (agent: false): the shared agent's idle timeout would cut a quiet stream.
  const req = http.request({ socketPath, method: 'GET', path, agent: false, headers: { Accept: 'application/x-ndjson' } }, (res) => {
    const status = res.statusCode ?? 500;
    res.setEncoding('utf8');
    if (status >= 400) {
      let body = '';
      res.on('data', (text: string) => {
        if (body.length < 64 * 1024) body += text;
      });
      res.on('end', () => end(refusal(body, status)));
      return;
    }
    const splitter = new NdjsonSplitter();
    const deliver = (take: () => Record<string, unknown>[]): boolean => {
      try {
        const records = take();
        if (records.length > 0 && !ended) onRecords(records);
        return true;
      } catch (error) {
        end(error instanceof Error ? error : new Error(String(error)));
        req.destroy();
        return false;
      }
    };
    res.on('data', (text: string) => {
      if (!ended) deliver(() => splitter.push(text));
    });
    res.on('end', () => {
      if (!ended && deliver(() => splitter.end())) end();
    });
    res.on('error', (error) => end(new ControlError(`the node's inspection stream broke off: ${error.message}`, 0, 'UNREACHABLE')));
    res.on('close', () => {
      if (!res.complete) end(new ControlError('the node closed the inspection stream', 0, 'UNREACHABLE'));
    });
  });
  req.on('error', (error) => end(new ControlError(`cannot reach the node at ${socketPath}: ${error.message}`, 0, 'UNREACHABLE')));
  req.on('close', () => end(new ControlError('the node closed the inspection stream', 0, 'UNREACHABLE')));
  req.end();
  return {
    close: () => {
      if (ended || closing) return;
      closing = true;
      req.destroy();
    },
  };
}

// The messages of `service logs` / `task logs` (what a manager and the nodes that hold the tasks
// say to each other), and their limits. Every message is a plain, CBOR-able object.
//
// Addresses:
//   n/logs                      on every node: serves log requests for the tasks it holds
//   m/logstreams                on every node (used on managers): the home of open log requests
//   m/logstreams/<requestId>    one per open request: gathers the nodes' chunks, tags the lines
//
// The flow, per task: the node reads the executor's lines and sends them in chunks of at most
// LOG_CHUNK_LINES_MAX lines, numbered 1, 2, ...; it may have at most LOG_CHUNKS_IN_FLIGHT_MAX chunks
// that the requester has not acknowledged. The requester acknowledges a chunk only once its lines
// went to its client without backing up, so a slow client stops the node's reading (the node
// buffers at most one chunk per task). Both ends send `logs.alive` while a request is open: a node
// that stays silent longer than the requester's deadline is reported unreachable; a requester that
// stays silent longer than the node's deadline (its client went away with the cancel lost) ends the
// request on the node.
import type { Address } from '../../runtime/index.js';

/** Lines in one chunk. */
export const LOG_CHUNK_LINES_MAX = 100;
/** Unacknowledged chunks a node may have out, per task. */
export const LOG_CHUNKS_IN_FLIGHT_MAX = 4;
/** A longer line is cut to this many characters (the transport's frames are bounded). */
export const LOG_LINE_CHARS_MAX = 16 * 1024;
/** Tasks one request may name for one node. */
export const LOG_REQUEST_TASKS_MAX = 1_000;
/** Open requests a node serves at once; more are refused. */
export const LOG_REQUESTS_MAX = 64;
/** How often each end says it is still there while a request is open. */
export const LOG_ALIVE_PERIOD_MS = 1_000;
/** A node silent this long (no chunk, end or alive) is unreachable for the request. */
export const LOG_NODE_SILENCE_MS = 3_000;
/** A requester silent this long is gone: the node ends the request. */
export const LOG_REQUESTER_SILENCE_MS = 10_000;
/** A partial chunk is sent after this long without a new line. */
export const LOG_FLUSH_MS = 50;

export type LogStream = 'stdout' | 'stderr';

export interface LogLine {
  readonly stream: LogStream;
  readonly line: string;
}

// ---- requester (a manager's log stream actor) -> node (`n/logs`) ----

export interface LogsRequest {
  readonly type: 'logs.request';
  /** Unique per manager; the node's replies carry it. */
  readonly requestId: string;
  readonly taskIds: readonly string[];
  readonly follow: boolean;
  /** The last this many lines of each task (then, with follow, what comes); absent: all. */
  readonly tail?: number;
  /** Where the replies go: an actor on the requester's own node. */
  readonly replyTo: Address;
}

/** Chunks of `taskId` up to `seq` reached the client: the node may send up to seq + LOG_CHUNKS_IN_FLIGHT_MAX. */
export interface LogsAck {
  readonly type: 'logs.ack';
  readonly requestId: string;
  readonly taskId: string;
  readonly seq: number;
}

/** The client went away (or the requester gave up on this node): stop reading and sending. */
export interface LogsCancel {
  readonly type: 'logs.cancel';
  readonly requestId: string;
}

// ---- both ways ----

export interface LogsAlive {
  readonly type: 'logs.alive';
  readonly requestId: string;
}

// ---- node -> requester ----

export interface LogsChunk {
  readonly type: 'logs.chunk';
  readonly requestId: string;
  readonly taskId: string;
  /** 1, 2, ... per task. */
  readonly seq: number;
  readonly lines: readonly LogLine[];
}

/** No more lines of `taskId`; `error` says why there were none (or no more) when it failed. */
export interface LogsEnd {
  readonly type: 'logs.end';
  readonly requestId: string;
  readonly taskId: string;
  readonly error: string;
}

export type NodeLogsMessage = LogsRequest | LogsAck | LogsCancel | LogsAlive;
export type LogReply = LogsChunk | LogsEnd | LogsAlive;

/** The replies a node may send a manager's log stream actor (the daemon's inbound allowlist). */
export const LOG_REPLY_TYPES: ReadonlySet<string> = new Set(['logs.chunk', 'logs.end', 'logs.alive']);

/** The home of a manager's log streams, under which each request's actor lives. */
export const LOG_STREAMS_HOME = 'logstreams';

/** The open requests of a manager: request id -> the nodes asked -> the tasks asked of each. */
export type LogGrants = ReadonlyMap<string, ReadonlyMap<string, ReadonlySet<string>>>;

/**
 * Whether a worker (`sender`, from its verified certificate) may deliver `message` to `to`, one of
 * this manager's log streams (`<manager>/logstreams/<requestId>`): only a log reply, for a request
 * open now that asked that worker, about a task asked of it, and a chunk no larger than a chunk may
 * be. The reason of a refusal, or undefined. Everything else of a worker's the caller refuses.
 */
export function checkLogReply(grants: LogGrants, streamsHome: Address, to: Address, message: unknown, sender: string): string | undefined {
  const prefix = `${streamsHome}/`;
  const requestId = to.startsWith(prefix) ? to.slice(prefix.length) : '';
  if (requestId === '' || requestId.includes('/')) return 'manager-only: the sender holds a worker certificate';
  const m = message as { type?: unknown; requestId?: unknown; taskId?: unknown; lines?: unknown } | null;
  if (typeof m !== 'object' || m === null || typeof m.type !== 'string' || !LOG_REPLY_TYPES.has(m.type)) {
    return `a worker may send a log stream only log replies, not ${typeof m?.type === 'string' ? m.type : 'this'}`;
  }
  if (m.requestId !== requestId) return `a log reply for request ${String(m.requestId)} sent to the stream of ${requestId}`;
  const asked = grants.get(requestId)?.get(sender);
  if (asked === undefined) return `log request ${requestId} is not open for node ${sender}`;
  if (m.type === 'logs.alive') return undefined;
  if (typeof m.taskId !== 'string' || !asked.has(m.taskId)) return `log request ${requestId} did not ask node ${sender} for task ${String(m.taskId)}`;
  if (m.type === 'logs.chunk' && (!Array.isArray(m.lines) || m.lines.length > LOG_CHUNK_LINES_MAX)) return `a log chunk holds at most ${LOG_CHUNK_LINES_MAX} lines`;
  return undefined;
}

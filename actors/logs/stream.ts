// A manager's log stream (`m/logstreams/<requestId>`): one per `GET /services/{id}/logs` or
// `GET /tasks/{id}/logs`. It asks each node that holds some of the tasks for their lines, tags
// every line with its task and node as Docker does (`<service>.<slot>.<task id>@<node>    | line`),
// and hands them to its sink (the HTTP response) as they come.
//
// It never waits on a node without a deadline: a node down in the store when the request began,
// or silent for `silenceMs` (no chunk, end or alive) before it ended, is reported once as
// `incomplete: node <name> unreachable` and no longer waited for. The request ends when every
// node ended or was given up, or at once when the client goes away (`logs.cancel`, passed on to
// the nodes still streaming).
//
// Credit: a chunk is acknowledged once the sink took its lines without backing up; while the sink
// is backed up the acknowledgements wait for `logs.drained`, and the nodes stop reading after
// LOG_CHUNKS_IN_FLIGHT_MAX chunks per task. A node that sends beyond its credit, out of order, for
// a task it was not asked for, or a malformed chunk is given up (reported incomplete) and cancelled.
import { nodeOf, type ActorContext, type Address, type Behaviour, type Props } from '../../runtime/index.js';
import {
  LOG_ALIVE_PERIOD_MS, LOG_CHUNK_LINES_MAX, LOG_CHUNKS_IN_FLIGHT_MAX, LOG_LINE_CHARS_MAX, LOG_NODE_SILENCE_MS,
  type LogReply, type LogStream, type LogsAck, type LogsAlive, type LogsCancel, type LogsChunk, type LogsRequest,
} from './protocol.js';

/** What the stream hands its sink. `text` is the line as the CLI prints it. */
export type LogEntry =
  | { readonly kind: 'line'; readonly taskId: string; readonly nodeId: string; readonly context: string; readonly stream: LogStream; readonly line: string; readonly text: string }
  | { readonly kind: 'incomplete'; readonly nodeId: string; readonly nodeName: string; readonly reason: string; readonly text: string }
  | { readonly kind: 'error'; readonly taskId: string; readonly nodeId: string; readonly context: string; readonly message: string; readonly text: string };

export interface LogSink {
  /** Takes entries; false when it is backed up (a `logs.drained` to the stream says when it no longer is). */
  write(entries: readonly LogEntry[]): boolean;
  /** The stream ended (every node ended or was given up, or the client went away). */
  end(): void;
}

export interface LogTask {
  readonly taskId: string;
  /** `<service>.<slot>.<task id>@<node name>` (logContext). */
  readonly context: string;
}

export interface LogTarget {
  readonly nodeId: string;
  readonly nodeName: string;
  /** False when the store has the node down (or unknown): reported unreachable without asking. */
  readonly reachable: boolean;
  readonly tasks: readonly LogTask[];
}

export interface LogStreamOptions {
  readonly requestId: string;
  readonly targets: readonly LogTarget[];
  readonly follow: boolean;
  readonly tail?: number;
  /** Which streams reach the sink (both by default). */
  readonly streams?: ReadonlySet<LogStream>;
  readonly sink: LogSink;
  /** A task whose node holds no workload for it: an error line (`task logs`), or nothing (`service logs`, as Docker). */
  readonly reportGone: boolean;
  /** Where a node serves logs. Default `<node>/logs`. */
  readonly nodeLogsAddress?: (nodeId: string) => Address;
  readonly silenceMs?: number;
  readonly alivePeriodMs?: number;
}

/** From the control API: the client went away. */
export type LogStreamControl = { readonly type: 'logs.drained' } | LogsCancel;

type Private =
  | { readonly type: 'stream.silence'; readonly nodeId: string }
  | { readonly type: 'stream.tick' };

export type LogStreamInput = LogReply | LogStreamControl | Private;

/** Docker's context of a task's lines: `<service>.<slot>.<task id, 12>@<node name>` (a global task's slot is its node id). */
export function logContext(serviceName: string, task: { readonly id: string; readonly slot: number; readonly nodeId: string }, nodeName: string): string {
  return `${serviceName}.${task.slot !== 0 ? task.slot : task.nodeId}.${task.id.slice(0, 12)}@${nodeName}`;
}

/** A tagged line as the CLI prints it: the contexts padded to one width, then `    | `, as Docker's. */
export function formatLogLine(context: string, width: number, line: string): string {
  return `${context.padEnd(width)}    | ${line}`;
}

export function incompleteText(nodeName: string, reason: string): string {
  return `incomplete: node ${nodeName} ${reason}`;
}

interface NodeProgress {
  readonly target: LogTarget;
  readonly open: Set<string>;
  done: boolean;
}

interface TaskProgress {
  readonly task: LogTask;
  readonly nodeId: string;
  lastSeq: number;
  ackedSeq: number;
}

class LogStreamBehaviour implements Behaviour<LogStreamInput> {
  private readonly nodes = new Map<string, NodeProgress>();
  private readonly tasks = new Map<string, TaskProgress>();
  private readonly width: number;
  private readonly silenceMs: number;
  private readonly alivePeriodMs: number;
  private readonly streams: ReadonlySet<LogStream>;
  private backedUp = false;
  /** Acknowledgements held while the sink is backed up: task -> highest seq written. */
  private readonly heldAcks = new Map<string, number>();
  private ended = false;

  constructor(private readonly options: LogStreamOptions, private readonly ctx: ActorContext) {
    this.silenceMs = options.silenceMs ?? LOG_NODE_SILENCE_MS;
    this.alivePeriodMs = options.alivePeriodMs ?? LOG_ALIVE_PERIOD_MS;
    this.streams = options.streams ?? new Set<LogStream>(['stdout', 'stderr']);
    let width = 0;
    for (const target of options.targets) {
      this.nodes.set(target.nodeId, { target, open: new Set(target.tasks.map((t) => t.taskId)), done: false });
      for (const task of target.tasks) {
        this.tasks.set(task.taskId, { task, nodeId: target.nodeId, lastSeq: 0, ackedSeq: 0 });
        width = Math.max(width, task.context.length);
      }
    }
    this.width = width;
  }

  started(): void {
    for (const progress of this.nodes.values()) {
      const target = progress.target;
      if (target.tasks.length === 0) {
        progress.done = true;
      } else if (!target.reachable) {
        this.giveUp(progress, 'unreachable', false);
      } else {
        this.ctx.send(this.nodeLogs(target.nodeId), {
          type: 'logs.request', requestId: this.options.requestId, taskIds: target.tasks.map((t) => t.taskId), follow: this.options.follow,
          ...(this.options.tail === undefined ? {} : { tail: this.options.tail }), replyTo: this.ctx.self,
        } satisfies LogsRequest);
        this.ctx.setTimer(`silence:${target.nodeId}`, this.silenceMs, { type: 'stream.silence', nodeId: target.nodeId } satisfies Private);
      }
    }
    this.ctx.setTimer('tick', this.alivePeriodMs, { type: 'stream.tick' } satisfies Private);
    this.maybeEnd();
  }

  stopped(): void {
    this.end();
  }

  inspectState(): unknown {
    return { nodes: [...this.nodes.values()].filter((n) => !n.done).map((n) => n.target.nodeId), backedUp: this.backedUp };
  }

  receive(m: LogStreamInput, ctx: ActorContext): void {
    if (this.ended) return;
    switch (m.type) {
      case 'logs.chunk':
        return this.chunk(m, ctx.sender);
      case 'logs.end':
        return this.taskEnd(m.taskId, m.error, m.requestId, ctx.sender);
      case 'logs.alive':
        this.heard(ctx.sender, m.requestId);
        return;
      case 'logs.drained':
        return this.drained();
      case 'logs.cancel':
        // The client went away: the nodes still streaming stop too.
        for (const progress of this.nodes.values()) if (!progress.done) this.ctx.send(this.nodeLogs(progress.target.nodeId), { type: 'logs.cancel', requestId: this.options.requestId } satisfies LogsCancel);
        this.end();
        return;
      case 'stream.silence': {
        const progress = this.nodes.get(m.nodeId);
        if (progress !== undefined && !progress.done) this.giveUp(progress, 'unreachable', true);
        return;
      }
      case 'stream.tick':
        for (const progress of this.nodes.values()) if (!progress.done) this.ctx.send(this.nodeLogs(progress.target.nodeId), { type: 'logs.alive', requestId: this.options.requestId } satisfies LogsAlive);
        this.ctx.setTimer('tick', this.alivePeriodMs, { type: 'stream.tick' } satisfies Private);
        return;
      default:
        return ignore(m);
    }
  }

  private nodeLogs(nodeId: string): Address {
    return this.options.nodeLogsAddress?.(nodeId) ?? `${nodeId}/logs`;
  }

  /** The sender's node, if it is one this request waits for: its silence deadline starts again. */
  private heard(sender: Address | undefined, requestId: unknown): NodeProgress | undefined {
    if (sender === undefined || requestId !== this.options.requestId) return undefined;
    const progress = this.nodes.get(nodeOf(sender));
    if (progress === undefined || progress.done) return undefined;
    this.ctx.setTimer(`silence:${progress.target.nodeId}`, this.silenceMs, { type: 'stream.silence', nodeId: progress.target.nodeId } satisfies Private);
    return progress;
  }

  private chunk(m: LogsChunk, sender: Address | undefined): void {
    const progress = this.heard(sender, m.requestId);
    if (progress === undefined) return;
    const task = this.tasks.get(m.taskId);
    if (task === undefined || task.nodeId !== progress.target.nodeId || !progress.open.has(m.taskId)) return this.giveUp(progress, `sent lines of a task it was not asked for (${String(m.taskId)})`, true);
    if (m.seq !== task.lastSeq + 1) return this.giveUp(progress, `sent chunk ${String(m.seq)} of task ${m.taskId} after ${task.lastSeq}`, true);
    if (m.seq > task.ackedSeq + LOG_CHUNKS_IN_FLIGHT_MAX) return this.giveUp(progress, `sent beyond its credit for task ${m.taskId}`, true);
    if (!validLines(m.lines)) return this.giveUp(progress, `sent a malformed chunk for task ${m.taskId}`, true);
    task.lastSeq = m.seq;
    const context = task.task.context;
    const entries: LogEntry[] = [];
    for (const l of m.lines) {
      if (!this.streams.has(l.stream)) continue;
      entries.push({ kind: 'line', taskId: m.taskId, nodeId: task.nodeId, context, stream: l.stream, line: l.line, text: formatLogLine(context, this.width, l.line) });
    }
    const flowing = entries.length === 0 || this.write(entries);
    if (flowing && !this.backedUp) this.ack(task, m.seq);
    else this.heldAcks.set(m.taskId, m.seq);
  }

  private taskEnd(taskId: string, error: string, requestId: string, sender: Address | undefined): void {
    const progress = this.heard(sender, requestId);
    if (progress === undefined || !progress.open.has(taskId)) return;
    progress.open.delete(taskId);
    const task = this.tasks.get(taskId)!;
    if (typeof error === 'string' && error !== '' && (error !== 'gone' || this.options.reportGone)) {
      const message = error === 'gone' ? 'no logs: its node holds no workload for it (removed)' : error;
      this.write([{ kind: 'error', taskId, nodeId: task.nodeId, context: task.task.context, message, text: `error from ${task.task.context}: ${message}` }]);
    }
    if (progress.open.size === 0) {
      progress.done = true;
      this.ctx.cancelTimer(`silence:${progress.target.nodeId}`);
      this.maybeEnd();
    }
  }

  /** The node is no longer waited for: one `incomplete:` line, and a cancel in case it still streams. */
  private giveUp(progress: NodeProgress, reason: string, asked: boolean): void {
    if (progress.done) return;
    progress.done = true;
    this.ctx.cancelTimer(`silence:${progress.target.nodeId}`);
    if (asked) this.ctx.send(this.nodeLogs(progress.target.nodeId), { type: 'logs.cancel', requestId: this.options.requestId } satisfies LogsCancel);
    const name = progress.target.nodeName;
    this.write([{ kind: 'incomplete', nodeId: progress.target.nodeId, nodeName: name, reason, text: incompleteText(name, reason) }]);
    this.maybeEnd();
  }

  private write(entries: readonly LogEntry[]): boolean {
    const flowing = this.options.sink.write(entries);
    if (!flowing) this.backedUp = true;
    return flowing;
  }

  private drained(): void {
    this.backedUp = false;
    for (const [taskId, seq] of this.heldAcks) {
      const task = this.tasks.get(taskId)!;
      if (!this.nodes.get(task.nodeId)!.done) this.ack(task, seq);
    }
    this.heldAcks.clear();
  }

  private ack(task: TaskProgress, seq: number): void {
    task.ackedSeq = seq;
    this.ctx.send(this.nodeLogs(task.nodeId), { type: 'logs.ack', requestId: this.options.requestId, taskId: task.task.taskId, seq } satisfies LogsAck);
  }

  private maybeEnd(): void {
    if ([...this.nodes.values()].every((n) => n.done)) this.end();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.ctx.cancelTimer('tick');
    this.options.sink.end();
    this.ctx.stop();
  }
}

function validLines(lines: unknown): boolean {
  if (!Array.isArray(lines) || lines.length === 0 || lines.length > LOG_CHUNK_LINES_MAX) return false;
  return lines.every((l: unknown) => {
    const x = l as { stream?: unknown; line?: unknown } | null;
    return typeof x === 'object' && x !== null && (x.stream === 'stdout' || x.stream === 'stderr') && typeof x.line === 'string' && x.line.length <= LOG_LINE_CHARS_MAX;
  });
}

function ignore(_message: never): void {}

export function logStreamActor(options: LogStreamOptions): Props<LogStreamInput> {
  // Bounded by the credit: per task at most LOG_CHUNKS_IN_FLIGHT_MAX chunks and an end, plus alives.
  return { kind: 'logstream', create: (ctx) => new LogStreamBehaviour(options, ctx), mailboxDepthMax: 65_536, supervision: { kind: 'stop' } };
}

/** Opens a log stream under the home (`m/logstreams`): the home spawns it as `<requestId>`. */
export interface LogStreamsOpen {
  readonly type: 'logstreams.open';
  readonly options: LogStreamOptions;
}

/** Passes a control message to an open stream (in order after its open: the stream exists by then, unless it ended). */
export interface LogStreamsTell {
  readonly type: 'logstreams.tell';
  readonly requestId: string;
  readonly message: LogStreamControl;
}

export type LogStreamsInput = LogStreamsOpen | LogStreamsTell;

/** The home of a node's log streams: each open request's stream is its child. Only this node's own code talks to it. */
export function logStreamsHome(): Props<LogStreamsInput> {
  return {
    kind: 'logstreams',
    create: () => ({
      receive: (m: LogStreamsInput, ctx: ActorContext) => {
        // Only this node opens streams (its sink is a function: nothing a remote sender could carry).
        if (ctx.sender !== undefined) return;
        if (m.type === 'logstreams.open' && typeof m.options?.sink?.write === 'function') ctx.spawn(m.options.requestId, logStreamActor(m.options));
        if (m.type === 'logstreams.tell') {
          const child = `${ctx.self}/${m.requestId}`;
          if (ctx.children().includes(child)) ctx.send(child, m.message);
        }
      },
    }),
    mailboxDepthMax: 65_536,
  };
}

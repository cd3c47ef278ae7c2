// The node's log server (`n/logs`, on every node): answers a manager's `logs.request` with the
// lines its executor kept for the tasks named, in numbered chunks under the requester's credit
// (see protocol.ts), then a `logs.end` per task.
//
// Each task is read by a pump: an async loop over `executor.logs(...)` outside the actor's turns.
// A pump only sends: its chunks and its end to the requester, and `logs.pumpDone` to this actor.
// The actor owns the requests; what it tells a pump (an ack, a cancel) is a method call within
// its own turn. A pump holds at most one chunk being filled and waits while LOG_CHUNKS_IN_FLIGHT_MAX
// chunks are unacknowledged: a slow client stops the reading, not the node's memory.
//
// A cancel (or a requester silent for LOG_REQUESTER_SILENCE_MS) stops every pump of the request at
// once; the executor's iterator is then returned (a `break`), which ends it at its next step.
import { executorFailure, nodeOf, type ActorContext, type Address, type Behaviour, type Executor, type ExecutorLogLine, type Props } from '../../runtime/index.js';
import {
  LOG_ALIVE_PERIOD_MS, LOG_CHUNK_LINES_MAX, LOG_CHUNKS_IN_FLIGHT_MAX, LOG_FLUSH_MS, LOG_LINE_CHARS_MAX, LOG_REQUEST_TASKS_MAX, LOG_REQUESTER_SILENCE_MS, LOG_REQUESTS_MAX,
  type LogLine, type LogReply, type NodeLogsMessage,
} from './protocol.js';

export interface NodeLogsOptions {
  readonly executor: Executor;
  /** Defaults from protocol.ts; tests shorten them. */
  readonly alivePeriodMs?: number;
  readonly requesterSilenceMs?: number;
  readonly flushMs?: number;
}

type Private =
  | { readonly type: 'logs.tick'; readonly key: string }
  | { readonly type: 'logs.listed'; readonly key: string; readonly held: readonly string[] | null }
  | { readonly type: 'logs.pumpDone'; readonly key: string; readonly taskId: string };

export type NodeLogsInput = NodeLogsMessage | Private;

interface Served {
  readonly requestId: string;
  readonly replyTo: Address;
  readonly follow: boolean;
  readonly tail: number | undefined;
  readonly taskIds: readonly string[];
  readonly pumps: Map<string, Pump>;
  lastHeardAt: number;
  started: boolean;
}

const CANCELLED = Symbol('cancelled');
const FLUSH = Symbol('flush');

/** Reads one task's lines and sends them to the requester in chunks, within its credit. */
class Pump {
  private sentSeq = 0;
  private ackedSeq = 0;
  private cancelled = false;
  private wake: (() => void) | undefined;
  private readonly cancelledSignal: Promise<typeof CANCELLED>;
  private cancelNow: () => void = () => undefined;

  constructor(
    private readonly ctx: ActorContext,
    private readonly key: string,
    private readonly requestId: string,
    readonly taskId: string,
    private readonly replyTo: Address,
    private readonly flushMs: number,
  ) {
    this.cancelledSignal = new Promise((resolve) => {
      this.cancelNow = () => resolve(CANCELLED);
    });
  }

  ack(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq <= this.ackedSeq || seq > this.sentSeq) return;
    this.ackedSeq = seq;
    this.wakeUp();
  }

  cancel(): void {
    this.cancelled = true;
    this.cancelNow();
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async run(source: () => AsyncIterable<ExecutorLogLine>): Promise<void> {
    let error = '';
    let iterator: AsyncIterator<ExecutorLogLine> | undefined;
    let pending: Promise<IteratorResult<ExecutorLogLine>> | undefined;
    try {
      iterator = source()[Symbol.asyncIterator]();
      let batch: LogLine[] = [];
      while (!this.cancelled) {
        pending ??= iterator.next();
        const next = await this.nextOrFlush(pending, batch.length > 0);
        if (next === CANCELLED) break;
        if (next === FLUSH) {
          await this.send(batch);
          batch = [];
          continue;
        }
        pending = undefined;
        if (next.done === true) break;
        const line = next.value.line.length > LOG_LINE_CHARS_MAX ? next.value.line.slice(0, LOG_LINE_CHARS_MAX) : next.value.line;
        batch.push({ stream: next.value.stream, line });
        if (batch.length >= LOG_CHUNK_LINES_MAX) {
          await this.send(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await this.send(batch);
    } catch (e) {
      error = executorFailure(e).message;
    } finally {
      // A `break`: the executor closes its files (at its next step, if a read is pending now).
      if (this.cancelled || pending !== undefined) void iterator?.return?.()?.catch(() => undefined);
      pending?.catch(() => undefined);
    }
    if (!this.cancelled) this.reply({ type: 'logs.end', requestId: this.requestId, taskId: this.taskId, error });
    this.post({ type: 'logs.pumpDone', key: this.key, taskId: this.taskId });
  }

  /** The next line, or FLUSH when a partial chunk has waited `flushMs` for one, or CANCELLED. */
  private async nextOrFlush(pending: Promise<IteratorResult<ExecutorLogLine>>, partial: boolean): Promise<IteratorResult<ExecutorLogLine> | typeof FLUSH | typeof CANCELLED> {
    if (!partial) return Promise.race([pending, this.cancelledSignal]);
    const clock = this.ctx.env.clock;
    let timer: unknown;
    const flush = new Promise<typeof FLUSH>((resolve) => {
      timer = clock.setTimeout(() => resolve(FLUSH), this.flushMs);
    });
    try {
      return await Promise.race([pending, flush, this.cancelledSignal]);
    } finally {
      clock.clearTimeout(timer as never);
    }
  }

  private async send(lines: readonly LogLine[]): Promise<void> {
    while (!this.cancelled && this.sentSeq - this.ackedSeq >= LOG_CHUNKS_IN_FLIGHT_MAX) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    if (this.cancelled) return;
    this.sentSeq++;
    this.reply({ type: 'logs.chunk', requestId: this.requestId, taskId: this.taskId, seq: this.sentSeq, lines });
  }

  private reply(message: LogReply): void {
    try {
      this.ctx.send(this.replyTo, message);
    } catch {
      // The requester's mailbox is full or gone (a local one): it stops waiting by itself.
      this.cancel();
    }
  }

  private post(message: Private): void {
    try {
      this.ctx.send(this.ctx.self, message);
    } catch {
      // This actor stopped: nothing is left to tidy.
    }
  }
}

class NodeLogs implements Behaviour<NodeLogsInput> {
  private readonly requests = new Map<string, Served>();
  private readonly alivePeriodMs: number;
  private readonly requesterSilenceMs: number;
  private readonly flushMs: number;

  constructor(private readonly options: NodeLogsOptions, private readonly ctx: ActorContext) {
    this.alivePeriodMs = options.alivePeriodMs ?? LOG_ALIVE_PERIOD_MS;
    this.requesterSilenceMs = options.requesterSilenceMs ?? LOG_REQUESTER_SILENCE_MS;
    this.flushMs = options.flushMs ?? LOG_FLUSH_MS;
  }

  receive(m: NodeLogsInput, ctx: ActorContext): void {
    switch (m.type) {
      case 'logs.request':
        return this.open(m, ctx.sender);
      case 'logs.ack': {
        const served = this.served(m.requestId, ctx.sender);
        if (served === undefined) return;
        served.pumps.get(m.taskId)?.ack(m.seq);
        return;
      }
      case 'logs.alive': {
        this.served(m.requestId, ctx.sender);
        return;
      }
      case 'logs.cancel': {
        const key = keyOf(ctx.sender, m.requestId);
        if (key !== undefined) this.close(key);
        return;
      }
      case 'logs.tick':
        return this.tick(m.key);
      case 'logs.listed':
        return this.start(m.key, m.held);
      case 'logs.pumpDone': {
        const served = this.requests.get(m.key);
        if (served === undefined) return;
        served.pumps.delete(m.taskId);
        if (served.started && served.pumps.size === 0) this.close(m.key);
        return;
      }
      default:
        return ignore(m);
    }
  }

  stopped(): void {
    for (const key of [...this.requests.keys()]) this.close(key);
  }

  inspectState(): unknown {
    return { requests: this.requests.size, pumps: [...this.requests.values()].reduce((n, s) => n + s.pumps.size, 0) };
  }

  /** The request `requestId` of the sender's node, which was heard from now. */
  private served(requestId: string, sender: Address | undefined): Served | undefined {
    const key = keyOf(sender, requestId);
    const served = key === undefined ? undefined : this.requests.get(key);
    if (served !== undefined) served.lastHeardAt = this.ctx.env.clock.now();
    return served;
  }

  private open(m: Extract<NodeLogsMessage, { type: 'logs.request' }>, sender: Address | undefined): void {
    const key = keyOf(sender, m.requestId);
    // The replies go back to the requester's own node, nowhere else.
    if (key === undefined || typeof m.replyTo !== 'string' || nodeOf(m.replyTo) !== nodeOf(sender!)) return;
    if (this.requests.has(key)) return;
    const refuse = (error: string): void => {
      for (const taskId of m.taskIds.slice(0, LOG_REQUEST_TASKS_MAX)) this.ctx.send(m.replyTo, { type: 'logs.end', requestId: m.requestId, taskId, error } satisfies LogReply);
    };
    if (!Array.isArray(m.taskIds) || m.taskIds.length > LOG_REQUEST_TASKS_MAX || !m.taskIds.every((t) => typeof t === 'string')) return refuse(`a request names at most ${LOG_REQUEST_TASKS_MAX} tasks`);
    if (m.tail !== undefined && !(Number.isSafeInteger(m.tail) && m.tail >= 0)) return refuse(`tail must be a whole number, got ${String(m.tail)}`);
    if (this.requests.size >= LOG_REQUESTS_MAX) return refuse(`the node serves at most ${LOG_REQUESTS_MAX} log requests at once`);
    const served: Served = {
      requestId: m.requestId, replyTo: m.replyTo, follow: m.follow === true, tail: m.tail, taskIds: [...new Set(m.taskIds)],
      pumps: new Map(), lastHeardAt: this.ctx.env.clock.now(), started: false,
    };
    this.requests.set(key, served);
    this.ctx.setTimer(`tick:${key}`, this.alivePeriodMs, { type: 'logs.tick', key } satisfies Private);
    // Which of the tasks this node holds: the others have no logs here (removed, or never ran).
    const executor = this.options.executor;
    const post = (held: readonly string[] | null): void => {
      try {
        this.ctx.send(this.ctx.self, { type: 'logs.listed', key, held } satisfies Private);
      } catch {
        // stopped
      }
    };
    executor.list().then((workloads) => post(workloads.map((w) => w.id)), () => post(null));
  }

  private start(key: string, held: readonly string[] | null): void {
    const served = this.requests.get(key);
    if (served === undefined || served.started) return;
    served.started = true;
    const holds = held === null ? undefined : new Set(held);
    const executor = this.options.executor;
    for (const taskId of served.taskIds) {
      if (holds !== undefined && !holds.has(taskId)) {
        this.ctx.send(served.replyTo, { type: 'logs.end', requestId: served.requestId, taskId, error: 'gone' } satisfies LogReply);
        continue;
      }
      const pump = new Pump(this.ctx, key, served.requestId, taskId, served.replyTo, this.flushMs);
      served.pumps.set(taskId, pump);
      const options = { follow: served.follow, ...(served.tail === undefined ? {} : { tail: served.tail }) };
      void pump.run(() => {
        if (executor.logs === undefined) throw new Error('this node\'s executor keeps no logs');
        return executor.logs(taskId, options);
      });
    }
    if (served.pumps.size === 0) this.close(key);
  }

  private tick(key: string): void {
    const served = this.requests.get(key);
    if (served === undefined) return;
    if (this.ctx.env.clock.now() - served.lastHeardAt > this.requesterSilenceMs) {
      this.close(key);
      return;
    }
    this.ctx.send(served.replyTo, { type: 'logs.alive', requestId: served.requestId } satisfies LogReply);
    this.ctx.setTimer(`tick:${key}`, this.alivePeriodMs, { type: 'logs.tick', key } satisfies Private);
  }

  private close(key: string): void {
    const served = this.requests.get(key);
    if (served === undefined) return;
    this.requests.delete(key);
    this.ctx.cancelTimer(`tick:${key}`);
    for (const pump of served.pumps.values()) pump.cancel();
  }
}

function keyOf(sender: Address | undefined, requestId: unknown): string | undefined {
  if (sender === undefined || typeof requestId !== 'string') return undefined;
  return `${nodeOf(sender)}/${requestId}`;
}

function ignore(_message: never): void {}

/** The node's log server over `options.executor`. */
export function nodeLogsActor(options: NodeLogsOptions): Props<NodeLogsInput> {
  // Per open request: its pumps' done notices, plus the requester's acks (bounded by its credit).
  return { kind: 'logs', create: (ctx) => new NodeLogs(options, ctx), mailboxDepthMax: 65_536 };
}

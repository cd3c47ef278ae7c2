// Service logs on the virtual-time bench: a manager's log stream and the nodes' log servers over a
// memory transport, with an in-memory executor whose tasks print on demand. Checks the tagging,
// the tail, the unreachable deadline, the credit (a backed-up client stops the node's reading),
// the cancel (the node stops reading), a node that breaks the protocol, and the inbound allowlist
// for workers' log replies.
import {
  LOG_CHUNK_LINES_MAX, LOG_CHUNKS_IN_FLIGHT_MAX, LOG_NODE_SILENCE_MS, LOG_STREAMS_HOME, checkLogReply, formatLogLine, logContext, logStreamsHome, nodeLogsActor,
  type LogEntry, type LogStreamsInput, type LogTarget,
} from '../../actors/index.js';
import { ExecutorError, type ActorSystem, type Executor, type ExecutorLogLine, type ExecutorLogsOptions, type ExecutorWorkload } from '../../runtime/index.js';
import { Bench } from '../runtime/harness.js';

interface FakeWorkload {
  readonly lines: ExecutorLogLine[];
  exited: boolean;
  waiters: Array<() => void>;
}

/** Holds workloads whose lines a test appends; `logs` follows them as the process executor does. */
class FakeExecutor {
  readonly held = new Map<string, FakeWorkload>();
  /** Log iterations finished (ended, or returned by a consumer's break). */
  finished = 0;
  /** Lines handed out by every iteration. */
  yielded = 0;

  add(id: string, lines: ExecutorLogLine[] = []): FakeWorkload {
    const w: FakeWorkload = { lines, exited: false, waiters: [] };
    this.held.set(id, w);
    return w;
  }

  print(id: string, ...lines: ExecutorLogLine[]): void {
    const w = this.held.get(id)!;
    w.lines.push(...lines);
    for (const wake of w.waiters.splice(0)) wake();
  }

  exit(id: string): void {
    const w = this.held.get(id)!;
    w.exited = true;
    for (const wake of w.waiters.splice(0)) wake();
  }

  async list(): Promise<ExecutorWorkload[]> {
    return [...this.held.keys()].map((id) => ({ id, running: true, exitCode: null }));
  }

  logs(id: string, options: ExecutorLogsOptions): AsyncIterable<ExecutorLogLine> {
    const w = this.held.get(id);
    if (w === undefined) throw new ExecutorError('FAILED', `no such workload: ${id}`);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return (async function* () {
      let i = options.tail === undefined ? 0 : Math.max(0, w.lines.length - options.tail);
      try {
        for (;;) {
          while (i < w.lines.length) {
            self.yielded++;
            yield w.lines[i++]!;
          }
          if (!options.follow || w.exited) return;
          await new Promise<void>((resolve) => w.waiters.push(resolve));
        }
      } finally {
        self.finished++;
      }
    })();
  }

  asExecutor(): Executor {
    return this as unknown as Executor;
  }
}

const out = (line: string): ExecutorLogLine => ({ stream: 'stdout', line });
const err = (line: string): ExecutorLogLine => ({ stream: 'stderr', line });

interface Setup {
  bench: Bench;
  manager: ActorSystem;
  executors: Map<string, FakeExecutor>;
  entries: LogEntry[];
  ended: () => boolean;
  /** Whether the sink takes more (false: backed up). */
  flowing: { value: boolean };
  open(targets: readonly LogTarget[], options?: { follow?: boolean; tail?: number; requestId?: string }): string;
  tell(requestId: string, message: { type: 'logs.drained' } | { type: 'logs.cancel'; requestId: string }): void;
}

function setup(workers: readonly string[]): Setup {
  const bench = new Bench();
  const manager = bench.system('m');
  manager.spawn(LOG_STREAMS_HOME, logStreamsHome());
  const executors = new Map<string, FakeExecutor>();
  for (const name of workers) {
    const executor = new FakeExecutor();
    executors.set(name, executor);
    bench.system(name).spawn('logs', nodeLogsActor({ executor: executor.asExecutor() }));
  }
  const entries: LogEntry[] = [];
  let ended = false;
  const flowing = { value: true };
  return {
    bench, manager, executors, entries, flowing,
    ended: () => ended,
    open(targets, options = {}) {
      const requestId = options.requestId ?? 'r1';
      manager.send(`m/${LOG_STREAMS_HOME}`, {
        type: 'logstreams.open',
        options: {
          requestId, targets, follow: options.follow ?? false, ...(options.tail === undefined ? {} : { tail: options.tail }), reportGone: false,
          sink: {
            write: (e) => {
              entries.push(...e);
              return flowing.value;
            },
            end: () => {
              ended = true;
            },
          },
        },
      } satisfies LogStreamsInput);
      return requestId;
    },
    tell(requestId, message) {
      manager.send(`m/${LOG_STREAMS_HOME}`, { type: 'logstreams.tell', requestId, message } satisfies LogStreamsInput);
    },
  };
}

function target(nodeId: string, tasks: Array<{ id: string; slot: number }>, reachable = true): LogTarget {
  return { nodeId, nodeName: `name-${nodeId}`, reachable, tasks: tasks.map((t) => ({ taskId: t.id, context: logContext('web', { id: t.id, slot: t.slot, nodeId }, `name-${nodeId}`) })) };
}

const lineTexts = (entries: readonly LogEntry[]): string[] => entries.filter((e) => e.kind === 'line').map((e) => e.text);

describe('service logs: a manager\'s log stream and the nodes\' log servers', () => {
  test('every task\'s lines, tagged <service>.<slot>.<task>@<node> and padded to one width, both streams; the stream ends when every node ended', async () => {
    const s = setup(['w1', 'w2']);
    s.executors.get('w1')!.add('task-aaaaaaaaaaaaaaa1', [out('a1'), err('a2')]);
    s.executors.get('w2')!.add('task-bbbbbbbbbbbbbbb2', [out('b1')]);
    s.executors.get('w2')!.add('task-ccccccccccccccc3', [out('c1'), out('c2')]);
    s.open([target('w1', [{ id: 'task-aaaaaaaaaaaaaaa1', slot: 1 }]), target('w2', [{ id: 'task-bbbbbbbbbbbbbbb2', slot: 2 }, { id: 'task-ccccccccccccccc3', slot: 10 }])]);
    await s.bench.settle(10_000);
    expect(s.ended()).toBe(true);
    const width = 'web.10.task-ccccccc@name-w2'.length;
    expect(lineTexts(s.entries).sort()).toEqual([
      formatLogLine('web.1.task-aaaaaaa@name-w1', width, 'a1'),
      formatLogLine('web.1.task-aaaaaaa@name-w1', width, 'a2'),
      formatLogLine('web.10.task-ccccccc@name-w2', width, 'c1'),
      formatLogLine('web.10.task-ccccccc@name-w2', width, 'c2'),
      formatLogLine('web.2.task-bbbbbbb@name-w2', width, 'b1'),
    ].sort());
    expect(formatLogLine('web.1.task-aaaaaaa@name-w1', width, 'a1')).toBe('web.1.task-aaaaaaa@name-w1     | a1');
    const a2 = s.entries.find((e) => e.kind === 'line' && e.line === 'a2');
    expect(a2).toMatchObject({ stream: 'stderr', taskId: 'task-aaaaaaaaaaaaaaa1', nodeId: 'w1' });
    // Each task's lines in its own order.
    expect(lineTexts(s.entries).filter((t) => t.includes('task-ccccccc')).map((t) => t.slice(-2))).toEqual(['c1', 'c2']);
    expect(s.entries.some((e) => e.kind !== 'line')).toBe(false);
  });

  test('--tail N: at most the last N lines of each task', async () => {
    const s = setup(['w1']);
    s.executors.get('w1')!.add('t1', ['1', '2', '3', '4', '5'].map(out));
    s.executors.get('w1')!.add('t2', [out('x')]);
    s.open([target('w1', [{ id: 't1', slot: 1 }, { id: 't2', slot: 2 }])], { tail: 2 });
    await s.bench.settle(10_000);
    expect(s.ended()).toBe(true);
    const lines = s.entries.filter((e): e is Extract<LogEntry, { kind: 'line' }> => e.kind === 'line');
    expect(lines.filter((e) => e.taskId === 't1').map((e) => e.line)).toEqual(['4', '5']);
    expect(lines.filter((e) => e.taskId === 't2').map((e) => e.line)).toEqual(['x']);
  });

  test('a node that does not answer is given up after the deadline: one incomplete line, the others\' lines are there, the stream ends', async () => {
    const s = setup(['w1']);
    s.executors.get('w1')!.add('t1', [out('here')]);
    // w9 has no system on the transport: its messages are lost, as to a killed node.
    s.open([target('w1', [{ id: 't1', slot: 1 }]), target('w9', [{ id: 't9', slot: 2 }])]);
    await s.bench.advance(LOG_NODE_SILENCE_MS - 100);
    expect(s.ended()).toBe(false);
    expect(lineTexts(s.entries)).toHaveLength(1);
    await s.bench.advance(200);
    expect(s.ended()).toBe(true);
    expect(s.entries.filter((e) => e.kind === 'incomplete').map((e) => e.text)).toEqual(['incomplete: node name-w9 unreachable']);
  });

  test('a node down in the store is reported at once and never asked', async () => {
    const s = setup(['w1']);
    s.executors.get('w1')!.add('t1', [out('here')]);
    s.open([target('w1', [{ id: 't1', slot: 1 }]), target('w2', [{ id: 't2', slot: 2 }], false)]);
    await s.bench.advance(100);
    expect(s.ended()).toBe(true);
    expect(s.entries.map((e) => e.text)).toEqual(expect.arrayContaining(['incomplete: node name-w2 unreachable']));
    expect(lineTexts(s.entries)).toHaveLength(1);
  });

  test('following: a quiet node is kept (its alive messages), new lines come as printed; the stream ends when the tasks exit', async () => {
    const s = setup(['w1']);
    const executor = s.executors.get('w1')!;
    executor.add('t1', [out('first')]);
    s.open([target('w1', [{ id: 't1', slot: 1 }])], { follow: true });
    await s.bench.advance(10 * LOG_NODE_SILENCE_MS);
    expect(s.ended()).toBe(false);
    expect(s.entries.map((e) => e.kind)).toEqual(['line']);
    executor.print('t1', out('second'));
    await s.bench.advance(500);
    expect(s.entries.filter((e) => e.kind === 'line').map((e) => (e as { line: string }).line)).toEqual(['first', 'second']);
    executor.exit('t1');
    await s.bench.advance(500);
    expect(s.ended()).toBe(true);
  });

  test('credit: a backed-up client stops the node after the chunks in flight; drained, it goes on', async () => {
    const s = setup(['w1']);
    const executor = s.executors.get('w1')!;
    const total = LOG_CHUNK_LINES_MAX * LOG_CHUNKS_IN_FLIGHT_MAX * 3;
    executor.add('t1', Array.from({ length: total }, (_, i) => out(`line ${i}`)));
    s.flowing.value = false;
    const requestId = s.open([target('w1', [{ id: 't1', slot: 1 }])]);
    await s.bench.advance(2_000);
    const inFlight = LOG_CHUNK_LINES_MAX * LOG_CHUNKS_IN_FLIGHT_MAX;
    expect(lineTexts(s.entries)).toHaveLength(inFlight);
    // The node read at most one chunk more than it sent (the one being filled), not the rest.
    expect(executor.yielded).toBeLessThanOrEqual(inFlight + LOG_CHUNK_LINES_MAX);
    expect(s.ended()).toBe(false);
    s.flowing.value = true;
    s.tell(requestId, { type: 'logs.drained' });
    await s.bench.settle(10_000);
    expect(s.ended()).toBe(true);
    expect(lineTexts(s.entries)).toHaveLength(total);
    expect(lineTexts(s.entries).at(-1)).toMatch(new RegExp(`line ${total - 1}$`));
  });

  test('cancel (the client went away): the stream ends and the node stops reading', async () => {
    const s = setup(['w1']);
    const executor = s.executors.get('w1')!;
    executor.add('t1', [out('first')]);
    const requestId = s.open([target('w1', [{ id: 't1', slot: 1 }])], { follow: true });
    await s.bench.advance(500);
    expect(lineTexts(s.entries)).toHaveLength(1);
    s.tell(requestId, { type: 'logs.cancel', requestId });
    await s.bench.advance(100);
    expect(s.ended()).toBe(true);
    // The iteration is returned (a break): it finishes at its next step, and nothing more is sent.
    executor.print('t1', out('after'));
    await s.bench.advance(500);
    expect(executor.finished).toBe(1);
    expect(lineTexts(s.entries)).toHaveLength(1);
    expect(s.executors.get('w1')!.held.get('t1')!.waiters).toHaveLength(0);
  });

  test('a node that sends lines of a task it was not asked for, or out of order, is given up', async () => {
    const s = setup(['w1']);
    s.executors.get('w1')!.add('t1', [out('x')]);
    const rogue = s.bench.system('w2');
    rogue.spawn('logs', { kind: 'rogue', create: () => ({ receive: () => undefined }) });
    s.open([target('w1', [{ id: 't1', slot: 1 }]), target('w2', [{ id: 't2', slot: 2 }])], { follow: true });
    await s.bench.advance(10);
    rogue.send(`m/${LOG_STREAMS_HOME}/r1`, { type: 'logs.chunk', requestId: 'r1', taskId: 't1', seq: 1, lines: [out('forged')] }, 'w2/logs');
    await s.bench.advance(100);
    expect(s.entries.map((e) => e.text)).toContain('incomplete: node name-w2 sent lines of a task it was not asked for (t1)');
    expect(lineTexts(s.entries).some((t) => t.includes('forged'))).toBe(false);
  });

  test('the inbound allowlist: a worker may send only log replies, to a stream open for it, about the tasks asked of it', () => {
    const grants = new Map([['r1', new Map([['w1', new Set(['t1'])]])]]);
    const home = 'm/logstreams';
    const chunk = { type: 'logs.chunk', requestId: 'r1', taskId: 't1', seq: 1, lines: [out('x')] };
    expect(checkLogReply(grants, home, 'm/logstreams/r1', chunk, 'w1')).toBeUndefined();
    expect(checkLogReply(grants, home, 'm/logstreams/r1', { type: 'logs.alive', requestId: 'r1' }, 'w1')).toBeUndefined();
    expect(checkLogReply(grants, home, 'm/logstreams/r1', { type: 'logs.end', requestId: 'r1', taskId: 't1', error: '' }, 'w1')).toBeUndefined();
    // A request id it was not given, another node's request, a task not asked of it.
    expect(checkLogReply(grants, home, 'm/logstreams/r2', { ...chunk, requestId: 'r2' }, 'w1')).toMatch(/not open for node w1/);
    expect(checkLogReply(grants, home, 'm/logstreams/r1', chunk, 'w2')).toMatch(/not open for node w2/);
    expect(checkLogReply(grants, home, 'm/logstreams/r1', { ...chunk, taskId: 't9' }, 'w1')).toMatch(/did not ask node w1 for task t9/);
    // The id in the message must be the stream's.
    expect(checkLogReply(grants, home, 'm/logstreams/r1', { ...chunk, requestId: 'r2' }, 'w1')).toMatch(/sent to the stream of r1/);
    // Other message kinds, other actors, the home itself, deeper paths.
    expect(checkLogReply(grants, home, 'm/logstreams/r1', { type: 'logs.cancel', requestId: 'r1' }, 'w1')).toMatch(/only log replies/);
    expect(checkLogReply(grants, home, 'm/logstreams/r1', { type: 'logstreams.open', requestId: 'r1' }, 'w1')).toMatch(/only log replies/);
    expect(checkLogReply(grants, home, 'm/logstreams', chunk, 'w1')).toMatch(/manager-only/);
    expect(checkLogReply(grants, home, 'm/logstreams/r1/x', chunk, 'w1')).toMatch(/manager-only/);
    // A chunk larger than a chunk may be.
    expect(checkLogReply(grants, home, 'm/logstreams/r1', { ...chunk, lines: Array.from({ length: LOG_CHUNK_LINES_MAX + 1 }, () => out('x')) }, 'w1')).toMatch(/at most/);
  });
});

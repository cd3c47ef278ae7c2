import { assign, setup, type EventObject } from 'xstate';
import { fromMachine, plain, restart, sendMessage, type Behaviour, type Props } from '../../runtime/index.js';
import { Bench } from './harness.js';

// Behaviour.receiveMany (several queued messages in one turn) and fromMachine's `coalesce`.

type Num = { readonly type: 'n'; readonly n: number } | { readonly type: 'boom' };

function batcher(turns: Array<readonly number[]>): Props<Num> {
  return {
    kind: 'batcher',
    create: (): Behaviour<Num> => ({
      receive: (m) => {
        if (m.type === 'boom') throw new Error('boom');
        turns.push([m.n]);
      },
      receiveMany: (ms) => {
        if (ms.some((m) => m.type === 'boom')) throw new Error('boom in a batch');
        turns.push(ms.map((m) => (m.type === 'n' ? m.n : -1)));
      },
    }),
    supervision: restart({ jitter: 0, backoffMinMs: 10 }),
  };
}

describe('receiveMany', () => {
  test('queued messages arrive in one turn, in order, bounded by the per-actor throughput; a lone message goes to receive', async () => {
    const bench = new Bench();
    const system = bench.system('n1', { throughputPerActor: 4 });
    const turns: Array<readonly number[]> = [];
    system.spawn('b', batcher(turns));
    await bench.settle();
    for (let n = 1; n <= 10; n++) system.send('n1/b', { type: 'n', n });
    await bench.settle();
    system.send('n1/b', { type: 'n', n: 11 });
    await bench.settle();
    expect(turns).toEqual([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10], [11]]);
    // Inspection still sees every message delivered, one event each.
    expect(bench.ofType('message.delivered').filter((e) => e.to === 'n1/b').map((e) => (e.message as { n: number }).n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  test('a failure in a batch fails the turn: the actor restarts and takes the messages after the batch', async () => {
    const bench = new Bench();
    const system = bench.system('n1', { throughputPerActor: 3 });
    const turns: Array<readonly number[]> = [];
    system.spawn('b', batcher(turns));
    await bench.settle();
    system.send('n1/b', { type: 'n', n: 1 });
    system.send('n1/b', { type: 'boom' });
    system.send('n1/b', { type: 'n', n: 3 });
    system.send('n1/b', { type: 'n', n: 4 });
    system.send('n1/b', { type: 'n', n: 5 });
    await bench.settle();
    expect(bench.ofType('actor.failed')).toMatchObject([{ address: 'n1/b', error: 'Error: boom in a batch', directive: 'restart' }]);
    expect(turns).toEqual([[4, 5]]);
  });
});

describe('fromMachine with coalesce', () => {
  type Ctx = { total: number; events: number; log: string[] };
  type Ev = { type: 'add'; n: number } | { type: 'addMany'; ns: number[] } | { type: 'mark' } | { type: 'fail' } | { type: 'report'; replyTo: string };
  const counter = setup({
    types: {} as { context: Ctx; events: Ev },
  }).createMachine({
    context: { total: 0, events: 0, log: [] },
    on: {
      add: { actions: assign({ total: ({ context, event }) => context.total + event.n, events: ({ context }) => context.events + 1, log: ({ context, event }) => [...context.log, `add ${event.n}`] }) },
      addMany: { actions: assign({ total: ({ context, event }) => event.ns.reduce((s, n) => s + n, context.total), events: ({ context }) => context.events + 1, log: ({ context, event }) => [...context.log, `addMany ${event.ns.join(',')}`] }) },
      mark: { actions: assign({ log: ({ context }) => [...context.log, 'mark'] }) },
      report: { actions: sendMessage<Ctx, Ev>(({ event }) => (event.type === 'report' ? event.replyTo : ''), ({ context }) => ({ type: 'report', ...context })) },
      fail: {
        actions: () => {
          throw new Error('failed on purpose');
        },
      },
    },
  });

  /** Runs of `add` become one `addMany`; everything else passes as it is. */
  const coalesce = (messages: readonly EventObject[]): EventObject[] => {
    const out: EventObject[] = [];
    let run: number[] = [];
    const flush = (): void => {
      if (run.length === 1) out.push({ type: 'add', n: run[0] } as EventObject);
      if (run.length > 1) out.push({ type: 'addMany', ns: run } as EventObject);
      run = [];
    };
    for (const m of messages) {
      if (m.type === 'add') run.push((m as unknown as { n: number }).n);
      else {
        flush();
        out.push(m);
      }
    }
    flush();
    return out;
  };

  test('a queued run becomes one event, in order with the others; a lone message is sent as it is', async () => {
    const bench = new Bench();
    const system = bench.system('n1', { throughputPerActor: 100 });
    const reports: unknown[] = [];
    system.spawn('probe', plain('probe', (m) => reports.push(m)));
    const address = system.spawn('c', fromMachine({ kind: 'counter', machine: counter, coalesce }));
    await bench.settle();
    for (const n of [1, 2, 3]) system.send(address, { type: 'add', n });
    system.send(address, { type: 'mark' });
    system.send(address, { type: 'add', n: 10 });
    await bench.settle();
    system.send(address, { type: 'add', n: 100 });
    await bench.settle();
    system.send(address, { type: 'report', replyTo: 'n1/probe' });
    await bench.settle();
    expect(reports).toEqual([{ type: 'report', total: 116, events: 3, log: ['addMany 1,2,3', 'mark', 'add 10', 'add 100'] }]);
  });

  test('an error in a merged event stops the batch and reaches the supervisor', async () => {
    const bench = new Bench();
    const system = bench.system('n1', { throughputPerActor: 100 });
    system.spawn('c', fromMachine({ kind: 'counter', machine: counter, coalesce, supervision: restart({ jitter: 0, backoffMinMs: 10 }) }));
    await bench.settle();
    system.send('n1/c', { type: 'add', n: 1 });
    system.send('n1/c', { type: 'fail' });
    system.send('n1/c', { type: 'add', n: 2 });
    await bench.settle();
    expect(bench.ofType('actor.failed')).toMatchObject([{ address: 'n1/c', error: 'Error: failed on purpose', directive: 'restart' }]);
    expect(bench.ofType('actor.restarted')).toHaveLength(1);
  });
});

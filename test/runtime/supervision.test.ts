import { assign, raise, setup } from 'xstate';
import { fromMachine, plain, restart, sendMessage, type Behaviour, type Props } from '../../runtime/index.js';
import { Bench } from './harness.js';

/** An actor that fails on 'boom' and counts the incarnations it was created in. */
function fragile(created: number[], options: Partial<Props> = {}): Props<{ type: string }> {
  return {
    kind: 'fragile',
    create: () => {
      created.push(created.length);
      return { receive: (m) => { if (m.type === 'boom') throw new Error('boom'); } };
    },
    ...options,
  };
}

describe('supervision', () => {
  test('restarts a failed actor after an exponentially growing backoff on the Env clock', async () => {
    const bench = new Bench();
    const system = bench.system();
    const created: number[] = [];
    const addr = system.spawn('f', fragile(created, { supervision: restart({ backoffMinMs: 100, backoffMaxMs: 1000, jitter: 0, restartsMax: 10 }) }));
    const restartTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const failedAt = bench.loop.now();
      system.send(addr, { type: 'boom' });
      await bench.advance(2000);
      const restarted = bench.ofType('actor.restarted').at(-1);
      restartTimes.push((restarted?.at ?? NaN) - failedAt);
    }
    expect(restartTimes).toEqual([100, 200, 400, 800, 1000]);
    expect(created).toHaveLength(6);
    expect(system.info(addr)?.restarts).toBe(5);
  });

  test('keeps messages that arrive during the backoff and handles them after the restart', async () => {
    const bench = new Bench();
    const system = bench.system();
    const handled: string[] = [];
    const addr = system.spawn('f', {
      kind: 'f',
      create: () => ({ receive: (m: { type: string }) => { if (m.type === 'boom') throw new Error('boom'); handled.push(m.type); } }),
      supervision: restart({ jitter: 0 }),
    });
    system.send(addr, { type: 'boom' });
    system.send(addr, { type: 'a' });
    await bench.advance(50);
    system.send(addr, { type: 'b' });
    expect(handled).toEqual([]);
    expect(system.info(addr)?.status).toBe('restarting');
    expect(system.info(addr)?.mailboxDepth).toBe(2);
    await bench.settle();
    expect(handled).toEqual(['a', 'b']);
  });

  test('gives up after restartsMax restarts within the window, and counts afresh after the window', async () => {
    const bench = new Bench();
    const system = bench.system();
    const created: number[] = [];
    const strategy = restart({ restartsMax: 3, windowMs: 10_000, backoffMinMs: 10, backoffMaxMs: 10, jitter: 0 });
    const addr = system.spawn('f', fragile(created, { supervision: strategy }));
    for (let i = 0; i < 3; i++) {
      system.send(addr, { type: 'boom' });
      await bench.advance(100);
    }
    expect(system.has(addr)).toBe(true);
    await bench.advance(20_000);
    // The window has passed: three more restarts are allowed.
    for (let i = 0; i < 3; i++) {
      system.send(addr, { type: 'boom' });
      await bench.advance(100);
    }
    expect(system.has(addr)).toBe(true);
    system.send(addr, { type: 'boom' });
    await bench.settle();
    expect(system.has(addr)).toBe(false);
    expect(created).toHaveLength(7);
    expect(bench.ofType('actor.failed').map((e) => e.directive)).toEqual(['restart', 'restart', 'restart', 'restart', 'restart', 'restart', 'gaveUp']);
    expect(bench.ofType('actor.stopped').at(-1)).toMatchObject({ address: addr, reason: 'gaveUp' });
  });

  test("'stop' stops the failed actor and tells its parent", async () => {
    const bench = new Bench();
    const system = bench.system();
    const told: string[] = [];
    system.spawn('parent', {
      kind: 'parent',
      create: (ctx) => ({
        started: () => { ctx.spawn('child', fragile([], { supervision: { kind: 'stop' } })); },
        receive: () => undefined,
        childStopped: (child, reason) => told.push(`${child} ${reason}`),
      }),
    });
    system.send('n1/parent/child', { type: 'boom' });
    await bench.settle();
    expect(system.has('n1/parent/child')).toBe(false);
    expect(told).toEqual(['n1/parent/child failed']);
  });

  test("'escalate' hands the failure to the parent, whose restart stops and recreates its children", async () => {
    const bench = new Bench();
    const system = bench.system();
    const parentsCreated: number[] = [];
    const childrenCreated: number[] = [];
    system.spawn('parent', {
      kind: 'parent',
      create: (ctx) => {
        parentsCreated.push(parentsCreated.length);
        return {
          started: () => { ctx.spawn('child', fragile(childrenCreated, { supervision: { kind: 'escalate' } })); },
          receive: () => undefined,
        };
      },
      supervision: restart({ jitter: 0, backoffMinMs: 10 }),
    });
    system.send('n1/parent/child', { type: 'boom' });
    await bench.settle();
    expect(parentsCreated).toHaveLength(2);
    expect(childrenCreated).toHaveLength(2);
    const failed = bench.ofType('actor.failed');
    expect(failed.map((e) => [e.address, e.directive])).toEqual([['n1/parent/child', 'escalate'], ['n1/parent', 'restart']]);
    expect(failed[1]?.error).toMatch(/failure of n1\/parent\/child escalated: Error: boom/);
    expect(system.has('n1/parent/child')).toBe(true);
  });

  test('a failure escalated past the top is reported as a root failure', async () => {
    const bench = new Bench();
    const system = bench.system();
    const roots: string[] = [];
    system.onRootFailure((f) => roots.push(f.address));
    system.spawn('top', fragile([], { supervision: { kind: 'escalate' } }));
    system.send('n1/top', { type: 'boom' });
    await bench.settle();
    expect(roots).toEqual(['n1/top']);
    expect(system.has('n1/top')).toBe(false);
  });

  test('a rejected promise from receive is a failure too', async () => {
    const bench = new Bench();
    const system = bench.system();
    const created: number[] = [];
    system.spawn('async', {
      kind: 'async',
      create: () => {
        created.push(1);
        return { receive: async () => { await Promise.resolve(); throw new Error('later'); } } satisfies Behaviour;
      },
      supervision: restart({ restartsMax: 0 }),
    });
    system.send('n1/async', { type: 'x' });
    await bench.settle();
    expect(bench.ofType('actor.failed').map((e) => [e.error, e.directive])).toEqual([['Error: later', 'gaveUp']]);
  });
});

describe('stop', () => {
  test('stops children before their parent, deepest first', async () => {
    const bench = new Bench();
    const system = bench.system();
    const stoppedHooks: string[] = [];
    const node = (name: string, kids: string[]): Props => ({
      kind: name,
      create: (ctx) => ({
        started: () => { for (const k of kids) ctx.spawn(k, node(k, k === 'a' ? ['a1', 'a2'] : [])); },
        receive: () => undefined,
        stopped: () => { stoppedHooks.push(ctx.self); },
      }),
    });
    system.spawn('root', node('root', ['a', 'b']));
    await bench.settle();
    system.stop('n1/root');
    expect(stoppedHooks).toEqual(['n1/root/a/a1', 'n1/root/a/a2', 'n1/root/a', 'n1/root/b', 'n1/root']);
    expect(bench.ofType('actor.stopped').map((e) => [e.address, e.reason])).toEqual([
      ['n1/root/a/a1', 'parentStopped'],
      ['n1/root/a/a2', 'parentStopped'],
      ['n1/root/a', 'parentStopped'],
      ['n1/root/b', 'parentStopped'],
      ['n1/root', 'requested'],
    ]);
    expect(system.actorCount).toBe(0);
  });

  test('an actor that stops itself finishes its current message first', async () => {
    const bench = new Bench();
    const system = bench.system();
    const log: string[] = [];
    system.spawn('once', {
      kind: 'once',
      create: (ctx) => ({
        receive: (m: { type: string }) => { ctx.stop(); log.push(`handled ${m.type}`); },
        stopped: () => { log.push('stopped'); },
      }),
    });
    system.send('n1/once', { type: 'first' });
    system.send('n1/once', { type: 'second' });
    await bench.settle();
    expect(log).toEqual(['handled first', 'stopped']);
    expect(system.deadLetters.byReason.actorStopped).toBe(1);
  });

  test('timers die with their actor', async () => {
    const bench = new Bench();
    const system = bench.system();
    const fired: string[] = [];
    system.spawn('t', plain<{ type: string }>('t', (m, ctx) => {
      if (m.type === 'arm') ctx.setTimer('tick', 100, { type: 'tick' });
      else fired.push(m.type);
    }));
    system.send('n1/t', { type: 'arm' });
    await bench.advance(10);
    system.stop('n1/t');
    await bench.settle();
    expect(fired).toEqual([]);
    expect(bench.clock.pendingTimers()).toBe(0);
  });
});

describe('stop during a restart backoff', () => {
  test('cancels the pending restart', async () => {
    const bench = new Bench();
    const system = bench.system();
    const created: number[] = [];
    const addr = system.spawn('f', fragile(created, { supervision: restart({ backoffMinMs: 1000, jitter: 0 }) }));
    system.send(addr, { type: 'boom' });
    await bench.advance(10);
    expect(system.info(addr)?.status).toBe('restarting');
    system.stop(addr);
    expect(bench.clock.pendingTimers()).toBe(0);
    await bench.settle();
    expect(created).toHaveLength(1);
    expect(bench.ofType('actor.restarted')).toHaveLength(0);
  });
});

describe('xstate actors', () => {
  const light = setup({
    types: {} as { context: { cycles: number }; events: { type: 'next' } | { type: 'explode' } | { type: 'ping'; replyTo: string } },
    actions: {
      explode: () => { throw new Error('exploded in an action'); },
    },
  }).createMachine({
    id: 'light',
    initial: 'green',
    context: { cycles: 0 },
    on: {
      explode: { actions: 'explode' },
      ping: { actions: sendMessage<{ cycles: number }, { type: 'ping'; replyTo: string }>(({ event }) => event.replyTo, ({ context }) => ({ type: 'pong', cycles: context.cycles })) },
    },
    states: {
      green: { on: { next: 'yellow' } },
      yellow: { after: { 1000: { target: 'red' } } },
      red: { on: { next: { target: 'green', actions: assign({ cycles: ({ context }) => context.cycles + 1 }) } } },
    },
  });

  test('runs a machine: delayed transitions fire on the Env clock, sendMessage goes through the runtime', async () => {
    const bench = new Bench();
    const system = bench.system();
    const replies: unknown[] = [];
    system.spawn('probe', plain('probe', (m) => replies.push(m)));
    system.spawn('light', fromMachine({ kind: 'light', machine: light }));
    system.send('n1/light', { type: 'next' });
    await bench.advance(999);
    expect(system.info('n1/light')?.state).toBe('yellow');
    await bench.advance(1);
    expect(system.info('n1/light')?.state).toBe('red');
    system.send('n1/light', { type: 'next' });
    system.send('n1/light', { type: 'ping', replyTo: 'n1/probe' }, 'n1/probe');
    await bench.settle();
    expect(replies).toEqual([{ type: 'pong', cycles: 1 }]);
    expect(bench.ofType('snapshot.changed').map((e) => e.state)).toEqual(['green', 'yellow', 'red', 'green']);
  });

  test('an actor whose action throws enters error and is restarted by its supervisor from its initial state', async () => {
    const bench = new Bench();
    const system = bench.system();
    system.spawn('light', fromMachine({ kind: 'light', machine: light, supervision: restart({ jitter: 0, backoffMinMs: 100 }) }));
    system.send('n1/light', { type: 'next' });
    await bench.settle();
    expect(system.info('n1/light')?.state).toBe('red');
    system.send('n1/light', { type: 'explode' });
    await bench.settle();
    expect(bench.ofType('actor.failed')).toMatchObject([{ address: 'n1/light', error: 'Error: exploded in an action', directive: 'restart' }]);
    expect(bench.ofType('actor.restarted')).toHaveLength(1);
    expect(system.info('n1/light')?.state).toBe('green');
  });

  test('a pending delayed event of a stopped machine never fires', async () => {
    const bench = new Bench();
    const system = bench.system();
    system.spawn('light', fromMachine({ kind: 'light', machine: light }));
    system.send('n1/light', { type: 'next' });
    await bench.advance(10);
    system.stop('n1/light');
    await bench.settle();
    expect(bench.clock.pendingTimers()).toBe(0);
    expect(bench.ofType('snapshot.changed').map((e) => e.state)).toEqual(['green', 'yellow']);
  });

  test('a failure inside a delayed transition reaches the supervisor too; a machine that reaches a final state stops', async () => {
    const bench = new Bench();
    const system = bench.system();
    const machine = setup({ actions: { fail: () => { throw new Error('late failure'); } } }).createMachine({
      id: 'timed',
      initial: 'waiting',
      states: {
        waiting: { after: { 500: { target: 'failing' } }, on: { finish: 'done' } },
        failing: { entry: 'fail' },
        done: { type: 'final' },
      },
    });
    system.spawn('timed', fromMachine({ kind: 'timed', machine, supervision: restart({ restartsMax: 0 }) }));
    await bench.advance(499);
    expect(bench.ofType('actor.failed')).toHaveLength(0);
    await bench.advance(1);
    expect(bench.ofType('actor.failed')).toMatchObject([{ address: 'n1/timed', error: 'Error: late failure', directive: 'gaveUp' }]);
    system.spawn('finisher', fromMachine({ kind: 'timed', machine }));
    system.send('n1/finisher', { type: 'finish' });
    await bench.advance(10);
    expect(system.has('n1/finisher')).toBe(false);
    expect(bench.ofType('actor.stopped').at(-1)).toMatchObject({ address: 'n1/finisher', reason: 'completed' });
  });

  test('refuses a machine with a delayed raise that has no explicit id', () => {
    const unnamed = setup({}).createMachine({ id: 'm', initial: 'a', states: { a: { entry: raise({ type: 'later' }, { delay: 100 }) } } });
    const named = setup({}).createMachine({ id: 'm', initial: 'a', states: { a: { entry: raise({ type: 'later' }, { delay: 100, id: 'later' }) } } });
    expect(() => fromMachine({ kind: 'm', machine: unnamed })).toThrow('machine m: a delayed xstate.raise in state m.a needs an explicit id');
    expect(() => fromMachine({ kind: 'm', machine: named })).not.toThrow();
  });
});

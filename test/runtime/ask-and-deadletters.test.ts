import { AskTimeoutError, plain, type InspectionEvent } from '../../runtime/index.js';
import { Bench } from './harness.js';

type Get = { type: 'get'; replyTo: string };

describe('ask', () => {
  test('resolves with the reply', async () => {
    const bench = new Bench();
    const system = bench.system();
    let count = 41;
    system.spawn('counter', plain<Get>('counter', (m, ctx) => ctx.send(m.replyTo, { type: 'value', value: ++count })));
    const reply = system.ask<{ value: number }>('n1/counter', (replyTo) => ({ type: 'get', replyTo }));
    await bench.settle();
    await expect(reply).resolves.toEqual({ type: 'value', value: 42 });
  });

  test('times out on the Env clock, not the wall clock; a late reply becomes a dead letter', async () => {
    const bench = new Bench();
    const system = bench.system();
    const held: Get[] = [];
    system.spawn('slow', plain<Get | { type: 'release' }>('slow', (m, ctx) => {
      if (m.type === 'get') held.push(m);
      else for (const h of held) ctx.send(h.replyTo, { type: 'late' });
    }));
    let outcome: unknown = 'pending';
    const started = bench.loop.now();
    system.ask('n1/slow', (replyTo) => ({ type: 'get', replyTo }), { timeoutMs: 250 }).then(
      (v) => { outcome = v; },
      (e: unknown) => { outcome = e; },
    );
    await bench.advance(249);
    expect(outcome).toBe('pending');
    await bench.advance(1);
    expect(outcome).toBeInstanceOf(AskTimeoutError);
    expect((outcome as AskTimeoutError).message).toBe('no reply from n1/slow to get within 250 ms');
    expect((outcome as AskTimeoutError).code).toBe('ASK_TIMEOUT');
    expect(bench.loop.now() - started).toBe(250);
    system.send('n1/slow', { type: 'release' });
    await bench.settle();
    expect(system.deadLetters.byReason.lateReply).toBe(1);
  });

  test('an actor can ask another actor on another node', async () => {
    const bench = new Bench();
    const n1 = bench.system('n1');
    const n2 = bench.system('n2');
    n2.spawn('echo', plain<{ replyTo: string; text: string }>('echo', (m, ctx) => ctx.send(m.replyTo, { text: m.text.toUpperCase() })));
    const answers: string[] = [];
    n1.spawn('asker', plain<{ type: 'go' }>('asker', (_m, ctx) => {
      void ctx.ask<{ text: string }>('n2/echo', (replyTo) => ({ replyTo, text: 'hello' })).then((r) => answers.push(r.text));
    }));
    n1.send('n1/asker', { type: 'go' });
    await bench.settle();
    expect(answers).toEqual(['HELLO']);
  });
});

describe('dead letters', () => {
  test('are counted by reason and published on the inspection stream', async () => {
    const bench = new Bench();
    const system = bench.system();
    const seen: InspectionEvent[] = [];
    system.inspect((e) => { if (e.type === 'message.deadLetter') seen.push(e); });
    system.send('n1/nobody', { type: 'hello' });
    const addr = system.spawn('short', plain('short', () => undefined));
    system.send(addr, { type: 'queued-1' });
    system.send(addr, { type: 'queued-2' });
    system.stop(addr);
    system.send(addr, { type: 'after-stop' });
    await bench.settle();
    expect(system.deadLetters.total).toBe(4);
    expect(system.deadLetters.byReason).toEqual({ noSuchActor: 2, actorStopped: 2 });
    expect(seen.map((e) => e.type === 'message.deadLetter' && [(e.message as { type: string }).type, e.reason])).toEqual([
      ['hello', 'noSuchActor'],
      ['queued-1', 'actorStopped'],
      ['queued-2', 'actorStopped'],
      ['after-stop', 'noSuchActor'],
    ]);
  });

  test('keep only the most recent ones, while counting all', () => {
    const bench = new Bench();
    const system = bench.system('n1', { deadLettersKeptMax: 5 });
    for (let i = 0; i < 20; i++) system.send('n1/nobody', { i });
    expect(system.deadLetters.total).toBe(20);
    expect(system.deadLetters.recent.map((d) => (d.message as { i: number }).i)).toEqual([15, 16, 17, 18, 19]);
  });
});

import { ActorSystem, Mailbox, MailboxFullError, plain } from '../../runtime/index.js';
import { Bench } from './harness.js';

describe('Mailbox', () => {
  test('is FIFO across growth and wrap-around', () => {
    const box = new Mailbox(100);
    const out: number[] = [];
    let next = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 7; i++) expect(box.push(next++, 's')).toBe(true);
      for (let i = 0; i < 5; i++) out.push(box.shift() as number);
    }
    while (box.length > 0) out.push(box.shift() as number);
    expect(out).toEqual([...Array(next).keys()]);
  });

  test('refuses a message past depthMax and changes nothing', () => {
    const box = new Mailbox(3);
    expect([box.push('a', undefined), box.push('b', undefined), box.push('c', undefined)]).toEqual([true, true, true]);
    expect(box.push('d', undefined)).toBe(false);
    expect(box.drain().map((e) => e.message)).toEqual(['a', 'b', 'c']);
  });
});

describe('delivery through the system', () => {
  test('an actor sees messages in the order they were sent, with their sender', async () => {
    const bench = new Bench();
    const system = bench.system();
    const seen: Array<[number, string | undefined]> = [];
    const target = system.spawn('target', plain<{ n: number }>('sink', (m, ctx) => seen.push([m.n, ctx.sender])));
    system.spawn('source', plain('source', (_m, ctx) => {
      for (let n = 0; n < 500; n++) ctx.send(target, { type: 'n', n });
    }));
    for (let n = 0; n < 10; n++) system.send(target, { type: 'n', n: -1 - n });
    system.send('n1/source', { type: 'go' });
    await bench.settle();
    expect(seen.slice(0, 10).map(([n]) => n)).toEqual([-1, -2, -3, -4, -5, -6, -7, -8, -9, -10]);
    expect(seen.slice(10).map(([n]) => n)).toEqual([...Array(500).keys()]);
    expect(seen[10]?.[1]).toBe('n1/source');
    expect(seen[0]?.[1]).toBeUndefined();
  });

  test("overflow 'fail': the sender gets MailboxFullError, a dead letter is counted, nothing is queued", async () => {
    const bench = new Bench();
    const system = bench.system();
    const seen: number[] = [];
    const target = system.spawn('t', plain<{ n: number }>('sink', (m) => seen.push(m.n), { mailboxDepthMax: 3 }));
    for (let n = 0; n < 3; n++) system.send(target, { n });
    expect(() => system.send(target, { n: 3 })).toThrow(MailboxFullError);
    expect(() => system.send(target, { n: 4 })).toThrow(/mailbox of n1\/t is full \(3 messages\)/);
    expect(system.deadLetters.byReason.mailboxFull).toBe(2);
    await bench.settle();
    expect(seen).toEqual([0, 1, 2]);
  });

  test("overflow 'dropOldest' keeps the newest, 'dropNewest' keeps the oldest; both count dead letters", async () => {
    const bench = new Bench();
    const system = bench.system();
    const oldest: number[] = [];
    const newest: number[] = [];
    const a = system.spawn('a', plain<{ n: number }>('sink', (m) => newest.push(m.n), { mailboxDepthMax: 2, overflow: 'dropOldest' }));
    const b = system.spawn('b', plain<{ n: number }>('sink', (m) => oldest.push(m.n), { mailboxDepthMax: 2, overflow: 'dropNewest' }));
    for (let n = 0; n < 5; n++) {
      system.send(a, { n });
      system.send(b, { n });
    }
    await bench.settle();
    expect(newest).toEqual([3, 4]);
    expect(oldest).toEqual([0, 1]);
    expect(system.deadLetters.byReason).toEqual({ droppedOldest: 3, droppedNewest: 3 });
    expect(system.deadLetters.recent.filter((d) => d.to === a).map((d) => (d.message as { n: number }).n)).toEqual([0, 1, 2]);
  });

  test('messages cross nodes through the transport as CBOR copies, FIFO per link', async () => {
    const bench = new Bench();
    const n1 = bench.system('n1');
    const n2 = bench.system('n2');
    const received: Array<{ n: number; nested: { list: number[] } }> = [];
    n2.spawn('inbox', plain<{ n: number; nested: { list: number[] } }>('sink', (m) => received.push(m)));
    const sent = [...Array(100).keys()].map((n) => ({ type: 'item', n, nested: { list: [n, n + 1] } }));
    for (const m of sent) n1.send('n2/inbox', m);
    await bench.settle();
    expect(received.map((m) => m.n)).toEqual([...Array(100).keys()]);
    expect(received[5]).toEqual(sent[5]);
    expect(received[5]).not.toBe(sent[5]);
  });

  test('a system without transport listeners still works locally', () => {
    const bench = new Bench();
    const system = new ActorSystem({ nodeId: 'solo', env: bench.env() });
    expect(system.spawn('x', plain('x', () => undefined))).toBe('solo/x');
  });
});

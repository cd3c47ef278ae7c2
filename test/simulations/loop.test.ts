import { SimLoop } from '../../simulations/index.js';

describe('SimLoop ordering', () => {
  it('runs events by virtual time, then by the order they were scheduled', () => {
    const loop = new SimLoop();
    const order: string[] = [];
    loop.schedule(20, () => order.push('b@20'));
    loop.schedule(10, () => order.push('a@10'));
    loop.schedule(20, () => order.push('c@20'));
    loop.schedule(0, () => order.push('z@0'));
    loop.schedule(10, () => order.push('d@10'));
    while (loop.step()) order.push(`now=${loop.now()}`);
    expect(order).toEqual(['z@0', 'now=0', 'a@10', 'now=10', 'd@10', 'now=10', 'b@20', 'now=20', 'c@20', 'now=20']);
    expect(loop.eventsProcessed).toBe(5);
  });

  it('puts an event scheduled from inside an event after those already due at the same instant', () => {
    const loop = new SimLoop();
    const order: string[] = [];
    loop.schedule(5, () => {
      order.push('first');
      loop.schedule(0, () => order.push('nested'));
    });
    loop.schedule(5, () => order.push('second'));
    while (loop.step());
    expect(order).toEqual(['first', 'second', 'nested']);
    expect(loop.now()).toBe(5);
  });

  it('keeps the order of many events with random times (the heap against a sort)', () => {
    const loop = new SimLoop();
    const ran: Array<[number, number]> = [];
    const expected: Array<[number, number]> = [];
    let x = 12345;
    for (let i = 0; i < 2000; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const at = x % 97;
      expected.push([at, i]);
      loop.schedule(at, () => ran.push([loop.now(), i]));
    }
    expected.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    while (loop.step());
    expect(ran).toEqual(expected);
  });

  it('refuses negative and non-finite delays', () => {
    const loop = new SimLoop();
    expect(() => loop.schedule(-1, () => {})).toThrow(RangeError);
    expect(() => loop.schedule(Number.NaN, () => {})).toThrow(RangeError);
    expect(() => loop.schedule(Number.POSITIVE_INFINITY, () => {})).toThrow(RangeError);
  });

  it('step() is false and leaves time alone when nothing is pending', () => {
    const loop = new SimLoop({ startMs: 100 });
    expect(loop.step()).toBe(false);
    expect(loop.now()).toBe(100);
  });
});

describe('SimLoop.cancel', () => {
  it('removes an event and keeps the live count', () => {
    const loop = new SimLoop();
    const ran: number[] = [];
    const a = loop.schedule(1, () => ran.push(1));
    loop.schedule(2, () => ran.push(2));
    const c = loop.schedule(3, () => ran.push(3));
    expect(loop.pending()).toBe(3);
    loop.cancel(a);
    loop.cancel(a);
    loop.cancel(9999);
    expect(loop.pending()).toBe(2);
    expect(loop.nextAtMs()).toBe(2);
    loop.cancel(c);
    while (loop.step());
    expect(ran).toEqual([2]);
    expect(loop.pending()).toBe(0);
    expect(loop.eventsProcessed).toBe(1);
  });

  it('ignores the cancel of an event that already ran', () => {
    const loop = new SimLoop();
    const id = loop.schedule(0, () => {});
    loop.step();
    loop.cancel(id);
    expect(loop.pending()).toBe(0);
  });

  it('keeps order through compaction of many cancelled timers', () => {
    const loop = new SimLoop();
    const ran: number[] = [];
    loop.schedule(50_000, () => ran.push(-1));
    // A timer reset 10,000 times, as a heartbeat timeout would be.
    let id = loop.schedule(10_000, () => ran.push(0));
    for (let i = 1; i <= 10_000; i++) {
      loop.cancel(id);
      id = loop.schedule(10_000 + i, () => ran.push(i));
    }
    expect(loop.pending()).toBe(2);
    while (loop.step());
    expect(ran).toEqual([10_000, -1]);
    expect(loop.now()).toBe(50_000);
  });
});

describe('SimLoop.run', () => {
  it("stops with 'idle' when nothing is left", async () => {
    const loop = new SimLoop();
    loop.schedule(7, () => {});
    loop.schedule(3, () => {});
    await expect(loop.run()).resolves.toEqual({ events: 2, reason: 'idle' });
    expect(loop.now()).toBe(7);
  });

  it("stops with 'time' after the last event due by untilMs, and lets time pass to untilMs", async () => {
    const loop = new SimLoop();
    const ran: number[] = [];
    for (const t of [5, 10, 15]) loop.schedule(t, () => ran.push(t));
    await expect(loop.run({ untilMs: 10 })).resolves.toEqual({ events: 2, reason: 'time' });
    expect(ran).toEqual([5, 10]);
    expect(loop.now()).toBe(10);
    await expect(loop.run({ untilMs: 12 })).resolves.toEqual({ events: 0, reason: 'time' });
    expect(loop.now()).toBe(12);
    await expect(loop.run({ untilMs: 100 })).resolves.toEqual({ events: 1, reason: 'idle' });
    expect(loop.now()).toBe(100);
  });

  it("stops with 'maxEvents' after that many events of this run", async () => {
    const loop = new SimLoop();
    for (let i = 0; i < 10; i++) loop.schedule(i, () => {});
    await expect(loop.run({ maxEvents: 4 })).resolves.toEqual({ events: 4, reason: 'maxEvents' });
    await expect(loop.run({ maxEvents: 4 })).resolves.toEqual({ events: 4, reason: 'maxEvents' });
    expect(loop.eventsProcessed).toBe(8);
    expect(loop.now()).toBe(7);
  });

  it("stops with 'stopped' as soon as stopWhen holds", async () => {
    const loop = new SimLoop();
    let count = 0;
    for (let i = 0; i < 10; i++) loop.schedule(i, () => count++);
    await expect(loop.run({ stopWhen: () => count === 3 })).resolves.toEqual({ events: 3, reason: 'stopped' });
    expect(loop.now()).toBe(2);
  });

  it('propagates an exception thrown by an event', async () => {
    const loop = new SimLoop();
    loop.schedule(1, () => {
      throw new Error('assertion failed in node m1');
    });
    loop.schedule(2, () => {});
    await expect(loop.run()).rejects.toThrow('assertion failed in node m1');
    expect(loop.now()).toBe(1);
    expect(loop.pending()).toBe(1);
  });

  it('refuses a second concurrent run and a step from inside an event', async () => {
    const loop = new SimLoop();
    let inner: unknown;
    loop.schedule(1, () => {
      try {
        loop.step();
      } catch (error) {
        inner = error;
      }
    });
    const first = loop.run();
    await expect(loop.run()).rejects.toThrow('already running');
    await first;
    expect(inner).toBeInstanceOf(Error);
  });
});

describe('SimLoop.run and promise continuations', () => {
  it('runs continuations at the virtual time their promise was resolved', async () => {
    const loop = new SimLoop();
    const seen: string[] = [];
    let resolveWrite!: () => void;
    const write = new Promise<void>((resolve) => {
      resolveWrite = resolve;
    });
    // Several awaits deep, as an async shell around a synchronous core would be.
    const shell = (async () => {
      await write;
      seen.push(`after write at ${loop.now()}`);
      await Promise.resolve();
      await null;
      seen.push(`send at ${loop.now()}`);
      loop.schedule(0, () => seen.push(`delivered at ${loop.now()}`));
    })();
    loop.schedule(10, () => {
      seen.push('write done');
      resolveWrite();
    });
    loop.schedule(20, () => seen.push('timer at 20'));
    await loop.run();
    await shell;
    expect(seen).toEqual(['write done', 'after write at 10', 'send at 10', 'delivered at 10', 'timer at 20']);
  });

  it('flushes continuations of the caller before the first event', async () => {
    const loop = new SimLoop();
    const seen: string[] = [];
    void Promise.resolve().then(() => loop.schedule(0, () => seen.push(`early at ${loop.now()}`)));
    loop.schedule(5, () => seen.push('at 5'));
    await loop.run();
    expect(seen).toEqual(['early at 0', 'at 5']);
  });

  it('lets continuations run during a long burst at one instant', async () => {
    const loop = new SimLoop();
    let ran = 0;
    let ranWhenContinued = -1;
    loop.schedule(0, () => {
      void Promise.resolve().then(() => {
        ranWhenContinued = ran;
      });
    });
    for (let i = 0; i < 5000; i++) loop.schedule(0, () => ran++);
    await loop.run();
    expect(ran).toBe(5000);
    expect(ranWhenContinued).toBeGreaterThanOrEqual(0);
    expect(ranWhenContinued).toBeLessThan(5000);
  });

  it('gives the same run for the same schedule (determinism)', async () => {
    async function once(): Promise<string[]> {
      const loop = new SimLoop();
      const log: string[] = [];
      for (let i = 0; i < 50; i++) {
        loop.schedule(i % 7, () => {
          log.push(`e${i}@${loop.now()}`);
          void Promise.resolve().then(() => {
            log.push(`c${i}@${loop.now()}`);
            if (i % 3 === 0) loop.schedule(i % 5, () => log.push(`n${i}@${loop.now()}`));
          });
        });
      }
      await loop.run();
      return log;
    }
    const a = await once();
    const b = await once();
    expect(a).toEqual(b);
    expect(a.length).toBe(50 + 50 + 17);
  });
});

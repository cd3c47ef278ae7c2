import { plain, type ActorContext } from '../../runtime/index.js';
import { Bench } from './harness.js';

describe('virtual actors (activation on demand)', () => {
  function taskKind(store: Map<string, number>, loads: string[]) {
    return {
      idleMs: 1000,
      activate: (name: string) => ({
        kind: 'task',
        create: (ctx: ActorContext) => {
          // The loader: state is rebuilt from the store, never kept only in the actor.
          loads.push(name);
          let count = store.get(name) ?? 0;
          return {
            receive: (m: { type: 'inc' } | { type: 'get'; replyTo: string }) => {
              if (m.type === 'inc') store.set(name, ++count);
              else ctx.send(m.replyTo, { count });
            },
          };
        },
      }),
    };
  }

  test('a message activates the actor; it is passivated when idle; memory follows active actors', async () => {
    const bench = new Bench();
    const system = bench.system();
    const store = new Map<string, number>();
    const loads: string[] = [];
    system.registerVirtual('task', taskKind(store, loads));
    const before = system.actorCount;
    for (let i = 0; i < 100; i++) system.send(`n1/task/t${i}`, { type: 'inc' });
    await bench.advance(10);
    expect(system.actorCount - before).toBe(100);
    expect(bench.ofType('actor.started').filter((e) => e.activated)).toHaveLength(100);
    // Keep one actor busy: it must not be passivated while others are.
    for (let step = 0; step < 5; step++) {
      system.send('n1/task/t7', { type: 'inc' });
      await bench.advance(400);
    }
    expect(system.actorCount - before).toBe(1);
    expect(system.has('n1/task/t7')).toBe(true);
    await bench.advance(1000);
    expect(system.actorCount - before).toBe(0);
    expect(bench.ofType('actor.stopped').filter((e) => e.reason === 'passivated')).toHaveLength(100);
  });

  test('a reactivated actor has its state rebuilt by the loader', async () => {
    const bench = new Bench();
    const system = bench.system();
    const store = new Map<string, number>();
    const loads: string[] = [];
    system.registerVirtual('task', taskKind(store, loads));
    const replies: unknown[] = [];
    system.spawn('probe', plain('probe', (m) => replies.push(m)));
    system.send('n1/task/a', { type: 'inc' });
    system.send('n1/task/a', { type: 'inc' });
    await bench.advance(5000);
    expect(system.has('n1/task/a')).toBe(false);
    system.send('n1/task/a', { type: 'get', replyTo: 'n1/probe' });
    await bench.advance(10);
    expect(replies).toEqual([{ count: 2 }]);
    expect(loads).toEqual(['a', 'a']);
  });

  test('an address outside any virtual kind is still a dead letter', async () => {
    const bench = new Bench();
    const system = bench.system();
    system.registerVirtual('task', taskKind(new Map(), []));
    system.send('n1/other/x', { type: 'inc' });
    system.send('n1/task/x/deeper', { type: 'inc' });
    expect(system.deadLetters.byReason.noSuchActor).toBe(2);
  });
});

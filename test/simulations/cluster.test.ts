import { InvariantViolation, plain } from '../../runtime/index.js';
import { SimCluster } from '../../simulations/index.js';

describe('SimCluster', () => {
  test('a crash halts the node and cancels its timers; a restart boots a new incarnation on what the disk kept', async () => {
    const boots: string[] = [];
    const ticks: string[] = [];
    const cluster = new SimCluster({
      seed: 'cluster',
      nodeIds: ['a', 'b'],
      network: { delayMsMin: 1, delayMsMax: 1, lossProbability: 0, duplicateProbability: 0, reorder: false },
      disk: { writeLatencyMsMax: 0 },
      boot: async (node) => {
        const store = await node.storage.openKv('state');
        const before = await store.get('boots');
        const count = (before?.[0] ?? 0) + 1;
        await store.batch([{ type: 'put', key: 'boots', value: new Uint8Array([count]) }], { sync: true });
        boots.push(`${node.id}#${node.incarnation} disk says ${count}`);
        node.system.spawn('ticker', plain<{ type: string }>('ticker', (_m, ctx) => {
          ticks.push(`${node.id}@${ctx.env.clock.now()}`);
          ctx.setTimer('tick', 100, { type: 'tick' });
        }));
        node.system.send(`${node.id}/ticker`, { type: 'tick' });
      },
    });
    cluster.startAll();
    await cluster.run(250);
    cluster.crash('a');
    expect(cluster.node('a').up).toBe(false);
    expect(cluster.node('a').system).toBeUndefined();
    await cluster.run(1000);
    expect(ticks.filter((t) => t.startsWith('a@')).length).toBe(3);
    cluster.restart('a');
    await cluster.run(1150);
    expect(cluster.node('a').incarnation).toBe(2);
    expect(ticks.filter((t) => t.startsWith('a@'))).toEqual(['a@0', 'a@100', 'a@200', 'a@1000', 'a@1100']);
    await cluster.finish();
    expect(boots.slice(-1)).toEqual(['a#2 disk says 2']);
    expect(cluster.failure).toBeUndefined();
    expect(cluster.trace.count).toBeGreaterThan(10);
  });

  test('a paused node runs nothing until it resumes; then its overdue timers and the messages that waited run in order', async () => {
    const seen: string[] = [];
    const cluster = new SimCluster({
      seed: 'pause',
      nodeIds: ['a', 'b'],
      network: { delayMsMin: 1, delayMsMax: 1, lossProbability: 0, duplicateProbability: 0, reorder: false },
      disk: { writeLatencyMsMax: 0 },
      boot: ({ system, id }) => {
        system.spawn('log', plain<{ type: string; n?: number }>('log', (m, ctx) => {
          seen.push(`${id}@${ctx.env.clock.now()} ${m.type}${m.n ?? ''}`);
          if (m.type === 'tick') ctx.setTimer('tick', 100, { type: 'tick' });
        }));
        if (id === 'a') system.send('a/log', { type: 'tick' });
      },
    });
    cluster.startAll();
    await cluster.run(150);
    cluster.pause('a', 300);
    for (let n = 1; n <= 3; n++) cluster.node('b').system?.send('a/log', { type: 'msg', n });
    await cluster.run(449);
    expect(seen.filter((s) => s.startsWith('a@')).map((s) => s.split(' ')[0])).toEqual(['a@0', 'a@100']);
    await cluster.run(700);
    expect(seen).toEqual(['a@0 tick', 'a@100 tick', 'a@450 tick', 'a@450 msg1', 'a@450 msg2', 'a@450 msg3', 'a@550 tick', 'a@650 tick']);
    expect(cluster.pauses.count).toBe(1);
    await cluster.finish();
  });

  test('an invariant violation in any actor fails the run', async () => {
    const cluster = new SimCluster({
      seed: 'x',
      nodeIds: ['a'],
      network: { delayMsMin: 0, delayMsMax: 0, lossProbability: 0, duplicateProbability: 0, reorder: false },
      disk: { writeLatencyMsMax: 0 },
      boot: ({ system }) => {
        system.spawn('bad', plain('bad', () => { throw new InvariantViolation('term went backwards'); }));
        system.send('a/bad', { type: 'go' });
      },
    });
    cluster.startAll();
    await cluster.run(1000);
    expect(cluster.failure).toBe('a/bad: InvariantViolation: term went backwards');
    await cluster.finish();
  });
});

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

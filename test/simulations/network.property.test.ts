import fc from 'fast-check';
import { SeededRandom } from '../../runtime/index.js';
import type { Envelope } from '../../runtime/index.js';
import { SimLoop, SimNetwork } from '../../simulations/index.js';
import type { NetworkTraceRecord, SimNetworkOptions } from '../../simulations/index.js';

const nodes = ['n0', 'n1', 'n2', 'n3'];

interface Send {
  from: number;
  to: number;
  /** Virtual time between this send and the previous one. */
  gapMs: number;
}

interface Scenario {
  seed: number;
  nodeCount: number;
  delayMsMin: number;
  delaySpreadMs: number;
  lossProbability: number;
  sends: Send[];
}

function scenarioArb(delay: { minMax: number; spreadMin: number; spreadMax: number }): fc.Arbitrary<Scenario> {
  return fc.record({
    seed: fc.integer(),
    nodeCount: fc.integer({ min: 3, max: 4 }),
    delayMsMin: fc.integer({ min: 0, max: delay.minMax }),
    delaySpreadMs: fc.integer({ min: delay.spreadMin, max: delay.spreadMax }),
    lossProbability: fc.constantFrom(0, 0, 0.1, 0.5),
    sends: fc.array(
      fc.record({ from: fc.nat(3), to: fc.nat(3), gapMs: fc.integer({ min: 0, max: 15 }) }),
      { minLength: 1, maxLength: 60 },
    ),
  });
}

interface Received {
  from: string;
  to: string;
  seq: number;
}

/** Runs the scenario's sends on a fresh network and returns what each node received, in order. */
async function play(scenario: Scenario, extra: Pick<SimNetworkOptions, 'reorder' | 'duplicateProbability'>): Promise<{ sent: Received[]; received: Received[]; network: SimNetwork }> {
  const loop = new SimLoop();
  const network = new SimNetwork(loop, new SeededRandom(scenario.seed), {
    delayMsMin: scenario.delayMsMin,
    delayMsMax: scenario.delayMsMin + scenario.delaySpreadMs,
    lossProbability: scenario.lossProbability,
    ...extra,
  });
  const members = nodes.slice(0, scenario.nodeCount);
  const received: Received[] = [];
  for (const node of members) {
    network.transportFor(node).listen(node, (envelope: Envelope) => {
      const message = envelope.message as { type: string; seq: number };
      received.push({ from: envelope.from, to: envelope.to, seq: message.seq });
    });
  }
  const sent: Received[] = [];
  let atMs = 0;
  scenario.sends.forEach((send, seq) => {
    const from = members[send.from % members.length] as string;
    const to = members[send.to % members.length] as string;
    atMs += send.gapMs;
    sent.push({ from, to, seq });
    loop.schedule(atMs, () => network.transportFor(from).send(from, to, { from, to, message: { type: 'test.ping', seq } }));
  });
  await loop.run();
  return { sent, received, network };
}

const link = (r: Received): string => `${r.from}->${r.to}`;

/** Per link, the received sequence numbers are strictly increasing and were sent on that link. */
function assertFifoPerLink(sent: Received[], received: Received[]): void {
  const sentOn = new Map<number, string>(sent.map((s) => [s.seq, link(s)]));
  const lastSeq = new Map<string, number>();
  for (const r of received) {
    expect(sentOn.get(r.seq)).toBe(link(r));
    const previous = lastSeq.get(link(r)) ?? -1;
    if (r.seq <= previous) throw new Error(`link ${link(r)}: got ${r.seq} after ${previous}`);
    lastSeq.set(link(r), r.seq);
  }
}

const fifoProperty = (reorder: boolean, delay: { minMax: number; spreadMin: number; spreadMax: number }) =>
  fc.asyncProperty(scenarioArb(delay), async (scenario) => {
    const { sent, received } = await play(scenario, { reorder, duplicateProbability: 0 });
    assertFifoPerLink(sent, received);
  });

describe('SimNetwork ordering (property)', () => {
  it('keeps send order per link when reorder is off and nothing is duplicated, with loss', async () => {
    await fc.assert(fifoProperty(false, { minMax: 20, spreadMin: 0, spreadMax: 100 }), { numRuns: 200 });
  });

  it('declares fifoPerLink only when it keeps it', () => {
    const make = (reorder: boolean, duplicateProbability: number): boolean => {
      const options = { delayMsMin: 1, delayMsMax: 5, lossProbability: 0, duplicateProbability, reorder };
      return new SimNetwork(new SimLoop(), new SeededRandom(0), options).transportFor('n0').fifoPerLink;
    };
    expect(make(false, 0)).toBe(true);
    expect(make(true, 0)).toBe(false);
    expect(make(false, 0.1)).toBe(false);
  });

  it('reorders some link when reorder is on with a wide delay range (fast-check finds it)', async () => {
    const result = await fc.check(fifoProperty(true, { minMax: 5, spreadMin: 50, spreadMax: 200 }), { numRuns: 200, seed: 20240601 });
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/got \d+ after \d+/);
  });

  it('delivers some message twice when duplicateProbability > 0, and only ever what was sent', async () => {
    let duplicatesSeen = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb({ minMax: 5, spreadMin: 0, spreadMax: 20 }), async (scenario) => {
        const { sent, received, network } = await play({ ...scenario, lossProbability: 0 }, { reorder: false, duplicateProbability: 0.3 });
        const counts = new Map<number, number>();
        for (const r of received) counts.set(r.seq, (counts.get(r.seq) ?? 0) + 1);
        const stats = network.stats();
        // Without loss every message arrives, once plus once per duplication.
        expect(received.length).toBe(sent.length + stats.duplicated);
        expect(stats.delivered).toBe(received.length);
        for (const count of counts.values()) expect(count).toBeLessThanOrEqual(2);
        duplicatesSeen += [...counts.values()].filter((c) => c === 2).length;
      }),
      { numRuns: 100, seed: 7 },
    );
    expect(duplicatesSeen).toBeGreaterThan(0);
  });
});

describe('SimNetwork faults', () => {
  const options: SimNetworkOptions = { delayMsMin: 1, delayMsMax: 10, lossProbability: 0, duplicateProbability: 0, reorder: false };

  function setup(seed: number, extra: Partial<SimNetworkOptions> = {}) {
    const loop = new SimLoop();
    const trace: NetworkTraceRecord[] = [];
    const network = new SimNetwork(loop, new SeededRandom(seed), { ...options, ...extra, onTrace: (r) => trace.push(r) });
    const got: string[] = [];
    for (const node of ['a', 'b', 'c']) {
      network.transportFor(node).listen(node, (e) => got.push(`${e.from}->${e.to}:${(e.message as { n: number }).n}`));
    }
    const send = (from: string, to: string, n: number): void =>
      network.transportFor(from).send(from, to, { from, to, message: { type: 'test.msg', n } });
    return { loop, network, got, trace, send };
  }

  it('a partition drops both directions, an asymmetric block one, and heal restores delivery', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), async (seed) => {
        const { loop, network, got, send } = setup(seed);
        network.partition(['a'], ['b', 'c']);
        send('a', 'b', 1);
        send('b', 'a', 2);
        send('c', 'a', 3);
        send('b', 'c', 4);
        await loop.run();
        expect(got).toEqual(['b->c:4']);
        expect(network.stats().dropped.partition).toBe(3);

        network.heal();
        network.block('a', 'b');
        send('a', 'b', 5);
        send('b', 'a', 6);
        await loop.run();
        expect(got).toEqual(['b->c:4', 'b->a:6']);

        network.heal();
        send('a', 'b', 7);
        send('b', 'a', 8);
        send('c', 'a', 9);
        await loop.run();
        expect(got.slice(2).sort()).toEqual(['a->b:7', 'b->a:8', 'c->a:9']);
        expect(network.stats().delivered).toBe(5);
      }),
      { numRuns: 50 },
    );
  });

  it('a link with its own delay and loss: slow, lossy, still FIFO; clearLink restores the defaults', async () => {
    const { loop, network, got, send, trace } = setup(3);
    network.setLink('a', 'b', { delayMsMin: 200, delayMsMax: 400 });
    network.setLink('a', 'c', { lossProbability: 1 });
    for (let n = 0; n < 20; n++) send('a', 'b', n);
    send('a', 'c', 100);
    send('b', 'a', 101);
    await loop.run();
    const arrivals = trace.filter((r) => r.kind === 'deliver' && r.from === 'a' && r.to === 'b').map((r) => r.t);
    expect(Math.min(...arrivals)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...arrivals)).toBeLessThanOrEqual(400);
    expect(got.filter((g) => g.startsWith('a->b')).map((g) => Number(g.split(':')[1]))).toEqual([...Array(20).keys()]);
    expect(got).not.toContain('a->c:100');
    expect(got).toContain('b->a:101');
    network.clearLink('a', 'c');
    send('a', 'c', 102);
    await loop.run();
    expect(got).toContain('a->c:102');
    expect(() => network.setLink('a', 'b', { delayMsMin: 5, delayMsMax: 1 })).toThrow(RangeError);
  });

  it('drops at delivery what was in flight when a partition began, and unblock lets it through again', async () => {
    const { loop, network, got, send, trace } = setup(1, { delayMsMin: 10, delayMsMax: 10 });
    send('a', 'b', 1);
    loop.schedule(5, () => network.block('a', 'b'));
    await loop.run();
    expect(got).toEqual([]);
    expect(trace).toEqual([{ t: 10, kind: 'drop', from: 'a', to: 'b', type: 'test.msg', reason: 'partition' }]);
    network.unblock('a', 'b');
    send('a', 'b', 2);
    await loop.run();
    expect(got).toEqual(['a->b:2']);
  });

  it('a down node neither sends nor receives, and a node without a listener drops', async () => {
    const { loop, network, got, send } = setup(2, { delayMsMin: 10, delayMsMax: 10 });
    send('a', 'c', 1);
    network.setNodeUp('c', false);
    send('c', 'a', 2);
    await loop.run();
    network.setNodeUp('c', true);
    send('a', 'c', 3);
    await loop.run();
    expect(got).toEqual([]);
    expect(network.stats().dropped).toEqual({ loss: 0, partition: 0, down: 2, noListener: 1 });
    network.transportFor('c').listen('c', (e) => got.push(`restarted c got ${(e.message as { n: number }).n}`));
    send('a', 'c', 4);
    await loop.run();
    expect(got).toEqual(['restarted c got 4']);
  });

  it('loses messages at the configured rate, and setLossProbability(0) stops it', async () => {
    const { loop, network, got, send } = setup(3, { lossProbability: 0.5 });
    for (let n = 0; n < 200; n++) send('a', 'b', n);
    await loop.run();
    expect(network.stats().dropped.loss).toBeGreaterThan(60);
    expect(network.stats().dropped.loss).toBeLessThan(140);
    expect(got.length + network.stats().dropped.loss).toBe(200);
    network.setLossProbability(0);
    for (let n = 0; n < 50; n++) send('a', 'b', n);
    await loop.run();
    expect(network.stats().dropped.loss + got.length).toBe(250);
  });

  it('gives receivers copies of plain data and refuses what cannot cross a process', async () => {
    const loop = new SimLoop();
    const network = new SimNetwork(loop, new SeededRandom(4), options);
    const received: unknown[] = [];
    network.transportFor('b').listen('b', (e) => received.push(e.message));
    network.transportFor('c').listen('c', (e) => received.push(e.message));
    const message = { type: 'test.data', nested: { list: [1, { x: 'y' }] }, bytes: new Uint8Array([1, 2]) };
    const a = network.transportFor('a');
    a.send('a', 'b', { from: 'a/x', to: 'b/y', message });
    a.send('a', 'c', { from: 'a/x', to: 'c/y', message });
    message.nested.list.push(3);
    await loop.run();
    expect(received).toEqual([
      { type: 'test.data', nested: { list: [1, { x: 'y' }] }, bytes: new Uint8Array([1, 2]) },
      { type: 'test.data', nested: { list: [1, { x: 'y' }] }, bytes: new Uint8Array([1, 2]) },
    ]);
    expect(Object.getPrototypeOf(received[0])).toBe(Object.prototype);
    expect(received[0]).not.toBe(received[1]);

    const sendMessage = (m: unknown) => () => a.send('a', 'b', { from: 'a', to: 'b', message: m });
    expect(sendMessage({ type: 'bad', f: () => 1 })).toThrow(/message\.f is a function/);
    expect(sendMessage({ type: 'bad', m: new Map() })).toThrow(/Map instance/);
    const cycle: Record<string, unknown> = { type: 'bad' };
    cycle.self = cycle;
    expect(sendMessage(cycle)).toThrow(/cycle/);
    expect(() => a.send('b', 'c', { from: 'b', to: 'c', message: {} })).toThrow(/cannot send as b/);
    expect(() => a.listen('b', () => {})).toThrow(/cannot listen as b/);
  });

  it('forgets the listener of a node that goes down', async () => {
    const { loop, network, got, send } = setup(5);
    network.setNodeUp('b', false);
    network.setNodeUp('b', true);
    send('a', 'b', 1);
    await loop.run();
    expect(got).toEqual([]);
    expect(network.stats().dropped.noListener).toBe(1);
    const stop = network.transportFor('b').listen('b', () => {});
    expect(() => network.transportFor('b').listen('b', () => {})).toThrow(/already listens/);
    stop();
    stop();
    network.transportFor('b').listen('b', () => {});
  });

  it('gives the same trace for the same seed, and another for another seed', async () => {
    async function traceOf(seed: number): Promise<string> {
      const { loop, send, trace } = setup(seed, { delayMsMin: 0, delayMsMax: 50, lossProbability: 0.2, duplicateProbability: 0.2, reorder: true });
      for (let n = 0; n < 30; n++) loop.schedule(n, () => send(['a', 'b', 'c'][n % 3] as string, ['b', 'c', 'a'][n % 3] as string, n));
      await loop.run();
      return JSON.stringify(trace);
    }
    expect(await traceOf(11)).toBe(await traceOf(11));
    expect(await traceOf(11)).not.toBe(await traceOf(12));
  });
});

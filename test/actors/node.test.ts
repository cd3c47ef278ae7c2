// The node actor on a real ActorSystem (virtual time) over a real Store, with a writer that
// applies what it is given: liveness by heartbeat deadlines, and the agent's description written
// when a session brings a changed one.
import { HEARTBEAT_GRACE_PERIODS, nodeActor, type NodeActorInput } from '../../actors/index.js';
import { EVENT_VERSIONS, Store, type JournalEvent, type NodeDescription } from '../../journal/index.js';
import type { ActorContext, Props } from '../../runtime/index.js';
import { Bench } from '../runtime/harness.js';

const PERIOD_MS = 1_000;

const description = (memoryGiB: number, labels: Record<string, string> = {}): NodeDescription => ({
  hostname: 'w1', platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 4e9, memoryBytes: memoryGiB * 2 ** 30 }, engineLabels: labels,
});

function writer(store: Store, proposals: JournalEvent[][]): Props {
  return {
    kind: 'test-writer',
    create: (ctx: ActorContext) => ({
      receive: (m: { type: 'writer.propose'; token: string; events: readonly JournalEvent[]; replyTo: string }) => {
        proposals.push([...m.events]);
        const result = store.applyBatch(m.events, store.index + 1);
        ctx.send(m.replyTo, { type: 'writer.done', token: m.token, ok: result.applied, index: result.index, error: null });
      },
    }),
  };
}

function setup() {
  const bench = new Bench();
  const system = bench.system('m1');
  const store = new Store();
  store.applyBatch([{
    type: 'node.registered', v: EVENT_VERSIONS['node.registered'], at: 0, id: 'w1', spec: { annotations: { name: 'w1', labels: {} }, role: 'worker', availability: 'active' },
    description: description(8), status: { state: 'unknown', message: 'joined', addr: '' },
  }], 1);
  const proposals: JournalEvent[][] = [];
  system.spawn('writer', writer(store, proposals));
  system.spawn('node-w1', nodeActor({ nodeId: 'w1', view: () => store, writer: 'm1/writer', heartbeatPeriodMs: () => PERIOD_MS }));
  const send = (m: NodeActorInput): void => system.send('m1/node-w1', m);
  const state = (): string => store.get('node', 'w1')!.status.state;
  return { bench, store, proposals, send, state };
}

describe('node actor', () => {
  test('heartbeats keep a node ready; about three missed periods make it down; a heartbeat brings it back', async () => {
    const { bench, send, state } = setup();
    send({ type: 'node.sessionOpened', sessionId: 's1', description: description(8) });
    await bench.advance(10);
    expect(state()).toBe('ready');
    for (let i = 0; i < 10; i++) {
      await bench.advance(PERIOD_MS);
      send({ type: 'node.heartbeat', sessionId: 's1' } as NodeActorInput);
    }
    await bench.advance(10);
    expect(state()).toBe('ready');
    await bench.advance(PERIOD_MS * HEARTBEAT_GRACE_PERIODS - 100);
    expect(state()).toBe('ready');
    await bench.advance(200);
    expect(state()).toBe('down');
    send({ type: 'node.heartbeat', sessionId: 's1' } as NodeActorInput);
    await bench.advance(10);
    expect(state()).toBe('ready');
  });

  test('a session with a changed description writes it; the same description writes nothing', async () => {
    const { bench, store, proposals, send } = setup();
    send({ type: 'node.sessionOpened', sessionId: 's1', description: description(8) });
    await bench.advance(10);
    expect(proposals.flat().map((e) => e.type)).toEqual(['node.statusChanged']);

    send({ type: 'node.sessionOpened', sessionId: 's2', description: description(16, { gpu: 'true' }) });
    await bench.advance(10);
    expect(proposals.flat().map((e) => e.type)).toEqual(['node.statusChanged', 'node.descriptionChanged']);
    expect(store.get('node', 'w1')!.description).toEqual(description(16, { gpu: 'true' }));
    expect(store.get('node', 'w1')!.status.state).toBe('ready');

    send({ type: 'node.sessionOpened', sessionId: 's3', description: description(16, { gpu: 'true' }) });
    await bench.advance(10);
    expect(proposals).toHaveLength(2);

    // A change during the session (the agent's periodic look) is written the same way.
    send({ type: 'node.described', description: description(32, { gpu: 'true' }) });
    await bench.advance(10);
    expect(proposals.flat().map((e) => e.type)).toEqual(['node.statusChanged', 'node.descriptionChanged', 'node.descriptionChanged']);
    expect(store.get('node', 'w1')!.description.resources.memoryBytes).toBe(32 * 2 ** 30);
  });
});

import { MemoryLogStorage, type Entry } from '../../journal/index.js';
import { raftProps, type ApplyMessage, type ProposeReply, type RaftStatus } from '../../raft/index.js';
import { plain, SeededRandom, type ActorSystem } from '../../runtime/index.js';
import { Bench } from '../runtime/harness.js';

const text = (s: string) => new TextEncoder().encode(s);
const untext = (b: Uint8Array) => new TextDecoder().decode(b);

/** Peers `ids`; the log of each starts with `voters` as its configuration (all of them by default). */
function cluster(ids: string[], voters: string[] = ids) {
  const bench = new Bench();
  const applied = new Map<string, Entry[]>();
  const replies: ProposeReply[] = [];
  const systems = new Map<string, ActorSystem>();
  /** Per peer, the number of entries in each log write. */
  const writes = new Map<string, number[]>();
  for (const id of ids) {
    const storage = MemoryLogStorage.create({ voters });
    const save = storage.save.bind(storage);
    writes.set(id, []);
    storage.save = (write) => {
      writes.get(id)?.push(write.entries.length);
      return save(write);
    };
    const system = bench.system(id);
    systems.set(id, system);
    applied.set(id, []);
    system.spawn('applier', plain<ApplyMessage>('applier', (m) => { applied.get(id)?.push(...m.entries); }));
    system.spawn('client', plain<ProposeReply>('client', (m) => { replies.push(m); }));
    system.spawn('raft', raftProps({
      id,
      storage,
      random: new SeededRandom(`raft/${id}`),
      peerAddress: (peer) => `${peer}/raft/peer`,
      applier: `${id}/applier`,
      tickMs: 100,
    }));
  }
  const data = (id: string) => (applied.get(id) ?? []).filter((e) => e.type === 'normal' && e.data.byteLength > 0).map((e) => untext(e.data));
  return { bench, systems, applied, replies, data, writes };
}

describe('the Raft peer actor', () => {
  test('three peers on three actor systems elect a leader and apply proposals everywhere, in order', async () => {
    const { bench, systems, replies, data } = cluster(['a', 'b', 'c']);
    await bench.advance(5000);
    const leaders = [...systems.keys()].filter((id) => systems.get(id)?.info(`${id}/raft/peer`)?.state !== undefined && JSON.stringify(systems.get(id)?.info(`${id}/raft/peer`)?.state).includes('"role":"leader"'));
    expect(leaders).toHaveLength(1);
    const leader = leaders[0] as string;
    for (let i = 0; i < 20; i++) {
      systems.get('a')?.send('a/raft/peer', { type: 'raft.propose', data: text(`x${i}`), requestId: `r${i}`, replyTo: 'a/client' });
    }
    await bench.advance(2000);
    const expected = [...Array(20).keys()].map((i) => `x${i}`);
    for (const id of ['a', 'b', 'c']) expect(data(id)).toEqual(expected);
    if (leader === 'a') expect(replies.filter((r) => r.type === 'raft.proposed')).toHaveLength(20);
    // The peer's statechart shows its role and its persist cycle.
    const state = systems.get(leader)?.info(`${leader}/raft/peer`)?.state as { role: string; cycle: string };
    expect(state.role).toBe('leader');
    expect(['idle', 'persisting']).toContain(state.cycle);
  });

  test('proposals queued together are taken as one event: one log write, each answered in order', async () => {
    const { bench, systems, replies, data, writes } = cluster(['a', 'b', 'c']);
    systems.get('a')?.send('a/raft/peer', { type: 'raft.campaign' });
    await bench.advance(1000);
    expect(JSON.stringify(systems.get('a')?.info('a/raft/peer')?.state)).toContain('"role":"leader"');
    const before = (writes.get('a') ?? []).length;
    for (let i = 0; i < 50; i++) systems.get('a')?.send('a/raft/peer', { type: 'raft.propose', data: text(`y${i}`), requestId: `q${i}`, replyTo: 'a/client' });
    await bench.advance(1000);
    // Without coalescing the first proposal would start a write of its own and the rest follow in a second.
    expect((writes.get('a') ?? []).slice(before).filter((n) => n > 0)).toEqual([50]);
    const proposed = replies.filter((r) => r.type === 'raft.proposed');
    expect(proposed.map((r) => r.requestId)).toEqual([...Array(50).keys()].map((i) => `q${i}`));
    const first = proposed[0]?.type === 'raft.proposed' ? proposed[0].index : 0;
    expect(proposed.map((r) => (r.type === 'raft.proposed' ? r.index : 0))).toEqual([...Array(50).keys()].map((i) => first + i));
    for (const id of ['a', 'b', 'c']) expect(data(id)).toEqual([...Array(50).keys()].map((i) => `y${i}`));
  });

  test('a peer that is not the leader and knows none refuses a proposal with a typed error', async () => {
    const { bench, systems, replies } = cluster(['a', 'b', 'c']);
    systems.get('a')?.send('a/raft/peer', { type: 'raft.propose', data: text('early'), requestId: 'r0', replyTo: 'a/client' });
    await bench.advance(1);
    expect(replies).toEqual([{ type: 'raft.refused', requestId: 'r0', code: 'NOT_LEADER', message: 'a is not the leader and knows of none', leader: '' }]);
  });

  test("the chart follows the core's role through membership changes: a new peer is removed, then a learner, a follower, and removed again", async () => {
    const { bench, systems, replies } = cluster(['a', 'b', 'c', 'd'], ['a', 'b', 'c']);
    const roleOf = (id: string): string | undefined => (systems.get(id)?.info(`${id}/raft/peer`)?.state as { role?: string } | undefined)?.role;
    let asked = 0;
    const statusOf = async (id: string): Promise<RaftStatus> => {
      let status: RaftStatus | undefined;
      const name = `status${++asked}`;
      systems.get(id)?.spawn(name, plain<{ status: RaftStatus }>(name, (m) => { status = m.status; }));
      systems.get(id)?.send(`${id}/raft/peer`, { type: 'raft.status', replyTo: `${id}/${name}` });
      await bench.advance(1);
      return status!;
    };
    /** d's chart roles, each time it changed. */
    const seen: string[] = [];
    const watch = async (ms: number): Promise<void> => {
      for (let t = 0; t < ms; t += 10) {
        await bench.advance(10);
        const role = roleOf('d');
        if (role !== undefined && role !== seen[seen.length - 1]) seen.push(role);
      }
    };
    systems.get('a')?.send('a/raft/peer', { type: 'raft.campaign' });
    await watch(1000);
    expect(['a', 'b', 'c', 'd'].map(roleOf)).toEqual(['leader', 'follower', 'follower', 'removed']);
    const change = async (type: 'addLearner' | 'promoteLearner' | 'removePeer', requestId: string): Promise<void> => {
      systems.get('a')?.send('a/raft/peer', { type: 'raft.proposeConfChange', change: { type, peer: 'd' }, requestId, replyTo: 'a/client' });
      await watch(1500);
      expect(replies.find((r) => r.requestId === requestId)?.type).toBe('raft.proposed');
    };
    await change('addLearner', 'c1');
    expect(roleOf('d')).toBe('learner');
    expect((await statusOf('d')).learners).toEqual(['d']);
    await change('promoteLearner', 'c2');
    expect(roleOf('d')).toBe('follower');
    expect((await statusOf('d')).voters).toContain('d');
    await change('removePeer', 'c3');
    expect(roleOf('d')).toBe('removed');
    expect(seen).toEqual(['removed', 'learner', 'follower', 'removed']);
    // The others never left their roles; the chart and the core agree on every peer.
    expect(['a', 'b', 'c'].map(roleOf)).toEqual(['leader', 'follower', 'follower']);
    for (const id of ['a', 'b', 'c']) expect((await statusOf(id)).role).toBe(roleOf(id));
  });

  test('a lone voter that campaigns leads within the same event: the chart goes from follower to leader', async () => {
    const { bench, systems } = cluster(['solo']);
    systems.get('solo')?.send('solo/raft/peer', { type: 'raft.campaign' });
    await bench.advance(1);
    expect(systems.get('solo')?.info('solo/raft/peer')?.state).toMatchObject({ role: 'leader' });
  });
});

// The manager actor's writes across a leader change, driven message by message: a stub stands in
// for the Raft peer (it records proposals), the test plays the peer's soft states, refusals and
// applies. A write forwarded to a leader that then changes is proposed again to the new one, and
// is answered once, by the first copy that applies; a refusal of one copy answers nothing. A write
// whose entry reaches this manager inside an installed snapshot is answered from it; one its asker
// gave up on is forgotten.
import { encodeCommand, managerActor, type ClusterCommand, type ManagerInput, type ManagerReply, type ManagerView } from '../../actors/index.js';
import { encodeBatch, type JournalEvent } from '../../journal/index.js';
import { decodeMessage, encodeMessageOwned, plain, type ActorSystem } from '../../runtime/index.js';
import { Bench } from '../runtime/harness.js';

function configCreated(id: string, name: string): JournalEvent {
  return { type: 'config.created', v: 1, at: 0, id, spec: { annotations: { name, labels: {} }, data: new Uint8Array([1, 2, 3]) } };
}

function command(opId: string, id: string, name: string): ClusterCommand {
  return { op: 'events', opId, batch: encodeBatch([configCreated(id, name)]) };
}

class ManagerBench {
  readonly bench = new Bench();
  readonly system: ActorSystem = this.bench.system('m1');
  readonly proposals: Array<{ requestId: string; data: Uint8Array }> = [];
  readonly replies: ManagerReply[] = [];
  /** The snapshots this manager wrote (`log.snapshot` to its log). */
  readonly snapshots: Array<{ index: number; data: Uint8Array }> = [];
  view: ManagerView | undefined;
  private term = 1;
  private index = 0;

  constructor(snapshotIntervalEntries = 10_000) {
    this.system.spawn('peer', plain<{ type: string; requestId?: string; data?: Uint8Array }>('peer', (m) => {
      if (m.type === 'raft.propose') this.proposals.push({ requestId: m.requestId!, data: m.data! });
    }));
    this.system.spawn('client', plain<ManagerReply>('client', (m) => this.replies.push(m)));
    this.system.spawn('log', plain<{ type: string; index?: number; data?: Uint8Array }>('log', (m) => {
      if (m.type === 'log.snapshot') this.snapshots.push({ index: m.index!, data: m.data! });
    }));
    this.system.spawn('manager', managerActor({
      nodeId: 'm1', peer: 'm1/peer', log: 'm1/log',
      snapshotData: new Uint8Array(0), snapshotIndex: 0, snapshotConf: { voters: ['m1', 'm2', 'm3'], learners: [] },
      snapshotIntervalEntries, snapshotTailEntries: 500,
      onApplied: (view) => {
        this.view = view;
      },
    }));
  }

  send(m: ManagerInput): Promise<void> {
    this.system.send('m1/manager', m);
    return this.bench.settle(1_000);
  }

  softState(role: 'follower' | 'leader' | 'preCandidate', leader: string): Promise<void> {
    if (role !== 'follower' || leader !== '') this.term++;
    return this.send({ type: 'raft.softState', peer: 'm1', role, leader, term: this.term });
  }

  write(c: ClusterCommand): Promise<void> {
    return this.send({ type: 'manager.write', command: c, replyTo: 'm1/client' });
  }

  /** The next log entry, committed with these bytes. */
  apply(data: Uint8Array): Promise<void> {
    this.index++;
    return this.send({ type: 'raft.apply', peer: 'm1', snapshot: undefined, entries: [{ index: this.index, term: this.term, type: 'normal', data }], readStates: [] });
  }

  /** The entries up to `index` arrive as a snapshot (a leader's, from another manager). */
  installSnapshot(snapshot: { index: number; data: Uint8Array }): Promise<void> {
    this.index = snapshot.index;
    const meta = { index: snapshot.index, term: this.term, confState: { voters: ['m1', 'm2', 'm3'], learners: [] } };
    return this.send({ type: 'raft.apply', peer: 'm1', snapshot: { meta, data: snapshot.data }, entries: [], readStates: [] });
  }

  configsNamed(name: string): number {
    return this.view!.store.list('config').filter((c) => c.spec.annotations.name === name).length;
  }
}

describe('manager writes across a leader change', () => {
  test('a write forwarded to a leader that is replaced is proposed again, answered once by the first copy applied, and applies once; a refused copy answers nothing', async () => {
    const m = new ManagerBench();
    await m.softState('follower', 'm2');
    const c = command('op-1', 'c1', 'one');
    await m.write(c);
    expect(m.proposals.map((p) => p.requestId)).toEqual(['op-1']);

    // m2 dies; an election (no leader), then m3 leads: the write goes again, same bytes, same id.
    await m.softState('preCandidate', '');
    expect(m.proposals).toHaveLength(1);
    await m.softState('follower', 'm3');
    expect(m.proposals.map((p) => p.requestId)).toEqual(['op-1', 'op-1']);
    expect(Buffer.from(m.proposals[1]!.data).equals(Buffer.from(encodeCommand(c)))).toBe(true);

    // One copy is refused (say the first, arriving at a node without a leader): no answer from it.
    await m.send({ type: 'raft.refused', requestId: 'op-1', code: 'NO_LEADER', message: 'no leader', leader: '' });
    expect(m.replies).toEqual([]);

    // The old leader had replicated its copy after all: both commit. The first answers, the second is skipped.
    await m.apply(encodeCommand(c));
    await m.apply(encodeCommand(c));
    expect(m.replies).toEqual([{ type: 'manager.applied', opId: 'op-1', index: 1, refused: null }]);
    expect(m.configsNamed('one')).toBe(1);
    expect(m.view!.appliedIndex).toBe(2);

    // A later leader change proposes nothing more: the write is done.
    await m.softState('follower', 'm2');
    expect(m.proposals).toHaveLength(2);
  });

  test('a write proposed while this manager leads is not proposed again: a lost slot still fails it (ENTRY_LOST), since no other copy exists', async () => {
    const m = new ManagerBench();
    await m.softState('leader', 'm1');
    const c = command('op-2', 'c2', 'two');
    await m.write(c);
    await m.send({ type: 'raft.proposed', requestId: 'op-2', index: 1, term: 2 });
    // Another leader takes over and writes its own entry into slot 1.
    await m.softState('follower', 'm2');
    expect(m.proposals.map((p) => p.requestId)).toEqual(['op-2']);
    await m.apply(new Uint8Array(0));
    expect(m.replies).toEqual([{ type: 'manager.failed', opId: 'op-2', code: 'ENTRY_LOST', message: expect.any(String) as string, leader: '' }]);
    expect(m.configsNamed('two')).toBe(0);
  });

  test('a forwarded write whose first copy is refused at once (no leader known) fails as before: nothing else was proposed', async () => {
    const m = new ManagerBench();
    await m.softState('follower', 'm2');
    await m.write(command('op-3', 'c3', 'three'));
    await m.send({ type: 'raft.refused', requestId: 'op-3', code: 'NO_LEADER', message: 'no leader', leader: '' });
    expect(m.replies).toEqual([{ type: 'manager.failed', opId: 'op-3', code: 'NO_LEADER', message: 'no leader', leader: '' }]);
    await m.softState('follower', 'm3');
    expect(m.proposals).toHaveLength(1);
  });
});

describe('manager writes settled by a snapshot, or forgotten', () => {
  test('a write that applied inside an installed snapshot is answered from it (with the store\'s refusal if it had one); one the snapshot does not hold still waits', async () => {
    // The leader's manager: it applies three entries and snapshots at the third.
    const leader = new ManagerBench(3);
    const ok = command('op-ok', 'c1', 'one');
    const clash = command('op-clash', 'c1', 'one again'); // the same config id: the store refuses it
    await leader.apply(encodeCommand(ok));
    await leader.apply(encodeCommand(clash));
    await leader.apply(encodeCommand(command('op-other', 'c2', 'two')));
    expect(leader.snapshots.map((s) => s.index)).toEqual([3]);

    // A follower forwarded both, and a third the leader never got; it then falls behind and gets the snapshot.
    const m = new ManagerBench();
    await m.softState('follower', 'm2');
    await m.write(ok);
    await m.write(clash);
    await m.write(command('op-later', 'c3', 'three'));
    await m.installSnapshot(leader.snapshots[0]!);
    const byId = new Map(m.replies.map((r) => [r.opId, r]));
    expect(byId.get('op-ok')).toEqual({ type: 'manager.applied', opId: 'op-ok', index: 3, refused: null });
    expect(byId.get('op-clash')).toEqual({ type: 'manager.applied', opId: 'op-clash', index: 3, refused: { code: expect.any(String) as string, message: expect.stringContaining('c1') as string } });
    expect(m.replies).toHaveLength(2);
    expect(m.configsNamed('one')).toBe(1);
    expect(m.view!.appliedIndex).toBe(3);

    // The third still goes to the next leader, and its apply answers it.
    await m.softState('follower', 'm3');
    expect(m.proposals.filter((p) => p.requestId === 'op-later')).toHaveLength(2);
    await m.apply(encodeCommand(command('op-later', 'c3', 'three')));
    expect(m.replies[2]).toEqual({ type: 'manager.applied', opId: 'op-later', index: 4, refused: null });
  });

  test('a snapshot written before refusals were kept answers no write (it cannot tell a refused one): the asker\'s timeout does', async () => {
    const leader = new ManagerBench(2);
    const c = command('op-old', 'c1', 'one');
    await leader.apply(encodeCommand(c));
    await leader.apply(encodeCommand(command('op-x', 'c2', 'two')));
    // The same snapshot as an older manager wrote it: no `refused` field.
    const { refused, ...older } = decodeMessage(leader.snapshots[0]!.data) as Record<string, unknown>;
    expect(refused).toEqual([]);
    const m = new ManagerBench();
    await m.softState('follower', 'm2');
    await m.write(c);
    await m.installSnapshot({ index: 2, data: encodeMessageOwned(older) });
    expect(m.replies).toEqual([]);
    expect(m.configsNamed('one')).toBe(1);
  });

  test('a write proposed here as leader whose slot a snapshot covers without its id failed as ENTRY_LOST', async () => {
    const other = new ManagerBench(2);
    await other.apply(encodeCommand(command('op-a', 'a', 'a')));
    await other.apply(encodeCommand(command('op-b', 'b', 'b')));
    const m = new ManagerBench();
    await m.softState('leader', 'm1');
    await m.write(command('op-mine', 'c9', 'mine'));
    await m.send({ type: 'raft.proposed', requestId: 'op-mine', index: 2, term: 2 });
    await m.softState('follower', 'm2');
    await m.installSnapshot(other.snapshots[0]!);
    expect(m.replies).toEqual([{ type: 'manager.failed', opId: 'op-mine', code: 'ENTRY_LOST', message: expect.any(String) as string, leader: '' }]);
    expect(m.configsNamed('mine')).toBe(0);
  });

  test('a forgotten write (its asker timed out) is not proposed again and its apply answers no one', async () => {
    const m = new ManagerBench();
    await m.softState('follower', 'm2');
    const c = command('op-f', 'cf', 'forgotten');
    await m.write(c);
    await m.send({ type: 'manager.forget', opId: 'op-f' });
    await m.softState('follower', 'm3');
    expect(m.proposals).toHaveLength(1);
    await m.apply(encodeCommand(c));
    expect(m.replies).toEqual([]);
    expect(m.configsNamed('forgotten')).toBe(1);
  });
});

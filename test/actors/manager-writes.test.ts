// The manager actor's writes across a leader change, driven message by message: a stub stands in
// for the Raft peer (it records proposals), the test plays the peer's soft states, refusals and
// applies. A write forwarded to a leader that then changes is proposed again to the new one, and
// is answered once, by the first copy that applies; a refusal of one copy answers nothing.
import { encodeCommand, managerActor, type ClusterCommand, type ManagerInput, type ManagerReply, type ManagerView } from '../../actors/index.js';
import { encodeBatch, type JournalEvent } from '../../journal/index.js';
import { plain, type ActorSystem } from '../../runtime/index.js';
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
  view: ManagerView | undefined;
  private term = 1;
  private index = 0;

  constructor() {
    this.system.spawn('peer', plain<{ type: string; requestId?: string; data?: Uint8Array }>('peer', (m) => {
      if (m.type === 'raft.propose') this.proposals.push({ requestId: m.requestId!, data: m.data! });
    }));
    this.system.spawn('client', plain<ManagerReply>('client', (m) => this.replies.push(m)));
    this.system.spawn('manager', managerActor({
      nodeId: 'm1', peer: 'm1/peer', log: 'm1/log',
      snapshotData: new Uint8Array(0), snapshotIndex: 0, snapshotConf: { voters: ['m1', 'm2', 'm3'], learners: [] },
      snapshotIntervalEntries: 10_000, snapshotTailEntries: 500,
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

import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { History, LiveSource, TraceFileSource, messageLabel, type TraceRecord } from '../../cli/index.js';

const records: TraceRecord[] = [
  { kind: 'options', options: { nodes: 2 } },
  { t: 0, node: 'm1', kind: 'actor.started', address: 'm1/raft', actorKind: 'raft', incarnation: 0, activated: false },
  { t: 0, node: 'm1', kind: 'actor.started', address: 'm1/raft/peer', actorKind: 'raft-peer', incarnation: 0, activated: false },
  { t: 1, node: 'm1', kind: 'snapshot.changed', address: 'm1/raft/peer', state: { role: 'follower' } },
  { t: 2, node: 'm2', kind: 'actor.started', address: 'm2/raft/peer', actorKind: 'raft-peer', incarnation: 0, activated: false },
  { t: 5, node: 'm1', kind: 'message.delivered', from: 'm2/raft/peer', to: 'm1/raft/peer', message: { type: 'raft.message', message: { type: 'vote', term: 2 } }, depth: 3 },
  { t: 5, node: 'm1', kind: 'snapshot.changed', address: 'm1/raft/peer', state: { role: 'candidate' } },
  { t: 6, kind: 'deliver', from: 'm1', to: 'm2', type: 'raft.message' },
  { t: 7, node: 'm1', kind: 'actor.failed', address: 'm1/raft', error: 'Error: boom', directive: 'restart' },
  { t: 7, node: 'm1', kind: 'actor.stopped', address: 'm1/raft', reason: 'restarting' },
  { t: 8, node: 'm1', kind: 'actor.restarted', address: 'm1/raft', incarnation: 1, restartsInWindow: 1 },
  { t: 9, node: 'm1', kind: 'message.deadLetter', from: null, to: 'm1/gone', type: 'ping', reason: 'noSuchActor' },
  { t: 10, node: 'm2', kind: 'node.crashed' },
  { t: 11, node: 'm1', kind: 'snapshot.changed', address: 'm1/raft/peer', state: { role: 'leader' } },
];

function history(): History {
  const h = new History();
  for (const r of records) h.add(r);
  return h;
}

describe('History', () => {
  test('the actors at a moment: lifecycle, state, mailbox depth and restarts as they were then', () => {
    const h = history();
    expect(h.count).toBe(records.length);
    expect(h.actorsAt(1).map((a) => a.address)).toEqual(['m1/raft']);
    expect(h.actorAt('m1/raft/peer', 3)).toMatchObject({ kind: 'raft-peer', status: 'running', state: { role: 'follower' }, depth: 0, restarts: 0 });
    expect(h.actorAt('m1/raft/peer', 6)).toMatchObject({ state: { role: 'candidate' }, depth: 3 });
    expect(h.actorAt('m1/raft/peer', 13)).toMatchObject({ state: { role: 'leader' } });
    expect(h.actorAt('m1/raft', 8)).toMatchObject({ status: 'restarting', reason: 'Error: boom' });
    expect(h.actorAt('m1/raft', 9)).toMatchObject({ status: 'restarting', reason: 'restarting' });
    expect(h.actorAt('m1/raft', 10)).toMatchObject({ status: 'running', restarts: 1 });
    // A crashed node's actors are dead from the crash on, and were alive before it.
    expect(h.actorAt('m2/raft/peer', 11)?.status).toBe('running');
    expect(h.actorAt('m2/raft/peer', 12)).toMatchObject({ status: 'stopped', reason: 'node crashed' });
    expect(h.nodesAt(12)).toEqual([{ id: 'm1', status: 'up' }, { id: 'm2', status: 'crashed' }]);
  });

  test('state changes carry the message taken in their turn (none for a timer\'s), and can be stepped through', () => {
    const h = history();
    expect(h.stateChanges('m1/raft/peer', 13, 5)).toEqual([
      { seq: 3, t: 1, from: undefined, to: { role: 'follower' }, trigger: undefined },
      { seq: 6, t: 5, from: { role: 'follower' }, to: { role: 'candidate' }, trigger: 'raft.message:vote' },
      { seq: 13, t: 11, from: { role: 'candidate' }, to: { role: 'leader' }, trigger: undefined },
    ]);
    expect(h.stateChanges('m1/raft/peer', 5, 1)).toEqual([{ seq: 3, t: 1, from: undefined, to: { role: 'follower' }, trigger: undefined }]);
    expect(h.stateChangeNear('m1/raft/peer', 6, -1)).toBe(3);
    expect(h.stateChangeNear('m1/raft/peer', 6, 1)).toBe(13);
    expect(h.stateChangeNear('m1/raft/peer', 13, 1)).toBeUndefined();
  });

  test('the timeline: messages up to a moment, filtered by node, actor and type', () => {
    const h = history();
    const all = h.messages({ at: 13, limit: 10 });
    expect(all.matched).toBe(3);
    expect(all.rows.map((r) => [r.seq, r.kind, r.from, r.to, r.type])).toEqual([
      [5, 'delivered', 'm2/raft/peer', 'm1/raft/peer', 'raft.message:vote'],
      [7, 'deliver', 'm1', 'm2', 'raft.message'],
      [11, 'deadLetter', null, 'm1/gone', 'ping (noSuchActor)'],
    ]);
    expect(h.messages({ at: 6, limit: 10 }).matched).toBe(1);
    expect(h.messages({ at: 13, limit: 10, type: 'VOTE' }).rows.map((r) => r.seq)).toEqual([5]);
    expect(h.messages({ at: 13, limit: 10, node: 'm2' }).rows.map((r) => r.seq)).toEqual([5, 7]);
    expect(h.messages({ at: 13, limit: 10, actor: 'm1/gone' }).rows.map((r) => r.seq)).toEqual([11]);
    expect(h.messages({ at: 13, limit: 10, actor: 'nobody' }).matched).toBe(0);
    // An actor takes the actors below it; a node id takes its network records too.
    expect(h.messages({ at: 13, limit: 10, actor: 'm1/raft' }).rows.map((r) => r.seq)).toEqual([5]);
    expect(h.messages({ at: 13, limit: 10, actor: 'm1' }).rows.map((r) => r.seq)).toEqual([5, 7, 11]);
    expect(h.messages({ at: 13, limit: 10, actor: 'm1/ra' }).matched).toBe(0);
    // The limit keeps the latest.
    expect(h.messages({ at: 13, limit: 1 })).toMatchObject({ matched: 3, rows: [{ seq: 11 }] });
    expect(h.messageTypes()).toEqual(['ping (noSuchActor)', 'raft.message', 'raft.message:vote']);
  });

  test('a live tree record seeds the actors that existed before the stream began', () => {
    const h = new History();
    h.add({
      kind: 'tree', t: 100, node: 'w1', actors: [
        { address: 'w1/agent', kind: 'agent', status: 'running', mailboxDepth: 2, restarts: 1, state: undefined, children: [
          { address: 'w1/agent/runner-1', kind: 'taskRunner', status: 'restarting', mailboxDepth: 0, restarts: 3, state: 'running', children: [] },
        ] },
      ],
    });
    h.add({ kind: 'dropped', t: 101, node: 'w1', count: 7 });
    expect(h.actorsAt(1)).toEqual([
      { address: 'w1/agent', node: 'w1', kind: 'agent', status: 'running', state: undefined, depth: 2, restarts: 1 },
      { address: 'w1/agent/runner-1', node: 'w1', kind: 'taskRunner', status: 'restarting', state: 'running', depth: 0, restarts: 3 },
    ]);
    expect(h.dropped).toBe(7);
  });

  test('a source describes its machines (machine records) and its checker\'s findings (violation records)', () => {
    const h = new History();
    const chart = { machineId: 'peer', root: { id: '', key: 'peer', type: 'compound', children: [] }, transitions: [] };
    h.add({ t: 0, node: 'm1', kind: 'machine', actorKind: 'raft-peer', chart });
    h.add({ t: 4, kind: 'violation', message: 'two leaders in term 3' });
    expect(h.charts.get('raft-peer')).toEqual(chart);
    expect(h.violations).toEqual([{ seq: 1, t: 4, message: 'two leaders in term 3' }]);
  });

  test('message labels show a wrapped message\'s own type', () => {
    expect(messageLabel({ type: 'raft.message', message: { type: 'appendEntries' } })).toBe('raft.message:appendEntries');
    expect(messageLabel({ type: 'tick' })).toBe('tick');
    expect(messageLabel('x')).toBe('string');
  });
});

describe('trace files', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swarm-viz-history-'));
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  const lines = records.map((r) => JSON.stringify(r));

  test('a whole trace is indexed, and each record is read back from the file by its number', async () => {
    const source = new TraceFileSource(write('ok.jsonl', `${lines.join('\n')}\n`));
    await source.whenLoaded();
    expect(source.status()).toMatchObject({ loaded: true, error: undefined });
    expect(source.history.count).toBe(records.length);
    expect(source.record(5)).toEqual(records[5]);
    expect(source.record(records.length - 1)).toEqual(records[records.length - 1]);
    expect(source.record(records.length)).toBeUndefined();
    source.close();
  });

  test('lines cut across read blocks are read whole, at every block size', async () => {
    const file = write('blocks.jsonl', `${lines.join('\n')}\n`);
    for (const blockBytes of [7, 64, 100, 333]) {
      const source = new TraceFileSource(file, blockBytes);
      await source.whenLoaded();
      expect(source.status().error).toBeUndefined();
      expect(source.history.count).toBe(records.length);
      for (let i = 0; i < records.length; i++) expect(source.record(i)).toEqual(records[i]);
      source.close();
    }
  });

  test('a truncated trace keeps the records before the cut and says where it was cut', async () => {
    const text = `${lines.slice(0, 6).join('\n')}\n${lines[6]!.slice(0, 20)}`;
    const source = new TraceFileSource(write('cut.jsonl', text));
    await source.whenLoaded();
    expect(source.history.count).toBe(6);
    expect(source.status().error).toMatch(/cut\.jsonl line 7: not JSON .*the file ends in the middle of a record \(was the trace cut short\?\); showing the 6 records before it/);
    source.close();
  });

  test('a malformed line names its line; a non-record and an empty file are refused with what is wrong', async () => {
    const bad = new TraceFileSource(write('bad.jsonl', `${lines[0]}\n${lines[1]}\nhello there\n${lines[2]}\n`));
    await bad.whenLoaded();
    expect(bad.history.count).toBe(2);
    expect(bad.status().error).toMatch(/bad\.jsonl line 3: not JSON/);
    const other = new TraceFileSource(write('other.jsonl', '{"name":"not a trace"}\n'));
    await other.whenLoaded();
    expect(other.status().error).toMatch(/other\.jsonl line 1: not a trace record \(no "kind" field\)/);
    const empty = new TraceFileSource(write('empty.jsonl', ''));
    await empty.whenLoaded();
    expect(empty.status().error).toMatch(/empty\.jsonl: the trace is empty/);
    expect(() => new TraceFileSource(path.join(dir, 'missing.jsonl'))).toThrow(/ENOENT/);
    for (const s of [bad, other, empty]) s.close();
  });

  test('a live source holds only its latest records in full', () => {
    const live = new LiveSource('live', 4);
    live.push(records.slice(0, 10));
    expect(live.history.count).toBe(10);
    expect(live.record(9)).toEqual(records[9]);
    expect(live.record(6)).toEqual(records[6]);
    expect(live.record(5)).toBeUndefined();
  });
});

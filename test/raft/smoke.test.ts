import { RaftNetwork, text } from './network.js';

describe('raft core, first contact', () => {
  test('three peers elect a leader and replicate proposals to every peer', () => {
    const net = new RaftNetwork(['1', '2', '3']);
    net.elect('1');
    expect(net.core('1').role).toBe('leader');
    expect(net.core('2').lead).toBe('1');
    net.core('1').propose(text('a'));
    net.core('1').propose(text('b'));
    net.stabilize();
    net.heartbeat();
    for (const id of ['1', '2', '3']) expect(net.appliedData(id)).toEqual(['a', 'b']);
    expect(net.core('2').status().commit).toBe(3);
  });

  test('a follower forwards proposals; an election follows a silent leader', () => {
    const net = new RaftNetwork(['1', '2', '3']);
    net.elect('1');
    net.core('2').propose(text('via-2'));
    net.stabilize();
    expect(net.appliedData('2')).toEqual(['via-2']);
    net.heartbeat();
    expect(net.appliedData('3')).toEqual(['via-2']);
    net.isolate('1');
    for (let i = 0; i < 40 && net.leader() === '1'; i++) {
      net.tickAll(1);
      net.stabilize();
    }
    const leaders = ['2', '3'].filter((id) => net.core(id).role === 'leader');
    expect(leaders).toHaveLength(1);
    // CheckQuorum: the isolated old leader steps down within an election timeout.
    for (let i = 0; i < 10; i++) net.tick('1');
    expect(net.core('1').role).toBe('follower');
  });
});

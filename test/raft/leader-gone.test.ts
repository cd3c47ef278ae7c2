// RaftCore.leaderGone: the transport's hint that the leader's process is gone (its address refuses
// connections). Followers that get it elect a new leader within a few ticks instead of an
// election timeout; a wrong hint (the leader is alive) disrupts nothing.
import { DEFAULT_RAFT_CONFIG } from '../../raft/index.js';
import { RaftNetwork } from './network.js';

const T = DEFAULT_RAFT_CONFIG.electionTicks;
const enc = new TextEncoder();

/** A three-peer cluster led by '1', with one committed entry, then '1' killed. */
function killedLeader(seed: string): RaftNetwork {
  const net = new RaftNetwork(['1', '2', '3'], {}, seed);
  net.elect('1');
  net.core('1').propose(enc.encode('a'));
  net.stabilize();
  net.heartbeat('1');
  expect(net.appliedData('2')).toEqual(['a']);
  net.remove('1');
  return net;
}

/** Led by '1', whose last entry reached '2' only (committed by '1' and '2'); then '1' killed. */
function longerLogAt2(seed: string): RaftNetwork {
  const net = new RaftNetwork(['1', '2', '3'], {}, seed);
  net.elect('1');
  net.heartbeat('1');
  net.cutLink('1', '3');
  net.core('1').propose(enc.encode('c'));
  net.stabilize();
  expect(net.core('2').log.lastIndex()).toBeGreaterThan(net.core('3').log.lastIndex());
  net.remove('1');
  net.heal();
  return net;
}

describe('RaftCore.leaderGone', () => {
  test('both followers told at once that the leader is gone elect the lower id without a tick (no split vote); without the hint nobody campaigns before an election timeout', () => {
    for (const seed of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) {
      const hinted = killedLeader(seed);
      const term = hinted.core('2').term;
      // Both hear of it before either's pre-vote arrives: both pre-candidates, each grants the
      // other's pre-vote, and '3' stands back for the lower id: no split vote, no tick.
      expect(hinted.core('2').leaderGone('1')).toBe(true);
      expect(hinted.core('3').leaderGone('1')).toBe(true);
      hinted.stabilize();
      expect(hinted.leader()).toBe('2');
      const leader = '2';
      expect(hinted.core(leader).term).toBeGreaterThan(term);
      // The new leader commits: nothing acknowledged was lost.
      hinted.core(leader).propose(enc.encode('b'));
      hinted.stabilize();
      hinted.heartbeat(leader);
      expect(hinted.appliedData('2')).toEqual(['a', 'b']);
      expect(hinted.appliedData('3')).toEqual(['a', 'b']);
      // The other follows the new leader with the usual election timeout again: silence shorter
      // than an election timeout does not make it campaign.
      const other = leader === '2' ? '3' : '2';
      expect(hinted.core(other).role).toBe('follower');
      expect(hinted.core(other).lead).toBe(leader);
      hinted.cutLink(leader, other);
      hinted.tick(other, T - 1);
      hinted.stabilize();
      expect(hinted.core(other).role).toBe('follower');
      expect(hinted.core(leader).term).toBe(hinted.core(other).term);
      hinted.heal();

      const unhinted = killedLeader(seed);
      unhinted.tickAll(T - 1);
      unhinted.stabilize();
      expect(unhinted.leader()).toBeUndefined();
      expect(unhinted.core('2').role).toBe('follower');
      expect(unhinted.core('3').role).toBe('follower');
    }
  });

  test('the follower with the longer log hears first while the other holds its lease: ignored, it asks again as soon as the other, told too, asks it, and wins without a tick', () => {
    const net = longerLogAt2('order');

    expect(net.core('2').leaderGone('1')).toBe(true);
    net.stabilize();
    // '3' heard from its leader within the election timeout: it ignores the pre-vote.
    expect(net.core('2').role).toBe('preCandidate');
    expect(net.core('3').role).toBe('follower');
    expect(net.core('3').lead).toBe('1');
    const term = net.core('2').term;

    // '3' hears too and campaigns; '2' refuses it (its own log is longer) and asks again at once,
    // which '3', no longer following anyone, grants: no tick passes.
    expect(net.core('3').leaderGone('1')).toBe(true);
    net.stabilize();
    expect(net.leader()).toBe('2');
    expect(net.core('2').term).toBe(term + 1);
    net.heartbeat('2');
    expect(net.core('3').lead).toBe('2');
    expect(net.core('3').log.lastIndex()).toBe(net.core('2').log.lastIndex());
    expect(net.appliedData('3')).toEqual(['c']);
  });

  test('a follower never told the leader is gone refuses a shorter log\'s pre-vote and does not campaign for it', () => {
    const net = longerLogAt2('untold');
    // '3' (the shorter log) is told; '2' is not, and its lease has run out without a campaign of
    // its own yet: it refuses '3' for its log and, untold, waits for its own election timeout.
    net.tick('2', T);
    net.stabilize();
    expect(net.core('2').role).toBe('follower');
    expect(net.core('3').leaderGone('1')).toBe(true);
    net.stabilize();
    expect(net.core('2').role).toBe('follower');
    expect(net.core('3').role).not.toBe('leader');
    expect(net.leader()).toBeUndefined();
  });

  test('a wrong hint disrupts nothing: the leader keeps its term, the hinted follower follows it again at the next heartbeat', () => {
    const net = new RaftNetwork(['1', '2', '3'], {}, 'alive');
    net.elect('1');
    net.heartbeat('1');
    const term = net.core('1').term;
    expect(net.core('2').leaderGone('1')).toBe(true);
    net.stabilize();
    expect(net.core('2').role).toBe('preCandidate');
    net.heartbeat('1');
    expect(net.leader()).toBe('1');
    expect(net.core('1').term).toBe(term);
    expect(net.core('2').role).toBe('follower');
    expect(net.core('2').lead).toBe('1');
    // Back to the usual timeout: the leader's heartbeats keep it a follower, term unchanged.
    for (let i = 0; i < 2 * T; i++) {
      net.tick('2');
      net.heartbeat('1');
    }
    expect(net.core('1').term).toBe(term);
    expect(net.core('2').role).toBe('follower');
  });

  test('ignored unless this peer follows the named leader', () => {
    const net = new RaftNetwork(['1', '2', '3'], {}, 'ignored');
    net.elect('1');
    net.heartbeat('1');
    expect(net.core('2').leaderGone('3')).toBe(false); // not its leader
    expect(net.core('1').leaderGone('1')).toBe(false); // the leader itself
    expect(net.core('1').leaderGone('2')).toBe(false); // a leader told of a follower
    net.stabilize();
    expect(net.leader()).toBe('1');
    expect(net.core('2').lead).toBe('1');
    expect(net.core('2').role).toBe('follower');
  });
});

// The Raft paper's rules, one group of sentences per test, after etcd-io/raft's raft_paper_test.go
// ("each test focuses on several sentences written in the paper"). Sections are those of
// "In Search of an Understandable Consensus Algorithm (Extended Version)", Ongaro & Ousterhout
// 2014 (§5.1-§5.4, §6, §7, §8), and of Ongaro's thesis "Consensus: Bridging Theory and Practice",
// 2014 (thesis §3.10, §4, §6.2, §6.4, §9.6, §10.2.1) for what the paper leaves out.
//
// Most tests run the paper's algorithm (PAPER: no PreVote, no CheckQuorum), as etcd's do; those
// about the thesis's extensions turn them on. Tests drive one core by hand (Solo) where the
// sentence is about what one server does with one message, and a RaftNetwork where it is about
// what a cluster does.
import { MemoryLogStorage, type Entry, type PeerId } from '../../journal/index.js';
import { BadMessageError, ConfChangeRefusedError, NotLeaderError, ProposalDroppedError, RaftCore, type Message, type RaftBug, type Role } from '../../raft/index.js';
import { SeededRandom } from '../../runtime/index.js';
import { RaftNetwork, text } from './network.js';
import { PAPER, Solo, append, appResp, entriesOfTerms, heartbeat, indexTerms, ofType, vote, voteResp } from './solo.js';

const T = 10; // PAPER's election timeout, in ticks

const ids = (n: number): PeerId[] => Array.from({ length: n }, (_, i) => String(i + 1));

/** A Solo in `role` at the next term (a leader after an election with every vote). */
function inRole(role: Role, term = 0): Solo {
  const s = new Solo({ term, config: { preVote: role === 'preCandidate' } });
  if (role === 'candidate' || role === 'preCandidate') s.core.campaign();
  if (role === 'leader') s.becomeLeader();
  s.drain();
  expect(s.core.role).toBe(role);
  return s;
}

const ROLES: readonly Role[] = ['follower', 'preCandidate', 'candidate', 'leader'];

// ---- §5.1 Raft basics: terms ------------------------------------------------------------------

describe('§5.1 terms', () => {
  // "If one server's current term is smaller than the other's, then it updates its current term
  // to the larger value. If a candidate or leader discovers that its term is out of date, it
  // immediately reverts to follower state."
  test.each(ROLES)('§5.1 a %s that sees a higher term adopts it and becomes a follower', (role) => {
    const cases: Array<{ make: (term: number) => Message; lead: PeerId }> = [
      { make: (term) => append('2', '1', term, { index: 0, logTerm: 0 }), lead: '2' },
      { make: (term) => heartbeat('2', '1', term), lead: '2' },
      { make: (term) => vote('2', '1', term, { index: 5, logTerm: 5 }), lead: '' },
      { make: (term) => voteResp('2', '1', term, 'voteResp', true), lead: '' },
      { make: (term) => appResp('2', '1', term, 0, true, 0), lead: '' },
    ];
    for (const { make, lead } of cases) {
      const s = inRole(role, 1);
      const term = s.core.term + 2;
      s.step(make(term));
      expect(s.core.role).toBe('follower');
      expect(s.core.term).toBe(term);
      expect(s.core.lead).toBe(lead);
      s.drain();
      // The new term is durable before anything that depends on it leaves.
      expect(s.storage.initialState().hardState.term).toBe(term);
    }
  });

  // "If a server receives a request with a stale term number, it rejects the request."
  test.each(['follower', 'candidate', 'leader'] as const)('§5.1 a %s ignores messages with a stale term and changes nothing', (role) => {
    const s = inRole(role, 3);
    const stale = s.core.term - 1;
    const before = s.core.status();
    const messages: Message[] = [
      append('2', '1', stale, { index: 0, logTerm: 0 }, entriesOfTerms([stale]), 1),
      heartbeat('2', '1', stale, 1),
      vote('2', '1', stale, { index: 9, logTerm: stale }),
      voteResp('2', '1', stale),
      appResp('2', '1', stale, 1),
      { type: 'timeoutNow', from: '2', to: '1', term: stale },
    ];
    for (const m of messages) s.step(m);
    expect(s.core.status()).toEqual(before);
    expect(s.core.hasReady()).toBe(false);
    expect(s.core.counters.staleMessages).toBe(messages.length);
  });

  // Thesis §9.6 / §6.2: with PreVote or CheckQuorum a deposed leader could wait forever to hear
  // a higher term (its peers ignore its votes), so a stale append is answered with the term.
  test('§5.1 with PreVote/CheckQuorum (thesis §9.6) a stale append is answered with the current term, and the stale leader steps down', () => {
    const follower = new Solo({ id: '2', term: 3, config: { preVote: true, checkQuorum: true } });
    follower.step(append('1', '2', 2, { index: 0, logTerm: 0 }, entriesOfTerms([2]), 1));
    expect(follower.sent()).toEqual([appResp('2', '1', 3, 0, true, 0)]);
    expect(follower.core.status()).toMatchObject({ term: 3, lastIndex: 0, commit: 0, leader: '' });

    const leader = new Solo({ id: '1', term: 1, config: { preVote: true, checkQuorum: true } });
    leader.becomeLeader();
    expect(leader.core.term).toBe(2);
    leader.step(appResp('2', '1', 3, 0, true, 0));
    expect(leader.core.role).toBe('follower');
    expect(leader.core.term).toBe(3);
  });
});

// ---- §5.2 Leader election ---------------------------------------------------------------------

describe('§5.2 leader election', () => {
  // "When servers start up, they begin as followers."
  test('§5.2 a server starts as a follower, keeping its stored term and vote, and says nothing', () => {
    const s = new Solo({ terms: [1, 1, 2], term: 3, vote: '3' });
    expect(s.core.status()).toMatchObject({ role: 'follower', term: 3, vote: '3', leader: '', lastIndex: 3, commit: 0 });
    expect(s.core.hasReady()).toBe(false);
  });

  // "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log entries) to all
  // followers in order to maintain their authority."
  test('§5.2 a leader sends a heartbeat to every follower each heartbeat period', () => {
    const s = new Solo({ voters: ids(3), config: { heartbeatTicks: 2 } });
    s.becomeLeader();
    s.core.tick();
    expect(ofType(s.sent(), 'heartbeat')).toEqual([]);
    s.core.tick();
    const out = s.drain();
    expect(ofType(out.messages, 'heartbeat')).toEqual([heartbeat('1', '2', 1), heartbeat('1', '3', 1)]);
    expect(out.messagesAfterPersist).toEqual([]);
    for (let i = 0; i < 4; i++) s.core.tick();
    expect(ofType(s.sent(), 'heartbeat')).toHaveLength(4);
  });

  // "If a follower receives no communication over a period of time called the election timeout,
  // then it assumes there is no viable leader and begins an election to choose a new leader. To
  // begin an election, a follower increments its current term and transitions to candidate
  // state. It then votes for itself and issues RequestVote RPCs in parallel to each of the other
  // servers in the cluster."
  test('§5.2 a follower that hears nothing for an election timeout becomes a candidate of the next term, votes for itself and asks every peer', () => {
    const s = new Solo({ terms: [1, 1], term: 1 });
    let ticks = 0;
    while (s.core.role === 'follower' && ticks < 3 * T) {
      s.core.tick();
      ticks++;
    }
    expect(ticks).toBeGreaterThanOrEqual(T);
    expect(ticks).toBeLessThan(2 * T);
    expect(s.core.status()).toMatchObject({ role: 'candidate', term: 2, vote: '1' });
    const out = s.drain();
    expect(s.storage.initialState().hardState).toMatchObject({ term: 2, vote: '1' });
    expect(ofType(out.messages, 'vote')).toEqual([]);
    expect(ofType(out.messagesAfterPersist, 'vote')).toEqual([vote('1', '2', 2, { index: 2, logTerm: 1 }), vote('1', '3', 2, { index: 2, logTerm: 1 })]);
  });

  // "...a candidate continues in this state until (a) it wins the election, (b) another server
  // establishes itself as leader, or (c) a period of time goes by with no winner. ... each
  // candidate will time out and start a new election by incrementing its term and initiating
  // another round of RequestVote RPCs."
  test('§5.2 a candidate that times out starts a new election in the next term', () => {
    const s = new Solo();
    s.core.campaign();
    s.drain();
    expect(s.core.status()).toMatchObject({ role: 'candidate', term: 1 });
    let ticks = 0;
    while (s.core.term === 1 && ticks < 3 * T) {
      s.core.tick();
      ticks++;
    }
    expect(ticks).toBeGreaterThanOrEqual(T);
    expect(ticks).toBeLessThan(2 * T);
    expect(s.core.status()).toMatchObject({ role: 'candidate', term: 2, vote: '1' });
    expect(ofType(s.drain().messagesAfterPersist, 'vote').map((m) => [m.to, m.term])).toEqual([['2', 2], ['3', 2]]);
  });

  // A leader has no election timeout: it remains leader "as long as followers receive valid RPCs"
  // from it; only a higher term deposes it (and, in the thesis, CheckQuorum; see below).
  test('§5.2 a leader does not time out: it keeps its role and term over many election timeouts', () => {
    const s = new Solo();
    s.becomeLeader();
    for (let i = 0; i < 10 * T; i++) {
      s.core.tick();
      expect(ofType(s.sent(), 'vote')).toEqual([]);
    }
    expect(s.core.status()).toMatchObject({ role: 'leader', term: 1 });
  });

  // "A candidate wins an election if it receives votes from a majority of the servers in the full
  // cluster for the same term." A candidate that a majority refuses cannot win this term.
  test('§5.2 a candidate becomes leader on a majority of votes, follower on a majority of refusals, and otherwise waits', () => {
    const cases: Array<[number, Record<PeerId, boolean>, Role]> = [
      [1, {}, 'leader'],
      [3, { 2: true, 3: true }, 'leader'],
      [3, { 2: true }, 'leader'],
      [5, { 2: true, 3: true, 4: true, 5: true }, 'leader'],
      [5, { 2: true, 3: true, 4: true }, 'leader'],
      [5, { 2: true, 3: true }, 'leader'],
      [3, { 2: false, 3: false }, 'follower'],
      [5, { 2: false, 3: false, 4: false, 5: false }, 'follower'],
      [5, { 2: true, 3: false, 4: false, 5: false }, 'follower'],
      [3, {}, 'candidate'],
      [5, { 2: true }, 'candidate'],
      [5, { 2: false, 3: false }, 'candidate'],
      [5, {}, 'candidate'],
    ];
    for (const [size, votes, role] of cases) {
      const s = new Solo({ voters: ids(size) });
      s.core.campaign();
      s.drain();
      for (const [from, granted] of Object.entries(votes)) s.step(voteResp(from, '1', 1, 'voteResp', !granted));
      expect([size, votes, s.core.role]).toEqual([size, votes, role]);
      expect(s.core.term).toBe(1);
    }
  });

  // "Each server will vote for at most one candidate in a given term, on a first-come-first-served
  // basis." Figure 2: votedFor is persistent, updated "before responding to RPCs".
  test('§5.2 a server votes for at most one candidate per term, first come first served, and remembers it across a restart', () => {
    const cases: Array<[vote: PeerId, from: PeerId, grant: boolean]> = [
      ['', '2', true],
      ['', '3', true],
      ['2', '2', true],
      ['3', '3', true],
      ['2', '3', false],
      ['3', '2', false],
    ];
    for (const [voted, from, grant] of cases) {
      const s = new Solo({ term: 1, vote: voted });
      s.step(vote(from, '1', 1));
      const out = s.drain();
      expect(out.messages).toEqual([]);
      expect(out.messagesAfterPersist).toEqual([voteResp('1', from, 1, 'voteResp', !grant)]);
      expect(s.core.vote).toBe(grant ? from : voted);
      expect(s.storage.initialState().hardState.vote).toBe(grant ? from : voted);
    }
    // The vote outlives a crash: a restarted server still refuses a second candidate.
    const s = new Solo({ term: 1 });
    s.step(vote('2', '1', 1));
    s.drain();
    const restarted = new RaftCore({ ...PAPER, id: '1' }, s.storage, new SeededRandom('restart'));
    restarted.step(vote('3', '1', 1));
    expect(restarted.ready().messagesAfterPersist).toEqual([voteResp('1', '3', 1, 'voteResp', true)]);
  });

  // "While waiting for votes, a candidate may receive an AppendEntries RPC from another server
  // claiming to be leader. If the leader's term is at least as large as the candidate's current
  // term, then the candidate recognizes the leader as legitimate and returns to follower state."
  test.each(['candidate', 'preCandidate'] as const)('§5.2 a %s that hears from a leader of its term or later returns to follower', (role) => {
    for (const ahead of [0, 1]) {
      for (const make of [(term: number) => append('2', '1', term, { index: 0, logTerm: 0 }), (term: number) => heartbeat('2', '1', term)]) {
        const s = inRole(role);
        // A leader's term is at least 1 (a fresh pre-candidate is still at term 0).
        const term = Math.max(1, s.core.term + ahead);
        s.step(make(term));
        expect(s.core.status()).toMatchObject({ role: 'follower', term, leader: '2' });
      }
    }
  });

  // "Raft uses randomized election timeouts to ensure that split votes are rare ... election
  // timeouts are chosen randomly from a fixed interval (e.g., 150-300ms)."
  test('§5.2 a follower\'s election timeout is random in [T, 2T) and takes every value there', () => {
    const seen = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const s = new Solo({ seed: `follower-timeout-${i}` });
      let ticks = 0;
      while (s.core.role === 'follower' && ticks < 3 * T) {
        s.core.tick();
        ticks++;
      }
      seen.set(ticks, (seen.get(ticks) ?? 0) + 1);
    }
    const values = [...seen.keys()].sort((a, b) => a - b);
    expect(values[0]).toBeGreaterThanOrEqual(T);
    expect(values[values.length - 1]).toBeLessThan(2 * T);
    expect(values).toEqual(Array.from({ length: T }, (_, i) => T + i));
  });

  test('§5.2 a candidate\'s election timeout is random in [T, 2T), drawn again for each election', () => {
    const s = new Solo({ seed: 'candidate-timeouts' });
    s.core.campaign();
    const seen = new Set<number>();
    for (let election = 0; election < 300; election++) {
      const term = s.core.term;
      let ticks = 0;
      while (s.core.term === term && ticks < 3 * T) {
        s.core.tick();
        ticks++;
      }
      expect(ticks).toBeGreaterThanOrEqual(T);
      expect(ticks).toBeLessThan(2 * T);
      seen.add(ticks);
      s.drain();
    }
    expect(seen.size).toBe(T);
  });

  // "...in most cases only a single server will time out; it wins the election and sends
  // heartbeats before any other servers time out." (etcd's TestFollowersElectionTimeoutNonconflict.)
  test('§5.2 randomized timeouts make simultaneous candidates rare among five fresh followers', () => {
    const rounds = 1000;
    let conflicts = 0;
    for (let round = 0; round < rounds; round++) {
      const peers = ids(5).map((id) => new Solo({ id, voters: ids(5), seed: `nonconflict-${round}-${id}` }));
      let campaigners = 0;
      for (let tick = 0; campaigners === 0 && tick < 3 * T; tick++) {
        for (const p of peers) p.core.tick();
        campaigners = peers.filter((p) => p.core.role !== 'follower').length;
      }
      expect(campaigners).toBeGreaterThan(0);
      if (campaigners > 1) conflicts++;
    }
    expect(conflicts / rounds).toBeLessThanOrEqual(0.3);
  });

  // "...if many followers become candidates at the same time, votes could be split so that no
  // candidate obtains a majority. When this happens, each candidate will time out and start a new
  // election by incrementing its term". Figure 3, Election Safety: "at most one leader can be
  // elected in a given term."
  test('§5.2 a split vote elects no one in its term; a later election elects exactly one leader', () => {
    const net = new RaftNetwork(ids(4), PAPER, 'split-vote');
    net.core('1').campaign();
    net.core('3').campaign();
    net.processAll();
    // Peer 2 hears 1 first, peer 4 hears 3 first: two votes each, three needed.
    net.deliverWhere((m) => m.type === 'vote' && ((m.from === '1' && m.to === '2') || (m.from === '3' && m.to === '4')));
    net.stabilize();
    expect(net.leader()).toBeUndefined();
    for (const id of ids(4)) expect(net.core(id).term).toBe(1);
    const leaders = new Map<number, Set<PeerId>>();
    net.tickUntil(() => {
      for (const p of net.peers.values()) {
        if (p.core.role !== 'leader') continue;
        const set = leaders.get(p.core.term) ?? new Set<PeerId>();
        set.add(p.core.id);
        leaders.set(p.core.term, set);
      }
      return net.leader() !== undefined;
    });
    for (const set of leaders.values()) expect(set.size).toBe(1);
    const leader = net.leader() as PeerId;
    expect(net.core(leader).term).toBeGreaterThan(1);
    net.tickAll(1);
    net.stabilize();
    for (const id of ids(4)) expect(net.core(id).lead).toBe(leader);
  });
});

// ---- §5.3 Log replication ---------------------------------------------------------------------

describe('§5.3 log replication', () => {
  // "Once a leader has been elected, it begins servicing client requests. ... The leader appends
  // the command to its log as a new entry, then issues AppendEntries RPCs in parallel to each of
  // the other servers to replicate the entry." Figure 2: prevLogIndex, prevLogTerm, entries[],
  // leaderCommit.
  test('§5.3 a leader appends a proposal to its log and sends it to every follower with the preceding index and term', () => {
    const s = new Solo();
    s.becomeLeader();
    s.ackAll();
    expect(s.core.status().commit).toBe(1);
    s.core.propose(text('x'));
    const out = s.drain();
    const entry: Entry = { term: 1, index: 2, type: 'normal', data: text('x') };
    expect(out.entries).toEqual([entry]);
    expect(ofType(out.messages, 'app')).toEqual([append('1', '2', 1, { index: 1, logTerm: 1 }, [entry], 1), append('1', '3', 1, { index: 1, logTerm: 1 }, [entry], 1)]);
    expect(out.committed).toEqual([]);
  });

  // Thesis §10.2.1: "the leader can write to its disk in parallel with replicating to the
  // followers", and "the leader may even commit an entry before it has been written to its own
  // disk, if a majority of other servers have written it." Its own copy counts once durable.
  test('§10.2.1 a leader sends appends before its own write is durable, and counts its own copy only after advance()', () => {
    const s = new Solo();
    s.becomeLeader();
    s.ackAll();
    s.core.propose(text('x'));
    let rd = s.core.ready();
    expect(indexTerms(rd.entries)).toEqual([[2, 1]]);
    expect(ofType(rd.messages, 'app').map((m) => m.to)).toEqual(['2', '3']);
    // One follower holds it durably; the leader's own copy is not yet written: one of three.
    s.step(appResp('2', '1', 1, 2));
    expect(s.core.status().commit).toBe(1);
    s.storage.applyWrite({ entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}) });
    s.core.advance();
    expect(s.core.status().commit).toBe(2);
    expect(indexTerms(s.drain().committed)).toEqual([[2, 1]]);

    // Two followers are a majority without the leader's own copy.
    s.core.propose(text('y'));
    rd = s.core.ready();
    s.step(appResp('2', '1', 1, 3));
    s.step(appResp('3', '1', 1, 3));
    expect(s.core.status().commit).toBe(3);
    s.storage.applyWrite({ entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}) });
    s.core.advance();
    expect(indexTerms(s.drain().committed)).toEqual([[3, 1]]);
  });

  // Figure 2, "Persistent state on all servers: (Updated on stable storage before responding to
  // RPCs)". The core hands votes and append acknowledgements out only after the write.
  test('§5.2/§5.3 (Figure 2) vote grants and append acknowledgements come in messagesAfterPersist, with the state they depend on', () => {
    for (const bugs of [[], ['ackBeforePersist']] as RaftBug[][]) {
      const s = new Solo({ id: '2', bugs });
      const early = bugs.length > 0;
      s.step(vote('1', '2', 1));
      let rd = s.core.ready();
      expect(rd.hardState).toEqual({ term: 1, vote: '1', commit: 0 });
      expect(rd.messages).toEqual(early ? [voteResp('2', '1', 1)] : []);
      expect(rd.messagesAfterPersist).toEqual(early ? [] : [voteResp('2', '1', 1)]);
      s.core.advance();
      const entries = entriesOfTerms([1]);
      s.step(append('1', '2', 1, { index: 0, logTerm: 0 }, entries, 0));
      rd = s.core.ready();
      expect(rd.entries).toEqual(entries);
      expect(rd.messages).toEqual(early ? [appResp('2', '1', 1, 1)] : []);
      expect(rd.messagesAfterPersist).toEqual(early ? [] : [appResp('2', '1', 1, 1)]);
      s.core.advance();
    }
  });

  // "A log entry is committed once the leader that created the entry has replicated it on a
  // majority of the servers ... The leader keeps track of the highest index it knows to be
  // committed, and it includes that index in future AppendEntries RPCs (including heartbeats) so
  // that the other servers eventually find out."
  //
  // "Eventually": a follower that waits for nothing learns the new commit index from the next
  // append or heartbeat; no append goes only to carry it (two messages fewer per commit).
  test('§5.3 an entry on a majority is committed, handed out to apply, and its index sent to followers with the next heartbeat', () => {
    const s = new Solo();
    s.becomeLeader();
    s.ackAll();
    s.core.propose(text('x'));
    s.drain();
    const out = s.ackAll();
    expect(s.core.status().commit).toBe(2);
    expect(out.committed).toEqual([{ term: 1, index: 2, type: 'normal', data: text('x') }]);
    expect(ofType(out.messages, 'app')).toEqual([]);
    s.core.tick();
    expect(ofType(s.sent(), 'heartbeat').map((m) => [m.to, m.commit])).toEqual([['2', 2], ['3', 2]]);
    // The next append carries it too.
    s.core.propose(text('y'));
    expect(ofType(s.drain().messages, 'app').map((m) => [m.to, m.entries.length, m.commit])).toEqual([['2', 1, 2], ['3', 1, 2]]);
  });

  // Not in the paper: a follower that forwarded an entry answers its client once it applies it, so
  // it is sent the commit index at once; so is one that asked for a read, up to the read's index.
  test('§5.3 a follower that forwarded an entry, or asked for a read, is sent the commit index at once; the others are not', () => {
    const s = new Solo();
    s.becomeLeader();
    s.ackAll();
    s.step({ type: 'prop', from: '3', to: '1', term: 0, entries: [{ type: 'normal', data: text('via 3') }] });
    s.drain();
    const out = s.ackAll();
    expect(s.core.status().commit).toBe(2);
    expect(ofType(out.messages, 'app').map((m) => [m.to, m.entries.length, m.commit])).toEqual([['3', 0, 2]]);
    // 3 now knows index 2 committed: the next commit, of an entry 3 did not forward, is not sent to it.
    s.core.propose(text('local'));
    s.drain();
    expect(ofType(s.ackAll(['3']).messages, 'app')).toEqual([]);
    expect(s.core.status().commit).toBe(3);

    // A read asked for by 2, which has not acknowledged index 3 (its heartbeat carries commit 2),
    // confirmed by 3: its answer names index 3, and the commit follows it.
    s.step({ type: 'readIndex', from: '2', to: '1', term: 0, context: 'r1' });
    expect(ofType(s.drain().messages, 'heartbeat').map((m) => [m.to, m.commit])).toEqual([['2', 2], ['3', 3]]);
    s.step({ type: 'heartbeatResp', from: '3', to: '1', term: 1, context: 'r1' });
    const read = s.drain().messages;
    expect(read.map((m) => [m.type, m.to])).toEqual([['readIndexResp', '2'], ['app', '2']]);
    expect(ofType(read, 'app').map((m) => [m.entries.length, m.commit])).toEqual([[0, 3]]);
  });

  // Not in the paper: the append that carries only a new commit index (etcd's raft answers it)
  // goes unanswered when the leader already knows the follower holds its log up to there. The
  // answer would tell the leader nothing, and costs a message each way per commit at low load.
  test('§5.3 a commit-only append to a follower known to hold the log is quiet: accepted, it is not answered; refused, it is', () => {
    const s = new Solo({ voters: ids(3) });
    s.becomeLeader();
    s.ackAll();
    // Entries forwarded by 2 and by 3: both wait for their commit.
    s.step({ type: 'prop', from: '2', to: '1', term: 0, entries: [{ type: 'normal', data: text('x') }] });
    s.step({ type: 'prop', from: '3', to: '1', term: 0, entries: [{ type: 'normal', data: text('y') }] });
    s.drain();
    // Only 2 has acknowledged index 3: the commit goes to 2 quietly, to 3 (whose copy of index 3
    // the leader has not heard of) as an append that 3 answers.
    s.step(appResp('2', '1', 1, 3));
    const out = s.drain();
    expect(s.core.status().commit).toBe(3);
    expect(ofType(out.messages, 'app').map((m) => [m.to, m.entries.length, m.commit, m.quiet ?? false])).toEqual([['2', 0, 3, true], ['3', 0, 3, false]]);

    // The follower: an accepted quiet append commits and says nothing; a refused one is answered.
    const f = new Solo({ id: '2', terms: [1, 1], term: 1 });
    f.step({ ...append('1', '2', 1, { index: 2, logTerm: 1 }, [], 2), quiet: true });
    const fout = f.drain();
    expect(indexTerms(fout.committed)).toEqual([[1, 1], [2, 1]]);
    expect([...fout.messages, ...fout.messagesAfterPersist]).toEqual([]);
    f.step({ ...append('1', '2', 1, { index: 5, logTerm: 1 }, [], 2), quiet: true });
    expect(ofType(f.sent(), 'appResp').map((m) => [m.index, m.reject, m.rejectHint])).toEqual([[5, true, 2]]);
    // The same append without the flag is answered, as before.
    f.step(append('1', '2', 1, { index: 2, logTerm: 1 }, [], 2));
    expect(ofType(f.sent(), 'appResp').map((m) => [m.index, m.reject])).toEqual([[2, false]]);

    // quiet is true or absent, and never on an append with entries.
    expect(() => f.step({ ...append('1', '2', 1, { index: 2, logTerm: 1 }, entriesOfTerms([1, 1, 1]).slice(2), 2), quiet: true })).toThrow(BadMessageError);
    expect(() => f.step({ ...append('1', '2', 1, { index: 2, logTerm: 1 }, [], 2), quiet: 'yes' } as unknown as Message)).toThrow(BadMessageError);
  });

  // "When the entry has been safely replicated (as described below), the leader applies the entry
  // to its state machine and returns the result of that execution to the client."
  test('§5.3 a leader hands a proposal out to apply (acknowledges it) only once a majority stores it', () => {
    const cases: Array<[size: number, acceptors: PeerId[], committed: boolean]> = [
      [1, [], true],
      [3, [], false],
      [3, ['2'], true],
      [3, ['2', '3'], true],
      [5, [], false],
      [5, ['2'], false],
      [5, ['2', '3'], true],
      [5, ['2', '3', '4'], true],
      [5, ['2', '3', '4', '5'], true],
    ];
    for (const [size, acceptors, committed] of cases) {
      const s = new Solo({ voters: ids(size) });
      s.becomeLeader();
      s.core.propose(text('x'));
      let applied = s.drain().committed;
      for (const from of acceptors) s.step(appResp(from, '1', 1, 2));
      applied = [...applied, ...s.drain().committed];
      expect([size, acceptors, applied.some((e) => e.index === 2)]).toEqual([size, acceptors, committed]);
    }
  });

  // "When the leader commits an entry ... This also commits all preceding entries in the leader's
  // log, including entries created by previous leaders."
  test('§5.3 committing an entry commits every entry before it, those of earlier terms included', () => {
    for (const terms of [[], [2], [1, 1], [1, 2]]) {
      const s = new Solo({ terms, term: 2 });
      s.becomeLeader();
      s.core.propose(text('x'));
      s.drain();
      const committed = s.ackAll().committed;
      const n = terms.length;
      expect(indexTerms(committed)).toEqual([...terms.map((t, i): [number, number] => [i + 1, t]), [n + 1, 3], [n + 2, 3]]);
    }
  });

  // "Once a follower learns that a log entry is committed, it applies the entry to its local
  // state machine (in log order)." Figure 2: "If leaderCommit > commitIndex, set commitIndex =
  // min(leaderCommit, index of last new entry)".
  test('§5.3 a follower commits up to min(leaderCommit, last new entry) and applies in log order', () => {
    const cases: Array<[entries: Entry[], commit: number, applied: number]> = [
      [entriesOfTerms([1]), 1, 1],
      [entriesOfTerms([1, 1]), 2, 2],
      [entriesOfTerms([1, 1]), 1, 1],
      [entriesOfTerms([1]), 2, 1],
    ];
    for (const [entries, commit, applied] of cases) {
      const s = new Solo({ id: '2', term: 1 });
      s.step(append('1', '2', 1, { index: 0, logTerm: 0 }, entries, commit));
      const out = s.drain();
      expect(out.committed).toEqual(entries.slice(0, applied));
      expect(s.core.status().commit).toBe(applied);
      expect(s.storage.initialState().hardState.commit).toBe(applied);
    }
    // A heartbeat carries the commit index too, never past what the follower holds.
    const s = new Solo({ id: '2', terms: [1, 1, 1], term: 1 });
    s.step(heartbeat('1', '2', 1, 2));
    expect(indexTerms(s.drain().committed)).toEqual([[1, 1], [2, 1]]);
    s.step(heartbeat('1', '2', 1, 9));
    expect(indexTerms(s.drain().committed)).toEqual([[3, 1]]);
  });

  // "When sending an AppendEntries RPC, the leader includes the index and term of the entry in its
  // log that immediately precedes the new entries. If the follower does not find an entry in its
  // log with the same index and term, then it refuses the new entries."
  test('§5.3 a follower refuses an append whose preceding entry it does not hold, hinting its last index', () => {
    const cases: Array<[logTerm: number, index: number, ackIndex: number, reject: boolean, hint: number]> = [
      [0, 0, 1, false, 0], // below the commit index: already held
      [1, 1, 1, false, 0],
      [2, 2, 2, false, 0],
      [1, 2, 2, true, 2], // index 2 holds term 2, not 1
      [3, 3, 3, true, 2], // no index 3
    ];
    for (const [logTerm, index, ackIndex, reject, hint] of cases) {
      const s = new Solo({ id: '2', terms: [1, 2], term: 2, commit: 1 });
      s.step(append('1', '2', 2, { index, logTerm }, [], 1));
      const out = s.drain();
      expect(out.messages).toEqual([]);
      expect(out.messagesAfterPersist).toEqual([appResp('2', '1', 2, ackIndex, reject, hint)]);
      expect(s.terms()).toEqual([1, 2]);
    }
  });

  // "If an existing entry conflicts with a new one (same index but different terms), delete the
  // existing entry and all that follow it (§5.3). Append any new entries not already in the log."
  test('§5.3 a follower deletes a conflicting entry and all after it, and appends the new entries', () => {
    const cases: Array<[prev: [number, number], entries: Entry[], terms: number[]]> = [
      [[2, 2], entriesOfTerms([3], 3), [1, 2, 3]],
      [[1, 1], entriesOfTerms([3, 4], 2), [1, 3, 4]],
      [[0, 0], entriesOfTerms([1], 1), [1, 2]],
      [[0, 0], entriesOfTerms([3], 1), [3]],
      [[1, 1], entriesOfTerms([2], 2), [1, 2]],
    ];
    for (const [[index, logTerm], entries, terms] of cases) {
      const s = new Solo({ id: '2', terms: [1, 2], term: 2 });
      const term = Math.max(2, ...entries.map((e) => e.term));
      s.step(append('1', '2', term, { index, logTerm }, entries));
      const out = s.drain();
      expect(s.terms()).toEqual(terms);
      expect(s.core.status().lastIndex).toBe(terms.length);
      expect(ofType(out.messagesAfterPersist, 'appResp')).toEqual([appResp('2', '1', term, index + entries.length)]);
    }
  });

  // Figure 7: "When the leader at the top comes to power, it is possible that any of scenarios
  // (a-f) could occur in follower logs." "...the leader handles inconsistencies by forcing the
  // followers' logs to duplicate its own." "...the leader decrements nextIndex and retries".
  const FIGURE_7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const FIGURE_7: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  test.each(Object.keys(FIGURE_7))('§5.3 Figure 7 (%s): the leader of term 8 makes the follower\'s log its own', (name) => {
    const voters = ids(3);
    const net = new RaftNetwork([], PAPER, `figure7-${name}`);
    const hardState = { term: 7, vote: '', commit: 0 };
    net.add('1', MemoryLogStorage.create({ voters, entries: entriesOfTerms(FIGURE_7_LEADER), hardState }));
    net.add('2', MemoryLogStorage.create({ voters, entries: entriesOfTerms(FIGURE_7[name] as number[]), hardState }));
    net.add('3', MemoryLogStorage.create({ voters, hardState }));
    net.elect('1');
    expect(net.core('1').status()).toMatchObject({ role: 'leader', term: 8 });
    const expected = [...FIGURE_7_LEADER, 8].map((term, i) => [i + 1, term]);
    for (const id of voters) {
      expect(net.logOf(id)).toEqual(expected);
      expect(net.core(id).status().commit).toBe(11);
    }
    // The same (index, term) holds the same entry (Log Matching): the data came from the leader.
    expect(net.peer('2').storage.entries(1, 12)).toEqual(net.peer('1').storage.entries(1, 12));
  });
});

// ---- §5.4 Safety ------------------------------------------------------------------------------

describe('§5.4 safety', () => {
  // "The RequestVote RPC implements this restriction: the RPC includes information about the
  // candidate's log".
  test('§5.4.1 a candidate\'s vote requests carry its last log index and term', () => {
    for (const [terms, term] of [[[1], 2], [[1, 2], 3]] as Array<[number[], number]>) {
      const s = new Solo({ terms });
      for (let i = 0; i < 2 * T && s.core.role === 'follower'; i++) s.core.tick();
      const last = { index: terms.length, logTerm: terms[terms.length - 1] as number };
      expect(ofType(s.drain().messagesAfterPersist, 'vote')).toEqual([vote('1', '2', term, last), vote('1', '3', term, last)]);
    }
  });

  // "...the voter denies its vote if its own log is more up-to-date than that of the candidate.
  // ... If the logs have last entries with different terms, then the log with the later term is
  // more up-to-date. If the logs end with the same term, then whichever log is longer is more
  // up-to-date."
  test('§5.4.1 a voter refuses a candidate whose log is less up to date: last term first, then length', () => {
    const cases: Array<[terms: number[], logTerm: number, index: number, grant: boolean]> = [
      // Same last term.
      [[1], 1, 1, true],
      [[1], 1, 2, true],
      [[1, 1], 1, 1, false],
      // The candidate's last term is later: longer or not, it wins.
      [[1], 2, 1, true],
      [[1], 2, 2, true],
      [[1, 1], 2, 1, true],
      // The candidate's last term is earlier: longer or not, it loses.
      [[2], 1, 1, false],
      [[2], 1, 2, false],
      [[2, 2], 1, 5, false],
    ];
    for (const [terms, logTerm, index, grant] of cases) {
      const s = new Solo({ terms });
      s.step(vote('2', '1', 3, { index, logTerm }));
      expect([terms, logTerm, index, s.drain().messagesAfterPersist]).toEqual([terms, logTerm, index, [voteResp('1', '2', 3, 'voteResp', !grant)]]);
    }
  });

  // Leader Completeness (Figure 3): "If a log entry is committed in a given term, then that entry
  // will be present in the logs of the leaders for all higher-numbered terms." "A candidate must
  // contact a majority of the cluster in order to be elected, which means that every committed
  // entry must be present in at least one of those servers."
  test('§5.4.1 a server missing committed entries cannot be elected; one that holds them can', () => {
    const net = new RaftNetwork(ids(3), PAPER, 'completeness');
    net.elect('1');
    net.isolate('3');
    net.core('1').propose(text('a'));
    net.core('1').propose(text('b'));
    net.stabilize();
    net.heartbeat();
    expect(net.appliedData('2')).toEqual(['a', 'b']);
    // The leader crashes; 3 comes back, behind.
    net.heal();
    net.isolate('1');
    for (let i = 0; i < 3; i++) {
      net.core('3').campaign();
      net.stabilize();
      expect(net.core('3').role).not.toBe('leader');
    }
    net.elect('2');
    expect(net.core('2').role).toBe('leader');
    net.core('2').propose(text('c'));
    net.stabilize();
    net.heartbeat();
    expect(net.appliedData('3')).toEqual(['a', 'b', 'c']);
  });

  // "Raft never commits log entries from previous terms by counting replicas. Only log entries
  // from the leader's current term are committed by counting replicas; once an entry from the
  // current term has been committed in this way, then all prior entries are committed indirectly
  // because of the Log Matching Property."
  test('§5.4.2 a leader commits an entry of an earlier term only by committing one of its own', () => {
    const cases: Array<[acked: number, commit: number]> = [
      [1, 0],
      [2, 0],
      [3, 3],
    ];
    for (const [acked, commit] of cases) {
      const s = new Solo({ voters: ids(2), terms: [1, 2], term: 2 });
      s.becomeLeader();
      expect(s.core.term).toBe(3);
      s.step(appResp('2', '1', 3, acked));
      expect([acked, s.core.status().commit]).toEqual([acked, commit]);
    }
  });

  /**
   * Figure 8, played on five peers up to (c): index 2 (term 1, 'xx') ends up on S1, S2 and S3, a
   * majority, while S1 leads term 3 and its own entry (index 3) is on S1 and S2 only.
   */
  function figure8UpToC(bugs: RaftBug[]): RaftNetwork {
    // One byte per append, so that S1 can hand S3 index 2 without index 3.
    const net = new RaftNetwork(ids(5), { ...PAPER, appendBytesMax: 1 }, 'figure8', bugs);
    net.elect('1');
    // (a) S1 leads and replicates its entry at index 2 to S2 only.
    for (const to of ['3', '4', '5']) net.cutLink('1', to);
    net.core('1').propose(text('xx'));
    net.stabilize();
    expect(net.logOf('2')).toEqual([[1, 1], [2, 1]]);
    // (b) S1 crashes; S5 is elected by S3, S4 and itself, and writes index 2 of its term alone.
    net.heal();
    net.isolate('1');
    net.dropIf = (m) => m.from === '5' && m.type === 'app';
    net.elect('5');
    expect(net.core('5').status()).toMatchObject({ role: 'leader', term: 2 });
    expect(net.logOf('5')).toEqual([[1, 1], [2, 2]]);
    // (c) S5 crashes; S1 restarts and is elected by S2 and S3 (S4 is out of its reach). It brings
    // S3 up to index 2, while its own entry of term 3 reaches S2 only.
    net.heal();
    net.isolate('5');
    net.restart('1');
    net.cutLink('1', '4');
    net.cutLink('4', '1');
    net.dropIf = (m) => m.type === 'app' && m.from === '1' && m.to === '3' && net.core('3').status().lastIndex >= 2 && m.entries.some((e) => e.index >= 3);
    for (let i = 0; i < 3 && net.core('1').role !== 'leader'; i++) {
      net.core('1').campaign();
      net.stabilize();
    }
    expect(net.core('1').status()).toMatchObject({ role: 'leader', term: 3 });
    expect(net.logOf('1')).toEqual([[1, 1], [2, 1], [3, 3]]);
    expect(net.logOf('2')).toEqual([[1, 1], [2, 1], [3, 3]]);
    expect(net.logOf('3')).toEqual([[1, 1], [2, 1]]);
    return net;
  }

  /**
   * (d) S1 crashes (S2 is out of reach too); S5 restarts and is elected by S3, S4 and itself: its
   * last term (2) is later than theirs (1).
   */
  function figure8D(net: RaftNetwork): void {
    net.dropIf = undefined;
    net.heal();
    net.isolate('1');
    net.isolate('2');
    net.restart('5');
    for (let i = 0; i < 3 && net.core('5').role !== 'leader'; i++) {
      net.core('5').campaign();
      net.stabilize();
    }
    expect(net.core('5').status()).toMatchObject({ role: 'leader', term: 4, commit: 3 });
  }

  /** State Machine Safety (Figure 3): the (index, term) of every applied entry, or the first disagreement. */
  function appliedDisagreement(net: RaftNetwork): string | undefined {
    const termAt = new Map<number, [PeerId, number]>();
    for (const [id, peer] of net.peers) {
      for (const e of peer.applied) {
        const seen = termAt.get(e.index);
        if (seen === undefined) termAt.set(e.index, [id, e.term]);
        else if (seen[1] !== e.term) return `index ${e.index}: ${seen[0]} applied term ${seen[1]}, ${id} applied term ${e.term}`;
      }
    }
    return undefined;
  }

  // "Figure 8 illustrates a situation where an old log entry is stored on a majority of servers,
  // yet can still be overwritten by a future leader."
  test('§5.4.2 Figure 8: an earlier term\'s entry on a majority is not counted committed, and a later leader may overwrite it', () => {
    const net = figure8UpToC([]);
    expect(net.core('1').status().commit).toBe(1);
    figure8D(net);
    for (const id of ['3', '4', '5']) expect(net.logOf(id)).toEqual([[1, 1], [2, 2], [3, 4]]);
    // S2 comes back and is brought in line; S1's entry was never applied anywhere.
    net.heal();
    net.isolate('1');
    net.tick('5'); // a heartbeat finds it
    net.stabilize();
    expect(net.logOf('2')).toEqual([[1, 1], [2, 2], [3, 4]]);
    for (const id of ids(5)) expect(net.appliedData(id)).toEqual([]);
    expect(appliedDisagreement(net)).toBeUndefined();
  });

  // The same scenario with the rule broken (a planted bug): the entry counted committed in (c) is
  // applied by S1 and S2, then (d) elects a leader without it, which commits another entry there.
  test('§5.4.2 Figure 8 with the commitPreviousTermByCounting bug planted: the counted entry is applied, then another is applied at its index', () => {
    const net = figure8UpToC(['commitPreviousTermByCounting']);
    expect(net.core('1').status().commit).toBe(2);
    expect(net.appliedData('1')).toEqual(['xx']);
    // S2 would learn the commit index from S1's next heartbeat, which (d) forestalls.
    expect(net.appliedData('2')).toEqual([]);
    figure8D(net);
    expect(appliedDisagreement(net)).toMatch(/^index 2: /);
  });
});

// ---- §7 Log compaction --------------------------------------------------------------------------

describe('§7 log compaction', () => {
  // "...the leader must occasionally send snapshots to followers that lag behind. This happens
  // when the leader has already discarded the next log entry that it needs to send to a
  // follower." "When a follower receives a snapshot with this RPC, it must decide what to do with
  // its existing log entries. Usually the snapshot will contain new information not already in
  // the recipient's log. In this case, the follower discards its entire log". Figure 13 sends the
  // snapshot in chunks ("offset", "data[]", "done").
  test('§7 a follower whose next entries were compacted away gets the snapshot in chunks, installs it, then takes the entries after it', () => {
    const net = new RaftNetwork(ids(3), { snapshotChunkBytes: 4 }, 'snapshot');
    net.elect('1');
    net.isolate('3');
    for (let i = 0; i < 5; i++) net.core('1').propose(text(`v${i}`));
    net.stabilize();
    const leader = net.peer('1');
    const index = leader.core.status().applied;
    expect(index).toBe(6);
    const data = text('state machine at 6'); // 18 bytes: 5 chunks of at most 4
    leader.storage.applyCreateSnapshot(index, leader.core.confState(), data);
    leader.storage.applyCompact(index);
    expect(leader.storage.firstIndex()).toBe(index + 1);

    net.heal();
    net.tickUntil(() => net.core('3').status().commit === index);
    const chunks = net.delivered.filter((m) => m.type === 'snap' && m.to === '3');
    expect(chunks.length).toBeGreaterThanOrEqual(5);
    expect([...new Set(chunks.map((m) => (m.type === 'snap' ? m.offset : -1)))]).toEqual([0, 4, 8, 12, 16]);
    const follower = net.peer('3');
    expect(follower.storage.snapshot()).toEqual({ meta: { index, term: 1, confState: { voters: ids(3), learners: [] } }, data });
    expect(follower.storage.firstIndex()).toBe(index + 1);
    // The entries of the snapshot were never applied one by one: the state machine took the snapshot.
    expect(net.appliedData('3')).toEqual([]);
    net.core('1').propose(text('after'));
    net.stabilize();
    net.heartbeat();
    expect(net.appliedData('3')).toEqual(['after']);
    expect(net.logOf('3')).toEqual([[7, 1]]);
  });

  // "If instead the follower receives a snapshot that describes a prefix of its log (due to
  // retransmission or by mistake), then log entries covered by the snapshot are deleted but
  // entries following the snapshot are still valid and must be retained."
  test('§7 a follower whose log already holds the snapshot\'s last entry keeps its log', () => {
    const s = new Solo({ id: '2', terms: [1, 1, 1, 1], term: 1, commit: 1 });
    const meta = { index: 3, term: 1, confState: { voters: ids(3), learners: [] } };
    s.step({ type: 'snap', from: '1', to: '2', term: 1, meta, offset: 0, totalBytes: 2, chunk: text('ss') });
    const out = s.drain();
    expect(s.terms()).toEqual([1, 1, 1, 1]);
    expect(s.storage.snapshot().meta.index).toBe(0);
    expect(s.core.status().commit).toBe(3);
    expect(indexTerms(out.committed)).toEqual([[1, 1], [2, 1], [3, 1]]);
    expect(ofType(out.messagesAfterPersist, 'snapResp')).toEqual([{ type: 'snapResp', from: '2', to: '1', term: 1, snapshotIndex: 3, offset: 2, reject: false, installedIndex: 3 }]);
  });
});

// ---- §6 Cluster membership changes (thesis §4: one server at a time) -----------------------------

describe('§6 membership changes (thesis §4)', () => {
  /** A three-voter cluster led by 1, and a fresh peer 4 that knows the cluster but is not in it. */
  function clusterWithNewcomer(seed: string): RaftNetwork {
    const net = new RaftNetwork(ids(3), {}, seed);
    net.elect('1');
    net.add('4', MemoryLogStorage.create({ voters: ids(3) }));
    return net;
  }

  // Thesis §4.2.1: "the new server joins the cluster as a non-voting member. The leader
  // replicates log entries to it, but it is not yet counted towards majorities".
  test('thesis §4.2.1 a learner receives the log but is not counted in a quorum and never campaigns', () => {
    const net = clusterWithNewcomer('learner');
    net.core('1').proposeConfChange({ type: 'addLearner', peer: '4' });
    net.core('1').propose(text('a'));
    net.stabilize();
    for (const id of ids(4)) expect(net.core(id).confState()).toEqual({ voters: ids(3), learners: ['4'] });
    expect(net.appliedData('4')).toEqual(['a']);
    // Only the learner acknowledges: the leader alone plus a learner is not a majority of three.
    net.isolate('2');
    net.isolate('3');
    const commit = net.core('1').status().commit;
    net.core('1').propose(text('b'));
    net.stabilize();
    expect(net.core('4').status().lastIndex).toBe(commit + 1);
    expect(net.core('1').status().commit).toBe(commit);
    net.heal();
    net.tick('1');
    net.stabilize();
    // 3's acknowledgement committed b; 4 (which waits for nothing) learns it from the next heartbeat.
    net.heartbeat();
    expect(net.appliedData('4')).toEqual(['a', 'b']);
    // Cut off from the leader for many election timeouts, the learner stays a follower.
    net.isolate('4');
    const term = net.core('4').term;
    net.tick('4', 10 * T);
    net.stabilize();
    expect(net.core('4').status()).toMatchObject({ role: 'follower', term });
  });

  test('thesis §4.2.1 a promoted learner counts in quorums: four voters need three', () => {
    const net = clusterWithNewcomer('promote');
    net.core('1').proposeConfChange({ type: 'addLearner', peer: '4' });
    net.stabilize();
    net.core('1').proposeConfChange({ type: 'promoteLearner', peer: '4' });
    net.stabilize();
    for (const id of ids(4)) expect(net.core(id).confState()).toEqual({ voters: ids(4), learners: [] });
    // 1 and 4 of four voters: not a majority.
    net.isolate('2');
    net.isolate('3');
    let commit = net.core('1').status().commit;
    net.core('1').propose(text('two of four'));
    net.stabilize();
    expect(net.core('1').status().commit).toBe(commit);
    // 1, 3 and 4: a majority, with 4 counted.
    net.heal();
    net.isolate('2');
    net.tick('1');
    net.stabilize();
    commit = net.core('1').status().commit;
    expect(net.core('1').status().lastIndex).toBe(commit);
    net.core('1').propose(text('three of four'));
    net.stabilize();
    expect(net.core('1').status().commit).toBe(commit + 1);
  });

  // Thesis §4.2.3: a removed server no longer receives heartbeats and "will time out and start new
  // elections"; servers that hear from a current leader ignore its RequestVotes.
  test('thesis §4.2.3 a removed follower leaves the quorum and cannot disrupt the cluster', () => {
    const net = new RaftNetwork(ids(3), {}, 'remove-follower');
    net.elect('1');
    net.core('1').proposeConfChange({ type: 'removePeer', peer: '3' });
    net.stabilize();
    for (const id of ['1', '2']) expect(net.core(id).confState()).toEqual({ voters: ['1', '2'], learners: [] });
    const term = net.core('1').term;
    net.core('1').propose(text('a'));
    net.stabilize();
    net.heartbeat();
    expect(net.appliedData('2')).toEqual(['a']);
    expect(net.appliedData('3')).toEqual([]);
    // Two voters now: both are needed.
    net.isolate('2');
    net.core('1').propose(text('b'));
    net.stabilize();
    expect(net.appliedData('1')).toEqual(['a']);
    net.heal();
    for (let i = 0; i < 10 * T; i++) {
      net.tickAll(1);
      net.stabilize();
    }
    expect(net.core('1').status()).toMatchObject({ role: 'leader', term });
    expect(net.appliedData('2')).toEqual(['a', 'b']);
  });

  // Thesis §4.2.2: "the leader steps down (returns to follower state) once it has committed the
  // Cnew log entry" when it is not part of the new configuration.
  test('thesis §4.2.2 a leader that removes itself steps down once the change commits; the rest elect a leader', () => {
    const net = new RaftNetwork(ids(3), {}, 'remove-leader');
    net.elect('1');
    const term = net.core('1').term;
    net.core('1').proposeConfChange({ type: 'removePeer', peer: '1' });
    net.stabilize();
    expect(net.core('1').role).toBe('follower');
    expect(net.core('1').isMember()).toBe(false);
    for (const id of ['2', '3']) expect(net.core(id).confState()).toEqual({ voters: ['2', '3'], learners: [] });
    net.tickUntil(() => net.leader() !== undefined);
    const leader = net.leader() as PeerId;
    expect(['2', '3']).toContain(leader);
    expect(net.core(leader).term).toBeGreaterThan(term);
    net.core(leader).propose(text('after'));
    net.stabilize();
    net.heartbeat();
    expect(net.appliedData('2')).toEqual(['after']);
    expect(net.appliedData('3')).toEqual(['after']);
    expect(net.appliedData('1')).toEqual([]);
    // The removed server never campaigns.
    net.tick('1', 10 * T);
    expect(net.core('1').status()).toMatchObject({ role: 'follower', term: net.core('1').term });
    expect(ofType(net.queue, 'preVote').filter((m) => m.from === '1')).toEqual([]);
  });

  // Thesis §4.1: "Raft restricts the types of change that are allowed: only one server can be
  // added or removed from the cluster at a time" and "a leader ... must not begin another
  // configuration change until the previous one has been committed" (here: applied).
  test('thesis §4.1 one membership change at a time: a second one is refused until the first is applied', () => {
    const net = new RaftNetwork(ids(3), {}, 'one-at-a-time');
    net.elect('1');
    net.core('1').proposeConfChange({ type: 'addLearner', peer: '4' });
    expect(() => net.core('1').proposeConfChange({ type: 'addLearner', peer: '5' })).toThrow(ConfChangeRefusedError);
    net.stabilize();
    net.core('1').proposeConfChange({ type: 'addLearner', peer: '5' });
    net.stabilize();
    expect(net.core('1').confState()).toEqual({ voters: ids(3), learners: ['4', '5'] });
    // Nonsense is refused too: the last voter, a learner that is not one, a member added twice.
    expect(() => net.core('1').proposeConfChange({ type: 'promoteLearner', peer: '2' })).toThrow(ConfChangeRefusedError);
    expect(() => net.core('1').proposeConfChange({ type: 'addLearner', peer: '4' })).toThrow(ConfChangeRefusedError);
    expect(() => net.core('1').proposeConfChange({ type: 'forceVoters', voters: ['1'] })).toThrow(ConfChangeRefusedError);

    // A new leader waits until it has applied everything before its term's first entry.
    const s = new Solo({ terms: [1, 1], term: 1, config: {} });
    s.becomeLeader();
    expect(() => s.core.proposeConfChange({ type: 'addLearner', peer: '4' })).toThrow(ConfChangeRefusedError);
    s.ackAll();
    expect(s.core.status().applied).toBe(3);
    s.core.proposeConfChange({ type: 'addLearner', peer: '4' });
    const solo = new Solo({ voters: ['1'] });
    solo.becomeLeader();
    expect(() => solo.core.proposeConfChange({ type: 'removePeer', peer: '1' })).toThrow(ConfChangeRefusedError);
  });
});

// ---- §8 Client interaction; thesis §6.4 ReadIndex ------------------------------------------------

describe('§8 client interaction (thesis §6.4 ReadIndex)', () => {
  // "Raft handles this by having each leader commit a blank no-op entry into the log at the start
  // of its term."
  test('§8 a new leader appends an empty entry of its term and replicates it', () => {
    const s = new Solo({ terms: [1, 1], term: 1 });
    s.core.campaign();
    s.drain();
    s.step(voteResp('2', '1', 2));
    const out = s.drain();
    expect(s.core.role).toBe('leader');
    const noop: Entry = { term: 2, index: 3, type: 'normal', data: new Uint8Array(0) };
    expect(out.entries).toEqual([noop]);
    expect(ofType(out.messages, 'app')).toEqual([append('1', '2', 2, { index: 2, logTerm: 1 }, [noop]), append('1', '3', 2, { index: 2, logTerm: 1 }, [noop])]);
  });

  // Thesis §6.4: "If the leader has not yet marked an entry from its current term committed, it
  // waits until it has done so." Then "the leader saves its current commit index in a local
  // variable readIndex", "sends a new round of heartbeats ... Once a majority of the cluster has
  // acknowledged, the leader knows it was the leader at the time it sent the heartbeats".
  test('thesis §6.4 a read waits for a heartbeat round acknowledged by a majority, then reads at the commit index', () => {
    const s = new Solo({ voters: ids(5) });
    s.becomeLeader();
    s.ackAll();
    const commit = s.core.status().commit;
    expect(commit).toBe(1);
    s.core.readIndex('r1');
    const out = s.drain();
    expect(out.readStates).toEqual([]);
    expect(ofType(out.messages, 'heartbeat').map((m) => [m.to, m.context])).toEqual([['2', 'r1'], ['3', 'r1'], ['4', 'r1'], ['5', 'r1']]);
    // A heartbeat response of another round, or a repeated one, does not count.
    s.step({ type: 'heartbeatResp', from: '2', to: '1', term: 1, context: '' });
    s.step({ type: 'heartbeatResp', from: '2', to: '1', term: 1, context: 'r1' });
    s.step({ type: 'heartbeatResp', from: '2', to: '1', term: 1, context: 'r1' });
    expect(s.drain().readStates).toEqual([]);
    s.step({ type: 'heartbeatResp', from: '3', to: '1', term: 1, context: 'r1' });
    expect(s.drain().readStates).toEqual([{ index: commit, context: 'r1' }]);
  });

  // Thesis §6.4: "...(if the leader is the only server in the cluster) ... it can respond".
  test('thesis §6.4 a single voter reads at once', () => {
    const s = new Solo({ voters: ['1'] });
    s.becomeLeader();
    expect(s.core.status().commit).toBe(1);
    s.core.readIndex('solo');
    const out = s.drain();
    expect(out.readStates).toEqual([{ index: 1, context: 'solo' }]);
    expect(out.messages).toEqual([]);
  });

  test('thesis §6.4 a new leader defers reads until an entry of its own term commits', () => {
    const s = new Solo({ terms: [1, 1], term: 1, commit: 1 });
    s.becomeLeader();
    expect(s.core.status()).toMatchObject({ term: 2, commit: 1, lastIndex: 3 });
    s.core.readIndex('early');
    let out = s.drain();
    // Reading at index 1 now could miss index 2, which may already be committed.
    expect(out.readStates).toEqual([]);
    expect(ofType(out.messages, 'heartbeat')).toEqual([]);
    out = s.ackAll(['2']);
    expect(s.core.status().commit).toBe(3);
    expect(ofType(out.messages, 'heartbeat').map((m) => [m.to, m.context])).toEqual([['2', 'early'], ['3', 'early']]);
    s.step({ type: 'heartbeatResp', from: '3', to: '1', term: 2, context: 'early' });
    expect(s.drain().readStates).toEqual([{ index: 3, context: 'early' }]);
  });

  // Thesis §6.4: "followers could also help offload the processing of read-only queries ... the
  // follower would send a request to the leader asking for the current readIndex".
  test('thesis §6.4 a follower\'s read goes through the leader and comes back with the leader\'s commit index', () => {
    const net = new RaftNetwork(ids(3), {}, 'follower-read');
    net.elect('1');
    net.core('1').propose(text('a'));
    net.stabilize();
    const commit = net.core('1').status().commit;
    net.core('2').readIndex('via-2');
    expect(net.peer('2').readStates).toEqual([]);
    net.stabilize();
    expect(net.peer('2').readStates).toEqual([{ index: commit, context: 'via-2' }]);
    expect(net.delivered.some((m) => m.type === 'heartbeat' && m.context === 'via-2')).toBe(true);
    // A follower that knows no leader cannot read.
    const lone = new Solo({ id: '2' });
    lone.core.readIndex('nobody');
    expect(lone.drain().readStates).toEqual([]);
    expect(lone.core.counters.droppedProposals).toBe(1);
  });

  // §8: "If the client's first choice is not the leader, that server will reject the client's
  // request and supply information about the most recent leader it has heard from". Here a
  // follower forwards the proposal to that leader instead; knowing none, it refuses.
  test('§8 a follower forwards proposals to the leader, and refuses them when it knows none', () => {
    const net = new RaftNetwork(ids(3), PAPER, 'forward');
    net.elect('1');
    net.core('3').propose(text('via-3'));
    net.stabilize();
    // The forwarding follower is sent the commit at once; 2 learns it from the next heartbeat.
    expect(net.appliedData('3')).toEqual(['via-3']);
    expect(net.appliedData('2')).toEqual([]);
    net.heartbeat();
    for (const id of ids(3)) expect(net.appliedData(id)).toEqual(['via-3']);
    const lone = new Solo({ id: '2' });
    expect(() => lone.core.propose(text('x'))).toThrow(NotLeaderError);
  });
});

// ---- Thesis §9.6 PreVote, §6.2 CheckQuorum and leases ------------------------------------------

describe('thesis §9.6 PreVote and §6.2 CheckQuorum', () => {
  // Thesis §9.6: "a server that has been partitioned from the cluster ... will time out and start
  // an election, incrementing its term ... when the partition heals, its term is higher and it
  // disrupts the cluster. PreVote: a candidate would first ask other servers whether its log was
  // up-to-date enough to get their vote. Only if the candidate believed it could get votes from a
  // majority of the cluster would it increment its term and start a normal election."
  test('thesis §9.6 with PreVote a partitioned server keeps its term, and on rejoining does not disrupt the leader', () => {
    const net = new RaftNetwork(ids(3), {}, 'prevote');
    net.elect('1');
    net.core('1').propose(text('a'));
    net.stabilize();
    const term = net.core('1').term;
    net.isolate('3');
    for (let i = 0; i < 10 * T; i++) {
      net.tickAll(1);
      net.stabilize();
    }
    expect(net.core('3').status()).toMatchObject({ role: 'preCandidate', term });
    net.core('1').propose(text('b'));
    net.stabilize();
    net.heal();
    net.tickUntil(() => net.core('3').lead === '1' && net.core('3').status().commit === net.core('1').status().commit);
    for (let i = 0; i < 5 * T; i++) {
      net.tickAll(1);
      net.stabilize();
    }
    expect(net.core('1').status()).toMatchObject({ role: 'leader', term });
    expect(net.core('3').status()).toMatchObject({ role: 'follower', term, leader: '1' });
    expect(net.appliedData('3')).toEqual(['a', 'b']);
  });

  // The problem PreVote solves, shown on the paper's algorithm.
  test('thesis §9.6 without PreVote the partitioned server\'s inflated term deposes the leader when it rejoins', () => {
    const net = new RaftNetwork(ids(3), PAPER, 'no-prevote');
    net.elect('1');
    const term = net.core('1').term;
    net.isolate('3');
    for (let i = 0; i < 10 * T; i++) {
      net.tickAll(1);
      net.stabilize();
    }
    expect(net.core('3').term).toBeGreaterThan(term + 3);
    net.heal();
    net.tickUntil(() => net.core('1').term > term);
    expect(net.core('1').role).not.toBe('leader');
  });

  // Thesis §6.2: "a leader steps down if an election timeout elapses without a successful round of
  // heartbeats to a majority of its cluster".
  test('thesis §6.2 CheckQuorum: a leader that hears from a majority stays; one cut off steps down within two election timeouts', () => {
    const net = new RaftNetwork(ids(3), {}, 'check-quorum');
    net.elect('1');
    const term = net.core('1').term;
    for (let i = 0; i < 5 * T; i++) {
      net.tickAll(1);
      net.stabilize();
    }
    expect(net.core('1').status()).toMatchObject({ role: 'leader', term });
    // One follower gone: still a majority.
    net.isolate('3');
    for (let i = 0; i < 5 * T; i++) {
      net.tick('1');
      net.tick('2');
      net.stabilize();
    }
    expect(net.core('1').status()).toMatchObject({ role: 'leader', term });
    net.isolate('1');
    let ticks = 0;
    while (net.core('1').role === 'leader' && ticks < 10 * T) {
      net.tick('1');
      net.stabilize();
      ticks++;
    }
    expect(ticks).toBeLessThanOrEqual(2 * T);
    expect(net.core('1').status()).toMatchObject({ role: 'follower', term, leader: '' });
    expect(() => net.core('1').propose(text('x'))).toThrow(NotLeaderError);
  });

  // Thesis §4.2.3: "if a server receives a RequestVote request within the minimum election
  // timeout of hearing from a current leader, it does not update its term or grant its vote".
  // With CheckQuorum (§6.2) this is the leader's lease. A transfer's vote (§3.10) is the exception.
  test('thesis §4.2.3 lease: a follower that hears from a leader ignores higher-term (pre)votes until an election timeout passes', () => {
    const s = new Solo({ id: '2', term: 1, config: { preVote: true, checkQuorum: true } });
    s.step(heartbeat('1', '2', 1));
    s.drain();
    s.step(vote('3', '2', 2, { index: 5, logTerm: 1 }, 'preVote'));
    s.step(vote('3', '2', 2, { index: 5, logTerm: 1 }));
    expect(s.core.status()).toMatchObject({ term: 1, vote: '', leader: '1' });
    expect(s.sent()).toEqual([]);
    // A leadership transfer's vote is not refused.
    s.step({ ...vote('3', '2', 2, { index: 5, logTerm: 1 }), force: true });
    expect(s.core.status()).toMatchObject({ term: 2, vote: '3' });
    expect(s.sent()).toEqual([voteResp('2', '3', 2)]);

    const t = new Solo({ id: '2', term: 1, config: { preVote: true, checkQuorum: true } });
    t.step(heartbeat('1', '2', 1));
    t.drain();
    for (let i = 0; i < T; i++) t.core.tick();
    t.drain();
    t.step(vote('3', '2', 2, { index: 5, logTerm: 1 }));
    expect(t.core.status()).toMatchObject({ term: 2, vote: '3' });
    expect(ofType(t.sent(), 'voteResp')).toEqual([voteResp('2', '3', 2)]);
  });
});

// ---- Thesis §3.10 leadership transfer ---------------------------------------------------------------

describe('thesis §3.10 leadership transfer', () => {
  // "1. The prior leader stops accepting new client requests. 2. The prior leader fully updates
  // the target server's log to match its own ... 3. The prior leader sends a TimeoutNow request to
  // the target server. This request has the same effect as the target server's election timer
  // firing".
  test('thesis §3.10 the transferee is brought up to date, then told to time out, and wins; proposals are refused meanwhile', () => {
    const net = new RaftNetwork(ids(3), {}, 'transfer');
    net.elect('1');
    net.isolate('3');
    net.core('1').propose(text('a'));
    net.core('1').propose(text('b'));
    net.stabilize();
    net.heal();
    const term = net.core('1').term;
    const last = net.core('1').status().lastIndex;
    net.core('1').transferLeadership('3');
    expect(net.core('1').status().leadTransferee).toBe('3');
    expect(() => net.core('1').propose(text('during'))).toThrow(ProposalDroppedError);
    net.stabilize();
    expect(net.leader()).toBe('3');
    expect(net.core('3').term).toBe(term + 1);
    expect(net.core('1').status()).toMatchObject({ role: 'follower', leader: '3', leadTransferee: '' });
    const timeoutNow = net.delivered.findIndex((m) => m.type === 'timeoutNow');
    const caughtUp = net.delivered.findIndex((m) => m.type === 'appResp' && m.from === '3' && !m.reject && m.index === last);
    expect(caughtUp).toBeGreaterThanOrEqual(0);
    expect(timeoutNow).toBeGreaterThan(caughtUp);
    net.core('3').propose(text('c'));
    net.stabilize();
    net.heartbeat();
    for (const id of ids(3)) expect(net.appliedData(id)).toEqual(['a', 'b', 'c']);
  });

  // "If the transfer does not complete within about an election timeout, the prior leader aborts
  // the transfer and resumes accepting client requests."
  test('thesis §3.10 a transfer that does not complete within an election timeout is aborted', () => {
    const net = new RaftNetwork(ids(3), {}, 'transfer-abort');
    net.elect('1');
    const term = net.core('1').term;
    net.isolate('3');
    net.core('1').transferLeadership('3');
    net.stabilize();
    expect(() => net.core('1').propose(text('during'))).toThrow(ProposalDroppedError);
    let ticks = 0;
    while (net.core('1').status().leadTransferee !== '' && ticks < 3 * T) {
      net.tickAll(1);
      net.stabilize();
      ticks++;
    }
    expect(ticks).toBeLessThanOrEqual(T);
    expect(net.core('1').status()).toMatchObject({ role: 'leader', term, leadTransferee: '' });
    net.core('1').propose(text('after'));
    net.stabilize();
    net.heartbeat();
    expect(net.appliedData('2')).toEqual(['after']);
  });
});

// ---- Force new cluster -----------------------------------------------------------------------------

describe('force-new-cluster (recovery when a quorum is lost for good)', () => {
  // Beyond the paper: etcd's and SwarmKit's --force-new-cluster, an operator's override of thesis
  // §4's rule that a configuration changes only through the log of a working majority. The
  // survivor keeps its committed log, drops what is uncommitted (it can never have been
  // acknowledged, §5.3), and writes a committed entry that makes it the only voter (§4: a
  // configuration is a log entry), so that it can win alone (§5.2) and make progress.
  test('thesis §4 (beyond it) a survivor restarted with forceNewCluster keeps its committed log, becomes the only voter and wins alone', () => {
    const net = new RaftNetwork(ids(3), {}, 'force-new-cluster');
    net.elect('1');
    net.core('1').propose(text('a'));
    net.core('1').propose(text('b'));
    net.stabilize();
    const commit = net.core('1').status().commit;
    // 2 and 3 are lost for good; an entry proposed now can never commit.
    net.remove('2');
    net.remove('3');
    net.core('1').propose(text('lost'));
    net.stabilize();
    expect(net.core('1').status()).toMatchObject({ commit, lastIndex: commit + 1 });

    net.restart('1', { forceNewCluster: true });
    const core = net.core('1');
    expect(core.confState()).toEqual({ voters: ['1'], learners: [] });
    net.stabilize();
    expect(core.status()).toMatchObject({ commit: commit + 1, applied: commit + 1, lastIndex: commit + 1 });
    expect(net.peer('1').storage.entries(commit + 1, commit + 2)[0]?.type).toBe('confChange');
    expect(net.appliedData('1')).toEqual(['a', 'b']);
    net.tickUntil(() => core.role === 'leader', 3 * T);
    core.propose(text('c'));
    net.stabilize();
    expect(net.appliedData('1')).toEqual(['a', 'b', 'c']);
    // The new configuration is in the log: it survives an ordinary restart.
    net.restart('1');
    net.stabilize();
    expect(net.core('1').confState()).toEqual({ voters: ['1'], learners: [] });
    net.tickUntil(() => net.core('1').role === 'leader', 3 * T);
  });
});

// ---- Bad input ---------------------------------------------------------------------------------------

describe('bad messages', () => {
  // Beyond the paper, which assumes well-formed RPCs (Figure 2): a message from the network is
  // untrusted input, and one that breaks Figure 2's shape (§5.3: entries follow prevLogIndex, of
  // terms no later than the leader's; Figure 13's snapshot fields) must be refused with
  // BadMessageError before any of it takes effect: no term change, no ack, no crash.
  const bytes = text('x');
  const BAD: Array<[string, unknown]> = [
    ['not an object', null],
    ['unknown type', { type: 'appendEntries', from: '1', to: '2', term: 9 }],
    ['negative term', { type: 'heartbeat', from: '1', to: '2', term: -1, commit: 0, context: '' }],
    ['fractional term', { type: 'heartbeat', from: '1', to: '2', term: 1.5, commit: 0, context: '' }],
    ['vote without its last log', { type: 'vote', from: '3', to: '2', term: 9, force: false }],
    ['entry data that is not bytes', { type: 'app', from: '1', to: '2', term: 9, index: 0, logTerm: 0, commit: 0, entries: [{ index: 1, term: 9, type: 'normal', data: 'x' }] }],
    ['entry of unknown type', { type: 'app', from: '1', to: '2', term: 9, index: 0, logTerm: 0, commit: 0, entries: [{ index: 1, term: 9, type: 'weird', data: bytes }] }],
    ['entry index out of sequence', { type: 'app', from: '1', to: '2', term: 9, index: 0, logTerm: 0, commit: 1, entries: [{ index: 5, term: 9, type: 'normal', data: bytes }] }],
    ['entry of a later term than its leader', { type: 'app', from: '1', to: '2', term: 9, index: 0, logTerm: 0, commit: 0, entries: [{ index: 1, term: 10, type: 'normal', data: bytes }] }],
    ['snapshot without index and term', { type: 'snap', from: '1', to: '2', term: 9, meta: { confState: { voters: [], learners: [] } }, offset: 0, totalBytes: 1, chunk: bytes }],
    ['snapshot chunk running past its total size', { type: 'snap', from: '1', to: '2', term: 9, meta: { index: 5, term: 9, confState: { voters: ['1'], learners: [] } }, offset: 0, totalBytes: 0, chunk: bytes }],
    ['forwarded proposal with a malformed entry', { type: 'prop', from: '3', to: '2', term: 0, entries: [{ type: 'normal', data: 'x' }] }],
  ];

  test.each(BAD)('Figure 2 a follower refuses a message with %s, throwing BadMessageError and changing nothing', (_what, m) => {
    const s = new Solo({ id: '2', terms: [1, 1], term: 1, commit: 1 });
    s.step(heartbeat('1', '2', 1, 1));
    s.drain();
    const before = s.core.status();
    expect(() => s.step(m as Message)).toThrow(BadMessageError);
    expect(s.core.status()).toEqual(before);
    expect(s.core.hasReady()).toBe(false);
  });

  test.each(BAD)('Figure 2 a leader refuses a message with %s, throwing BadMessageError and changing nothing', (_what, m) => {
    const s = new Solo({ id: '2', terms: [1, 1], term: 1, commit: 1 });
    s.becomeLeader();
    s.ackAll();
    const before = s.core.status();
    const message = typeof m === 'object' && m !== null ? { ...m, to: '2' } : m;
    expect(() => s.step(message as Message)).toThrow(BadMessageError);
    expect(s.core.status()).toEqual(before);
    expect(s.core.hasReady()).toBe(false);
  });
});

// ---- Figure 3: the properties, under random faults ------------------------------------------------

describe('Figure 3 properties (§5.2-§5.4.3) under random partitions, losses and restarts', () => {
  // "Election Safety: at most one leader can be elected in a given term. Log Matching: if two logs
  // contain an entry with the same index and term, then the logs are identical in all entries up
  // through the given index. Leader Completeness: if a log entry is committed in a given term,
  // then that entry will be present in the logs of the leaders for all higher-numbered terms.
  // State Machine Safety: if a server has applied a log entry at a given index to its state
  // machine, no other server will ever apply a different log entry for the same index."
  function check(net: RaftNetwork, leaders: Map<number, PeerId>, committed: Map<number, number>): void {
    const peers = [...net.peers.values()];
    for (const p of peers) {
      if (p.core.role !== 'leader') continue;
      const known = leaders.get(p.core.term);
      if (known !== undefined && known !== p.core.id) throw new Error(`Election Safety: ${known} and ${p.core.id} both lead term ${p.core.term}`);
      leaders.set(p.core.term, p.core.id);
    }
    const logs = peers.map((p) => ({ id: p.core.id, log: new Map(net.logOf(p.core.id)), peer: p }));
    for (const a of logs) {
      for (const b of logs) {
        if (a.id >= b.id) continue;
        let match = 0;
        for (const [index, term] of a.log) if (b.log.get(index) === term) match = Math.max(match, index);
        for (let i = 1; i <= match; i++) {
          const ta = a.log.get(i);
          const tb = b.log.get(i);
          if (ta !== undefined && tb !== undefined && ta !== tb) throw new Error(`Log Matching: ${a.id} and ${b.id} agree at ${match} but differ at ${i}`);
        }
      }
    }
    for (const { peer, log } of logs) {
      for (const e of peer.applied) {
        const term = committed.get(e.index);
        if (term !== undefined && term !== e.term) throw new Error(`State Machine Safety: index ${e.index} applied with terms ${term} and ${e.term}`);
        committed.set(e.index, e.term);
      }
      if (peer.core.role !== 'leader') continue;
      for (const [index, term] of committed) {
        if (term >= peer.core.term) continue;
        const first = peer.storage.firstIndex();
        if (index >= first && log.get(index) !== term) throw new Error(`Leader Completeness: leader ${peer.core.id} of term ${peer.core.term} lacks committed (${index}, ${term})`);
      }
    }
  }

  test.each([
    ['the paper\'s algorithm', PAPER],
    ['PreVote and CheckQuorum', {}],
  ])('Figure 3 properties hold over 30 seeds of random faults (%s), and the cluster converges once healed', (_name, config) => {
    for (let seed = 0; seed < 30; seed++) {
      const random = new SeededRandom(`figure3-${seed}`);
      const net = new RaftNetwork(ids(5), config, `figure3-${seed}`);
      const leaders = new Map<number, PeerId>();
      const committed = new Map<number, number>();
      const proposed: string[] = [];
      net.dropIf = () => random.chance(0.1);
      for (let step = 0; step < 300; step++) {
        const roll = random.float();
        if (roll < 0.6) {
          net.tickAll(1);
        } else if (roll < 0.8) {
          const leader = net.leader();
          if (leader !== undefined) {
            const value = `s${seed}-${step}`;
            try {
              net.core(leader).propose(text(value));
              proposed.push(value);
            } catch (error) {
              if (!(error instanceof ProposalDroppedError) && !(error instanceof NotLeaderError)) throw error;
            }
          }
        } else if (roll < 0.87) {
          net.isolate(random.pick(ids(5)));
        } else if (roll < 0.95) {
          net.heal();
        } else {
          net.restart(random.pick(ids(5)));
        }
        net.processAll();
        net.deliverWhere(() => random.chance(0.8));
        net.processAll();
        check(net, leaders, committed);
      }
      // Healed, without losses, the cluster settles on one leader and every peer applies the same
      // log. A proposal may be lost when its leader is deposed (§8: the client retries).
      net.dropIf = undefined;
      net.heal();
      let done = false;
      for (let attempt = 0; attempt < 5 && !done; attempt++) {
        net.tickUntil(() => {
          const leader = net.leader();
          return leader !== undefined && ids(5).every((id) => net.core(id).lead === leader && net.core(id).term === net.core(leader).term);
        }, 500);
        const value = `final-${attempt}`;
        net.core(net.leader() as PeerId).propose(text(value));
        proposed.push(value);
        for (let i = 0; i < 5 * T && !done; i++) {
          net.tickAll(1);
          net.stabilize();
          done = ids(5).every((id) => net.appliedData(id).includes(value));
        }
      }
      expect(done).toBe(true);
      check(net, leaders, committed);
      const applied = net.appliedData(net.leader() as PeerId);
      for (const id of ids(5)) expect(net.appliedData(id)).toEqual(applied);
      // Every value applied was proposed, and is applied once.
      expect(new Set(applied).size).toBe(applied.length);
      for (const value of applied) expect(proposed).toContain(value);
    }
  });
});

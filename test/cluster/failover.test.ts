// Failover with real node processes on loopback: three managers and two workers, each `swarm
// init|join|start` in its own OS process. The tests share one cluster and run in order:
//  1. formation: `swarm node ls` on every manager sees all five nodes, one leader, three managers;
//     on a worker it is refused;
//  2. kill -9 of the leader under a client workload of register writes and linearizable reads
//     (secret labels as registers): a survivor is elected, writes go on, and the whole history,
//     checked with the simulator's linearizability checker, is linearizable;
//  3. the killed manager restarts (`swarm start`) after the survivors compacted past its log, so it
//     can only catch up by a snapshot; it then serves the latest value;
//  4. a leader paused (SIGSTOP) past the election timeout while the others elect a leader and commit
//     a write never serves the older value after SIGCONT, and steps down.
// Every wait has a deadline; nothing asserts how long anything took.
import { checkLinearizable, formatHistoryOp, type HistoryOp } from '../../simulations/index.js';
import { Cluster, sleep, swarmCli, type NodeProcess } from './harness.js';
import { clusterHelpers, errorText, waitFor } from './helpers.js';

const MANAGERS = ['m1', 'm2', 'm3'] as const;
const WORKERS = ['w1', 'w2'] as const;
const RAFT_ARGS = ['--snapshot-interval', '50', '--snapshot-keep', '10'];
const K = 5;
const CLIENTS = 4;
const TEST_TIMEOUT_MS = 180_000;

interface RaftDebug {
  id: string;
  role: string;
  leader: string;
  term: number;
  commit: number;
  applied: number;
  lastIndex: number;
  appliedIndex: number;
  /** Synced batches this manager's journal has written since it started (its fsyncs). */
  syncedLogWrites: number;
  counters: { leaderGoneElections: number };
  voters: string[];
  progress: Record<string, { match: number; next: number; state: string }>;
}

interface SecretJson {
  ID: string;
  Version: { Index: number };
  Spec: { Name: string; Labels: Record<string, string> };
}

let cluster: Cluster;
const ids = new Map<string, string>();
/** Register name (the secret's name) -> secret id. */
const registers = new Map<string, string>();
/** The manager killed in test 2, and its process as it was before the restart. */
let killed: string | undefined;
let killedProcess: NodeProcess | undefined;

const { withLogs } = clusterHelpers(() => cluster, { replaced: () => (killedProcess === undefined ? [] : [killedProcess]) });

async function raft(name: string, timeoutMs = 3000): Promise<RaftDebug> {
  return cluster.request<RaftDebug>(name, 'GET', '/debug/raft', undefined, timeoutMs);
}

/** Waits until one of `names` leads and every voter's progress there is 'replicate', caught up to its commit. */
async function waitReplicating(names: readonly string[], timeoutMs = 30_000): Promise<RaftDebug> {
  return waitFor(`a leader among ${names.join(', ')} replicating to every voter`, timeoutMs, async () => {
    const status = await raft(await cluster.leader(names, 5000));
    const steady = status.role === 'leader' && status.voters.length === names.length
      && status.voters.every((v) => status.progress[v]?.state === 'replicate' && status.progress[v]!.match >= status.commit);
    return steady ? status : undefined;
  }, { intervalMs: 100 });
}

/** A write acknowledged by `name`, retried on refusals until `timeoutMs` (each try may or may not have applied). */
async function writeAcked(name: string, register: string, value: string, timeoutMs = 30_000): Promise<void> {
  const id = registers.get(register)!;
  await waitFor(`write ${register}=${value} through ${name}`, timeoutMs, async () => {
    await cluster.request(name, 'POST', `/secrets/${id}/update`, { Labels: { v: value } }, 12_000);
    return true;
  }, { intervalMs: 200 });
}

async function readRegister(name: string, register: string, timeoutMs = 8000): Promise<string | null> {
  const secret = await cluster.request<SecretJson>(name, 'GET', `/secrets/${registers.get(register)!}`, undefined, timeoutMs);
  return secret.Spec.Labels['v'] ?? null;
}

/** Parses `swarm node ls`'s table by its header's column starts. */
function parseNodeTable(stdout: string): Array<Record<string, string>> {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0] ?? '';
  const columns = ['ID', 'NAME', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ADDRESS'];
  const starts = columns.map((c) => header.indexOf(c));
  if (starts.some((s) => s < 0)) throw new Error(`swarm node ls: unexpected header '${header}'`);
  return lines.slice(1).map((line) => Object.fromEntries(columns.map((c, i) => [c, line.slice(starts[i], i + 1 < columns.length ? starts[i + 1] : undefined).trim()])));
}

/** The last index in a stopped manager's journal (`swarm journal dump`). */
async function journalLastIndex(stateDir: string): Promise<{ last: number; snapshot: number; text: string }> {
  const dump = await swarmCli(['journal', 'dump', '--state-dir', stateDir, '--tail', '1']);
  if (dump.code !== 0) throw new Error(`swarm journal dump --state-dir ${stateDir} failed (${dump.code}): ${dump.stderr}`);
  const entries = /entries: \d+ \((\d+)\.\.(\d+)\)/.exec(dump.stdout);
  const snapshot = /snapshot: index (\d+)/.exec(dump.stdout);
  if (entries === null || snapshot === null) throw new Error(`swarm journal dump: unexpected output:\n${dump.stdout}`);
  return { last: Math.max(Number(entries[2]), Number(snapshot[1])), snapshot: Number(snapshot[1]), text: dump.stdout };
}

describe('failover with real node processes', () => {
  beforeAll(() => {
    cluster = new Cluster('failover');
  });

  afterAll(async () => {
    await cluster.stopAll();
  }, 60_000);

  test('formation: three managers and two workers; node ls on every manager, refused on a worker', () => withLogs(async () => {
    const first = await cluster.start('m1', ['init', ...RAFT_ARGS]);
    const tokens = (await cluster.request<{ JoinTokens: { Worker: string; Manager: string } }>('m1', 'GET', '/swarm')).JoinTokens;
    for (const name of MANAGERS.slice(1)) {
      // A manager joins a group whose voters all replicate: right after a voter was added the leader may step
      // down until the new voter answers, and a manager join in that window is refused with NO_LEADER.
      await waitReplicating(MANAGERS.slice(0, MANAGERS.indexOf(name)));
      await cluster.start(name, ['join', '--token', tokens.Manager, first.addr, ...RAFT_ARGS]);
    }
    await waitReplicating([...MANAGERS]);
    for (const name of WORKERS) await cluster.start(name, ['join', '--token', tokens.Worker, first.addr, ...RAFT_ARGS]);
    for (const name of [...MANAGERS, ...WORKERS]) {
      const info = await cluster.request<{ Swarm: { NodeID: string; Role: string } }>(name, 'GET', '/info');
      ids.set(name, info.Swarm.NodeID);
      expect(info.Swarm.Role).toBe(MANAGERS.includes(name as (typeof MANAGERS)[number]) ? 'manager' : 'worker');
    }
    const everyone = [...MANAGERS, ...WORKERS].sort();
    for (const name of MANAGERS) {
      // A manager that joined last may see the others' registrations a moment later: wait for the full view.
      const rows = await waitFor(`swarm node ls on ${name} listing 5 nodes, one leader and 3 managers, all Ready`, 30_000, async () => {
        const ls = await swarmCli(['node', 'ls', '--state-dir', cluster.node(name).stateDir]);
        if (ls.code !== 0) throw new Error(`exit ${ls.code}: ${ls.stderr}`);
        const table = parseNodeTable(ls.stdout);
        const leaders = table.filter((r) => r['MANAGER STATUS'] === 'Leader').length;
        const managers = table.filter((r) => r['MANAGER STATUS'] !== '').length;
        // Every node Ready: its agent has a session with the leader (a node is Unknown until then).
        const ready = table.every((r) => r['STATUS'] === 'Ready');
        return table.length === 5 && leaders === 1 && managers === 3 && ready ? table : undefined;
      }, { intervalMs: 250 });
      expect(rows.map((r) => r['NAME']).sort()).toEqual(everyone);
      expect(rows.filter((r) => r['MANAGER STATUS'] === 'Leader')).toHaveLength(1);
      expect(rows.filter((r) => r['MANAGER STATUS'] !== '').map((r) => r['NAME']).sort()).toEqual([...MANAGERS].sort());
      for (const r of rows) expect(r['STATUS']).toBe('Ready');
      // The row of the node asked is marked with '*'.
      expect(rows.find((r) => r['ID']!.endsWith('*'))?.['NAME']).toBe(name);
    }
    for (const name of WORKERS) {
      const ls = await swarmCli(['node', 'ls', '--state-dir', cluster.node(name).stateDir]);
      expect(ls.code).not.toBe(0);
      expect(ls.stderr).toMatch(/not a swarm manager/i);
    }
  }), TEST_TIMEOUT_MS);

  test('kill -9 of the leader under a client workload: a survivor leads, writes go on, the history is linearizable', () => withLogs(async () => {
    const history: HistoryOp[] = [];
    let nextId = 0;
    // The registers: K secrets whose label `v` is the value; creation is the first write of each.
    const leader = await cluster.leader([...MANAGERS]);
    const synced = new Map(await Promise.all(MANAGERS.map(async (m) => [m, (await raft(m)).syncedLogWrites] as const)));
    for (let i = 0; i < K; i++) {
      const name = `reg-${i}`;
      const value = `init-${i}`;
      const invokedAt = Date.now();
      const { ID } = await cluster.request<{ ID: string }>(leader, 'POST', '/secrets/create', { Name: name, Data: Buffer.from(`secret ${i}`).toString('base64'), Labels: { v: value } });
      history.push({ id: nextId++, client: 'setup', op: { kind: 'write', key: name, value }, invokedAt, completedAt: Date.now() });
      registers.set(name, ID);
    }
    // Every manager made the new entries durable: /debug/raft counts its journal's synced writes.
    for (const m of MANAGERS) {
      await waitFor(`${m} counting synced journal writes for the registers`, 10_000, async () => {
        const now = (await raft(m)).syncedLogWrites;
        expect(Number.isInteger(now)).toBe(true);
        return now > synced.get(m)! ? now : undefined;
      }, { intervalMs: 100 });
    }
    const names = [...registers.keys()];
    const live = new Set<string>(MANAGERS);
    const stats = { ackedWrites: 0, indeterminateWrites: 0, okReads: 0, failedReads: 0, errors: new Map<string, number>() };
    /** Writes that ended in the node's write timeout, by the manager they were sent to. */
    const writeTimeouts: string[] = [];
    let stop = false;
    const hardDeadline = Date.now() + 100_000;
    const OPS_MAX = 600;

    const client = async (c: number): Promise<void> => {
      const clientName = `c${c}`;
      for (let n = 0; n < OPS_MAX && !stop && Date.now() < hardDeadline; n++) {
        const targets = [...live];
        const target = targets[Math.floor(Math.random() * targets.length)]!;
        const key = names[Math.floor(Math.random() * names.length)]!;
        const id = registers.get(key)!;
        const invokedAt = Date.now();
        if (Math.random() < 0.5) {
          const value = `${clientName}-${n}`;
          const entry: HistoryOp = { id: nextId++, client: `${clientName}@${target}`, op: { kind: 'write', key, value }, invokedAt };
          history.push(entry);
          try {
            await cluster.request(target, 'POST', `/secrets/${id}/update`, { Labels: { v: value } }, 12_000);
            entry.completedAt = Date.now();
            stats.ackedWrites++;
          } catch (error) {
            // Whatever the refusal, it may have applied: indeterminate (completedAt stays undefined).
            stats.indeterminateWrites++;
            const code = (error as { code?: string }).code ?? '?';
            stats.errors.set(`write ${code}`, (stats.errors.get(`write ${code}`) ?? 0) + 1);
            if (code === 'TIMEOUT') writeTimeouts.push(target);
          }
        } else {
          const entry: HistoryOp = { id: nextId++, client: `${clientName}@${target}`, op: { kind: 'read', key }, invokedAt };
          history.push(entry);
          try {
            const secret = await cluster.request<SecretJson>(target, 'GET', `/secrets/${id}`, undefined, 8000);
            entry.completedAt = Date.now();
            entry.output = secret.Spec.Labels['v'] ?? null;
            stats.okReads++;
          } catch (error) {
            entry.completedAt = Date.now();
            entry.failed = true;
            stats.failedReads++;
            const code = (error as { code?: string }).code ?? '?';
            stats.errors.set(`read ${code}`, (stats.errors.get(`read ${code}`) ?? 0) + 1);
          }
        }
        await sleep(5);
      }
    };

    const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
    let killedAt = 0;
    let newLeader = '';
    try {
      // Let the workload run against the healthy cluster first.
      await waitFor('acknowledged writes before the kill', 30_000, async () => (stats.ackedWrites >= 30 && stats.okReads >= 30 ? true : undefined), { intervalMs: 100 });
      const old = await cluster.leader([...MANAGERS]);
      killed = old;
      live.delete(old);
      await cluster.kill(old, 'SIGKILL');
      killedAt = Date.now();
      const survivors = MANAGERS.filter((m) => m !== old);
      newLeader = await cluster.leader(survivors, 30_000);
      expect(survivors).toContain(newLeader);
      // The killed leader's address refused the survivors' reconnects: they campaigned on that hint
      // instead of waiting out the election timeout (RaftCore.leaderGone).
      const hinted = await Promise.all(survivors.map(async (name) => (await raft(name)).counters.leaderGoneElections));
      expect(hinted.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      // Writes after the kill: enough of them that the survivors also move well past the killed node's log.
      await waitFor('acknowledged writes after the kill', 60_000, async () => {
        const after = history.filter((h) => h.op.kind === 'write' && h.invokedAt > killedAt && h.completedAt !== undefined).length;
        return after >= 80 ? true : undefined;
      }, { intervalMs: 200 });
    } finally {
      stop = true;
      await Promise.all(clients);
    }
    // A final linearizable read of every register, through each survivor, closes the history.
    for (const key of names) {
      for (const name of live) {
        const read = await waitFor(`a final read of ${key} through ${name}`, 30_000, async () => {
          const invokedAt = Date.now();
          const output = await readRegister(name, key);
          return { invokedAt, completedAt: Date.now(), output };
        }, { intervalMs: 200 });
        history.push({ id: nextId++, client: `final@${name}`, op: { kind: 'read', key }, ...read });
      }
    }
    const ackedAfterKill = history.filter((h) => h.op.kind === 'write' && h.invokedAt > killedAt && h.completedAt !== undefined).length;
    const summary = `killed ${killed} (${ids.get(killed!)}), new leader ${newLeader}; ${history.length} ops: ${stats.ackedWrites} acknowledged writes (${ackedAfterKill} after the kill), `
      + `${stats.indeterminateWrites} indeterminate, ${stats.okReads} reads, ${stats.failedReads} failed reads; errors ${JSON.stringify([...stats.errors])}`;
    console.log(summary);
    expect(ackedAfterKill).toBeGreaterThan(0);
    // A write a survivor had forwarded to the killed leader is proposed again to the new one when
    // the survivor learns of it: it is answered then, not by the write timeout (10 s).
    expect(writeTimeouts.filter((target) => target !== killed)).toEqual([]);
    const verdict = checkLinearizable(history);
    if (!verdict.ok) {
      const f = verdict.failure!;
      const around = history.filter((h) => h.op.key === f.key).sort((a, b) => a.invokedAt - b.invokedAt).map(formatHistoryOp);
      throw new Error(`not linearizable: key ${f.key}: ${f.message}\n${f.ops.map(formatHistoryOp).join('\n')}\n\nevery op of ${f.key}:\n${around.join('\n')}\n\n${summary}`);
    }
    expect(verdict.timedOutKeys).toEqual([]);
    expect(verdict.ok).toBe(true);
  }), TEST_TIMEOUT_MS);

  test('the killed manager restarts and catches up by a snapshot past the compacted log', () => withLogs(async () => {
    const name = killed!;
    const nodeId = ids.get(name)!;
    const survivors = MANAGERS.filter((m) => m !== name);
    // Its journal, as the kill left it.
    const before = await journalLastIndex(cluster.node(name).stateDir);
    // The survivors move far enough past it (snapshot every 50 entries, 10 kept) that their logs no longer hold
    // what follows its last entry.
    let leader = await cluster.leader(survivors, 30_000);
    const target = before.last + 150;
    // Bounded in rounds and time, not by an expected number of entries per round: the writes that
    // reach the leader in one turn of its event loop share one entry, so a round of 10 makes from
    // 1 to 10 entries, depending on the machine's speed.
    const fillDeadline = Date.now() + 60_000;
    for (let round = 0; round < 1000 && Date.now() < fillDeadline && (await raft(leader)).commit < target; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => writeAcked(leader, 'reg-0', `fill-${round}-${i}`)));
      leader = await cluster.leader(survivors, 30_000);
    }
    const leaderBefore = await raft(leader);
    expect(leaderBefore.commit).toBeGreaterThanOrEqual(target);
    const latest = `latest-${Date.now()}`;
    await writeAcked(leader, 'reg-0', latest);

    killedProcess = cluster.node(name);
    const restarted = await cluster.start(name, ['start']);
    expect(restarted.output).toMatch(/started as a manager/);
    const commitAfterRestart = (await raft(await cluster.leader(survivors, 30_000))).commit;
    const statesSeen = new Set<string>();
    // Caught up: its Raft peer committed and applied up to the leader's commit as read after the restart.
    const caughtUp = await waitFor(`${name} applying up to the leader's commit ${commitAfterRestart}`, 60_000, async () => {
      const l = await cluster.leader([...MANAGERS], 5000);
      const progress = (await raft(l)).progress[nodeId];
      if (progress !== undefined) statesSeen.add(progress.state);
      const mine = await raft(name);
      return mine.commit >= commitAfterRestart && mine.applied >= commitAfterRestart ? mine : undefined;
    }, { intervalMs: 20 });
    expect(caughtUp.role).toBe('follower');
    expect(caughtUp.voters).toHaveLength(3);
    // Its applied index jumped past entries the leader had compacted (snapshot every 50 entries, 10 kept, and the
    // survivors committed 150 entries past its journal): only a snapshot could have brought it there.
    expect(caughtUp.applied).toBeGreaterThan(before.last + 150);
    console.log(`${name}: journal before the restart ended at ${before.last} (snapshot ${before.snapshot}); leader commit ${leaderBefore.commit} before, `
      + `${commitAfterRestart} after the restart; ${name} then at ${JSON.stringify({ commit: caughtUp.commit, applied: caughtUp.applied, appliedIndex: caughtUp.appliedIndex })}; `
      + `its progress states seen at the leader: ${[...statesSeen].join(', ')}`);
    expect(restarted.output).not.toMatch(/fatal|invariant|control API:/i);
    expect(restarted.child.exitCode).toBeNull();
    // A linearizable read through the restarted manager serves the latest value.
    expect(await readRegister(name, 'reg-0')).toBe(latest);
    // That read waited until the manager state applied the leader's commit: /debug/raft's appliedIndex says so too.
    const after = await raft(name);
    if (after.appliedIndex < commitAfterRestart) {
      throw new Error(`${name}: /debug/raft appliedIndex ${after.appliedIndex} is below the leader's commit ${commitAfterRestart} although a linearizable read `
        + `through it already served ${latest} (raft applied ${after.applied}): the manager view's appliedIndex is stale`);
    }
  }), TEST_TIMEOUT_MS);

  test('a paused leader resumed after a new election never serves the older value, and steps down', () => withLogs(async () => {
    const old = await cluster.leader([...MANAGERS], 30_000);
    const others = MANAGERS.filter((m) => m !== old);
    const before = `before-pause-${Date.now()}`;
    await writeAcked(old, 'reg-1', before);
    expect(await readRegister(old, 'reg-1')).toBe(before);
    const oldTerm = (await raft(old)).term;

    await cluster.kill(old, 'SIGSTOP');
    const stoppedAt = Date.now();
    let resumed = false;
    try {
      const next = await cluster.leader(others, 30_000);
      const x = `x-${Date.now()}`;
      await writeAcked(next, 'reg-1', x);
      expect(await readRegister(next, 'reg-1')).toBe(x);
      const nextTerm = (await raft(next)).term;
      expect(nextTerm).toBeGreaterThan(oldTerm);
      // Paused for longer than an election timeout (10-20 ticks of 100 ms), 4 s at least.
      const left = stoppedAt + 4000 - Date.now();
      if (left > 0) await sleep(left);
      await cluster.kill(old, 'SIGCONT');
      resumed = true;

      // Reads through the old leader at once, and over about two seconds: never the older value.
      const reads: Array<{ at: number; value?: string | null; error?: string }> = [];
      const windowEnd = Date.now() + 2000;
      while (Date.now() < windowEnd) {
        const results = await Promise.all(Array.from({ length: 3 }, async () => {
          try {
            return { at: Date.now(), value: await readRegister(old, 'reg-1', 6000) };
          } catch (error) {
            return { at: Date.now(), error: errorText(error) };
          }
        }));
        reads.push(...results);
        await sleep(100);
      }
      const served = reads.filter((r) => r.error === undefined);
      for (const r of served) expect({ read: r.value, reads }).toEqual({ read: x, reads });
      // And it does serve reads again (of X) once it has rejoined.
      const later = await waitFor(`a read through ${old} after SIGCONT`, 20_000, async () => readRegister(old, 'reg-1', 6000), { intervalMs: 200 });
      expect(later).toBe(x);
      // It stepped down: a follower of a later term.
      const status = await waitFor(`${old} a follower`, 15_000, async () => {
        const s = await raft(old);
        return s.role === 'follower' ? s : undefined;
      }, { intervalMs: 100 });
      expect(status.term).toBeGreaterThanOrEqual(nextTerm);
      expect(status.leader).not.toBe(ids.get(old));
      console.log(`paused ${old} (term ${oldTerm}); ${next} led term ${nextTerm}; ${reads.length} reads through ${old} after SIGCONT, ${served.length} served `
        + `(${served.map((r) => r.value).join(', ')}), errors ${JSON.stringify(reads.filter((r) => r.error !== undefined).map((r) => r.error))}`);
    } finally {
      if (!resumed) cluster.node(old).child.kill('SIGCONT');
    }
  }), TEST_TIMEOUT_MS);
});

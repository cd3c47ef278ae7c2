// Orchestration end to end with real node processes on loopback: one manager and two workers,
// each `swarm init|join` in its own OS process, every node running its agent over the process
// executor. The tests share one cluster and run in order:
//  1. formation: `swarm node ls` shows all three nodes Ready (their agents heartbeat);
//  2. a replicated service of 3 replicas whose command is a small long-running Node script,
//     created through the control API in Docker's shape: 3 tasks reach `running`, each backed by a
//     real OS process in its node's tasks/ directory;
//  3. kill -9 of a worker that runs a task: its node goes Down within about three heartbeat
//     periods, and its task is replaced on the other nodes, so that 3 run again;
//  4. scale to 1: the two tasks scaled away are shut down and their OS processes are gone;
//  5. a worker's certificate reaches the dispatcher only with its agent's messages, for itself:
//     other destinations, other message kinds and another node's name are refused;
//  6. `swarm leave` on a worker that runs a task: its process is stopped and its directory removed.
// The cluster's heartbeat period is 1 s (`swarm init --dispatcher-heartbeat 1s`).
// Every wait has a deadline.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { splitPem } from '../../cli/index.js';
import { ClusterTransport } from '../../runtime/env/real/index.js';
import { Cluster, swarmCli } from './harness.js';
import { clusterHelpers, taskProcessRuns, waitFor, type TaskJson } from './helpers.js';

const HEARTBEAT_PERIOD_MS = 1_000;
const TEST_TIMEOUT_MS = 120_000;
/** A task's script: prints a line it can be recognised by, then runs until it is stopped. */
const MARKER = 'swarm-orchestration-test-task';
const SCRIPT = `console.log('${MARKER}', process.pid); setInterval(() => {}, 1000);`;

interface NodeJson {
  ID: string;
  Description: { Hostname: string; Platform: { OS: string; Architecture: string }; Resources: { NanoCPUs: number; MemoryBytes: number } };
  Spec: { Name: string; Role: string };
  Status: { State: string; Message?: string };
}

let cluster: Cluster;
let serviceId = '';
/** The worker killed in test 3 and the pids its tasks had then (they outlive it: see afterAll). */
let killed = '';

/** Node name -> node id, and back (ids, names), and the helpers bound to the cluster. */
const { ids, names, startSwarm, api, withLogs, tasksOf, describeTasks, running, createService, updateService } = clusterHelpers(() => cluster, {
  runningTimeoutMs: 30_000, endedTasksLive: true, tailLines: 30,
});

let lastTasks: TaskJson[] = [];
const showTasks = (): string => `tasks:\n${describeTasks(lastTasks)}`;

/** What the node's process executor recorded for a task: its directory, pid and output. */
function workload(node: string, taskId: string): { dir: string; pid: number | null; stdout: string } {
  const dir = path.join(cluster.node(node).stateDir, 'tasks', taskId);
  const record = JSON.parse(readFileSync(path.join(dir, 'workload.json'), 'utf8')) as { pid: number | null };
  let stdout = '';
  try {
    stdout = readFileSync(path.join(dir, 'stdout.log'), 'utf8');
  } catch {
    // nothing printed yet
  }
  return { dir, pid: record.pid, stdout };
}

/** The process runs (a zombie has ended), and its command line is the task's script (without /proc, kill(pid, 0) is all there is). */
const taskProcessAlive = (pid: number): boolean => taskProcessRuns(pid, MARKER, true);

/** `swarm node ls` on m1 as rows of its table. */
async function nodeLs(): Promise<Array<Record<string, string>>> {
  const ls = await swarmCli(['node', 'ls', '--state-dir', cluster.node('m1').stateDir]);
  if (ls.code !== 0) throw new Error(`swarm node ls exited ${ls.code}: ${ls.stderr}`);
  const lines = ls.stdout.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]!;
  const columns = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], start: m.index }));
  return lines.slice(1).map((line) => Object.fromEntries(columns.map((c, i) => [c.name, line.slice(c.start, columns[i + 1]?.start ?? line.length).trim()])));
}

beforeAll(async () => {
  cluster = new Cluster('orchestration');
  await startSwarm(['w1', 'w2'], { extra: ['--dispatcher-heartbeat', `${HEARTBEAT_PERIOD_MS}ms`] });
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  if (cluster === undefined) return;
  // Task processes outlive their node process (as containers outlive a dead agent): stopAll ends
  // the node processes first, so that no agent starts a task again, then every task process recorded.
  await cluster.stopAll();
}, TEST_TIMEOUT_MS);

describe('orchestration across real node processes', () => {
  test('every node is Ready: its agent keeps a session with the leader', () => withLogs(async () => {
    const rows = await waitFor('swarm node ls with 3 nodes, all Ready', 30_000, async () => {
      const table = await nodeLs();
      return table.length === 3 && table.every((r) => r['STATUS'] === 'Ready') ? table : undefined;
    }, { intervalMs: 100 });
    expect(rows.map((r) => r['NAME']).sort()).toEqual(['m1', 'w1', 'w2']);
    const nodes = await api<NodeJson[]>('GET', '/nodes');
    const architecture = ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[process.arch] ?? process.arch;
    for (const node of nodes) {
      // Described in Docker's words: the kernel's architecture name, nano-CPUs and bytes.
      expect(node.Description.Platform).toEqual({ OS: process.platform, Architecture: architecture });
      expect(node.Description.Resources.NanoCPUs).toBeGreaterThanOrEqual(1e9);
      expect(node.Description.Resources.MemoryBytes).toBeGreaterThan(0);
    }
  }), TEST_TIMEOUT_MS);

  test('a replicated service of 3: 3 tasks running, each a real OS process on its node', () => withLogs(async () => {
    serviceId = await createService({
      Name: 'ticker',
      TaskTemplate: {
        ContainerSpec: { Command: [process.execPath], Args: ['-e', SCRIPT], Env: ['TICKER=1'] },
        RestartPolicy: { Condition: 'any', Delay: 0 },
        Runtime: 'process',
      },
      Mode: { Replicated: { Replicas: 3 } },
    });
    const up = await running(serviceId, 3, ['m1', 'w1', 'w2']);
    expect(new Set(up.map((t) => t.Slot))).toEqual(new Set([1, 2, 3]));
    for (const task of up) {
      const node = names.get(task.NodeID)!;
      const w = workload(node, task.ID);
      expect(w.pid).not.toBeNull();
      expect(taskProcessAlive(w.pid!)).toBe(true);
      const printed = await waitFor(`task ${task.ID}'s output`, 10_000, async () => {
        const out = workload(node, task.ID).stdout;
        return out.includes(MARKER) ? out : undefined;
      }, { intervalMs: 100 });
      expect(printed.trim()).toBe(`${MARKER} ${w.pid}`);
    }
  }), TEST_TIMEOUT_MS);

  test('kill -9 of a worker: its node goes Down within about 3 heartbeat periods and its task runs elsewhere', () => withLogs(async () => {
    const before = await running(serviceId, 3, ['m1', 'w1', 'w2']);
    const victim = ['w2', 'w1'].find((name) => before.some((t) => t.NodeID === ids.get(name)));
    expect(victim).toBeDefined();
    killed = victim!;
    const survivors = ['m1', 'w1', 'w2'].filter((n) => n !== killed);
    const lost = before.filter((t) => t.NodeID === ids.get(killed));
    const kept = before.filter((t) => t.NodeID !== ids.get(killed));

    const killedAt = Date.now();
    await cluster.kill(killed, 'SIGKILL');
    // Declared down after 3 missed periods; the deadline allows for the period's jitter, the
    // proposal's commit and the polling.
    await waitFor(`${killed} Down`, 3 * HEARTBEAT_PERIOD_MS + 5_000, async () => {
      const node = (await api<NodeJson[]>('GET', '/nodes')).find((n) => n.ID === ids.get(killed));
      return node?.Status.State === 'down' ? node : undefined;
    }, { intervalMs: 50 });
    const downAfterMs = Date.now() - killedAt;
    expect(downAfterMs).toBeGreaterThanOrEqual(HEARTBEAT_PERIOD_MS); // not before its heartbeats could have been missed

    const after = await running(serviceId, 3, survivors);
    console.log(`killed ${killed}: Down after ${downAfterMs} ms, 3 tasks running again after ${Date.now() - killedAt} ms (heartbeat period ${HEARTBEAT_PERIOD_MS} ms)`);
    // The tasks on the survivors were left alone; the lost slots got new tasks.
    for (const task of kept) expect(after.map((t) => t.ID)).toContain(task.ID);
    for (const task of lost) {
      expect(after.map((t) => t.ID)).not.toContain(task.ID);
      expect(after.some((t) => t.Slot === task.Slot)).toBe(true);
    }
    lastTasks = await tasksOf(serviceId);
    for (const task of lost) expect(lastTasks.find((t) => t.ID === task.ID)).toMatchObject({ DesiredState: 'shutdown', Status: { State: 'orphaned' } });
    for (const task of after) expect(taskProcessAlive(workload(names.get(task.NodeID)!, task.ID).pid!)).toBe(true);

    const rows = await nodeLs();
    expect(rows.map((r) => r['STATUS']).sort()).toEqual(['Down', 'Ready', 'Ready']);
  }), TEST_TIMEOUT_MS);

  test('scale to 1: two tasks shut down and their OS processes are gone', () => withLogs(async () => {
    expect(killed).not.toBe('');
    const survivors = ['m1', 'w1', 'w2'].filter((n) => n !== killed);
    const before = await running(serviceId, 3, survivors);
    const pids = new Map(before.map((t) => [t.ID, workload(names.get(t.NodeID)!, t.ID).pid!]));
    await updateService(serviceId, (spec) => ({ ...spec, Mode: { Replicated: { Replicas: 1 } } }));

    const [remaining] = await running(serviceId, 1, survivors);
    const stopped = before.filter((t) => t.ID !== remaining!.ID);
    expect(stopped).toHaveLength(2);
    await waitFor('the scaled-away tasks shut down and their processes gone', 30_000, async () => {
      lastTasks = await tasksOf(serviceId);
      const done = stopped.every((t) => {
        const now = lastTasks.find((x) => x.ID === t.ID);
        return (now === undefined || now.Status.State === 'shutdown') && !taskProcessAlive(pids.get(t.ID)!);
      });
      return done ? true : undefined;
    }, { describe: showTasks, intervalMs: 100 });
    expect(taskProcessAlive(pids.get(remaining!.ID)!)).toBe(true);
  }), TEST_TIMEOUT_MS);

  test("a worker's certificate may send the dispatcher only its agent's messages, for itself, and nothing to other actors", () => withLogs(async () => {
    const worker = ['w1', 'w2'].find((n) => n !== killed)!;
    const workerId = ids.get(worker)!;
    const managerId = ids.get('m1')!;
    const creds = cluster.tls(worker);
    const dispatcher = `${managerId}/orchestration/dispatcher`;
    const before = await api<{ refusedMessages: number }>('GET', '/debug/raft');
    const transport = await ClusterTransport.start({ nodeId: workerId, host: '127.0.0.1', port: 0, key: creds.key, cert: creds.cert, ca: splitPem(creds.ca) });
    const description = { hostname: 'x', platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 1e9, memoryBytes: 1 }, engineLabels: {} };
    const refusals = [
      // Speaking for the killed node: its tasks (and their secrets) would come here.
      { to: dispatcher, message: { type: 'dispatcher.register', nodeId: ids.get(killed)!, description, replyTo: `${workerId}/probe` }, reason: 'speaks only for itself' },
      // Its own name, but the replies sent to another node.
      { to: dispatcher, message: { type: 'dispatcher.register', nodeId: workerId, description, replyTo: `${managerId}/manager` }, reason: 'replies go to its own node' },
      // A message of the manager's own feed, forged.
      { to: dispatcher, message: { type: 'manager.committed', index: 1_000_000, events: [], restored: true }, reason: 'only an agent\'s messages' },
      // An agent's message, to another actor.
      { to: `${managerId}/orchestration/writer`, message: { type: 'dispatcher.heartbeat', nodeId: workerId, sessionId: 'x', ackSeq: 0 }, reason: 'manager-only' },
    ];
    try {
      transport.setPeerAddress(managerId, cluster.node('m1').addr);
      for (const r of refusals) transport.send(workerId, managerId, { from: `${workerId}/probe`, to: r.to, message: r.message });
      await waitFor('m1 counting every refused message', 15_000, async () => {
        const status = await api<{ refusedMessages: number }>('GET', '/debug/raft');
        return status.refusedMessages >= before.refusedMessages + refusals.length ? status : undefined;
      }, { intervalMs: 100 });
    } finally {
      await transport.close();
    }
    const refusedLines = cluster.node('m1').output.split('\n').filter((l) => l.includes('refused: message from') && l.includes(workerId));
    for (const r of refusals) expect(refusedLines.some((l) => l.includes(r.to) && l.includes(r.reason))).toBe(true);
    // The worker's own session went on: it is still Ready and its task still runs.
    const nodes = await api<NodeJson[]>('GET', '/nodes');
    expect(nodes.find((n) => n.ID === workerId)?.Status.State).toBe('ready');
  }), TEST_TIMEOUT_MS);

  test('a worker that leaves the swarm stops its tasks: their processes are gone and their directories removed', () => withLogs(async () => {
    const worker = ['w1', 'w2'].find((n) => n !== killed)!;
    await updateService(serviceId, (spec) => ({ ...spec, Mode: { Replicated: { Replicas: 2 } } }));
    // Spread: one task on m1, one on the worker.
    const up = await running(serviceId, 2, ['m1', worker]);
    const onWorker = up.find((t) => t.NodeID === ids.get(worker));
    expect(onWorker).toBeDefined();
    const w = workload(worker, onWorker!.ID);
    expect(taskProcessAlive(w.pid!)).toBe(true);
    await cluster.request(worker, 'POST', '/swarm/leave');
    expect(await cluster.node(worker).exited).toBe(0);
    expect(taskProcessAlive(w.pid!)).toBe(false);
    expect(readdirSync(path.join(cluster.node(worker).stateDir)).includes('tasks')).toBe(false);
  }), TEST_TIMEOUT_MS);
});

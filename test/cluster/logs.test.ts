// `swarm service logs` and `swarm task logs` end to end: one manager and two workers as OS
// processes on loopback (heartbeat 1 s), a replicated service of 3 process tasks that print a
// numbered line every 200 ms (every second one also to stderr), and the real `swarm` command.
// The tests share the cluster and run in order:
//  1. service logs: every task's lines, each tagged <service>.<slot>.<task id>@<node> with the
//     task and node that printed it (a task's lines carry its pid; the executors' records map pids
//     to tasks); stderr lines on stderr; task logs: one task's lines only;
//  2. --tail 2: at most 2 lines of each of a task's streams;
//  3. -f: new lines arrive as printed; once the client is killed, the nodes stop reading (their
//     processes let go of the tasks' log files);
//  4. a worker's certificate may not send a log chunk to a request it was not given, nor a log
//     request to the manager's log server;
//  5. kill -9 of a worker: service logs ends within a bounded time, names the node
//     (`incomplete: node <name> unreachable`) and has the other nodes' lines; exit code 0;
//  6. SIGSTOP of the other worker (its connections stay open, it just never answers): the same.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { splitPem } from '../../cli/index.js';
import { ClusterTransport } from '../../runtime/env/real/index.js';
import { Cluster, swarmCli } from './harness.js';
import { clusterHelpers, waitFor, type TaskJson } from './helpers.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const MAIN = path.join(ROOT, 'cli/main.ts');
const HEARTBEAT_PERIOD_MS = 1_000;
const TEST_TIMEOUT_MS = 120_000;
const SERVICE = 'logger';
const SCRIPT = "let n = 0; setInterval(() => { n++; console.log('tick', process.pid, n); if (n % 2 === 0) console.error('oops', process.pid, n); }, 200);";
/** `<service>.<slot>.<task id>@<node>    | <line>` */
const TAGGED = /^([^.\s]+)\.(\d+)\.([a-z0-9]{12})@(\S+)\s+\| (.*)$/;

interface Tagged {
  service: string;
  slot: number;
  taskPrefix: string;
  node: string;
  line: string;
}

let cluster: Cluster;
let serviceId = '';
/** The service's running tasks once up: id -> task, its node's name and its pid. */
const running = new Map<string, { task: TaskJson; node: string; pid: number }>();

const { ids, names, startSwarm, api, withLogs, tasksOf, createService } = clusterHelpers(() => cluster, { tailLines: 30 });

function pidOf(node: string, taskId: string): number | null {
  try {
    return (JSON.parse(readFileSync(path.join(cluster.node(node).stateDir, 'tasks', taskId, 'workload.json'), 'utf8')) as { pid: number | null }).pid;
  } catch {
    return null;
  }
}

function printed(node: string, taskId: string): string {
  try {
    return readFileSync(path.join(cluster.node(node).stateDir, 'tasks', taskId, 'stdout.log'), 'utf8');
  } catch {
    return '';
  }
}

function parse(text: string): Tagged[] {
  return text.split('\n').filter((l) => l !== '').map((l) => {
    const m = TAGGED.exec(l);
    if (m === null) throw new Error(`not a tagged log line: '${l}'`);
    return { service: m[1]!, slot: Number(m[2]), taskPrefix: m[3]!, node: m[4]!, line: m[5]! };
  });
}

/** Every task of the service seen with a pid: the first three, and replacements of a killed node's. */
const known = new Map<string, { task: TaskJson; node: string; pid: number }>();

/** Learns the tasks started since (a killed node's tasks run again elsewhere). */
async function learnTasks(): Promise<void> {
  for (const task of (await tasksOf(serviceId)).filter((t) => t.NodeID !== '')) {
    const node = names.get(task.NodeID)!;
    const pid = known.has(task.ID) ? null : pidOf(node, task.ID);
    if (pid !== null) known.set(task.ID, { task, node, pid });
  }
}

/** The task a tagged line names; its line must carry that task's pid. */
function checkTagged(t: Tagged): { task: TaskJson; node: string; pid: number } {
  const found = [...known.values()].find((r) => r.task.ID.startsWith(t.taskPrefix));
  if (found === undefined) throw new Error(`a line of an unknown task ${t.taskPrefix}: ${t.line}`);
  expect(t.service).toBe(SERVICE);
  expect(t.slot).toBe(found.task.Slot);
  expect(t.node).toBe(found.node);
  const words = t.line.split(' ');
  expect(['tick', 'oops']).toContain(words[0]);
  expect(Number(words[1])).toBe(found.pid);
  return found;
}

/** Whether a node process holds one of the service's log files open (a log reader of its own). */
function readsLogs(node: string): boolean {
  const pid = cluster.node(node).child.pid!;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      return /\/tasks\/[^/]+\/std(out|err)\.log$/.test(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      return false;
    }
  });
}

beforeAll(async () => {
  cluster = new Cluster('logs');
  await startSwarm(['w1', 'w2'], { extra: ['--dispatcher-heartbeat', `${HEARTBEAT_PERIOD_MS}ms`], allReady: true });
  serviceId = await createService({
    Name: SERVICE,
    TaskTemplate: { ContainerSpec: { Command: [process.execPath], Args: ['-e', SCRIPT] }, RestartPolicy: { Condition: 'any', Delay: 0 }, Runtime: 'process' },
    Mode: { Replicated: { Replicas: 3 } },
  });
  const up = await waitFor('3 tasks running, each with a few lines printed', 60_000, async () => {
    const tasks = (await tasksOf(serviceId)).filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');
    if (tasks.length !== 3) return undefined;
    return tasks.every((t) => printed(names.get(t.NodeID)!, t.ID).split('\n').length > 5) ? tasks : undefined;
  });
  for (const task of up) {
    const node = names.get(task.NodeID)!;
    running.set(task.ID, { task, node, pid: pidOf(node, task.ID)! });
    known.set(task.ID, running.get(task.ID)!);
  }
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  if (cluster === undefined) return;
  await cluster.stopAll();
}, TEST_TIMEOUT_MS);

describe('swarm service logs across real node processes', () => {
  test('service logs: every task\'s lines, tagged with the task and node that printed them; task logs: one task\'s', () => withLogs(async () => {
    const stateDir = cluster.node('m1').stateDir;
    const started = Date.now();
    const logs = await swarmCli(['service', 'logs', '--state-dir', stateDir, SERVICE]);
    expect(logs.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
    const stdout = parse(logs.stdout);
    const stderr = parse(logs.stderr);
    const seen = new Set<string>();
    for (const t of stdout) {
      seen.add(checkTagged(t).task.ID);
      expect(t.line.startsWith('tick ')).toBe(true);
    }
    for (const t of stderr) expect(checkTagged(t) && t.line.startsWith('oops ')).toBe(true);
    expect([...seen].sort()).toEqual([...running.keys()].sort());
    expect(new Set(stderr.map((t) => t.taskPrefix)).size).toBe(3);
    // Every node's task: the tasks are spread over the three nodes.
    expect(new Set(stdout.map((t) => t.node))).toEqual(new Set([...running.values()].map((r) => r.node)));
    // A task's lines in the order it printed them.
    for (const id of running.keys()) {
      const numbers = stdout.filter((t) => id.startsWith(t.taskPrefix)).map((t) => Number(t.line.split(' ')[2]));
      expect(numbers.length).toBeGreaterThan(3);
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    }

    const [one] = [...running.values()].filter((r) => r.node !== 'm1');
    const taskLogs = await swarmCli(['task', 'logs', '--state-dir', stateDir, one!.task.ID]);
    expect(taskLogs.code).toBe(0);
    const lines = parse(taskLogs.stdout);
    expect(lines.length).toBeGreaterThan(3);
    for (const t of lines) expect(checkTagged(t).task.ID).toBe(one!.task.ID);
  }), TEST_TIMEOUT_MS);

  test('--tail 2: at most 2 lines of each task\'s stream, the last ones', () => withLogs(async () => {
    const logs = await swarmCli(['service', 'logs', '--state-dir', cluster.node('m1').stateDir, '--tail', '2', SERVICE]);
    expect(logs.code).toBe(0);
    for (const [stream, text] of [['stdout', logs.stdout], ['stderr', logs.stderr]] as const) {
      const lines = parse(text);
      for (const id of running.keys()) {
        const own = lines.filter((t) => id.startsWith(t.taskPrefix));
        expect(own.length).toBeGreaterThanOrEqual(1);
        expect(own.length).toBeLessThanOrEqual(2);
        for (const t of own) checkTagged(t);
        // The last lines: far past the first ones (each task has printed for a few seconds).
        if (stream === 'stdout') expect(Number(own.at(-1)!.line.split(' ')[2])).toBeGreaterThan(5);
      }
    }
  }), TEST_TIMEOUT_MS);

  test('-f: new lines arrive as the tasks print them; when the client goes away the nodes stop reading', () => withLogs(async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'service', 'logs', '--state-dir', cluster.node('m1').stateDir, '-f', '--tail', '1', SERVICE], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      // The tail first, then what is printed after: at least a few new numbered lines per task.
      const latest = await waitFor('new lines of every task while following', 20_000, async () => {
        const lines = parse(stdout.slice(0, stdout.lastIndexOf('\n') + 1));
        const byTask = new Map<string, number[]>();
        for (const t of lines) {
          const id = checkTagged(t).task.ID;
          byTask.set(id, [...(byTask.get(id) ?? []), Number(t.line.split(' ')[2])]);
        }
        return byTask.size === 3 && [...byTask.values()].every((n) => n.length >= 5) ? byTask : undefined;
      });
      for (const numbers of latest.values()) expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
      expect(['m1', 'w1', 'w2'].every(readsLogs)).toBe(true);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    // The manager's stream cancels the nodes' reading: each lets go of the log files.
    await waitFor('every node stops reading the tasks\' logs', 15_000, async () => (['m1', 'w1', 'w2'].some(readsLogs) ? undefined : true));
  }), TEST_TIMEOUT_MS);

  test('a worker may not send a log chunk for a request it was not given, nor ask the manager for logs', () => withLogs(async () => {
    const worker = 'w1';
    const workerId = ids.get(worker)!;
    const managerId = ids.get('m1')!;
    const creds = cluster.tls(worker);
    const before = await api<{ refusedMessages: number }>('GET', '/debug/raft');
    const transport = await ClusterTransport.start({ nodeId: workerId, host: '127.0.0.1', port: 0, key: creds.key, cert: creds.cert, ca: splitPem(creds.ca) });
    const someTask = [...running.keys()][0]!;
    const refusals = [
      { to: `${managerId}/logstreams/forged`, message: { type: 'logs.chunk', requestId: 'forged', taskId: someTask, seq: 1, lines: [{ stream: 'stdout', line: 'forged' }] }, reason: 'log request forged is not open' },
      { to: `${managerId}/logs`, message: { type: 'logs.request', requestId: 'x', taskIds: [someTask], follow: false, replyTo: `${workerId}/probe` }, reason: 'manager-only' },
      { to: `${managerId}/logstreams`, message: { type: 'logstreams.open', options: {} }, reason: 'manager-only' },
    ];
    try {
      transport.setPeerAddress(managerId, cluster.node('m1').addr);
      for (const r of refusals) transport.send(workerId, managerId, { from: `${workerId}/probe`, to: r.to, message: r.message });
      await waitFor('m1 counting every refused message', 15_000, async () => {
        const status = await api<{ refusedMessages: number }>('GET', '/debug/raft');
        return status.refusedMessages >= before.refusedMessages + refusals.length ? status : undefined;
      });
    } finally {
      await transport.close();
    }
    const refusedLines = cluster.node('m1').output.split('\n').filter((l) => l.includes('refused: message from') && l.includes(workerId));
    for (const r of refusals) expect(refusedLines.some((l) => l.includes(r.to) && l.includes(r.reason))).toBe(true);
  }), TEST_TIMEOUT_MS);

  test('kill -9 of a worker: service logs ends within a bounded time, names the node unreachable and has the others\' lines', () => withLogs(async () => {
    const victim = ['w2', 'w1'].find((n) => [...running.values()].some((r) => r.node === n))!;
    expect(victim).toBeDefined();
    await cluster.kill(victim, 'SIGKILL');
    const started = Date.now();
    const logs = await swarmCli(['service', 'logs', '--state-dir', cluster.node('m1').stateDir, SERVICE]);
    const tookMs = Date.now() - started;
    expect(logs.code).toBe(0);
    // The node's deadline is 3 s; the rest is two CLI start-ups' worth of slack.
    expect(tookMs).toBeLessThan(15_000);
    const stderrLines = logs.stderr.split('\n').filter((l) => l !== '');
    expect(stderrLines).toContain(`incomplete: node ${victim} unreachable`);
    await learnTasks();
    const lines = parse(logs.stdout);
    const nodes = new Set(lines.map((t) => checkTagged(t).node));
    expect(nodes.has(victim)).toBe(false);
    for (const r of running.values()) if (r.node !== victim) expect(nodes.has(r.node)).toBe(true);
    console.log(`service logs with ${victim} killed: ${tookMs} ms, ${lines.length} lines`);
  }), TEST_TIMEOUT_MS);

  test('SIGSTOP of the other worker: its connection stays open but it never answers; service logs still ends and names it', () => withLogs(async () => {
    const paused = [...cluster.nodes.values()].find((n) => n.name !== 'm1' && n.child.exitCode === null && n.child.signalCode === null)!;
    const killed = ['w1', 'w2'].find((n) => n !== paused.name)!;
    paused.child.kill('SIGSTOP');
    try {
      const started = Date.now();
      const logs = await swarmCli(['service', 'logs', '--state-dir', cluster.node('m1').stateDir, SERVICE]);
      const tookMs = Date.now() - started;
      expect(logs.code).toBe(0);
      expect(tookMs).toBeLessThan(15_000);
      const stderrLines = logs.stderr.split('\n').filter((l) => l !== '');
      expect(stderrLines).toContain(`incomplete: node ${killed} unreachable`);
      if ([...running.values()].some((r) => r.node === paused.name)) expect(stderrLines).toContain(`incomplete: node ${paused.name} unreachable`);
      await learnTasks();
      const nodes = new Set(parse(logs.stdout).map((t) => checkTagged(t).node));
      // Only the manager answers (the killed worker's task may have been replaced there meanwhile).
      expect([...nodes].filter((n) => n !== 'm1')).toEqual([]);
      console.log(`service logs with ${paused.name} stopped: ${tookMs} ms`);
    } finally {
      paused.child.kill('SIGCONT');
    }
  }), TEST_TIMEOUT_MS);
});

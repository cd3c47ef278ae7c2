// Services of process tasks end to end (TaskTemplate.Runtime 'process': ContainerSpec.Command run
// as a host process under the node's agent, runtime/env/real/process-executor.ts): the tests of
// test/cluster/docker.test.ts that apply to processes, over one manager and two workers, each
// `swarm init|join` in its own OS process on loopback. Each task is a small Node script
// (`process.execPath -e SCRIPT`) that prints its pid and VERSION and stays alive; its node keeps
// it in `<state-dir>/tasks/<task id>/` with its pid in workload.json. The tests share the cluster
// and run in order:
//  1. 5 replicas: 5 tasks running, 5 live OS processes (the pids of their workload.json);
//  2. SIGKILL of one task's process: its task fails with the exit code, the restart policy puts a
//     new task in its slot, and the failed task's workload directory is removed;
//  3. a rolling update of the environment, 2 at a time: every running process has the new one
//     (/proc/<pid>/environ), and no process of the old spec is alive;
//  4. kill -9 of a worker's node process, then `swarm start`: it adopts its running processes (the
//     same task ids and pids), no new process, no duplicates;
//  5. drain: the drained node's processes are gone and its workload directories removed, and
//     their replicas run on the other nodes;
//  6. a command that does not exist: the task ends with a message naming the command;
//  7. a health check (run by the process executor, as the engine runs a container's) keeps a task
//     starting until it passes, then running; a check that never passes fails its task, whose
//     process is stopped.
// Not here, as they do not apply to the process executor:
//  - an image that does not exist (docker test 4): a process task has no image; its nearest
//    equivalent, a command that does not exist, is test 6;
//  - a secret as a file (docker test 6): the process executor writes no files (a spec's files are
//    dropped at prepare and never reach the disk);
//  - `swarm leave` (docker test 9): test/cluster/orchestration.test.ts covers it for processes.
// Every wait has a deadline.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { UNHEALTHY_MESSAGE } from '../../actors/index.js';
import { Cluster, sleep } from './harness.js';
import { clusterHelpers, taskProcessRuns, waitFor, within, type Json, type TaskJson } from './helpers.js';

/**
 * SwarmKit's default period, as in docker.test.ts. Test 4 restarts a killed node process and
 * expects it to find its processes still assigned to it: that needs the restart (a few seconds
 * for a node process to start on a loaded machine) to come well within the ~3 periods after which
 * a node is Down.
 */
const HEARTBEAT_PERIOD_MS = 5_000;
const TEST_TIMEOUT_MS = 120_000;
const NS_PER_MS = 1_000_000;
const NODE_NAMES = ['m1', 'w1', 'w2'] as const;
/** A task's script: prints a line it can be recognised by, then runs until it is stopped. */
const MARKER = 'swarm-process-tasks-test';
const SCRIPT = `console.log('${MARKER}', process.pid, process.env.VERSION); setInterval(() => {}, 1000);`;
const MISSING_COMMAND = '/nonexistent/bin';

/** A task process a node's executor recorded: its node, its task and its pid. */
interface Proc {
  node: string;
  task: string;
  pid: number;
}

let cluster: Cluster;
/** The 5-replica service of tests 1-5. */
let workers = '';
/** The worker killed and restarted in test 4, and drained in test 5. */
let restarted = '';
/** Every task pid seen, to kill whatever is left of their groups at the end. */
const seenPids = new Set<number>();

/** Node name -> node id, and back (ids, names), and the helpers bound to the cluster. */
const { ids, names, startSwarm, api, withLogs, tasksOf, describeTasks, running, createService, updateService } = clusterHelpers(() => cluster, { nodes: NODE_NAMES });

let lastTasks: TaskJson[] = [];
const showTasks = (): string => `tasks:\n${describeTasks(lastTasks)}`;

function tasksDir(node: string): string {
  return path.join(cluster.node(node).stateDir, 'tasks');
}

/** The workload directories a node holds (none when it has no tasks/ directory). */
function workloadDirs(node: string): string[] {
  try {
    return readdirSync(tasksDir(node)).sort();
  } catch {
    return [];
  }
}

/** The pid workload.json records for a task on a node; null when there is no record or no pid. */
function pidOf(node: string, taskId: string): number | null {
  try {
    const { pid } = JSON.parse(readFileSync(path.join(tasksDir(node), taskId, 'workload.json'), 'utf8')) as { pid: number | null };
    if (pid !== null) seenPids.add(pid);
    return pid;
  } catch {
    return null;
  }
}

/** The process runs (a zombie has ended), and its command line is a task's script. */
const alive = (pid: number): boolean => taskProcessRuns(pid, MARKER);

/** Every live task process the nodes' executors recorded, over all nodes. */
function liveProcs(): Proc[] {
  const found: Proc[] = [];
  for (const node of NODE_NAMES) {
    for (const task of workloadDirs(node)) {
      const pid = pidOf(node, task);
      if (pid !== null && alive(pid)) found.push({ node, task, pid });
    }
  }
  return found;
}

let lastProcs: Proc[] = [];
const showProcs = (): string => `live task processes:\n${lastProcs.map((p) => `${p.task} on ${p.node}: pid ${p.pid}`).join('\n')}`;

/** Waits until the live task processes are exactly one per task of `up`, each on the task's node. */
async function processesOf(up: readonly TaskJson[], timeoutMs = 15_000): Promise<Proc[]> {
  return waitFor(`exactly one live process for each of ${up.length} running tasks`, timeoutMs, async () => {
    lastProcs = liveProcs();
    const match = lastProcs.length === up.length && up.every((t) => lastProcs.some((p) => p.task === t.ID && p.node === names.get(t.NodeID)));
    return match ? lastProcs : undefined;
  }, { describe: showProcs });
}

/** The process's environment, from /proc/<pid>/environ. */
function environOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((e) => e !== '');
}

const workersSpec = (env: readonly string[]): Json => ({
  Name: 'workers',
  TaskTemplate: {
    ContainerSpec: { Command: [process.execPath], Args: ['-e', SCRIPT], Env: [...env], StopGracePeriod: 1_000 * NS_PER_MS },
    RestartPolicy: { Condition: 'any', Delay: 0 },
    Runtime: 'process',
  },
  Mode: { Replicated: { Replicas: 5 } },
  UpdateConfig: { Parallelism: 2, Delay: 0, Monitor: 1_000 * NS_PER_MS },
});

beforeAll(async () => {
  cluster = new Cluster('process-tasks');
  await startSwarm(['w1', 'w2'], { extra: ['--dispatcher-heartbeat', `${HEARTBEAT_PERIOD_MS}ms`], allReady: true });
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  if (cluster === undefined) return;
  // The node processes first (no agent starts a task again), then every task process group:
  // those still recorded (stopAll) and any seen during the tests.
  for (const node of cluster.nodes.values()) {
    if (node.child.exitCode === null && node.child.signalCode === null) await cluster.kill(node.name);
  }
  for (const pid of seenPids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await cluster.stopAll();
}, TEST_TIMEOUT_MS);

describe('services of process tasks across real node processes', () => {
  test('5 replicas: 5 tasks running, 5 live OS processes, spread over the nodes', () => withLogs(async () => {
    const createdAt = Date.now();
    workers = await createService(workersSpec(['VERSION=1']));
    const up = await running(workers, 5);
    console.log(`5 process tasks running ${Date.now() - createdAt} ms after the create`);
    expect(new Set(up.map((t) => t.Slot))).toEqual(new Set([1, 2, 3, 4, 5]));
    const procs = await processesOf(up);
    expect(new Set(procs.map((p) => p.pid)).size).toBe(5);
    for (const p of procs) expect(environOf(p.pid)).toContain('VERSION=1');
    // Spread: 5 over 3 nodes is 2, 2 and 1.
    const perNode = NODE_NAMES.map((n) => procs.filter((p) => p.node === n).length).sort();
    expect(perNode).toEqual([1, 2, 2]);
  }), TEST_TIMEOUT_MS);

  test('SIGKILL of a task\'s process: its task fails with the exit code, its slot gets a new task, and its directory is removed', () => withLogs(async () => {
    const before = await running(workers, 5);
    const victim = before.find((t) => t.NodeID !== ids.get('m1')) ?? before[0]!;
    const node = names.get(victim.NodeID)!;
    const pid = pidOf(node, victim.ID);
    expect(pid).not.toBeNull();
    expect(alive(pid!)).toBe(true);
    const killedAt = Date.now();
    process.kill(pid!, 'SIGKILL');
    const failed = await waitFor(`task ${victim.ID} failed`, 30_000, async () => {
      lastTasks = await tasksOf(workers);
      const now = lastTasks.find((t) => t.ID === victim.ID);
      return now?.Status.State === 'failed' ? now : undefined;
    }, { describe: showTasks });
    // 128 + SIGKILL, as a shell (and the engine) reports it.
    expect(failed.Status.Message).toBe('exit code 137');
    expect(failed.Status.Err).toBe('exit code 137');
    const after = await running(workers, 5, NODE_NAMES, 60_000, (up) => !up.some((t) => t.ID === victim.ID));
    console.log(`killed the process of ${victim.ID}: failed, and 5 running again after ${Date.now() - killedAt} ms`);
    const replacement = after.find((t) => t.Slot === victim.Slot);
    expect(replacement).toBeDefined();
    expect(replacement!.ID).not.toBe(victim.ID);
    for (const task of before.filter((t) => t.ID !== victim.ID)) expect(after.map((t) => t.ID)).toContain(task.ID);
    const procs = await processesOf(after);
    expect(procs.map((p) => p.pid)).not.toContain(pid);
    // The failed task is history (no longer wanted): its node removes its workload directory.
    expect((await tasksOf(workers)).find((t) => t.ID === victim.ID)?.DesiredState).toBe('shutdown');
    await waitFor(`the workload directory of the killed task ${victim.ID} removed from ${node}`, 15_000, async () => (workloadDirs(node).includes(victim.ID) ? undefined : true), { describe: () => `${node} holds: ${workloadDirs(node).join(', ')}` });
  }), TEST_TIMEOUT_MS);

  test('a rolling update of the environment, 2 at a time: every running process has the new one, none of the old is alive', () => withLogs(async () => {
    const before = await running(workers, 5);
    const oldProcs = await processesOf(before);
    const startedAt = Date.now();
    await updateService(workers, () => workersSpec(['VERSION=2']));
    const after = await running(workers, 5, NODE_NAMES, 90_000, (up) => up.every((t) => t.Spec.ContainerSpec.Env?.includes('VERSION=2') === true));
    for (const task of before) expect(after.map((t) => t.ID)).not.toContain(task.ID);
    const procs = await processesOf(after, 30_000);
    console.log(`rolling update of 5 process tasks (parallelism 2): converged after ${Date.now() - startedAt} ms`);
    for (const p of procs) {
      const env = environOf(p.pid);
      expect(env).toContain('VERSION=2');
      expect(env).not.toContain('VERSION=1');
    }
    for (const p of oldProcs) expect(alive(p.pid)).toBe(false);
  }), TEST_TIMEOUT_MS);

  test('kill -9 of a worker\'s node process, then swarm start: it adopts its running processes', () => withLogs(async () => {
    const before = await running(workers, 5);
    const procsBefore = await processesOf(before);
    // The worker with the most tasks of the service.
    const counts = ['w1', 'w2'].map((n) => ({ name: n, held: procsBefore.filter((p) => p.node === n) }));
    counts.sort((a, b) => b.held.length - a.held.length);
    restarted = counts[0]!.name;
    const held = counts[0]!.held.map((p) => `${p.task}:${p.pid}`).sort();
    expect(held.length).toBeGreaterThan(0);
    const dirsBefore = workloadDirs(restarted);

    const killedAt = Date.now();
    await cluster.kill(restarted, 'SIGKILL');
    // Processes outlive their agent.
    expect(liveProcs().filter((p) => p.node === restarted).map((p) => `${p.task}:${p.pid}`).sort()).toEqual(held);
    await cluster.start(restarted, ['start']);
    console.log(`${restarted} killed and started again in ${Date.now() - killedAt} ms (holding ${held.length} processes)`);

    await waitFor(`${restarted} ready again`, 30_000, async () => {
      const node = await api('GET', `/nodes/${ids.get(restarted)!}`);
      return node.Status.State === 'ready' ? node : undefined;
    });
    // Long enough for a reconciliation after the restart to show (a replacement, a removal).
    await sleep(3_000);
    const after = await running(workers, 5);
    expect(after.map((t) => t.ID).sort()).toEqual(before.map((t) => t.ID).sort());
    // The same processes run there, and no workload was created since.
    const procsAfter = await processesOf(after);
    expect(procsAfter.filter((p) => p.node === restarted).map((p) => `${p.task}:${p.pid}`).sort()).toEqual(held);
    expect(workloadDirs(restarted)).toEqual(dirsBefore);
    // No duplicates, none replaced: the same 5 pids over all nodes.
    expect(procsAfter.map((p) => p.pid).sort()).toEqual(procsBefore.map((p) => p.pid).sort());
    const lost = (await tasksOf(workers)).filter((t) => t.Status.Message.includes('task lost'));
    expect(lost).toEqual([]);
  }), TEST_TIMEOUT_MS);

  test('drain: the drained node\'s processes are gone and its workload directories removed, and their replicas run elsewhere', () => withLogs(async () => {
    const before = await running(workers, 5);
    const drained = restarted === '' ? 'w1' : restarted;
    const others = NODE_NAMES.filter((n) => n !== drained);
    const moved = before.filter((t) => t.NodeID === ids.get(drained));
    expect(moved.length).toBeGreaterThan(0);
    const movedPids = moved.map((t) => pidOf(drained, t.ID));
    expect(movedPids.every((p) => p !== null && alive(p))).toBe(true);
    const node = await api('GET', `/nodes/${ids.get(drained)!}`);
    const drainedAt = Date.now();
    await api('POST', `/nodes/${ids.get(drained)!}/update?version=${node.Version.Index}`, { ...node.Spec, Availability: 'drain' });
    const after = await running(workers, 5, others);
    await waitFor(`no workload directory left on ${drained}`, 30_000, async () => (workloadDirs(drained).length === 0 ? true : undefined), { describe: () => `${drained} holds: ${workloadDirs(drained).join(', ')}` });
    console.log(`drained ${drained}: its ${moved.length} replicas moved and its workloads removed after ${Date.now() - drainedAt} ms`);
    for (const pid of movedPids) expect(alive(pid!)).toBe(false);
    for (const task of moved) expect(after.map((t) => t.ID)).not.toContain(task.ID);
    const procs = await processesOf(after);
    expect(procs.every((p) => p.node !== drained)).toBe(true);
  }), TEST_TIMEOUT_MS);

  test('a command that does not exist: the task ends with a message naming the command', () => withLogs(async () => {
    const serviceId = await createService({
      Name: 'missing',
      TaskTemplate: { ContainerSpec: { Command: [MISSING_COMMAND] }, RestartPolicy: { Condition: 'none' }, Runtime: 'process' },
      Mode: { Replicated: { Replicas: 1 } },
    });
    const ended1 = await waitFor('the task of a missing command rejected or failed', 60_000, async () => {
      lastTasks = await tasksOf(serviceId);
      return lastTasks.find((t) => t.Status.State === 'rejected' || t.Status.State === 'failed');
    }, { describe: showTasks });
    console.log(`missing command: task ${ended1.Status.State}: ${ended1.Status.Message} (err ${ended1.Status.Err ?? '-'})`);
    // Refused at prepare (the executor resolves the command there), as the engine refuses a missing image.
    expect(ended1.Status.State).toBe('rejected');
    expect(ended1.Status.Message).toBe(`command not found: ${MISSING_COMMAND}`);
    expect(ended1.Status.Err).toBe(`command not found: ${MISSING_COMMAND}`);
    // Not restarted (condition none), and no process of it anywhere.
    await sleep(1_000);
    expect(await tasksOf(serviceId)).toHaveLength(1);
    await api('DELETE', `/services/${serviceId}`);
    await waitFor(`the workload of removed service ${serviceId} gone`, 30_000, async () => (NODE_NAMES.some((n) => workloadDirs(n).includes(ended1.ID)) ? undefined : true));
    expect(await within('the service list', api<Json[]>('GET', '/services'))).not.toContainEqual(expect.objectContaining({ ID: serviceId }));
  }), TEST_TIMEOUT_MS);

  test('a health check keeps the task starting until it passes, then running; one that never passes fails it', () => withLogs(async () => {
    const health = (test: readonly string[], startPeriodMs = 0): Json => ({ Test: [...test], Interval: 200 * NS_PER_MS, Timeout: 2_000 * NS_PER_MS, Retries: 2, StartPeriod: startPeriodMs * NS_PER_MS });
    // The check passes once the task's process has written `ready` into its working directory, ~1.5 s after its start.
    const gatedScript = `${SCRIPT} setTimeout(() => require('fs').writeFileSync('ready', ''), 1_500);`;
    const gated = await createService({
      Name: 'gated',
      TaskTemplate: {
        ContainerSpec: { Command: [process.execPath], Args: ['-e', gatedScript], Healthcheck: health(['CMD-SHELL', 'test -f ready'], 20_000), StopGracePeriod: 1_000 * NS_PER_MS },
        RestartPolicy: { Condition: 'none' },
        Runtime: 'process',
      },
      Mode: { Replicated: { Replicas: 1 } },
    });
    const seen: Array<{ state: string; at: number }> = [];
    const [task] = await waitFor('the gated process task running', 60_000, async () => {
      lastTasks = await tasksOf(gated);
      const t = lastTasks[0];
      if (t === undefined) return undefined;
      seen.push({ state: t.Status.State, at: Date.now() });
      return t.Status.State === 'running' ? [t] : undefined;
    }, { describe: showTasks, intervalMs: 100 });
    const node = names.get(task!.NodeID)!;
    const record = JSON.parse(readFileSync(path.join(tasksDir(node), task!.ID, 'workload.json'), 'utf8')) as { pid: number; startedAtMs: number };
    seenPids.add(record.pid);
    const changes = seen.filter((s, i) => i === 0 || seen[i - 1]!.state !== s.state);
    console.log(`health-gated process task: states seen ${changes.map((s) => `${s.state}@+${s.at - seen[0]!.at}ms`).join(', ')}; running ${Date.parse(task!.Status.Timestamp) - record.startedAtMs} ms after the process started`);
    // Seen starting while its process ran, and running only once the check could pass.
    expect(seen.some((s) => s.state === 'starting' && s.at > record.startedAtMs)).toBe(true);
    expect(Date.parse(task!.Status.Timestamp) - record.startedAtMs).toBeGreaterThanOrEqual(1_400);
    expect(alive(record.pid)).toBe(true);

    const sick = await createService({
      Name: 'sick',
      TaskTemplate: {
        ContainerSpec: { Command: [process.execPath], Args: ['-e', SCRIPT], Healthcheck: health(['CMD', 'false']), StopGracePeriod: 1_000 * NS_PER_MS },
        RestartPolicy: { Condition: 'none' },
        Runtime: 'process',
      },
      Mode: { Replicated: { Replicas: 1 } },
    });
    const sickSeen: string[] = [];
    let sickPid: number | null = null;
    const failed = await waitFor('the sick process task failed', 60_000, async () => {
      lastTasks = await tasksOf(sick);
      const t = lastTasks[0];
      if (t !== undefined && sickSeen[sickSeen.length - 1] !== t.Status.State) sickSeen.push(t.Status.State);
      if (t !== undefined && t.NodeID !== '') sickPid = pidOf(names.get(t.NodeID)!, t.ID) ?? sickPid;
      return t?.Status.State === 'failed' ? t : undefined;
    }, { describe: showTasks, intervalMs: 100 });
    expect(failed.Status.Message).toBe(UNHEALTHY_MESSAGE);
    expect(failed.Status.Err).toBe(UNHEALTHY_MESSAGE);
    expect(sickSeen).not.toContain('running');
    // Its process stopped, and the task not restarted (condition none).
    expect(sickPid).not.toBeNull();
    const stoppedPid = sickPid!;
    await waitFor(`the sick task's process ${stoppedPid} gone`, 15_000, async () => (alive(stoppedPid) ? undefined : true));
    await sleep(1_000);
    expect(await tasksOf(sick)).toHaveLength(1);
    for (const id of [gated, sick]) await api('DELETE', `/services/${id}`);
    await waitFor('the gated task\'s process gone', 30_000, async () => (alive(record.pid) ? undefined : true));
  }), TEST_TIMEOUT_MS);
});

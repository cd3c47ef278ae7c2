// Services of containers end to end: one manager and two workers, each `swarm init|join` in its
// own OS process with DOCKER_HOST naming one real Docker engine (SWARM_TEST_DOCKER_HOST, or a
// private one from .ci/dockerd.sh: test/runtime/dockerd.ts). The three nodes share that engine:
// each node's executor labels its containers with its node id and lists only its own, and a
// container's name carries its task id. Containers run with the host's network; nothing here
// talks to any address but loopback and the engine's socket. The tests share the cluster and run
// in order:
//  1. 5 replicas of `sleep 3600` in swarm-test/busybox:1: 5 tasks running, 5 containers running
//     with our labels, spread over the three nodes;
//  2. `docker kill` of one container: its task fails with the exit code and the restart policy
//     puts a new task in its slot;
//  3. a rolling update of the environment, 2 at a time: every running container has the new one;
//  4. an image that does not exist: the task is rejected with the engine's own words;
//  5. a health check keeps a task starting until it passes; a check that never passes fails it;
//  6. a secret is a file in the container (/run/secrets/<name>, 0444) and nowhere in the nodes'
//     logs or the engine's record of the container;
//  7. kill -9 of a worker's node process, then `swarm start`: it adopts its running containers
//     (the same container ids), no duplicates, no replacements;
//  8. drain: the drained node's containers are stopped and removed, and their replicas run on the
//     other nodes;
//  9. `swarm leave` of a worker removes its containers.
// Every wait has a deadline.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { NODE_ID_LABEL, WORKLOAD_ID_LABEL, demultiplex, realRandom } from '../../runtime/env/real/index.js';
import { UNHEALTHY_MESSAGE } from '../../actors/index.js';
import { ENGINE_START_MS_MAX, ENGINE_STOP_MS_MAX, TEST_IMAGE, acquireTestEngine, type TestEngine } from '../runtime/dockerd.js';
import { Cluster, sleep } from './harness.js';
import { clusterHelpers, waitFor, within, type Json, type TaskJson } from './helpers.js';

/**
 * SwarmKit's default period. Test 7 restarts a killed node process and expects it to find its
 * containers still assigned to it: that needs the restart (a few seconds for a node process to
 * start on a loaded machine) to come well within the ~3 periods after which a node is Down.
 */
const HEARTBEAT_PERIOD_MS = 5_000;
const TEST_TIMEOUT_MS = 120_000;
const NS_PER_MS = 1_000_000;
const NODE_NAMES = ['m1', 'w1', 'w2'] as const;
/** The labels the agent puts on every container of a task (actors/agent/runner.ts). */
const SERVICE_LABEL = 'swarm.service.id';
const TASK_LABEL = 'swarm.task.id';

let engine: TestEngine | undefined;
let docker: Docker;
let cluster: Cluster;
/** The 5-replica service of tests 1-3, 7 and 8. */
let sleepers = '';
/** The worker killed and restarted in test 7. */
let restarted = '';
/** The worker drained in test 8. */
let drained = '';

/** Node name -> node id, and back (ids, names), and the helpers bound to the cluster. */
const { ids, names, startSwarm, api, withLogs, tasksOf, describeTasks, running, createService, updateService } = clusterHelpers(() => cluster, { nodes: NODE_NAMES });

let lastTasks: TaskJson[] = [];
const showTasks = (): string => `tasks:\n${describeTasks(lastTasks)}`;

/** The containers the engine holds with all of `labels` (running ones only unless `all`). */
function containers(labels: readonly string[], all = false): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all, filters: { label: [...labels] } });
}

function containersOfService(serviceId: string, all = false): Promise<Docker.ContainerInfo[]> {
  return containers([`${SERVICE_LABEL}=${serviceId}`], all);
}

function containersOfNode(name: string, all = false): Promise<Docker.ContainerInfo[]> {
  return containers([`${NODE_ID_LABEL}=${ids.get(name)!}`], all);
}

function describeContainers(list: readonly Docker.ContainerInfo[]): string {
  return list.map((c) => `${c.Id.slice(0, 12)} ${c.Names.join(',')} task ${c.Labels[TASK_LABEL] ?? '-'} on ${names.get(c.Labels[NODE_ID_LABEL] ?? '') ?? '-'}: ${c.State} ${c.Status}`).join('\n');
}

let lastContainers: Docker.ContainerInfo[] = [];
const showContainers = (): string => `containers:\n${describeContainers(lastContainers)}`;

/** Removes a service and waits until its nodes have removed its containers. */
async function removeService(serviceId: string): Promise<void> {
  await api('DELETE', `/services/${serviceId}`);
  await waitFor(`the containers of removed service ${serviceId} gone`, 30_000, async () => {
    lastContainers = await containersOfService(serviceId, true);
    return lastContainers.length === 0 ? true : undefined;
  }, { describe: showContainers });
}

/** Runs `cmd` in a container (docker exec): its exit code and output. */
async function exec(containerId: string, cmd: readonly string[]): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  const started = await docker.getContainer(containerId).exec({ Cmd: [...cmd], AttachStdout: true, AttachStderr: true });
  const stream = (await started.start({ hijack: true, stdin: false })) as NodeJS.ReadableStream & AsyncIterable<Buffer>;
  const out = { stdout: [] as string[], stderr: [] as string[] };
  await within(`docker exec ${cmd.join(' ')}`, (async () => {
    for await (const line of demultiplex(stream)) out[line.stream].push(line.line);
  })());
  const info = await started.inspect();
  return { exitCode: info.ExitCode, stdout: out.stdout.join('\n'), stderr: out.stderr.join('\n') };
}

/** What a node wrote: its process's output and its log file. */
function nodeLogs(name: string): string {
  const node = cluster.node(name);
  const file = path.join(node.stateDir, 'node.log');
  return node.output + (existsSync(file) ? readFileSync(file, 'utf8') : '');
}

const sleepersSpec = (env: readonly string[]): Json => ({
  Name: 'sleepers',
  TaskTemplate: {
    ContainerSpec: {
      Image: TEST_IMAGE, Command: ['sleep'], Args: ['3600'], Env: [...env],
      // `sleep` as PID 1 ignores SIGTERM: the engine kills it when the grace ends.
      StopGracePeriod: 1_000 * NS_PER_MS,
    },
    RestartPolicy: { Condition: 'any', Delay: 0 },
  },
  Mode: { Replicated: { Replicas: 5 } },
  UpdateConfig: { Parallelism: 2, Delay: 0, Monitor: 1_000 * NS_PER_MS },
});

beforeAll(async () => {
  engine = await acquireTestEngine();
  docker = new Docker({ socketPath: engine.socket });
  await docker.getImage(TEST_IMAGE).inspect();
  const env = { DOCKER_HOST: engine.host };
  cluster = new Cluster('docker');
  await startSwarm(['w1', 'w2'], { env, extra: ['--dispatcher-heartbeat', `${HEARTBEAT_PERIOD_MS}ms`], allReady: true });
}, ENGINE_START_MS_MAX + TEST_TIMEOUT_MS);

afterAll(async () => {
  try {
    // The node processes first (no agent starts a container again), then every container of theirs.
    if (cluster !== undefined) {
      for (const node of cluster.nodes.values()) {
        if (node.child.exitCode === null && node.child.signalCode === null) await cluster.kill(node.name);
      }
      if (docker !== undefined) {
        for (const id of ids.values()) {
          const left = await docker.listContainers({ all: true, filters: { label: [`${NODE_ID_LABEL}=${id}`] } }).catch(() => []);
          await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
        }
      }
      await cluster.stopAll();
    }
  } finally {
    await engine?.release();
  }
}, ENGINE_STOP_MS_MAX + TEST_TIMEOUT_MS);

describe('services of containers on a real Docker engine, across real node processes', () => {
  test('5 replicas of sleep: 5 tasks running, 5 containers with our labels, spread over the nodes', () => withLogs(async () => {
    const createdAt = Date.now();
    sleepers = await createService(sleepersSpec(['VERSION=1']));
    const up = await running(sleepers, 5);
    console.log(`5 sleepers running ${Date.now() - createdAt} ms after the create`);
    expect(new Set(up.map((t) => t.Slot))).toEqual(new Set([1, 2, 3, 4, 5]));
    const found = await waitFor('5 running containers of the service', 15_000, async () => {
      lastContainers = await containersOfService(sleepers);
      return lastContainers.length === 5 ? lastContainers : undefined;
    }, { describe: showContainers });
    for (const task of up) {
      const c = found.find((x) => x.Labels[WORKLOAD_ID_LABEL] === task.ID);
      expect(c).toBeDefined();
      // The executor's labels (which node's, which workload) and the agent's (task, service, slot).
      expect(c!.Labels).toMatchObject({
        [NODE_ID_LABEL]: task.NodeID, [TASK_LABEL]: task.ID, [SERVICE_LABEL]: sleepers, 'swarm.node.id': task.NodeID, 'swarm.task.slot': String(task.Slot),
      });
      expect(c!.Image).toBe(TEST_IMAGE);
      expect(c!.Names).toEqual([`/swarm-${task.ID}`]);
    }
    // Spread: 5 over 3 nodes is 2, 2 and 1.
    const perNode = NODE_NAMES.map((n) => found.filter((c) => c.Labels[NODE_ID_LABEL] === ids.get(n)).length).sort();
    expect(perNode).toEqual([1, 2, 2]);
  }), TEST_TIMEOUT_MS);

  test('docker kill of a container: its task fails with the exit code and its slot gets a new task', () => withLogs(async () => {
    const before = await running(sleepers, 5);
    const victim = before.find((t) => t.NodeID !== ids.get('m1')) ?? before[0]!;
    const [container] = await containers([`${TASK_LABEL}=${victim.ID}`]);
    expect(container).toBeDefined();
    const killedAt = Date.now();
    await docker.getContainer(container!.Id).kill();
    const failed = await waitFor(`task ${victim.ID} failed`, 30_000, async () => {
      lastTasks = await tasksOf(sleepers);
      const now = lastTasks.find((t) => t.ID === victim.ID);
      return now?.Status.State === 'failed' ? now : undefined;
    }, { describe: showTasks });
    expect(failed.Status.Message).toBe('exit code 137');
    expect(failed.Status.Err).toBe('exit code 137');
    const after = await running(sleepers, 5, NODE_NAMES, 60_000, (up) => !up.some((t) => t.ID === victim.ID));
    console.log(`killed container of ${victim.ID}: failed, and 5 running again after ${Date.now() - killedAt} ms`);
    const replacement = after.find((t) => t.Slot === victim.Slot);
    expect(replacement).toBeDefined();
    expect(replacement!.ID).not.toBe(victim.ID);
    for (const task of before.filter((t) => t.ID !== victim.ID)) expect(after.map((t) => t.ID)).toContain(task.ID);
    const list = await waitFor('5 running containers, the killed one not among them', 15_000, async () => {
      lastContainers = await containersOfService(sleepers);
      return lastContainers.length === 5 ? lastContainers : undefined;
    }, { describe: showContainers });
    expect(list.map((c) => c.Id)).not.toContain(container!.Id);
    // The failed task is history (no longer wanted): its node removes its container.
    expect((await tasksOf(sleepers)).find((t) => t.ID === victim.ID)?.DesiredState).toBe('shutdown');
    await waitFor(`the killed container of ${victim.ID} removed`, 15_000, async () => ((await containers([`${TASK_LABEL}=${victim.ID}`], true)).length === 0 ? true : undefined));
    expect(new Set(list.map((c) => c.Labels[TASK_LABEL]))).toEqual(new Set(after.map((t) => t.ID)));
  }), TEST_TIMEOUT_MS);

  test('a rolling update of the environment, 2 at a time: every running container has the new one, none of the old runs', () => withLogs(async () => {
    const before = await running(sleepers, 5);
    const startedAt = Date.now();
    await updateService(sleepers, () => sleepersSpec(['VERSION=2']));
    const after = await running(sleepers, 5, NODE_NAMES, 90_000, (up) => up.every((t) => t.Spec.ContainerSpec.Env?.includes('VERSION=2') === true));
    for (const task of before) expect(after.map((t) => t.ID)).not.toContain(task.ID);
    const list = await waitFor('5 running containers of the new spec only', 30_000, async () => {
      lastContainers = await containersOfService(sleepers);
      return lastContainers.length === 5 && lastContainers.every((c) => after.some((t) => t.ID === c.Labels[TASK_LABEL])) ? lastContainers : undefined;
    }, { describe: showContainers });
    console.log(`rolling update of 5 (parallelism 2): converged after ${Date.now() - startedAt} ms`);
    for (const c of list) {
      const info = await docker.getContainer(c.Id).inspect();
      expect(info.Config.Env).toContain('VERSION=2');
      expect(info.Config.Env).not.toContain('VERSION=1');
    }
    expect(new Set(list.map((c) => c.Labels[TASK_LABEL]))).toEqual(new Set(after.map((t) => t.ID)));
  }), TEST_TIMEOUT_MS);

  test('an image that does not exist: the task is rejected with the engine\'s own words', () => withLogs(async () => {
    const image = 'swarm-test/nope:1';
    // What the engine says to a pull of it, asked directly.
    const engineSays = await within('a pull of the missing image', new Promise<string>((resolve) => {
      docker.pull(image, (error: Error | null, stream?: NodeJS.ReadableStream) => {
        // dockerode's message, without its '(HTTP code n) reason - ' prefix: the engine's words, as the executor reports them.
        if (error !== null || stream === undefined) resolve((error?.message ?? '').replace(/^\(HTTP code \d+\) [^-]*- /, '').trim());
        else docker.modem.followProgress(stream, (e: Error | null) => resolve(e === null ? '' : e.message));
      });
    }), 60_000);
    expect(engineSays).not.toBe('');
    const serviceId = await createService({
      Name: 'nope',
      TaskTemplate: { ContainerSpec: { Image: image, Command: ['sleep'], Args: ['3600'] }, RestartPolicy: { Condition: 'none' } },
      Mode: { Replicated: { Replicas: 1 } },
    });
    const rejected = await waitFor('the task rejected', 60_000, async () => {
      lastTasks = await tasksOf(serviceId);
      return lastTasks.find((t) => t.Status.State === 'rejected');
    }, { describe: showTasks });
    // The engine's words: here no registry is reachable, elsewhere it says the repository is not there.
    expect(rejected.Status.Err).toBe(engineSays);
    expect(rejected.Status.Message).toBe(engineSays);
    expect(rejected.Status.Err).toMatch(/swarm-test\/nope|pull access denied|not found|no such host|registry/i);
    expect(await containersOfService(serviceId, true)).toEqual([]);
    await removeService(serviceId);
  }), TEST_TIMEOUT_MS);

  test('a health check keeps the task starting until it passes; one that never passes fails it', () => withLogs(async () => {
    // The gated one's failures within its start period do not count (the engine's rule); the sick one has none.
    const health = (test: readonly string[], startPeriodMs = 0): Json => ({ Test: [...test], Interval: 200 * NS_PER_MS, Timeout: 2_000 * NS_PER_MS, Retries: 2, StartPeriod: startPeriodMs * NS_PER_MS });
    const gated = await createService({
      Name: 'gated',
      TaskTemplate: {
        ContainerSpec: {
          Image: TEST_IMAGE, Command: ['sh', '-c'], Args: ['sleep 2; echo ok > /tmp/ok; exec sleep 3600'],
          Healthcheck: health(['CMD-SHELL', 'test -e /tmp/ok'], 20_000), StopGracePeriod: 1_000 * NS_PER_MS,
        },
        RestartPolicy: { Condition: 'none' },
      },
      Mode: { Replicated: { Replicas: 1 } },
    });
    // Every state seen, with when, and the container's start as the engine recorded it.
    const seen: Array<{ state: string; at: number }> = [];
    let containerStartedAt = 0;
    const [task] = await waitFor('the gated task running', 60_000, async () => {
      lastTasks = await tasksOf(gated);
      const t = lastTasks[0];
      if (t === undefined) return undefined;
      seen.push({ state: t.Status.State, at: Date.now() });
      if (containerStartedAt === 0) {
        const [c] = await containers([`${TASK_LABEL}=${t.ID}`]);
        if (c !== undefined) containerStartedAt = Date.parse((await docker.getContainer(c.Id).inspect()).State.StartedAt);
      }
      return t.Status.State === 'running' ? [t] : undefined;
    }, { describe: showTasks, intervalMs: 100 });
    const startingSeen = seen.filter((s) => s.state === 'starting');
    const changes = seen.filter((s, i) => i === 0 || seen[i - 1]!.state !== s.state);
    console.log(`health-gated task: states seen ${changes.map((s) => `${s.state}@+${s.at - seen[0]!.at}ms`).join(', ')}; running ${Date.parse(task!.Status.Timestamp) - containerStartedAt} ms after the container started`);
    expect(containerStartedAt).toBeGreaterThan(0);
    // Seen starting while its container ran, and running only once the check could pass (~2 s in).
    expect(startingSeen.some((s) => s.at > containerStartedAt)).toBe(true);
    expect(Date.parse(task!.Status.Timestamp) - containerStartedAt).toBeGreaterThanOrEqual(1_800);
    expect(task!.Status.Message).toBe('started');

    const sick = await createService({
      Name: 'sick',
      TaskTemplate: {
        ContainerSpec: { Image: TEST_IMAGE, Command: ['sleep'], Args: ['3600'], Healthcheck: health(['CMD', 'false']), StopGracePeriod: 1_000 * NS_PER_MS },
        RestartPolicy: { Condition: 'none' },
      },
      Mode: { Replicated: { Replicas: 1 } },
    });
    const sickSeen: string[] = [];
    const failed = await waitFor('the sick task failed', 60_000, async () => {
      lastTasks = await tasksOf(sick);
      const t = lastTasks[0];
      if (t !== undefined && sickSeen[sickSeen.length - 1] !== t.Status.State) sickSeen.push(t.Status.State);
      return t?.Status.State === 'failed' ? t : undefined;
    }, { describe: showTasks, intervalMs: 100 });
    expect(failed.Status.Message).toBe(UNHEALTHY_MESSAGE);
    expect(failed.Status.Err).toBe(UNHEALTHY_MESSAGE);
    expect(sickSeen).not.toContain('running');
    // Stopped, and not restarted (condition none).
    expect(await containers([`${TASK_LABEL}=${failed.ID}`])).toEqual([]);
    await sleep(1_000);
    expect(await tasksOf(sick)).toHaveLength(1);
    for (const id of [gated, sick]) await removeService(id);
  }), TEST_TIMEOUT_MS);

  test('a secret is a file in the container, and in no node log nor the engine\'s record of it', () => withLogs(async () => {
    const secret = `pw-${Buffer.from(realRandom().bytes(12)).toString('hex')}`;
    const { ID: secretId } = await api<{ ID: string }>('POST', '/secrets/create', { Name: 'db-password', Data: Buffer.from(secret).toString('base64') });
    const serviceId = await createService({
      Name: 'vault',
      TaskTemplate: {
        ContainerSpec: {
          Image: TEST_IMAGE, Command: ['sleep'], Args: ['3600'], StopGracePeriod: 1_000 * NS_PER_MS,
          Secrets: [{ SecretID: secretId, SecretName: 'db-password', File: { Name: 'db-password', UID: '0', GID: '0', Mode: 0o444 } }],
        },
      },
      Mode: { Replicated: { Replicas: 1 } },
    });
    const [task] = await running(serviceId, 1);
    const [c] = await containers([`${TASK_LABEL}=${task!.ID}`]);
    expect(c).toBeDefined();
    const cat = await exec(c!.Id, ['cat', '/run/secrets/db-password']);
    expect(cat).toEqual({ exitCode: 0, stdout: secret, stderr: '' });
    const ls = await exec(c!.Id, ['ls', '-ln', '/run/secrets/db-password']);
    expect(ls.stdout).toMatch(/^-r--r--r-- +1 0 +0 /);
    const encoded = Buffer.from(secret).toString('base64');
    for (const name of NODE_NAMES) {
      const logs = nodeLogs(name);
      expect(logs).not.toContain(secret);
      expect(logs).not.toContain(encoded);
    }
    const inspected = JSON.stringify(await docker.getContainer(c!.Id).inspect());
    expect(inspected).not.toContain(secret);
    expect(inspected).not.toContain(encoded);
    if (engine!.log !== undefined) expect(readFileSync(engine!.log, 'utf8')).not.toContain(secret);
    await removeService(serviceId);
  }), TEST_TIMEOUT_MS);

  test('kill -9 of a worker\'s node process, then swarm start: it adopts its running containers', () => withLogs(async () => {
    const before = await running(sleepers, 5);
    // The worker with the most containers of the service.
    const counts = await Promise.all(['w1', 'w2'].map(async (n) => ({ name: n, list: await containers([`${NODE_ID_LABEL}=${ids.get(n)!}`, `${SERVICE_LABEL}=${sleepers}`]) })));
    counts.sort((a, b) => b.list.length - a.list.length);
    restarted = counts[0]!.name;
    const held = counts[0]!.list;
    expect(held.length).toBeGreaterThan(0);
    const heldIds = held.map((c) => c.Id).sort();
    const existing = new Set((await containersOfNode(restarted, true)).map((c) => c.Id));

    const killedAt = Date.now();
    await cluster.kill(restarted, 'SIGKILL');
    // Containers outlive their agent.
    expect((await containersOfNode(restarted)).map((c) => c.Id).sort()).toEqual(heldIds);
    await cluster.start(restarted, ['start'], { env: { DOCKER_HOST: engine!.host } });
    console.log(`${restarted} killed and started again in ${Date.now() - killedAt} ms (holding ${held.length} containers)`);

    // Its node is Ready again, under its own id, and the service's tasks are the same ones.
    await waitFor(`${restarted} ready again`, 30_000, async () => {
      const node = await api('GET', `/nodes/${ids.get(restarted)!}`);
      return node.Status.State === 'ready' ? node : undefined;
    });
    // Long enough for a reconciliation after the restart to show (a replacement, a removal).
    await sleep(3_000);
    const after = await running(sleepers, 5);
    expect(after.map((t) => t.ID).sort()).toEqual(before.map((t) => t.ID).sort());
    // The same containers run there, and none was created since.
    expect((await containersOfNode(restarted)).map((c) => c.Id).sort()).toEqual(heldIds);
    expect((await containersOfNode(restarted, true)).filter((c) => !existing.has(c.Id))).toEqual([]);
    // No duplicates: one running container per running task, and none of another task.
    const list = await containersOfService(sleepers);
    expect(list).toHaveLength(5);
    expect(new Set(list.map((c) => c.Labels[TASK_LABEL]))).toEqual(new Set(after.map((t) => t.ID)));
    const lost = (await tasksOf(sleepers)).filter((t) => t.Status.Message.includes('task lost'));
    expect(lost).toEqual([]);
  }), TEST_TIMEOUT_MS);

  test('drain: the drained node\'s containers are stopped and removed, and their replicas run elsewhere', () => withLogs(async () => {
    const before = await running(sleepers, 5);
    drained = restarted === '' ? 'w1' : restarted;
    const others = NODE_NAMES.filter((n) => n !== drained);
    const moved = before.filter((t) => t.NodeID === ids.get(drained));
    expect(moved.length).toBeGreaterThan(0);
    const node = await api('GET', `/nodes/${ids.get(drained)!}`);
    const drainedAt = Date.now();
    await api('POST', `/nodes/${ids.get(drained)!}/update?version=${node.Version.Index}`, { ...node.Spec, Availability: 'drain' });
    const after = await running(sleepers, 5, others);
    const left = await waitFor(`no container left on ${drained}`, 30_000, async () => {
      lastContainers = await containersOfNode(drained, true);
      return lastContainers.length === 0 ? lastContainers : undefined;
    }, { describe: showContainers });
    console.log(`drained ${drained}: its ${moved.length} replicas moved and its containers removed after ${Date.now() - drainedAt} ms`);
    expect(left).toEqual([]);
    for (const task of moved) expect(after.map((t) => t.ID)).not.toContain(task.ID);
    const list = await containersOfService(sleepers);
    expect(list).toHaveLength(5);
    expect(list.every((c) => c.Labels[NODE_ID_LABEL] !== ids.get(drained))).toBe(true);
  }), TEST_TIMEOUT_MS);

  test('swarm leave of a worker removes its containers', () => withLogs(async () => {
    const worker = drained === 'w1' ? 'w2' : 'w1';
    const held = await containersOfNode(worker, true);
    expect(held.length).toBeGreaterThan(0);
    await cluster.request(worker, 'POST', '/swarm/leave');
    expect(await within(`${worker} exiting`, cluster.node(worker).exited, 30_000)).toBe(0);
    const gone = await waitFor(`${worker}'s containers removed`, 15_000, async () => {
      lastContainers = await containersOfNode(worker, true);
      return lastContainers.length === 0 ? lastContainers : undefined;
    }, { describe: showContainers });
    expect(gone).toEqual([]);
    for (const c of held) await expect(docker.getContainer(c.Id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  }), TEST_TIMEOUT_MS);
});

// The agent benchmark: time from creating a service of N replicas to all N RUNNING, on one real
// Docker engine, three ways in one run:
//   - ours: a one-node cluster (`swarm init` as an OS process, its agent driving the engine through
//     dockerode), the service created through the control socket;
//   - Docker's swarm mode on the same engine (`docker swarm init`, `docker service create`);
//   - the engine's limit: the same N containers created and started straight through the Engine
//     API with dockerode, at the best of a few concurrencies.
// All with host networking (the private engine has no bridge) and the local busybox image (nothing
// is pulled). A benchmark, not a test: it prints figures and exits 0 whether goals are met or not.
//
//   npm run bench:agent                    50 replicas, 2 rounds
//   npm run bench:agent -- --replicas N --rounds R
//
// The engine: SWARM_TEST_DOCKER_HOST (unix://...), or a private one that .ci/dockerd.sh starts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { controlRequest } from '../cli/index.js';
import { freePort, run, startEngine } from './docker-engine.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const IMAGE = 'swarm-test/busybox:1';
const LABEL = 'swarm.bench.agent';
const CONCURRENCIES = [4, 8, 16];
const WAIT_MS_MAX = 300_000;
const POLL_MS = 50;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const now = (): number => performance.now();

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`${name} needs a positive integer, got '${process.argv[at + 1] ?? ''}'`);
    process.exit(2);
  }
  return value;
}

/** Polls `count` until it reaches n; the time from `start` when it did. */
async function until(n: number, start: number, count: () => Promise<number>, what: string): Promise<number> {
  const deadline = now() + WAIT_MS_MAX;
  for (;;) {
    if ((await count()) >= n) return now() - start;
    if (now() > deadline) throw new Error(`${what}: not ${n} running within ${WAIT_MS_MAX} ms`);
    await sleep(POLL_MS);
  }
}

async function removeLabelled(docker: Docker, label: string): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

// ---- the engine's limit ----

async function engineLimit(docker: Docker, n: number, concurrency: number): Promise<number> {
  const start = now();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const container = await docker.createContainer({
        name: `bench-direct-${i}`, Image: IMAGE, Cmd: ['sleep', '3600'], Labels: { [LABEL]: 'direct' },
        HostConfig: { NetworkMode: 'host' },
      });
      await container.start();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const ms = now() - start;
  await removeLabelled(docker, `${LABEL}=direct`);
  return ms;
}

// ---- Docker's swarm mode ----

async function swarmMode(docker: Docker, env: NodeJS.ProcessEnv, n: number): Promise<number> {
  const start = now();
  await run('docker', ['service', 'create', '--detach', '--quiet', '--name', 'bench', '--replicas', String(n), '--network', 'host', '--restart-condition', 'none', IMAGE, 'sleep', '3600'], env);
  const ms = await until(n, start, async () => {
    const tasks = await docker.listTasks({ filters: { service: ['bench'], 'desired-state': ['running'] } }) as Array<{ Status?: { State?: string } }>;
    return tasks.filter((t) => t.Status?.State === 'running').length;
  }, 'swarm mode');
  await run('docker', ['service', 'rm', 'bench'], env);
  // The service's containers are removed asynchronously: wait for them, so the next round starts clean.
  await until(0, now(), async () => -(await docker.listContainers({ all: true, filters: { label: ['com.docker.swarm.service.name=bench'] } })).length, 'swarm mode cleanup');
  return ms;
}

// ---- ours ----

interface Ours {
  readonly stateDir: string;
  readonly child: ChildProcess;
}

async function startOurs(dockerHost: string): Promise<Ours> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-agent-'));
  const addr = `127.0.0.1:${await freePort()}`;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/main.ts'), 'init', '--state-dir', stateDir, '--listen-addr', addr], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DOCKER_HOST: dockerHost },
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const deadline = now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`swarm init exited with ${child.exitCode}:\n${output}`);
    if (/Swarm initialized/.test(output)) {
      try {
        await controlRequest(stateDir, 'GET', '/_ping', undefined, 1000);
        break;
      } catch {
        // not yet
      }
    }
    if (now() > deadline) throw new Error(`swarm init not ready in 60 s:\n${output}`);
    await sleep(100);
  }
  // Measured on a node whose agent has its session, as `docker swarm init` leaves one: a one-task
  // service runs first (the node is registered `ready` before its agent finds the new leader).
  const node = { stateDir, child };
  await ours(node, 1, -1);
  return node;
}

async function ours(node: Ours, n: number, round: number): Promise<number> {
  const name = round < 0 ? 'warmup' : `bench${round}`;
  const start = now();
  const created = await controlRequest<{ ID: string }>(node.stateDir, 'POST', '/services/create', {
    Name: name,
    TaskTemplate: { ContainerSpec: { Image: IMAGE, Command: ['sleep', '3600'] }, RestartPolicy: { Condition: 'none' } },
    Mode: { Replicated: { Replicas: n } },
  });
  const filters = encodeURIComponent(JSON.stringify({ service: [created.ID], 'desired-state': ['running'] }));
  const ms = await until(n, start, async () => {
    const tasks = await controlRequest<Array<{ Status: { State: string } }>>(node.stateDir, 'GET', `/tasks?filters=${filters}`);
    return tasks.filter((t) => t.Status.State === 'running').length;
  }, 'ours');
  await controlRequest(node.stateDir, 'DELETE', `/services/${created.ID}`);
  return ms;
}

// ---- the run ----

async function main(): Promise<void> {
  const n = flag('--replicas', 50);
  const rounds = flag('--rounds', 2);
  const engine = await startEngine();
  const { dockerHost, env } = engine;
  const docker = new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  const version = await docker.version();
  console.log(`# Agent benchmark: ${n} replicas of ${IMAGE} to RUNNING (node ${process.version}, ${os.cpus().length} cores, Docker ${version.Version}, host networking)`);
  const results = { engine: [] as number[], swarm: [] as number[], ours: [] as number[] };
  let bestConcurrency = CONCURRENCIES[0]!;
  try {
    // The engine's limit: each concurrency once, then the best one each round.
    const byConcurrency: string[] = [];
    let best = Number.POSITIVE_INFINITY;
    for (const c of CONCURRENCIES) {
      const ms = await engineLimit(docker, n, c);
      byConcurrency.push(`${c} at a time: ${(ms / 1000).toFixed(2)} s`);
      if (ms < best) {
        best = ms;
        bestConcurrency = c;
      }
    }
    console.log(`engine's limit by concurrency: ${byConcurrency.join('; ')}`);
    for (let round = 0; round < rounds; round++) {
      results.engine.push(await engineLimit(docker, n, bestConcurrency));

      await run('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1'], env);
      try {
        results.swarm.push(await swarmMode(docker, env, n));
      } finally {
        await run('docker', ['swarm', 'leave', '--force'], env);
      }

      const node = await startOurs(dockerHost);
      try {
        results.ours.push(await ours(node, n, round));
        // Its containers go with the service: wait until they are removed.
        await until(0, now(), async () => -(await docker.listContainers({ all: true, filters: { label: ['com.swarm.workload.id'] } })).length, 'ours cleanup');
      } finally {
        node.child.kill('SIGTERM');
        await new Promise((resolve) => (node.child.exitCode !== null ? resolve(undefined) : node.child.once('exit', resolve)));
        rmSync(node.stateDir, { recursive: true, force: true });
      }
    }
  } finally {
    await removeLabelled(docker, LABEL).catch(() => undefined);
    await engine.stop();
  }
  const best = (xs: number[]): number => Math.min(...xs);
  const fmt = (xs: number[]): string => `${(best(xs) / 1000).toFixed(2)} s (rounds: ${xs.map((x) => (x / 1000).toFixed(2)).join(', ')})`;
  console.log('| way | create to all RUNNING | ratio to the engine\'s limit |');
  console.log('|---|---|---|');
  console.log(`| the engine's limit (dockerode, ${bestConcurrency} at a time) | ${fmt(results.engine)} | 1.00 |`);
  console.log(`| Docker swarm mode | ${fmt(results.swarm)} | ${(best(results.swarm) / best(results.engine)).toFixed(2)} |`);
  console.log(`| ours | **${fmt(results.ours)}** | **${(best(results.ours) / best(results.engine)).toFixed(2)}** (${(best(results.ours) / best(results.swarm)).toFixed(2)} of swarm mode's) |`);
}

await main();

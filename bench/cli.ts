// The CLI benchmark (issue 8): wall time of `swarm node ls` against a running one-node cluster,
// the built executable as a user runs it (`./swarm`, which is bin/swarm.js on dist/), beside
// `docker node ls` against a real swarm-mode engine measured in the same run. Goal: our median at
// most 1.5x the docker CLI's. Also printed: bare `node -e 0` (the floor every Node CLI pays), and
// once the other ways to run the command (npx, npm run, the sources through tsx, `--help`).
//
//   npm run bench:cli                        30 runs of each, 10 of each other way
//   npm run bench:cli -- --runs N --ways-runs M      (M = 0 skips the other ways)
//   npm run bench:cli -- --only-up [--up-runs K]      only the swarm up figure (3 runs by default)
//
// Then `swarm up -f examples/stack.yml` on a fresh state directory, until it reports every example
// task RUNNING (goal: under 3 s), split at the moment the node it started answers.
//
// The commands are run round-robin (node, ours, docker, then the next round), so that the load of
// a busy machine falls on all of them alike; each run is a fresh process, timed from spawn to
// exit. The engine: SWARM_TEST_DOCKER_HOST (unix://...), or a private dockerd that .ci/dockerd.sh
// starts (bench/docker-engine.ts); without one the docker figure is skipped, with a message, and
// ours is still printed. A benchmark, not a test: it exits 0 whether the goal is met or not.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatMs, summarize } from './cluster-lib.js';
import { freePort, run, startEngine, type Engine } from './docker-engine.js';

const ROOT = path.resolve(import.meta.dirname, '..');
/** The executable as a user on a fresh clone runs it: ./swarm (a link to bin/swarm.js). */
const SWARM = path.join(ROOT, 'swarm');
const GOAL_RATIO_MAX = 1.5;
const WARMUP_RUNS = 3;
const STOP_WAIT_MS = 15_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`${name} needs a whole number, got '${process.argv[at + 1] ?? ''}'`);
    process.exit(2);
  }
  return value;
}

interface Way {
  readonly label: string;
  readonly cmd: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** The exit code the command is expected to end with (a check that it did its work). */
  readonly status?: number;
  /** Its stdout must match (a check that it did its work). */
  readonly expect?: RegExp;
}

/** One run of a command, from spawn to exit, in ms; throws if it did not do what it should. */
function timeOnce(way: Way): number {
  const start = performance.now();
  const result = spawnSync(way.cmd, way.args, { cwd: ROOT, env: way.env ?? process.env, encoding: 'utf8' });
  const ms = performance.now() - start;
  if (result.error !== undefined) throw new Error(`${way.label}: ${result.error.message}`);
  if (result.status !== (way.status ?? 0) || (way.expect !== undefined && !way.expect.test(result.stdout))) {
    throw new Error(`${way.label}: exit ${result.status}\n${result.stdout}${result.stderr}`);
  }
  return ms;
}

/** Runs the ways round-robin, `runs` times each after the warm-up; the samples of each. */
function measure(ways: readonly Way[], runs: number): number[][] {
  for (const way of ways) for (let i = 0; i < WARMUP_RUNS; i++) timeOnce(way);
  const samples = ways.map(() => [] as number[]);
  for (let round = 0; round < runs; round++) ways.forEach((way, i) => samples[i]!.push(timeOnce(way)));
  return samples;
}

function row(label: string, samples: readonly number[]): string {
  const s = summarize(samples);
  return `| ${label} | ${formatMs(s.p50)} | ${formatMs(s.p90)} | ${formatMs(s.min)} | ${s.count} |`;
}

const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

// ---- our one-node cluster ---------------------------------------------------------------------

interface Cluster {
  readonly stateDir: string;
  readonly initMs: number;
  stop(): Promise<void>;
}

/** `swarm init -d` with the built executable on a temp state directory and a loopback port. */
async function startCluster(): Promise<Cluster> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-cli-'));
  const start = performance.now();
  await run(SWARM, ['init', '-d', '--state-dir', stateDir, '--listen-addr', `127.0.0.1:${await freePort()}`]);
  const initMs = performance.now() - start;
  return {
    stateDir, initMs,
    stop: async () => {
      const pidFile = path.join(stateDir, 'node.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : Number.NaN;
      if (Number.isInteger(pid) && pid > 0) {
        try {
          process.kill(pid, 'SIGTERM');
          const deadline = performance.now() + STOP_WAIT_MS;
          while (performance.now() < deadline) {
            process.kill(pid, 0); // throws once it is gone
            await sleep(50);
          }
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

// ---- Docker's swarm mode ----------------------------------------------------------------------

interface DockerSwarm {
  readonly engine: Engine;
  readonly version: string;
  stop(): Promise<void>;
}

/** A swarm-mode engine: a private dockerd (or SWARM_TEST_DOCKER_HOST's) with `docker swarm init`. */
async function startDockerSwarm(): Promise<DockerSwarm> {
  const engine = await startEngine();
  try {
    const version = (await run('docker', ['version', '--format', '{{.Server.Version}}'], engine.env)).trim();
    const state = (await run('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'], engine.env)).trim();
    // An engine named by SWARM_TEST_DOCKER_HOST may be in swarm mode already: used as it is, left as it was.
    const initialized = state !== 'active';
    if (initialized) await run('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1'], engine.env);
    return {
      engine, version,
      stop: async () => {
        if (initialized) await run('docker', ['swarm', 'leave', '--force'], engine.env).catch((error: unknown) => console.error(String(error)));
        await engine.stop();
      },
    };
  } catch (error) {
    await engine.stop();
    throw error;
  }
}

// ---- swarm up to RUNNING ----------------------------------------------------------------------

interface UpTimes {
  /** Spawn of `swarm up` -> its first service created (the node started and answering). */
  readonly clusterMs: number;
  /** Spawn -> "Stack ... converged": migrate completed, every web replica RUNNING (its health check passed). */
  readonly convergedMs: number;
}

/**
 * Issue 8's second figure: `swarm up -f examples/stack.yml` on the fresh state directory
 * `stateDir`, the built executable attached as a user runs it, timed from spawn until it reports
 * the stack converged (its line is printed on the first committed state where every example task
 * runs). Then Ctrl-C, `swarm down`, `swarm stop`, and whatever task process is left is killed.
 */
async function swarmUpToRunning(stateDir: string): Promise<UpTimes> {
  const started = performance.now();
  const child = spawn(SWARM, ['up', '-f', path.join(ROOT, 'examples/stack.yml'), '--state-dir', stateDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let clusterMs = 0;
  let convergedMs = 0;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`swarm up did not converge within 120 s:\n${output}`)), 120_000);
      const seen = (chunk: Buffer): void => {
        output += chunk.toString();
        if (clusterMs === 0 && /Created service/.test(output)) clusterMs = performance.now() - started;
        if (/Stack \S+ converged/.test(output)) {
          convergedMs = performance.now() - started;
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', seen);
      child.stderr.on('data', seen);
      child.once('exit', (code) => reject(new Error(`swarm up exited ${code} before converging:\n${output}`)));
    });
  } finally {
    child.kill('SIGINT');
    await exited;
    spawnSync(SWARM, ['down', '-f', path.join(ROOT, 'examples/stack.yml'), '--state-dir', stateDir], { stdio: 'ignore', timeout: 60_000 });
    spawnSync(SWARM, ['stop', '--state-dir', stateDir], { stdio: 'ignore', timeout: 60_000 });
    killTaskProcesses(stateDir);
  }
  return { clusterMs, convergedMs };
}

/** Kills the process group of every task recorded under `<stateDir>/tasks/<task>/workload.json`. */
function killTaskProcesses(stateDir: string): void {
  const tasks = path.join(stateDir, 'tasks');
  if (!existsSync(tasks)) return;
  for (const entry of readdirSync(tasks)) {
    try {
      const { pid } = JSON.parse(readFileSync(path.join(tasks, entry, 'workload.json'), 'utf8')) as { pid: number | null };
      if (pid !== null && pid > 0) process.kill(-pid, 'SIGKILL');
    } catch {
      // no record, or gone already
    }
  }
}

// ---- the run ----------------------------------------------------------------------------------

async function measureUp(): Promise<void> {
  console.log('');
  const upDir = mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-up-'));
  try {
    const runs = flag('--up-runs', 3);
    const samples: UpTimes[] = [];
    for (let i = 0; i < runs; i++) {
      const dir = path.join(upDir, `run-${i}`);
      samples.push(await swarmUpToRunning(dir));
    }
    const cluster = summarize(samples.map((t) => t.clusterMs));
    const converged = summarize(samples.map((t) => t.convergedMs));
    console.log(`swarm up -f examples/stack.yml on a fresh state directory (${runs} runs; goal: all tasks RUNNING in under 3 s):`);
    console.log('');
    console.log('| from spawn of swarm up to | median | min | max |');
    console.log('|---|---|---|---|');
    console.log(`| the node answering, first service created | ${formatMs(cluster.p50)} | ${formatMs(cluster.min)} | ${formatMs(cluster.max)} |`);
    console.log(`| every example task RUNNING (migrate completed, 3 web replicas healthy) | ${formatMs(converged.p50)} | ${formatMs(converged.min)} | ${formatMs(converged.max)} |`);
    console.log('');
    console.log('The example holds web until migrate completed (depends_on), and a web replica is RUNNING only after its first health check passed, one interval (1 s) after it started.');
  } finally {
    rmSync(upDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--only-up')) {
    await measureUp();
    return;
  }
  const runs = flag('--runs', 30);
  const waysRuns = flag('--ways-runs', 10);
  console.log(`# CLI benchmark: swarm node ls beside docker node ls (node ${process.version}, ${os.cpus().length} cores, load average ${loadAverage()})`);
  // The build is made (or remade when stale) by the launcher itself: one run before anything is timed.
  timeOnce({ label: 'swarm --help', cmd: SWARM, args: ['--help'], expect: /Commands:/ });

  let dockerSwarm: DockerSwarm | undefined;
  try {
    dockerSwarm = await startDockerSwarm();
  } catch (error) {
    console.log(`docker: UNAVAILABLE, so no docker figure in this run (${String(error).split('\n')[0]})`);
  }
  const cluster = await startCluster();
  try {
    console.log(`our cluster: swarm init -d took ${formatMs(cluster.initMs)} (detached start until its control socket answered)`);
    if (dockerSwarm !== undefined) console.log(`docker: engine ${dockerSwarm.version} in swarm mode (${dockerSwarm.engine.private ? 'a private dockerd' : dockerSwarm.engine.dockerHost})`);
    const node: Way = { label: '`node -e 0` (bare Node start)', cmd: process.execPath, args: ['-e', '0'] };
    const ours: Way = { label: '`swarm node ls` (./swarm)', cmd: SWARM, args: ['node', 'ls', '--state-dir', cluster.stateDir], expect: /Leader/ };
    const ways = [node, ours];
    if (dockerSwarm !== undefined) ways.push({ label: '`docker node ls`', cmd: 'docker', args: ['node', 'ls'], env: dockerSwarm.engine.env, expect: /Leader/ });
    const samples = measure(ways, runs);

    console.log('');
    console.log('| command | median | p90 | min | runs |');
    console.log('|---|---|---|---|---|');
    ways.forEach((way, i) => console.log(row(way.label, samples[i]!)));
    const oursMedian = summarize(samples[1]!).p50;
    if (dockerSwarm !== undefined) {
      const ratio = oursMedian / summarize(samples[2]!).p50;
      console.log('');
      console.log(`ratio of medians, swarm node ls / docker node ls: **${ratio.toFixed(2)}x** (goal: at most ${GOAL_RATIO_MAX}x: ${ratio <= GOAL_RATIO_MAX ? 'met' : 'NOT met'})`);
    } else {
      console.log('');
      console.log(`ratio: not measured (docker unavailable); goal: at most ${GOAL_RATIO_MAX}x docker node ls's median`);
    }

    if (waysRuns > 0) {
      const other: Way[] = [
        { label: '`swarm --help` (./swarm)', cmd: SWARM, args: ['--help'], expect: /Commands:/ },
        { label: '`node dist/main.js node ls` (no launcher)', cmd: process.execPath, args: [path.join(ROOT, 'dist/main.js'), 'node', 'ls', '--state-dir', cluster.stateDir], expect: /Leader/ },
        { label: '`npx swarm node ls`', cmd: 'npx', args: ['--no-install', 'swarm', 'node', 'ls', '--state-dir', cluster.stateDir], expect: /Leader/ },
        { label: '`npm run --silent swarm -- node ls`', cmd: 'npm', args: ['run', '--silent', 'swarm', '--', 'node', 'ls', '--state-dir', cluster.stateDir], expect: /Leader/ },
        { label: '`node --import tsx cli/main.ts node ls` (the sources; before the build)', cmd: process.execPath, args: ['--import', 'tsx', path.join(ROOT, 'cli/main.ts'), 'node', 'ls', '--state-dir', cluster.stateDir], expect: /Leader/ },
      ];
      const otherSamples = measure(other, waysRuns);
      console.log('');
      console.log('Other ways to run it, round-robin among themselves:');
      console.log('');
      console.log('| command | median | p90 | min | runs |');
      console.log('|---|---|---|---|---|');
      other.forEach((way, i) => console.log(row(way.label, otherSamples[i]!)));
    }
  } finally {
    await cluster.stop();
    await dockerSwarm?.stop();
  }

  await measureUp();
  console.log(`load average at the end: ${loadAverage()}`);
}

await main();

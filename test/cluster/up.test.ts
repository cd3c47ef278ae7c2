// `swarm up` end to end, as a user runs it: the real `swarm` executable in child processes, against
// the node process `swarm up` itself starts (a single-node cluster in a temp state directory, on
// loopback), with a stack file of process tasks (`x-runtime: process`). The tests share the node
// and run in order:
//  1. `swarm up` on a fresh state directory initialises the cluster, creates the stack and shows
//     convergence (plain lines when piped); `depends_on` with service_completed_successfully holds
//     web's tasks until the migrate job has completed (checked on the committed events);
//     Ctrl-C (SIGINT) detaches, exit 0, the stack keeps running;
//  2. `--dry-run`: unchanged services planned as such; after a change to the file, the update with
//     its field diff; nothing changes either time;
//  3. `-d` applies the change and returns; `swarm up` again re-attaches and shows it converged;
//  4. `swarm service scale` waits for the new replica; `swarm service update` on a terminal (a
//     pseudo-terminal from script(1)) draws the rolling update as bars; `swarm service rollback`;
//  5. a bad stack file: the error names file, line and key, exit 1, and nothing changed;
//  6. a service that cannot be placed: exit 2 with the scheduler's reason;
//  7. `swarm down` removes the stack; `swarm stop` stops the node.
// Every wait has a deadline.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killTaskProcesses } from './harness.js';
import { tail, waitFor, type Json } from './helpers.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
/** The `swarm` executable as a user runs it: the build of `npm ci` (rebuilt first if a source is newer). */
const SWARM = path.join(ROOT, 'bin/swarm.js');
const TEST_TIMEOUT_MS = 120_000;
const NODE = JSON.stringify(process.execPath);

let dir = '';
let stateDir = '';
let stackFile = '';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The `swarm` command with ARGS in the temp directory; resolves when it exits (killed after `timeoutMs`). */
function swarm(args: readonly string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SWARM, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr });
    });
  });
}

/** `swarm ARGS` attached: the child, its output so far, and its exit. */
function attached(args: readonly string[]): { child: ReturnType<typeof spawn>; output: () => string; exited: Promise<Run> } {
  const child = spawn(process.execPath, [SWARM, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<Run>((resolve) => child.on('exit', (code, signal) => resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr })));
  return { child, output: () => stdout + stderr, exited };
}

async function ok(args: readonly string[]): Promise<string> {
  const run = await swarm(args);
  if (run.code !== 0) throw new Error(`swarm ${args.join(' ')} exited ${run.code}\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

async function services(): Promise<Json[]> {
  return JSON.parse(await ok(['service', 'ls', '--state-dir', stateDir, '--format', 'json'])) as Json[];
}

async function tasksOf(service: string): Promise<Json[]> {
  return JSON.parse(await ok(['task', 'ls', '--state-dir', stateDir, '--format', 'json', '--filter', `service=${service}`])) as Json[];
}

async function running(service: string, count: number, env?: string): Promise<Json[]> {
  return waitFor(`${count} tasks of ${service} running${env === undefined ? '' : ` with ${env}`}`, 60_000, async () => {
    const up = (await tasksOf(service)).filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');
    if (up.length !== count) return undefined;
    if (env !== undefined && !up.every((t) => (t.Spec.ContainerSpec.Env ?? []).includes(env))) return undefined;
    return up;
  });
}

function stack(version: string, webReplicas = 2): string {
  return [
    'name: uptest',
    'services:',
    '  migrate:',
    '    x-runtime: process',
    `    command: [${NODE}, "-e", "setTimeout(() => console.log('migrated'), 1500)"]`,
    '    deploy:',
    '      mode: replicated-job',
    '      replicas: 1',
    '  web:',
    '    x-runtime: process',
    `    command: [${NODE}, "-e", "console.log('web', process.env.VERSION); setInterval(() => {}, 1000)"]`,
    '    environment:',
    `      VERSION: "${version}"`,
    '    depends_on:',
    '      migrate:',
    '        condition: service_completed_successfully',
    '    deploy:',
    `      replicas: ${webReplicas}`,
    '      update_config:',
    '        parallelism: 1',
    '        delay: 0s',
    '',
  ].join('\n');
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'swarm-up-'));
  stateDir = path.join(dir, 'state');
  stackFile = path.join(dir, 'compose.yaml');
  writeFileSync(stackFile, stack('1'));
});

afterAll(async () => {
  if (dir === '') return;
  await swarm(['stop', '--state-dir', stateDir], 40_000).catch(() => undefined);
  killTaskProcesses(dir);
  rmSync(dir, { recursive: true, force: true });
}, TEST_TIMEOUT_MS);

test('swarm up starts a cluster, holds web until migrate completed, shows convergence, and Ctrl-C detaches', async () => {
  // No -f: compose.yaml in the working directory.
  const up = attached(['up', '--state-dir', stateDir]);
  try {
    await waitFor('swarm up to report the stack converged', 90_000, async () => (/converged/.test(up.output()) ? true : undefined), { describe: () => tail(up.output()) });
  } catch (error) {
    up.child.kill('SIGKILL');
    throw error;
  }
  up.child.kill('SIGINT');
  const run = await up.exited;
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/initialising a single-node cluster/);
  // Piped: plain lines, one per change of a service's state, ending with both converged.
  expect(run.stdout).toMatch(/^uptest_web +2\/2 running$/m);
  expect(run.stdout).toMatch(/^uptest_migrate +1\/1 completed$/m);
  expect(run.stdout.includes('\u001b[')).toBe(false);
  expect(run.stdout).toMatch(/Detached/);

  const names = (await services()).map((s) => s.Spec.Name).sort();
  expect(names).toEqual(['uptest_migrate', 'uptest_web']);
  await running('uptest_web', 2, 'VERSION=1');

  // depends_on: no task of web was created before migrate's task completed.
  const events = await swarm(['events', '--state-dir', stateDir, '--since', '0', '--format', 'json'], 3_000);
  const lines = events.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Json);
  const ids = new Map((await services()).map((s) => [s.Spec.Name as string, s.ID as string]));
  const migrateTasks = new Set(lines.filter((e) => e.Type === 'task' && e.Action === 'create' && e.Actor.Attributes.service === ids.get('uptest_migrate')).map((e) => e.Actor.ID as string));
  const completed = lines.find((e) => e.Type === 'task' && migrateTasks.has(e.Actor.ID) && e.Actor.Attributes.state === 'complete');
  const firstWeb = lines.find((e) => e.Type === 'task' && e.Action === 'create' && e.Actor.Attributes.service === ids.get('uptest_web'));
  expect(completed).toBeDefined();
  expect(firstWeb).toBeDefined();
  expect(firstWeb!.Version).toBeGreaterThan(completed!.Version);
}, TEST_TIMEOUT_MS);

test('--dry-run prints the plan and changes nothing', async () => {
  const before = await services();
  const same = await ok(['up', '--dry-run', '--state-dir', stateDir]);
  expect(same).toMatch(/unchanged web/);
  expect(same).toMatch(/dry run: nothing changed/);
  writeFileSync(stackFile, stack('2'));
  const changed = await ok(['up', '--dry-run', '--state-dir', stateDir]);
  expect(changed).toMatch(/update web: TaskTemplate\.ContainerSpec\.Env: .*VERSION=1.* -> .*VERSION=2/);
  const after = await services();
  expect(after.map((s) => [s.ID, s.Version.Index])).toEqual(before.map((s) => [s.ID, s.Version.Index]));
}, TEST_TIMEOUT_MS);

test('-d applies and returns; swarm up again re-attaches to the converged stack', async () => {
  const detached = await ok(['up', '-d', '--state-dir', stateDir]);
  expect(detached).toMatch(/Updated service uptest_web/);
  await running('uptest_web', 2, 'VERSION=2');
  const again = attached(['up', '--state-dir', stateDir]);
  await waitFor('the re-attached swarm up to show the converged stack', 30_000, async () => (/uptest_web +2\/2 running/.test(again.output()) ? true : undefined), { describe: () => tail(again.output()) });
  again.child.kill('SIGINT');
  const run = await again.exited;
  expect(run.code).toBe(0);
  // Nothing to change: no service was updated.
  expect(run.stdout).not.toMatch(/Updated service/);
}, TEST_TIMEOUT_MS);

test('service scale and update wait for convergence; on a terminal the update draws bars; rollback goes back', async () => {
  const scaled = await ok(['service', 'scale', '--state-dir', stateDir, 'uptest_web=3']);
  expect(scaled).toMatch(/uptest_web.*3\/3/);
  await running('uptest_web', 3);

  // script(1) gives the command a pseudo-terminal; its output is what the terminal received.
  const command = [process.execPath, SWARM, 'service', 'update', '--state-dir', stateDir, '--env-add', 'VERSION=3', 'uptest_web'].map((a) => `'${a}'`).join(' ');
  const pty = await new Promise<Run>((resolve) => {
    const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr: '' }));
  });
  expect(pty.code).toBe(0);
  expect(pty.stdout.includes('\u001b[')).toBe(true); // drawn in place
  expect(pty.stdout).toMatch(/[█░]/);                // a bar
  expect(pty.stdout).toMatch(/uptest_web +3\/3 running/);
  await running('uptest_web', 3, 'VERSION=3');

  const rolledBack = await ok(['service', 'rollback', '--state-dir', stateDir, 'uptest_web']);
  expect(rolledBack).toMatch(/converged/);
  await running('uptest_web', 3, 'VERSION=2');
}, TEST_TIMEOUT_MS);

test('a bad stack file is refused naming file, line and key; nothing changes', async () => {
  const before = await services();
  const bad = path.join(dir, 'bad.yml');
  writeFileSync(bad, ['name: uptest', 'services:', '  web:', '    image: busybox', '    build: .', '    deploy:', '      replicas: three', ''].join('\n'));
  const run = await swarm(['up', '-f', bad, '--state-dir', stateDir]);
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/bad\.yml:5:\d+: services\.web\.build/);
  expect(run.stderr).toMatch(/services\.web\.build: is not supported/);
  expect(run.stderr).toMatch(/bad\.yml:7:\d+: services\.web\.deploy\.replicas/);
  const after = await services();
  expect(after.map((s) => [s.ID, s.Version.Index])).toEqual(before.map((s) => [s.ID, s.Version.Index]));
}, TEST_TIMEOUT_MS);

test('a service that cannot be placed: exit 2 with the reason', async () => {
  const gpu = path.join(dir, 'gpu.yml');
  writeFileSync(gpu, ['name: gpu', 'services:', '  train:', '    x-runtime: process', `    command: [${NODE}, "-e", "setInterval(() => {}, 1000)"]`, '    deploy:', '      placement:', '        constraints: [node.labels.gpu==true]', ''].join('\n'));
  const run = await swarm(['up', '-f', gpu, '--state-dir', stateDir]);
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/gpu_train: no suitable node \(constraint node\.labels\.gpu==true not met on 1 node\)/);
  await ok(['down', '-f', gpu, '--state-dir', stateDir]);
}, TEST_TIMEOUT_MS);

test('swarm down removes the stack, swarm stop stops the node', async () => {
  const down = await ok(['down', '--state-dir', stateDir]);
  expect(down).toMatch(/Removed service uptest_web/);
  expect(down).toMatch(/Removed service uptest_migrate/);
  expect((await services()).filter((s) => String(s.Spec.Name).startsWith('uptest_'))).toEqual([]);
  const stop = await ok(['stop', '--state-dir', stateDir]);
  expect(stop).toMatch(/Node stopped/);
  const after = await swarm(['service', 'ls', '--state-dir', stateDir]);
  expect(after.code).toBe(1);
  expect(after.stderr).toMatch(/no node is running/);
}, TEST_TIMEOUT_MS);

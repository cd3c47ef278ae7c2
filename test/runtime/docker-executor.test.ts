// The Docker executor against a real Docker engine, no mocks. The engine is the one named by
// SWARM_TEST_DOCKER_HOST (unix:///...), or else a private one that .ci/dockerd.sh starts for this
// file (test/runtime/dockerd.ts; installing docker.io and busybox-static when they are missing) and stops at
// the end. The image is swarm-test/busybox:1, imported by that script from the local busybox:
// nothing is pulled. Every container runs with the host's network, and nothing here talks to any
// address but loopback (and the engine's socket).
//
// Exit codes and the engine's messages, logs tagged by stream (all, tail, follow), stops with a
// grace (a container that ignores its stop signal is killed when the grace ends), images that
// cannot be pulled, files (secrets) placed with their mode and kept out of the engine's records,
// health checks, resource limits and mounts, workloads found by label, and workloads adopted by a
// second executor on the same engine (an agent restart).
import { request as httpRequest } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import type { ExecutorLogLine, ExecutorSpec } from '../../runtime/index.js';
import { DockerExecutor, NODE_ID_LABEL, RealClock, WORKLOAD_ID_LABEL } from '../../runtime/env/real/index.js';
import { ENGINE_START_MS_MAX, ENGINE_STOP_MS_MAX, TEST_IMAGE, acquireTestEngine, type TestEngine } from './dockerd.js';

const clock = new RealClock();
const IMAGE = TEST_IMAGE;
/** Every container of this run carries it: afterAll removes them all, whatever a test left. */
const RUN_LABEL = 'com.swarm.test.run';
const RUN = `docker-executor-${process.pid}`;
const NODE = `node-${process.pid}`;

let engine: TestEngine | undefined;
let socket = '';
let dockerdLog: string | undefined;
let docker: Docker;
const hostDirs: string[] = [];

beforeAll(async () => {
  engine = await acquireTestEngine();
  socket = engine.socket;
  dockerdLog = engine.log;
  docker = new Docker({ socketPath: socket });
  await docker.getImage(IMAGE).inspect();
}, ENGINE_START_MS_MAX + 20_000);

afterAll(async () => {
  try {
    if (docker !== undefined) {
      const left = await docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${RUN}`] } });
      await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    }
  } finally {
    await engine?.release();
    for (const dir of hostDirs) rmSync(dir, { recursive: true, force: true });
  }
}, ENGINE_STOP_MS_MAX + 60_000);

function executor(nodeId = NODE): DockerExecutor {
  return new DockerExecutor({ nodeId, socketPath: `unix://${socket}`, namePrefix: `swarm-t${process.pid}-` });
}

/** A workload running `sh -c script` in the test image. */
function spec(id: string, script: string, more: Partial<ExecutorSpec> = {}): ExecutorSpec {
  return { id, image: IMAGE, command: ['sh', '-c'], args: [script], env: [], labels: { [RUN_LABEL]: RUN }, stopGraceMs: 10_000, ...more };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = clock.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (clock.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** The promise's value, or a failure naming `what` once `timeoutMs` has passed. */
function within<T>(what: string, promise: Promise<T>, timeoutMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs);
    promise.then((value) => {
      clock.clearTimeout(timer);
      resolve(value);
    }, (error: unknown) => {
      clock.clearTimeout(timer);
      reject(error);
    });
  });
}

async function collect(lines: AsyncIterable<ExecutorLogLine>): Promise<ExecutorLogLine[]> {
  const all: ExecutorLogLine[] = [];
  for await (const line of lines) all.push(line);
  return all;
}

async function logs(x: DockerExecutor, id: string, tail?: number): Promise<ExecutorLogLine[]> {
  return within(`the logs of ${id}`, collect(x.logs(id, { follow: false, ...(tail === undefined ? {} : { tail }) })));
}

/** Waits until the workload printed `line` on stdout (it is ready for what the test does next). */
function printed(x: DockerExecutor, id: string, line: string): Promise<true> {
  return waitUntil(`${id} printing '${line}'`, async () => ((await logs(x, id)).some((l) => l.stream === 'stdout' && l.line === line) ? true : undefined));
}

async function run(x: DockerExecutor, s: ExecutorSpec): Promise<void> {
  await x.prepare(s);
  await x.start(s.id);
}

/** The engine's answer to a pull of `image`: its error message ('' if the pull succeeded). */
function pullMessage(image: string): Promise<string> {
  const [fromImage, tag] = image.split(':');
  const query = new URLSearchParams({ fromImage: fromImage ?? '', tag: tag ?? 'latest' });
  return new Promise((resolve, reject) => {
    const request = httpRequest({ socketPath: socket, method: 'POST', path: `/images/create?${query.toString()}` }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        // A refused request is one JSON object; a pull that fails midway reports it in the progress stream.
        const messages = body.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { message?: string; error?: string });
        resolve(messages.map((m) => m.message ?? m.error ?? '').find((m) => m !== '') ?? '');
      });
    });
    request.on('error', reject);
    request.end();
  });
}

/** Lines grouped by stream (stderr first), each stream's order kept. */
function byStream(lines: readonly ExecutorLogLine[]): ExecutorLogLine[] {
  return [...lines.filter((l) => l.stream === 'stderr'), ...lines.filter((l) => l.stream === 'stdout')];
}

const out = (line: string): ExecutorLogLine => ({ stream: 'stdout', line });
const err = (line: string): ExecutorLogLine => ({ stream: 'stderr', line });

describe('the Docker executor', () => {
  test('wait gives the exit code; the logs hold each line tagged with its stream', async () => {
    const x = executor();
    await run(x, spec('exit3', 'echo out; echo err >&2; exit 3'));
    await expect(within('wait', x.wait('exit3'))).resolves.toEqual({ exitCode: 3, message: '' });
    // After the exit, at once, and as often as asked.
    await expect(within('wait again', x.wait('exit3'))).resolves.toEqual({ exitCode: 3, message: '' });
    // The engine copies each stream on its own: their order between them is not kept.
    expect(byStream(await logs(x, 'exit3'))).toEqual([err('err'), out('out')]);
    expect(await logs(x, 'exit3', 1)).toHaveLength(1);
    expect((await x.list()).filter((w) => w.id === 'exit3')).toEqual([{ id: 'exit3', running: false, exitCode: 3 }]);
    await expect(x.start('exit3')).rejects.toMatchObject({ code: 'FAILED' });
    await expect(x.wait('nope')).rejects.toMatchObject({ code: 'FAILED', message: 'no such workload: nope' });
    // With no command the args are the command line (the image has no entrypoint); the env arrives.
    await run(x, spec('args-only', '', { command: [], args: ['sh', '-c', 'echo "$GREETING"; exit 4'], env: ['GREETING=hello world'] }));
    await expect(within('wait', x.wait('args-only'))).resolves.toMatchObject({ exitCode: 4 });
    expect(await logs(x, 'args-only')).toEqual([out('hello world')]);
    // A command the image does not have: the container cannot start, and it ends with the engine's words.
    await x.prepare(spec('no-such-command', '', { command: ['/bin/swarm-no-such-command'], args: [] }));
    await expect(x.start('no-such-command')).rejects.toMatchObject({ code: 'FAILED', message: expect.stringContaining('swarm-no-such-command') });
    const notRun = await within('wait', x.wait('no-such-command'));
    expect(notRun.exitCode).not.toBe(0);
    expect(notRun.message).toContain('swarm-no-such-command');
    // A wait on one not started yet settles after it has been started and has exited.
    await x.prepare(spec('later', 'exit 7'));
    const waiting = within('wait before the start', x.wait('later'));
    await sleep(300);
    await x.start('later');
    await expect(waiting).resolves.toEqual({ exitCode: 7, message: '' });
    for (const id of ['exit3', 'args-only', 'no-such-command', 'later']) await x.remove(id);
  });

  test('an image that cannot be pulled is REJECTED at once with the engine\'s own message', async () => {
    const x = executor();
    const image = 'swarm-test/no-such-image:1';
    // What the engine says to a pull of it, asked over its API directly.
    const engineSays = await within('a pull', pullMessage(image));
    expect(engineSays).not.toBe('');
    const startedAt = clock.now();
    await expect(within('prepare', x.prepare(spec('missing-image', 'true', { image })))).rejects.toMatchObject({ code: 'REJECTED', message: engineSays });
    expect(clock.now() - startedAt).toBeLessThan(10_000);
    expect((await x.list()).map((w) => w.id)).not.toContain('missing-image');
    await expect(x.prepare(spec('no-image', 'true', { image: '' }))).rejects.toMatchObject({ code: 'REJECTED' });
    await expect(x.prepare(spec('../escape', 'true'))).rejects.toMatchObject({ code: 'REJECTED' });
  });

  test('a stop sends the stop signal; one that ignores it is killed when the grace ends', async () => {
    const x = executor();
    // Heeds its stop signal (SIGUSR1 here, from the spec) and exits with its own code.
    await run(x, spec('heeds', 'trap "exit 10" USR1; echo up; sleep 100 & wait', { stopSignal: 'SIGUSR1' }));
    await printed(x, 'heeds', 'up');
    let startedAt = clock.now();
    await within('stop', x.stop('heeds', 20_000), 25_000);
    expect(clock.now() - startedAt).toBeLessThan(10_000);
    await expect(within('wait', x.wait('heeds'))).resolves.toEqual({ exitCode: 10, message: '' });
    await x.stop('heeds', 1000); // Not running: nothing to do.
    // Ignores SIGTERM: killed after the grace (whole seconds for the engine: 1500 ms -> 2 s).
    await run(x, spec('stubborn', 'trap "" TERM; echo up; sleep 100'));
    await printed(x, 'stubborn', 'up');
    startedAt = clock.now();
    await within('stop', x.stop('stubborn', 1500), 20_000);
    const tookMs = clock.now() - startedAt;
    expect(tookMs).toBeGreaterThanOrEqual(1500);
    expect(tookMs).toBeLessThan(10_000);
    await expect(within('wait', x.wait('stubborn'))).resolves.toMatchObject({ exitCode: 137 });
    expect((await x.list()).filter((w) => w.id === 'stubborn')).toEqual([{ id: 'stubborn', running: false, exitCode: 137 }]);
    await expect(x.stop('nope', 1000)).rejects.toMatchObject({ code: 'FAILED', message: 'no such workload: nope' });
    await x.remove('heeds');
    await x.remove('stubborn');
  });

  test('files (secrets) arrive at their targets with their mode and owner, and the engine keeps no copy in its records', async () => {
    const x = executor();
    const secret = `swarm-secret-sentinel-${process.pid}-3b1f`;
    await run(x, spec('files', 'cat /run/secrets/db_password; echo; ls -ln /run/secrets/db_password; ls -ln /etc/app/config.json; cat /etc/app/config.json', {
      files: [
        { target: '/run/secrets/db_password', data: new TextEncoder().encode(secret), mode: 0o440, uid: '1000', gid: '1001' },
        { target: '/etc/app/config.json', data: new TextEncoder().encode('{"a":1}\n'), mode: 0o644 },
      ],
    }));
    await expect(within('wait', x.wait('files'))).resolves.toMatchObject({ exitCode: 0 });
    const lines = (await logs(x, 'files')).map((l) => l.line);
    expect(lines[0]).toBe(secret);
    expect(lines[1]).toMatch(/^-r--r-----\s+1\s+1000\s+1001\s+\d+ .* \/run\/secrets\/db_password$/);
    expect(lines[2]).toMatch(/^-rw-r--r--\s+1\s+0\s+0\s+8 .* \/etc\/app\/config\.json$/);
    expect(lines[3]).toBe('{"a":1}');
    // Not in the container's config, labels, env or anything else the engine shows of it.
    const inspected = JSON.stringify(await x.inspectWorkload('files'));
    expect(inspected).toContain('swarm-t');
    expect(inspected).not.toContain(secret);
    if (dockerdLog !== undefined) expect(readFileSync(dockerdLog, 'utf8')).not.toContain(secret);
    // A target that is not an absolute path to a file is refused before anything is created.
    const bad = (target: string): ExecutorSpec => spec('bad-file', 'true', { files: [{ target, data: new Uint8Array([1]), mode: 0o400 }] });
    await expect(x.prepare(bad('relative/path'))).rejects.toMatchObject({ code: 'REJECTED' });
    await expect(x.prepare(bad('/run/../etc/passwd'))).rejects.toMatchObject({ code: 'REJECTED' });
    await expect(x.prepare(bad('/'))).rejects.toMatchObject({ code: 'REJECTED' });
    expect((await x.list()).map((w) => w.id)).not.toContain('bad-file');
    await x.remove('files');
  });

  test('a health check gates: starting, then healthy (CMD true) or unhealthy (CMD false)', async () => {
    const x = executor();
    const check = { intervalMs: 1000, timeoutMs: 2000, retries: 1, startPeriodMs: 0 };
    await x.prepare(spec('healthy', 'echo up; sleep 100', { healthcheck: { ...check, test: ['CMD', 'true'] } }));
    expect(await x.health('healthy')).toBe('starting'); // Created: nothing checked yet.
    await x.start('healthy');
    expect(await x.health('healthy')).toBe('starting'); // The first check comes an interval after the start.
    await waitUntil('healthy', async () => ((await x.health('healthy')) === 'healthy' ? true : undefined));
    await run(x, spec('unhealthy', 'echo up; sleep 100', { healthcheck: { intervalMs: 200, timeoutMs: 1000, retries: 2, startPeriodMs: 0, test: ['CMD', 'false'] } }));
    await waitUntil('unhealthy', async () => ((await x.health('unhealthy')) === 'unhealthy' ? true : undefined));
    // No check: none.
    await run(x, spec('unchecked', 'sleep 100'));
    expect(await x.health('unchecked')).toBe('none');
    await expect(x.health('nope')).rejects.toMatchObject({ code: 'FAILED', message: 'no such workload: nope' });
    for (const id of ['healthy', 'unhealthy', 'unchecked']) await x.remove(id);
  });

  test('resource limits, a memory reservation, mounts, labels, working directory, user and host networking reach the container', async () => {
    const x = executor();
    const hostDir = mkdtempSync('/tmp/swarm-docker-bind-');
    hostDirs.push(hostDir);
    writeFileSync(path.join(hostDir, 'hello'), 'from the host\n');
    await run(x, spec('limited', 'pwd; cat /data/hello; echo x > /scratch/y && cat /scratch/y; echo z > /data/z || echo read-only', {
      workingDir: '/scratch', user: '0:0',
      labels: { [RUN_LABEL]: RUN, 'com.example.team': 'infra' },
      resources: { limits: { nanoCpus: 500_000_000, memoryBytes: 64 * 1024 * 1024 }, reservations: { nanoCpus: 250_000_000, memoryBytes: 32 * 1024 * 1024 } },
      mounts: [
        { type: 'bind', source: hostDir, target: '/data', readOnly: true },
        { type: 'tmpfs', source: '', target: '/scratch', readOnly: false },
      ],
      stopGraceMs: 2500,
    }));
    await expect(within('wait', x.wait('limited'))).resolves.toMatchObject({ exitCode: 0 });
    const lines = await logs(x, 'limited');
    expect(lines.filter((l) => l.stream === 'stdout').map((l) => l.line)).toEqual(['/scratch', 'from the host', 'x', 'read-only']);
    expect(existsSync(path.join(hostDir, 'z'))).toBe(false);
    const info = await x.inspectWorkload('limited');
    expect(info?.HostConfig).toMatchObject({ Memory: 64 * 1024 * 1024, NanoCpus: 500_000_000, MemoryReservation: 32 * 1024 * 1024, NetworkMode: 'host' });
    expect(info?.Config.Labels).toEqual({ [RUN_LABEL]: RUN, 'com.example.team': 'infra', [WORKLOAD_ID_LABEL]: 'limited', [NODE_ID_LABEL]: NODE });
    expect(info?.Config).toMatchObject({ StopTimeout: 3, WorkingDir: '/scratch', User: '0:0' });
    // A bind of a path that does not exist is the engine's refusal of the spec.
    await expect(x.prepare(spec('bad-mount', 'true', { mounts: [{ type: 'bind', source: '/nonexistent/swarm-dir', target: '/data', readOnly: true }] }))).rejects.toMatchObject({ code: 'REJECTED' });
    await x.remove('limited');
  });

  test("the engine's labels, for the node's description (the test engine is started with --label swarm.test=engine)", async () => {
    await expect(executor().engineLabels()).resolves.toMatchObject({ 'swarm.test': 'engine' });
  });

  test('list finds the workloads by label; a second executor on the same engine adopts them; removing an absent one succeeds', async () => {
    const first = executor();
    await run(first, spec('adopt-runs', 'trap "exit 0" TERM; echo up; sleep 100 & wait'));
    await run(first, spec('adopt-ended', 'exit 5'));
    await within('wait', first.wait('adopt-ended'));
    await first.prepare(spec('adopt-created', 'echo up; sleep 100'));
    await printed(first, 'adopt-runs', 'up');
    // Another node's workload on the same engine is not this node's.
    const other = executor(`other-${process.pid}`);
    await other.prepare(spec('adopt-other', 'true'));

    const second = executor(); // The agent restarted.
    const mine = (await second.list()).filter((w) => w.id.startsWith('adopt-'));
    expect(mine).toEqual([
      { id: 'adopt-created', running: false, exitCode: null },
      { id: 'adopt-ended', running: false, exitCode: 5 },
      { id: 'adopt-runs', running: true, exitCode: null },
    ]);
    expect((await other.list()).map((w) => w.id)).toEqual(['adopt-other']);
    // The name is taken by this node's workload: another node's prepare of the same id fails.
    await expect(other.prepare(spec('adopt-runs', 'true'))).rejects.toMatchObject({ code: 'FAILED', message: expect.stringContaining('not a workload of node') });
    // Preparing again what is already there changes nothing.
    await second.prepare(spec('adopt-created', 'exit 9'));
    await within('stop', second.stop('adopt-runs', 5_000), 20_000);
    await expect(within('wait', second.wait('adopt-runs'))).resolves.toEqual({ exitCode: 0, message: '' });
    await second.start('adopt-created');
    await printed(second, 'adopt-created', 'up');
    for (const id of ['adopt-created', 'adopt-ended', 'adopt-runs']) await second.remove(id);
    await other.remove('adopt-other');
    expect((await second.list()).filter((w) => w.id.startsWith('adopt-'))).toEqual([]);
    expect(await other.list()).toEqual([]);
    await second.remove('adopt-runs');
    await second.remove('never-was');
  });

  test('logs follow streams the lines as they are printed and ends when the container exits; a break ends it early', async () => {
    const x = executor();
    await run(x, spec('follow', 'for i in 1 2 3; do echo line$i; sleep 0.4; done; echo bye >&2'));
    const seen: Array<{ line: ExecutorLogLine; running: boolean }> = [];
    await within('the followed logs', (async () => {
      for await (const line of x.logs('follow', { follow: true })) {
        const running = (await x.list()).find((w) => w.id === 'follow')?.running ?? false;
        seen.push({ line, running });
      }
    })());
    expect(seen.map((s) => s.line)).toEqual([out('line1'), out('line2'), out('line3'), err('bye')]);
    // The first line came while the container still ran: streamed, not read after the end.
    expect(seen[0]?.running).toBe(true);
    expect((await x.list()).find((w) => w.id === 'follow')).toEqual({ id: 'follow', running: false, exitCode: 0 });
    // Following one that runs on, with a tail: the consumer's break ends the iteration.
    await run(x, spec('endless', 'echo old1; echo old2; echo up; while true; do sleep 0.5; echo tick; done'));
    await printed(x, 'endless', 'up');
    const taken: ExecutorLogLine[] = [];
    await within('a broken-off follow', (async () => {
      for await (const line of x.logs('endless', { follow: true, tail: 1 })) {
        taken.push(line);
        if (taken.length === 2) break;
      }
    })());
    expect(taken).toEqual([out('up'), out('tick')]);
    await expect(collect(x.logs('nope', { follow: true }))).rejects.toMatchObject({ code: 'FAILED', message: 'no such workload: nope' });
    await x.remove('follow');
    await x.remove('endless');
  });

  test('an engine that cannot be reached is FAILED, naming its socket', async () => {
    const x = new DockerExecutor({ nodeId: NODE, socketPath: '/nonexistent/swarm/docker.sock' });
    await expect(x.list()).rejects.toMatchObject({ code: 'FAILED', message: expect.stringContaining('unix:///nonexistent/swarm/docker.sock') });
    await expect(x.prepare(spec('unreachable', 'true'))).rejects.toMatchObject({ code: 'FAILED', message: expect.stringContaining('/nonexistent/swarm/docker.sock') });
  });
});

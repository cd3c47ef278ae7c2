// The process executor's health checks with real OS processes (runtime/env/real/process-health.ts):
// Docker's semantics with short intervals. A check that passes once a file appears (starting ->
// healthy, the first check one interval after the start), one that never passes (unhealthy after
// `retries` failures), the CMD form, a check that hangs past its timeout (a failure, its process
// group killed), the workload's env and working directory reaching the check, the start period,
// checks ending with the workload (stop, remove, its own exit, close: no check process left, by
// pid) and an adopted workload checked again by a new executor on the same directory.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutorHealthcheck, ExecutorSpec } from '../../runtime/index.js';
import { HEALTH_EXIT_CODE_NONE, ProcessExecutor, RealClock } from '../../runtime/env/real/index.js';
import { alive, sleep, waitUntil as waitWithin } from './processes.js';

/** The health tests wait longer than the others by default (checks run on intervals). */
const waitUntil = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> => waitWithin(what, probe, timeoutMs);

const clock = new RealClock();
const dirs: string[] = [];
const executors: ProcessExecutor[] = [];
/** Process groups a test may leave behind on failure: killed at the end. */
const strays = new Set<number>();

afterAll(async () => {
  for (const executor of executors) {
    for (const w of await executor.list().catch(() => [])) if (w.running) strays.add(executor.pidOf(w.id) ?? 0);
    try {
      executor.close();
    } catch {
      // closed already
    }
  }
  for (const pid of strays) {
    if (pid <= 0) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix = 'swarm-process-health-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function executor(dir = tempDir(), options: ConstructorParameters<typeof ProcessExecutor>[1] = {}): ProcessExecutor {
  const made = new ProcessExecutor(dir, options);
  executors.push(made);
  return made;
}

// A workload that runs until it is stopped.
const FOREVER = "setInterval(() => {}, 1000); console.log('up')";

function check(test: readonly string[], more: Partial<ExecutorHealthcheck> = {}): ExecutorHealthcheck {
  return { test, intervalMs: 100, timeoutMs: 2_000, retries: 3, startPeriodMs: 0, ...more };
}

function spec(id: string, healthcheck: ExecutorHealthcheck | undefined, more: Partial<ExecutorSpec> = {}): ExecutorSpec {
  return { id, image: '', command: [process.execPath], args: ['-e', FOREVER], env: [], labels: {}, stopGraceMs: 5_000, ...(healthcheck === undefined ? {} : { healthcheck }), ...more };
}




async function run(x: ProcessExecutor, s: ExecutorSpec): Promise<number> {
  await x.prepare(s);
  await x.start(s.id);
  const pid = x.pidOf(s.id) ?? -1;
  strays.add(pid);
  return pid;
}

/** Waits (briefly: a SIGKILL was sent) until the process has ended. */
function gone(pid: number, what: string): Promise<true> {
  return waitUntil(`${what} (pid ${pid}) gone`, () => (alive(pid) ? undefined : true), 2_000);
}

/** The pids a check wrote into `file` (one a line), each added to the strays. */
function pidsIn(file: string): number[] {
  if (!existsSync(file)) return [];
  const pids = readFileSync(file, 'utf8').split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
  for (const pid of pids) strays.add(pid);
  return pids;
}

/** Waits until the workload's health is `status`, recording every status seen on the way. */
async function healthBecomes(x: ProcessExecutor, id: string, status: string, seen: string[] = [], timeoutMs = 15_000): Promise<string[]> {
  await waitUntil(`${id} ${status}`, async () => {
    const now = await x.health(id);
    if (seen[seen.length - 1] !== now) seen.push(now);
    return now === status ? true : undefined;
  }, timeoutMs);
  return seen;
}

describe("the process executor's health checks", () => {
  test("'none' without a check (absent, empty or NONE); an invalid check is rejected at prepare; an unknown workload fails", async () => {
    const x = executor();
    await run(x, spec('plain', undefined));
    await run(x, spec('empty', check([])));
    await run(x, spec('none', check(['NONE'])));
    for (const id of ['plain', 'empty', 'none']) {
      await expect(x.health(id)).resolves.toBe('none');
      expect(x.healthOf(id)).toBeNull();
    }
    await expect(x.prepare(spec('cmd-empty', check(['CMD'])))).rejects.toMatchObject({ code: 'REJECTED' });
    await expect(x.prepare(spec('shell-empty', check(['CMD-SHELL', ' '])))).rejects.toMatchObject({ code: 'REJECTED' });
    await expect(x.prepare(spec('odd', check(['HTTP', '/'])))).rejects.toMatchObject({ code: 'REJECTED', message: "a health check's test must be CMD, CMD-SHELL or NONE, got 'HTTP'" });
    await expect(x.prepare(spec('negative', check(['CMD', 'true'], { intervalMs: -1 })))).rejects.toMatchObject({ code: 'REJECTED' });
    expect((await x.list()).map((w) => w.id)).toEqual(['empty', 'none', 'plain']);
    await expect(x.health('nope')).rejects.toMatchObject({ code: 'FAILED', message: 'no such workload: nope' });
    await x.removeAll(1_000);
  });

  test('a CMD-SHELL check that passes once a file appears: starting (from the prepare) until then, healthy after; the first check one interval after the start', async () => {
    const x = executor();
    const s = spec('ready', check(['CMD-SHELL', 'test -f ready'], { intervalMs: 200, retries: 1_000 }));
    await x.prepare(s);
    await expect(x.health('ready')).resolves.toBe('starting');
    const startedAt = clock.now();
    await run(x, s);
    const seen = ['starting'];
    await waitUntil('two failed checks', () => ((x.healthOf('ready')?.log.length ?? 0) >= 2 ? true : undefined));
    expect(x.healthOf('ready')).toMatchObject({ status: 'starting', failingStreak: 2 });
    writeFileSync(path.join(x.dirOf('ready'), 'ready'), '');
    await healthBecomes(x, 'ready', 'healthy', seen);
    expect(seen).toEqual(['starting', 'healthy']);
    const health = x.healthOf('ready')!;
    expect(health.failingStreak).toBe(0);
    expect(health.log[0]!.startMs - startedAt).toBeGreaterThanOrEqual(200 - 5);
    expect(health.log[health.log.length - 1]).toMatchObject({ exitCode: 0 });
    expect(health.log.slice(0, 2).every((r) => r.exitCode === 1)).toBe(true);
    // At most the last 5 results are kept.
    await waitUntil('5 checks run', () => (x.healthOf('ready')!.log.length === 5 ? true : undefined));
    await sleep(3 * 200);
    expect(x.healthOf('ready')!.log).toHaveLength(5);
    await x.removeAll(1_000);
  });

  test('a check that never passes: unhealthy after `retries` failures in a row, with its output kept', async () => {
    const x = executor();
    await run(x, spec('sick', check(['CMD-SHELL', 'echo not yet; echo nor here >&2; exit 3'], { retries: 3 })));
    const seen = await healthBecomes(x, 'sick', 'unhealthy', ['starting']);
    expect(seen).toEqual(['starting', 'unhealthy']);
    const health = x.healthOf('sick')!;
    expect(health.failingStreak).toBeGreaterThanOrEqual(3);
    expect(health.log.length).toBeGreaterThanOrEqual(3);
    expect(health.log[0]).toMatchObject({ exitCode: 3 });
    expect(health.log[0]!.output).toContain('not yet');
    expect(health.log[0]!.output).toContain('nor here');
    await x.removeAll(1_000);
  });

  test("the CMD form runs its argv directly, with the workload's env (and PATH) and working directory", async () => {
    const x = executor();
    const workDir = tempDir('swarm-health-workdir-');
    writeFileSync(path.join(workDir, 'marker'), '');
    const probe = "process.exit(process.env.GREETING === 'hello world' && require('fs').existsSync('marker') ? 0 : 1)";
    await run(x, spec('cmd', check(['CMD', process.execPath, '-e', probe]), { env: ['GREETING=hello world'], workingDir: workDir }));
    await healthBecomes(x, 'cmd', 'healthy');
    // The same check without the env fails.
    await run(x, spec('cmd-noenv', check(['CMD', process.execPath, '-e', probe], { retries: 2 }), { workingDir: workDir }));
    await healthBecomes(x, 'cmd-noenv', 'unhealthy');
    // A name is looked up on the workload's PATH; a command that cannot run is a failure.
    await run(x, spec('on-path', check(['CMD', 'node', '-e', 'process.exit(0)']), { env: [`PATH=${path.dirname(process.execPath)}`] }));
    await healthBecomes(x, 'on-path', 'healthy');
    await run(x, spec('missing', check(['CMD', 'swarm-no-such-check-x9'], { retries: 2 })));
    await healthBecomes(x, 'missing', 'unhealthy');
    expect(x.healthOf('missing')!.log[0]).toMatchObject({ exitCode: HEALTH_EXIT_CODE_NONE, output: expect.stringContaining('cannot run the health check') });
    // CMD-SHELL sees them too.
    await run(x, spec('shell', check(['CMD-SHELL', 'test "$GREETING" = "hello world" && test -f marker']), { env: ['GREETING=hello world'], workingDir: workDir }));
    await healthBecomes(x, 'shell', 'healthy');
    await x.removeAll(1_000);
  });

  test('a check still running at its timeout fails, and its whole process group is killed', async () => {
    const x = executor();
    // The shell writes its own pid and its background child's, then waits on the child.
    await run(x, spec('hangs', check(['CMD-SHELL', 'sleep 30 & echo $! >> pids; echo $$ >> pids; wait'], { intervalMs: 300, timeoutMs: 200, retries: 2 })));
    const pidsFile = path.join(x.dirOf('hangs'), 'pids');
    await waitUntil('the first check timed out', () => ((x.healthOf('hangs')?.log.length ?? 0) >= 1 ? true : undefined));
    const first = x.healthOf('hangs')!.log[0]!;
    expect(first).toMatchObject({ exitCode: HEALTH_EXIT_CODE_NONE, output: 'Health check exceeded timeout (200ms)' });
    expect(first.endMs - first.startMs).toBeGreaterThanOrEqual(200 - 5);
    expect(first.endMs - first.startMs).toBeLessThan(5_000);
    const firstPids = pidsIn(pidsFile).slice(0, 2);
    expect(firstPids).toHaveLength(2);
    for (const pid of firstPids) await gone(pid, 'a process of the timed-out check');
    await healthBecomes(x, 'hangs', 'unhealthy');
    await x.remove('hangs');
    for (const pid of pidsIn(pidsFile)) await gone(pid, 'a process of a check of the removed workload');
  });

  test("the start period: failures within it do not count, a pass within it makes the workload healthy", async () => {
    const x = executor();
    const startPeriodMs = 1_500;
    const startedAt = clock.now();
    await run(x, spec('late', check(['CMD', 'false'], { retries: 2, startPeriodMs })));
    await run(x, spec('early', check(['CMD-SHELL', 'test -f ready'], { retries: 1, startPeriodMs: 60_000 })));
    // Failing from the first check, yet starting with no streak while the period lasts.
    await waitUntil('three failed checks of late', () => ((x.healthOf('late')?.log.length ?? 0) >= 3 ? true : undefined));
    const during = x.healthOf('late')!;
    if (during.log[during.log.length - 1]!.startMs - startedAt < startPeriodMs - 100) {
      expect(during).toMatchObject({ status: 'starting', failingStreak: 0 });
    }
    await healthBecomes(x, 'late', 'unhealthy');
    expect(clock.now() - startedAt).toBeGreaterThanOrEqual(startPeriodMs);
    // One try only, but its failures in the period do not count: then a pass makes it healthy.
    await waitUntil('two failed checks of early', () => ((x.healthOf('early')?.log.length ?? 0) >= 2 ? true : undefined));
    expect(x.healthOf('early')).toMatchObject({ status: 'starting', failingStreak: 0 });
    writeFileSync(path.join(x.dirOf('early'), 'ready'), '');
    await healthBecomes(x, 'early', 'healthy');
    await x.removeAll(1_000);
  });

  test('checks end with the workload: a stop, a remove and its own exit kill the running check, and none runs after', async () => {
    const x = executor();
    // Each check writes its pid and then hangs well within its timeout.
    const hanging = check(['CMD-SHELL', 'echo $$ >> pids; exec sleep 30'], { intervalMs: 100, timeoutMs: 60_000 });
    const pidsFile = (id: string): string => path.join(x.dirOf(id), 'pids');
    // Running, and past writing its pid.
    const running = async (id: string): Promise<number> => waitUntil(`a check of ${id} running`, () => {
      const probe = x.healthOf(id)?.probePid ?? undefined;
      return probe !== undefined && pidsIn(pidsFile(id)).includes(probe) ? probe : undefined;
    });

    await run(x, spec('stopped', hanging));
    const stoppedCheck = await running('stopped');
    strays.add(stoppedCheck);
    expect(alive(stoppedCheck)).toBe(true);
    await x.stop('stopped', 2_000);
    await gone(stoppedCheck, 'the check of the stopped workload');
    expect(x.healthOf('stopped')!.probePid).toBeNull();

    await run(x, spec('removed', hanging));
    const removedDir = x.dirOf('removed');
    const removedCheck = await running('removed');
    strays.add(removedCheck);
    await x.remove('removed');
    await gone(removedCheck, 'the check of the removed workload');

    await run(x, spec('exits', hanging, { args: ['-e', 'setTimeout(() => process.exit(0), 400)'] }));
    const exitsCheck = await running('exits');
    strays.add(exitsCheck);
    await expect(x.wait('exits')).resolves.toMatchObject({ exitCode: 0 });
    await gone(exitsCheck, 'the check of the workload that exited');

    // None started since: the same pids after several intervals.
    const before = [pidsIn(pidsFile('stopped')), pidsIn(pidsFile('exits'))];
    await sleep(500);
    expect([pidsIn(pidsFile('stopped')), pidsIn(pidsFile('exits'))]).toEqual(before);
    expect(before.map((pids) => pids.length)).toEqual([1, 1]);
    expect(existsSync(removedDir)).toBe(false);
    await x.removeAll(1_000);
  });

  test("close() kills the running check and starts none; a new executor adopts the workload and checks it again, from 'starting'", async () => {
    const dir = tempDir();
    const first = executor(dir);
    // Passes while `ok` exists; each check writes its pid, the ones after `slow` appears hang a while.
    const probeTest = ['CMD-SHELL', 'echo $$ >> pids; if test -f slow; then sleep 30; fi; test -f ok'];
    const pid = await run(first, spec('adopted', check(probeTest, { intervalMs: 100, timeoutMs: 60_000, retries: 1_000, startPeriodMs: 3_600_000 })));
    const workDir = first.dirOf('adopted');
    const pidsFile = path.join(workDir, 'pids');
    writeFileSync(path.join(workDir, 'ok'), '');
    await healthBecomes(first, 'adopted', 'healthy');
    writeFileSync(path.join(workDir, 'slow'), '');
    const hung = await waitUntil('a slow check running', () => {
      const probe = first.healthOf('adopted')?.probePid ?? undefined;
      return probe !== undefined && pidsIn(pidsFile).includes(probe) && existsSync(path.join(workDir, 'slow')) ? probe : undefined;
    });
    first.close();
    await gone(hung, 'the check running at close()');
    expect(alive(pid)).toBe(true);
    const before = pidsIn(pidsFile);
    await sleep(400);
    expect(pidsIn(pidsFile)).toEqual(before);

    // The check is in the record (no files ever are); the start time too.
    const record = JSON.parse(readFileSync(path.join(workDir, 'workload.json'), 'utf8')) as { spec: ExecutorSpec; startedAtMs: number };
    expect(record.spec.healthcheck).toEqual(check(probeTest, { intervalMs: 100, timeoutMs: 60_000, retries: 1_000, startPeriodMs: 3_600_000 }));
    expect(record.startedAtMs).toBeGreaterThan(0);

    rmSync(path.join(workDir, 'slow'));
    const second = executor(dir, { adoptedPollMs: 50 });
    expect(await second.list()).toEqual([{ id: 'adopted', running: true, exitCode: null }]);
    await expect(second.health('adopted')).resolves.toBe('starting');
    const seen = await healthBecomes(second, 'adopted', 'healthy', ['starting']);
    expect(seen).toEqual(['starting', 'healthy']);
    expect(pidsIn(pidsFile).length).toBeGreaterThan(before.length);
    // And they end with it.
    await second.stop('adopted', 2_000);
    const after = pidsIn(pidsFile);
    for (const p of after) await gone(p, 'a check of the adopted workload');
    await sleep(400);
    expect(pidsIn(pidsFile)).toEqual(after);
    await second.removeAll(1_000);
  });
});

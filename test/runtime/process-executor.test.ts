// The process executor with real OS processes: each workload is a small Node script run by this
// Node binary. Exit codes (signals as 128 + n), stops with a grace (a process that traps SIGTERM
// is killed when the grace ends), the environment and working directory a workload gets, commands
// that cannot run, process groups (what a workload starts dies with it), and workloads found again
// by a new executor on the same directory (a node restart); logs read back by stream (all, tail,
// follow), and a spec's files kept off the disk.
import { existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutorLogLine, ExecutorSpec } from '../../runtime/index.js';
import { EXIT_CODE_UNKNOWN, ProcessExecutor, RealClock } from '../../runtime/env/real/index.js';
import { alive, waitUntil } from './processes.js';

const clock = new RealClock();
const dirs: string[] = [];
const executors: ProcessExecutor[] = [];
/** Pids of processes a test leaves behind on failure: killed at the end. */
const strays = new Set<number>();

afterAll(async () => {
  for (const executor of executors) {
    for (const w of await executor.list().catch(() => [])) if (w.running) strays.add(executor.pidOf(w.id) ?? 0);
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

function baseDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'swarm-process-executor-'));
  dirs.push(dir);
  return dir;
}

function executor(dir = baseDir(), options: ConstructorParameters<typeof ProcessExecutor>[1] = {}): ProcessExecutor {
  const made = new ProcessExecutor(dir, options);
  executors.push(made);
  return made;
}

function spec(id: string, script: string, more: Partial<ExecutorSpec> = {}): ExecutorSpec {
  return { id, image: '', command: [process.execPath], args: ['-e', script], env: [], labels: {}, stopGraceMs: 10_000, ...more };
}




function stdout(executor: ProcessExecutor, id: string): string {
  try {
    return readFileSync(path.join(executor.dirOf(id), 'stdout.log'), 'utf8');
  } catch {
    return '';
  }
}

/** Waits until the workload printed `line` (it is ready for what the test does next). */
function printed(executor: ProcessExecutor, id: string, line: string): Promise<string> {
  return waitUntil(`${id} printing '${line}'`, () => (stdout(executor, id).split('\n').includes(line) ? stdout(executor, id) : undefined));
}

async function run(executor: ProcessExecutor, s: ExecutorSpec): Promise<number> {
  await executor.prepare(s);
  await executor.start(s.id);
  const pid = executor.pidOf(s.id);
  if (pid !== null) strays.add(pid);
  return pid ?? -1;
}

async function collect(lines: AsyncIterable<ExecutorLogLine>, what: string, timeoutMs = 10_000): Promise<ExecutorLogLine[]> {
  const all: ExecutorLogLine[] = [];
  const deadline = clock.now() + timeoutMs;
  for await (const line of lines) {
    all.push(line);
    if (clock.now() > deadline) throw new Error(`${what}: not ended within ${timeoutMs} ms`);
  }
  return all;
}

const out = (line: string): ExecutorLogLine => ({ stream: 'stdout', line });
const err = (line: string): ExecutorLogLine => ({ stream: 'stderr', line });

// A script that keeps running until it is stopped.
const FOREVER = "setInterval(() => {}, 1000); console.log('up')";
// One that ignores SIGTERM.
const STUBBORN = "process.on('SIGTERM', () => console.log('ignored TERM')); setInterval(() => {}, 1000); console.log('up')";

describe('the process executor', () => {
  test('wait gives the exit code; a process ended by a signal exits with 128 + its number', async () => {
    const x = executor();
    await run(x, spec('zero', 'process.exit(0)'));
    await run(x, spec('three', 'process.exit(3)'));
    await run(x, spec('killed', "process.kill(process.pid, 'SIGKILL')"));
    await expect(x.wait('zero')).resolves.toEqual({ exitCode: 0, message: 'exited' });
    await expect(x.wait('three')).resolves.toEqual({ exitCode: 3, message: 'exited with code 3' });
    await expect(x.wait('killed')).resolves.toEqual({ exitCode: 137, message: 'killed by SIGKILL' });
    // After the exit, at once, and as often as asked.
    await expect(x.wait('three')).resolves.toMatchObject({ exitCode: 3 });
    expect(await x.list()).toEqual([
      { id: 'killed', running: false, exitCode: 137 },
      { id: 'three', running: false, exitCode: 3 },
      { id: 'zero', running: false, exitCode: 0 },
    ]);
    await expect(x.start('three')).rejects.toMatchObject({ code: 'FAILED' });
    await expect(x.wait('nope')).rejects.toMatchObject({ code: 'FAILED', message: 'no such workload: nope' });
  });

  test('prepare creates without starting; start runs it in its own directory; output goes to the log files', async () => {
    const x = executor();
    await x.prepare(spec('p', "console.log(process.cwd()); console.error('to stderr'); process.exit(0)"));
    expect(await x.list()).toEqual([{ id: 'p', running: false, exitCode: null }]);
    expect(x.pidOf('p')).toBeNull();
    await x.prepare(spec('p', 'process.exit(9)')); // Prepared before: nothing changes.
    await x.start('p');
    await expect(x.wait('p')).resolves.toMatchObject({ exitCode: 0 });
    expect(stdout(x, 'p').trim()).toBe(x.dirOf('p'));
    expect(readFileSync(path.join(x.dirOf('p'), 'stderr.log'), 'utf8')).toBe('to stderr\n');
    expect(path.dirname(x.dirOf('p'))).toBe(x.baseDir);
  });

  test('a working directory in the spec is where it runs; one that is not a directory is rejected at prepare', async () => {
    const x = executor();
    const elsewhere = mkdtempSync(path.join(tmpdir(), 'swarm-workdir-'));
    try {
      await run(x, spec('wd', 'console.log(process.cwd())', { workingDir: elsewhere }));
      await expect(x.wait('wd')).resolves.toMatchObject({ exitCode: 0 });
      expect(stdout(x, 'wd').trim()).toBe(realpathSync(elsewhere));
      await expect(x.prepare(spec('nodir', 'process.exit(0)', { workingDir: path.join(elsewhere, 'missing') }))).rejects.toMatchObject({
        code: 'REJECTED', message: `working directory ${path.join(elsewhere, 'missing')} is not a directory on this node`,
      });
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  test("the spec's env over a minimal inherited PATH and HOME; nothing else of this process leaks in", async () => {
    process.env['SWARM_TEST_SECRET'] = 'not for tasks';
    try {
      const x = executor();
      await run(x, spec('env', 'console.log(JSON.stringify(process.env))', { env: ['GREETING=hello world', 'EMPTY=', 'EQUALS=a=b', 'BARE', 'HOME=/tmp/elsewhere'] }));
      await x.wait('env');
      const env = JSON.parse(stdout(x, 'env')) as Record<string, string>;
      expect(env).toMatchObject({ GREETING: 'hello world', EMPTY: '', EQUALS: 'a=b', HOME: '/tmp/elsewhere', PATH: process.env['PATH'] });
      expect(env['BARE']).toBeUndefined();
      expect(env['SWARM_TEST_SECRET']).toBeUndefined();
      expect(Object.keys(env).filter((k) => !['GREETING', 'EMPTY', 'EQUALS', 'HOME', 'PATH'].includes(k))).toEqual([]);
    } finally {
      delete process.env['SWARM_TEST_SECRET'];
    }
  });

  test("a task learns who it is from its environment (the agent's labels: task, slot, service, node); the spec's env wins", async () => {
    const x = executor();
    const labels = { 'swarm.task.id': 't1', 'swarm.task.slot': '3', 'swarm.service.id': 's1', 'swarm.node.id': 'n1', other: 'x' };
    await run(x, spec('who', 'console.log(JSON.stringify(process.env))', { labels, env: ['SWARM_NODE_ID=mine'] }));
    await x.wait('who');
    const env = JSON.parse(stdout(x, 'who')) as Record<string, string>;
    expect(env).toMatchObject({ SWARM_TASK_ID: 't1', SWARM_TASK_SLOT: '3', SWARM_SERVICE_ID: 's1', SWARM_NODE_ID: 'mine' });
    expect(Object.keys(env).filter((k) => k.startsWith('SWARM_')).sort()).toEqual(['SWARM_NODE_ID', 'SWARM_SERVICE_ID', 'SWARM_TASK_ID', 'SWARM_TASK_SLOT']);
  });

  test('a stop sends SIGTERM: a process that heeds it ends at once with 143', async () => {
    const x = executor();
    const pid = await run(x, spec('heeds', FOREVER));
    await printed(x, 'heeds', 'up');
    const startedAt = clock.now();
    await x.stop('heeds', 20_000);
    expect(clock.now() - startedAt).toBeLessThan(10_000);
    expect(alive(pid)).toBe(false);
    await expect(x.wait('heeds')).resolves.toEqual({ exitCode: 143, message: 'stopped' });
    expect(await x.list()).toEqual([{ id: 'heeds', running: false, exitCode: 143 }]);
    await x.stop('heeds', 1000); // Not running: nothing to do.
    await expect(x.stop('nope', 1000)).rejects.toMatchObject({ code: 'FAILED' });
  });

  test('a process that traps SIGTERM is killed when the grace ends (137)', async () => {
    const x = executor();
    const pid = await run(x, spec('stubborn', STUBBORN));
    await printed(x, 'stubborn', 'up');
    const graceMs = 700;
    const startedAt = clock.now();
    await x.stop('stubborn', graceMs);
    const tookMs = clock.now() - startedAt;
    expect(tookMs).toBeGreaterThanOrEqual(graceMs - 5);
    expect(alive(pid)).toBe(false);
    expect(stdout(x, 'stubborn')).toContain('ignored TERM');
    await expect(x.wait('stubborn')).resolves.toEqual({ exitCode: 137, message: 'killed after the stop grace period' });
  });

  test("the spec's stop signal is sent instead of SIGTERM", async () => {
    const x = executor();
    await run(x, spec('int', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('up')", { stopSignal: 'SIGINT' }));
    await printed(x, 'int', 'up');
    await x.stop('int', 20_000);
    await expect(x.wait('int')).resolves.toMatchObject({ exitCode: 130 });
    await expect(x.prepare(spec('bad-signal', FOREVER, { stopSignal: 'SIGNOPE' }))).rejects.toMatchObject({ code: 'REJECTED', message: 'invalid stop signal: SIGNOPE' });
  });

  test('what a workload starts dies with it: on a stop, and when the workload exits by itself', async () => {
    const child = "const c = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); console.log(c.pid);";
    const x = executor();
    // Stopped: the signal goes to the whole group.
    await run(x, spec('parent', `${child} setInterval(() => {}, 1000)`));
    const grandchild = Number((await waitUntil('the grandchild pid', () => stdout(x, 'parent').split('\n').find((l) => /^\d+$/.test(l)))));
    strays.add(grandchild);
    expect(alive(grandchild)).toBe(true);
    await x.stop('parent', 5_000);
    await waitUntil('the grandchild gone after the stop', () => (alive(grandchild) ? undefined : true));
    // Exits by itself, leaving its child behind: the child is killed too.
    await run(x, spec('leaves', `${child} setTimeout(() => process.exit(0), 200)`));
    const left = Number((await waitUntil('the left child pid', () => stdout(x, 'leaves').split('\n').find((l) => /^\d+$/.test(l)))));
    strays.add(left);
    await expect(x.wait('leaves')).resolves.toMatchObject({ exitCode: 0 });
    await waitUntil('the left child gone after its parent exited', () => (alive(left) ? undefined : true));
  });

  test('a command line that cannot run is rejected at prepare, naming its command', async () => {
    const x = executor();
    await expect(x.prepare(spec('none', '', { command: [], args: [] }))).rejects.toMatchObject({ code: 'REJECTED', message: 'a process task needs a command' });
    await expect(x.prepare(spec('args-only', '', { command: [], args: ['swarm-no-such-command-x9', '-v'] }))).rejects.toMatchObject({ code: 'REJECTED', message: 'command not found: swarm-no-such-command-x9' });
    await expect(x.prepare(spec('empty', '', { command: [''] }))).rejects.toMatchObject({ code: 'REJECTED', message: 'a process task needs a command' });
    await expect(x.prepare(spec('missing', '', { command: ['swarm-no-such-command-x9'] }))).rejects.toMatchObject({ code: 'REJECTED', message: 'command not found: swarm-no-such-command-x9' });
    await expect(x.prepare(spec('nopath', '', { command: ['/nonexistent/bin/tool'] }))).rejects.toMatchObject({ code: 'REJECTED', message: 'command not found: /nonexistent/bin/tool' });
    // Looked up on the task's own PATH.
    await expect(x.prepare(spec('elsewhere', '', { command: ['node'], env: ['PATH=/nonexistent'] }))).rejects.toMatchObject({ code: 'REJECTED', message: 'command not found: node' });
    await expect(x.prepare(spec('../escape', FOREVER))).rejects.toMatchObject({ code: 'REJECTED' });
    expect(await x.list()).toEqual([]);
    // A name on PATH is found; the command's other words come before the args.
    await run(x, spec('on-path', '', { command: ['node', '-e', "console.log(process.argv.slice(1).join(' '))"], args: ['a', 'b'], env: [`PATH=${path.dirname(process.execPath)}`] }));
    await expect(x.wait('on-path')).resolves.toMatchObject({ exitCode: 0 });
    expect(stdout(x, 'on-path')).toBe('a b\n');
    // With no command, the args are the whole command line (a CMD without an ENTRYPOINT).
    await run(x, spec('args-only', '', { command: [], args: [process.execPath, '-e', 'process.exit(4)'] }));
    await expect(x.wait('args-only')).resolves.toMatchObject({ exitCode: 4 });
  });

  test('remove kills what runs and deletes its directory; removing an absent one succeeds', async () => {
    const x = executor();
    const pid = await run(x, spec('gone', FOREVER));
    await printed(x, 'gone', 'up');
    const dir = x.dirOf('gone');
    await x.remove('gone');
    expect(alive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(await x.list()).toEqual([]);
    await x.remove('gone');
    await x.remove('never');
  });

  test('a new executor on the same directory finds the workloads again: the running one adopted, stoppable; the ended one with its code', async () => {
    const dir = baseDir();
    const first = executor(dir);
    const pid = await run(first, spec('runs', FOREVER));
    await run(first, spec('ended', 'process.exit(5)'));
    await first.wait('ended');
    await first.prepare(spec('created', FOREVER));
    await printed(first, 'runs', 'up');
    first.close();
    await expect(first.list()).rejects.toMatchObject({ code: 'FAILED' });
    expect(alive(pid)).toBe(true);

    const second = executor(dir, { adoptedPollMs: 50 });
    expect(await second.list()).toEqual([
      { id: 'created', running: false, exitCode: null },
      { id: 'ended', running: false, exitCode: 5 },
      { id: 'runs', running: true, exitCode: null },
    ]);
    expect(second.pidOf('runs')).toBe(pid);
    await second.stop('runs', 5_000);
    expect(alive(pid)).toBe(false);
    await expect(second.wait('runs')).resolves.toMatchObject({ exitCode: 143, message: 'stopped' });
    // The one created before the restart starts now.
    await second.start('created');
    await printed(second, 'created', 'up');
    await second.removeAll(2_000);
    expect(await second.list()).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('an adopted workload that ends by itself is noticed, and one that ended while no executor ran is exited; their status is unknown', async () => {
    const dir = baseDir();
    const first = executor(dir);
    const pid = await run(first, spec('adopted', "console.log('up'); setTimeout(() => process.exit(0), 800)"));
    const early = await run(first, spec('early', "console.log('up'); setTimeout(() => process.exit(0), 100)"));
    await printed(first, 'adopted', 'up');
    first.close();
    await waitUntil('the early one ended', () => (alive(early) ? undefined : true));
    const second = executor(dir, { adoptedPollMs: 50 });
    expect(await second.list()).toEqual([
      { id: 'adopted', running: true, exitCode: null },
      { id: 'early', running: false, exitCode: EXIT_CODE_UNKNOWN },
    ]);
    await expect(second.wait('adopted')).resolves.toMatchObject({ exitCode: EXIT_CODE_UNKNOWN });
    expect(alive(pid)).toBe(false);
  });

  test('logs: the lines of each stream, all or the last few (tail counts each stream), an unfinished last line included', async () => {
    const x = executor();
    await run(x, spec('logs', "console.log('a\\nb'); console.log('c'); console.error('e1'); console.error('e2'); process.stdout.write('no newline ✓')"));
    await x.wait('logs');
    const all = await collect(x.logs('logs', { follow: false }), 'logs');
    expect(all.filter((l) => l.stream === 'stdout')).toEqual([out('a'), out('b'), out('c'), out('no newline ✓')]);
    expect(all.filter((l) => l.stream === 'stderr')).toEqual([err('e1'), err('e2')]);
    const tail = await collect(x.logs('logs', { follow: false, tail: 2 }), 'tail');
    expect(tail.filter((l) => l.stream === 'stdout')).toEqual([out('c'), out('no newline ✓')]);
    expect(tail.filter((l) => l.stream === 'stderr')).toEqual([err('e1'), err('e2')]);
    expect(await collect(x.logs('logs', { follow: false, tail: 1 }), 'tail 1')).toEqual([err('e2'), out('no newline ✓')]);
    expect(await collect(x.logs('logs', { follow: false, tail: 0 }), 'tail 0')).toEqual([]);
    // After the exit a follow reads what is there and ends.
    expect(await collect(x.logs('logs', { follow: true, tail: 1 }), 'follow after the exit')).toEqual([err('e2'), out('no newline ✓')]);
    // Not started yet: nothing printed.
    await x.prepare(spec('quiet', 'process.exit(0)'));
    expect(await collect(x.logs('quiet', { follow: false }), 'quiet')).toEqual([]);
    await expect(collect(x.logs('nope', { follow: false }), 'nope')).rejects.toMatchObject({ code: 'FAILED', message: 'no such workload: nope' });
  });

  test('logs without follow of a busy workload: the files as they were when read began (tail gives exactly that many lines; a full read ends)', async () => {
    const x = executor();
    // Bursts of 200 lines every millisecond, for at most 5 s: the files grow while they are read.
    await run(x, spec('busy', "console.log('up'); let i = 0; const t = setInterval(() => { for (let k = 0; k < 200; k++) console.log('line', ++i); }, 1); setTimeout(() => clearInterval(t), 5000)"));
    // Two numbered lines printed at least, so that a tail of 2 never reaches back to 'up' on a slow machine.
    await printed(x, 'busy', 'line 2');
    const numbered = (lines: ExecutorLogLine[]): number[] => lines.map((l) => {
      expect(l.stream).toBe('stdout');
      const m = /^line (\d+)$/.exec(l.line);
      if (m === null) throw new Error(`not a numbered line: '${l.line}'`);
      return Number(m[1]);
    });
    for (let round = 0; round < 5; round++) {
      const n = numbered(await collect(x.logs('busy', { follow: false, tail: 2 }), `tail 2, round ${round}`));
      expect(n.length).toBe(2);
      expect(n[1]).toBe(n[0]! + 1);
    }
    const all = await collect(x.logs('busy', { follow: false }), 'the whole log');
    expect(all[0]).toEqual(out('up'));
    const n = numbered(all.slice(1));
    expect(n).toEqual(n.map((_, i) => i + 1)); // Every line from the first, none cut, none twice.
    await x.remove('busy');
  });

  test('logs follow streams the lines as they are printed, from before the start, and ends once the workload has exited; a break ends it early', async () => {
    const x = executor(baseDir(), { logsPollMs: 20 });
    await x.prepare(spec('follow', "let i = 0; const t = setInterval(() => { console.log(`line${++i}`); if (i === 3) { clearInterval(t); console.error('bye'); } }, 150)"));
    const seen: Array<{ line: ExecutorLogLine; running: boolean }> = [];
    const following = (async () => {
      for await (const line of x.logs('follow', { follow: true })) seen.push({ line, running: (await x.list())[0]?.running ?? false });
    })();
    await x.start('follow');
    await following;
    expect(seen.map((s) => s.line)).toEqual([out('line1'), out('line2'), out('line3'), err('bye')]);
    expect(seen[0]?.running).toBe(true); // Streamed while it ran, not read after its end.
    expect(await x.list()).toEqual([{ id: 'follow', running: false, exitCode: 0 }]);

    await run(x, spec('endless', "console.log('old'); console.log('up'); setInterval(() => console.log('tick'), 50)"));
    await printed(x, 'endless', 'up');
    const taken: ExecutorLogLine[] = [];
    for await (const line of x.logs('endless', { follow: true, tail: 1 })) {
      taken.push(line);
      if (taken.length === 2) break;
    }
    expect(taken).toEqual([out('up'), out('tick')]);
    // A removed workload's follow ends.
    const removedFollow = collect(x.logs('endless', { follow: true, tail: 0 }), 'the follow of a removed workload');
    await x.remove('endless');
    await removedFollow;
  });

  test("a spec's files (secrets) are not honoured and never reach the record on disk", async () => {
    const x = executor();
    const secret = 'swarm-secret-sentinel-process';
    await x.prepare(spec('secretive', 'process.exit(0)', { files: [{ target: '/run/secrets/s', data: new TextEncoder().encode(secret), mode: 0o400 }] }));
    expect(readFileSync(path.join(x.dirOf('secretive'), 'workload.json'), 'utf8')).not.toContain(secret);
    expect(readFileSync(path.join(x.dirOf('secretive'), 'workload.json'), 'utf8')).not.toContain('files');
  });
});

// The README's first two commands, as a newcomer meets them, so that they cannot rot: a fresh
// `git clone` of this repository in a temp directory, then the README's first command run
// literally by a shell there — `npm ci` (which builds the `swarm` executable) and `swarm up` on the
// default example — until it reports the stack converged; Ctrl-C (SIGINT to its process group, as
// a terminal sends it) detaches with exit 0 and the stack keeps running: the example's web answers
// on loopback. Then `swarm down` and `swarm stop` as the README says.
//
// The second command (`npm ci && npm test`) is the one CI runs on a fresh clone (.ci/run calls
// `npm ci` and `npm test`); running it here would run this test again inside itself, so this test
// checks that the README's second command is exactly that one, and CI runs it literally.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { killTaskProcesses } from './cluster/harness.js';
import { tail, waitFor } from './cluster/helpers.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const TEST_TIMEOUT_MS = 300_000;

/** The README's first shell block: its command lines, comments dropped. */
function readmeCommands(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /```sh\n([\s\S]*?)```/.exec(readme);
  if (block === null) throw new Error('README.md has no ```sh block');
  return block[1]!.split('\n').map((line) => line.replace(/\s+#.*$/, '').trim()).filter((line) => line !== '');
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

let dir = '';
let clone = '';

afterAll(async () => {
  if (clone === '') return;
  // Whatever the test left: the stack's tasks and the node.
  const run = (args: string[]): void => {
    try {
      execFileSync(path.join(clone, 'swarm'), args, { cwd: clone, stdio: 'ignore', timeout: 60_000 });
    } catch {
      // already gone
    }
  };
  run(['down', '-f', 'examples/stack.yml']);
  run(['stop']);
  killTaskProcesses(clone); // <clone>/.swarm/tasks/*
  rmSync(dir, { recursive: true, force: true });
}, TEST_TIMEOUT_MS);

test('the README\'s first command on a fresh clone runs swarm up on the example until Ctrl-C', async () => {
  const [first] = readmeCommands();
  expect(first).toMatch(/^npm ci && .*swarm up/);
  dir = mkdtempSync(path.join(os.tmpdir(), 'swarm-readme-'));
  clone = path.join(dir, 'swarm');
  execFileSync('git', ['clone', '--quiet', ROOT, clone], { stdio: 'ignore' });

  const child = spawn('bash', ['-c', first!], { cwd: clone, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128))));
  try {
    await waitFor('the README\'s first command to report the stack converged', 240_000, async () => (/Stack \S+ converged/.test(output) ? true : undefined), { describe: () => tail(output), intervalMs: 500 });
  } catch (error) {
    process.kill(-child.pid!, 'SIGKILL');
    throw error;
  }
  expect(output).toMatch(/hello_migrate +1\/1 completed/);
  expect(output).toMatch(/hello_web +3\/3 running/);
  // Ctrl-C: the terminal signals the foreground process group.
  process.kill(-child.pid!, 'SIGINT');
  expect(await exited).toBe(0);
  expect(output).toMatch(/Detached/);

  // The stack keeps running: the example's web answers on loopback.
  expect(await get('http://127.0.0.1:18080/')).toMatch(/hello from web on port 18080/);
  const ls = execFileSync(path.join(clone, 'swarm'), ['service', 'ls'], { cwd: clone, encoding: 'utf8' });
  expect(ls).toMatch(/hello_web\s+replicated\s+3\/3/);

  const down = execFileSync(path.join(clone, 'swarm'), ['down', '-f', 'examples/stack.yml'], { cwd: clone, encoding: 'utf8' });
  expect(down).toMatch(/Removed service hello_web/);
  const stop = execFileSync(path.join(clone, 'swarm'), ['stop'], { cwd: clone, encoding: 'utf8' });
  expect(stop).toMatch(/Node stopped/);
}, TEST_TIMEOUT_MS);

test('the README\'s second command is the one CI runs on a fresh clone', () => {
  const [, second] = readmeCommands();
  expect(second).toBe('npm ci && npm test');
  const ci = readFileSync(path.join(ROOT, '.ci/run'), 'utf8');
  expect(ci).toMatch(/^npm ci\b/m);
  expect(ci).toMatch(/^npm test$/m);
});

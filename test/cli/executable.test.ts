import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

// The `swarm` executable as a user on a fresh clone runs it: ./swarm, a link to bin/swarm.js, which
// runs the build in dist/ (made by `npm ci`'s prepare script, or remade by the launcher when a
// source is newer). The other CLI tests run the sources through tsx; these run what ships.

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

async function swarm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(path.join(root, 'swarm'), args, { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The modules a built file imports statically (not its `import()`s), as written in it. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|^import\s*["']([^"']+)["']/gm)].map((m) => (m[1] ?? m[2])!);
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the swarm executable', () => {
  beforeAll(async () => {
    // Builds dist/ if it is missing or older than the sources (the launcher does), before any timing-free check below.
    await swarm('--help');
  }, 120_000);

  test('--help lists the commands', async () => {
    const { code, stdout, stderr } = await swarm('--help');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: swarm/);
    for (const command of ['init', 'join', 'start', 'leave', 'node', 'service', 'task', 'secret', 'config', 'journal', 'join-token', 'unlock', 'ca']) {
      expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
  });

  test('node ls with no node running says so, in one line, exit 1', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swarm-cli-exe-'));
    dirs.push(dir);
    const { code, stdout, stderr } = await swarm('node', 'ls', '--state-dir', dir);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(`swarm: no node is running with --state-dir ${dir} (no ${path.join(dir, 'control.sock')}); start one with swarm init, swarm join or swarm start\n`);
  });

  test("the command tree loads none of the node process's packages (start-up time)", () => {
    // Everything dist/main.js loads before a command's action runs: its static imports, transitively.
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of staticImports(file)) {
        if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec));
        else if (!spec.startsWith('node:')) packages.add(spec);
      }
    };
    visit(path.join(root, 'dist', 'main.js'));
    expect(seen.size).toBeGreaterThan(1);
    expect([...packages].filter((name) => name !== 'commander')).toEqual([]);
    // The node process is there, behind import() (in main.js or a chunk it loads: esbuild puts the
    // command modules that the lazily loaded ones share in a chunk of their own).
    expect([...seen].some((file) => /import\("\.\/(?:chunks\/)?daemon-/.test(readFileSync(file, 'utf8')))).toBe(true);
  });
});

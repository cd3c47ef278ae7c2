import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Command, Option } from 'commander';
import { program } from '../../cli/index.js';

// Every command of the tree, walked from program() (the tree cli/main.ts parses argv with), run as
// users run it: the built executable (./swarm), in an empty working directory so that nothing it
// could create (a .swarm state directory) goes unseen. For each command: --help exits 0 and names
// every option and argument the command declares; a default the help shows reads back, through the
// option's own parser, as the default the command uses; an unknown flag is refused naming it,
// before anything is done. Then a few bad values, each refused naming its flag. None of these
// needs a node: each fails, or answers, before any request.

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** `swarm ARGS` in a new empty directory: its result, and what the directory holds afterwards. */
async function swarmIn(args: readonly string[]): Promise<Result & { left: string[] }> {
  const cwd = mkdtempSync(path.join(tmpdir(), 'swarm-cli-help-'));
  dirs.push(cwd);
  let result: Result;
  try {
    const { stdout, stderr } = await run(path.join(root, 'swarm'), [...args], { cwd });
    result = { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    result = { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
  return { ...result, left: readdirSync(cwd) };
}

interface Entry {
  readonly path: readonly string[];
  readonly command: Command;
}

function walk(command: Command, prefix: readonly string[]): Entry[] {
  return command.commands.flatMap((sub) => {
    const here = [...prefix, sub.name()];
    return [{ path: here, command: sub }, ...walk(sub, here)];
  });
}

const commands = walk(program(), []);
const name = (entry: Entry): string => ['swarm', ...entry.path].join(' ');

/** The values that satisfy a command's mandatory options, which commander checks before unknown ones. */
function mandatory(command: Command): string[] {
  return (command.options as readonly Option[]).filter((o) => o.mandatory).flatMap((o) => [o.long!, o.long === '--state-dir' ? 'state' : 'x']);
}

describe('the command tree', () => {
  beforeAll(async () => {
    // Builds dist/ if it is missing or older than the sources (the launcher does).
    await swarmIn(['--help']);
  }, 120_000);

  test('has the commands of an operator\'s day', () => {
    const names = new Set(commands.map((e) => e.path.join(' ')));
    for (const expected of [
      'service create', 'service ls', 'service ps', 'service inspect', 'service update', 'service scale', 'service rollback', 'service rm', 'service logs',
      'node ls', 'node inspect', 'node update', 'node promote', 'node demote', 'node rm',
      'secret create', 'secret ls', 'secret inspect', 'secret rm', 'config create', 'config ls', 'config inspect', 'config rm',
      'events', 'cluster inspect', 'cluster update', 'task ls', 'task inspect',
    ]) expect(names).toContain(expected);
  });

  test('no command takes unknown options', () => {
    for (const entry of commands) {
      expect({ command: name(entry), allowUnknownOption: (entry.command as unknown as { _allowUnknownOption: boolean })._allowUnknownOption }).toEqual({ command: name(entry), allowUnknownOption: false });
    }
  });

  test.each(commands.map((e) => [name(e), e] as const))('%s: a default the help shows reads back as the default', (_, entry) => {
    for (const option of entry.command.options as readonly Option[]) {
      if (option.defaultValue === undefined || option.parseArg === undefined || option.negate) continue;
      const shown = option.defaultValueDescription ?? String(option.defaultValue);
      expect({ option: option.flags, default: option.parseArg(shown, undefined as never) }).toEqual({ option: option.flags, default: option.defaultValue });
    }
  });

  test.each(commands.map((e) => [name(e), e] as const))('%s --help names every option and argument', async (_, entry) => {
    const { code, stdout, stderr, left } = await swarmIn([...entry.path, '--help']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(left).toEqual([]);
    expect(stdout.split('\n')[0]).toMatch(new RegExp(`^Usage: ${name(entry)} `));
    for (const option of entry.command.options as readonly Option[]) expect(stdout).toContain(option.flags);
    for (const argument of entry.command.registeredArguments) expect(stdout.split('\n')[0]).toContain(`${argument.required ? '<' : '['}${argument.name()}`);
    for (const sub of entry.command.commands) expect(stdout).toMatch(new RegExp(`^  ${sub.name()}\\b`, 'm'));
  });

  test.each(commands.map((e) => [name(e), e] as const))('%s --no-such-flag is refused, naming it, with nothing done', async (_, entry) => {
    const { code, stdout, stderr, left } = await swarmIn([...entry.path, ...mandatory(entry.command), '--no-such-flag']);
    expect(code).not.toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: unknown option '--no-such-flag'/);
    expect(left).toEqual([]);
  });
});

describe('bad values name their flag, with nothing done', () => {
  beforeAll(async () => {
    await swarmIn(['--help']);
  }, 120_000);

  test.each([
    [['service', 'create', '--name', 'web', '--replicas', 'x', 'nginx'], '--replicas'],
    [['service', 'update', '--update-order', 'sideways', 'web'], '--update-order'],
    [['service', 'ls', '--format', 'yaml'], '--format'],
    [['service', 'ls', '--format', 'json', '-q'], '--format'],
    [['cluster', 'update', '--cert-expiry', 'soon'], '--cert-expiry'],
    [['cluster', 'update', '--cert-expiry', '5s'], '--cert-expiry'],
    [['cluster', 'update', '--dispatcher-heartbeat', '50ms'], '--dispatcher-heartbeat'],
    [['cluster', 'update', '--task-history-limit', '-2'], '--task-history-limit'],
    [['cluster', 'inspect', '--format', 'table'], '--format'],
    [['events', '--since', '-1'], '--since'],
    [['events', '--filter', 'everything'], '--filter'],
    [['node', 'update', '--availability', 'gone', 'n1'], '--availability'],
    [['node', 'inspect', '--format', 'yaml', 'n1'], '--format'],
    [['init', '--listen-addr', 'localhost:99999'], '--listen-addr'],
    [['init', '--dispatcher-heartbeat', '2h'], '--dispatcher-heartbeat'],
    [['up', '--file', 'missing.yml'], '--file'],
    [['journal', 'dump', '--state-dir', 'state', '--tail', '0'], '--tail'],
  ] as const)('swarm %j names %s', async (args, flag) => {
    const { code, stdout, stderr, left } = await swarmIn(args);
    expect(code).not.toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toContain(flag);
    expect(left).toEqual([]);
  });
});

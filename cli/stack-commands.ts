// `swarm up`, `swarm down`, `swarm events` and `swarm stop`: a stack file to a converged cluster.
//
// `swarm up` finds (or starts) the node of the state directory — with none there, it initialises a
// single-node cluster in the background (manager and worker in one process) — reads the stack file
// (cli/stack), creates the stack's secrets and configs, creates or updates its services (unchanged
// ones untouched), removes those the file no longer has with --prune, then shows live convergence
// (cli/progress.ts) until Ctrl-C, which detaches and leaves the stack running. `--dry-run` prints
// the plan and changes nothing; `-d` returns once the changes are committed. A service that cannot
// converge ends it with exit code 2 and the reason. The work is in cli/stack-actions.ts, loaded
// when up or down runs.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { RealClock } from '../runtime/env/real/clock.js';
import { DEFAULT_STATE_DIR, jsonFormat, type Out } from './cluster-commands.js';
import { EVENT_TYPES } from './node/events.js';
import { ControlError, controlRequest, controlStream } from './node/client.js';
import { PID_FILE } from './node/state-dir.js';
import type { UpFlags } from './stack-actions.js';

/** The files `swarm up` looks for in the working directory when no -f is given (Compose's names first). */
export const DEFAULT_STACK_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml', 'stack.yaml', 'stack.yml'];

/** Whether a node answers on the state directory's control socket. */
export async function answers(stateDir: string): Promise<boolean> {
  try {
    await controlRequest(stateDir, 'GET', '/_ping', undefined, 5_000);
    return true;
  } catch (error) {
    if (error instanceof ControlError && (error.code === 'NOT_RUNNING' || error.code === 'UNREACHABLE')) return false;
    throw error;
  }
}

export function registerStackCommands(swarm: Command, out: Out): void {
  swarm.command('up').description('deploy a stack file (Compose format) and watch it converge; starts a single-node cluster when there is none')
    .option('-f, --file <file>', `the stack file (default: the first of ${DEFAULT_STACK_FILES.join(', ')} here)`)
    .option('--state-dir <dir>', 'the node\'s state directory', DEFAULT_STATE_DIR)
    .option('-p, --stack <name>', 'the stack\'s name (default: the file\'s top-level name:, else its directory\'s name)')
    .option('-d, --detach', 'return once the changes are committed, without watching them converge')
    .option('--dry-run', 'print what would be created, updated (field by field) and removed, and change nothing')
    .option('--prune', 'remove the stack\'s services that the file no longer has')
    .action(async (opts: UpFlags) => (await import('./stack-actions.js')).up(opts, out));

  swarm.command('down').description('remove a stack: its services, and the secrets and configs it created')
    .option('-f, --file <file>', 'the stack file, for its name (default: as swarm up)')
    .option('-p, --stack <name>', 'the stack\'s name (instead of reading a file)')
    .option('--state-dir <dir>', 'the node\'s state directory', DEFAULT_STATE_DIR)
    .action(async (opts: { file?: string; stack?: string; stateDir: string }) => (await import('./stack-actions.js')).down(opts, out));

  swarm.command('events').description('the cluster\'s committed events as they happen (Ctrl-C ends)')
    .option('--since <version>', 'start after this version (a Raft index, as printed); default: now', (v: string) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`--since must be a version (a whole number), got '${v}'`);
      return Number(v);
    })
    .option('--filter <type>', `only these object types: ${EVENT_TYPES.join(', ')} (repeatable)`, (v: string, prev: string[] = []) => {
      if (!(EVENT_TYPES as readonly string[]).includes(v)) throw new InvalidArgumentError(`--filter must be one of ${EVENT_TYPES.join(', ')}, got '${v}'`);
      return [...prev, v];
    })
    .option('--format <format>', 'json: one JSON object per line', jsonFormat)
    .option('--state-dir <dir>', 'the node\'s state directory', DEFAULT_STATE_DIR)
    .action(async (opts: { since?: number; filter?: string[]; format?: string; stateDir: string }) => {
      const query = new URLSearchParams();
      if (opts.since !== undefined) query.set('since', String(opts.since));
      if (opts.filter !== undefined) query.set('filters', JSON.stringify({ type: opts.filter }));
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      await controlStream(opts.stateDir, `/events${query.size === 0 ? '' : `?${query}`}`, (value) => {
        const e = value as { Type: string; Action?: string; Version: number; Actor?: { ID: string; Attributes: Record<string, string> }; message?: string };
        if (opts.format === 'json') return out(JSON.stringify(e));
        if (e.Type === 'sync') return;
        if (e.Type === 'reset' || e.Type === 'overflow') return out(`${e.Version} (stream ${e.Type}: resume with --since ${e.Version})`);
        const attrs = Object.entries(e.Actor?.Attributes ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
        out(`${e.Version} ${e.Type} ${e.Action} ${e.Actor?.ID ?? ''}${attrs === '' ? '' : ` (${attrs})`}`);
      }, 0, stop.signal);
    });

  swarm.command('stop').description('stop the node process of the state directory (it keeps its state; swarm start runs it again)')
    .option('--state-dir <dir>', 'the node\'s state directory', DEFAULT_STATE_DIR)
    .action(async (opts: { stateDir: string }) => {
      const pidFile = path.join(opts.stateDir, PID_FILE);
      if (!existsSync(pidFile) || !(await answers(opts.stateDir))) throw new ControlError(`no node is running with --state-dir ${opts.stateDir}`, 0, 'NOT_RUNNING');
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      process.kill(pid, 'SIGTERM');
      const clock = new RealClock();
      const deadline = clock.now() + 30_000;
      while (clock.now() < deadline) {
        try {
          process.kill(pid, 0);
        } catch {
          out(`Node stopped (pid ${pid}).`);
          return;
        }
        await new Promise<void>((resolve) => clock.setTimeout(resolve, 100));
      }
      throw new ControlError(`the node (pid ${pid}) did not stop within 30 s`, 0, 'TIMEOUT');
    });
}

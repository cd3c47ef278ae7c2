// `swarm up`, `swarm down`, `swarm events` and `swarm stop`: a stack file to a converged cluster.
//
// `swarm up` finds (or starts) the node of the state directory — with none there, it initialises a
// single-node cluster in the background (manager and worker in one process) — reads the stack file
// (cli/stack), creates the stack's secrets and configs, creates or updates its services (unchanged
// ones untouched; dependencies first), removes those the file no longer has with --prune, then
// shows live convergence (cli/progress.ts) until Ctrl-C, which detaches and leaves the stack
// running. `--dry-run` prints the plan and changes nothing; `-d` returns once the changes are
// committed. A service that cannot converge ends it with exit code 2 and the reason.
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { RealClock } from '../runtime/env/real/index.js';
import { DEFAULT_STATE_DIR, type Out } from './cluster-commands.js';
import { ControlError, controlRequest, controlStream } from './node/client.js';
import { runDetached } from './node/run.js';
import { PID_FILE, StateDir } from './node/state-dir.js';
import { reportOutcome, stdoutRenderer, watchConvergence } from './progress.js';
import { formatPlan, parseStack, planStack, toServiceSpecs, STACK_NAMESPACE_LABEL, type Stack, type StackPlan, type StackSpecs } from './stack/index.js';

/** The files `swarm up` looks for in the working directory when no -f is given (Compose's names first). */
export const DEFAULT_STACK_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml', 'stack.yaml', 'stack.yml'];

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface UpFlags {
  stateDir: string;
  file?: string;
  detach?: boolean;
  dryRun?: boolean;
  prune?: boolean;
  stack?: string;
}

function stackFile(file: string | undefined): string {
  if (file !== undefined) {
    if (!existsSync(file)) throw new InvalidArgumentError(`-f: no such file: ${file}`);
    return file;
  }
  const found = DEFAULT_STACK_FILES.find((f) => existsSync(f));
  if (found === undefined) throw new InvalidArgumentError(`no stack file: none of ${DEFAULT_STACK_FILES.join(', ')} is in ${process.cwd()}; name one with -f (try -f examples/stack.yml)`);
  return found;
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Whether a node answers on the state directory's control socket. */
async function answers(stateDir: string): Promise<boolean> {
  try {
    await controlRequest(stateDir, 'GET', '/_ping', undefined, 5_000);
    return true;
  } catch (error) {
    if (error instanceof ControlError && (error.code === 'NOT_RUNNING' || error.code === 'UNREACHABLE')) return false;
    throw error;
  }
}

/**
 * The node of `stateDir`, running: as it is, started again from its state (`swarm start -d`), or
 * a new single-node cluster (`swarm init -d` on a free loopback port). Says which on `out`.
 */
export async function ensureNode(stateDir: string, out: Out): Promise<'running' | 'started' | 'initialised'> {
  if (await answers(stateDir)) return 'running';
  const main = process.argv[1]!;
  const quiet: Out = () => undefined;
  if (new StateDir(stateDir).exists()) {
    out(`Starting the node of ${stateDir} again ...`);
    await runDetached(stateDir, [main, 'start', '--state-dir', stateDir], quiet);
    return 'started';
  }
  const addr = `127.0.0.1:${await freeLoopbackPort()}`;
  out(`No cluster in ${stateDir}: initialising a single-node cluster (manager and worker, cluster port ${addr}) ...`);
  await runDetached(stateDir, [main, 'init', '--state-dir', stateDir, '--listen-addr', addr], quiet);
  return 'initialised';
}

async function stackServices(stateDir: string, stack: string): Promise<Json[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${STACK_NAMESPACE_LABEL}=${stack}`] }));
  return controlRequest<Json[]>(stateDir, 'GET', `/services?filters=${filters}`);
}

async function stackBlobs(stateDir: string, kind: 'secrets' | 'configs', stack: string): Promise<Json[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${STACK_NAMESPACE_LABEL}=${stack}`] }));
  return controlRequest<Json[]>(stateDir, 'GET', `/${kind}?filters=${filters}`);
}

/** The stack's name: the flag, else the file's top-level name:, else its directory's name (Compose's project name). */
function stackNameOf(stack: Stack, file: string, flag: string | undefined): string {
  const name = flag ?? stack.name ?? path.basename(path.dirname(path.resolve(file))).toLowerCase().replace(/[^a-z0-9_-]/g, '');
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_-]*$/.test(name)) throw new InvalidArgumentError(`-p: the stack name must be letters, digits, - and _ (starting with a letter or digit), got '${name}'`);
  return name;
}

/** Applies a plan: the stack's secrets and configs first (those missing), then services, removals last. */
async function applyPlan(stateDir: string, plan: StackPlan, specs: StackSpecs, out: Out): Promise<string[]> {
  for (const kind of ['secrets', 'configs'] as const) {
    for (const name of specs.external[kind]) {
      const found = await controlRequest<Json[]>(stateDir, 'GET', `/${kind}?filters=${encodeURIComponent(JSON.stringify({ name: [name] }))}`);
      if (!found.some((e) => e.Spec?.Name === name)) throw new InvalidArgumentError(`external ${kind.slice(0, -1)} '${name}' does not exist (create it with swarm ${kind.slice(0, -1)} create)`);
    }
    for (const blob of specs[kind]) {
      const existing = await controlRequest<Json[]>(stateDir, 'GET', `/${kind}?filters=${encodeURIComponent(JSON.stringify({ name: [blob.Name] }))}`);
      // Secrets and configs cannot change in place (as in Docker): an existing one is kept.
      if (existing.some((e) => e.Spec?.Name === blob.Name)) continue;
      await controlRequest(stateDir, 'POST', `/${kind}/create`, blob);
      out(`Created ${kind.slice(0, -1)} ${blob.Name}`);
    }
  }
  const touched: string[] = [];
  for (const c of plan.create) {
    const reply = await controlRequest<{ ID: string }>(stateDir, 'POST', '/services/create', c.spec);
    touched.push(reply.ID);
    out(`Created service ${c.fullName}`);
  }
  for (const u of plan.update) {
    await controlRequest(stateDir, 'POST', `/services/${u.id}/update?version=${u.version}`, u.spec);
    touched.push(u.id);
    out(`Updated service ${u.fullName}`);
  }
  for (const k of plan.unchanged) touched.push(k.id);
  for (const r of plan.remove) {
    await controlRequest(stateDir, 'DELETE', `/services/${r.id}`);
    out(`Removed service ${r.fullName}`);
  }
  return touched;
}

export function registerStackCommands(swarm: Command, out: Out): void {
  swarm.command('up').description('deploy a stack file (Compose format) and watch it converge; starts a single-node cluster when there is none')
    .option('-f, --file <file>', `the stack file (default: the first of ${DEFAULT_STACK_FILES.join(', ')} here)`)
    .option('--state-dir <dir>', 'the node\'s state directory', DEFAULT_STATE_DIR)
    .option('-p, --stack <name>', 'the stack\'s name (default: the file\'s top-level name:, else its directory\'s name)')
    .option('-d, --detach', 'return once the changes are committed, without watching them converge')
    .option('--dry-run', 'print what would be created, updated (field by field) and removed, and change nothing')
    .option('--prune', 'remove the stack\'s services that the file no longer has')
    .action(async (opts: UpFlags) => {
      const file = stackFile(opts.file);
      const stack = parseStack(readFileSync(file, 'utf8'), file);
      const stackName = stackNameOf(stack, file, opts.stack);
      const specs = toServiceSpecs(stack, { stackName, readFile: (p) => readFileSync(p) });
      if (opts.dryRun === true) {
        // Reads only: a dry run against no cluster plans from nothing, and starts nothing.
        const running = await answers(opts.stateDir);
        const current = running ? await stackServices(opts.stateDir, stackName) : [];
        const plan = planStack(specs, current as never, { prune: opts.prune === true });
        for (const line of formatPlan(plan)) out(line);
        out(`(dry run: nothing changed${running ? '' : `; no node runs in ${opts.stateDir}, so every service would be created`})`);
        return;
      }
      await ensureNode(opts.stateDir, out);
      const current = await stackServices(opts.stateDir, stackName);
      const plan = planStack(specs, current as never, { prune: opts.prune === true });
      const touched = await applyPlan(opts.stateDir, plan, specs, out);
      if (opts.detach === true) {
        out(`Stack ${stackName}: ${touched.length} service${touched.length === 1 ? '' : 's'} (watch with swarm up again, or swarm service ls)`);
        return;
      }
      out(`Stack ${stackName}: watching ${touched.length} service${touched.length === 1 ? '' : 's'} converge (Ctrl-C detaches; the stack keeps running)`);
      const detach = new AbortController();
      const onSignal = (): void => detach.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const outcome = await watchConvergence({ stateDir: opts.stateDir, services: { stack: stackName }, renderer: stdoutRenderer(), attached: true, signal: detach.signal });
        process.exitCode = reportOutcome(outcome, out, `stack ${stackName}`);
        if (outcome.kind === 'detached') out('(swarm down removes it; swarm stop stops the node)');
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  swarm.command('down').description('remove a stack: its services, and the secrets and configs it created')
    .option('-f, --file <file>', 'the stack file, for its name (default: as swarm up)')
    .option('-p, --stack <name>', 'the stack\'s name (instead of reading a file)')
    .option('--state-dir <dir>', 'the node\'s state directory', DEFAULT_STATE_DIR)
    .action(async (opts: { file?: string; stack?: string; stateDir: string }) => {
      let stackName = opts.stack;
      if (stackName === undefined) {
        const file = stackFile(opts.file);
        stackName = stackNameOf(parseStack(readFileSync(file, 'utf8'), file), file, undefined);
      }
      const services = await stackServices(opts.stateDir, stackName);
      for (const s of services) {
        await controlRequest(opts.stateDir, 'DELETE', `/services/${s.ID}`);
        out(`Removed service ${s.Spec.Name}`);
      }
      for (const kind of ['secrets', 'configs'] as const) {
        for (const blob of await stackBlobs(opts.stateDir, kind, stackName)) {
          await controlRequest(opts.stateDir, 'DELETE', `/${kind}/${blob.ID}`);
          out(`Removed ${kind.slice(0, -1)} ${blob.Spec.Name}`);
        }
      }
      if (services.length === 0) out(`Nothing to remove: no service of stack ${stackName}.`);
    });

  swarm.command('events').description('the cluster\'s committed events as they happen (Ctrl-C ends)')
    .option('--since <version>', 'start after this version (a Raft index, as printed); default: now', (v: string) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`--since must be a version (a whole number), got '${v}'`);
      return Number(v);
    })
    .option('--filter <type>', 'only these object types: cluster, node, service, task, network, secret, config (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--format <format>', 'json: one JSON object per line', (v: string) => {
      if (v !== 'json') throw new InvalidArgumentError(`--format must be json, got '${v}'`);
      return v;
    })
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

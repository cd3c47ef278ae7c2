// What `swarm up` and `swarm down` do (loaded when they run: the YAML and schema libraries, the
// progress display and the runtime stay out of every other command's start).
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
import { InvalidArgumentError } from 'commander';
import type { Out } from './cluster-commands.js';
import { DEFAULT_STACK_FILES, answers } from './stack-commands.js';
import { controlRequest } from './node/client.js';
import { runDetached } from './node/detach.js';
import { StateDir } from './node/state-dir.js';
import { progressText, reportOutcome, stdoutRenderer, watchConvergence } from './progress.js';
import { formatPlan, parseStack, planStack, toServiceSpecs, STACK_NAMESPACE_LABEL, type Stack, type StackPlan, type StackSpecs } from './stack/index.js';

/** The files `swarm up` looks for in the working directory when no -f is given (Compose's names first). */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface UpFlags {
  stateDir: string;
  file?: string;
  detach?: boolean;
  dryRun?: boolean;
  prune?: boolean;
  stack?: string;
}

function stackFile(file: string | undefined): string {
  if (file !== undefined) {
    if (!existsSync(file)) throw new InvalidArgumentError(`--file: no such file: ${file}`);
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
    if (specs.external[kind].length === 0 && specs[kind].length === 0) continue;
    // One listing per kind answers both questions: which external ones exist, which of ours do.
    const names = new Set((await controlRequest<Json[]>(stateDir, 'GET', `/${kind}`)).map((e) => e.Spec?.Name as string));
    for (const name of specs.external[kind]) {
      if (!names.has(name)) throw new InvalidArgumentError(`external ${kind.slice(0, -1)} '${name}' does not exist (create it with swarm ${kind.slice(0, -1)} create)`);
    }
    for (const blob of specs[kind]) {
      // Secrets and configs cannot change in place (as in Docker): an existing one is kept.
      if (names.has(blob.Name)) continue;
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

export async function up(opts: UpFlags, out: Out): Promise<void> {
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
        const renderer = stdoutRenderer();
        const outcome = await watchConvergence({
          stateDir: opts.stateDir, services: { stack: stackName }, renderer, attached: true, signal: detach.signal,
          onConverged: (services) => renderer.note(`Stack ${stackName} converged: ${services.map((p) => progressText(p).replace(/ +/g, ' ').trim()).join('; ')} (still watching; Ctrl-C detaches)`),
        });
        process.exitCode = reportOutcome(outcome, out, `stack ${stackName}`);
        if (outcome.kind === 'detached') out('(swarm down removes it; swarm stop stops the node)');
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
}

export async function down(opts: { file?: string; stack?: string; stateDir: string }, out: Out): Promise<void> {
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
}

// Live convergence: the progress display of `swarm up`, `swarm service create` and `update`.
//
// An actor (the mailbox runtime's, on the real Env) owns the display. The manager's committed
// events stream in (`GET /events`, cli/node/events.ts); an event about one of the watched
// services or their tasks makes the actor read their state again (services and tasks through the
// control API: one read in flight, and one more if events came meanwhile), then render a line per
// service: a bar on a terminal (cli-progress), plain lines when piped (a line when a service's
// state changes). Nothing polls: a quiet cluster costs nothing but the open stream.
//
// A service is converged when its up-to-date tasks are all running (replicated: `replicas` of
// them; global: every one, at least one), or for jobs when its completions are reached, and no
// update is in progress. It has failed when its update paused or rolled back, when its tasks
// cannot be placed ("no suitable node ...", still so after STUCK_GRACE_MS), or when its tasks
// keep failing (crash loop). A service held by its dependencies (depends_on) says what it waits
// for.
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { RealClock, realEnv } from '../runtime/env/real/index.js';
import { ActorSystem, MemoryTransport, plain, type ActorContext } from '../runtime/index.js';
import { ControlError, controlRequest, controlStream } from './node/client.js';

/** How long tasks may stay unplaceable before the service is reported as unable to converge. */
export const STUCK_GRACE_MS = 3_000;
/** Failed or rejected tasks (of the current spec, since the watch began) that mean a crash loop: this many per wanted task, at least CRASH_LOOP_MIN. */
const CRASH_LOOP_PER_TASK = 2;
const CRASH_LOOP_MIN = 3;
/** A broken events stream is opened again after this long. */
const RECONNECT_MS = 500;

export interface ServiceJson {
  readonly ID: string;
  readonly Spec: {
    readonly Name: string;
    readonly Mode: {
      readonly Replicated?: { readonly Replicas?: number };
      readonly Global?: Record<string, never>;
      readonly ReplicatedJob?: { readonly MaxConcurrent?: number; readonly TotalCompletions?: number };
      readonly GlobalJob?: Record<string, never>;
    };
  };
  readonly UpdateStatus?: { readonly State: string; readonly Message: string };
  readonly ServiceStatus?: { readonly RunningTasks: number; readonly DesiredTasks: number; readonly CompletedTasks: number; readonly Held?: string };
}

export interface TaskJson {
  readonly ID: string;
  readonly ServiceID: string;
  readonly Slot?: number;
  readonly NodeID?: string;
  readonly DesiredState: string;
  readonly Status: { readonly State: string; readonly Message: string; readonly Err?: string };
}

export type Phase = 'held' | 'converging' | 'converged' | 'failed';

export interface ServiceProgress {
  readonly id: string;
  readonly name: string;
  readonly done: number;
  readonly total: number;
  readonly phase: Phase;
  /** What a person reads after the counts: "running", "starting", the reason it failed, what it waits for. */
  readonly detail: string;
  /** The tasks cannot be placed (the scheduler's reason): a failure once it lasts. */
  readonly stuck: string | null;
}

const FAILED_STATES = new Set(['failed', 'rejected']);

function modeOf(service: ServiceJson): 'replicated' | 'global' | 'replicatedJob' | 'globalJob' {
  const mode = service.Spec.Mode;
  if (mode.Global !== undefined) return 'global';
  if (mode.ReplicatedJob !== undefined) return 'replicatedJob';
  if (mode.GlobalJob !== undefined) return 'globalJob';
  return 'replicated';
}

/**
 * Where one service stands (pure). `current`: its tasks of the current spec (the API's
 * up-to-date filter); `known`: ids of tasks that had already failed when the watch began, so that
 * history does not count as a crash loop.
 */
export function serviceProgress(service: ServiceJson, current: readonly TaskJson[], known: ReadonlySet<string>, rollback = false): ServiceProgress {
  const base = { id: service.ID, name: service.Spec.Name };
  const mode = modeOf(service);
  const held = service.ServiceStatus?.Held;
  const live = current.filter((t) => t.DesiredState === 'running' || (t.DesiredState === 'complete' && !FAILED_STATES.has(t.Status.State) && t.Status.State !== 'complete'));
  const running = current.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running').length;
  const completed = current.filter((t) => t.Status.State === 'complete').length;
  let total: number;
  let done: number;
  switch (mode) {
    case 'replicated':
      total = service.Spec.Mode.Replicated?.Replicas ?? 1;
      done = running;
      break;
    case 'global':
      total = live.length;
      done = running;
      break;
    case 'replicatedJob':
      total = service.Spec.Mode.ReplicatedJob?.TotalCompletions ?? service.Spec.Mode.ReplicatedJob?.MaxConcurrent ?? 1;
      done = completed;
      break;
    case 'globalJob':
      total = current.length;
      done = completed;
      break;
  }
  const update = service.UpdateStatus?.State ?? '';
  // A rollback asked for (swarm service rollback) is the change watched; any other one failed an update.
  const rolledBack = update === 'rollback_completed' || update === 'rollback_started';
  if (update === 'paused' || update === 'rollback_paused' || (rolledBack && !rollback)) {
    const what = update === 'paused' ? 'update paused' : update === 'rollback_paused' ? 'rollback paused' : 'update rolled back';
    return { ...base, done, total, phase: 'failed', detail: `${what}: ${service.UpdateStatus?.Message ?? ''}`.trim(), stuck: null };
  }
  const failures = current.filter((t) => FAILED_STATES.has(t.Status.State) && !known.has(t.ID));
  if (failures.length >= Math.max(CRASH_LOOP_MIN, CRASH_LOOP_PER_TASK * Math.max(1, total)) && done < total) {
    const last = failures[failures.length - 1]!;
    return { ...base, done, total, phase: 'failed', detail: `tasks keep failing: ${last.Status.Err || last.Status.Message} (${failures.length} failed)`, stuck: null };
  }
  if (held !== undefined && held !== '' && current.length === 0) return { ...base, done: 0, total, phase: 'held', detail: held, stuck: null };
  const jobs = mode === 'replicatedJob' || mode === 'globalJob';
  const pending = live.find((t) => t.Status.State === 'pending' && t.Status.Message.startsWith('no suitable node'));
  const stuck = pending === undefined ? null : pending.Status.Message;
  // Exactly as many as wanted run (a scale-down converges once the extra tasks stopped); jobs count completions.
  const converged = (jobs ? done >= total : done === total) && (total > 0 || mode === 'replicated' || mode === 'replicatedJob') && update !== 'updating' && update !== 'rollback_started';
  if (converged) return { ...base, done, total, phase: 'converged', detail: jobs ? 'completed' : 'running', stuck: null };
  let detail: string;
  if (stuck !== null) detail = stuck;
  else if (update === 'updating' || update === 'rollback_started') detail = update === 'updating' ? 'updating' : 'rolling back';
  else if (failures.length > 0) detail = `restarting after ${failures[failures.length - 1]!.Status.Err || failures[failures.length - 1]!.Status.State}`;
  else {
    const states = new Set(live.filter((t) => t.Status.State !== 'running').map((t) => t.Status.State));
    detail = live.length === 0 ? 'creating tasks' : states.size === 0 ? (jobs ? 'running' : 'starting') : [...states].join(', ');
  }
  return { ...base, done, total, phase: 'converging', detail, stuck };
}

/** Renders the services' lines; `close` leaves the final state on screen. */
export interface Renderer {
  render(lines: readonly ServiceProgress[]): void;
  /** A line of text above the display (a terminal keeps the bars below it). */
  note(line: string): void;
  close(): void;
}

const MARK: Readonly<Record<Phase, string>> = { held: '…', converging: '-', converged: 'ok', failed: 'FAILED' };

/** One line of text for a service (what a pipe gets, and the text beside a bar). */
export function progressText(p: ServiceProgress, nameWidth = 0): string {
  const counts = p.phase === 'held' ? '' : `${p.done}/${p.total} `;
  return `${p.name.padEnd(nameWidth)}  ${counts}${p.detail}`;
}

/** Plain lines for a pipe or a file: a line each time a service's text changes. */
export function lineRenderer(out: (line: string) => void): Renderer {
  const shown = new Map<string, string>();
  return {
    render(lines) {
      for (const p of lines) {
        const text = `${progressText(p)}${p.phase === 'failed' ? ' (failed)' : ''}`;
        if (shown.get(p.id) === text) continue;
        shown.set(p.id, text);
        out(text);
      }
    },
    note: out,
    close() {},
  };
}

/** A bar per service on a terminal (cli-progress redraws them in place). */
export function terminalRenderer(stream: NodeJS.WriteStream): Renderer {
  const multi = new MultiBar({
    stream, format: ' {mark} {bar} {text}', barsize: 20, hideCursor: true, clearOnComplete: false, stopOnComplete: false,
    autopadding: true, forceRedraw: true, emptyOnZero: true,
  }, Presets.shades_classic);
  const bars = new Map<string, SingleBar>();
  return {
    render(lines) {
      const width = Math.max(0, ...lines.map((p) => p.name.length));
      for (const p of lines) {
        const payload = { mark: MARK[p.phase].padEnd(6), text: progressText(p, width) };
        const total = Math.max(1, p.total);
        const bar = bars.get(p.id);
        if (bar === undefined) bars.set(p.id, multi.create(total, Math.min(p.done, total), payload));
        else {
          bar.setTotal(total);
          bar.update(Math.min(p.done, total), payload);
        }
      }
      multi.update();
    },
    note(line) {
      multi.log(`${line}\n`);
    },
    close() {
      multi.stop();
    },
  };
}

export type WatchOutcome =
  | { readonly kind: 'converged'; readonly services: readonly ServiceProgress[] }
  | { readonly kind: 'failed'; readonly services: readonly ServiceProgress[]; readonly reasons: readonly string[] }
  | { readonly kind: 'detached' };

export interface WatchOptions {
  readonly stateDir: string;
  /** The services watched, by id; or all with this stack label (`com.docker.stack.namespace`), read anew at each refresh. */
  readonly services: { readonly ids: readonly string[] } | { readonly stack: string };
  readonly renderer: Renderer;
  /**
   * Keep watching after convergence (`swarm up` attached) until `signal` aborts; a failure before
   * the first convergence still ends the watch. Otherwise the watch ends at convergence.
   */
  readonly attached: boolean;
  readonly signal?: AbortSignal;
  /** The change watched is a rollback: its update states are progress, not failure. */
  readonly rollback?: boolean;
  /** Called once, when every watched service has first converged (attached watches go on after it). */
  readonly onConverged?: (services: readonly ServiceProgress[]) => void;
}

type ProgressMessage =
  | { readonly type: 'events'; readonly relevant: boolean }
  | { readonly type: 'state'; readonly services: readonly ServiceJson[]; readonly current: readonly TaskJson[] }
  | { readonly type: 'readFailed'; readonly message: string }
  | { readonly type: 'stuckCheck' };

const STACK_LABEL = 'com.docker.stack.namespace';

/**
 * Watches services until they converge (or fail, or the signal aborts): the display actor plus
 * the events stream that feeds it. Errors reaching the node end the watch with a ControlError.
 */
export async function watchConvergence(options: WatchOptions): Promise<WatchOutcome> {
  const clock = new RealClock();
  const system = new ActorSystem({ nodeId: 'cli', env: realEnv({ transport: new MemoryTransport({ defer: (fn) => clock.defer(fn) }) }) });
  const streamAbort = new AbortController();
  let settle!: (outcome: WatchOutcome | Error) => void;
  const settled = new Promise<WatchOutcome | Error>((resolve) => (settle = resolve));
  const watched = new Set<string>('ids' in options.services ? options.services.ids : []);
  /** Task id -> service id, learnt from reads and events (status events name a task only). */
  const taskService = new Map<string, string>();

  const read = async (): Promise<ProgressMessage> => {
    try {
      const filter = (f: Record<string, string[]>): string => encodeURIComponent(JSON.stringify(f));
      const services = 'ids' in options.services
        ? await controlRequest<ServiceJson[]>(options.stateDir, 'GET', `/services?filters=${filter({ id: [...options.services.ids] })}`)
        : await controlRequest<ServiceJson[]>(options.stateDir, 'GET', `/services?filters=${filter({ label: [`${STACK_LABEL}=${options.services.stack}`] })}`);
      const ids = services.map((s) => s.ID);
      if (ids.length === 0) return { type: 'state', services, current: [] };
      // Only the current spec's tasks: progress, failures and the first read's history all come from them.
      const current = await controlRequest<TaskJson[]>(options.stateDir, 'GET', `/tasks?filters=${filter({ service: ids, 'up-to-date': ['true'] })}`);
      return { type: 'state', services, current };
    } catch (error) {
      return { type: 'readFailed', message: (error as Error).message };
    }
  };

  system.spawn('progress', plain<ProgressMessage>('progress', (() => {
    let reading = false;
    let again = false;
    let converged = false;
    let known: Set<string> | undefined;
    const stuckSince = new Map<string, number>();
    let last: ServiceProgress[] = [];
    const refresh = (ctx: ActorContext): void => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      again = false;
      void read().then((m) => ctx.send(ctx.self, m));
    };
    const judge = (ctx: ActorContext): void => {
      const now = ctx.env.clock.now();
      const failed: string[] = [];
      for (const p of last) {
        if (p.phase === 'failed') failed.push(`${p.name}: ${p.detail}`);
        if (p.stuck === null) {
          stuckSince.delete(p.id);
          continue;
        }
        const since = stuckSince.get(p.id) ?? now;
        stuckSince.set(p.id, since);
        if (now - since >= STUCK_GRACE_MS) failed.push(`${p.name}: ${p.stuck}`);
        else ctx.setTimer('stuck', STUCK_GRACE_MS - (now - since), { type: 'stuckCheck' });
      }
      if (!converged && failed.length > 0) {
        settle({ kind: 'failed', services: last, reasons: failed });
        return;
      }
      if (last.length > 0 && last.every((p) => p.phase === 'converged')) {
        if (!converged) options.onConverged?.(last);
        converged = true;
        if (!options.attached) settle({ kind: 'converged', services: last });
      }
    };
    return (m: ProgressMessage, ctx: ActorContext): void => {
      switch (m.type) {
        case 'events':
          if (m.relevant || !('ids' in options.services)) refresh(ctx);
          return;
        case 'readFailed':
          reading = false;
          settle(new ControlError(m.message, 0, 'UNREACHABLE'));
          return;
        case 'state': {
          reading = false;
          if (known === undefined) known = new Set(m.current.filter((t) => FAILED_STATES.has(t.Status.State)).map((t) => t.ID));
          for (const s of m.services) watched.add(s.ID);
          for (const t of m.current) taskService.set(t.ID, t.ServiceID);
          const byService = new Map<string, TaskJson[]>();
          for (const t of m.current) byService.set(t.ServiceID, [...(byService.get(t.ServiceID) ?? []), t]);
          last = m.services.map((s) => serviceProgress(s, byService.get(s.ID) ?? [], known!, options.rollback === true)).sort((a, b) => a.name.localeCompare(b.name));
          options.renderer.render(last);
          judge(ctx);
          if (again) refresh(ctx);
          return;
        }
        case 'stuckCheck':
          judge(ctx);
          return;
      }
    };
  })(), { mailboxDepthMax: 10_000 }));

  /** Whether an event touches a watched service or one of its tasks. */
  const relevant = (line: { Type?: string; Actor?: { ID: string; Attributes: Record<string, string> } }): boolean => {
    if (line.Type === 'service') return watched.has(line.Actor!.ID) || !('ids' in options.services);
    if (line.Type === 'task') {
      const service = line.Actor!.Attributes['service'] ?? taskService.get(line.Actor!.ID);
      if (service !== undefined && line.Actor !== undefined) taskService.set(line.Actor.ID, service);
      return service === undefined || watched.has(service);
    }
    return line.Type === 'node';
  };

  const stream = async (): Promise<void> => {
    let since: number | undefined;
    while (!streamAbort.signal.aborted) {
      let ended: string | undefined;
      try {
        await controlStream(options.stateDir, `/events${since === undefined ? '' : `?since=${since}`}`, (value) => {
          const line = value as { Type: string; Version: number; Actor?: { ID: string; Attributes: Record<string, string> } };
          if (line.Type === 'sync') {
            since = line.Version;
            // Whatever happened before the stream: read the state once it is open.
            system.send('cli/progress', { type: 'events', relevant: true });
            return;
          }
          if (line.Type === 'reset' || line.Type === 'overflow' || line.Type === 'error') {
            ended = line.Type;
            if (line.Type !== 'overflow') since = undefined;
            return;
          }
          since = line.Version;
          system.send('cli/progress', { type: 'events', relevant: relevant(line) });
        }, 0, streamAbort.signal);
      } catch (error) {
        if (streamAbort.signal.aborted) return;
        settle(error as Error);
        return;
      }
      if (streamAbort.signal.aborted) return;
      if (ended === undefined) {
        settle(new ControlError('the node closed the events stream (it stopped or lost its manager role)', 0, 'UNREACHABLE'));
        return;
      }
      await new Promise<void>((resolve) => clock.setTimeout(resolve, RECONNECT_MS));
    }
  };

  const onAbort = (): void => settle({ kind: 'detached' });
  if (options.signal?.aborted === true) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  void stream();
  const outcome = await settled;
  options.signal?.removeEventListener('abort', onAbort);
  streamAbort.abort();
  options.renderer.close();
  system.shutdown();
  if (outcome instanceof Error) throw outcome;
  return outcome;
}

/** The display for standard output: bars on a terminal, plain lines otherwise. */
export function stdoutRenderer(): Renderer {
  return process.stdout.isTTY === true ? terminalRenderer(process.stdout) : lineRenderer((line) => process.stdout.write(`${line}\n`));
}

/** Exit code of a watch that ended with a service unable to converge (1 is a refused command). */
export const EXIT_NOT_CONVERGED = 2;

/** Prints the outcome of a watch (reasons on standard error); the exit code it means. */
export function reportOutcome(outcome: WatchOutcome, out: (line: string) => void, what: string): number {
  switch (outcome.kind) {
    case 'converged':
      out(`${what} converged: ${outcome.services.map((p) => progressText(p).replace(/ +/g, ' ').trim()).join('; ')}`);
      return 0;
    case 'failed':
      for (const reason of outcome.reasons) process.stderr.write(`swarm: cannot converge: ${reason}\n`);
      return EXIT_NOT_CONVERGED;
    case 'detached':
      out(`Detached; ${what} keeps running.`);
      return 0;
  }
}

/**
 * `swarm service create|update|scale|rollback` without --detach: watches the services until they
 * converge (Ctrl-C stops watching; the change stands); the exit code to end with.
 */
export async function awaitServices(stateDir: string, ids: readonly string[], out: (line: string) => void, rollback = false, toStderr = false): Promise<number> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  try {
    const renderer = toStderr ? lineRenderer((line) => process.stderr.write(`${line}\n`)) : stdoutRenderer();
    const outcome = await watchConvergence({ stateDir, services: { ids }, renderer, attached: false, signal: stop.signal, rollback });
    return reportOutcome(outcome, out, ids.length === 1 ? 'service' : 'services');
  } finally {
    process.off('SIGINT', onSignal);
  }
}

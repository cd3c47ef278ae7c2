// The task runner (`n/agent/task-<id>`): one xstate machine per assigned task, driving the
// node's executor through the states of DESIGN.md section 6 that belong to the agent:
//
//   accepted -> preparing (prepare) -> ready -> starting (start) -> running -> complete (exit 0)
//                                                                           -> failed   (exit N)
//   prepare refused -> rejected (the engine's message); a step that fails -> failed
//   desired shutdown/remove while it runs -> stop with grace -> shutdown
//   desired 'ready': prepared, and started only once desired is running (or complete, for jobs)
//   with a health check: started -> starting until the engine calls it healthy -> running; it is
//   asked at the check's interval (at most every second) while the task runs, and an unhealthy
//   workload is stopped and its task failed
//
// A finished runner stays (its task is still assigned: a new runner would run it again) until the
// agent removes the task, when it stops what still runs, removes the workload and ends. The
// machine is pure: effects are messages to the executor actor, whose outcomes come back as events;
// states go to the agent, which stamps and batches them. A runner never reports a state at or
// below one its task already has: the observed state never goes backwards.
import { assign, emit, enqueueActions, setup } from 'xstate';
import { TASK_STATE_ORDER, type DesiredState, type TaskState } from '../../journal/index.js';
import { RUNTIME_SEND, fromMachine, sendMessage, type Address, type ExecutorFile, type ExecutorSpec, type ExecutorWorkload, type Props } from '../../runtime/index.js';
import type { ExecutorReply, ExecutorRequest, RunnerRemove, RunnerStatus, RunnerTask, RunnerUpdate } from './messages.js';

/** Where a runner begins, from its task's state and what the executor held when the agent started. */
export type RunnerStart =
  /** Nothing ran yet: accept and prepare (or, if no longer wanted, shut down). */
  | 'fresh'
  /** The workload exists and was never started. */
  | 'created'
  /** The workload exists, never started, though the task was starting (the agent stopped in between): start it. */
  | 'start'
  /** Adopt the running workload. */
  | 'running'
  /** The workload exited while no runner watched: report how. */
  | 'exited'
  /** The task had started and its workload is gone: the node restarted. */
  | 'lost'
  /** The task's observed state is terminal: nothing to do until it is removed. */
  | 'finished';

const rank = (state: TaskState): number => TASK_STATE_ORDER[state];

/**
 * Where to begin. `workload` is what the executor held at the agent's start (null: nothing), or
 * undefined for a task that was not assigned then, whose workload cannot exist.
 */
export function runnerStart(task: RunnerTask, workload: ExecutorWorkload | null | undefined): RunnerStart {
  const state = rank(task.status.state);
  if (state >= rank('complete')) return 'finished';
  if (workload === undefined || workload === null) return state >= rank('starting') && workload === null ? 'lost' : 'fresh';
  if (workload.running) return 'running';
  if (workload.exitCode !== null) return 'exited';
  return state >= rank('starting') ? 'start' : 'created';
}

/** Desired states that ask the node to run the task ('complete' is a job's: run it to its end). */
const runs = (desired: DesiredState): boolean => desired === 'running' || desired === 'complete';
const stops = (desired: DesiredState): boolean => desired === 'shutdown' || desired === 'remove';

export const TASK_LOST_MESSAGE = 'task lost: the node restarted';
export const UNHEALTHY_MESSAGE = 'the workload is unhealthy: its health check failed';
/** The engine is asked for a workload's health at its check's interval, within these bounds. */
const HEALTH_POLL_MS_MIN = 100;
const HEALTH_POLL_MS_MAX = 1_000;
/** A check's interval of 0 means the engine's default (Docker's: 30 s). */
const HEALTH_INTERVAL_MS_DEFAULT = 30_000;

const NO_BLOBS: TaskBlobs = { secret: () => undefined, config: () => undefined };

const hasHealthcheck = (spec: ExecutorSpec): boolean => spec.healthcheck !== undefined && spec.healthcheck.test.length > 0 && spec.healthcheck.test[0] !== 'NONE';

export interface RunnerInput {
  readonly task: RunnerTask;
  readonly workload: ExecutorWorkload | null | undefined;
  readonly self: Address;
  readonly agent: Address;
  readonly executor: Address;
  readonly stopGraceMs: number;
  /** The task's secrets and configs (default: none given, which rejects a task that has any). */
  readonly blobs?: TaskBlobs;
}

interface RunnerContext {
  readonly taskId: string;
  readonly self: Address;
  readonly agent: Address;
  readonly executor: Address;
  readonly spec: ExecutorSpec;
  readonly start: RunnerStart;
  /** The exit code of an adopted exited workload. */
  readonly adoptedExitCode: number | null;
  /** The secrets and configs the node was not given: the task is rejected ('' when none). */
  readonly missing: string;
  desired: DesiredState;
  /** The highest state the task has (as assigned, or as reported since): only higher ones are reported. */
  reported: TaskState;
  /** The agent removed the task: end once nothing runs. */
  removing: boolean;
  /** A wait for the workload's exit is out (one is enough for its life). */
  waiting: boolean;
}

type RunnerEvent = RunnerUpdate | RunnerRemove | ExecutorReply;

/** The secrets and configs a node holds, by id, for the files of its tasks. */
export interface TaskBlobs {
  secret(id: string): Uint8Array | undefined;
  config(id: string): Uint8Array | undefined;
}

/** Where a secret lands when its target is a bare name (Docker's place). */
const SECRETS_DIR = '/run/secrets';
/** Docker's modes: secrets and configs are readable by all, writable by none. */
const FILE_MODE = 0o444;

/**
 * The files a task's secrets and configs become, with their data; `missing` names what the node
 * was not given (the task cannot run without it).
 */
export function taskFiles(task: RunnerTask, blobs: TaskBlobs): { files: ExecutorFile[]; missing: string[] } {
  const files: ExecutorFile[] = [];
  const missing: string[] = [];
  for (const ref of task.spec.secrets) {
    const data = blobs.secret(ref.id);
    if (data === undefined) missing.push(`secret ${ref.name}`);
    else files.push({ target: ref.target.startsWith('/') ? ref.target : `${SECRETS_DIR}/${ref.target === '' ? ref.name : ref.target}`, data, mode: FILE_MODE });
  }
  for (const ref of task.spec.configs) {
    const data = blobs.config(ref.id);
    if (data === undefined) missing.push(`config ${ref.name}`);
    else files.push({ target: ref.target.startsWith('/') ? ref.target : `/${ref.target === '' ? ref.name : ref.target}`, data, mode: FILE_MODE });
  }
  return { files, missing };
}

/**
 * The executor's view of a task: the workload is named by the task's id. The task's own stop
 * grace period wins over the agent's default; its health check, mounts, resources and files go
 * with it (an executor ignores what it cannot honour).
 */
export function executorSpecOf(task: RunnerTask, stopGraceMs: number, files: readonly ExecutorFile[] = []): ExecutorSpec {
  const container = task.spec.container;
  const health = container.healthcheck;
  return {
    id: task.id,
    image: container.image,
    command: [...container.command],
    args: [...container.args],
    env: [...container.env],
    labels: { ...container.labels, 'swarm.task.id': task.id, 'swarm.service.id': task.serviceId, 'swarm.node.id': task.nodeId, 'swarm.task.slot': String(task.slot) },
    stopGraceMs: container.stopGracePeriodMs > 0 ? container.stopGracePeriodMs : stopGraceMs,
    runtime: task.spec.runtime,
    ...(container.stopSignal === '' ? {} : { stopSignal: container.stopSignal }),
    ...(container.dir === '' ? {} : { workingDir: container.dir }),
    ...(container.user === '' ? {} : { user: container.user }),
    ...(container.hostname === '' ? {} : { hostname: container.hostname }),
    ...(health === null || health.test.length === 0 ? {} : {
      healthcheck: { test: [...health.test], intervalMs: health.intervalMs, timeoutMs: health.timeoutMs, retries: health.retries, startPeriodMs: health.startPeriodMs },
    }),
    ...(container.mounts.length === 0 ? {} : { mounts: container.mounts.map((m) => ({ type: m.type, source: m.source, target: m.target, readOnly: m.readOnly })) }),
    resources: { limits: { ...task.spec.resources.limits }, reservations: { ...task.spec.resources.reservations } },
    ...(files.length === 0 ? {} : { files }),
  };
}

/** Why a state is reported: its words come from the step, the engine's message, an exit code, or the restart. */
type Why = 'step' | 'engine' | 'exit' | 'adoptedExit' | 'lost' | 'unhealthy' | 'missing';

const STEP_WORDS: Partial<Record<TaskState, string>> = {
  accepted: 'accepted', preparing: 'preparing', ready: 'prepared', starting: 'starting', running: 'started', complete: 'finished', shutdown: 'shutdown',
};

/** The status message (and error text, for failed and rejected) of a report. */
function wordsOf(state: TaskState, why: Why, context: RunnerContext, event: RunnerEvent): { message: string; err: string } {
  let message: string;
  switch (why) {
    case 'step':
      return { message: STEP_WORDS[state] ?? state, err: '' };
    case 'engine':
      message = 'message' in event ? event.message : 'the executor failed';
      break;
    case 'exit':
      message = exitMessage(event.type === 'exec.exited' ? event.exitCode : -1);
      break;
    case 'adoptedExit':
      message = exitMessage(context.adoptedExitCode ?? -1);
      break;
    case 'lost':
      message = TASK_LOST_MESSAGE;
      break;
    case 'unhealthy':
      message = UNHEALTHY_MESSAGE;
      break;
    case 'missing':
      message = `not given to this node: ${context.missing}`;
      break;
  }
  return { message, err: message };
}

const exitMessage = (code: number): string => `exit code ${code}`;

function ask(build: (context: RunnerContext) => ExecutorRequest) {
  return sendMessage<RunnerContext>(({ context }) => context.executor, ({ context }) => build(context));
}

/**
 * Reports `state` to the agent unless the task already has it or a later one, then notes it.
 * (Two actions: the send is an emitted runtime.send, or nothing the runtime acts on.) Typed
 * `never`, as sendMessage is, to fit the machine's action slots.
 */
function report(state: TaskState, why: Why = 'step'): never[] {
  const send = emit(({ context, event }: { context: RunnerContext; event: RunnerEvent }) => {
    if (rank(state) <= rank(context.reported)) return { type: 'runner.alreadyReported' };
    const { message, err } = wordsOf(state, why, context, event);
    const status: RunnerStatus = { type: 'agent.runnerStatus', taskId: context.taskId, state, message, err };
    return { type: RUNTIME_SEND, to: context.agent, message: status };
  });
  const note = assign(({ context }: { context: RunnerContext }) => ({ reported: rank(state) > rank(context.reported) ? state : context.reported }));
  return [send as never, note as never];
}

export const runnerMachine = setup({
  types: {} as { context: RunnerContext; events: RunnerEvent; input: RunnerInput },
  guards: {
    startsFinished: ({ context }) => context.start === 'finished',
    startsLost: ({ context }) => context.start === 'lost',
    startsExited: ({ context }) => context.start === 'exited',
    startsRunning: ({ context }) => context.start === 'running',
    startsStarting: ({ context }) => context.start === 'start',
    startsCreated: ({ context }) => context.start === 'created',
    removing: ({ context }) => context.removing,
    desiredRuns: ({ context }) => runs(context.desired),
    desiredStops: ({ context }) => stops(context.desired),
    stopsOrRemoving: ({ context }) => context.removing || stops(context.desired),
    adoptedExitOk: ({ context }) => context.adoptedExitCode === 0,
    rejected: ({ event }) => event.type === 'exec.prepareFailed' && event.code === 'REJECTED',
    exitedOk: ({ event }) => event.type === 'exec.exited' && event.exitCode === 0,
    hasHealthcheck: ({ context }) => hasHealthcheck(context.spec),
    healthy: ({ event }) => event.type === 'exec.health' && event.health === 'healthy',
    unhealthy: ({ event }) => event.type === 'exec.health' && event.health === 'unhealthy',
  },
  delays: {
    healthPoll: ({ context }) => Math.min(HEALTH_POLL_MS_MAX, Math.max(HEALTH_POLL_MS_MIN, (context.spec.healthcheck?.intervalMs || HEALTH_INTERVAL_MS_DEFAULT))),
    // Until the first pass the engine is asked four times per interval: a task is RUNNING within a
    // quarter of an interval of its check passing, not up to a whole one later.
    healthStartPoll: ({ context }) => Math.min(HEALTH_POLL_MS_MAX, Math.max(HEALTH_POLL_MS_MIN, Math.round((context.spec.healthcheck?.intervalMs || HEALTH_INTERVAL_MS_DEFAULT) / 4))),
  },
  actions: {
    follow: assign(({ context, event }) => ({ desired: event.type === 'runner.update' ? event.desiredState : context.desired })),
    markRemoving: assign({ removing: true }),
    prepare: ask((c) => ({ type: 'executor.prepare', spec: c.spec, replyTo: c.self })),
    start: ask((c) => ({ type: 'executor.start', id: c.taskId, replyTo: c.self })),
    waitOnce: enqueueActions(({ context, enqueue }) => {
      if (context.waiting) return;
      enqueue.assign({ waiting: true });
      enqueue(sendMessage(context.executor, { type: 'executor.wait', id: context.taskId, replyTo: context.self } satisfies ExecutorRequest));
    }),
    health: ask((c) => ({ type: 'executor.health', id: c.taskId, replyTo: c.self })),
    stop: ask((c) => ({ type: 'executor.stop', id: c.taskId, graceMs: c.spec.stopGraceMs, replyTo: c.self })),
    remove: ask((c) => ({ type: 'executor.remove', id: c.taskId, replyTo: c.self })),
  },
}).createMachine({
  id: 'taskRunner',
  initial: 'init',
  context: ({ input }) => {
    const { files, missing } = taskFiles(input.task, input.blobs ?? NO_BLOBS);
    return {
    taskId: input.task.id,
    self: input.self,
    agent: input.agent,
    executor: input.executor,
    spec: executorSpecOf(input.task, input.stopGraceMs, files),
    missing: missing.join(', '),
    start: runnerStart(input.task, input.workload),
    adoptedExitCode: input.workload?.exitCode ?? null,
    desired: input.task.desiredState,
    reported: input.task.status.state,
    removing: false,
    waiting: false,
    };
  },
  // Everywhere: follow the desired state, and remember a removal until the state can act on it.
  on: {
    'runner.update': { actions: 'follow' },
    'runner.remove': { actions: 'markRemoving' },
  },
  states: {
    init: {
      always: [
        { guard: 'startsFinished', target: 'finished' },
        { guard: 'startsLost', target: 'finished', actions: report('failed', 'lost') },
        { guard: 'startsExited', target: 'exited' },
        { guard: 'startsRunning', target: 'running' },
        { guard: 'startsStarting', target: 'starting' },
        { guard: 'startsCreated', target: 'ready' },
        { guard: 'stopsOrRemoving', target: 'finished', actions: report('shutdown') },
        { guard: ({ context }) => context.missing !== '', target: 'finished', actions: report('rejected', 'missing') },
        { target: 'preparing' },
      ],
    },
    preparing: {
      entry: [...report('accepted'), ...report('preparing'), 'prepare'],
      on: {
        'exec.prepared': { target: 'ready' },
        'exec.prepareFailed': [
          { guard: 'rejected', target: 'finished', actions: report('rejected', 'engine') },
          { target: 'finished', actions: report('failed', 'engine') },
        ],
      },
    },
    ready: {
      entry: report('ready'),
      always: [
        { guard: 'stopsOrRemoving', target: 'finished', actions: report('shutdown') },
        { guard: 'desiredRuns', target: 'starting' },
      ],
    },
    starting: {
      entry: [...report('starting'), 'start'],
      on: {
        'exec.started': [
          { guard: 'hasHealthcheck', target: 'checking' },
          { target: 'running' },
        ],
        'exec.startFailed': { target: 'finished', actions: report('failed', 'engine') },
      },
    },
    // Started, with a health check: still `starting` until the engine calls it healthy.
    checking: {
      entry: 'waitOnce',
      always: { guard: 'stopsOrRemoving', target: 'stopping' },
      initial: 'pause',
      states: {
        pause: { after: { healthStartPoll: 'asking' } },
        asking: {
          entry: 'health',
          on: {
            'exec.health': [
              { guard: 'healthy', target: '#taskRunner.running' },
              { guard: 'unhealthy', target: '#taskRunner.failing' },
              { target: 'pause' },
            ],
            'exec.healthFailed': 'pause',
          },
        },
      },
      on: {
        'exec.exited': [
          { guard: 'exitedOk', target: 'finished', actions: report('complete') },
          { target: 'finished', actions: report('failed', 'exit') },
        ],
        'exec.waitFailed': { target: 'finished', actions: report('failed', 'engine') },
      },
    },
    running: {
      entry: [...report('running'), 'waitOnce'],
      always: { guard: 'stopsOrRemoving', target: 'stopping' },
      // With a health check, it is watched for as long as it runs.
      initial: 'watching',
      states: {
        watching: {
          always: { guard: ({ context }) => !hasHealthcheck(context.spec), target: 'unwatched' },
          after: { healthPoll: 'asking' },
        },
        asking: {
          entry: 'health',
          on: {
            'exec.health': [
              { guard: 'unhealthy', target: '#taskRunner.failing' },
              { target: 'watching' },
            ],
            'exec.healthFailed': 'watching',
          },
        },
        unwatched: {},
      },
      on: {
        'exec.exited': [
          { guard: 'exitedOk', target: 'finished', actions: report('complete') },
          { target: 'finished', actions: report('failed', 'exit') },
        ],
        'exec.waitFailed': { target: 'finished', actions: report('failed', 'engine') },
      },
    },
    // Unhealthy: stopped, and its task failed.
    failing: {
      entry: 'stop',
      on: {
        'exec.stopped': { target: 'finished', actions: report('failed', 'unhealthy') },
        'exec.stopFailed': { target: 'finished', actions: report('failed', 'unhealthy') },
        'exec.exited': { target: 'finished', actions: report('failed', 'unhealthy') },
      },
    },
    /** An adopted workload that exited while no runner watched. */
    exited: {
      always: [
        { guard: 'desiredStops', target: 'finished', actions: report('shutdown') },
        { guard: 'adoptedExitOk', target: 'finished', actions: report('complete') },
        { target: 'finished', actions: report('failed', 'adoptedExit') },
      ],
    },
    stopping: {
      entry: 'stop',
      on: {
        // Stopped, or gone already: either way it no longer runs. Its exit is the stop's doing.
        'exec.stopped': { target: 'finished', actions: report('shutdown') },
        'exec.stopFailed': { target: 'finished', actions: report('shutdown') },
      },
    },
    finished: {
      always: { guard: 'removing', target: 'removing' },
    },
    removing: {
      entry: 'remove',
      on: {
        'exec.removed': { target: 'done' },
        'exec.removeFailed': { target: 'done' },
      },
    },
    done: { type: 'final' },
  },
});

/** A task runner's props; `input` is read at every (re)start. */
export function runnerActor(input: (self: Address) => RunnerInput): Props {
  return fromMachine({
    kind: 'taskRunner',
    machine: runnerMachine,
    input: (ctx) => input(ctx.self),
    mailboxDepthMax: 64,
    // A runner's failure is a bug: the agent fails with it, and its restart starts over from the
    // executor's inventory and the assignments, as after a process restart.
    supervision: { kind: 'escalate' },
  });
}

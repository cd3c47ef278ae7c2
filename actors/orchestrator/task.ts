// The task actor (DESIGN.md section 6): one per task on the leader, activated on demand. The
// orchestration supervisor hands it each committed change of its task's observed or desired state;
// the actor follows the task through the pipeline's phases (scheduled, starting, running, ended),
// asserts that the observed state never goes backwards (a committed regression is a broken store:
// the actor crashes, is restarted by its supervisor and reloads from the store), and tells the
// supervisor when a change is one its service must plan on: the task came up (an update's monitor
// starts), it ended (a restart, a failure to count), or its desired state moved.
//
// Idle task actors cost nothing: a task actor is passivated after a while without messages, and
// its next message activates it again from the store (`activate` is its loader). On a cluster of
// 100,000 settled tasks no task actor is in memory.
import { enqueueActions, setup } from 'xstate';
import { TASK_STATE_ORDER, type DesiredState, type StoreReader, type TaskState } from '../../journal/index.js';
import { assert, fromMachine, restart, sendMessage, type Address, type Props, type VirtualKind } from '../../runtime/index.js';

/** A committed change of the task, from the orchestration supervisor. */
export interface TaskCommitted {
  readonly type: 'task.committed';
  /** The last Raft index of the apply turn that committed the change. */
  readonly index: number;
  /** The observed state the change committed, or null when only the desired state changed. */
  readonly state: TaskState | null;
  readonly desiredState: DesiredState | null;
}

/** To the supervisor: the task's service has something to plan on. */
export interface TaskChanged {
  readonly type: 'orchestration.taskChanged';
  readonly serviceId: string;
}

/** How long a task actor stays in memory without a message (virtual time on the Env clock). */
export const TASK_ACTOR_IDLE_MS = 30_000;

const rank = (state: TaskState): number => TASK_STATE_ORDER[state];
const RUNNING = rank('running');
const COMPLETE = rank('complete');

export type TaskPhase = 'scheduled' | 'starting' | 'running' | 'ended';

/** The pipeline's phases: new..assigned, accepted..starting, running, and the ends. */
export function phaseOf(state: TaskState): TaskPhase {
  const r = rank(state);
  if (r < rank('accepted')) return 'scheduled';
  if (r < RUNNING) return 'starting';
  if (r === RUNNING) return 'running';
  return 'ended';
}

interface TaskContext {
  readonly taskId: string;
  readonly serviceId: string;
  readonly supervisor: Address;
  /** The task's version when the loader read it: changes at or before it are already in `observed`. */
  readonly loadedVersion: number;
  /** The last committed observed state this actor knows of. */
  observed: TaskState;
  desired: DesiredState;
}

export const taskMachine = setup({
  types: {} as { context: TaskContext; events: TaskCommitted; input: TaskContext },
  actions: {
    record: enqueueActions(({ context, event, enqueue }) => {
      const next = event.state;
      // A change newer than what the loader read must not lower the state (the store refuses
      // that; seeing it here means the store or the feed is broken, and the actor crashes).
      if (next !== null && event.index > context.loadedVersion) {
        assert(rank(next) >= rank(context.observed), `task ${context.taskId}: observed state went backwards from ${context.observed} to ${next}`);
        enqueue.assign({ observed: next });
      }
      if (event.desiredState !== null) enqueue.assign({ desired: event.desiredState });
      // What the service plans on: the task came up or ended, or its desired state moved.
      const settled = next !== null && (rank(next) === RUNNING || rank(next) >= COMPLETE);
      if (settled || event.desiredState !== null) {
        enqueue(sendMessage(context.supervisor, { type: 'orchestration.taskChanged', serviceId: context.serviceId } satisfies TaskChanged));
      }
    }),
  },
  guards: {
    in: ({ context }, phase: TaskPhase) => phaseOf(context.observed) === phase,
  },
}).createMachine({
  id: 'task',
  initial: 'loading',
  context: ({ input }) => input,
  // Every committed change is recorded, then the phase follows the observed state.
  on: {
    'task.committed': { target: '.loading', actions: 'record' },
  },
  states: {
    loading: {
      always: [
        { guard: { type: 'in', params: 'ended' }, target: 'ended' },
        { guard: { type: 'in', params: 'running' }, target: 'running' },
        { guard: { type: 'in', params: 'starting' }, target: 'starting' },
        { target: 'scheduled' },
      ],
    },
    // New, pending or assigned: the manager's allocator and scheduler move it on.
    scheduled: {},
    // Accepted by its node's agent, on the way up (preparing, ready, starting).
    starting: {},
    running: {},
    // Complete, shutdown, failed, rejected, orphaned or removed: the end, whatever comes later.
    ended: {},
  },
});

export interface TaskActorsOptions {
  readonly view: () => StoreReader;
  /** The orchestration supervisor, told when a task's service has something to plan on. */
  readonly supervisor: Address;
  readonly idleMs?: number;
}

/** A task the store no longer has: its messages are dropped until it is passivated. */
const GONE: Props<TaskCommitted> = { kind: 'task-gone', create: () => ({ receive: () => undefined }) };

/** The task actors' virtual kind: `<home>/<taskId>` is activated from the store on its first message. */
export function taskActors(options: TaskActorsOptions): VirtualKind {
  return {
    idleMs: options.idleMs ?? TASK_ACTOR_IDLE_MS,
    activate: (taskId: string): Props => {
      if (options.view().get('task', taskId) === undefined) return GONE as Props;
      return fromMachine({
        kind: 'task',
        machine: taskMachine,
        // The loader (at activation and at every restart): the task as the store has it now.
        input: (): TaskContext => {
          const task = options.view().get('task', taskId);
          assert(task !== undefined, `task ${taskId} vanished while its actor lived`);
          return { taskId, serviceId: task.serviceId, supervisor: options.supervisor, loadedVersion: task.meta.version, observed: task.status.state, desired: task.desiredState };
        },
        supervision: restart({ backoffMinMs: 100, backoffMaxMs: 5_000 }),
      });
    },
  };
}

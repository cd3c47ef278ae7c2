// The messages inside a node's agent: between the agent, its task runners and its executor actor.
// (What the agent says to the leader's dispatcher is in actors/orchestrator/protocol.ts.)
import type { DesiredState, Task, TaskState } from '../../journal/index.js';
import type { Address, ExecutorErrorCode, ExecutorHealth, ExecutorSpec, ExecutorWorkload } from '../../runtime/index.js';

// ---- agent -> task runner ----

/** The task as the latest assignments have it (its desired state may have changed). */
export interface RunnerUpdate {
  readonly type: 'runner.update';
  readonly desiredState: DesiredState;
}

/** The task left the node's assignment set: stop its workload if it runs, remove it, and end. */
export interface RunnerRemove {
  readonly type: 'runner.remove';
}

// ---- task runner -> agent ----

/** The runner's task reached `state`; the agent stamps it with its clock and reports it, batched. */
export interface RunnerStatus {
  readonly type: 'agent.runnerStatus';
  readonly taskId: string;
  readonly state: TaskState;
  readonly message: string;
  readonly err: string;
}

// ---- to and from the executor actor ----

export type ExecutorRequest =
  | { readonly type: 'executor.prepare'; readonly spec: ExecutorSpec; readonly replyTo: Address }
  | { readonly type: 'executor.start'; readonly id: string; readonly replyTo: Address }
  | { readonly type: 'executor.wait'; readonly id: string; readonly replyTo: Address }
  | { readonly type: 'executor.stop'; readonly id: string; readonly graceMs: number; readonly replyTo: Address }
  | { readonly type: 'executor.remove'; readonly id: string; readonly replyTo: Address }
  | { readonly type: 'executor.list'; readonly replyTo: Address }
  | { readonly type: 'executor.health'; readonly id: string; readonly replyTo: Address };

interface Failed {
  readonly code: ExecutorErrorCode;
  readonly message: string;
}

export type ExecutorReply =
  | { readonly type: 'exec.prepared' }
  | ({ readonly type: 'exec.prepareFailed' } & Failed)
  | { readonly type: 'exec.started' }
  | ({ readonly type: 'exec.startFailed' } & Failed)
  | { readonly type: 'exec.exited'; readonly exitCode: number; readonly message: string }
  | ({ readonly type: 'exec.waitFailed' } & Failed)
  | { readonly type: 'exec.stopped' }
  | ({ readonly type: 'exec.stopFailed' } & Failed)
  | { readonly type: 'exec.removed' }
  | ({ readonly type: 'exec.removeFailed' } & Failed)
  | { readonly type: 'exec.listed'; readonly workloads: readonly ExecutorWorkload[] }
  | ({ readonly type: 'exec.listFailed' } & Failed)
  | { readonly type: 'exec.health'; readonly health: ExecutorHealth }
  | ({ readonly type: 'exec.healthFailed' } & Failed);

/** The part of a task the runner starts from. */
export type RunnerTask = Pick<Task, 'id' | 'serviceId' | 'slot' | 'nodeId' | 'spec' | 'desiredState' | 'status'>;

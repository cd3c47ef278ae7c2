// The service reconciler's pure core (DESIGN.md section 6, step 1): compares a service's desired
// state with its tasks and says which events bring them together. The four modes:
//   - replicated: slots 1..replicas, one live task each;
//   - global: one live task per eligible node (ready, active, constraints and platform met);
//   - replicated job: tasks run to completion until `totalCompletions` succeeded, at most
//     `maxConcurrent` at once;
//   - global job: one successful completion per eligible node.
// It also applies the restart policy (condition, delay, max attempts within a window; the history
// is each task's `restarts`, in the journal, so a new leader keeps it), moves tasks off down and
// drained nodes, scales down, shuts down and removes the tasks of a removed service, and reaps the
// task history beyond the cluster's retention per slot. Slots whose live task is outdated
// (a spec change) are the update planner's (update.ts), not this module's.
//
// Times: the restart delay runs from the moment the leader committed the task's end
// (`meta.updatedAt`, the proposer's clock), not the agent's clock, so that every leader computes
// the same due time from the journal.
import {
  EVENT_VERSIONS, TASK_STATE_ORDER, sameValue,
  type DesiredState, type JournalEvent, type Node, type Service, type Task, type TaskStatus,
} from '../../journal/index.js';
import { constraintMet, parseConstraints, type Constraint } from '../scheduler/index.js';

const COMPLETE = TASK_STATE_ORDER.complete;
/** Restart history kept on a task when the policy has no max attempts (for display only). */
const RESTARTS_KEPT_UNLIMITED = 10;

export interface ReconcileInput {
  /** undefined: the service was removed; its tasks are shut down and removed. */
  readonly service: Service | undefined;
  readonly tasks: readonly Task[];
  readonly node: (id: string) => Node | undefined;
  /** Every node, for global modes (sorted by id). */
  readonly nodes: () => readonly Node[];
  readonly now: number;
  readonly newTaskId: () => string;
  /** Terminal tasks kept per slot (the cluster's taskHistoryRetentionLimit; negative: keep all). */
  readonly historyLimit: number;
}

export interface ReconcilePlan {
  readonly events: JournalEvent[];
  /** When to run again even if nothing changes (a restart delay ending), or null. */
  readonly wakeAt: number | null;
  /** Slot keys changed here: the update planner leaves them alone this round. */
  readonly touched: Set<string>;
  /** Tasks grouped by slot key (String(slot), or the node id for global modes), for the update planner. */
  readonly slots: Map<string, Task[]>;
}

export function isGlobal(service: Service): boolean {
  return service.spec.mode.kind === 'global' || service.spec.mode.kind === 'globalJob';
}

export function isJob(service: Service): boolean {
  return service.spec.mode.kind === 'replicatedJob' || service.spec.mode.kind === 'globalJob';
}

export function slotKey(task: Task, global: boolean): string {
  return global ? task.nodeId : String(task.slot);
}

/**
 * A task runs the service's current task spec (SwarmKit's "not dirty"): a spec change that leaves
 * the task spec alone (a scale, a label on the service) makes no task outdated.
 */
export function isCurrent(task: Task, service: Service): boolean {
  return task.spec === service.spec.task || sameValue(task.spec, service.spec.task);
}

export function isTerminal(task: Task): boolean {
  return TASK_STATE_ORDER[task.status.state] >= COMPLETE;
}

/** Wanted and not finished: desired running, ready or complete, observed before complete. */
export function isLive(task: Task): boolean {
  const d = task.desiredState;
  return (d === 'running' || d === 'ready' || d === 'complete') && !isTerminal(task);
}

/** A node a task may stay on: known, not down, not drained. */
export function nodeHolds(node: Node | undefined): boolean {
  return node !== undefined && node.status.state !== 'down' && node.spec.availability !== 'drain';
}

/** A node that may get a new task of a global service. */
export function nodeEligible(node: Node, constraints: readonly Constraint[], service: Service): boolean {
  if (node.status.state !== 'ready' || node.spec.availability !== 'active') return false;
  for (const c of constraints) if (!constraintMet(c, node)) return false;
  const platforms = service.spec.task.placement.platforms;
  if (platforms.length > 0) {
    const p = node.description.platform;
    const fits = platforms.some((want) => (want.os === '' || want.os === p.os) && (want.architecture === '' || want.architecture === p.architecture));
    if (!fits) return false;
  }
  return true;
}

function byAge(a: Task, b: Task): number {
  return a.meta.createdAt - b.meta.createdAt || a.meta.version - b.meta.version || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

class Plan {
  readonly events: JournalEvent[] = [];
  readonly touched = new Set<string>();
  wakeAt: number | null = null;
  constructor(readonly input: ReconcileInput) {}

  wake(at: number): void {
    if (this.wakeAt === null || at < this.wakeAt) this.wakeAt = at;
  }

  desired(task: Task, desiredState: DesiredState, key: string): void {
    if (task.desiredState === desiredState) return;
    this.events.push({ type: 'task.desiredStateChanged', v: EVENT_VERSIONS['task.desiredStateChanged'], at: this.input.now, id: task.id, desiredState, expectedVersion: task.meta.version });
    this.touched.add(key);
  }

  status(task: Task, status: TaskStatus, key: string): void {
    this.events.push({ type: 'task.statusChanged', v: EVENT_VERSIONS['task.statusChanged'], at: this.input.now, id: task.id, status, expectedVersion: task.meta.version });
    this.touched.add(key);
  }

  create(service: Service, slot: number, nodeId: string, desiredState: DesiredState, restarts: readonly number[], message: string, key: string): void {
    this.events.push({
      type: 'task.created', v: EVENT_VERSIONS['task.created'], at: this.input.now,
      id: this.input.newTaskId(), serviceId: service.id, slot, nodeId,
      spec: service.spec.task, serviceVersion: service.specVersion, desiredState,
      status: { state: 'new', message, timestamp: this.input.now, err: '' },
      restarts, addresses: [],
    });
    this.touched.add(key);
  }

  remove(task: Task): void {
    this.events.push({ type: 'task.removed', v: EVENT_VERSIONS['task.removed'], at: this.input.now, id: task.id, expectedVersion: task.meta.version });
  }
}

/**
 * Tasks that can no longer run where they are: on a node that is down (its agent is unreachable:
 * the task is orphaned, so it no longer counts as running anywhere) or drained, removed, or
 * unassigned while no longer wanted.
 */
function retire(plan: Plan, task: Task, key: string, why: DesiredState): void {
  const node = task.nodeId === '' ? undefined : plan.input.node(task.nodeId);
  const rank = TASK_STATE_ORDER[task.status.state];
  if (task.nodeId === '' || rank < TASK_STATE_ORDER.assigned) {
    // Never reached a node: nothing runs, so it ends here.
    plan.desired(task, why, key);
    if (rank < COMPLETE) plan.status(task, { state: 'shutdown', message: 'shut down before it was assigned', timestamp: plan.input.now, err: '' }, key);
    return;
  }
  plan.desired(task, why, key);
  if ((node === undefined || node.status.state === 'down') && rank < COMPLETE) {
    plan.status(task, { state: 'orphaned', message: node === undefined ? 'node removed' : 'node down', timestamp: plan.input.now, err: '' }, key);
  }
}

/** What the restart policy says about a slot whose last task ended. */
function restartDecision(service: Service, last: Task, now: number): { restart: false } | { restart: true; at: number; restarts: number[]; counted: boolean } {
  const policy = service.spec.task.restartPolicy;
  const ended = last.meta.updatedAt;
  // Shut down by us (a down or drained node, an update, a scale change): replace at once, uncounted.
  if (last.desiredState === 'shutdown' || last.desiredState === 'remove') return { restart: true, at: now, restarts: [...last.restarts], counted: false };
  const state = last.status.state;
  const failed = state === 'failed' || state === 'rejected' || state === 'orphaned' || state === 'shutdown';
  const job = isJob(service);
  if (state === 'complete') {
    // A job's success is its goal; a service's task that exits 0 restarts only under 'any'.
    if (job || policy.condition !== 'any') return { restart: false };
  } else if (failed) {
    if (policy.condition === 'none') return { restart: false };
  }
  const windowStart = policy.windowMs > 0 ? now - policy.windowMs : -Infinity;
  const recent = last.restarts.filter((t) => t > windowStart);
  if (policy.maxAttempts > 0 && recent.length >= policy.maxAttempts) return { restart: false };
  const at = ended + policy.delayMs;
  const kept = policy.maxAttempts > 0 ? recent.slice(-(policy.maxAttempts - 1)) : last.restarts.slice(-(RESTARTS_KEPT_UNLIMITED - 1));
  return { restart: true, at, restarts: [...kept, Math.max(at, now)], counted: true };
}

/** Reaps terminal, unwanted tasks of a slot beyond the history limit, oldest first. */
function reap(plan: Plan, tasks: readonly Task[]): void {
  const limit = plan.input.historyLimit;
  if (limit < 0) return;
  const done = tasks.filter((t) => isTerminal(t) && t.desiredState !== 'running' && t.desiredState !== 'ready');
  // The newest terminal task of a slot stays (it may be the one a restart waits on), unless the slot is gone.
  for (let i = 0; i < done.length - Math.max(limit, 1); i++) plan.remove(done[i]!);
}

function reconcileSlot(plan: Plan, service: Service, key: string, slotTasks: readonly Task[], slot: number, nodeId: string, desiredState: DesiredState): void {
  const live = slotTasks.filter(isLive);
  for (const task of live) {
    if (task.nodeId !== '' && !nodeHolds(plan.input.node(task.nodeId))) retire(plan, task, key, 'shutdown');
  }
  // Tasks no longer wanted but still on a node that went down: orphaned, so they stop counting.
  for (const task of slotTasks) {
    if (isLive(task) || isTerminal(task) || task.nodeId === '') continue;
    const node = plan.input.node(task.nodeId);
    if (node === undefined || node.status.state === 'down') {
      plan.status(task, { state: 'orphaned', message: node === undefined ? 'node removed' : 'node down', timestamp: plan.input.now, err: '' }, key);
    }
  }
  const stillLive = live.filter((t) => t.nodeId === '' || nodeHolds(plan.input.node(t.nodeId)));
  if (stillLive.length === 0) {
    const last = slotTasks.length === 0 ? undefined : slotTasks[slotTasks.length - 1]!;
    if (last === undefined) {
      plan.create(service, slot, nodeId, desiredState, [], 'created', key);
    } else if (!isLive(last) || !stillLive.includes(last)) {
      // The newest task is not live (it ended, or was just retired above).
      // Retired just now: replaced at once, uncounted. A task of an older spec that ended (a job
      // re-run by a spec change, or a slot whose restarts ran out before the user fixed the spec):
      // the new spec starts afresh, its restart history with it.
      const retiredNow = live.includes(last);
      const outdated = !retiredNow && !isCurrent(last, service);
      const decision = retiredNow ? { restart: true as const, at: plan.input.now, restarts: [...last.restarts], counted: false }
        : outdated ? { restart: true as const, at: plan.input.now, restarts: [] as number[], counted: false }
        : restartDecision(service, last, plan.input.now);
      if (decision.restart) {
        if (decision.at <= plan.input.now) {
          plan.create(service, slot, nodeId, desiredState, decision.restarts, decision.counted ? 'restarted by the restart policy' : 'replaces a task that was shut down', key);
          // The ended task is history now, as SwarmKit's restart supervisor makes it (one retired
          // just now was told so by retire): wanted no longer, so its node lets go of it (the agent
          // removes its container) and the reaper may take it. Left desired running, a crash-looping
          // slot would keep every failed task and its exited container for ever.
          if (!retiredNow && (last.desiredState === 'running' || last.desiredState === 'ready')) plan.desired(last, 'shutdown', key);
        } else {
          plan.wake(decision.at);
        }
      }
    }
  }
  reap(plan, slotTasks);
}

function groupBySlot(tasks: readonly Task[], global: boolean): Map<string, Task[]> {
  const slots = new Map<string, Task[]>();
  for (const task of [...tasks].sort(byAge)) {
    const key = slotKey(task, global);
    let list = slots.get(key);
    if (list === undefined) slots.set(key, (list = []));
    list.push(task);
  }
  return slots;
}

/** Tasks of a removed service: every live one shut down, then each removed once it has ended. */
function reconcileRemoved(plan: Plan, tasks: readonly Task[]): void {
  for (const task of tasks) {
    const key = task.id;
    if (isTerminal(task)) {
      plan.remove(task);
      continue;
    }
    if (task.desiredState !== 'remove') retire(plan, task, key, 'remove');
    else if (task.nodeId !== '') {
      const node = plan.input.node(task.nodeId);
      if (node === undefined || node.status.state === 'down') plan.remove(task);
    }
  }
}

export function reconcile(input: ReconcileInput): ReconcilePlan {
  const plan = new Plan(input);
  const { service } = input;
  if (service === undefined) {
    reconcileRemoved(plan, input.tasks);
    return { events: plan.events, wakeAt: plan.wakeAt, touched: plan.touched, slots: new Map() };
  }
  const global = isGlobal(service);
  const slots = groupBySlot(input.tasks, global);
  const mode = service.spec.mode;
  switch (mode.kind) {
    case 'replicated': {
      for (let slot = 1; slot <= mode.replicas; slot++) {
        const key = String(slot);
        reconcileSlot(plan, service, key, slots.get(key) ?? [], slot, '', 'running');
      }
      // Scale down: slots past the count lose their live tasks; their history is reaped.
      for (const [key, tasks] of slots) {
        if (Number(key) >= 1 && Number(key) <= mode.replicas) continue;
        for (const task of tasks) if (isLive(task)) retire(plan, task, key, 'shutdown');
        reapAll(plan, tasks);
      }
      break;
    }
    case 'global':
    case 'globalJob': {
      const constraints = parseConstraints(service.spec.task.placement.constraints);
      const desiredState: DesiredState = mode.kind === 'global' ? 'running' : 'complete';
      const eligible = new Set<string>();
      for (const node of input.nodes()) {
        if (!nodeEligible(node, constraints, service)) continue;
        eligible.add(node.id);
        const tasks = slots.get(node.id) ?? [];
        // A global job runs once per node and spec: a success of this spec ends it there.
        if (mode.kind === 'globalJob' && tasks.some((t) => t.status.state === 'complete' && isCurrent(t, service))) {
          reap(plan, tasks);
          continue;
        }
        reconcileSlot(plan, service, node.id, tasks, 0, node.id, desiredState);
      }
      for (const [key, tasks] of slots) {
        if (eligible.has(key)) continue;
        // A node that no longer qualifies (drained, down, removed, constraint unmet) keeps nothing live.
        const node = key === '' ? undefined : input.node(key);
        for (const task of tasks) {
          if (!isLive(task)) continue;
          if (node !== undefined && node.status.state !== 'down' && node.spec.availability === 'active' && node.status.state !== 'ready') continue; // unknown/disconnected: wait
          retire(plan, task, key, 'shutdown');
        }
        const orphanable = tasks.filter((t) => !isLive(t) && !isTerminal(t) && t.nodeId !== '' && (node === undefined || node.status.state === 'down'));
        for (const task of orphanable) plan.status(task, { state: 'orphaned', message: node === undefined ? 'node removed' : 'node down', timestamp: input.now, err: '' }, key);
        reap(plan, tasks);
      }
      break;
    }
    case 'replicatedJob': {
      // Slots 1..totalCompletions: each must see one success of the current spec; at most
      // maxConcurrent run at once (lowest slots first).
      const maxConcurrent = mode.maxConcurrent > 0 ? mode.maxConcurrent : mode.totalCompletions;
      let running = 0;
      for (const tasks of slots.values()) running += tasks.filter((t) => isLive(t) && isCurrent(t, service)).length;
      for (let slot = 1; slot <= mode.totalCompletions; slot++) {
        const key = String(slot);
        const tasks = slots.get(key) ?? [];
        if (tasks.some((t) => t.status.state === 'complete' && isCurrent(t, service))) {
          reap(plan, tasks);
          continue;
        }
        const liveBefore = tasks.some(isLive);
        if (!liveBefore && running >= maxConcurrent) continue;
        const before = plan.events.length;
        reconcileSlot(plan, service, key, tasks, slot, '', 'complete');
        if (!liveBefore && plan.events.slice(before).some((e) => e.type === 'task.created')) running++;
      }
      for (const [key, tasks] of slots) {
        if (Number(key) >= 1 && Number(key) <= mode.totalCompletions) continue;
        for (const task of tasks) if (isLive(task)) retire(plan, task, key, 'shutdown');
        reapAll(plan, tasks);
      }
      break;
    }
  }
  return { events: plan.events, wakeAt: plan.wakeAt, touched: plan.touched, slots };
}

/** A slot that no longer exists: every ended task goes. */
function reapAll(plan: Plan, tasks: readonly Task[]): void {
  for (const task of tasks) if (isTerminal(task) && !isLive(task)) plan.remove(task);
}

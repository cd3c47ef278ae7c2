// The rolling update, rollback and rebalance planner of one service (DESIGN.md section 6, step 1),
// after SwarmKit's updater (manager/orchestrator/update/updater.go) with its defaults (section 8).
//
// A pure function of the store as the service actor reads it: `planUpdate` gets the service, its
// tasks grouped by slot and the clock, and returns the events to propose and when to be called
// again. It keeps nothing between calls: everything it needs is in the journal, so that a new
// leader resumes an update where the old one left it. The service actor's reconciler runs first
// (empty slots, extra slots, tasks on lost nodes) and names the slots it touched; this planner
// handles the slots whose live task runs a stale spec, and rebalance.
//
// How an update goes, per slot (at most `parallelism` slots at once, in batches):
//  - stop-first: the old task is told to shut down and its replacement is created with desired
//    state 'ready' (it is scheduled and prepared, not started); once the old one has stopped, the
//    replacement's desired state becomes 'running'.
//  - start-first: the replacement is created 'running'; once it is observed running, the old task
//    is told to shut down.
// A slot stays in flight until its replacement has run for `monitorMs` (or has ended). The next
// batch starts `delayMs` after the last slot of the previous one was done. A replacement that
// ends early (failed, rejected, or a service task that completed) counts as a failure; past
// `maxFailureRatio` of the update's slots, `failureAction` applies.
//
// What the planner reads from the journal, and why:
//  - Which tasks it created for the update in force: tasks of the current spec with an empty
//    restart history, created at or after `updateStatus.startedAt`, in a slot that also holds a task
//    of another spec. (A restart by the restart policy carries its history; a new slot from a
//    scale-up holds no task of another spec.)
//  - When a replacement started running: its status timestamp while it runs. Once it has failed,
//    the journal keeps only the failure, so whether it failed within the monitor period is judged
//    from an estimate of its start: for stop-first the moment the task it replaced had stopped
//    (it cannot start before), else its creation (the estimate is early, so a replacement that
//    took long to start can go uncounted; SwarmKit keeps this time in memory and loses it on
//    failover, which is no better).
import {
  EVENT_VERSIONS, TASK_STATE_ORDER,
  type JournalEvent, type Node, type Service, type ServiceSpec, type Task, type TaskCreated, type UpdateConfig, type UpdateStatus,
} from '../../journal/index.js';
import { assert } from '../../runtime/index.js';
import { constraintMet, parseConstraints, type Constraint } from '../scheduler/index.js';
import { isCurrent as isCurrentTask } from './reconcile.js';

export interface UpdatePlanInput {
  readonly service: Service;
  /** Every task of the service grouped by slot key: `String(slot)` for replicated/replicatedJob, the node id for global/globalJob. */
  readonly slots: ReadonlyMap<string, readonly Task[]>;
  /** Slot keys the reconciler changed in this same round: leave them alone. */
  readonly touched: ReadonlySet<string>;
  readonly node: (id: string) => Node | undefined;
  /**
   * Every node of the cluster, asked for only when the service rebalances (spec.rebalance on a
   * replicated service, no update in progress): a node that joins holds no task, so `node` alone
   * cannot find it. Without it, no rebalance.
   */
  readonly nodes?: () => readonly Node[];
  readonly now: number;
  /** Fresh task ids (deterministic, from the caller). */
  readonly newTaskId: () => string;
}

export interface UpdatePlan {
  readonly events: readonly JournalEvent[];
  /** When to be called again even if nothing changes (delay between batches, end of a monitor period), or null. */
  readonly wakeAt: number | null;
}

/**
 * How long a stop-first replacement waits for the task it replaces to stop before it starts
 * anyway (SwarmKit's restart supervisor waits a minute): an agent that never reports must not
 * hold the slot empty for ever.
 */
export const OLD_TASK_STOP_TIMEOUT_MS = 60_000;

export const UPDATE_MESSAGES = {
  started: 'update in progress',
  completed: 'update completed',
  rollbackCompleted: 'rollback completed',
  paused: (taskId: string): string => `update paused due to failure or early termination of task ${taskId}`,
  rolledBack: (taskId: string): string => `update rolled back due to failure or early termination of task ${taskId}`,
  rollbackPaused: (taskId: string): string => `rollback paused due to failure or early termination of task ${taskId}`,
} as const;

const COMPLETE_RANK = TASK_STATE_ORDER.complete;

/** Observed state not yet terminal: something may still run. */
function isActive(task: Task): boolean {
  return TASK_STATE_ORDER[task.status.state] < COMPLETE_RANK;
}

/** Meant to run (or to be ready to) and not ended: what fills a slot. */
function isLive(task: Task): boolean {
  return (task.desiredState === 'running' || task.desiredState === 'ready') && isActive(task);
}

/** A slot number as a key (one RegExp for every comparison: a literal in the comparator made one per call). */
const SLOT_NUMBER = /^(0|[1-9]\d*)$/;

/** Slot keys in a stable order: numerically when both are slot numbers, else as strings. */
function compareSlotKeys(a: string, b: string): number {
  if (SLOT_NUMBER.test(a) && SLOT_NUMBER.test(b)) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

interface SlotView {
  readonly key: string;
  /** Oldest first (creation time, then id). */
  readonly tasks: readonly Task[];
  readonly live: readonly Task[];
  readonly touched: boolean;
}

const byAge = (a: Task, b: Task): number => a.meta.createdAt - b.meta.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

class Planner {
  private readonly events: JournalEvent[] = [];
  private wake = Infinity;
  private readonly service: Service;
  private readonly spec: ServiceSpec;
  private readonly now: number;
  private readonly views: readonly SlotView[];
  /** Slots part-way through a replacement (a stop-first replacement waiting, or two live tasks): in flight, and never given another. */
  private readonly transitioning = new Set<string>();

  constructor(private readonly input: UpdatePlanInput) {
    this.service = input.service;
    this.spec = input.service.spec;
    this.now = input.now;
    this.views = [...input.slots.keys()].sort(compareSlotKeys).map((key) => {
      const tasks = [...input.slots.get(key)!].sort(byAge);
      for (const task of tasks) assert(task.serviceId === this.service.id, () => `task ${task.id} of service ${task.serviceId} in a slot of ${this.service.id}`);
      return { key, tasks, live: tasks.filter(isLive), touched: input.touched.has(key) };
    });
  }

  plan(): UpdatePlan {
    // Jobs run to completion: a spec change re-runs them (the reconciler's part), nothing rolls.
    if (this.spec.mode.kind === 'replicatedJob' || this.spec.mode.kind === 'globalJob') return this.result();
    for (const view of this.views) if (!view.touched) this.finishTransition(view);
    for (const view of this.views) if (view.touched && (view.live.length > 1 || view.live.some((t) => t.desiredState === 'ready'))) this.transitioning.add(view.key);

    const recorded = this.service.updateStatus;
    const stale = recorded !== null && this.predatesSpec(recorded);
    const dirty = this.views.filter((view) => this.isDirty(view));
    let status = recorded;
    let started = false;
    if (recorded !== null && !stale && (recorded.state === 'paused' || recorded.state === 'rollbackPaused')) return this.result();
    if (dirty.length > 0 && (recorded === null || stale || recorded.state === 'completed' || recorded.state === 'rollbackCompleted')) {
      status = { state: 'updating', startedAt: this.now, completedAt: 0, message: UPDATE_MESSAGES.started };
      this.setStatus(status);
      started = true;
    }
    if (status !== null && (status.state === 'updating' || status.state === 'rollbackStarted')) this.runUpdate(status, dirty, started);
    else if (dirty.length === 0 && (status === null || status.state === 'completed' || status.state === 'rollbackCompleted')) this.rebalance();
    return this.result();
  }

  private result(): UpdatePlan {
    return { events: this.events, wakeAt: this.wake === Infinity ? null : this.wake };
  }

  private wakeAt(at: number): void {
    if (at > this.now && at < this.wake) this.wake = at;
  }

  // ---- tasks ----

  /** Runs the task spec in force (a scale or a label leaves tasks current; an image, a force update or a rollback does not). */
  private isCurrent(task: Task): boolean {
    return isCurrentTask(task, this.service);
  }

  private nodeReady(nodeId: string): boolean {
    return this.input.node(nodeId)?.status.state === 'ready';
  }

  /** Nothing of `task` runs any more, or nothing can tell: ended, never placed, its node lost, or told to stop long enough ago. */
  private isGone(task: Task): boolean {
    if (!isActive(task) || task.nodeId === '' || !this.nodeReady(task.nodeId)) return true;
    return !isLive(task) && this.now >= task.meta.updatedAt + OLD_TASK_STOP_TIMEOUT_MS;
  }

  private setDesired(task: Task, desiredState: 'running' | 'shutdown'): void {
    this.events.push({ type: 'task.desiredStateChanged', v: EVENT_VERSIONS['task.desiredStateChanged'], at: this.now, id: task.id, desiredState, expectedVersion: task.meta.version });
  }

  private createTask(slot: number, nodeId: string, desiredState: 'running' | 'ready'): TaskCreated {
    const event: TaskCreated = {
      type: 'task.created', v: EVENT_VERSIONS['task.created'], at: this.now,
      id: this.input.newTaskId(), serviceId: this.service.id, slot, nodeId,
      spec: this.spec.task, serviceVersion: this.service.specVersion, desiredState,
      status: { state: 'new', message: 'created by update', timestamp: this.now, err: '' },
      restarts: [], addresses: [],
    };
    this.events.push(event);
    return event;
  }

  private setStatus(updateStatus: UpdateStatus): void {
    this.events.push({
      type: 'service.updateStatusChanged', v: EVENT_VERSIONS['service.updateStatusChanged'], at: this.now,
      id: this.service.id, updateStatus, expectedVersion: this.service.meta.version,
    });
  }

  // ---- transitions already begun: finished whatever the update's state ----

  /**
   * A slot part-way through a replacement: a stop-first replacement starts once every other task
   * of the slot is gone; of two live tasks, the one to keep (the newest of the current spec)
   * replaces the others once it runs. Done even while an update is paused, as SwarmKit's restart
   * supervisor does: otherwise a slot would stay empty or doubled.
   */
  private finishTransition(view: SlotView): void {
    const ready = view.live.filter((t) => t.desiredState === 'ready');
    if (ready.length > 0) {
      this.transitioning.add(view.key);
      const successor = ready[ready.length - 1]!;
      const others = view.tasks.filter((t) => t !== successor && isActive(t));
      for (const other of others) if (isLive(other)) this.setDesired(other, 'shutdown');
      const waiting = others.filter((t) => isLive(t) || !this.isGone(t));
      if (waiting.length === 0) this.setDesired(successor, 'running');
      for (const other of waiting) this.wakeAt((isLive(other) ? this.now : other.meta.updatedAt) + OLD_TASK_STOP_TIMEOUT_MS);
      return;
    }
    if (view.live.length < 2) return;
    this.transitioning.add(view.key);
    const keeper = [...view.live].sort((a, b) => Number(this.isCurrent(a)) - Number(this.isCurrent(b)) || byAge(a, b))[view.live.length - 1]!;
    if (keeper.status.state !== 'running') return;
    for (const other of view.live) if (other !== keeper) this.setDesired(other, 'shutdown');
  }

  // ---- the update ----

  /**
   * Whether the status was recorded before the current spec: then a new update starts. The last
   * change of the service being the spec change means so, unless the status came with it (a
   * rollback records both at once). A pause recorded later names its task, whose version tells.
   */
  private predatesSpec(status: UpdateStatus): boolean {
    const { meta, specVersion } = this.service;
    if (meta.version === specVersion) return status.startedAt < meta.updatedAt;
    if (status.state !== 'paused' && status.state !== 'rollbackPaused') return false;
    const named = /task (\S+)$/.exec(status.message)?.[1];
    if (named === undefined) return false;
    for (const view of this.views) {
      const task = view.tasks.find((t) => t.id === named);
      if (task !== undefined) return !isCurrentTask(task, this.service);
    }
    return false;
  }

  /** A slot waiting for a replacement: one live task, of a stale spec, on a node where it can be replaced now. */
  private isDirty(view: SlotView): boolean {
    if (view.touched || this.transitioning.has(view.key) || view.live.length !== 1) return false;
    const task = view.live[0]!;
    if (this.isCurrent(task)) return false;
    const global = this.spec.mode.kind === 'global' || this.spec.mode.kind === 'globalJob';
    if (global) {
      const node = this.input.node(view.key);
      return node !== undefined && node.status.state === 'ready' && node.spec.availability === 'active';
    }
    return task.nodeId === '' || this.nodeReady(task.nodeId);
  }

  /** A task this update created (see the file's comment). */
  private isReplacement(task: Task, view: SlotView, startedAt: number): boolean {
    return task.restarts.length === 0 && task.meta.createdAt >= startedAt && this.isCurrent(task) && view.tasks.some((t) => !this.isCurrent(t));
  }

  /** When a replacement stopped being in flight: done, with the time; or not done. */
  private doneAt(task: Task, config: UpdateConfig): number | null {
    if (task.status.state === 'running') {
      const end = task.status.timestamp + config.monitorMs;
      return this.now >= end ? end : null;
    }
    return isActive(task) ? null : task.status.timestamp;
  }

  /** A replacement that ended before it had run for the monitor period (see the file's comment on the estimate). */
  private failedEarly(task: Task, view: SlotView, config: UpdateConfig, updateStartedAt: number): boolean {
    const state = task.status.state;
    if (state === 'rejected') return true;
    if (state !== 'failed' && state !== 'complete') return false;
    const failedAt = task.status.timestamp;
    let startedAt = task.meta.createdAt;
    if (config.order === 'stopFirst') {
      for (const other of view.tasks) {
        if (other !== task && !this.isCurrent(other) && !isActive(other) && other.status.timestamp <= failedAt) startedAt = Math.max(startedAt, other.status.timestamp);
      }
    } else if (view.live.some((t) => !this.isCurrent(t) && t.desiredState === 'running')
      || view.tasks.some((t) => t !== task && byAge(task, t) < 0 && this.isReplacement(t, view, updateStartedAt))) {
      // Start-first stops the old task once the replacement runs, and then the slot is done: an
      // old task still meant to run, or a later replacement in the slot, means it never ran.
      return true;
    }
    return failedAt - startedAt < config.monitorMs;
  }

  private runUpdate(status: UpdateStatus, dirty: readonly SlotView[], started: boolean): void {
    const rollingBack = status.state === 'rollbackStarted';
    const config = rollingBack ? this.spec.rollback : this.spec.update;
    assert(config.parallelism >= 0 && config.delayMs >= 0 && config.monitorMs >= 0, 'update config out of range');
    const replacements: { task: Task; view: SlotView }[] = [];
    for (const view of this.views) for (const task of view.tasks) if (this.isReplacement(task, view, status.startedAt)) replacements.push({ task, view });

    if (!started && this.applyFailureAction(status, config, replacements, dirty)) return;

    const inFlight = new Set(this.transitioning);
    let lastDoneAt: number | null = null;
    for (const { task, view } of replacements) {
      const done = this.doneAt(task, config);
      if (done === null) {
        if (isLive(task)) inFlight.add(view.key);
        if (task.status.state === 'running') this.wakeAt(task.status.timestamp + config.monitorMs);
      } else {
        lastDoneAt = Math.max(lastDoneAt ?? done, done);
      }
    }
    if (inFlight.size > 0) return;
    // A slot the reconciler is changing may still hold a stale task: not complete before it is seen again.
    const touchedStale = this.views.some((view) => view.touched && view.live.some((t) => !this.isCurrent(t)));
    if (dirty.length === 0 && !touchedStale) {
      this.setStatus({
        state: rollingBack ? 'rollbackCompleted' : 'completed', startedAt: status.startedAt, completedAt: this.now,
        message: rollingBack ? UPDATE_MESSAGES.rollbackCompleted : UPDATE_MESSAGES.completed,
      });
      return;
    }
    const batchAt = lastDoneAt === null ? this.now : lastDoneAt + config.delayMs;
    if (dirty.length === 0) return;
    if (this.now < batchAt) {
      this.wakeAt(batchAt);
      return;
    }
    const batch = config.parallelism === 0 ? dirty : dirty.slice(0, config.parallelism);
    for (const view of batch) this.replace(view, config);
  }

  /** Counts the early failures; past the ratio, applies the failure action. True when the update stopped. */
  private applyFailureAction(status: UpdateStatus, config: UpdateConfig, replacements: readonly { task: Task; view: SlotView }[], dirty: readonly SlotView[]): boolean {
    if (config.failureAction === 'continue') return false;
    const failures = replacements.filter(({ task, view }) => this.failedEarly(task, view, config, status.startedAt)).map(({ task }) => task);
    if (failures.length === 0) return false;
    failures.sort((a, b) => a.status.timestamp - b.status.timestamp || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    // SwarmKit's ratio: failures over the slots of the update (those updated so far and those still dirty).
    const slots = new Set([...replacements.map(({ view }) => view.key), ...dirty.map((view) => view.key)]).size;
    const trigger = failures.find((_, i) => (i + 1) / slots > config.maxFailureRatio);
    if (trigger === undefined) return false;
    const { startedAt } = status;
    if (status.state === 'rollbackStarted') {
      // Never roll back a rollback.
      this.setStatus({ state: 'rollbackPaused', startedAt, completedAt: 0, message: UPDATE_MESSAGES.rollbackPaused(trigger.id) });
    } else if (config.failureAction === 'rollback' && this.service.previousSpec !== null) {
      this.events.push({
        type: 'service.rolledBack', v: EVENT_VERSIONS['service.rolledBack'], at: this.now, id: this.service.id,
        updateStatus: { state: 'rollbackStarted', startedAt: this.now, completedAt: 0, message: UPDATE_MESSAGES.rolledBack(trigger.id) },
        expectedVersion: this.service.meta.version,
      });
    } else {
      this.setStatus({ state: 'paused', startedAt, completedAt: 0, message: UPDATE_MESSAGES.paused(trigger.id) });
    }
    return true;
  }

  /** Starts the replacement of a dirty slot's live task. */
  private replace(view: SlotView, config: UpdateConfig): void {
    const old = view.live[0]!;
    const global = this.spec.mode.kind === 'global' || this.spec.mode.kind === 'globalJob';
    const nodeId = global ? view.key : '';
    // The replacement first: if the caller must cut the events short, a replacement without its
    // predecessor's shutdown is finished by finishTransition, while the reverse would empty the slot.
    if (config.order === 'stopFirst') {
      this.createTask(old.slot, nodeId, 'ready');
      this.setDesired(old, 'shutdown');
    } else {
      this.createTask(old.slot, nodeId, 'running');
    }
  }

  // ---- rebalance (beyond SwarmKit) ----

  /**
   * Moves replicas from the busiest node toward the least busy eligible one while they differ by
   * two or more, at most `parallelism` at a time (a batch), each a start-first replacement left
   * for the scheduler to place (spread puts it on the least loaded node); the old task stops once
   * the new one runs. A batch starts only once the service is settled: every slot has one live
   * task, running, and nothing is stopping, and `delayMs` has passed since the last start.
   * Placement preferences would spread by other rules than the count per node: no rebalance then.
   */
  private rebalance(): void {
    const { spec } = this;
    if (!spec.rebalance || spec.mode.kind !== 'replicated' || this.input.nodes === undefined) return;
    if (spec.task.placement.preferences.length > 0 || this.input.touched.size > 0 || this.transitioning.size > 0) return;
    let lastStart = -Infinity;
    for (const view of this.views) {
      for (const task of view.tasks) {
        if (!isActive(task)) continue;
        if (!isLive(task) || task.status.state !== 'running' || task.nodeId === '') return;
        lastStart = Math.max(lastStart, task.status.timestamp);
      }
    }
    const config = spec.update;
    if (this.now < lastStart + config.delayMs) {
      this.wakeAt(lastStart + config.delayMs);
      return;
    }
    let constraints: Constraint[];
    try {
      constraints = parseConstraints(spec.task.placement.constraints);
    } catch {
      return;
    }
    const loads = new Map<string, number>();
    for (const view of this.views) for (const task of view.live) loads.set(task.nodeId, (loads.get(task.nodeId) ?? 0) + 1);
    const maxPerNode = spec.task.placement.maxReplicasPerNode;
    const platforms = spec.task.placement.platforms;
    const eligible = this.input.nodes()
      .filter((node) => node.status.state === 'ready' && node.spec.availability === 'active'
        && constraints.every((c) => constraintMet(c, node))
        && (platforms.length === 0 || platforms.some((p) => (p.os === '' || p.os === node.description.platform.os) && (p.architecture === '' || p.architecture === node.description.platform.architecture))))
      .map((node) => node.id)
      .sort();
    const moves = config.parallelism === 0 ? this.views.length : config.parallelism;
    const moved = new Set<string>();
    for (let i = 0; i < moves; i++) {
      const busiest = [...loads].sort(([a, la], [b, lb]) => lb - la || (a < b ? -1 : a > b ? 1 : 0))[0];
      if (busiest === undefined) return;
      const [from, most] = busiest;
      const least = eligible
        .filter((id) => id !== from && (maxPerNode === 0 || (loads.get(id) ?? 0) < maxPerNode))
        .sort((a, b) => (loads.get(a) ?? 0) - (loads.get(b) ?? 0) || (a < b ? -1 : a > b ? 1 : 0))[0];
      if (least === undefined || most - (loads.get(least) ?? 0) < 2) return;
      const view = this.views.find((v) => !moved.has(v.key) && v.live[0]?.nodeId === from && this.mayMove(v));
      if (view === undefined) return;
      moved.add(view.key);
      this.createTask(view.live[0]!.slot, '', 'running');
      loads.set(from, most - 1);
      loads.set(least, (loads.get(least) ?? 0) + 1);
    }
  }

  /**
   * Whether a slot may be moved: not if its last task is not its live one (a replacement failed:
   * a move to a node that cannot run the service, say) nor if its last two tasks ran on one node
   * (a move the scheduler put back where it was, the other nodes being full). Each slot is tried
   * once, so a move that cannot help does not churn for ever.
   */
  private mayMove(view: SlotView): boolean {
    const last = view.tasks[view.tasks.length - 1];
    const before = view.tasks[view.tasks.length - 2];
    return last === view.live[0] && (before === undefined || before.nodeId !== last.nodeId);
  }
}

/** The events that move the service's update (or rollback, or rebalance) on, and when to look again. */
export function planUpdate(input: UpdatePlanInput): UpdatePlan {
  return new Planner(input).plan();
}

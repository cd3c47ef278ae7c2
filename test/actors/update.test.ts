// The update planner (actors/orchestrator/update.ts) in a tiny world: a real Store to which every
// change is applied as a batch, the planner's events included; a driver that plays the reconciler
// (fills a slot left without a live task), the scheduler (places new tasks by spread) and the
// agents (prepare, start, stop, and fail chosen tasks at chosen times); and a number clock that
// jumps to whatever is due next (the planner's wake-up or an agent's transition). One scenario per
// knob of the update policy, then a property over random policies and failures.
import fc from 'fast-check';
import { OLD_TASK_STOP_TIMEOUT_MS, UPDATE_MESSAGES, planUpdate } from '../../actors/index.js';
import {
  CONTAINER_SPEC_DEFAULTS, EVENT_VERSIONS, Store, TASK_STATE_ORDER,
  type JournalEvent, type Node, type Service, type ServiceSpec, type Task, type TaskSpec, type TaskStatus, type UpdateConfig, type UpdateState,
} from '../../journal/index.js';

const SERVICE = 'svc';
const GIB = 2 ** 30;
const DEFAULT_CONFIG: UpdateConfig = { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stopFirst' };
const FINISHED: readonly UpdateState[] = ['completed', 'paused', 'rollbackCompleted', 'rollbackPaused'];

function taskSpec(image: string): TaskSpec {
  return {
    container: { image, command: [], args: [], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS },
    resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
    placement: { constraints: [], maxReplicasPerNode: 0, preferences: [], platforms: [] },
    networks: [], secrets: [], configs: [], forceUpdate: 0, runtime: 'container',
  };
}

interface Knobs {
  readonly replicas?: number;
  readonly global?: boolean;
  readonly nodes?: number;
  readonly update?: Partial<UpdateConfig>;
  readonly rollback?: Partial<UpdateConfig>;
  readonly rebalance?: boolean;
  /** From assignment (or the order to run) to running. */
  readonly startMs?: number;
  /** From the order to stop to shutdown. */
  readonly stopMs?: number;
  /** How long after it starts running a task fails; null: it runs on. */
  readonly failAfter?: (task: Task, world: World) => number | null;
  /** A node whose agent rejects every task (it cannot run the service). */
  readonly rejectOn?: string;
  /** A node the scheduler never picks (no room left), though the planner sees it eligible. */
  readonly full?: string;
}

const live = (t: Task): boolean => (t.desiredState === 'running' || t.desiredState === 'ready') && TASK_STATE_ORDER[t.status.state] < TASK_STATE_ORDER.complete;
const image = (t: Task): string => t.spec.container.image;

function nodeEvent(id: string, at: number): JournalEvent {
  return {
    type: 'node.registered', v: EVENT_VERSIONS['node.registered'], at, id,
    spec: { annotations: { name: id, labels: {} }, role: 'worker', availability: 'active' },
    description: { hostname: id, platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 4e9, memoryBytes: 8 * GIB }, engineLabels: {} },
    status: { state: 'ready', message: '', addr: '10.0.0.1' },
  };
}

class World {
  readonly store = new Store();
  now = 1_000;
  /** Every applied batch, with its time. */
  readonly history: { readonly at: number; readonly events: readonly JournalEvent[] }[] = [];
  /** Run after every applied batch. */
  readonly checks: ((world: World) => void)[] = [];
  private index = 0;
  private taskIds = 0;
  private wake: number | null = null;
  private readonly global: boolean;

  constructor(readonly knobs: Knobs = {}) {
    this.global = knobs.global ?? false;
    for (let i = 1; i <= (knobs.nodes ?? 3); i++) this.apply([nodeEvent(`n${i}`, this.now)]);
    const spec: ServiceSpec = {
      annotations: { name: 'web', labels: {} },
      task: taskSpec('app:1'),
      mode: this.global ? { kind: 'global' } : { kind: 'replicated', replicas: knobs.replicas ?? 3 },
      update: { ...DEFAULT_CONFIG, ...knobs.update },
      rollback: { ...DEFAULT_CONFIG, ...knobs.rollback },
      endpoint: { ports: [] },
      rebalance: knobs.rebalance ?? false,
      dependsOn: [],
    };
    this.apply([{ type: 'service.created', v: EVENT_VERSIONS['service.created'], at: this.now, id: SERVICE, spec }]);
    this.settle();
  }

  apply(events: readonly JournalEvent[]): void {
    const result = this.store.applyBatch(events, ++this.index);
    if (!result.applied) throw result.error;
    this.history.push({ at: this.now, events });
    for (const check of this.checks) check(this);
  }

  service(): Service {
    return this.store.get('service', SERVICE)!;
  }

  tasks(): Task[] {
    return this.store.tasksByService(SERVICE);
  }

  liveTasks(): Task[] {
    return this.tasks().filter(live);
  }

  slots(): Map<string, Task[]> {
    const slots = new Map<string, Task[]>();
    for (const task of this.tasks()) {
      const key = this.global ? task.nodeId : String(task.slot);
      slots.set(key, [...(slots.get(key) ?? []), task]);
    }
    return slots;
  }

  /** Tasks created by `task.created` events, in order, with the time they were created. */
  created(): { readonly id: string; readonly at: number; readonly restarts: readonly number[]; readonly image: string; readonly nodeId: string; readonly slot: number }[] {
    return this.history.flatMap(({ at, events }) => events.flatMap((e) => (e.type === 'task.created' ? [{ id: e.id, at, restarts: e.restarts, image: e.spec.container.image, nodeId: e.nodeId, slot: e.slot }] : [])));
  }

  changeSpec(change: (spec: ServiceSpec) => ServiceSpec): void {
    this.now += 1_000;
    this.apply([{ type: 'service.updated', v: EVENT_VERSIONS['service.updated'], at: this.now, id: SERVICE, spec: change(this.service().spec), expectedVersion: null }]);
  }

  setImage(name: string): void {
    this.changeSpec((spec) => ({ ...spec, task: { ...spec.task, container: { ...spec.task.container, image: name } } }));
  }

  rollBack(): void {
    this.now += 1_000;
    this.apply([{
      type: 'service.rolledBack', v: EVENT_VERSIONS['service.rolledBack'], at: this.now, id: SERVICE,
      updateStatus: { state: 'rollbackStarted', startedAt: this.now, completedAt: 0, message: 'manually requested rollback' }, expectedVersion: null,
    }]);
  }

  addNode(id: string): void {
    this.now += 1_000;
    this.apply([nodeEvent(id, this.now)]);
  }

  /** Runs the world until nothing is due; throws if it never gets quiet. */
  settle(limitMs = 3_600_000): void {
    const end = this.now + limitMs;
    for (let rounds = 0; rounds < 5_000; rounds++) {
      if (this.round()) continue;
      const due = [this.wake, ...this.transitions(true).map((t) => t.at)].filter((at): at is number => at !== null);
      if (due.length === 0) return;
      const next = Math.min(...due);
      expect(next).toBeGreaterThan(this.now);
      if (next > end) throw new Error(`still busy after ${limitMs} ms`);
      this.now = next;
    }
    throw new Error('no quiet after 5000 rounds');
  }

  /** One round at `now`: reconciler and planner, then what the scheduler and agents have due. True if anything changed. */
  private round(): boolean {
    const { events: reconciled, touched } = this.reconcile();
    const plan = planUpdate({
      service: this.service(), slots: this.slots(), touched,
      node: (id) => this.store.get('node', id), nodes: () => this.store.list('node'),
      now: this.now, newTaskId: () => `t${String(++this.taskIds).padStart(4, '0')}`,
    });
    this.wake = plan.wakeAt;
    if (plan.wakeAt !== null) expect(plan.wakeAt).toBeGreaterThan(this.now);
    const events = [...reconciled, ...plan.events];
    if (events.length > 0) {
      this.apply(events);
      return true;
    }
    const due = this.transitions(false);
    if (due.length === 0) return false;
    this.apply(due.map(({ event }) => event));
    return true;
  }

  /** The reconciler's part that these scenarios need: a slot without a live task gets one (a restart when the slot had one before). */
  private reconcile(): { events: JournalEvent[]; touched: Set<string> } {
    const service = this.service();
    const slots = this.slots();
    const keys = this.global
      ? this.store.list('node').filter((n) => n.status.state === 'ready' && n.spec.availability === 'active').map((n) => n.id)
      : Array.from({ length: service.spec.mode.kind === 'replicated' ? service.spec.mode.replicas : 0 }, (_, i) => String(i + 1));
    const events: JournalEvent[] = [];
    const touched = new Set<string>();
    for (const key of keys) {
      const tasks = slots.get(key) ?? [];
      if (tasks.some(live)) continue;
      touched.add(key);
      events.push({
        type: 'task.created', v: EVENT_VERSIONS['task.created'], at: this.now, id: `t${String(++this.taskIds).padStart(4, '0')}`,
        serviceId: SERVICE, slot: this.global ? 0 : Number(key), nodeId: this.global ? key : '', spec: service.spec.task,
        serviceVersion: service.specVersion, desiredState: 'running', status: status('new', this.now),
        restarts: tasks.length === 0 ? [] : [this.now], addresses: [],
      });
    }
    return { events, touched };
  }

  /** What the scheduler and the agents do next: due now (`future` false) or later (true). */
  private transitions(future: boolean): { at: number; event: JournalEvent }[] {
    const out: { at: number; event: JournalEvent }[] = [];
    const change = (task: Task, at: number, next: TaskStatus['state'], err = ''): void => {
      if (future ? at > this.now : at <= this.now) out.push({ at, event: { type: 'task.statusChanged', v: 1, at: this.now, id: task.id, status: { ...status(next, this.now), err }, expectedVersion: null } });
    };
    const startMs = this.knobs.startMs ?? 300;
    const stopMs = this.knobs.stopMs ?? 200;
    const tasks = this.tasks();
    const placed = new Map<string, number>();
    for (const task of tasks) {
      const state = task.status.state;
      if (TASK_STATE_ORDER[state] >= TASK_STATE_ORDER.complete) continue;
      if (!live(task)) {
        // Told to stop: what never reached a node ends at once, the rest after stopMs.
        change(task, task.nodeId === '' || state === 'new' ? this.now : task.meta.updatedAt + stopMs, 'shutdown');
        continue;
      }
      if (state === 'new') {
        if (future) continue;
        const nodeId = task.nodeId !== '' ? task.nodeId : this.spread(tasks, placed);
        if (nodeId === undefined) continue;
        placed.set(nodeId, (placed.get(nodeId) ?? 0) + 1);
        out.push({ at: this.now, event: { type: 'task.assigned', v: 1, at: this.now, id: task.id, nodeId, status: status('assigned', this.now), expectedVersion: null } });
      } else if (task.nodeId === this.knobs.rejectOn) {
        change(task, this.now, 'rejected', 'cannot run here');
      } else if (task.desiredState === 'ready') {
        if (state === 'assigned') change(task, this.now, 'ready');
      } else if (state !== 'running') {
        change(task, task.meta.updatedAt + startMs, 'running');
      } else {
        const after = this.knobs.failAfter?.(task, this) ?? null;
        if (after !== null) change(task, task.status.timestamp + after, 'failed', 'exit status 1');
      }
    }
    return out;
  }

  /** The spread: the ready, active node with the fewest live tasks of the service, those placed this round included (ties by id). */
  private spread(tasks: readonly Task[], placed: ReadonlyMap<string, number>): string | undefined {
    const nodes = this.store.list('node').filter((n: Node) => n.status.state === 'ready' && n.spec.availability === 'active' && n.id !== this.knobs.full);
    const load = (id: string): number => tasks.filter((t) => live(t) && t.nodeId === id).length + (placed.get(id) ?? 0);
    return nodes.sort((a, b) => load(a.id) - load(b.id) || (a.id < b.id ? -1 : 1))[0]?.id;
  }
}

function status(state: TaskStatus['state'], timestamp: number): TaskStatus {
  return { state, message: state, timestamp, err: '' };
}

/** Slots with a live task of `target` that has not yet run for the monitor period: the update's slots in flight. */
function inFlight(world: World, target: string, monitorMs: number): number {
  let n = 0;
  for (const tasks of world.slots().values()) {
    if (tasks.some((t) => live(t) && image(t) === target && !(t.status.state === 'running' && world.now - t.status.timestamp >= monitorMs))) n++;
  }
  return n;
}

function trackMax(world: World, measure: (world: World) => number): { max: number } {
  const seen = { max: 0 };
  world.checks.push((w) => {
    seen.max = Math.max(seen.max, measure(w));
  });
  return seen;
}

/** Every slot holds one live task, of `target`, running; `count` of them. */
function expectConverged(world: World, target: string, count: number): void {
  const slots = [...world.slots().values()].map((tasks) => tasks.filter(live));
  expect(slots.filter((l) => l.length > 0)).toHaveLength(count);
  for (const l of slots) {
    expect(l.length).toBeLessThanOrEqual(1);
    if (l.length === 1) {
      expect(image(l[0]!)).toBe(target);
      expect(l[0]!.status.state).toBe('running');
    }
  }
}

/** The update's own replacements (restart history empty), of `target`, in creation order. */
function replacements(world: World, target: string): { id: string; at: number; nodeId: string; slot: number }[] {
  return world.created().filter((c) => c.image === target && c.restarts.length === 0);
}

describe('rolling update', () => {
  test('a spec change starts an update that replaces every slot, then completes', () => {
    const world = new World({ replicas: 3 });
    const before = world.liveTasks().map((t) => t.id);
    expect(world.service().updateStatus).toBeNull();
    world.setImage('app:2');
    const changedAt = world.now;
    world.settle();
    const status = world.service().updateStatus!;
    expect(status.state).toBe('completed');
    expect(status.startedAt).toBe(changedAt);
    expect(status.message).toBe('update completed');
    expect(status.completedAt).toBeGreaterThan(changedAt);
    expectConverged(world, 'app:2', 3);
    for (const task of world.liveTasks()) {
      expect(before).not.toContain(task.id);
      expect(task.serviceVersion).toBe(world.service().specVersion);
    }
    // The status went updating, then completed, once each.
    const statuses = world.history.flatMap(({ events }) => events.flatMap((e) => (e.type === 'service.updateStatusChanged' ? [e.updateStatus] : [])));
    expect(statuses.map((s) => s?.state)).toEqual(['updating', 'completed']);
    expect(statuses[0]).toEqual({ state: 'updating', startedAt: changedAt, completedAt: 0, message: UPDATE_MESSAGES.started });
  });

  test.each([
    [1, 1],
    [2, 2],
    [0, 4],
  ])('parallelism %i: at most %i slots in flight at once, and that many', (parallelism, most) => {
    const world = new World({ replicas: 4, update: { parallelism } });
    const seen = trackMax(world, (w) => inFlight(w, 'app:2', DEFAULT_CONFIG.monitorMs));
    world.setImage('app:2');
    world.settle();
    expect(world.service().updateStatus?.state).toBe('completed');
    expectConverged(world, 'app:2', 4);
    expect(seen.max).toBe(most);
  });

  test('delay: the next batch starts delayMs after the previous one ran for monitorMs', () => {
    const world = new World({ replicas: 3, update: { delayMs: 10_000, monitorMs: 2_000 } });
    world.setImage('app:2');
    world.settle();
    expect(world.service().updateStatus?.state).toBe('completed');
    const made = replacements(world, 'app:2').map((c) => world.store.get('task', c.id)!);
    expect(made).toHaveLength(3);
    for (let i = 0; i + 1 < made.length; i++) {
      const ranFrom = made[i]!.status.timestamp;
      expect(made[i]!.status.state).toBe('running');
      expect(made[i + 1]!.meta.createdAt).toBe(ranFrom + 2_000 + 10_000);
    }
    // No delay before completing: the last slot's monitor period ends it.
    expect(world.service().updateStatus?.completedAt).toBe(made[2]!.status.timestamp + 2_000);
  });

  test('monitor: a failure after the monitor period is not counted; one within it pauses', () => {
    // Only the update's own replacements fail; their restarts run.
    const late = new World({ replicas: 3, update: { monitorMs: 5_000 }, failAfter: (t) => (image(t) === 'app:2' && t.restarts.length === 0 ? 6_000 : null) });
    late.setImage('app:2');
    late.settle();
    expect(late.service().updateStatus?.state).toBe('completed');
    expect(replacements(late, 'app:2')).toHaveLength(3);
    expectConverged(late, 'app:2', 3);

    const early = new World({ replicas: 3, update: { monitorMs: 5_000 }, failAfter: (t) => (image(t) === 'app:2' && t.restarts.length === 0 ? 4_000 : null) });
    early.setImage('app:2');
    early.settle();
    const [first] = replacements(early, 'app:2');
    expect(early.service().updateStatus).toMatchObject({ state: 'paused', message: UPDATE_MESSAGES.paused(first!.id) });
    expect(replacements(early, 'app:2')).toHaveLength(1);
  });

  describe('failure action', () => {
    const failing = (t: Task): number | null => (image(t) === 'app:2' && t.restarts.length === 0 ? 1_000 : null);

    test('pause: the update stops at the first failure; the spec stays', () => {
      const world = new World({ replicas: 3, update: { failureAction: 'pause' }, failAfter: failing });
      world.setImage('app:2');
      world.settle();
      const made = replacements(world, 'app:2');
      expect(made).toHaveLength(1);
      expect(world.service().updateStatus).toMatchObject({ state: 'paused', completedAt: 0, message: `update paused due to failure or early termination of task ${made[0]!.id}` });
      expect(world.service().spec.task.container.image).toBe('app:2');
      // Slot 1 runs its restart (of the new spec); the others still run the old one.
      expect(world.liveTasks().map(image).sort()).toEqual(['app:1', 'app:1', 'app:2']);
    });

    test('continue: every slot is replaced despite the failures, and the update completes', () => {
      const world = new World({ replicas: 3, update: { failureAction: 'continue' }, failAfter: failing });
      world.setImage('app:2');
      world.settle();
      expect(world.service().updateStatus?.state).toBe('completed');
      const made = replacements(world, 'app:2');
      expect(made).toHaveLength(3);
      for (const c of made) expect(world.store.get('task', c.id)?.status.state).toBe('failed');
      expectConverged(world, 'app:2', 3);
    });

    test('rollback: the spec goes back, the rollback runs with the rollback config and completes', () => {
      const world = new World({ replicas: 3, update: { failureAction: 'rollback' }, rollback: { parallelism: 0 }, failAfter: (t) => (image(t) === 'app:2' && t.restarts.length === 0 && t.slot === 2 ? 1_000 : null) });
      const rollingBack = trackMax(world, (w) => (w.service().updateStatus?.state === 'rollbackStarted' ? inFlight(w, 'app:1', DEFAULT_CONFIG.monitorMs) : 0));
      world.setImage('app:2');
      world.settle();
      const made = replacements(world, 'app:2');
      expect(made.map((c) => c.slot)).toEqual([1, 2]);
      const rolledBack = world.history.flatMap(({ events }) => events.filter((e) => e.type === 'service.rolledBack'));
      expect(rolledBack).toHaveLength(1);
      expect(rolledBack[0]).toMatchObject({ updateStatus: { state: 'rollbackStarted', message: UPDATE_MESSAGES.rolledBack(made[1]!.id) } });
      const service = world.service();
      expect(service.updateStatus).toMatchObject({ state: 'rollbackCompleted', message: 'rollback completed' });
      expect(service.spec.task.container.image).toBe('app:1');
      expect(service.previousSpec?.task.container.image).toBe('app:2');
      expectConverged(world, 'app:1', 3);
      // Only the slots that ran app:2 go back (slot 3 never left app:1: its task runs the spec in
      // force, as in SwarmKit); parallelism 0 does both at once.
      expect(rollingBack.max).toBe(2);
    });

    test('rollback without a previous spec pauses', () => {
      // The store cannot hold an update without a previous spec (service.updated records one), so
      // the planner is called directly: slot 1's replacement failed at once.
      const world = new World({ replicas: 2, update: { failureAction: 'rollback' } });
      const created = world.service();
      const now = world.now + 1_000;
      const service: Service = {
        ...created,
        spec: { ...created.spec, task: { ...created.spec.task, container: { ...created.spec.task.container, image: 'app:2' } } },
        meta: { ...created.meta, version: created.specVersion + 5 },
        specVersion: created.specVersion + 1,
        updateStatus: { state: 'updating', startedAt: now - 500, completedAt: 0, message: UPDATE_MESSAGES.started },
      };
      expect(service.previousSpec).toBeNull();
      const [old1, old2] = world.liveTasks();
      const stopped: Task = { ...old1!, desiredState: 'shutdown', status: status('shutdown', now - 400) };
      const failed: Task = { ...old1!, id: 'tx', spec: service.spec.task, serviceVersion: service.specVersion, meta: { version: 99, createdAt: now - 500, updatedAt: now - 100 }, status: status('failed', now - 100), restarts: [] };
      const plan = planUpdate({
        service, slots: new Map([['1', [stopped, failed]], ['2', [old2!]]]), touched: new Set(['1']),
        node: (id) => world.store.get('node', id), now, newTaskId: () => 'ty',
      });
      expect(plan.events).toEqual([expect.objectContaining({
        type: 'service.updateStatusChanged', expectedVersion: service.meta.version,
        updateStatus: { state: 'paused', startedAt: now - 500, completedAt: 0, message: UPDATE_MESSAGES.paused('tx') },
      })]);
      expect(plan.wakeAt).toBeNull();
    });
  });

  test('maxFailureRatio 0.5 tolerates one failure of four, not three', () => {
    const failIn = (slots: number[]) => (t: Task): number | null => (image(t) === 'app:2' && t.restarts.length === 0 && slots.includes(t.slot) ? 1_000 : null);
    const one = new World({ replicas: 4, update: { maxFailureRatio: 0.5 }, failAfter: failIn([1]) });
    one.setImage('app:2');
    one.settle();
    expect(one.service().updateStatus?.state).toBe('completed');
    expectConverged(one, 'app:2', 4);

    const three = new World({ replicas: 4, update: { maxFailureRatio: 0.5 }, failAfter: failIn([1, 2, 3]) });
    three.setImage('app:2');
    three.settle();
    const made = replacements(three, 'app:2');
    // 1/4 and 2/4 are tolerated; 3/4 is past the ratio.
    expect(made).toHaveLength(3);
    expect(three.service().updateStatus).toMatchObject({ state: 'paused', message: UPDATE_MESSAGES.paused(made[2]!.id) });
  });

  describe('order', () => {
    test('stop-first: a slot never holds two live tasks, and the old one has stopped before the new one starts', () => {
      const world = new World({ replicas: 4, update: { parallelism: 2, order: 'stopFirst' }, stopMs: 700 });
      world.checks.push((w) => {
        expect(w.liveTasks().length).toBeLessThanOrEqual(4);
        for (const tasks of w.slots().values()) {
          expect(tasks.filter(live).length).toBeLessThanOrEqual(1);
          expect(tasks.filter((t) => t.status.state === 'running').length).toBeLessThanOrEqual(1);
        }
      });
      world.setImage('app:2');
      world.settle();
      expect(world.service().updateStatus?.state).toBe('completed');
      expectConverged(world, 'app:2', 4);
      // Each replacement waited (desired 'ready') for its predecessor's stop.
      for (const c of replacements(world, 'app:2')) {
        const task = world.store.get('task', c.id)!;
        const predecessor = world.slots().get(String(c.slot))!.find((t) => image(t) === 'app:1' && t.status.state === 'shutdown')!;
        expect(task.status.timestamp).toBeGreaterThanOrEqual(predecessor.status.timestamp);
      }
    });

    test('start-first: the old task runs until its replacement does; at most replicas + parallelism live', () => {
      const world = new World({ replicas: 4, update: { parallelism: 2, order: 'startFirst' } });
      const most = trackMax(world, (w) => w.liveTasks().length);
      world.checks.push((w) => {
        expect(w.liveTasks().length).toBeLessThanOrEqual(4 + 2);
        for (const tasks of w.slots().values()) {
          expect(tasks.filter(live).length).toBeLessThanOrEqual(2);
          // Always something running in every slot: that is what start-first is for.
          expect(tasks.some((t) => t.status.state === 'running')).toBe(true);
        }
      });
      world.setImage('app:2');
      world.settle();
      expect(world.service().updateStatus?.state).toBe('completed');
      expectConverged(world, 'app:2', 4);
      expect(most.max).toBe(6);
    });
  });

  test('failure during a rollback pauses the rollback', () => {
    let rollbackAt = Infinity;
    const world = new World({
      replicas: 3, update: { failureAction: 'rollback' },
      // The update's replacement fails; so does every replacement the rollback makes.
      failAfter: (t) => (t.restarts.length === 0 && (image(t) === 'app:2' || t.meta.createdAt >= rollbackAt) ? 1_000 : null),
    });
    world.checks.push((w) => {
      if (rollbackAt === Infinity && w.service().updateStatus?.state === 'rollbackStarted') rollbackAt = w.now;
    });
    world.setImage('app:2');
    world.settle();
    const service = world.service();
    const rollbackMade = world.created().filter((c) => c.image === 'app:1' && c.restarts.length === 0 && c.at >= rollbackAt);
    expect(rollbackMade).toHaveLength(1);
    expect(service.updateStatus).toMatchObject({ state: 'rollbackPaused', message: UPDATE_MESSAGES.rollbackPaused(rollbackMade[0]!.id) });
    expect(service.spec.task.container.image).toBe('app:1');
  });

  test('manual rollback: converges to the previous spec with the rollback config', () => {
    const world = new World({ replicas: 4, rollback: { parallelism: 2, order: 'startFirst' } });
    world.setImage('app:2');
    world.settle();
    expect(world.service().updateStatus?.state).toBe('completed');
    const rolling = trackMax(world, (w) => inFlight(w, 'app:1', DEFAULT_CONFIG.monitorMs));
    const most = trackMax(world, (w) => w.liveTasks().length);
    world.rollBack();
    world.settle();
    const service = world.service();
    expect(service.updateStatus).toMatchObject({ state: 'rollbackCompleted', message: 'rollback completed' });
    expect(service.spec.task.container.image).toBe('app:1');
    expectConverged(world, 'app:1', 4);
    expect(rolling.max).toBe(2);
    expect(most.max).toBe(6);
  });

  test('force update: a forceUpdate bump replaces every task with the same image', () => {
    const world = new World({ replicas: 3 });
    const before = new Set(world.liveTasks().map((t) => t.id));
    world.changeSpec((spec) => ({ ...spec, task: { ...spec.task, forceUpdate: spec.task.forceUpdate + 1 } }));
    world.settle();
    expect(world.service().updateStatus?.state).toBe('completed');
    expectConverged(world, 'app:1', 3);
    for (const task of world.liveTasks()) {
      expect(before.has(task.id)).toBe(false);
      expect(task.spec.forceUpdate).toBe(1);
    }
  });

  test('a spec change while paused starts a new update', () => {
    const world = new World({ replicas: 3, failAfter: (t) => (image(t) === 'app:2' && t.restarts.length === 0 ? 1_000 : null) });
    world.setImage('app:2');
    world.settle();
    expect(world.service().updateStatus?.state).toBe('paused');
    world.setImage('app:3');
    const fixedAt = world.now;
    world.settle();
    expect(world.service().updateStatus).toMatchObject({ state: 'completed', startedAt: fixedAt });
    expectConverged(world, 'app:3', 3);
  });

  test('global service: slots are nodes, and each replacement stays on its node', () => {
    const world = new World({ global: true, nodes: 3, update: { parallelism: 2 } });
    const seen = trackMax(world, (w) => inFlight(w, 'app:2', DEFAULT_CONFIG.monitorMs));
    const nodeOf = new Map(world.liveTasks().map((t) => [t.nodeId, t.id]));
    expect([...nodeOf.keys()].sort()).toEqual(['n1', 'n2', 'n3']);
    world.setImage('app:2');
    world.settle();
    expect(world.service().updateStatus?.state).toBe('completed');
    expectConverged(world, 'app:2', 3);
    const made = replacements(world, 'app:2');
    expect(made.map((c) => c.nodeId).sort()).toEqual(['n1', 'n2', 'n3']);
    for (const c of made) expect(c.slot).toBe(0);
    expect(seen.max).toBe(2);
  });

  test('a stop-first replacement starts once its predecessor is overdue to stop', () => {
    // The agent never reports the old task's stop.
    const world = new World({ replicas: 1, stopMs: 10 * OLD_TASK_STOP_TIMEOUT_MS });
    world.setImage('app:2');
    const changedAt = world.now;
    world.settle();
    expect(world.service().updateStatus?.state).toBe('completed');
    const [made] = replacements(world, 'app:2');
    const started = world.store.get('task', made!.id)!;
    expect(started.status.state).toBe('running');
    expect(started.status.timestamp).toBeGreaterThanOrEqual(changedAt + OLD_TASK_STOP_TIMEOUT_MS);
    expect(started.status.timestamp).toBeLessThan(changedAt + 2 * OLD_TASK_STOP_TIMEOUT_MS);
  });
});

describe('rebalance', () => {
  const counts = (world: World): number[] => {
    const byNode = new Map<string, number>();
    for (const t of world.liveTasks()) byNode.set(t.nodeId, (byNode.get(t.nodeId) ?? 0) + 1);
    return world.store.list('node').map((n) => byNode.get(n.id) ?? 0);
  };

  test.each([1, 2])('moves replicas onto a new node, at most %i at a time', (parallelism) => {
    const world = new World({ replicas: 6, nodes: 2, rebalance: true, update: { parallelism, delayMs: 1_000 } });
    expect(counts(world)).toEqual([3, 3]);
    // A move is in flight while its slot holds two live tasks.
    const moving = trackMax(world, (w) => [...w.slots().values()].filter((tasks) => tasks.filter(live).length > 1).length);
    world.addNode('n3');
    world.settle();
    expect(counts(world)).toEqual([2, 2, 2]);
    expect(moving.max).toBe(parallelism);
    const moves = world.created().filter((c) => c.at > 1_000 && c.restarts.length === 0);
    expect(moves.length).toBe(2);
    // Not an update: no status recorded.
    expect(world.service().updateStatus).toBeNull();
  });

  test('a slot whose move failed is not moved again: a node that cannot run the service does not churn it', () => {
    const world = new World({ replicas: 6, nodes: 2, rebalance: true, rejectOn: 'n3' });
    world.addNode('n3');
    world.settle();
    expect(counts(world)).toEqual([3, 3, 0]);
    const moves = world.created().filter((c) => c.at > 1_000);
    expect(moves.length).toBeGreaterThan(0);
    expect(new Set(moves.map((c) => c.slot)).size).toBe(moves.length);
  });

  test('a move the scheduler puts back on its node is not tried again', () => {
    const world = new World({ replicas: 6, nodes: 2, rebalance: true, full: 'n3' });
    world.addNode('n3');
    world.settle();
    expect(counts(world)).toEqual([3, 3, 0]);
    const moves = world.created().filter((c) => c.at > 1_000);
    expect(moves.length).toBeGreaterThan(0);
    expect(new Set(moves.map((c) => c.slot)).size).toBe(moves.length);
  });

  test('off unless asked', () => {
    const world = new World({ replicas: 6, nodes: 2 });
    world.addNode('n3');
    world.settle();
    expect(counts(world)).toEqual([3, 3, 0]);
  });
});

describe('property: random policies and failures', () => {
  test('slots never hold more than two live tasks, two only under start-first, and every update ends finished', () => {
    const config = fc.record({
      parallelism: fc.integer({ min: 0, max: 3 }),
      delayMs: fc.constantFrom(0, 2_000),
      failureAction: fc.constantFrom('pause' as const, 'continue' as const, 'rollback' as const),
      monitorMs: fc.constantFrom(0, 1_000, 5_000, 10_000),
      maxFailureRatio: fc.constantFrom(0, 0.34, 0.5, 1),
      order: fc.constantFrom('stopFirst' as const, 'startFirst' as const),
    });
    fc.assert(fc.property(
      fc.record({
        replicas: fc.integer({ min: 1, max: 4 }),
        update: config,
        rollback: config,
        startMs: fc.integer({ min: 1, max: 1_000 }),
        stopMs: fc.integer({ min: 0, max: 3_000 }),
        // Which of the replacements (by creation order) fail, and how long after they start.
        failures: fc.dictionary(fc.integer({ min: 1, max: 8 }).map(String), fc.integer({ min: 0, max: 7_000 }), { maxKeys: 6 }),
      }),
      ({ failures, ...knobs }) => {
        const ordinal = new Map<string, number>();
        // Assigned once built: the initial tasks never fail.
        let world: World | undefined = undefined;
        world = new World({
          ...knobs,
          failAfter: (t) => {
            if (t.restarts.length !== 0 || world === undefined) return null;
            if (!ordinal.has(t.id)) ordinal.set(t.id, ordinal.size + 1);
            return failures[String(ordinal.get(t.id))] ?? null;
          },
        });
        const batch = (c: UpdateConfig): number => (c.parallelism === 0 ? knobs.replicas : c.parallelism);
        const startFirst = knobs.update.order === 'startFirst' || knobs.rollback.order === 'startFirst';
        world.checks.push((w) => {
          expect(w.liveTasks().length).toBeLessThanOrEqual(knobs.replicas + (startFirst ? Math.max(batch(knobs.update), batch(knobs.rollback)) : 0));
          for (const tasks of w.slots().values()) {
            expect(tasks.filter(live).length).toBeLessThanOrEqual(startFirst ? 2 : 1);
            // Stop-first: the old task has stopped before its replacement runs.
            if (!startFirst) expect(tasks.filter((t) => t.status.state === 'running').length).toBeLessThanOrEqual(1);
          }
        });
        world.setImage('app:2');
        world.settle();
        const status = world.service().updateStatus;
        expect(status).not.toBeNull();
        expect(FINISHED).toContain(status!.state);
        if (status!.state === 'completed') expectConverged(world, 'app:2', knobs.replicas);
        if (status!.state === 'rollbackCompleted') expectConverged(world, 'app:1', knobs.replicas);
      },
    ), { numRuns: 100 });
  });
});

// The agent (`n/agent`, on every node): the worker's end of its session with the leader's
// dispatcher (DESIGN.md section 6, step 5).
//
//  - It starts by asking the executor what it holds (workloads outlive an agent's restart), then
//    registers: with the last known leader first, then the other managers in turn; a refusal with
//    a leader hint goes there; no answer within a deadline moves on, after an exponential backoff
//    with jitter.
//  - While a session is open it heartbeats every period (with +-10% jitter); when acks stop for
//    about two periods it registers again.
//  - It applies assignments in seq order (a gap asks for a resync) and keeps one task runner per
//    assigned task; a task that leaves the set is stopped and removed by its runner.
//  - The runners' state changes of one turn go out as one `dispatcher.status`, which carries every
//    change not yet committed (the highest state per task) and is resent about every second
//    until `agent.statusCommitted` covers it.
//  - With a task database (`storage`: classic-level in the node's state directory), the tasks
//    assigned to the node are kept on disk: a restarted agent takes up its tasks' runners at once,
//    before it has a session (a workload that ends meanwhile is reported when one opens), and the
//    first full set then removes what is no longer assigned. Workloads of no known task are
//    stopped and removed. The database is a cache of the leader's assignments: one that cannot be
//    read is started afresh.
import { TASK_STATE_ORDER, sameValue, type Config, type NodeDescription, type Secret, type Task, type TaskStatus } from '../../journal/index.js';
import { decodeMessage, encodeMessage, type ActorContext, type Address, type Behaviour, type Executor, type ExecutorWorkload, type KvOp, type KvStore, type Props, type Storage } from '../../runtime/index.js';
import type { StopReason } from '../../runtime/index.js';
import type {
  AgentAssignments, AgentInput, AgentSession, AgentSessionRefused, DispatcherDescribe, DispatcherHeartbeat, DispatcherRegister, DispatcherResync, DispatcherStatus,
  TaskStatusUpdate,
} from '../orchestrator/protocol.js';
import { executorActor } from './executor-actor.js';
import type { ExecutorReply, ExecutorRequest, RunnerRemove, RunnerStatus, RunnerUpdate } from './messages.js';
import { runnerActor } from './runner.js';

export interface AgentOptions {
  readonly nodeId: string;
  /** The node's description now (hostname, platform, resources, engine labels): sent with every register, and again when it changes. */
  readonly description: NodeDescription | (() => NodeDescription);
  /** How often a session checks the description for a change. Default 20,000 ms. */
  readonly describeEveryMs?: number;
  /** The managers' node ids, to register with in turn. */
  readonly managers: () => readonly string[];
  /** The dispatcher's address on a manager. */
  readonly dispatcherAddress: (managerNodeId: string) => Address;
  readonly executor: Executor;
  /** Until a session says otherwise. Default 5,000 ms (SwarmKit's). */
  readonly heartbeatPeriodMs?: number;
  /**
   * A register with no answer within this long moves on to the next manager. Default: the
   * heartbeat period, at most 2,000 ms (a node must find the new leader well within the three
   * periods after which it is declared down).
   */
  readonly registerTimeoutMs?: number;
  /** Backoff between register attempts: doubling from min to max, with +-20% jitter. Defaults 100 ms and 4,000 ms. */
  readonly registerBackoffMinMs?: number;
  readonly registerBackoffMaxMs?: number;
  /** Uncommitted status changes are sent again this often. Default 1,000 ms. */
  readonly statusResendMs?: number;
  /** The grace a stop gives a workload before it is killed. Default 10,000 ms (Docker's). */
  readonly stopGraceMs?: number;
  /** Where the task database lives (its store is `agent-tasks`); none: the agent keeps no tasks across restarts. */
  readonly storage?: Storage;
}

/** The task database's store, and its keys: `task/<id>` -> the task as last assigned (CBOR). */
export const AGENT_TASKS_STORE = 'agent-tasks';
const TASK_KEY = 'task/';

type AgentPrivate =
  | { readonly type: 'agent.registerAttempt' }
  | { readonly type: 'agent.registerDeadline' }
  | { readonly type: 'agent.heartbeatDue' }
  | { readonly type: 'agent.ackDeadline' }
  | { readonly type: 'agent.flushStatus' }
  | { readonly type: 'agent.statusResend' }
  | { readonly type: 'agent.resyncDue' }
  | { readonly type: 'agent.listAgain' }
  | { readonly type: 'agent.describeDue' }
  | { readonly type: 'agent.tasksLoaded'; readonly tasks: readonly Task[] };

export type AgentMessage = AgentInput | RunnerStatus | ExecutorReply | AgentPrivate;

/** listing: asking the executor what it holds; registering: looking for a session; connected: in one. */
export type AgentPhase = 'listing' | 'registering' | 'connected';

/** A status change not yet committed, and the first report that carried it (0: none yet). */
interface Outstanding {
  readonly status: TaskStatus;
  reportSeq: number;
}

const LIST_RETRY_MS = 1_000;
/** SwarmKit's agent looks at its node's description this often. */
const DESCRIBE_EVERY_MS = 20_000;
const REGISTER_TIMEOUT_MS_MAX = 2_000;
const REGISTER_TIMEOUT_MS_MIN = 250;
const HEARTBEAT_JITTER = 0.1;
const BACKOFF_JITTER = 0.2;
/** Acks missing for this many heartbeat periods end the session. */
const ACK_TIMEOUT_PERIODS = 2.5;

class Agent implements Behaviour<AgentMessage> {
  private phase: AgentPhase = 'listing';
  /** The executor's workloads when the agent started, by id: consulted once per task. */
  private inventory = new Map<string, ExecutorWorkload>();
  /** Until the first full set is applied: a task of it without a workload lost it to a restart. */
  private inventoryOpen = true;
  private readonly executor: Address;
  // The session.
  private sessionId = '';
  private leader = '';
  private target = '';
  private heartbeatPeriodMs: number;
  /** Register attempts since the last session (for the backoff), and the place in the manager list. */
  private failures = 0;
  /** Registers in a row that got no answer by their deadline (reset by a session). */
  private missedDeadlines = 0;
  private turn = 0;
  // Assignments.
  private lastSeq = 0;
  private resyncAsked = false;
  private readonly tasks = new Map<string, Task>();
  private readonly secrets = new Map<string, Secret>();
  private readonly configs = new Map<string, Config>();
  private readonly runners = new Map<string, Address>();
  // Status reports.
  private readonly outstanding = new Map<string, Outstanding>();
  private reportSeq = 0;
  private flushAsked = false;
  private readonly registerTimeoutMs: number | undefined;
  private readonly backoffMinMs: number;
  private readonly backoffMaxMs: number;
  private readonly statusResendMs: number;
  private readonly stopGraceMs: number;
  // The task database: loaded once at the start (undefined until then), then written behind.
  private loaded: readonly Task[] | undefined;
  private listed: readonly ExecutorWorkload[] | undefined;
  /** The description last sent (with the register, or since). */
  private described: NodeDescription | undefined;
  /** The database's store once open (settles undefined when it cannot be): writes chain on it, in order. */
  private writes: Promise<KvStore | undefined> = Promise.resolve(undefined);

  constructor(private readonly options: AgentOptions, private readonly ctx: ActorContext) {
    this.heartbeatPeriodMs = options.heartbeatPeriodMs ?? 5_000;
    this.registerTimeoutMs = options.registerTimeoutMs;
    this.backoffMinMs = options.registerBackoffMinMs ?? 100;
    this.backoffMaxMs = options.registerBackoffMaxMs ?? 4_000;
    this.statusResendMs = options.statusResendMs ?? 1_000;
    this.stopGraceMs = options.stopGraceMs ?? 10_000;
    this.executor = `${ctx.self}/executor`;
  }

  started(ctx: ActorContext): void {
    ctx.spawn('executor', executorActor(this.options.executor));
    this.list();
    this.loadTasks();
  }

  private describe(): NodeDescription {
    const d = this.options.description;
    return typeof d === 'function' ? d() : d;
  }

  /** During a session: a changed description goes to the dispatcher, which has it written. */
  private checkDescription(): void {
    if (this.phase !== 'connected') return;
    const now = this.describe();
    if (this.described === undefined || !sameValue(now, this.described)) {
      this.described = now;
      const describe: DispatcherDescribe = { type: 'dispatcher.describe', nodeId: this.options.nodeId, sessionId: this.sessionId, description: now };
      this.ctx.send(this.dispatcher(), describe);
    }
    this.ctx.setTimer('describe', this.options.describeEveryMs ?? DESCRIBE_EVERY_MS, { type: 'agent.describeDue' } satisfies AgentPrivate);
  }

  private loadTasks(): void {
    const storage = this.options.storage;
    if (storage === undefined) {
      this.loaded = [];
      return;
    }
    const self = this.ctx.self;
    const ctx = this.ctx;
    const opened = storage.openKv(AGENT_TASKS_STORE);
    this.writes = opened.catch(() => undefined);
    opened
      .then((kv) => kv.range({ gte: TASK_KEY, lt: `${TASK_KEY}\uffff` }))
      .then(
        (entries) => ctx.send(self, { type: 'agent.tasksLoaded', tasks: entries.map(([, value]) => decodeMessage(value) as Task) } satisfies AgentPrivate),
        // Unreadable: started afresh (the leader's full set says what is assigned).
        () => ctx.send(self, { type: 'agent.tasksLoaded', tasks: [] } satisfies AgentPrivate),
      );
  }

  /** Both the executor's inventory and the task database are in: the known tasks' runners start, then the search for a session. */
  private begin(): void {
    if (this.phase !== 'listing' || this.listed === undefined || this.loaded === undefined) return;
    this.inventory = new Map(this.listed.map((w) => [w.id, w]));
    for (const task of this.loaded) {
      this.tasks.set(task.id, task);
      this.spawnRunner(task);
    }
    this.startRegistering(0);
  }

  /** Writes the database behind the assignments, in order; a failed write is dropped (the next full set heals it). */
  private persist(ops: KvOp[]): void {
    if (this.options.storage === undefined || ops.length === 0) return;
    this.writes = this.writes.then(async (kv) => {
      await kv?.batch(ops).catch(() => undefined);
      return kv;
    });
  }

  receive(m: AgentMessage): void {
    switch (m.type) {
      case 'exec.listed':
        if (this.phase !== 'listing') return;
        this.listed = m.workloads;
        return this.begin();
      case 'agent.tasksLoaded':
        this.loaded = m.tasks;
        return this.begin();
      case 'exec.listFailed':
        if (this.phase === 'listing') this.ctx.setTimer('list', LIST_RETRY_MS, { type: 'agent.listAgain' } satisfies AgentPrivate);
        return;
      case 'agent.listAgain':
        return this.list();
      case 'agent.describeDue':
        return this.checkDescription();
      case 'agent.registerAttempt':
        return this.register();
      case 'agent.registerDeadline':
        if (this.phase !== 'registering') return;
        this.turn++;
        this.missedDeadlines++;
        return this.retryRegister();
      case 'agent.session':
        return this.sessionOpened(m);
      case 'agent.sessionRefused':
        return this.refused(m);
      case 'agent.heartbeatAck':
        if (this.phase !== 'connected' || m.sessionId !== this.sessionId) return;
        if (m.heartbeatPeriodMs !== this.heartbeatPeriodMs) {
          // The cluster's period changed: the next heartbeat goes by the new one.
          this.heartbeatPeriodMs = m.heartbeatPeriodMs;
          this.scheduleHeartbeat();
        }
        this.armAckDeadline();
        return;
      case 'agent.heartbeatDue':
        return this.heartbeat();
      case 'agent.ackDeadline':
        // No ack for about two periods: the session is gone (a partition, a new leader).
        if (this.phase === 'connected') this.startRegistering(0);
        return;
      case 'agent.assignments':
        return this.assignments(m);
      case 'agent.resyncDue':
        if (this.phase === 'connected' && this.resyncAsked) this.askResync();
        return;
      case 'agent.runnerStatus':
        return this.runnerStatus(m);
      case 'agent.flushStatus':
        this.flushAsked = false;
        return this.sendStatus(false);
      case 'agent.statusResend':
        return this.sendStatus(true);
      case 'agent.statusCommitted':
        if (m.sessionId !== this.sessionId) return;
        for (const [taskId, o] of this.outstanding) if (o.reportSeq !== 0 && o.reportSeq <= m.reportSeq) this.outstanding.delete(taskId);
        if (this.outstanding.size === 0) this.ctx.cancelTimer('statusResend');
        return;
      case 'exec.prepared': case 'exec.prepareFailed': case 'exec.started': case 'exec.startFailed': case 'exec.exited':
      case 'exec.waitFailed': case 'exec.stopped': case 'exec.stopFailed': case 'exec.removed': case 'exec.removeFailed': case 'exec.health': case 'exec.healthFailed':
        return; // A runner's reply that outlived it.
      default:
        return ignore(m);
    }
  }

  childStopped(child: Address, _reason: StopReason): void {
    const taskId = child.slice(child.lastIndexOf('/task-') + '/task-'.length);
    if (this.runners.get(taskId) !== child) return;
    this.runners.delete(taskId);
    // Assigned again while its old runner was removing it: a fresh runner takes over.
    const task = this.tasks.get(taskId);
    if (task !== undefined) this.spawnRunner(task);
  }

  inspectState(): unknown {
    return { phase: this.phase, leader: this.leader, seq: this.lastSeq, tasks: this.tasks.size, runners: this.runners.size, unreported: this.outstanding.size };
  }

  // ---- registering --------------------------------------------------------------------------------

  private list(): void {
    this.ctx.send(this.executor, { type: 'executor.list', replyTo: this.ctx.self } satisfies ExecutorRequest);
  }

  private startRegistering(delayMs: number): void {
    this.phase = 'registering';
    this.sessionId = '';
    this.turn = 0;
    this.ctx.cancelTimer('heartbeat');
    this.ctx.cancelTimer('ackDeadline');
    this.ctx.cancelTimer('resync');
    if (delayMs === 0) this.register();
    else this.ctx.setTimer('register', delayMs, { type: 'agent.registerAttempt' } satisfies AgentPrivate);
  }

  /** The managers to try, the last known leader first. */
  private candidates(): string[] {
    const managers = [...this.options.managers()];
    if (this.leader === '') return managers;
    return [this.leader, ...managers.filter((m) => m !== this.leader)];
  }

  private register(): void {
    if (this.phase !== 'registering') return;
    const candidates = this.candidates();
    if (candidates.length === 0) {
      this.retryRegister();
      return;
    }
    this.target = candidates[this.turn % candidates.length]!;
    this.described = this.describe();
    const register: DispatcherRegister = { type: 'dispatcher.register', nodeId: this.options.nodeId, description: this.described, replyTo: this.ctx.self };
    this.ctx.send(this.options.dispatcherAddress(this.target), register);
    // Short at first (a register lost to a manager that was not listening yet costs little), then
    // doubling with each unanswered one up to the heartbeat period (at most 2 s).
    const deadlineMs = this.registerTimeoutMs ?? Math.min(REGISTER_TIMEOUT_MS_MAX, this.heartbeatPeriodMs, REGISTER_TIMEOUT_MS_MIN * 2 ** Math.min(this.missedDeadlines, 10));
    this.ctx.setTimer('register', deadlineMs, { type: 'agent.registerDeadline' } satisfies AgentPrivate);
  }

  private retryRegister(): void {
    this.failures++;
    const base = Math.min(this.backoffMaxMs, this.backoffMinMs * 2 ** Math.min(this.failures - 1, 20));
    const delayMs = Math.max(1, Math.round(base * (1 - BACKOFF_JITTER + 2 * BACKOFF_JITTER * this.ctx.env.random.float())));
    this.ctx.setTimer('register', delayMs, { type: 'agent.registerAttempt' } satisfies AgentPrivate);
  }

  private sessionOpened(m: AgentSession): void {
    // A dispatcher answers every register with a new session, replacing the node's previous one:
    // the latest to arrive is the live one (a register sent twice, its first answer slow).
    if (this.phase === 'listing' || m.sessionId === this.sessionId) return;
    this.ctx.cancelTimer('register');
    this.phase = 'connected';
    this.sessionId = m.sessionId;
    this.leader = m.leader;
    this.heartbeatPeriodMs = m.heartbeatPeriodMs;
    this.failures = 0;
    this.missedDeadlines = 0;
    this.lastSeq = 0;
    this.resyncAsked = false;
    this.scheduleHeartbeat();
    this.armAckDeadline();
    // What the last session did not see committed goes out again under this one.
    this.sendStatus(true);
    this.ctx.setTimer('describe', this.options.describeEveryMs ?? DESCRIBE_EVERY_MS, { type: 'agent.describeDue' } satisfies AgentPrivate);
  }

  private refused(m: AgentSessionRefused): void {
    if (this.phase === 'listing') return;
    const hint = m.leader;
    if (this.phase === 'connected') {
      // The session is unknown there (expired, or a new leader): register again, at once.
      if (hint !== '') this.leader = hint;
      this.startRegistering(0);
      return;
    }
    this.ctx.cancelTimer('register');
    if (hint !== '' && hint !== this.target) {
      // Not the leader: go where it points.
      this.leader = hint;
      this.turn = 0;
      this.register();
      return;
    }
    if (hint !== '' && hint === this.target) {
      // The leader named itself: it is taking over (its orchestration starts once an entry of its
      // term has applied, within a few Raft ticks). Try it again soon rather than backing off
      // further: a new cluster's first node is Ready as soon as its leader can take the session.
      this.failures = 0;
    } else {
      this.turn++;
    }
    // Refused by the leader itself (not a member yet?), or no leader known: wait and try again.
    this.retryRegister();
  }

  // ---- heartbeats ---------------------------------------------------------------------------------

  private scheduleHeartbeat(): void {
    const jitter = 1 - HEARTBEAT_JITTER + 2 * HEARTBEAT_JITTER * this.ctx.env.random.float();
    this.ctx.setTimer('heartbeat', Math.max(1, Math.round(this.heartbeatPeriodMs * jitter)), { type: 'agent.heartbeatDue' } satisfies AgentPrivate);
  }

  private armAckDeadline(): void {
    this.ctx.setTimer('ackDeadline', Math.round(this.heartbeatPeriodMs * ACK_TIMEOUT_PERIODS), { type: 'agent.ackDeadline' } satisfies AgentPrivate);
  }

  private heartbeat(): void {
    if (this.phase !== 'connected') return;
    const heartbeat: DispatcherHeartbeat = { type: 'dispatcher.heartbeat', nodeId: this.options.nodeId, sessionId: this.sessionId, ackSeq: this.lastSeq };
    this.ctx.send(this.dispatcher(), heartbeat);
    this.scheduleHeartbeat();
  }

  private dispatcher(): Address {
    return this.options.dispatcherAddress(this.leader !== '' ? this.leader : this.target);
  }

  // ---- assignments --------------------------------------------------------------------------------

  private assignments(m: AgentAssignments): void {
    if (this.phase !== 'connected' || m.sessionId !== this.sessionId || m.seq <= this.lastSeq) return;
    if (!m.full && m.seq !== this.lastSeq + 1) {
      // A message was lost: everything again. Increments until then are dropped.
      if (!this.resyncAsked) this.askResync();
      return;
    }
    this.lastSeq = m.seq;
    // The task database follows the assignments (before they change this.tasks).
    const ops: KvOp[] = [];
    if (m.full) for (const taskId of this.tasks.keys()) if (!m.tasks.some((t) => t.id === taskId)) ops.push({ type: 'del', key: `${TASK_KEY}${taskId}` });
    for (const taskId of m.removedTasks) ops.push({ type: 'del', key: `${TASK_KEY}${taskId}` });
    for (const task of m.tasks) ops.push({ type: 'put', key: `${TASK_KEY}${task.id}`, value: encodeMessage(task) });
    this.persist(ops);
    if (m.full) {
      this.resyncAsked = false;
      this.ctx.cancelTimer('resync');
      const keep = new Set(m.tasks.map((t) => t.id));
      for (const taskId of [...this.tasks.keys()]) if (!keep.has(taskId)) this.unassign(taskId);
      this.secrets.clear();
      this.configs.clear();
    }
    for (const taskId of m.removedTasks) this.unassign(taskId);
    // The secrets and configs first: a new runner takes its task's files when it starts.
    for (const secret of m.secrets) this.secrets.set(secret.id, secret);
    for (const config of m.configs) this.configs.set(config.id, config);
    for (const task of m.tasks) this.assign(task);
    for (const id of m.removedSecrets) this.secrets.delete(id);
    for (const id of m.removedConfigs) this.configs.delete(id);
    if (m.full) {
      // What the executor held at the start and the first full set does not assign belongs to
      // tasks removed while this agent was away: stopped and removed, never left running.
      for (const workload of this.inventory.values()) this.reap(workload);
      this.inventoryOpen = false;
      this.inventory.clear();
    }
  }

  /** A one-off actor stops the workload (if it runs), then removes it, then ends. */
  private reap(workload: ExecutorWorkload): void {
    const executor = this.executor;
    const graceMs = this.stopGraceMs;
    this.ctx.spawn(`reap-${workload.id}`, {
      kind: 'reaper',
      create: (ctx) => ({
        started: () => {
          if (workload.running) ctx.send(executor, { type: 'executor.stop', id: workload.id, graceMs, replyTo: ctx.self } satisfies ExecutorRequest);
          else ctx.send(executor, { type: 'executor.remove', id: workload.id, replyTo: ctx.self } satisfies ExecutorRequest);
        },
        receive: (m: ExecutorReply) => {
          if (m.type === 'exec.stopped' || m.type === 'exec.stopFailed') ctx.send(executor, { type: 'executor.remove', id: workload.id, replyTo: ctx.self } satisfies ExecutorRequest);
          else if (m.type === 'exec.removed' || m.type === 'exec.removeFailed') ctx.stop();
        },
      }),
    });
  }

  private askResync(): void {
    this.resyncAsked = true;
    const resync: DispatcherResync = { type: 'dispatcher.resync', nodeId: this.options.nodeId, sessionId: this.sessionId };
    this.ctx.send(this.dispatcher(), resync);
    // Asked again if no full set comes within a period (the request or its answer may be lost too).
    this.ctx.setTimer('resync', this.heartbeatPeriodMs, { type: 'agent.resyncDue' } satisfies AgentPrivate);
  }

  private assign(task: Task): void {
    this.tasks.set(task.id, task);
    const runner = this.runners.get(task.id);
    if (runner === undefined) this.spawnRunner(task);
    else this.ctx.send(runner, { type: 'runner.update', desiredState: task.desiredState } satisfies RunnerUpdate);
  }

  private unassign(taskId: string): void {
    if (!this.tasks.delete(taskId)) return;
    const runner = this.runners.get(taskId);
    if (runner !== undefined) this.ctx.send(runner, { type: 'runner.remove' } satisfies RunnerRemove);
  }

  private spawnRunner(task: Task): void {
    // What the executor held at the agent's start, once: a later runner of this id starts afresh.
    const listed = this.inventory.get(task.id);
    this.inventory.delete(task.id);
    const workload = listed ?? (this.inventoryOpen ? null : undefined);
    const address = this.ctx.spawn(`task-${task.id}`, runnerActor((self) => ({
      task,
      workload,
      self,
      agent: this.ctx.self,
      executor: this.executor,
      stopGraceMs: this.stopGraceMs,
      blobs: { secret: (id) => this.secrets.get(id)?.spec.data, config: (id) => this.configs.get(id)?.spec.data },
    })));
    this.runners.set(task.id, address);
  }

  // ---- status reports -----------------------------------------------------------------------------

  private runnerStatus(m: RunnerStatus): void {
    const held = this.outstanding.get(m.taskId);
    if (held !== undefined && TASK_STATE_ORDER[held.status.state] >= TASK_STATE_ORDER[m.state]) return;
    const status: TaskStatus = { state: m.state, message: m.message, timestamp: this.ctx.env.clock.now(), err: m.err };
    this.outstanding.set(m.taskId, { status, reportSeq: 0 });
    if (!this.flushAsked) {
      // After the messages already queued: the changes of this turn go out together.
      this.flushAsked = true;
      this.ctx.send(this.ctx.self, { type: 'agent.flushStatus' } satisfies AgentPrivate);
    }
  }

  /** Sends every uncommitted change (if `all`, else only when one has not been sent yet). */
  private sendStatus(all: boolean): void {
    if (this.outstanding.size === 0) return;
    if (this.phase !== 'connected') return; // Sent when a session opens.
    let unsent = false;
    for (const o of this.outstanding.values()) if (o.reportSeq === 0) unsent = true;
    if (!all && !unsent) return;
    const reportSeq = ++this.reportSeq;
    const updates: TaskStatusUpdate[] = [];
    for (const [taskId, o] of this.outstanding) {
      if (o.reportSeq === 0) o.reportSeq = reportSeq;
      updates.push({ taskId, status: o.status });
    }
    const report: DispatcherStatus = { type: 'dispatcher.status', nodeId: this.options.nodeId, sessionId: this.sessionId, reportSeq, updates };
    this.ctx.send(this.dispatcher(), report);
    this.ctx.setTimer('statusResend', this.statusResendMs, { type: 'agent.statusResend' } satisfies AgentPrivate);
  }
}

function ignore(_message: never): void {}

/**
 * Messages an agent may hold: a burst of state changes from every runner (a few per task) must
 * fit, or a runner's send would fail.
 */
export const AGENT_MAILBOX_DEPTH_MAX = 65_536;

/** The agent, at `n/agent` on every node. */
export function agentActor(options: AgentOptions): Props<AgentMessage> {
  return { kind: 'agent', create: (ctx) => new Agent(options, ctx), mailboxDepthMax: AGENT_MAILBOX_DEPTH_MAX };
}

// The dispatcher (DESIGN.md section 6, step 4): the leader's end of every node's session. It opens
// sessions for agents that register, turns their heartbeats into node heartbeats, streams each
// node its assignments (its tasks, and only the secrets and configs those tasks reference) as a
// full set and then increments, and writes the task states agents report back into the journal.
//
// Work follows the change: committed events mark the tasks, secrets and configs they touch as
// dirty in the sessions that hold them (indexes kept as sessions fill), and only dirty items are
// looked at again. Reports are validated against the store, merged (the highest state per task)
// and proposed as one writer batch at a time; the agents learn by `agent.statusCommitted` which
// of their reports are done with.
import {
  BATCH_EVENTS_MAX, EVENT_VERSIONS, TASK_STATE_ORDER, kindOfEvent,
  type Config, type DesiredState, type JournalEvent, type Secret, type StoreReader, type Task, type TaskState, type TaskStatus,
} from '../../journal/index.js';
import type { ActorContext, Address, Behaviour, Props } from '../../runtime/index.js';
import type {
  AgentAssignments, AgentHeartbeatAck, AgentSession, AgentSessionRefused, AgentStatusCommitted, DispatcherHeartbeat,
  DispatcherInput, DispatcherRegister, DispatcherResync, DispatcherStatus, ManagerCommitted, NodeHeartbeat,
  NodeDescribed, NodeSessionOpened, WriterDone, WriterPropose,
} from './protocol.js';

export interface DispatcherOptions {
  /** This manager's node id (the leader's): the `leader` of every session it opens. */
  readonly nodeId: string;
  /** The store as this manager has applied it. */
  readonly view: () => StoreReader;
  readonly writer: Address;
  /** The leader's actor of a node, told of its sessions and heartbeats. */
  readonly nodeActor: (nodeId: string) => Address;
  /** Until the store holds a cluster object, whose `spec.dispatcher.heartbeatPeriodMs` then rules (and is followed as it changes). */
  readonly heartbeatPeriodMs: number;
  /** Status events per proposal; more wait for the next one. Default and most: BATCH_EVENTS_MAX (a journal batch's limit). */
  readonly statusBatchEventsMax?: number;
  /** A refused proposal is retried, what is still valid of it, after this long. Default 50 ms. */
  readonly retryDelayMs?: number;
  /** A proposal with no `writer.done` after this long counts as refused. Default 10,000 ms. */
  readonly proposalTimeoutMs?: number;
}

/** Observed states after which a task does nothing more on its node. */
const TERMINAL_OBSERVED: ReadonlySet<TaskState> = new Set<TaskState>(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned']);
/** Desired states that do not ask the node to run the task. */
const TERMINAL_DESIRED: ReadonlySet<DesiredState> = new Set<DesiredState>(['shutdown', 'remove', 'complete']);

/** A node's assignment set holds the tasks bound to it that are not both observed- and desired-terminal. */
export function isAssigned(task: Task, nodeId: string): boolean {
  return task.nodeId === nodeId && !(TERMINAL_OBSERVED.has(task.status.state) && TERMINAL_DESIRED.has(task.desiredState));
}

type BlobKind = 'secret' | 'config';
const BLOB_KINDS: readonly BlobKind[] = ['secret', 'config'];

/** One kind of blob (secrets or configs) as one session holds it. */
interface SessionBlobs {
  /** How many of the session's tasks reference each id. */
  readonly refs: Map<string, number>;
  /** What the agent was sent: id -> meta.version. */
  readonly sent: Map<string, number>;
  readonly dirty: Set<string>;
}

interface Session {
  readonly id: string;
  readonly nodeId: string;
  readonly agent: Address;
  /** The store's index when the session opened: a node status committed before it is old news. */
  readonly openedAtIndex: number;
  /** The seq of the last assignments message sent. */
  seq: number;
  /** `seq` when the previous heartbeat came: an agent still short of it a period later lost a message. */
  seqAtLastHeartbeat: number;
  /** The assignment set as the agent was sent it (the latest version of each task). */
  readonly tasks: Map<string, Task>;
  readonly dirtyTasks: Set<string>;
  readonly blobs: Readonly<Record<BlobKind, SessionBlobs>>;
}

/** What one session reported and is not proposed yet. */
interface PendingReports {
  readonly sessionId: string;
  readonly nodeId: string;
  readonly agent: Address;
  /** The highest reportSeq these updates cover. */
  reportSeq: number;
  readonly updates: Map<string, TaskStatus>;
}

interface InflightProposal {
  readonly token: string;
  /** taskId -> the update proposed, and the session that reported it (for a retry). */
  readonly updates: Map<string, { readonly sessionId: string; readonly nodeId: string; readonly agent: Address; readonly status: TaskStatus }>;
  /** Sessions whose reports are wholly in this proposal: acknowledged when it commits. */
  readonly covered: readonly { readonly sessionId: string; readonly nodeId: string; readonly agent: Address; readonly reportSeq: number }[];
}

type DispatcherPrivate =
  | { readonly type: 'dispatcher.flush' }
  | { readonly type: 'dispatcher.proposalTimeout'; readonly token: string };

export type DispatcherMessage = DispatcherInput | ManagerCommitted | WriterDone | DispatcherPrivate;

const rank = (state: TaskState): number => TASK_STATE_ORDER[state];

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** The parts of a task an agent acts on: a change of status alone is not sent back to the node that reported it. */
function sameForAgent(a: Task, b: Task): boolean {
  return a.desiredState === b.desiredState && a.nodeId === b.nodeId && a.serviceVersion === b.serviceVersion
    && sameValue(a.spec, b.spec) && sameValue(a.addresses, b.addresses);
}

function blobRefs(task: Task, kind: BlobKind): readonly { readonly id: string }[] {
  return kind === 'secret' ? task.spec.secrets : task.spec.configs;
}

class Dispatcher implements Behaviour<DispatcherMessage> {
  private readonly sessions = new Map<string, Session>();
  private readonly sessionsById = new Map<string, Session>();
  /** taskId -> the node whose session holds it. */
  private readonly taskHolder = new Map<string, string>();
  /** blob id -> the nodes whose sessions reference it. */
  private readonly blobHolders: Readonly<Record<BlobKind, Map<string, Set<string>>>> = { secret: new Map(), config: new Map() };
  /** Sessions with dirty items this turn. */
  private readonly touched = new Set<Session>();
  private readonly pending = new Map<string, PendingReports>();
  private inflight: InflightProposal | undefined;
  private flushScheduled = false;
  private proposals = 0;
  private readonly statusBatchEventsMax: number;
  private readonly retryDelayMs: number;
  private readonly proposalTimeoutMs: number;
  /** The period agents are told: the cluster's, or the option's while there is no cluster object. */
  private heartbeatPeriodMs: number;

  constructor(private readonly options: DispatcherOptions, private readonly ctx: ActorContext) {
    this.heartbeatPeriodMs = options.heartbeatPeriodMs;
    this.followClusterSpec();
    this.statusBatchEventsMax = Math.min(options.statusBatchEventsMax ?? BATCH_EVENTS_MAX, BATCH_EVENTS_MAX);
    this.retryDelayMs = options.retryDelayMs ?? 50;
    this.proposalTimeoutMs = options.proposalTimeoutMs ?? 10_000;
  }

  receive(message: DispatcherMessage): void {
    switch (message.type) {
      case 'dispatcher.register':
        return this.register(message);
      case 'dispatcher.heartbeat':
        return this.heartbeat(message);
      case 'dispatcher.status':
        return this.status(message);
      case 'dispatcher.resync':
        return this.resync(message);
      case 'dispatcher.describe': {
        const session = this.sessionOf(message);
        if (session !== undefined) this.ctx.send(this.options.nodeActor(session.nodeId), { type: 'node.described', description: message.description } satisfies NodeDescribed);
        return;
      }
      case 'manager.committed':
        return this.committed(message);
      case 'writer.done':
        return this.writerDone(message);
      case 'dispatcher.flush':
        this.flushScheduled = false;
        return this.flush();
      case 'dispatcher.proposalTimeout':
        if (this.inflight?.token === message.token) this.refused();
        return;
      default:
        // A message from the network is not trusted to be of the union: ignore what is not.
        return ignore(message);
    }
  }

  inspectState(): unknown {
    return { sessions: this.sessions.size, pendingReports: this.pending.size, inflight: this.inflight !== undefined };
  }

  /** Takes the heartbeat period from the cluster object, if the store has one. */
  private followClusterSpec(): void {
    const cluster = this.options.view().list('cluster')[0];
    if (cluster !== undefined) this.heartbeatPeriodMs = cluster.spec.dispatcher.heartbeatPeriodMs;
  }

  // ---- sessions -----------------------------------------------------------------------------------

  private register(m: DispatcherRegister): void {
    const node = this.options.view().get('node', m.nodeId);
    if (node === undefined) {
      this.ctx.send(m.replyTo, refusal(`node ${m.nodeId} is not a member of the cluster`, this.options.nodeId));
      return;
    }
    const previous = this.sessions.get(m.nodeId);
    if (previous !== undefined) this.close(previous);
    const blobs = (): SessionBlobs => ({ refs: new Map(), sent: new Map(), dirty: new Set() });
    const session: Session = {
      id: this.newSessionId(), nodeId: m.nodeId, agent: m.replyTo, openedAtIndex: this.options.view().index,
      seq: 0, seqAtLastHeartbeat: 0, tasks: new Map(), dirtyTasks: new Set(), blobs: { secret: blobs(), config: blobs() },
    };
    this.sessions.set(session.nodeId, session);
    this.sessionsById.set(session.id, session);
    const opened: AgentSession = { type: 'agent.session', sessionId: session.id, heartbeatPeriodMs: this.heartbeatPeriodMs, leader: this.options.nodeId };
    this.ctx.send(session.agent, opened);
    this.sendFull(session);
    const told: NodeSessionOpened = { type: 'node.sessionOpened', sessionId: session.id, description: m.description };
    this.ctx.send(this.options.nodeActor(session.nodeId), told);
  }

  private newSessionId(): string {
    for (;;) {
      const random = this.ctx.env.random;
      const id = random.uint32().toString(16).padStart(8, '0') + random.uint32().toString(16).padStart(8, '0');
      if (!this.sessionsById.has(id)) return id;
    }
  }

  /** The session a message names, or undefined after telling its sender to register again. */
  private sessionOf(m: { readonly nodeId: string; readonly sessionId: string }): Session | undefined {
    const session = this.sessionsById.get(m.sessionId);
    if (session !== undefined && session.nodeId === m.nodeId) return session;
    const sender = this.ctx.sender;
    if (sender !== undefined) this.ctx.send(sender, refusal(`no session ${m.sessionId} for node ${m.nodeId}`, this.options.nodeId));
    return undefined;
  }

  private heartbeat(m: DispatcherHeartbeat): void {
    const session = this.sessionOf(m);
    if (session === undefined) return;
    const ack: AgentHeartbeatAck = { type: 'agent.heartbeatAck', sessionId: session.id, heartbeatPeriodMs: this.heartbeatPeriodMs };
    this.ctx.send(session.agent, ack);
    const alive: NodeHeartbeat = { type: 'node.heartbeat', sessionId: session.id };
    this.ctx.send(this.options.nodeActor(session.nodeId), alive);
    // An agent still short of a seq sent a whole period ago lost it, and sees no gap unless
    // another increment comes: it gets the full set again.
    if (m.ackSeq < session.seqAtLastHeartbeat) this.sendFull(session);
    session.seqAtLastHeartbeat = session.seq;
  }

  private resync(m: DispatcherResync): void {
    const session = this.sessionOf(m);
    if (session !== undefined) this.sendFull(session);
  }

  private close(session: Session): void {
    this.sessions.delete(session.nodeId);
    this.sessionsById.delete(session.id);
    this.touched.delete(session);
    this.forget(session);
  }

  /** Drops the session's assignment set and its entries in the indexes. */
  private forget(session: Session): void {
    for (const taskId of session.tasks.keys()) if (this.taskHolder.get(taskId) === session.nodeId) this.taskHolder.delete(taskId);
    session.tasks.clear();
    session.dirtyTasks.clear();
    for (const kind of BLOB_KINDS) {
      const blobs = session.blobs[kind];
      for (const id of blobs.refs.keys()) this.unhold(kind, id, session.nodeId);
      blobs.refs.clear();
      blobs.sent.clear();
      blobs.dirty.clear();
    }
  }

  /** Closes the session of a node the store no longer has, or has marked down since the session opened. */
  private closeIfDown(nodeId: string): void {
    const session = this.sessions.get(nodeId);
    if (session === undefined) return;
    const node = this.options.view().get('node', nodeId);
    if (node === undefined || (node.status.state === 'down' && node.meta.version > session.openedAtIndex)) this.close(session);
  }

  // ---- assignments --------------------------------------------------------------------------------

  private sendFull(session: Session): void {
    const view = this.options.view();
    this.forget(session);
    const tasks: Task[] = [];
    for (const task of view.tasksByNode(session.nodeId)) {
      if (!isAssigned(task, session.nodeId)) continue;
      this.addTask(session, task);
      tasks.push(task);
    }
    const secrets: Secret[] = [];
    const configs: Config[] = [];
    for (const kind of BLOB_KINDS) {
      const blobs = session.blobs[kind];
      blobs.dirty.clear();
      for (const id of [...blobs.refs.keys()].sort()) {
        const blob = view.get(kind, id);
        if (blob === undefined) continue;
        blobs.sent.set(id, blob.meta.version);
        (kind === 'secret' ? secrets : configs).push(blob);
      }
    }
    this.touched.delete(session);
    this.sendAssignments(session, { full: true, tasks, removedTasks: [], secrets, removedSecrets: [], configs, removedConfigs: [] });
  }

  /** Sends the session what changed of its dirty items, if anything did. */
  private sendIncrement(session: Session): void {
    const view = this.options.view();
    const tasks: Task[] = [];
    const removedTasks: string[] = [];
    for (const taskId of [...session.dirtyTasks].sort()) {
      const task = view.get('task', taskId);
      const sent = session.tasks.get(taskId);
      if (task !== undefined && isAssigned(task, session.nodeId)) {
        if (sent === undefined) {
          this.addTask(session, task);
          tasks.push(task);
        } else {
          if (!sameForAgent(sent, task)) tasks.push(task);
          session.tasks.set(taskId, task);
        }
      } else if (sent !== undefined) {
        this.dropTask(session, sent);
        removedTasks.push(taskId);
      }
    }
    session.dirtyTasks.clear();
    const changed = { secret: [] as Secret[], config: [] as Config[] };
    const removed = { secret: [] as string[], config: [] as string[] };
    for (const kind of BLOB_KINDS) {
      const blobs = session.blobs[kind];
      for (const id of [...blobs.dirty].sort()) {
        const blob = blobs.refs.has(id) ? view.get(kind, id) : undefined;
        const sentVersion = blobs.sent.get(id);
        if (blob !== undefined) {
          if (sentVersion !== blob.meta.version) {
            blobs.sent.set(id, blob.meta.version);
            (changed[kind] as (Secret | Config)[]).push(blob);
          }
        } else if (sentVersion !== undefined) {
          blobs.sent.delete(id);
          removed[kind].push(id);
        }
      }
      blobs.dirty.clear();
    }
    if (tasks.length + removedTasks.length + changed.secret.length + removed.secret.length + changed.config.length + removed.config.length === 0) return;
    this.sendAssignments(session, {
      full: false, tasks, removedTasks, secrets: changed.secret, removedSecrets: removed.secret, configs: changed.config, removedConfigs: removed.config,
    });
  }

  private sendAssignments(session: Session, content: Omit<AgentAssignments, 'type' | 'sessionId' | 'seq'>): void {
    session.seq++;
    const message: AgentAssignments = { type: 'agent.assignments', sessionId: session.id, seq: session.seq, ...content };
    this.ctx.send(session.agent, message);
  }

  private addTask(session: Session, task: Task): void {
    session.tasks.set(task.id, task);
    this.taskHolder.set(task.id, session.nodeId);
    for (const kind of BLOB_KINDS) for (const ref of blobRefs(task, kind)) this.reference(session, kind, ref.id, +1);
  }

  private dropTask(session: Session, task: Task): void {
    session.tasks.delete(task.id);
    if (this.taskHolder.get(task.id) === session.nodeId) this.taskHolder.delete(task.id);
    for (const kind of BLOB_KINDS) for (const ref of blobRefs(task, kind)) this.reference(session, kind, ref.id, -1);
  }

  private reference(session: Session, kind: BlobKind, id: string, delta: 1 | -1): void {
    const blobs = session.blobs[kind];
    const before = blobs.refs.get(id) ?? 0;
    const after = before + delta;
    if (after > 0) blobs.refs.set(id, after);
    else blobs.refs.delete(id);
    if (before === 0 && after > 0) {
      let holders = this.blobHolders[kind].get(id);
      if (holders === undefined) this.blobHolders[kind].set(id, (holders = new Set()));
      holders.add(session.nodeId);
      blobs.dirty.add(id);
    } else if (before > 0 && after === 0) {
      this.unhold(kind, id, session.nodeId);
      blobs.dirty.add(id);
    }
  }

  private unhold(kind: BlobKind, id: string, nodeId: string): void {
    const holders = this.blobHolders[kind].get(id);
    if (holders === undefined) return;
    holders.delete(nodeId);
    if (holders.size === 0) this.blobHolders[kind].delete(id);
  }

  private committed(m: ManagerCommitted): void {
    if (m.restored) {
      this.followClusterSpec();
      // The store was replaced by a snapshot: every session starts over from it.
      for (const session of [...this.sessions.values()]) {
        this.closeIfDown(session.nodeId);
        if (this.sessions.get(session.nodeId) === session) this.sendFull(session);
      }
      return;
    }
    const view = this.options.view();
    for (const event of m.events) this.markDirty(event, view);
    for (const session of this.touched) this.sendIncrement(session);
    this.touched.clear();
  }

  /** Marks what `event` touched in the sessions that hold it or, for a task, that it is bound to. */
  private markDirty(event: JournalEvent, view: StoreReader): void {
    switch (kindOfEvent(event)) {
      case 'task': {
        // Only a session can be marked: with none open (no agent connected), a task's change
        // concerns nobody here, and the store is not read for it.
        if (this.sessions.size === 0) return;
        const taskId = (event as { readonly id: string }).id;
        const holder = this.taskHolder.get(taskId);
        if (holder !== undefined) this.dirtyTask(holder, taskId);
        const boundTo = view.get('task', taskId)?.nodeId;
        if (boundTo !== undefined && boundTo !== '' && boundTo !== holder) this.dirtyTask(boundTo, taskId);
        return;
      }
      case 'secret':
      case 'config': {
        const kind = kindOfEvent(event) as BlobKind;
        const id = (event as { readonly id: string }).id;
        for (const nodeId of this.blobHolders[kind].get(id) ?? []) {
          const session = this.sessions.get(nodeId);
          if (session === undefined) continue;
          session.blobs[kind].dirty.add(id);
          this.touched.add(session);
        }
        return;
      }
      case 'node':
        if (event.type === 'node.statusChanged' || event.type === 'node.removed') this.closeIfDown(event.id);
        return;
      case 'cluster':
        // Agents learn a new period from their next heartbeat's ack.
        this.followClusterSpec();
        return;
      default:
        return;
    }
  }

  private dirtyTask(nodeId: string, taskId: string): void {
    const session = this.sessions.get(nodeId);
    if (session === undefined) return;
    session.dirtyTasks.add(taskId);
    this.touched.add(session);
  }

  // ---- status reports -----------------------------------------------------------------------------

  private status(m: DispatcherStatus): void {
    const session = this.sessionOf(m);
    if (session === undefined) return;
    let reports = this.pending.get(session.id);
    if (reports === undefined) {
      reports = { sessionId: session.id, nodeId: session.nodeId, agent: session.agent, reportSeq: m.reportSeq, updates: new Map() };
      this.pending.set(session.id, reports);
    }
    reports.reportSeq = Math.max(reports.reportSeq, m.reportSeq);
    for (const update of m.updates) {
      if (!this.isValidReport(session.nodeId, update.taskId, update.status)) continue;
      const held = reports.updates.get(update.taskId);
      if (held === undefined || rank(update.status.state) > rank(held.state)) reports.updates.set(update.taskId, update.status);
    }
    if (!this.flushScheduled) {
      // After the messages already queued: their reports join this proposal.
      this.flushScheduled = true;
      this.ctx.send(this.ctx.self, { type: 'dispatcher.flush' } satisfies DispatcherPrivate);
    }
  }

  /** The task exists, is bound to the reporting node, and the report moves its state forward. */
  private isValidReport(nodeId: string, taskId: string, status: TaskStatus): boolean {
    const task = this.options.view().get('task', taskId);
    return task !== undefined && task.nodeId === nodeId && rank(status.state) > rank(task.status.state);
  }

  /** Proposes what is pending, unless a proposal is in flight (its end flushes again). */
  private flush(): void {
    if (this.inflight !== undefined || this.pending.size === 0) return;
    const updates: InflightProposal['updates'] = new Map();
    const covered: Array<InflightProposal['covered'][number]> = [];
    for (const reports of [...this.pending.values()]) {
      let whole = true;
      for (const [taskId, status] of reports.updates) {
        // Checked again: the store moves on while reports wait.
        if (!this.isValidReport(reports.nodeId, taskId, status)) {
          reports.updates.delete(taskId);
          continue;
        }
        const held = updates.get(taskId);
        if (held === undefined && updates.size >= this.statusBatchEventsMax) {
          whole = false;
          continue;
        }
        if (held === undefined || rank(status.state) > rank(held.status.state)) {
          updates.set(taskId, { sessionId: reports.sessionId, nodeId: reports.nodeId, agent: reports.agent, status });
        }
        reports.updates.delete(taskId);
      }
      if (whole) {
        covered.push({ sessionId: reports.sessionId, nodeId: reports.nodeId, agent: reports.agent, reportSeq: reports.reportSeq });
        this.pending.delete(reports.sessionId);
      }
    }
    if (updates.size === 0) {
      // Nothing left to write (all stale): the reports are done with.
      this.acknowledge(covered);
      return;
    }
    const at = this.ctx.env.clock.now();
    const events: JournalEvent[] = [];
    for (const [taskId, { status }] of updates) {
      events.push({ type: 'task.statusChanged', v: EVENT_VERSIONS['task.statusChanged'], at, id: taskId, status, expectedVersion: null });
    }
    const token = `status-${++this.proposals}`;
    this.inflight = { token, updates, covered };
    const propose: WriterPropose = { type: 'writer.propose', token, events, replyTo: this.ctx.self };
    this.ctx.send(this.options.writer, propose);
    this.ctx.setTimer('proposal', this.proposalTimeoutMs, { type: 'dispatcher.proposalTimeout', token } satisfies DispatcherPrivate);
  }

  private writerDone(m: WriterDone): void {
    const inflight = this.inflight;
    if (inflight === undefined || inflight.token !== m.token) return;
    if (!m.ok) {
      this.refused();
      return;
    }
    this.inflight = undefined;
    this.ctx.cancelTimer('proposal');
    this.acknowledge(inflight.covered);
    this.flush();
  }

  /**
   * A refused batch is refused whole: what is still valid of it goes back to the pending reports,
   * and is proposed again after a pause (a writer without a quorum refuses again at once).
   */
  private refused(): void {
    const inflight = this.inflight;
    if (inflight === undefined) return;
    this.inflight = undefined;
    this.ctx.cancelTimer('proposal');
    const back = (sessionId: string, nodeId: string, agent: Address): PendingReports => {
      let reports = this.pending.get(sessionId);
      if (reports === undefined) {
        reports = { sessionId, nodeId, agent, reportSeq: 0, updates: new Map() };
        this.pending.set(sessionId, reports);
      }
      return reports;
    };
    for (const c of inflight.covered) {
      const reports = back(c.sessionId, c.nodeId, c.agent);
      reports.reportSeq = Math.max(reports.reportSeq, c.reportSeq);
    }
    for (const [taskId, u] of inflight.updates) {
      if (!this.isValidReport(u.nodeId, taskId, u.status)) continue;
      const reports = back(u.sessionId, u.nodeId, u.agent);
      const held = reports.updates.get(taskId);
      if (held === undefined || rank(u.status.state) > rank(held.state)) reports.updates.set(taskId, u.status);
    }
    this.flushScheduled = true;
    this.ctx.setTimer('retry', this.retryDelayMs, { type: 'dispatcher.flush' } satisfies DispatcherPrivate);
  }

  private acknowledge(covered: InflightProposal['covered']): void {
    for (const c of covered) {
      const committed: AgentStatusCommitted = { type: 'agent.statusCommitted', sessionId: c.sessionId, reportSeq: c.reportSeq };
      this.ctx.send(c.agent, committed);
    }
  }
}

function refusal(reason: string, leader: string): AgentSessionRefused {
  return { type: 'agent.sessionRefused', reason, leader };
}

function ignore(_message: never): void {}

/** The dispatcher, at `m/orchestration/dispatcher` on the leader. It keeps no state that the store does not: a new leader's agents register again. */
export function dispatcherActor(options: DispatcherOptions): Props<DispatcherMessage> {
  // Every node's heartbeats and reports land here; a remote message that finds it full is dropped
  // (the agents resend), a local one (the manager's feed) must fit.
  return { kind: 'dispatcher', create: (ctx) => new Dispatcher(options, ctx), mailboxDepthMax: 65_536 };
}

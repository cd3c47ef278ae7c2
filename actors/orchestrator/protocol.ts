// The orchestration's messages (DESIGN.md sections 5 and 6): how the leader's actors learn of
// committed events and leadership, how they propose, and how a node's agent talks with the
// leader's dispatcher. Every message is a plain, CBOR-able object; addresses are runtime addresses.
//
// Addresses on a manager `m` (all children of `m/orchestration` while `m` leads, none otherwise):
//   m/orchestration             the supervisor: subscribes to the manager, spawns and routes
//   m/orchestration/writer      batches every actor's proposals into few Raft entries
//   m/orchestration/service-<id>, node-<id>, scheduler, allocator, dispatcher, reaper
//   m/task/<id>                 virtual task actors, activated on demand
// On every node `n` (managers too): n/agent, the worker side (a simulated one in the simulator,
// the real one in actors/agent).
import type { Config, JournalEvent, NodeDescription, Secret, Task, TaskStatus } from '../../journal/index.js';
import type { Address } from '../../runtime/index.js';

// ---- the manager's feed (actors/cluster/manager.ts) --------------------------------------------

/** Sent to the manager actor: every later apply turn is reported to `replyTo`. */
export interface ManagerSubscribe {
  readonly type: 'manager.subscribe';
  readonly replyTo: Address;
}

/**
 * One apply turn's committed events, in order (entries the store refused are left out), up to
 * `index`. `restored`: a snapshot was installed first, so a subscriber rebuilds from the store
 * rather than from these events.
 */
export interface ManagerCommitted {
  readonly type: 'manager.committed';
  readonly index: number;
  readonly events: readonly JournalEvent[];
  readonly restored: boolean;
}

/**
 * Leadership as the manager sees it: `leader` turns true once this manager leads and has applied
 * an entry of its own term (so its store holds everything committed before it), false as soon as
 * it stops leading.
 */
export interface ManagerLeadership {
  readonly type: 'manager.leadership';
  readonly leader: boolean;
  readonly term: number;
  /** The leader Raft knows of ('' if none): where a non-leading manager sends agents. Also sent when only it changes. */
  readonly leaderNode: string;
}

// ---- proposals (the writer) ----------------------------------------------------------------------

/** An actor's events, proposed together with whatever else the writer holds this turn. */
export interface WriterPropose {
  readonly type: 'writer.propose';
  /** Echoed in the reply; unique per requester. */
  readonly token: string;
  readonly events: readonly JournalEvent[];
  readonly replyTo: Address;
  /**
   * A service's plan (new tasks, shutdowns): written after the proposals that move tasks already
   * in the pipeline on (allocation, placement, status), which go first. See writer.ts.
   */
  readonly plan?: boolean;
}

/** The events applied (`ok`), or were not (`error`: a store conflict, or no entry was committed). */
export interface WriterDone {
  readonly type: 'writer.done';
  readonly token: string;
  readonly ok: boolean;
  readonly index: number;
  readonly error: { readonly code: string; readonly message: string } | null;
}

// ---- dispatcher and agents ---------------------------------------------------------------------

/** Agent -> dispatcher: open (or reopen) the node's session. */
export interface DispatcherRegister {
  readonly type: 'dispatcher.register';
  readonly nodeId: string;
  readonly description: NodeDescription;
  readonly replyTo: Address;
}

/** Agent -> dispatcher, every heartbeat period (with jitter): the session is alive; assignments up to `ackSeq` arrived. */
export interface DispatcherHeartbeat {
  readonly type: 'dispatcher.heartbeat';
  readonly nodeId: string;
  readonly sessionId: string;
  readonly ackSeq: number;
}

export interface TaskStatusUpdate {
  readonly taskId: string;
  readonly status: TaskStatus;
}

/**
 * Agent -> dispatcher: observed task states, batched. Resent (same `reportSeq`, or merged into a
 * later one) until `agent.statusCommitted` covers it.
 */
export interface DispatcherStatus {
  readonly type: 'dispatcher.status';
  readonly nodeId: string;
  readonly sessionId: string;
  readonly reportSeq: number;
  readonly updates: readonly TaskStatusUpdate[];
}

/** Agent -> dispatcher: a gap in the assignment stream; send the full set again. */
export interface DispatcherResync {
  readonly type: 'dispatcher.resync';
  readonly nodeId: string;
  readonly sessionId: string;
}

/** Agent -> dispatcher: the node's description changed during the session (resources, engine labels, ...). */
export interface DispatcherDescribe {
  readonly type: 'dispatcher.describe';
  readonly nodeId: string;
  readonly sessionId: string;
  readonly description: NodeDescription;
}

export type DispatcherInput = DispatcherRegister | DispatcherHeartbeat | DispatcherStatus | DispatcherResync | DispatcherDescribe;

/** Dispatcher -> agent: the session is open; heartbeat every `heartbeatPeriodMs`. */
export interface AgentSession {
  readonly type: 'agent.session';
  readonly sessionId: string;
  readonly heartbeatPeriodMs: number;
  /** The dispatcher's node (the leader). */
  readonly leader: string;
}

/**
 * Dispatcher -> agent: the node's tasks (bound to it and not both observed-terminal and
 * desired-terminal), and the secrets and configs those tasks reference, nothing else. `full`:
 * this is the whole set (replace); otherwise an increment over `seq - 1`. An agent that sees a gap
 * in `seq` asks for `dispatcher.resync`.
 */
export interface AgentAssignments {
  readonly type: 'agent.assignments';
  readonly sessionId: string;
  readonly seq: number;
  readonly full: boolean;
  readonly tasks: readonly Task[];
  readonly removedTasks: readonly string[];
  readonly secrets: readonly Secret[];
  readonly removedSecrets: readonly string[];
  readonly configs: readonly Config[];
  readonly removedConfigs: readonly string[];
}

export interface AgentHeartbeatAck {
  readonly type: 'agent.heartbeatAck';
  readonly sessionId: string;
  readonly heartbeatPeriodMs: number;
}

/** Dispatcher -> agent: reports up to `reportSeq` are committed (or were refused as stale: either way, do not resend). */
export interface AgentStatusCommitted {
  readonly type: 'agent.statusCommitted';
  readonly sessionId: string;
  readonly reportSeq: number;
}

/** Dispatcher -> agent: no such session here (not the leader, or it expired): register again, at `leader` if known ('' if not). */
export interface AgentSessionRefused {
  readonly type: 'agent.sessionRefused';
  readonly reason: string;
  readonly leader: string;
}

export type AgentInput = AgentSession | AgentAssignments | AgentHeartbeatAck | AgentStatusCommitted | AgentSessionRefused;

// ---- heartbeats to node actors -------------------------------------------------------------------

/** Dispatcher -> node actor: the node's session is alive (its deadline restarts). */
export interface NodeHeartbeat {
  readonly type: 'node.heartbeat';
  readonly sessionId: string;
}

/** Dispatcher -> node actor: the node's agent sent a new description during its session. */
export interface NodeDescribed {
  readonly type: 'node.described';
  readonly description: NodeDescription;
}

/** Dispatcher -> node actor: a session opened (the node registered, perhaps with a new description). */
export interface NodeSessionOpened {
  readonly type: 'node.sessionOpened';
  readonly sessionId: string;
  readonly description: NodeDescription;
}

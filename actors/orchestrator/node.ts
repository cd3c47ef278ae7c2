// The node actor (DESIGN.md section 6, step 4): one per node on the leader. Its liveness is a
// deadline that every heartbeat restarts (a timer, never a poll): a node whose agent keeps its
// session is `ready`; one that misses about three heartbeat periods is `down`, and the service
// actors then move its tasks elsewhere. A new leader starts every deadline afresh, so nodes whose
// heartbeats went to the old leader are not declared down for it.
import { assign, cancel, enqueueActions, raise, setup } from 'xstate';
import { EVENT_VERSIONS, sameValue, type NodeState, type StoreReader } from '../../journal/index.js';
import { fromMachine, restart, sendMessage, type ActorContext, type Address, type Props } from '../../runtime/index.js';
import type { NodeDescribed, NodeHeartbeat, NodeSessionOpened, WriterDone, WriterPropose } from './protocol.js';

/** Missed heartbeat periods before a node is down (SwarmKit's grace multiplier). */
export const HEARTBEAT_GRACE_PERIODS = 3;

export type NodeActorInput = NodeHeartbeat | NodeSessionOpened | NodeDescribed | WriterDone | { readonly type: 'node.changed' } | { readonly type: 'node.deadline' };

export interface NodeActorOptions {
  readonly nodeId: string;
  readonly view: () => StoreReader;
  readonly writer: Address;
  /** The cluster's dispatcher heartbeat period now (it may change while the actor lives). */
  readonly heartbeatPeriodMs: () => number;
}

interface NodeContext {
  readonly nodeId: string;
  readonly ctx: ActorContext;
  readonly view: () => StoreReader;
  readonly writer: Address;
  readonly timeoutMs: () => number;
  /** The token of the status proposal in flight, '' for none. */
  inflight: string;
  proposals: number;
}

/** The status proposal the liveness state calls for, unless the store has it or a proposal is out. */
function proposal(context: NodeContext, want: NodeState, message: string): WriterPropose | undefined {
  if (context.inflight !== '') return undefined;
  const node = context.view().get('node', context.nodeId);
  if (node === undefined || node.status.state === want) return undefined;
  const now = context.ctx.env.clock.now();
  return {
    type: 'writer.propose', token: `${context.nodeId}/${context.proposals + 1}`, replyTo: context.ctx.self,
    events: [{ type: 'node.statusChanged', v: EVENT_VERSIONS['node.statusChanged'], at: now, id: context.nodeId, status: { ...node.status, state: want, message }, expectedVersion: node.meta.version }],
  };
}

export const nodeMachine = setup({
  types: {} as { context: NodeContext; events: NodeActorInput; input: Omit<NodeContext, 'inflight' | 'proposals'> },
  actions: {
    armDeadline: enqueueActions(({ context, enqueue }) => {
      enqueue(cancel('deadline'));
      enqueue(raise({ type: 'node.deadline' } as const, { id: 'deadline', delay: context.timeoutMs() }));
    }),
    syncReady: enqueueActions(({ context, enqueue }) => {
      const p = proposal(context, 'ready', 'heartbeat received');
      if (p === undefined) return;
      enqueue.assign({ inflight: p.token, proposals: context.proposals + 1 });
      enqueue(sendMessage(context.writer, p));
    }),
    syncDown: enqueueActions(({ context, enqueue }) => {
      const p = proposal(context, 'down', 'heartbeat failure');
      if (p === undefined) return;
      enqueue.assign({ inflight: p.token, proposals: context.proposals + 1 });
      enqueue(sendMessage(context.writer, p));
    }),
    // A session brings the agent's description of its node: a changed one is written (resources,
    // platform and engine labels are what the scheduler places by). Not retried if refused: the
    // agent's next session brings it again.
    syncDescription: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'node.sessionOpened' && event.type !== 'node.described') return;
      const node = context.view().get('node', context.nodeId);
      if (node === undefined || sameValue(node.description, event.description)) return;
      enqueue.assign({ proposals: context.proposals + 1 });
      enqueue(sendMessage(context.writer, {
        type: 'writer.propose', token: `${context.nodeId}/description-${context.proposals + 1}`, replyTo: context.ctx.self,
        events: [{ type: 'node.descriptionChanged', v: EVENT_VERSIONS['node.descriptionChanged'], at: context.ctx.env.clock.now(), id: context.nodeId, description: event.description, expectedVersion: null }],
      } satisfies WriterPropose));
    }),
    settle: assign(({ context, event }) => (event.type === 'writer.done' && event.token === context.inflight ? { inflight: '' } : {})),
  },
}).createMachine({
  id: 'node',
  initial: 'unknown',
  context: ({ input }) => ({ ...input, inflight: '', proposals: 0 }),
  entry: 'armDeadline',
  on: {
    'node.heartbeat': { target: '.alive', actions: 'armDeadline' },
    'node.sessionOpened': { target: '.alive', actions: ['armDeadline', 'syncDescription'] },
    'node.described': { actions: 'syncDescription' },
    'node.deadline': '.expired',
  },
  states: {
    // Leadership just began: no heartbeat yet, the deadline running.
    unknown: {},
    alive: {
      entry: 'syncReady',
      on: {
        'writer.done': { actions: ['settle', 'syncReady'] },
        'node.changed': { actions: 'syncReady' },
      },
    },
    expired: {
      entry: 'syncDown',
      on: {
        'writer.done': { actions: ['settle', 'syncDown'] },
        'node.changed': { actions: 'syncDown' },
      },
    },
  },
});

export function nodeActor(options: NodeActorOptions): Props {
  return fromMachine({
    kind: 'node',
    machine: nodeMachine,
    input: (ctx) => ({ nodeId: options.nodeId, ctx, view: options.view, writer: options.writer, timeoutMs: () => options.heartbeatPeriodMs() * HEARTBEAT_GRACE_PERIODS }),
    supervision: restart({ backoffMinMs: 100, backoffMaxMs: 5_000 }),
  });
}

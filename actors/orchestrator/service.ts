// The service actor (DESIGN.md section 6, step 1): one per service on the leader, an xstate
// machine that plans (reconcile.ts, then the update planner) whenever its service or tasks change
// or a wake-up it asked for comes due, proposes the plan through the writer, and plans again once
// that proposal is decided. One proposal at a time: a change that arrives meanwhile is noted and
// planned after, against a store that then holds the proposal's effect, so nothing is proposed
// twice. Everything it knows is read from the store at each plan: a restart loses nothing.
import { assign, cancel, enqueueActions, raise, setup } from 'xstate';
import { BATCH_EVENTS_MAX, EVENT_VERSIONS, type JournalEvent, type StoreReader } from '../../journal/index.js';
import { fromMachine, restart, sendMessage, type ActorContext, type Address, type Props } from '../../runtime/index.js';
import { objectId } from './ids.js';
import type { WriterDone, WriterPropose } from './protocol.js';
import { dependencyHold } from './dependencies.js';
import { isJob, reconcile, type ReconcilePlan } from './reconcile.js';
import { planUpdate } from './update.js';

/** After a refused proposal, the next plan waits this long. */
const RETRY_MS = 200;

export type ServiceActorInput = { readonly type: 'service.changed' } | { readonly type: 'service.wake' } | WriterDone;

export interface ServicePlanResult {
  readonly events: readonly JournalEvent[];
  readonly wakeAt: number | null;
}

/**
 * Reconcile, then the update planner on the slots reconcile left alone. A service held by its
 * dependencies (dependencies.ts) has no task, so the reconciler, which would only create its
 * first ones, is skipped; it is planned again when a dependency changes (the supervisor's index).
 */
export function planService(reader: StoreReader, serviceId: string, now: number, newTaskId: () => string): ServicePlanResult {
  const service = reader.get('service', serviceId);
  // The reconciler orders what it needs to (slots, ages): no sort of every task here.
  const tasks = reader.tasksByServiceInStoreOrder(serviceId);
  const cluster = reader.list('cluster')[0];
  const node = (id: string) => reader.get('node', id);
  const held = service !== undefined && tasks.length === 0 && dependencyHold(service, reader) !== null;
  const plan: ReconcilePlan = held ? { events: [], wakeAt: null, touched: new Set(), slots: new Map() } : reconcile({
    service, tasks, node, nodes: () => reader.list('node'), now, newTaskId,
    historyLimit: cluster?.spec.orchestration.taskHistoryRetentionLimit ?? 5,
  });
  if (service === undefined) return { events: plan.events, wakeAt: plan.wakeAt };
  if (isJob(service)) {
    // A job does not roll: its new spec runs as the next run. A rollback recorded by the API
    // (the spec swapped back) is complete as soon as it is recorded.
    const status = service.updateStatus;
    if (status !== null && (status.state === 'updating' || status.state === 'rollbackStarted')) {
      const state = status.state === 'updating' ? 'completed' : 'rollbackCompleted';
      plan.events.push({
        type: 'service.updateStatusChanged', v: EVENT_VERSIONS['service.updateStatusChanged'], at: now, id: service.id,
        updateStatus: { ...status, state, completedAt: now, message: `${status.message}; a job runs its spec in force as its next run` }, expectedVersion: service.meta.version,
      });
    }
    return { events: plan.events, wakeAt: plan.wakeAt };
  }
  const update = planUpdate({ service, slots: plan.slots, touched: plan.touched, node, nodes: () => reader.list('node'), now, newTaskId });
  const events = plan.events.length === 0 ? update.events : [...plan.events, ...update.events];
  const wakes = [plan.wakeAt, update.wakeAt].filter((w): w is number => w !== null);
  return { events, wakeAt: wakes.length === 0 ? null : Math.min(...wakes) };
}

export interface ServiceActorOptions {
  readonly serviceId: string;
  readonly view: () => StoreReader;
  readonly writer: Address;
  /** Called after every plan (benchmarks: a new leader has reconciled once every service has planned). */
  readonly onPlan?: () => void;
}

interface ServiceContext {
  readonly serviceId: string;
  readonly ctx: ActorContext;
  readonly view: () => StoreReader;
  readonly writer: Address;
  readonly onPlan: (() => void) | undefined;
  /** A change arrived while a proposal was in flight. */
  dirty: boolean;
  token: string;
  events: readonly JournalEvent[];
  wakeAt: number | null;
  proposals: number;
  /** The service is gone and so are its tasks: the actor's work is done. */
  finished: boolean;
}

export const serviceMachine = setup({
  types: {} as { context: ServiceContext; events: ServiceActorInput; input: Omit<ServiceContext, 'dirty' | 'token' | 'events' | 'wakeAt' | 'proposals' | 'finished'> },
  actions: {
    plan: assign(({ context }) => {
      const now = context.ctx.env.clock.now();
      const result = planService(context.view(), context.serviceId, now, () => objectId(context.ctx.env.random));
      const events = result.events.length > BATCH_EVENTS_MAX ? result.events.slice(0, BATCH_EVENTS_MAX) : result.events;
      const reader = context.view();
      const finished = reader.get('service', context.serviceId) === undefined && reader.tasksByService(context.serviceId).length === 0;
      context.onPlan?.();
      return { events, wakeAt: result.wakeAt, dirty: false, finished };
    }),
    propose: enqueueActions(({ context, enqueue }) => {
      const token = `${context.serviceId}/${context.proposals + 1}`;
      enqueue.assign({ token, proposals: context.proposals + 1 });
      enqueue(sendMessage(context.writer, { type: 'writer.propose', token, events: context.events, replyTo: context.ctx.self, plan: true } satisfies WriterPropose));
    }),
    armWake: enqueueActions(({ context, enqueue }) => {
      enqueue(cancel('wake'));
      if (context.wakeAt === null) return;
      const delay = Math.max(0, context.wakeAt - context.ctx.env.clock.now());
      enqueue(raise({ type: 'service.wake' } as const, { id: 'wake', delay }));
    }),
    markDirty: assign({ dirty: true }),
    finished: enqueueActions(({ context, enqueue }) => {
      const parent = context.ctx.parent;
      if (parent !== undefined) enqueue(sendMessage(parent, { type: 'orchestration.serviceFinished', serviceId: context.serviceId }));
    }),
  },
  delays: { retry: RETRY_MS },
  guards: {
    hasEvents: ({ context }) => context.events.length > 0,
    finished: ({ context }) => context.finished,
    ours: ({ context, event }) => event.type === 'writer.done' && event.token === context.token,
    oursAndOk: ({ context, event }) => event.type === 'writer.done' && event.token === context.token && event.ok,
  },
}).createMachine({
  id: 'service',
  initial: 'planning',
  context: ({ input }) => ({ ...input, dirty: false, token: '', events: [], wakeAt: null, proposals: 0, finished: false }),
  states: {
    idle: {
      on: {
        'service.changed': 'planning',
        'service.wake': 'planning',
      },
    },
    planning: {
      entry: ['plan', 'armWake'],
      always: [
        { guard: 'hasEvents', target: 'writing', actions: 'propose' },
        { guard: 'finished', target: 'done' },
        { target: 'idle' },
      ],
    },
    writing: {
      on: {
        'service.changed': { actions: 'markDirty' },
        'service.wake': { actions: 'markDirty' },
        // Applied with nothing new meanwhile: plan once more all the same (the proposal's own
        // effect may call for a next step, e.g. a replacement after a shutdown).
        'writer.done': [
          { guard: 'oursAndOk', target: 'planning' },
          { guard: 'ours', target: 'backoff' },
        ],
      },
    },
    // Refused (a conflict with a change it had not seen, or no leader to commit it): plan again
    // shortly, from the store as it then is.
    backoff: {
      after: { retry: { target: 'planning' } },
    },
    // The service and its tasks are gone: the supervisor stops this actor (unless a change came meanwhile).
    done: {
      entry: 'finished',
      on: { 'service.changed': 'planning' },
    },
  },
});

export function serviceActor(options: ServiceActorOptions): Props {
  return fromMachine({
    kind: 'service',
    machine: serviceMachine,
    input: (ctx) => ({ serviceId: options.serviceId, ctx, view: options.view, writer: options.writer, onPlan: options.onPlan }),
    mailboxDepthMax: 10_000,
    // Changes arriving together are one: the plan reads the store, not the messages.
    coalesce: (messages) => {
      const out = [];
      let changed = false;
      for (const m of messages) {
        if (m.type === 'service.changed') {
          if (changed) continue;
          changed = true;
        }
        out.push(m);
      }
      return out;
    },
    supervision: restart({ backoffMinMs: 100, backoffMaxMs: 5_000 }),
  });
}

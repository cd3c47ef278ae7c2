// The allocator actor (DESIGN.md section 6, step 2): the shell of the Allocator core, on the leader
// as m/orchestration/allocator. It builds the core from the store when it starts, follows the
// committed events the supervisor forwards (manager.committed), and proposes what the core plans
// through the writer: service.endpointAllocated for services whose endpoint is missing or no
// longer fits their spec, task.allocated (addresses, state pending) for new tasks.
//
// One proposal per turn, batching everything, and at most one in flight: what comes meanwhile is
// planned in the next turn after the writer answers. A proposal that did not apply (a version
// conflict, a lost leader, no answer in time) leaves the core holding what the journal does not:
// the core is rebuilt from the store, after a backoff, and plans again what is still needed. A
// task that cannot be allocated stays new, nothing written, with its reason in the core's pending
// map (shown by inspection), and is tried again once something is freed.
import {
  BATCH_EVENTS_MAX, EVENT_VERSIONS,
  type JournalEvent, type ServiceEndpointAllocated, type StoreReader, type TaskAllocated,
} from '../../journal/index.js';
import { assertNever, type ActorContext, type Address, type Behaviour, type Props } from '../../runtime/index.js';
import type { ManagerCommitted, WriterDone, WriterPropose } from '../orchestrator/protocol.js';
import { Allocator, type AllocationPlan, type AllocatorOptions } from './allocator.js';

export interface AllocatorActorOptions {
  /** The store as it is now (the manager replaces it when it installs a snapshot). */
  readonly view: () => StoreReader;
  /** The writer (m/orchestration/writer). */
  readonly writer: Address;
  /** Port range and address pool of the core. */
  readonly allocator?: AllocatorOptions;
  /** Allocations in one proposal at most (the writer's limit, BATCH_EVENTS_MAX, at most); the rest follow in the next. Default BATCH_EVENTS_MAX. */
  readonly proposalEventsMax?: number;
  /** A proposal without an answer this long is taken as failed. Default 30,000 ms. */
  readonly proposalTimeoutMs?: number;
  /** After a failed proposal the core is rebuilt and planning resumes after this long, doubled per failure in a row. Default 50 ms. */
  readonly retryBackoffMinMs?: number;
  /** Default 5,000 ms. */
  readonly retryBackoffMaxMs?: number;
}

/** The actor's own timers. */
export type AllocatorTimer =
  | { readonly type: 'allocator.retry' }
  | { readonly type: 'allocator.proposalTimeout'; readonly token: string };

export type AllocatorInput = ManagerCommitted | WriterDone | AllocatorTimer;

/** Reasons shown by inspection, at most this many of each kind. */
const INSPECT_PENDING_MAX = 50;

/**
 * A plan as events: service.endpointAllocated and task.allocated (status pending, 'allocated', at
 * `at`), each expecting the version of the object the plan read.
 */
export function allocationEvents(plan: AllocationPlan, at: number): JournalEvent[] {
  const events: JournalEvent[] = [];
  for (const { service, endpoint } of plan.services) {
    events.push({
      type: 'service.endpointAllocated', v: EVENT_VERSIONS['service.endpointAllocated'], at,
      id: service.id, endpoint, expectedVersion: service.meta.version,
    } satisfies ServiceEndpointAllocated);
  }
  for (const { task, addresses } of plan.tasks) {
    events.push({
      type: 'task.allocated', v: EVENT_VERSIONS['task.allocated'], at,
      id: task.id, addresses, status: { state: 'pending', message: 'allocated', timestamp: at, err: '' }, expectedVersion: task.meta.version,
    } satisfies TaskAllocated);
  }
  return events;
}

function firstEntries(map: ReadonlyMap<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [id, reason] of map) {
    if (Object.keys(out).length >= INSPECT_PENDING_MAX) break;
    out[id] = reason;
  }
  return out;
}

export function allocatorActor(options: AllocatorActorOptions): Props<AllocatorInput> {
  const eventsMax = Math.min(options.proposalEventsMax ?? BATCH_EVENTS_MAX, BATCH_EVENTS_MAX);
  const timeoutMs = options.proposalTimeoutMs ?? 30_000;
  const backoffMinMs = options.retryBackoffMinMs ?? 50;
  const backoffMaxMs = options.retryBackoffMaxMs ?? 5_000;
  return {
    kind: 'allocator',
    mailboxDepthMax: 100_000,
    create: (ctx: ActorContext): Behaviour<AllocatorInput> => {
      let core = new Allocator(options.allocator);
      /** The store index the core reflects: committed feeds up to it are in already. */
      let builtAt = 0;
      /** Tokens of this incarnation: a late answer to an earlier incarnation's proposal never matches. */
      const tokenPrefix = `allocator-${ctx.env.random.uint32().toString(36)}-`;
      let proposals = 0;
      let inflight: string | null = null;
      /** After a failure: the core holds what the journal may not; rebuilt when the backoff ends. */
      let stale = false;
      let failuresInRow = 0;
      let lastError: { readonly code: string; readonly message: string } | null = null;

      const rebuild = (): void => {
        const reader = options.view();
        core = Allocator.fromStore(reader, options.allocator);
        builtAt = reader.index;
      };

      const failed = (error: { readonly code: string; readonly message: string }): void => {
        inflight = null;
        lastError = error;
        failuresInRow++;
        stale = true;
        ctx.cancelTimer('proposalTimeout');
        const delayMs = Math.min(backoffMaxMs, backoffMinMs * 2 ** Math.min(failuresInRow - 1, 30));
        ctx.setTimer('retry', delayMs, { type: 'allocator.retry' } satisfies AllocatorTimer);
      };

      /** Plans and proposes, unless a proposal is in flight or the core awaits its rebuild. */
      const flush = (): void => {
        if (inflight !== null || stale || !core.hasWork()) return;
        const plan = core.allocate(options.view(), eventsMax);
        const events = allocationEvents(plan, ctx.env.clock.now());
        if (events.length === 0) return;
        const token = `${tokenPrefix}${++proposals}`;
        inflight = token;
        ctx.send(options.writer, { type: 'writer.propose', token, events, replyTo: ctx.self } satisfies WriterPropose);
        ctx.setTimer('proposalTimeout', timeoutMs, { type: 'allocator.proposalTimeout', token } satisfies AllocatorTimer);
      };

      const handle = (m: AllocatorInput): void => {
        switch (m.type) {
          case 'manager.committed':
            if (stale) return;
            if (m.restored) return rebuild();
            if (m.index <= builtAt) return;
            core.apply(m.events);
            builtAt = m.index;
            return;
          case 'writer.done':
            if (m.token !== inflight) return;
            if (!m.ok) return failed(m.error ?? { code: 'NOT_APPLIED', message: `proposal ${m.token} was not applied` });
            inflight = null;
            failuresInRow = 0;
            ctx.cancelTimer('proposalTimeout');
            return;
          case 'allocator.proposalTimeout':
            if (m.token !== inflight) return;
            return failed({ code: 'PROPOSAL_TIMEOUT', message: `no answer from the writer to proposal ${m.token} within ${timeoutMs} ms` });
          case 'allocator.retry':
            if (!stale) return;
            stale = false;
            return rebuild();
          default:
            return assertNever(m, 'allocator message');
        }
      };

      return {
        started: () => {
          rebuild();
          flush();
        },
        receive: (m) => {
          handle(m);
          flush();
        },
        receiveMany: (messages) => {
          for (const m of messages) handle(m);
          flush();
        },
        inspectState: () => ({
          builtAt,
          inflight,
          stale,
          failuresInRow,
          lastError,
          pendingServices: firstEntries(core.pendingServices()),
          pendingTasks: firstEntries(core.pendingTasks()),
          pendingTaskCount: core.pendingTasks().size,
        }),
      };
    },
  };
}

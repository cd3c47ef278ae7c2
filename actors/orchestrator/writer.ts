// The writer: every orchestration actor's proposals go through it, so that a flood of task
// changes becomes few Raft entries (DESIGN.md section 5). Proposals that arrive in one turn are
// flushed together at the next, as one entry of at most BATCH_EVENTS_MAX events, with a few entries
// in flight at once (pipelined). A batch is applied whole or refused whole by the store; when an
// entry of several proposals is refused, each proposal is tried again on its own, so one stale
// proposal does not sink the others; a proposal refused on its own gets the store's error.
//
// Two lanes. Proposals that move tasks already in the pipeline on (allocation, placement, status
// reports, node state) go before services' plans (new tasks, shutdowns), which wait while the
// first lane has work, but never more than ADVANCE_RUN_MAX entries in a row. Work in progress is
// finished before new work starts: a burst of plans (a thousand services created at once) flows
// through allocation and placement a plan at a time instead of queueing every creation ahead of
// every assignment, so tasks are placed sooner and the objects of each stage die young (see
// bench/README.md, "Orchestration at scale"). First in, first out within a lane.
import { BATCH_EVENTS_MAX, encodeBatch, type JournalEvent } from '../../journal/index.js';
import { assert, type ActorContext, type Address, type Props } from '../../runtime/index.js';
import type { ManagerInput, ManagerReply } from '../cluster/manager.js';
import { objectId } from './ids.js';
import type { WriterDone, WriterPropose } from './protocol.js';

type WriterInput = WriterPropose | ManagerReply | { readonly type: 'writer.flush' };

interface Proposal {
  readonly token: string;
  readonly events: readonly JournalEvent[];
  readonly replyTo: Address;
  /** Refused once with others: propose it alone now. */
  readonly alone: boolean;
}

export interface WriterOptions {
  /** The manager actor. */
  readonly manager: Address;
  /** Entries in flight at once. */
  readonly inflightMax?: number;
}

export interface WriterStats {
  entries: number;
  events: number;
  refused: number;
}

const INFLIGHT_MAX_DEFAULT = 4;
/** Entries taken from the first lane in a row while plans wait, before a plan goes. */
export const ADVANCE_RUN_MAX = 4;

export function writerActor(options: WriterOptions, stats?: WriterStats): Props<WriterInput> {
  const inflightMax = options.inflightMax ?? INFLIGHT_MAX_DEFAULT;
  return {
    kind: 'writer',
    mailboxDepthMax: 100_000,
    create: (ctx: ActorContext) => {
      /** Proposals that move tasks on; services' plans (see the two lanes above). */
      let queue: Proposal[] = [];
      const plans: Proposal[] = [];
      /** Entries taken from `queue` since the last plan. */
      let advanceRun = 0;
      const inflight = new Map<string, Proposal[]>();
      let flushArmed = false;

      const reply = (p: Proposal, done: Omit<WriterDone, 'type' | 'token'>): void => {
        ctx.send(p.replyTo, { type: 'writer.done', token: p.token, ...done } satisfies WriterDone);
      };

      const arm = (): void => {
        if (flushArmed || (queue.length === 0 && plans.length === 0) || inflight.size >= inflightMax) return;
        flushArmed = true;
        ctx.setTimer('flush', 0, { type: 'writer.flush' });
      };

      const flush = (): void => {
        while ((queue.length > 0 || plans.length > 0) && inflight.size < inflightMax) {
          const advance = queue.length > 0 && (plans.length === 0 || advanceRun < ADVANCE_RUN_MAX);
          const from = advance ? queue : plans;
          advanceRun = advance ? advanceRun + 1 : 0;
          const take: Proposal[] = [];
          let events = 0;
          while (from.length > 0) {
            const next = from[0]!;
            if (take.length > 0 && (next.alone || take[0]!.alone || events + next.events.length > BATCH_EVENTS_MAX)) break;
            take.push(from.shift()!);
            events += next.events.length;
          }
          const all: JournalEvent[] = [];
          for (const p of take) for (const e of p.events) all.push(e);
          const opId = objectId(ctx.env.random);
          inflight.set(opId, take);
          if (stats) {
            stats.entries++;
            stats.events += all.length;
          }
          ctx.send(options.manager, { type: 'manager.write', command: { op: 'events', opId, batch: encodeBatch(all) }, replyTo: ctx.self } satisfies ManagerInput);
        }
      };

      return {
        receive: (m: WriterInput) => {
          switch (m.type) {
            case 'writer.propose':
              if (m.events.length === 0) {
                ctx.send(m.replyTo, { type: 'writer.done', token: m.token, ok: true, index: 0, error: null } satisfies WriterDone);
                return;
              }
              assert(m.events.length <= BATCH_EVENTS_MAX, () => `a proposal of ${m.events.length} events is over the batch limit ${BATCH_EVENTS_MAX}: split it`);
              (m.plan === true ? plans : queue).push({ token: m.token, events: m.events, replyTo: m.replyTo, alone: false });
              arm();
              return;
            case 'writer.flush':
              flushArmed = false;
              flush();
              arm();
              return;
            case 'manager.applied': {
              const took = inflight.get(m.opId);
              if (took === undefined) return;
              inflight.delete(m.opId);
              if (m.refused === null) {
                for (const p of took) reply(p, { ok: true, index: m.index, error: null });
              } else if (took.length === 1) {
                if (stats) stats.refused++;
                reply(took[0]!, { ok: false, index: m.index, error: m.refused });
              } else {
                // Each on its own, ahead of newer proposals (their order is kept).
                queue = [...took.map((p) => ({ ...p, alone: true })), ...queue];
              }
              arm();
              return;
            }
            case 'manager.failed': {
              const took = inflight.get(m.opId);
              if (took === undefined) return;
              inflight.delete(m.opId);
              for (const p of took) reply(p, { ok: false, index: 0, error: { code: m.code, message: m.message } });
              arm();
              return;
            }
            default:
              return;
          }
        },
      };
    },
  };
}

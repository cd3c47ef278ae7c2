// The writer: every orchestration actor's proposals go through it, so that a flood of task
// changes becomes few Raft entries (DESIGN.md section 5). Proposals that arrive in one turn are
// flushed together at the next, as one entry of at most BATCH_EVENTS_MAX events, with a few entries
// in flight at once (pipelined). A batch is applied whole or refused whole by the store; when an
// entry of several proposals is refused, each proposal is tried again on its own, so one stale
// proposal does not sink the others; a proposal refused on its own gets the store's error.
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

export function writerActor(options: WriterOptions, stats?: WriterStats): Props<WriterInput> {
  const inflightMax = options.inflightMax ?? INFLIGHT_MAX_DEFAULT;
  return {
    kind: 'writer',
    mailboxDepthMax: 100_000,
    create: (ctx: ActorContext) => {
      let queue: Proposal[] = [];
      const inflight = new Map<string, Proposal[]>();
      let flushArmed = false;

      const reply = (p: Proposal, done: Omit<WriterDone, 'type' | 'token'>): void => {
        ctx.send(p.replyTo, { type: 'writer.done', token: p.token, ...done } satisfies WriterDone);
      };

      const arm = (): void => {
        if (flushArmed || queue.length === 0 || inflight.size >= inflightMax) return;
        flushArmed = true;
        ctx.setTimer('flush', 0, { type: 'writer.flush' });
      };

      const flush = (): void => {
        while (queue.length > 0 && inflight.size < inflightMax) {
          const take: Proposal[] = [];
          let events = 0;
          while (queue.length > 0) {
            const next = queue[0]!;
            if (take.length > 0 && (next.alone || take[0]!.alone || events + next.events.length > BATCH_EVENTS_MAX)) break;
            take.push(queue.shift()!);
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
              queue.push({ token: m.token, events: m.events, replyTo: m.replyTo, alone: false });
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

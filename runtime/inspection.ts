import type { Address } from './address.js';

/**
 * The runtime's inspection stream: one typed event per actor lifecycle change, delivery, dead
 * letter and state change. The simulator's trace and the visualizer both read this one stream.
 * Events are produced only while someone listens, so an uninspected system pays one branch.
 */
export type InspectionEvent =
  | { type: 'actor.started'; at: number; address: Address; kind: string; incarnation: number; activated: boolean }
  | { type: 'actor.stopped'; at: number; address: Address; reason: StopReason }
  | { type: 'actor.failed'; at: number; address: Address; error: string; directive: FailureDirective }
  | { type: 'actor.restarted'; at: number; address: Address; incarnation: number; restartsInWindow: number }
  /** `depth`: the messages still queued for `to` after this one was taken (its mailbox depth). */
  | { type: 'message.delivered'; at: number; from: Address | undefined; to: Address; message: unknown; depth: number }
  | { type: 'message.deadLetter'; at: number; from: Address | undefined; to: Address; message: unknown; reason: DeadLetterReason }
  | { type: 'snapshot.changed'; at: number; address: Address; state: unknown };

export type InspectionListener = (event: InspectionEvent) => void;

/** Every kind of inspection event, for a client's filter (`GET /inspect?kinds=`) to be checked against. */
export const INSPECTION_EVENT_TYPES = [
  'actor.started', 'actor.stopped', 'actor.failed', 'actor.restarted', 'message.delivered', 'message.deadLetter', 'snapshot.changed',
] as const satisfies readonly InspectionEvent['type'][];

// A kind added to the union and not to the list fails to compile here.
type UnlistedInspectionEventType = Exclude<InspectionEvent['type'], (typeof INSPECTION_EVENT_TYPES)[number]>;
const inspectionEventTypesListed: [UnlistedInspectionEventType] extends [never] ? true : never = true;
void inspectionEventTypesListed;

export type StopReason = 'requested' | 'parentStopped' | 'failed' | 'gaveUp' | 'passivated' | 'completed' | 'systemShutdown' | 'restarting';

/** What a supervisor decided for a failed child. */
export type FailureDirective = 'restart' | 'stop' | 'escalate' | 'gaveUp';

export type DeadLetterReason =
  | 'noSuchActor'
  | 'actorStopped'
  | 'mailboxFull'
  | 'droppedNewest'
  | 'droppedOldest'
  | 'lateReply'
  | 'systemHalted';

export interface DeadLetter {
  readonly at: number;
  readonly from: Address | undefined;
  readonly to: Address;
  readonly message: unknown;
  readonly reason: DeadLetterReason;
}

/** The type tag of a message, for traces and logs; messages are discriminated unions. */
export function messageType(message: unknown): string | undefined {
  if (typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string') {
    return (message as { type: string }).type;
  }
  return undefined;
}

/**
 * An inspection event as a compact, deterministic, plain-data record: what the simulator's trace
 * writes (one JSON line each) and what a live node streams to the visualizer. `t` is the Env
 * clock's time; `kind` is the event's type (an actor's own kind is `actorKind`). No session ids
 * and no wall time, so a seed's records are the same on every run.
 */
export function inspectionRecord(node: string, event: InspectionEvent): Record<string, unknown> {
  switch (event.type) {
    case 'actor.started':
      return { t: event.at, node, kind: event.type, address: event.address, actorKind: event.kind, incarnation: event.incarnation, activated: event.activated };
    case 'message.delivered':
      return { t: event.at, node, kind: event.type, from: event.from ?? null, to: event.to, message: event.message, depth: event.depth };
    case 'message.deadLetter':
      return { t: event.at, node, kind: event.type, from: event.from ?? null, to: event.to, type: messageType(event.message) ?? null, reason: event.reason };
    case 'snapshot.changed':
      return { t: event.at, node, kind: event.type, address: event.address, state: event.state };
    default: {
      const { type, at, ...rest } = event;
      return { t: at, node, kind: type, ...rest };
    }
  }
}

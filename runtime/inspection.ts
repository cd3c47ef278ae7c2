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
  | { type: 'message.delivered'; at: number; from: Address | undefined; to: Address; message: unknown }
  | { type: 'message.deadLetter'; at: number; from: Address | undefined; to: Address; message: unknown; reason: DeadLetterReason }
  | { type: 'snapshot.changed'; at: number; address: Address; state: unknown };

export type InspectionListener = (event: InspectionEvent) => void;

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

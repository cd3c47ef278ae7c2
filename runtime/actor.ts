import type { Address } from './address.js';
import type { Env } from './env/types.js';
import type { OverflowPolicy } from './mailbox.js';
import type { SupervisionStrategy } from './supervision.js';
import type { AnyStateMachine } from 'xstate';
import type { StopReason } from './inspection.js';

/**
 * What an actor does with its messages. `receive` runs to completion, one message at a time. A
 * thrown error (or a rejected promise returned by `receive`) is a failure handed to the
 * supervisor; the behaviour is then discarded and, on restart, created anew by `Props.create`.
 */
export interface Behaviour<M = unknown> {
  receive(message: M, ctx: ActorContext): void | Promise<void>;
  /**
   * Optional: several queued messages in one turn, in mailbox order (at most the actor's
   * throughput per run). The system calls it instead of `receive` when more than one message is
   * queued; `ctx.sender` is then undefined. A failure fails the whole turn, as in `receive`.
   */
  receiveMany?(messages: readonly M[], ctx: ActorContext): void;
  /** After creation (at start and after every restart), before the first message. */
  started?(ctx: ActorContext): void;
  /** On stop or before a restart. Children are already stopped. */
  stopped?(ctx: ActorContext, reason: StopReason): void;
  /** A child stopped for good (not for a restart). */
  childStopped?(child: Address, reason: StopReason, ctx: ActorContext): void;
  /** A short, serializable view of the behaviour's state for inspection (e.g. a state value). */
  inspectState?(): unknown;
}

export interface Props<M = unknown> {
  /** A label for inspection and the visualizer: 'raft', 'service', 'task', ... */
  readonly kind: string;
  /** Creates the behaviour at start and at every restart. */
  readonly create: (ctx: ActorContext) => Behaviour<M>;
  readonly mailboxDepthMax?: number;
  readonly overflow?: OverflowPolicy;
  /** How this actor's parent handles its failures (default: restart with backoff). */
  readonly supervision?: SupervisionStrategy;
  /** The xstate machine the behaviour runs, if it runs one (`fromMachine`): its statechart for inspection. */
  readonly machine?: AnyStateMachine;
}

export interface AskOptions {
  /** Measured on the Env clock. Default 5,000 ms. */
  readonly timeoutMs?: number;
}

/** A virtual actor kind: a message to `<prefix>/<name>` activates the actor on demand. */
export interface VirtualKind {
  /** Builds the actor for `name`; its `create` is the loader that rebuilds its state. */
  readonly activate: (name: string) => Props;
  /** Passivated after this long without a message. */
  readonly idleMs: number;
}

/** An actor's view of the runtime, valid for the actor's whole life (across restarts). */
export interface ActorContext {
  readonly self: Address;
  readonly nodeId: string;
  readonly parent: Address | undefined;
  /** The sender of the message being handled, if it was sent by an actor. */
  readonly sender: Address | undefined;
  readonly env: Env;
  send(to: Address, message: unknown): void;
  /** Request/reply: `build(replyTo)` makes the request; the first message sent to replyTo is the reply. */
  ask<R = unknown>(to: Address, build: (replyTo: Address) => unknown, options?: AskOptions): Promise<R>;
  spawn<M>(name: string, props: Props<M>): Address;
  /**
   * Spawns a child home for a virtual kind: a message to `<home>/<name>` activates the actor from
   * `kind.activate(name)`, which is passivated after `kind.idleMs` idle. Stopping the home stops
   * its active actors and ends the kind.
   */
  spawnVirtual(name: string, kind: VirtualKind): Address;
  /** Stops a child, or this actor itself when no address is given. Children stop first. */
  stop(child?: Address): void;
  children(): Address[];
  /** Delivers `message` to this actor after `delayMs`; a timer with the same key is replaced. */
  setTimer(key: string, delayMs: number, message: unknown): void;
  cancelTimer(key: string): void;
}

/** A plain behaviour from a function, for actors with no state machine. */
export function plain<M>(kind: string, receive: (message: M, ctx: ActorContext) => void, options: Omit<Props<M>, 'kind' | 'create'> = {}): Props<M> {
  const behaviour: Behaviour<M> = { receive };
  return { kind, create: () => behaviour, ...options };
}

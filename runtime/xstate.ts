import { type AnyActor, type AnyStateMachine, type EventObject, type InputFrom, createActor, emit } from 'xstate';
import type { ActorContext, Behaviour, Props } from './actor.js';
import type { Address } from './address.js';
import { InvariantViolation } from './errors.js';
import type { Cell } from './system.js';
import type { OverflowPolicy } from './mailbox.js';
import type { SupervisionStrategy } from './supervision.js';

/**
 * Runs an xstate v5 machine as an actor's behaviour. Machines stay pure: to send a message they
 * emit `{ type: 'runtime.send', to, message }` (see `sendMessage`), and the adapter routes it
 * through the runtime. Delayed events run on the Env clock as turns of this actor, so they are
 * ordered with its messages and replayed exactly by the simulator. An actor that enters `error`
 * is a failure for its supervisor; one that reaches a final state stops.
 */
export const RUNTIME_SEND = 'runtime.send';

export interface RuntimeSendEvent extends EventObject {
  readonly type: typeof RUNTIME_SEND;
  readonly to: Address;
  readonly message: unknown;
}

/**
 * An xstate action that sends `message` to `to` through the runtime. Name the context and event
 * types for typed access: `sendMessage<Ctx, PingEvent>(({ event }) => event.replyTo, ...)`. The
 * action is typed `never` so that it fits any machine's action slot.
 */
export function sendMessage<TContext = unknown, TEvent extends EventObject = EventObject, TMessage extends { readonly type: string } = { readonly type: string }>(
  to: Address | ((args: { context: TContext; event: TEvent }) => Address),
  message: ((args: { context: TContext; event: TEvent }) => unknown) | TMessage,
): never {
  type Args = { context: TContext; event: TEvent };
  const expression = (args: Args): RuntimeSendEvent => ({
    type: RUNTIME_SEND,
    to: typeof to === 'function' ? to(args) : to,
    message: typeof message === 'function' ? (message as (args: Args) => unknown)(args) : message,
  });
  return emit(expression as never) as never;
}

export interface MachineProps<TMachine extends AnyStateMachine> {
  readonly kind: string;
  readonly machine: TMachine;
  /** The machine's input, built at every (re)start: the place to load state from the store. */
  readonly input?: (ctx: ActorContext) => InputFrom<TMachine>;
  readonly mailboxDepthMax?: number;
  readonly overflow?: OverflowPolicy;
  readonly supervision?: SupervisionStrategy;
  /**
   * Optional: merges a run of queued messages into fewer events (e.g. many proposals into one
   * event that carries them all), in order. With it, the actor takes every queued run of
   * messages in one turn and sends the machine the merged events: one macrostep per merged
   * event instead of one per message. Without it, one message is one event.
   */
  readonly coalesce?: (messages: readonly EventObject[]) => readonly EventObject[];
}

export function fromMachine<TMachine extends AnyStateMachine>(options: MachineProps<TMachine>): Props<EventObject> {
  assertDelayedEventsHaveIds(options.machine);
  const { kind, machine, input, coalesce, ...rest } = options;
  if (coalesce === undefined) return { kind, machine, create: (ctx) => new MachineBehaviour(machine, ctx, input), ...rest };
  return { kind, machine, create: (ctx) => new CoalescingMachineBehaviour(machine, ctx, input, coalesce), ...rest };
}

const IGNORE_ERRORS = { error: (): void => undefined };

class MachineBehaviour<TMachine extends AnyStateMachine> implements Behaviour<EventObject> {
  protected readonly actor: AnyActor;
  private readonly cell: Cell;
  private failed = false;

  constructor(machine: TMachine, ctx: ActorContext, input: ((ctx: ActorContext) => InputFrom<TMachine>) | undefined) {
    this.cell = ctx as Cell;
    // The behaviour is its machine's clock: delayed events become timers of this actor on the
    // Env clock, and run as its turns. The snapshot is checked after every turn.
    this.actor = createActor(machine, {
      clock: this,
      ...(input === undefined ? {} : { input: input(ctx) }),
    } as never) as AnyActor;
    // Without an error observer xstate rethrows an actor's error from a global timer; `check`
    // hands it to the supervisor instead.
    this.actor.subscribe(IGNORE_ERRORS);
    this.actor.on('*', (emitted: EventObject) => {
      if (emitted.type === RUNTIME_SEND) {
        const send = emitted as RuntimeSendEvent;
        ctx.send(send.to, send.message);
      }
    });
  }

  setTimeout(fn: () => void, delayMs: number): string { // allow-ambient: this actor's clock, on the Env
    const extras = this.cell.extras();
    const key = `$xstate${++extras.anonymousTimers}`;
    this.cell.system.setCellTimer(this.cell, key, delayMs, {
      kind: 'fn',
      fn: () => {
        fn();
        this.check();
      },
    });
    return key;
  }

  clearTimeout(id: unknown): void {
    this.cell.system.cancelCellTimer(this.cell, id as string);
  }

  started(): void {
    this.actor.start();
    this.check();
  }

  receive(message: EventObject): void {
    this.actor.send(message);
    this.check();
  }

  stopped(): void {
    this.actor.stop();
  }

  inspectState(): unknown {
    return this.actor.getSnapshot().value;
  }

  /** Hands an `error` to the supervisor (by throwing inside the turn); a final state stops the actor. */
  protected check(): void {
    const snapshot = this.actor.getSnapshot();
    if (snapshot.status === 'active' || this.failed) return;
    if (snapshot.status === 'error') {
      this.failed = true;
      throw snapshot.error;
    }
    if (snapshot.status === 'done') this.cell.system.stopCell(this.cell, 'completed');
  }
}

class CoalescingMachineBehaviour<TMachine extends AnyStateMachine> extends MachineBehaviour<TMachine> {
  constructor(
    machine: TMachine,
    ctx: ActorContext,
    input: ((ctx: ActorContext) => InputFrom<TMachine>) | undefined,
    private readonly coalesce: (messages: readonly EventObject[]) => readonly EventObject[],
  ) {
    super(machine, ctx, input);
  }

  receiveMany(messages: readonly EventObject[]): void {
    for (const event of this.coalesce(messages)) {
      this.actor.send(event);
      // An error stops the machine: the events after it would go nowhere.
      if (this.actor.getSnapshot().status !== 'active') break;
    }
    this.check();
  }
}

/**
 * xstate gives a delayed raise/sendTo without an id a random id (allow-ambient: xstate's); the simulator needs every
 * timer named. `after` transitions are named by xstate itself. Actions built inside
 * enqueueActions cannot be seen here; the rule still applies to them.
 */
function assertDelayedEventsHaveIds(machine: AnyStateMachine): void {
  const visit = (node: { id: string; entry: unknown[]; exit: unknown[]; transitions: Map<string, Array<{ actions: readonly unknown[] }>>; states: Record<string, unknown> }): void => {
    const actions: unknown[] = [...node.entry, ...node.exit];
    for (const transitions of node.transitions.values()) for (const t of transitions) actions.push(...t.actions);
    for (const action of actions) {
      if (typeof action !== 'function') continue;
      const a = action as unknown as { type?: string; delay?: unknown; id?: unknown };
      if ((a.type === 'xstate.raise' || a.type === 'xstate.sendTo') && a.delay !== undefined && a.id === undefined) {
        throw new InvariantViolation(`machine ${machine.id}: a delayed ${a.type} in state ${node.id} needs an explicit id`);
      }
    }
    for (const child of Object.values(node.states)) visit(child as typeof node);
  };
  visit(machine.root as never);
}

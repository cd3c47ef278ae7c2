// The agent's executor actor (`n/agent/executor`): the one owner of the node's Executor effects.
// Task runners are pure machines: they ask for an effect by message, and the outcome comes back
// to them as a message when the executor's promise settles. The actor holds no state that a
// callback could touch: a settled promise only sends.
import { MailboxFullError, executorFailure, type ActorContext, type Address, type Executor, type Props } from '../../runtime/index.js';
import type { ExecutorReply, ExecutorRequest } from './messages.js';

/** A reply that met a full mailbox is offered again after this long. */
const REDELIVER_MS = 20;

type ExecutorActorMessage = ExecutorRequest | { readonly type: 'executor.redeliver'; readonly to: Address; readonly reply: ExecutorReply };

type Failure = ReturnType<typeof executorFailure>;

class ExecutorBehaviour {
  constructor(private readonly executor: Executor, private readonly ctx: ActorContext) {}

  receive(m: ExecutorActorMessage): void {
    const executor = this.executor;
    switch (m.type) {
      case 'executor.prepare':
        return this.call(m.replyTo, () => executor.prepare(m.spec), () => ({ type: 'exec.prepared' }), (f) => ({ type: 'exec.prepareFailed', ...f }));
      case 'executor.start':
        return this.call(m.replyTo, () => executor.start(m.id), () => ({ type: 'exec.started' }), (f) => ({ type: 'exec.startFailed', ...f }));
      case 'executor.wait':
        return this.call(m.replyTo, () => executor.wait(m.id), (exit) => ({ type: 'exec.exited', exitCode: exit.exitCode, message: exit.message }), (f) => ({ type: 'exec.waitFailed', ...f }));
      case 'executor.stop':
        return this.call(m.replyTo, () => executor.stop(m.id, m.graceMs), () => ({ type: 'exec.stopped' }), (f) => ({ type: 'exec.stopFailed', ...f }));
      case 'executor.remove':
        return this.call(m.replyTo, () => executor.remove(m.id), () => ({ type: 'exec.removed' }), (f) => ({ type: 'exec.removeFailed', ...f }));
      case 'executor.list':
        return this.call(m.replyTo, () => executor.list(), (workloads) => ({ type: 'exec.listed', workloads }), (f) => ({ type: 'exec.listFailed', ...f }));
      case 'executor.health':
        return this.call(m.replyTo, () => (executor.health === undefined ? Promise.resolve('none' as const) : executor.health(m.id)), (health) => ({ type: 'exec.health', health }), (f) => ({ type: 'exec.healthFailed', ...f }));
      case 'executor.redeliver':
        return this.deliver(m.to, m.reply);
      default:
        return ignore(m);
    }
  }

  private call<T>(replyTo: Address, effect: () => Promise<T>, done: (value: T) => ExecutorReply, failed: (f: Failure) => ExecutorReply): void {
    let promise: Promise<T>;
    try {
      promise = effect();
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (value) => this.deliver(replyTo, done(value)),
      (error: unknown) => this.deliver(replyTo, failed(executorFailure(error))),
    );
  }

  /** Sends a reply; one that meets a full mailbox (a busy runner) waits and is offered again, never lost or thrown out of a callback. */
  private deliver(to: Address, reply: ExecutorReply): void {
    try {
      this.ctx.send(to, reply);
    } catch (error) {
      if (!(error instanceof MailboxFullError)) throw error;
      // Keyed by recipient and kind: a runner awaits at most one reply of each kind.
      this.ctx.setTimer(`redeliver:${to}:${reply.type}`, REDELIVER_MS, { type: 'executor.redeliver', to, reply } satisfies ExecutorActorMessage);
    }
  }
}

function ignore(_message: never): void {}

/** The executor actor over `executor`. */
export function executorActor(executor: Executor): Props<ExecutorActorMessage> {
  // Each runner has at most one request queued here: the bound is the tasks a node may hold.
  return { kind: 'executor', create: (ctx) => new ExecutorBehaviour(executor, ctx), mailboxDepthMax: 65_536 };
}

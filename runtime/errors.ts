// Typed errors of the runtime: one class per condition a caller can meet, each with a stable
// `code`. Errors that cross a process travel as `{ code, message }` (see `toWire`), never by
// `instanceof`. Bugs are not typed errors: they are `InvariantViolation`s from `assert`.

export abstract class RuntimeError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
  toWire(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** A send to a local actor whose bounded mailbox is full and whose overflow policy is 'fail'. */
export class MailboxFullError extends RuntimeError {
  readonly code = 'MAILBOX_FULL';
  constructor(readonly address: string, readonly mailboxDepthMax: number) {
    super(`mailbox of ${address} is full (${mailboxDepthMax} messages)`);
  }
}

/** No reply arrived within the timeout, measured on the Env clock. */
export class AskTimeoutError extends RuntimeError {
  readonly code = 'ASK_TIMEOUT';
  constructor(readonly target: string, readonly timeoutMs: number, readonly messageType: string | undefined) {
    super(`no reply from ${target} to ${messageType ?? 'message'} within ${timeoutMs} ms`);
  }
}

export class InvalidAddressError extends RuntimeError {
  readonly code = 'INVALID_ADDRESS';
  constructor(readonly address: string, reason: string) {
    super(`invalid address '${address}': ${reason}`);
  }
}

export class ActorNameTakenError extends RuntimeError {
  readonly code = 'ACTOR_NAME_TAKEN';
  constructor(readonly address: string) {
    super(`an actor already lives at ${address}`);
  }
}

/** An operation on an actor or system that has stopped. */
export class ActorStoppedError extends RuntimeError {
  readonly code = 'ACTOR_STOPPED';
  constructor(readonly address: string, what: string) {
    super(`${what}: ${address} has stopped`);
  }
}

/** Wraps a child's failure that its supervisor escalated to its own parent. */
export class EscalatedFailure extends RuntimeError {
  readonly code = 'ESCALATED';
  constructor(readonly child: string, cause: unknown) {
    super(`failure of ${child} escalated: ${describeError(cause)}`, { cause });
  }
}

/** A broken invariant: a bug. Core code crashes on it; the simulator fails the seed. */
export class InvariantViolation extends Error {
  readonly code = 'INVARIANT_VIOLATION';
  constructor(message: string) {
    super(message);
    this.name = 'InvariantViolation';
  }
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantViolation(typeof message === 'string' ? message : message());
}

export function assertNever(value: never, what = 'value'): never {
  throw new InvariantViolation(`unexpected ${what}: ${JSON.stringify(value)}`);
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

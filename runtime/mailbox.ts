import { assert } from './errors.js';

/** What a full mailbox does with one more message. */
export type OverflowPolicy =
  /** The sender gets a MailboxFullError (the default: back pressure made visible). */
  | 'fail'
  /** The new message becomes a dead letter. */
  | 'dropNewest'
  /** The oldest queued message becomes a dead letter and the new one is queued. */
  | 'dropOldest';

/**
 * A bounded FIFO of (message, sender) pairs on a ring buffer that grows on demand up to
 * `depthMax`: an idle actor's mailbox holds no array at all, so resident idle actors stay small.
 */
export class Mailbox {
  private messages: unknown[] | undefined;
  private senders: (string | undefined)[] | undefined;
  private head = 0;
  private size = 0;

  constructor(readonly depthMax: number) {
    assert(Number.isInteger(depthMax) && depthMax > 0, `mailbox depthMax must be a positive integer, got ${depthMax}`);
  }

  get length(): number {
    return this.size;
  }

  isFull(): boolean {
    return this.size >= this.depthMax;
  }

  /** Appends; returns false (and changes nothing) when full. */
  push(message: unknown, sender: string | undefined): boolean {
    if (this.size >= this.depthMax) return false;
    let capacity = this.messages === undefined ? 0 : this.messages.length;
    if (this.size === capacity) {
      this.grow(capacity === 0 ? 4 : Math.min(capacity * 2, this.depthMax));
      capacity = (this.messages as unknown[]).length;
    }
    let tail = this.head + this.size;
    if (tail >= capacity) tail -= capacity;
    (this.messages as unknown[])[tail] = message;
    (this.senders as (string | undefined)[])[tail] = sender;
    this.size++;
    return true;
  }

  /** The sender of the message that `shift` will return next. */
  peekSender(): string | undefined {
    return this.size === 0 ? undefined : (this.senders as (string | undefined)[])[this.head];
  }

  /** Removes and returns the oldest message; call `peekSender` first to learn its sender. */
  shift(): unknown {
    assert(this.size > 0, 'shift from an empty mailbox');
    const messages = this.messages as unknown[];
    const senders = this.senders as (string | undefined)[];
    const message = messages[this.head];
    messages[this.head] = undefined;
    senders[this.head] = undefined;
    this.head++;
    if (this.head === messages.length) this.head = 0;
    this.size--;
    if (this.size === 0) {
      this.head = 0;
      // Give the memory back once a burst is over, so idle actors stay small.
      if (messages.length > 16) {
        this.messages = undefined;
        this.senders = undefined;
      }
    }
    return message;
  }

  /** Removes everything, oldest first. */
  drain(): Array<{ message: unknown; sender: string | undefined }> {
    const out: Array<{ message: unknown; sender: string | undefined }> = [];
    while (this.size > 0) {
      const sender = this.peekSender();
      out.push({ message: this.shift(), sender });
    }
    return out;
  }

  private grow(capacity: number): void {
    const messages = new Array<unknown>(capacity);
    const senders = new Array<string | undefined>(capacity);
    for (let i = 0; i < this.size; i++) {
      let from = this.head + i;
      if (this.messages !== undefined && from >= this.messages.length) from -= this.messages.length;
      messages[i] = (this.messages as unknown[])[from];
      senders[i] = (this.senders as (string | undefined)[])[from];
    }
    this.messages = messages;
    this.senders = senders;
    this.head = 0;
  }
}

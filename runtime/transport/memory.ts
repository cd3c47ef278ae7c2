import { decodeMessage, encodeMessage } from '../codec.js';
import type { Envelope, EnvelopeHandler, Transport } from '../env/types.js';

export interface MemoryTransportOptions {
  /** Schedules the delivery turn (usually `clock.defer`). */
  readonly defer: (fn: () => void) => void;
  /**
   * Round-trips every envelope through CBOR (default true), so that a message that could not
   * cross a real network fails here too, and receivers get their own copy.
   */
  readonly encode?: boolean;
}

/**
 * Connects several actor systems ("nodes") in one process. Delivery is asynchronous (never inside
 * the sender's turn), in global send order, hence FIFO per link; nothing is lost while both ends
 * listen. An envelope to a node that does not listen is dropped and counted.
 */
export class MemoryTransport implements Transport {
  readonly fifoPerLink = true;
  private readonly handlers = new Map<string, EnvelopeHandler>();
  private queue: Array<{ toNode: string; envelope: Envelope | Uint8Array }> = [];
  private flushScheduled = false;
  private readonly encode: boolean;
  dropped = 0;
  delivered = 0;

  constructor(private readonly options: MemoryTransportOptions) {
    this.encode = options.encode ?? true;
  }

  listen(nodeId: string, handler: EnvelopeHandler): () => void {
    if (this.handlers.has(nodeId)) throw new Error(`node ${nodeId} already listens on this transport`);
    this.handlers.set(nodeId, handler);
    return () => {
      if (this.handlers.get(nodeId) === handler) this.handlers.delete(nodeId);
    };
  }

  send(_fromNode: string, toNode: string, envelope: Envelope): void {
    this.queue.push({ toNode, envelope: this.encode ? encodeMessage(envelope) : envelope });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.options.defer(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const { toNode, envelope } of batch) {
      const handler = this.handlers.get(toNode);
      if (handler === undefined) {
        this.dropped++;
        continue;
      }
      this.delivered++;
      handler(envelope instanceof Uint8Array ? (decodeMessage(envelope) as Envelope) : envelope);
    }
  }
}

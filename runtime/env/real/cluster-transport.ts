// The runtime's Transport across processes: envelopes between ActorSystems on different nodes,
// carried by one mutual-TLS TlsTransport per node. The envelope to an actor on node N travels as
// the frame `{ from, to, message }` on N's ordered stream, so the per-link send order holds.
// Inbound, the certificate is the authority: the sender node named in `from` must be the
// certificate's CN (a node cannot speak for another), then `authorize` may refuse by role.
import { nodeOf } from '../../address.js';
import { assert } from '../../errors.js';
import type { Envelope, EnvelopeHandler, Transport } from '../types.js';
import {
  MalformedFrameError,
  OutboundFrameTooLargeError,
  SendQueueFullError,
  TlsTransport,
  TransportClosedError,
  type PeerIdentity,
  type TlsCredentials,
  type TlsTransportError,
  type TlsTransportOptions,
} from './tls-transport.js';

/** What a ClusterTransport reports: the TLS layer's failures, and sends that could not be queued. */
export type ClusterTransportError = TlsTransportError | OutboundFrameTooLargeError | SendQueueFullError | TransportClosedError;

export interface ClusterTransportOptions extends Omit<TlsTransportOptions, 'onMessage' | 'onError' | 'onPeerGone' | 'onInboundStream'> {
  /** This node's id: the CN of its certificate and the first segment of its actors' addresses. */
  readonly nodeId: string;
  /**
   * Called for each inbound envelope whose sender matches its certificate; a returned string
   * refuses it with that reason (e.g. a worker addressing a raft actor, `<node>/raft/...`).
   */
  readonly authorize?: (envelope: Envelope, peer: PeerIdentity) => string | undefined;
  /** Called for each refused inbound envelope (already dropped and counted). */
  readonly onRefused?: (envelope: Envelope, peer: PeerIdentity, reason: string) => void;
  /** Called for each connection-level failure and each send that could not be queued. */
  readonly onError?: (error: ClusterTransportError) => void;
  /** Called when node `nodeId`'s address refuses connections: its process is gone (TlsTransport's `onPeerGone`). */
  readonly onNodeGone?: (nodeId: string) => void;
}

/** Counters, for tests and inspection. */
export interface ClusterTransportStats {
  /** Envelopes handed to the TLS layer. */
  sent: number;
  /** Envelopes to a node with no known address, dropped. */
  unroutable: number;
  /** Envelopes the TLS layer refused to queue (over the frame limit, full queue, closed), dropped. */
  sendFailed: number;
  /** Inbound envelopes given to the listening system. */
  delivered: number;
  /** Inbound envelopes refused (spoofed sender, wrong node, `authorize`), dropped. */
  refused: number;
  /** Inbound frames that are not an envelope, dropped. */
  malformed: number;
  /** Inbound envelopes that arrived while no system listened, dropped. */
  unheard: number;
}

function isEnvelope(value: unknown): value is Envelope {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.from === 'string' && typeof record.to === 'string' && 'message' in record;
}

/**
 * A `Transport` (runtime/env/types.ts) over mutual TLS, for an ActorSystem talking to other
 * processes. Peers are known by node id and reached at the address set by `setPeerAddress`.
 * Delivery is best effort and FIFO per link: one ordered stream per peer; a broken stream may
 * lose what it carried, never reorder it.
 */
export class ClusterTransport implements Transport {
  readonly fifoPerLink = true;
  readonly stats: ClusterTransportStats = { sent: 0, unroutable: 0, sendFailed: 0, delivered: 0, refused: 0, malformed: 0, unheard: 0 };
  readonly nodeId: string;
  private readonly addresses = new Map<string, string>();
  private handler: EnvelopeHandler | undefined;
  private transport!: TlsTransport;

  private constructor(private readonly options: ClusterTransportOptions) {
    this.nodeId = options.nodeId;
  }

  /** Listens on the TLS port; resolves once it is bound. */
  static async start(options: ClusterTransportOptions): Promise<ClusterTransport> {
    assert(options.nodeId.length > 0 && !options.nodeId.includes('/'), `invalid node id '${options.nodeId}'`);
    const cluster = new ClusterTransport(options);
    const { nodeId: _nodeId, authorize: _authorize, onRefused: _onRefused, onError, onNodeGone, ...tlsOptions } = options;
    cluster.transport = await TlsTransport.listen({
      ...tlsOptions,
      onMessage: (message, peer, remote) => cluster.receive(message, peer, remote),
      onError: (error) => onError?.(error),
      // A node that opens a stream to us is up: what we queued to it goes now, not after our backoff.
      onInboundStream: (peer) => {
        const at = cluster.addresses.get(peer.commonName);
        if (at !== undefined) cluster.transport.reconnectNow(at);
      },
      ...(onNodeGone === undefined ? {} : {
        onPeerGone: (address: string) => {
          for (const [nodeId, at] of cluster.addresses) if (at === address) onNodeGone(nodeId);
        },
      }),
    });
    return cluster;
  }

  /** The TLS layer, for its stats and rpc-free inspection. */
  get tls(): TlsTransport {
    return this.transport;
  }

  /** The bound address as `host:port`. */
  get address(): string {
    return this.transport.address;
  }

  get port(): number {
    return this.transport.port;
  }

  /** Where node `nodeId` listens (`host:port`). A changed address closes the stream to the old one. */
  setPeerAddress(nodeId: string, address: string): void {
    const old = this.addresses.get(nodeId);
    this.addresses.set(nodeId, address);
    if (old !== undefined && old !== address) this.forget(old);
  }

  /** Forgets node `nodeId`: later envelopes to it are unroutable; its outbound stream is closed. */
  removePeer(nodeId: string): void {
    const old = this.addresses.get(nodeId);
    this.addresses.delete(nodeId);
    if (old !== undefined) this.forget(old);
  }

  peerAddress(nodeId: string): string | undefined {
    return this.addresses.get(nodeId);
  }

  listen(nodeId: string, handler: EnvelopeHandler): () => void {
    assert(nodeId === this.nodeId, `this transport carries node ${this.nodeId}, not ${nodeId}`);
    assert(this.handler === undefined, `node ${nodeId} already listens on this transport`);
    this.handler = handler;
    return () => {
      if (this.handler === handler) this.handler = undefined;
    };
  }

  send(fromNode: string, toNode: string, envelope: Envelope): void {
    assert(fromNode === this.nodeId, `this transport carries node ${this.nodeId}, not ${fromNode}`);
    const address = this.addresses.get(toNode);
    if (address === undefined) {
      this.stats.unroutable++;
      return;
    }
    try {
      this.transport.send(address, { from: envelope.from, to: envelope.to, message: envelope.message });
      this.stats.sent++;
    } catch (error) {
      if (!(error instanceof OutboundFrameTooLargeError || error instanceof SendQueueFullError || error instanceof TransportClosedError)) throw error;
      this.stats.sendFailed++;
      this.options.onError?.(error);
    }
  }

  /** See TlsTransport.updateCredentials: new connections use them, open ones stay up. */
  updateCredentials(credentials: TlsCredentials): void {
    this.transport.updateCredentials(credentials);
  }

  /** See TlsTransport.refuseConnected. */
  refuseConnected(predicate: (peer: PeerIdentity) => boolean): number {
    return this.transport.refuseConnected(predicate);
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  /** Closes the stream to `address` unless another node still lives there. */
  private forget(address: string): void {
    for (const other of this.addresses.values()) if (other === address) return;
    this.transport.disconnect(address);
  }

  private receive(frame: unknown, peer: PeerIdentity, remote: string): void {
    if (!isEnvelope(frame)) {
      this.stats.malformed++;
      this.options.onError?.(new MalformedFrameError(remote, new Error('not an envelope { from, to, message }')));
      return;
    }
    const envelope: Envelope = { from: frame.from, to: frame.to, message: frame.message };
    const sender = nodeOf(envelope.from);
    const target = nodeOf(envelope.to);
    let reason: string | undefined;
    if (sender !== peer.commonName) reason = `sender node '${sender}' is not the certificate's node '${peer.commonName}'`;
    else if (target !== this.nodeId) reason = `addressed to node '${target}', not to this node '${this.nodeId}'`;
    else reason = this.options.authorize?.(envelope, peer);
    if (reason !== undefined) {
      this.stats.refused++;
      this.options.onRefused?.(envelope, peer, reason);
      return;
    }
    const handler = this.handler;
    if (handler === undefined) {
      this.stats.unheard++;
      return;
    }
    this.stats.delivered++;
    handler(envelope);
  }
}

// The real network: TCP with mutual TLS (DESIGN.md section 7). Frames are a 4-byte big-endian
// length followed by one CBOR message (runtime/codec.ts). Each peer gets one outbound TLS stream,
// opened on demand, so messages to one peer arrive in send order; inbound streams are read by the
// listening side. Lives in runtime/env/real because it touches sockets, real timers and jitter.
import tls from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { decodeMessage, encodeMessage } from '../../codec.js';
import { RuntimeError } from '../../errors.js';

/** Default largest frame payload, in bytes, accepted or sent (16 MiB). */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
const HEADER_BYTES = 4;

/** The identity taken from a peer's verified certificate (CN = node id, OU = role, O = cluster id). */
export interface PeerIdentity {
  readonly commonName: string;
  readonly organizationalUnit: string | undefined;
  readonly organization: string | undefined;
}

/**
 * What a full per-peer send queue does with one more message: `dropOldest` for lossy traffic
 * (Raft tolerates a lost message and resends by itself), `fail` throws `SendQueueFullError` to the
 * caller, who owns the resend (the dispatcher's streams).
 */
export type OverflowPolicy = 'dropOldest' | 'fail';

/** An inbound frame whose length prefix exceeds the frame limit; the connection is closed. */
export class FrameTooLargeError extends RuntimeError {
  readonly code = 'FRAME_TOO_LARGE';
  constructor(readonly length: number, readonly maxFrameBytes: number, readonly remote: string) {
    super(`frame of ${length} bytes from ${remote} exceeds the limit of ${maxFrameBytes} bytes`);
  }
}

/** An inbound frame that is not one CBOR message (a peer that speaks garbage); the connection is closed. */
export class MalformedFrameError extends RuntimeError {
  readonly code = 'FRAME_MALFORMED';
  constructor(readonly remote: string, cause: unknown) {
    super(`undecodable frame from ${remote}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** The per-peer send queue is full and the send's policy is `fail`. */
export class SendQueueFullError extends RuntimeError {
  readonly code = 'SEND_QUEUE_FULL';
  constructor(readonly peer: string, readonly queueLimit: number) {
    super(`send queue to ${peer} is full (${queueLimit} messages)`);
  }
}

/** An outbound message too large to send as one frame. */
export class OutboundFrameTooLargeError extends RuntimeError {
  readonly code = 'OUTBOUND_FRAME_TOO_LARGE';
  constructor(readonly peer: string, readonly length: number, readonly maxFrameBytes: number) {
    super(`message to ${peer} encodes to ${length} bytes, over the frame limit of ${maxFrameBytes}`);
  }
}

/** A TLS handshake failed (e.g. a certificate not signed by the cluster CA) or a connection failed. */
export class PeerConnectionError extends RuntimeError {
  readonly code = 'PEER_CONNECTION';
  constructor(readonly remote: string, readonly direction: 'inbound' | 'outbound', cause: unknown) {
    super(`${direction} connection with ${remote} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** The transport was closed; sends are refused. */
export class TransportClosedError extends RuntimeError {
  readonly code = 'TRANSPORT_CLOSED';
  constructor() {
    super('the TLS transport is closed');
  }
}

export type TlsTransportError =
  | FrameTooLargeError
  | MalformedFrameError
  | PeerConnectionError;

export interface BackoffOptions {
  /** First delay before a reconnect, in ms (default 50). */
  readonly initialMs?: number;
  /** Cap of the delay, in ms (default 5000). */
  readonly maxMs?: number;
}

export interface TlsTransportOptions {
  /** Host to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** Port to listen on; 0 picks a free one (default 0). */
  readonly port?: number;
  /** PEM private key, certificate (chain) and trusted root CA(s) of this node. */
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  readonly ca: string | Buffer | Array<string | Buffer>;
  /** Largest frame payload in bytes (default 16 MiB). */
  readonly maxFrameBytes?: number;
  /** Most messages queued per peer while its stream is down or busy (default 1024). */
  readonly queueLimit?: number;
  /** Policy of a send that does not name one (default `dropOldest`). */
  readonly overflow?: OverflowPolicy;
  readonly backoff?: BackoffOptions;
  /** Called with each inbound message and its sender's verified identity. */
  readonly onMessage: (message: unknown, peer: PeerIdentity) => void;
  /** Called for each connection-level failure; the transport keeps serving. */
  readonly onError?: (error: TlsTransportError) => void;
  /** Called when the outbound stream to a peer comes up (true) or goes down (false). */
  readonly onPeerState?: (peerAddress: string, connected: boolean) => void;
  /** Uniform [0, 1) source for the backoff jitter (default Math.random). */
  readonly random?: () => number;
}

export interface SendOptions {
  readonly overflow?: OverflowPolicy;
}

/** Counters, for tests and inspection. */
export interface TlsTransportStats {
  sent: number;
  received: number;
  dropped: number;
  connects: number;
  reconnectsScheduled: number;
}

interface Peer {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Encoded frames (header included) waiting for the stream. */
  queue: Buffer[];
  socket: tls.TLSSocket | undefined;
  connected: boolean;
  /** Set while socket.write reported a full buffer. */
  blocked: boolean;
  attempts: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parseAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`invalid peer address '${address}' (want host:port)`);
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

/**
 * Mutual-TLS transport. Both ends present certificates of the cluster CA and verify each other's
 * (TLS 1.3 minimum); the listener passes the sender's CN/OU/O with every message. The dialing side
 * does not check the host name against the listener's certificate (node certificates name a node,
 * not a host): it only requires the chain to end at the cluster CA.
 */
export class TlsTransport {
  readonly stats: TlsTransportStats = { sent: 0, received: 0, dropped: 0, connects: 0, reconnectsScheduled: 0 };
  private readonly peers = new Map<string, Peer>();
  /** Every accepted TCP connection, handshaking or not, so that `close` can end them all. */
  private readonly inbound = new Set<Socket>();
  private readonly maxFrameBytes: number;
  private readonly queueLimit: number;
  private readonly overflow: OverflowPolicy;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly random: () => number;
  private closed = false;

  private constructor(private readonly options: TlsTransportOptions, private readonly server: tls.Server) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.queueLimit = options.queueLimit ?? 1024;
    this.overflow = options.overflow ?? 'dropOldest';
    this.initialBackoffMs = options.backoff?.initialMs ?? 50;
    this.maxBackoffMs = options.backoff?.maxMs ?? 5000;
    this.random = options.random ?? Math.random;
  }

  /** Starts listening; resolves once the port is bound. */
  static async listen(options: TlsTransportOptions): Promise<TlsTransport> {
    const server = tls.createServer({
      key: options.key,
      cert: options.cert,
      ca: options.ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
    });
    const transport = new TlsTransport(options, server);
    server.on('connection', (socket: Socket) => {
      transport.inbound.add(socket);
      socket.on('close', () => transport.inbound.delete(socket));
    });
    server.on('secureConnection', (socket) => transport.acceptInbound(socket));
    server.on('tlsClientError', (error, socket) => {
      transport.report(new PeerConnectionError(`${socket.remoteAddress}:${socket.remotePort}`, 'inbound', error));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => transport.report(new PeerConnectionError('listener', 'inbound', error)));
    return transport;
  }

  /** The bound address as `host:port`. */
  get address(): string {
    const info = this.server.address() as AddressInfo;
    return info.family === 'IPv6' ? `[${info.address}]:${info.port}` : `${info.address}:${info.port}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Messages waiting for the stream to `peerAddress`. */
  queued(peerAddress: string): number {
    return this.peers.get(peerAddress)?.queue.length ?? 0;
  }

  /**
   * Queues `message` for the ordered stream to `peerAddress` (`host:port`), opening it if needed.
   * Throws `SendQueueFullError` when the queue is full and the policy is `fail`, and
   * `OutboundFrameTooLargeError` for a message over the frame limit. A message handed to a
   * stream that then breaks may be lost: the caller's protocol owns acknowledgements.
   */
  send(peerAddress: string, message: unknown, options?: SendOptions): void {
    if (this.closed) throw new TransportClosedError();
    const payload = encodeMessage(message);
    if (payload.byteLength > this.maxFrameBytes) throw new OutboundFrameTooLargeError(peerAddress, payload.byteLength, this.maxFrameBytes);
    const peer = this.peer(peerAddress);
    if (peer.queue.length >= this.queueLimit) {
      if ((options?.overflow ?? this.overflow) === 'fail') throw new SendQueueFullError(peerAddress, this.queueLimit);
      peer.queue.shift();
      this.stats.dropped++;
    }
    const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.byteLength);
    frame.writeUInt32BE(payload.byteLength, 0);
    frame.set(payload, HEADER_BYTES);
    peer.queue.push(frame);
    if (peer.connected) this.flush(peer);
    else if (peer.socket === undefined && peer.timer === undefined) this.connect(peer);
  }

  /** Stops listening, closes every stream and cancels reconnects. Queued messages are discarded. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of this.peers.values()) {
      if (peer.timer !== undefined) clearTimeout(peer.timer);
      peer.timer = undefined;
      peer.socket?.destroy();
      peer.queue = [];
    }
    for (const socket of this.inbound) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private report(error: TlsTransportError): void {
    this.options.onError?.(error);
  }

  private peer(address: string): Peer {
    let peer = this.peers.get(address);
    if (peer === undefined) {
      const { host, port } = parseAddress(address);
      peer = { address, host, port, queue: [], socket: undefined, connected: false, blocked: false, attempts: 0, timer: undefined };
      this.peers.set(address, peer);
    }
    return peer;
  }

  private connect(peer: Peer): void {
    peer.timer = undefined;
    if (this.closed) return;
    const socket = tls.connect({
      host: peer.host,
      port: peer.port,
      key: this.options.key,
      cert: this.options.cert,
      ca: this.options.ca,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined,
    });
    peer.socket = socket;
    peer.connected = false;
    peer.blocked = false;
    socket.setNoDelay(true);
    socket.on('secureConnect', () => {
      peer.connected = true;
      peer.attempts = 0;
      this.stats.connects++;
      this.options.onPeerState?.(peer.address, true);
      this.flush(peer);
    });
    socket.on('drain', () => {
      peer.blocked = false;
      this.flush(peer);
    });
    // The listener never writes on this stream; reading keeps the close and error events flowing.
    socket.on('data', () => undefined);
    socket.on('error', (error) => {
      this.report(new PeerConnectionError(peer.address, 'outbound', error));
    });
    socket.on('close', () => {
      if (peer.socket !== socket) return;
      const wasConnected = peer.connected;
      peer.socket = undefined;
      peer.connected = false;
      peer.blocked = false;
      if (wasConnected) this.options.onPeerState?.(peer.address, false);
      if (this.closed || peer.queue.length === 0) return; // reconnect on the next send
      this.scheduleReconnect(peer);
    });
  }

  private scheduleReconnect(peer: Peer): void {
    const ceiling = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(peer.attempts, 30));
    peer.attempts++;
    // "Equal jitter": half the ceiling plus a random half, so peers do not reconnect in lockstep.
    const delay = ceiling / 2 + this.random() * (ceiling / 2);
    this.stats.reconnectsScheduled++;
    peer.timer = setTimeout(() => this.connect(peer), delay);
  }

  private flush(peer: Peer): void {
    const socket = peer.socket;
    if (socket === undefined || !peer.connected) return;
    while (!peer.blocked && peer.queue.length > 0) {
      const frame = peer.queue.shift() as Buffer;
      this.stats.sent++;
      if (!socket.write(frame)) peer.blocked = true;
    }
  }

  private acceptInbound(socket: tls.TLSSocket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    if (!socket.authorized) {
      // rejectUnauthorized makes this unreachable; kept so that a misconfiguration fails closed.
      this.report(new PeerConnectionError(remote, 'inbound', socket.authorizationError));
      socket.destroy();
      return;
    }
    const subject = socket.getPeerCertificate().subject;
    const identity: PeerIdentity = {
      commonName: first(subject?.CN) ?? '',
      organizationalUnit: first(subject?.OU),
      organization: first(subject?.O),
    };
    let buffered: Buffer[] = [];
    let bufferedBytes = 0;
    let frameLength = -1; // length of the frame being read, once its header is in
    let failed = false;
    const fail = (error: TlsTransportError): void => {
      failed = true;
      buffered = [];
      this.report(error);
      socket.destroy();
    };
    // Joins chunks only once a whole header or payload is in, so a large frame costs one copy.
    const take = (n: number): Buffer => {
      const all = buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered, bufferedBytes);
      const rest = all.subarray(n);
      buffered = rest.byteLength > 0 ? [rest] : [];
      bufferedBytes = rest.byteLength;
      return all.subarray(0, n);
    };
    socket.on('data', (chunk: Buffer) => {
      if (failed) return;
      buffered.push(chunk);
      bufferedBytes += chunk.byteLength;
      for (;;) {
        if (frameLength < 0) {
          if (bufferedBytes < HEADER_BYTES) return;
          frameLength = take(HEADER_BYTES).readUInt32BE(0);
          if (frameLength > this.maxFrameBytes) return fail(new FrameTooLargeError(frameLength, this.maxFrameBytes, remote));
        }
        if (bufferedBytes < frameLength) return;
        const payload = take(frameLength);
        const length = frameLength;
        frameLength = -1;
        let message: unknown;
        try {
          if (length === 0) throw new Error('empty frame');
          message = decodeMessage(payload);
        } catch (error) {
          return fail(new MalformedFrameError(remote, error));
        }
        this.stats.received++;
        this.options.onMessage(message, identity);
      }
    });
    socket.on('error', (error) => {
      if (!failed) this.report(new PeerConnectionError(remote, 'inbound', error));
    });
  }
}

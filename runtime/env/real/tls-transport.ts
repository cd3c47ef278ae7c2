// The real network: TCP with mutual TLS (DESIGN.md section 7). Frames are a 4-byte big-endian
// length followed by one CBOR message (runtime/codec.ts). One listening port serves two kinds of
// connection, told apart by ALPN:
//  - `swarm-stream`: an ordered one-way stream. Each peer gets one outbound stream, opened on
//    demand, so messages to one peer arrive in send order; the listening side only reads.
//    Both ends present certificates of the cluster CA.
//  - `swarm-rpc`: request/response. The client sends `{ id, body }` frames and the listener
//    answers each with `{ id, ok: true, body }` or `{ id, ok: false, error: { code, message } }`
//    on the same connection, in completion order. The client certificate is optional here (a
//    joining node has none yet); if one is presented it must verify.
// Lives in runtime/env/real because it touches sockets, real timers and jitter.
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { decodeMessage, encodeMessage } from '../../codec.js';
import { RuntimeError } from '../../errors.js';

/** Default largest frame payload, in bytes, accepted or sent (16 MiB). */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Default time an inbound connection has to complete its TLS handshake (5 s). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;
/** ALPN protocol of an ordered one-way message stream. */
export const ALPN_STREAM = 'swarm-stream';
/** ALPN protocol of a request/response connection. */
export const ALPN_RPC = 'swarm-rpc';
const HEADER_BYTES = 4;
const MIN_TLS_VERSION = 'TLSv1.3';

/** PEM key material, as node:tls takes it. */
type Pem = string | Buffer;

/**
 * The identity taken from a peer's verified certificate (CN = node id, OU = role, O = cluster id).
 */
export interface PeerIdentity {
  readonly commonName: string;
  readonly organizationalUnit: string | undefined;
  readonly organization: string | undefined;
  /**
   * The certificate's serial number in hex as Node reports it: UPPER-case, leading zero bytes
   * dropped. actors/ca writes serials in lower case, so compare case-insensitively.
   */
  readonly serialNumber: string;
  /** End of the certificate's validity (notAfter), in ms since the epoch. */
  readonly validTo: number;
}

/** Key, certificate (the leaf, optionally followed by intermediates, PEM) and trusted root(s). */
export interface TlsCredentials {
  readonly key: Pem;
  readonly cert: Pem;
  readonly ca: Pem | Pem[];
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

/** An inbound frame that is not one CBOR message of the expected shape (a peer that speaks garbage); the connection is closed. */
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

/**
 * A TLS handshake failed (e.g. a certificate not signed by the cluster CA, an expired one, a
 * stream without a client certificate, no agreed ALPN protocol) or a connection failed.
 */
export class PeerConnectionError extends RuntimeError {
  readonly code = 'PEER_CONNECTION';
  constructor(readonly remote: string, readonly direction: 'inbound' | 'outbound', cause: unknown) {
    super(`${direction} connection with ${remote} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** An inbound peer whose certificate verified but that `verifyPeer` refused (e.g. a removed node); the connection is closed. */
export class PeerRefusedError extends RuntimeError {
  readonly code = 'PEER_REFUSED';
  constructor(readonly remote: string, readonly identity: PeerIdentity, readonly reason: string) {
    super(`refused ${identity.commonName} (serial ${identity.serialNumber}) from ${remote}: ${reason}`);
  }
}

/** The transport was closed; sends are refused. */
export class TransportClosedError extends RuntimeError {
  readonly code = 'TRANSPORT_CLOSED';
  constructor() {
    super('the TLS transport is closed');
  }
}

/** The server answered a request with an error reply; `code` and `message` are the server's. */
export class RpcError extends RuntimeError {
  constructor(readonly code: string, message: string, readonly address: string) {
    super(message);
  }
}

/** No reply to a request within its timeout (connecting included). */
export class RpcTimeoutError extends RuntimeError {
  readonly code = 'RPC_TIMEOUT';
  constructor(readonly address: string, readonly timeoutMs: number) {
    super(`no reply from ${address} within ${timeoutMs} ms`);
  }
}

/** A request over the client's limit of outstanding requests. */
export class RpcOutstandingFullError extends RuntimeError {
  readonly code = 'RPC_OUTSTANDING_FULL';
  constructor(readonly address: string, readonly outstandingMax: number) {
    super(`${outstandingMax} requests to ${address} are already outstanding`);
  }
}

/** A request on a closed `TlsRpcClient`, or one pending when it was closed. */
export class RpcClientClosedError extends RuntimeError {
  readonly code = 'RPC_CLIENT_CLOSED';
  constructor(readonly address: string) {
    super(`the rpc client to ${address} is closed`);
  }
}

export type TlsTransportError =
  | FrameTooLargeError
  | MalformedFrameError
  | PeerConnectionError
  | PeerRefusedError;

/** Error codes the listener itself puts in rpc error replies. */
export const RPC_UNSUPPORTED = 'RPC_UNSUPPORTED';
export const RPC_BUSY = 'RPC_BUSY';
export const RPC_INTERNAL = 'INTERNAL';
export const RPC_REPLY_TOO_LARGE = 'RPC_REPLY_TOO_LARGE';

export interface BackoffOptions {
  /** First delay before a reconnect, in ms (default 50). */
  readonly initialMs?: number;
  /** Cap of the delay, in ms (default 5000). */
  readonly maxMs?: number;
}

export interface TlsTransportOptions extends TlsCredentials {
  /** Host to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** Port to listen on; 0 picks a free one (default 0). */
  readonly port?: number;
  /** Largest frame payload in bytes (default 16 MiB). */
  readonly maxFrameBytes?: number;
  /** Most messages queued per peer while its stream is down or busy (default 1024). */
  readonly queueLimit?: number;
  /** Policy of a send that does not name one (default `dropOldest`). */
  readonly overflow?: OverflowPolicy;
  readonly backoff?: BackoffOptions;
  /** Most requests one rpc connection may have in progress; more are answered `RPC_BUSY` (default 256). */
  readonly rpcInflightPerConnectionMax?: number;
  /** Called with each inbound stream message, its sender's verified identity and address. */
  readonly onMessage: (message: unknown, peer: PeerIdentity, remote: string) => void;
  /**
   * Answers an rpc request. `peer` is undefined when the client presented no certificate. A
   * rejected promise becomes the error reply (`error.code` if a string, else 'INTERNAL'). Without
   * it every request is answered `RPC_UNSUPPORTED`.
   */
  readonly onRequest?: (body: unknown, peer: PeerIdentity | undefined, remote: string) => Promise<unknown>;
  /** Time an inbound connection has to complete its TLS handshake (default 5 s). */
  readonly handshakeTimeoutMs?: number;
  /**
   * Called for every inbound connection (stream or rpc) whose certificate verified, after the
   * handshake and before any frame is read. A returned string refuses the peer with that reason
   * (the connection is closed and `PeerRefusedError` reported): how a node refuses a removed
   * node's still-valid certificate.
   */
  readonly verifyPeer?: (peer: PeerIdentity) => string | undefined;
  /** Called for each connection-level failure; the transport keeps serving. */
  readonly onError?: (error: TlsTransportError) => void;
  /** Called when the outbound stream to a peer comes up (true) or goes down (false). */
  readonly onPeerState?: (peerAddress: string, connected: boolean) => void;
  /**
   * Called when a connection attempt to a peer is refused (ECONNREFUSED: nothing listens at its
   * address, so its process is gone; a lost machine or a cut link time out instead). When an
   * outbound stream closes, one reconnect is tried at once even with nothing to send (at most one
   * such probe per peer per `goneProbeIntervalMs`), so that a peer's crash is known within the
   * first backoff delay.
   */
  readonly onPeerGone?: (peerAddress: string) => void;
  /**
   * The least time between two probes of one peer (default 5000 ms): a peer that refuses us (a node
   * that removed us) closes our stream right after its handshake, and must not be probed in a loop.
   */
  readonly goneProbeIntervalMs?: number;
  /**
   * Called when a verified peer opens a stream to this transport, before any of its frames: its
   * process is up, whatever the backoff of our own stream to it says (see `reconnectNow`).
   */
  readonly onInboundStream?: (peer: PeerIdentity) => void;
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
  /** Reconnects sent at once, their backoff cut short, because the peer was known to be up (`reconnectNow`). */
  reconnectsNow: number;
  /** Connection attempts refused by the peer's host (reported through `onPeerGone`). */
  connectsRefused: number;
  /** Rpc requests read (answered or not yet). */
  requests: number;
  /** Inbound connections closed by `verifyPeer` or `refuseConnected`. */
  refused: number;
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
  /** When this peer's closed stream was last probed (ms, `Date.now`; 0: never). */
  probedAt: number;
  /** A flush is queued for the end of this turn: the turn's frames go out as one write. */
  flushQueued: boolean;
}

/** Frames joined into one socket write, at most this many bytes (a larger frame goes alone). */
const WRITE_BATCH_BYTES_MAX = 256 * 1024;

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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * OpenSSL's wording of the verification failures a node meets (X509_verify_cert_error_string),
 * by the code Node gives a server socket's `authorizationError`; clients get the same words.
 */
const VERIFY_ERRORS: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate',
  UNABLE_TO_GET_ISSUER_CERT: 'unable to get issuer certificate',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get local issuer certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in certificate chain',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  CERT_SIGNATURE_FAILURE: 'certificate signature failure',
  INVALID_CA: 'invalid CA certificate',
  PATH_LENGTH_EXCEEDED: 'path length constraint exceeded',
  INVALID_PURPOSE: 'unsupported certificate purpose',
  CERT_REVOKED: 'certificate revoked',
};

/** The client certificate's verification failure as an Error with OpenSSL's words and Node's code. */
function verifyError(code: string | Error | undefined): Error {
  if (code instanceof Error) return code;
  const key = code ?? 'UNSPECIFIED';
  return Object.assign(new Error(`client certificate refused: ${VERIFY_ERRORS[key] ?? 'certificate not verified'} (${key})`), { code: key });
}

function identityOf(cert: tls.PeerCertificate): PeerIdentity {
  const subject = cert.subject;
  return {
    commonName: first(subject?.CN) ?? '',
    organizationalUnit: first(subject?.OU),
    organization: first(subject?.O),
    serialNumber: cert.serialNumber,
    validTo: new Date(cert.valid_to).getTime(),
  };
}

/** The 4-byte length header followed by the payload. */
function frameOf(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.byteLength);
  frame.writeUInt32BE(payload.byteLength, 0);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFrameId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/**
 * Cuts a byte stream into decoded frames. After the first failure (oversized length, undecodable
 * payload, or `fail` called by the consumer) it reports once and ignores the rest.
 */
class FrameReader {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** Length of the frame being read, once its header is in; -1 before. */
  private frameLength = -1;
  private failed = false;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly remote: string,
    private readonly onFrame: (message: unknown) => void,
    private readonly onFail: (error: FrameTooLargeError | MalformedFrameError) => void,
  ) {}

  get hasFailed(): boolean {
    return this.failed;
  }

  fail(error: FrameTooLargeError | MalformedFrameError): void {
    if (this.failed) return;
    this.failed = true;
    this.buffered = [];
    this.onFail(error);
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.byteLength;
    while (!this.failed) {
      if (this.frameLength < 0) {
        if (this.bufferedBytes < HEADER_BYTES) return;
        this.frameLength = this.take(HEADER_BYTES).readUInt32BE(0);
        if (this.frameLength > this.maxFrameBytes) return this.fail(new FrameTooLargeError(this.frameLength, this.maxFrameBytes, this.remote));
      }
      if (this.bufferedBytes < this.frameLength) return;
      const length = this.frameLength;
      const payload = this.take(length);
      this.frameLength = -1;
      let message: unknown;
      try {
        if (length === 0) throw new Error('empty frame');
        message = decodeMessage(payload);
      } catch (error) {
        return this.fail(new MalformedFrameError(this.remote, error));
      }
      this.onFrame(message);
    }
  }

  /** Joins chunks only once a whole header or payload is in, so a large frame costs one copy. */
  private take(n: number): Buffer {
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.bufferedBytes);
    const rest = all.subarray(n);
    this.buffered = rest.byteLength > 0 ? [rest] : [];
    this.bufferedBytes = rest.byteLength;
    return all.subarray(0, n);
  }
}

function createContext(credentials: TlsCredentials): tls.SecureContext {
  return tls.createSecureContext({ key: credentials.key, cert: credentials.cert, ca: credentials.ca, minVersion: MIN_TLS_VERSION });
}

/**
 * Mutual-TLS transport. Both ends of a stream present certificates of the cluster CA and verify
 * each other's (TLS 1.3 minimum); the listener passes the sender's identity with every message.
 * The dialing side does not check the host name against the listener's certificate (node
 * certificates name a node, not a host): it only requires the chain to end at the cluster CA.
 * The same port answers rpc requests (ALPN `swarm-rpc`), with or without a client certificate.
 */
export class TlsTransport {
  readonly stats: TlsTransportStats = { sent: 0, received: 0, dropped: 0, connects: 0, reconnectsScheduled: 0, reconnectsNow: 0, connectsRefused: 0, requests: 0, refused: 0 };
  private readonly peers = new Map<string, Peer>();
  /** Every accepted TCP connection, handshaking or not, so that `close` can end them all. */
  private readonly inbound = new Set<Socket>();
  /** Open inbound connections whose certificate verified, with that identity (for `refuseConnected`). */
  private readonly identified = new Map<tls.TLSSocket, PeerIdentity>();
  private readonly maxFrameBytes: number;
  private readonly queueLimit: number;
  private readonly overflow: OverflowPolicy;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly rpcInflightPerConnectionMax: number;
  private readonly random: () => number;
  /** The context of new outbound streams; replaced by `updateCredentials`. */
  private outboundContext: tls.SecureContext;
  private closed = false;

  private constructor(private readonly options: TlsTransportOptions, private readonly server: tls.Server) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.queueLimit = options.queueLimit ?? 1024;
    this.overflow = options.overflow ?? 'dropOldest';
    this.initialBackoffMs = options.backoff?.initialMs ?? 50;
    this.maxBackoffMs = options.backoff?.maxMs ?? 5000;
    this.rpcInflightPerConnectionMax = options.rpcInflightPerConnectionMax ?? 256;
    this.random = options.random ?? Math.random;
    this.outboundContext = createContext(options);
  }

  /** Starts listening; resolves once the port is bound. */
  static async listen(options: TlsTransportOptions): Promise<TlsTransport> {
    const server = tls.createServer({
      key: options.key,
      cert: options.cert,
      ca: options.ca,
      // A client certificate is asked for but not required by the handshake: rpc connections may
      // come without one. `acceptInbound` enforces the rest (a presented certificate must verify,
      // a stream must present one).
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: MIN_TLS_VERSION,
      // A peer that does not finish its handshake in time (garbage that parses as the start of a
      // long record, a slow-loris) is cut off; Node's default waits two minutes.
      handshakeTimeout: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      ALPNProtocols: [ALPN_STREAM, ALPN_RPC],
    });
    const transport = new TlsTransport(options, server);
    server.on('connection', (socket: Socket) => {
      transport.inbound.add(socket);
      socket.on('close', () => transport.inbound.delete(socket));
    });
    server.on('secureConnection', (socket) => transport.acceptInbound(socket));
    server.on('tlsClientError', (error, socket) => {
      transport.report(new PeerConnectionError(`${socket.remoteAddress}:${socket.remotePort}`, 'inbound', error));
      socket.destroy();
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
    peer.queue.push(frameOf(payload));
    if (peer.connected) this.queueFlush(peer);
    else if (peer.socket === undefined && peer.timer === undefined) this.connect(peer);
  }

  /**
   * Closes the outbound stream to `peerAddress`, cancels its reconnect and discards its queue
   * (a node removed from the cluster). A later `send` opens a new stream.
   */
  disconnect(peerAddress: string): void {
    const peer = this.peers.get(peerAddress);
    if (peer === undefined) return;
    this.peers.delete(peerAddress);
    if (peer.timer !== undefined) clearTimeout(peer.timer);
    peer.timer = undefined;
    peer.queue = [];
    peer.socket?.destroy();
  }

  /**
   * The peer at `peerAddress` is known to be up (e.g. it has just opened a stream to us): a
   * reconnect waiting out its backoff goes at once, and the backoff starts over. Without this a
   * restarted peer waits for our next try, up to the backoff's ceiling, for what we queued to it
   * (a leader's appends, a candidate's vote request). Returns whether a reconnect went.
   */
  reconnectNow(peerAddress: string): boolean {
    const peer = this.peers.get(peerAddress);
    if (this.closed || peer === undefined || peer.timer === undefined || peer.socket !== undefined) return false;
    clearTimeout(peer.timer);
    peer.attempts = 0;
    this.stats.reconnectsNow++;
    this.connect(peer);
    return true;
  }

  /**
   * Certificate renewal and root rotation: new inbound handshakes and new outbound streams use
   * these credentials; connections already open stay up (during a root rotation nodes must stay
   * connected). Throws, changing nothing, if the key does not match the certificate.
   */
  updateCredentials(credentials: TlsCredentials): void {
    const outbound = createContext(credentials);
    this.server.setSecureContext({ key: credentials.key, cert: credentials.cert, ca: credentials.ca, minVersion: MIN_TLS_VERSION });
    this.outboundContext = outbound;
  }

  /**
   * Closes the open inbound connections (streams and rpc) whose verified identity matches
   * `predicate`, e.g. every connection of a node just removed; returns how many. Pair it with
   * a `verifyPeer` that refuses the same identities, or the peer simply reconnects.
   */
  refuseConnected(predicate: (peer: PeerIdentity) => boolean): number {
    let count = 0;
    for (const [socket, identity] of [...this.identified]) {
      if (!predicate(identity)) continue;
      this.identified.delete(socket);
      socket.destroy();
      this.stats.refused++;
      count++;
    }
    return count;
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
      peer = { address, host, port, queue: [], socket: undefined, connected: false, blocked: false, attempts: 0, timer: undefined, probedAt: 0, flushQueued: false };
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
      secureContext: this.outboundContext,
      rejectUnauthorized: true,
      minVersion: MIN_TLS_VERSION,
      ALPNProtocols: [ALPN_STREAM],
      checkServerIdentity: () => undefined,
    });
    peer.socket = socket;
    peer.connected = false;
    peer.blocked = false;
    socket.setNoDelay(true);
    socket.on('secureConnect', () => {
      if (socket.alpnProtocol !== ALPN_STREAM) {
        socket.destroy(new Error(`the listener does not speak ${ALPN_STREAM} (ALPN: ${String(socket.alpnProtocol)})`));
        return;
      }
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
      if ((error as NodeJS.ErrnoException).code === 'ECONNREFUSED' && !this.closed && this.peers.get(peer.address) === peer) {
        this.stats.connectsRefused++;
        this.options.onPeerGone?.(peer.address);
      }
    });
    socket.on('close', () => {
      if (peer.socket !== socket) return;
      const wasConnected = peer.connected;
      peer.socket = undefined;
      peer.connected = false;
      peer.blocked = false;
      if (wasConnected) this.options.onPeerState?.(peer.address, false);
      if (this.closed || this.peers.get(peer.address) !== peer) return;
      // A stream that closes is probed at once: is the peer's process still there? At most once per
      // interval, since a peer that refuses us closes every stream right after its handshake.
      // Otherwise, with nothing to send, reconnect on the next send.
      const now = Date.now();
      const probe = wasConnected && this.options.onPeerGone !== undefined && now - peer.probedAt >= (this.options.goneProbeIntervalMs ?? 5000);
      if (probe) peer.probedAt = now;
      if (peer.queue.length === 0 && !probe) return;
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

  /**
   * Flushes at the end of the current turn: the frames an actor turn sends to one peer (often
   * many: appends, acknowledgements, heartbeats) then cost one TLS record and one system call
   * instead of one each. Order is kept: the queue is the only path to the socket.
   */
  private queueFlush(peer: Peer): void {
    if (peer.flushQueued) return;
    peer.flushQueued = true;
    queueMicrotask(() => {
      peer.flushQueued = false;
      this.flush(peer);
    });
  }

  private flush(peer: Peer): void {
    const socket = peer.socket;
    if (socket === undefined || !peer.connected) return;
    while (!peer.blocked && peer.queue.length > 0) {
      let count = 0;
      let bytes = 0;
      while (count < peer.queue.length && (count === 0 || bytes + (peer.queue[count] as Buffer).byteLength <= WRITE_BATCH_BYTES_MAX)) {
        bytes += (peer.queue[count] as Buffer).byteLength;
        count++;
      }
      const frames = peer.queue.splice(0, count);
      this.stats.sent += count;
      if (!socket.write(count === 1 ? (frames[0] as Buffer) : Buffer.concat(frames, bytes))) peer.blocked = true;
    }
  }

  /** Closes `socket` and reports why; every refusal of an inbound connection goes through here. */
  private refuse(socket: tls.TLSSocket, error: TlsTransportError): void {
    this.report(error);
    socket.destroy();
  }

  /**
   * An rpc client whose certificate was refused: TLS 1.3 lets it finish its handshake before the
   * server decides, so closing alone would tell it nothing. Its first request is answered with the
   * reason (e.g. "certificate has expired"), then the connection is closed; nothing is served.
   */
  private refuseRpc(socket: tls.TLSSocket, remote: string, error: TlsTransportError, code: string, message: string): void {
    this.report(error);
    const timer = setTimeout(() => socket.destroy(), 5000);
    socket.once('close', () => clearTimeout(timer));
    socket.on('error', () => undefined);
    const reader = new FrameReader(this.maxFrameBytes, remote, (frame) => {
      const id = isRecord(frame) && isFrameId(frame.id) ? frame.id : 0;
      socket.end(frameOf(encodeMessage({ id, ok: false, error: { code, message } })));
    }, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
  }

  private acceptInbound(socket: tls.TLSSocket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const protocol = socket.alpnProtocol;
    if (protocol !== ALPN_STREAM && protocol !== ALPN_RPC) {
      return this.refuse(socket, new PeerConnectionError(remote, 'inbound', new Error(`no ALPN protocol agreed (want ${ALPN_STREAM} or ${ALPN_RPC})`)));
    }
    // The handshake accepts any client certificate (or none); the decision is taken here.
    let identity: PeerIdentity | undefined;
    if (socket.getPeerX509Certificate() !== undefined) {
      if (!socket.authorized) {
        const error = verifyError(socket.authorizationError);
        if (protocol === ALPN_RPC) return this.refuseRpc(socket, remote, new PeerConnectionError(remote, 'inbound', error), (error as { code?: string }).code ?? 'CERT_REFUSED', error.message);
        return this.refuse(socket, new PeerConnectionError(remote, 'inbound', error));
      }
      identity = identityOf(socket.getPeerCertificate());
      const reason = this.options.verifyPeer?.(identity);
      if (reason !== undefined) {
        this.stats.refused++;
        if (protocol === ALPN_RPC) return this.refuseRpc(socket, remote, new PeerRefusedError(remote, identity, reason), 'PEER_REFUSED', `refused: ${reason}`);
        return this.refuse(socket, new PeerRefusedError(remote, identity, reason));
      }
      this.identified.set(socket, identity);
      socket.on('close', () => this.identified.delete(socket));
    } else if (protocol === ALPN_STREAM) {
      return this.refuse(socket, new PeerConnectionError(remote, 'inbound', new Error(`a ${ALPN_STREAM} connection requires a client certificate`)));
    }
    if (protocol === ALPN_STREAM) {
      const peer = identity!;
      this.options.onInboundStream?.(peer);
      const stream = new FrameReader(this.maxFrameBytes, remote, (message) => {
        this.stats.received++;
        this.options.onMessage(message, peer, remote);
      }, (error) => this.refuse(socket, error));
      socket.on('data', (chunk: Buffer) => stream.push(chunk));
      socket.on('error', (error) => {
        if (!stream.hasFailed) this.report(new PeerConnectionError(remote, 'inbound', error));
      });
      return;
    }
    this.serveRpc(socket, remote, identity);
  }

  /** Answers each request frame on `socket`, in completion order, at most `rpcInflightPerConnectionMax` at a time. */
  private serveRpc(socket: tls.TLSSocket, remote: string, identity: PeerIdentity | undefined): void {
    let inflight = 0;
    const reply = (frame: { id: number; ok: true; body: unknown } | { id: number; ok: false; error: { code: string; message: string } }): void => {
      if (socket.destroyed) return;
      let payload: Uint8Array;
      try {
        payload = encodeMessage(frame);
        if (payload.byteLength > this.maxFrameBytes) {
          payload = encodeMessage({ id: frame.id, ok: false, error: { code: RPC_REPLY_TOO_LARGE, message: `reply of ${payload.byteLength} bytes exceeds the frame limit of ${this.maxFrameBytes}` } });
        }
      } catch (error) {
        payload = encodeMessage({ id: frame.id, ok: false, error: { code: RPC_INTERNAL, message: `reply not encodable: ${messageOf(error)}` } });
      }
      // A client that sends but does not read would grow the write buffer without bound: stop
      // reading its requests until it has taken the replies.
      if (!socket.write(frameOf(payload))) socket.pause();
    };
    socket.on('drain', () => socket.resume());
    const reader = new FrameReader(this.maxFrameBytes, remote, (frame) => {
      if (!isRecord(frame) || !isFrameId(frame.id) || !('body' in frame)) {
        return reader.fail(new MalformedFrameError(remote, new Error('not an rpc request { id, body }')));
      }
      const id = frame.id;
      this.stats.requests++;
      const handler = this.options.onRequest;
      if (handler === undefined) {
        return reply({ id, ok: false, error: { code: RPC_UNSUPPORTED, message: 'this listener answers no requests' } });
      }
      if (inflight >= this.rpcInflightPerConnectionMax) {
        return reply({ id, ok: false, error: { code: RPC_BUSY, message: `${this.rpcInflightPerConnectionMax} requests already in progress on this connection` } });
      }
      inflight++;
      let answer: Promise<unknown>;
      try {
        answer = handler(frame.body, identity, remote);
      } catch (error) {
        answer = Promise.reject(error);
      }
      answer.then(
        (body) => reply({ id, ok: true, body }),
        (error: unknown) => {
          const code = isRecord(error) && typeof error.code === 'string' ? error.code : RPC_INTERNAL;
          reply({ id, ok: false, error: { code, message: messageOf(error) } });
        },
      ).finally(() => inflight--);
    }, (error) => this.refuse(socket, error));
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('error', (error) => {
      if (!reader.hasFailed) this.report(new PeerConnectionError(remote, 'inbound', error));
    });
  }
}

// ---- the rpc client ------------------------------------------------------------------------

export interface TlsRpcClientOptions {
  /**
   * Trusted root(s). When undefined the server's certificate is NOT verified: only for a joining
   * node fetching the root CA, which it then checks against its join token's digest itself. When
   * given, the server's chain must end at one of them (no host name check).
   */
  readonly ca?: Pem | Pem[];
  /** This node's key and certificate (chain), if it has one yet. */
  readonly key?: Pem;
  readonly cert?: Pem;
  /** Default timeout of a request, connecting included, in ms. */
  readonly timeoutMs: number;
  /** Largest frame payload in bytes, either way (default 16 MiB). */
  readonly maxFrameBytes?: number;
  /** Most requests outstanding at once; more are refused with `RpcOutstandingFullError` (default 1024). */
  readonly outstandingMax?: number;
}

export type TlsRequestOptions = TlsRpcClientOptions;

export interface TlsRequestResult {
  readonly body: unknown;
  /** The server's leaf certificate, PEM. */
  readonly serverCertificatePem: string;
  /**
   * The server's chain as Node reports it, leaf first, PEM: the certificates it presented, and,
   * when `ca` was given, the trusted root that ended the chain.
   */
  readonly serverChainPem: string[];
}

interface Pending {
  readonly resolve: (result: TlsRequestResult) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

interface RpcConnection {
  readonly socket: tls.TLSSocket;
  /** Request frames written before the handshake finished. */
  outbox: Buffer[];
  ready: boolean;
  /** The first failure seen, given to every request that the connection takes down. */
  failure: Error | undefined;
  serverCertificatePem: string;
  serverChainPem: string[];
}

function pemOf(raw: Buffer): string {
  return new X509Certificate(raw).toString();
}

/** The peer's chain, leaf first, following issuer links until a self-signed certificate. */
function chainOf(socket: tls.TLSSocket): string[] {
  const chain: string[] = [];
  const seen = new Set<string>();
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert !== undefined && cert.raw !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(pemOf(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

/**
 * A request/response client over one `swarm-rpc` connection to `address`, opened on the first
 * request and reopened on the next request after a failure. Concurrent requests share it,
 * matched to replies by id. A connection failure fails every request outstanding on it with
 * `PeerConnectionError` (whose message carries the TLS cause, e.g. "certificate has expired").
 */
export class TlsRpcClient {
  private connection: RpcConnection | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly host: string;
  private readonly port: number;
  private readonly maxFrameBytes: number;
  private readonly outstandingMax: number;
  private nextId = 1;
  private closed = false;

  constructor(readonly address: string, private readonly options: TlsRpcClientOptions) {
    ({ host: this.host, port: this.port } = parseAddress(address));
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.outstandingMax = options.outstandingMax ?? 1024;
    if (!(options.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${options.timeoutMs}`);
  }

  /** Requests outstanding (sent or waiting for the handshake). */
  get outstanding(): number {
    return this.pending.size;
  }

  /** Sends `body` and resolves with the reply; rejects with `RpcError`, `RpcTimeoutError`, `PeerConnectionError`, ... */
  request(body: unknown, options?: { timeoutMs?: number }): Promise<TlsRequestResult> {
    if (this.closed) return Promise.reject(new RpcClientClosedError(this.address));
    if (this.pending.size >= this.outstandingMax) return Promise.reject(new RpcOutstandingFullError(this.address, this.outstandingMax));
    const id = this.nextId++;
    const payload = encodeMessage({ id, body });
    if (payload.byteLength > this.maxFrameBytes) return Promise.reject(new OutboundFrameTooLargeError(this.address, payload.byteLength, this.maxFrameBytes));
    const timeoutMs = options?.timeoutMs ?? this.options.timeoutMs;
    return new Promise<TlsRequestResult>((resolve, reject) => {
      // tls.connect throws synchronously on unusable key material: nothing is left pending then.
      const connection = this.connection ?? this.connect();
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) reject(new RpcTimeoutError(this.address, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      const frame = frameOf(payload);
      if (connection.ready) connection.socket.write(frame);
      else connection.outbox.push(frame);
    });
  }

  /** Closes the connection; outstanding requests fail with `RpcClientClosedError`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new RpcClientClosedError(this.address));
    this.connection?.socket.destroy();
    this.connection = undefined;
  }

  private settle(id: number): Pending | undefined {
    const pending = this.pending.get(id);
    if (pending === undefined) return undefined;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    return pending;
  }

  private failAll(error: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id)!.reject(error);
  }

  private connect(): RpcConnection {
    const verify = this.options.ca !== undefined;
    const socket = tls.connect({
      host: this.host,
      port: this.port,
      key: this.options.key,
      cert: this.options.cert,
      ca: this.options.ca,
      rejectUnauthorized: verify,
      minVersion: MIN_TLS_VERSION,
      ALPNProtocols: [ALPN_RPC],
      checkServerIdentity: () => undefined,
    });
    socket.setNoDelay(true);
    const connection: RpcConnection = { socket, outbox: [], ready: false, failure: undefined, serverCertificatePem: '', serverChainPem: [] };
    this.connection = connection;
    const fail = (error: Error): void => {
      connection.failure ??= error;
      socket.destroy();
    };
    socket.on('secureConnect', () => {
      if (socket.alpnProtocol !== ALPN_RPC) return fail(new Error(`the listener does not speak ${ALPN_RPC} (ALPN: ${String(socket.alpnProtocol)})`));
      connection.serverChainPem = chainOf(socket);
      connection.serverCertificatePem = connection.serverChainPem[0] ?? '';
      connection.ready = true;
      for (const frame of connection.outbox) socket.write(frame);
      connection.outbox = [];
    });
    const reader = new FrameReader(this.maxFrameBytes, this.address, (frame) => {
      if (!isRecord(frame) || !isFrameId(frame.id) || typeof frame.ok !== 'boolean') {
        return reader.fail(new MalformedFrameError(this.address, new Error('not an rpc reply { id, ok, ... }')));
      }
      const pending = this.settle(frame.id);
      if (pending === undefined) return; // a late reply to a request that timed out
      if (frame.ok) {
        pending.resolve({ body: frame.body, serverCertificatePem: connection.serverCertificatePem, serverChainPem: connection.serverChainPem });
        return;
      }
      const error = isRecord(frame.error) ? frame.error : {};
      pending.reject(new RpcError(typeof error.code === 'string' ? error.code : RPC_INTERNAL, typeof error.message === 'string' ? error.message : 'error reply without a message', this.address));
    }, (error) => fail(error));
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('error', (error) => {
      connection.failure ??= error;
    });
    socket.on('close', () => {
      if (this.connection === connection) this.connection = undefined;
      if (this.closed) return;
      const cause = connection.failure ?? new Error('connection closed before the reply');
      // A malformed reply is reported as such; everything else is a connection failure.
      this.failAll(cause instanceof MalformedFrameError || cause instanceof FrameTooLargeError ? cause : new PeerConnectionError(this.address, 'outbound', cause));
    });
    return connection;
  }
}

/**
 * One request on a fresh `swarm-rpc` connection, closed afterwards. A joining node calls it with
 * `ca` undefined to fetch the root CA, then checks the root against its join token's digest.
 */
export async function tlsRequest(address: string, body: unknown, options: TlsRequestOptions): Promise<TlsRequestResult> {
  const client = new TlsRpcClient(address, options);
  try {
    return await client.request(body);
  } finally {
    client.close();
  }
}

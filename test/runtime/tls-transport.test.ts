// The mutual-TLS transport over real sockets on 127.0.0.1. No timing assertions: every wait is
// for an event (a delivery, a reported error, a peer state), bounded by jest's test timeout.
import net from 'node:net';
import tls from 'node:tls';
import {
  FrameTooLargeError,
  MalformedFrameError,
  OutboundFrameTooLargeError,
  PeerConnectionError,
  PeerRefusedError,
  RpcError,
  RpcOutstandingFullError,
  RpcTimeoutError,
  SendQueueFullError,
  TlsRpcClient,
  TlsTransport,
  tlsRequest,
  type PeerIdentity,
  type TlsTransportError,
  type TlsTransportOptions,
} from '../../runtime/env/real/index.js';
import { parseNodeIdentity } from '../../actors/index.js';
import { encodeMessage } from '../../runtime/index.js';
import { createIntermediateCa, createRootCa, issueNodeCert, type NodeCredentials, type TestCa } from './tls-certs.js';

const CLUSTER = 'cluster-test';

/** Records what a transport reports, and resolves waits when a condition becomes true. */
class Probe {
  readonly messages: Array<{ message: unknown; peer: PeerIdentity }> = [];
  readonly errors: TlsTransportError[] = [];
  readonly peerStates: Array<{ peer: string; connected: boolean }> = [];
  private waiters: Array<{ condition: () => boolean; resolve: () => void }> = [];

  readonly callbacks: Pick<TlsTransportOptions, 'onMessage' | 'onError' | 'onPeerState'> = {
    onMessage: (message, peer) => this.record(() => this.messages.push({ message, peer })),
    onError: (error) => this.record(() => this.errors.push(error)),
    onPeerState: (peer, connected) => this.record(() => this.peerStates.push({ peer, connected })),
  };

  bodies(): unknown[] {
    return this.messages.map((m) => m.message);
  }

  until(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ condition, resolve }));
  }

  private record(fn: () => void): void {
    fn();
    const ready = this.waiters.filter((w) => w.condition());
    this.waiters = this.waiters.filter((w) => !w.condition());
    for (const w of ready) w.resolve();
  }
}

let ca: TestCa;
let otherCa: TestCa;
let manager: NodeCredentials;
let worker: NodeCredentials;
const open: TlsTransport[] = [];

beforeAll(async () => {
  ca = await createRootCa();
  otherCa = await createRootCa();
  manager = await issueNodeCert(ca, 'node-manager-1', 'swarm-manager', CLUSTER);
  worker = await issueNodeCert(ca, 'node-worker-1', 'swarm-worker', CLUSTER);
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function start(creds: NodeCredentials, probe: Probe, extra: Partial<TlsTransportOptions> = {}): Promise<TlsTransport> {
  const transport = await TlsTransport.listen({
    host: '127.0.0.1',
    port: 0,
    ...creds,
    backoff: { initialMs: 5, maxMs: 50 },
    ...probe.callbacks,
    ...extra,
  });
  open.push(transport);
  return transport;
}

/** A port that was just free: bound by a transport that is then closed. */
async function freePort(): Promise<number> {
  const t = await TlsTransport.listen({ ...manager, onMessage: () => undefined });
  const port = t.port;
  await t.close();
  return port;
}

/** Opens a raw TLS connection with valid credentials, writes `bytes`, resolves when the server closes it. */
function rawTlsWrite(port: number, creds: NodeCredentials, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...creds, minVersion: 'TLSv1.3', ALPNProtocols: ['swarm-stream'], checkServerIdentity: () => undefined });
    socket.on('secureConnect', () => socket.write(bytes));
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}

describe('TlsTransport', () => {
  test('two transports exchange ordered messages both ways and see each other\'s CN/OU/O', async () => {
    const pa = new Probe();
    const pb = new Probe();
    const a = await start(manager, pa);
    const b = await start(worker, pb);
    const n = 200;
    for (let i = 0; i < n; i++) {
      a.send(b.address, { seq: i, from: 'a', blob: new Uint8Array([i % 256]) });
      b.send(a.address, { seq: i, from: 'b' });
    }
    await pb.until(() => pb.messages.length === n);
    await pa.until(() => pa.messages.length === n);
    expect(pb.bodies()).toEqual(Array.from({ length: n }, (_, i) => ({ seq: i, from: 'a', blob: new Uint8Array([i % 256]) })));
    expect(pa.bodies()).toEqual(Array.from({ length: n }, (_, i) => ({ seq: i, from: 'b' })));
    const managerCert = parseNodeIdentity(manager.cert);
    const workerCert = parseNodeIdentity(worker.cert);
    expect(pb.messages[0]!.peer).toEqual({ commonName: 'node-manager-1', organizationalUnit: 'swarm-manager', organization: CLUSTER, serialNumber: managerCert.serial.toUpperCase(), validTo: managerCert.notAfter });
    expect(pa.messages[0]!.peer).toEqual({ commonName: 'node-worker-1', organizationalUnit: 'swarm-worker', organization: CLUSTER, serialNumber: workerCert.serial.toUpperCase(), validTo: workerCert.notAfter });
    expect(pa.errors).toEqual([]);
    expect(pb.errors).toEqual([]);
  });

  test('a client whose certificate is signed by another CA is refused; nothing it sent is delivered', async () => {
    const pb = new Probe();
    const b = await start(worker, pb);
    const rogueCreds = await issueNodeCert(otherCa, 'intruder', 'swarm-manager', CLUSTER);
    const pr = new Probe();
    // The intruder trusts the real CA (so it would accept the server) but presents a foreign cert.
    const rogue = await start({ ...rogueCreds, ca: ca.certPem }, pr);
    rogue.send(b.address, { evil: true });
    await pb.until(() => pb.errors.some((e) => e instanceof PeerConnectionError && e.direction === 'inbound'));
    // A legitimate peer is still served, and the intruder's message never arrived.
    const pa = new Probe();
    const a = await start(manager, pa);
    a.send(b.address, { ok: true });
    await pb.until(() => pb.messages.length >= 1);
    expect(pb.bodies()).toEqual([{ ok: true }]);
  });

  test('a peer that sends garbage or an oversized length prefix is cut off with a typed error; others are served', async () => {
    const pb = new Probe();
    const b = await start(worker, pb, { maxFrameBytes: 1024 });
    const intruder = await issueNodeCert(ca, 'node-garbage', 'swarm-worker', CLUSTER);

    // 'GARB' read as a big-endian length is ~1.2 GB: over the limit.
    await rawTlsWrite(b.port, intruder, Buffer.from('GARBAGE!'));
    await pb.until(() => pb.errors.some((e) => e instanceof FrameTooLargeError));
    const tooLarge = pb.errors.find((e) => e instanceof FrameTooLargeError) as FrameTooLargeError;
    expect(tooLarge.code).toBe('FRAME_TOO_LARGE');
    expect(tooLarge.maxFrameBytes).toBe(1024);

    // A well-sized frame whose payload is not CBOR.
    await rawTlsWrite(b.port, intruder, Buffer.from([0, 0, 0, 3, 0xff, 0xff, 0xff]));
    await pb.until(() => pb.errors.some((e) => e instanceof MalformedFrameError));
    expect(pb.errors.find((e) => e instanceof MalformedFrameError)!.code).toBe('FRAME_MALFORMED');

    // Plain TCP garbage never gets past the TLS handshake.
    await new Promise<void>((resolve) => {
      const socket = net.connect(b.port, '127.0.0.1', () => socket.write('hello, not TLS\r\n\r\n'));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
    await pb.until(() => pb.errors.some((e) => e instanceof PeerConnectionError));
    expect(pb.messages).toEqual([]);

    const pa = new Probe();
    const a = await start(manager, pa);
    a.send(b.address, { still: 'serving' });
    await pb.until(() => pb.messages.length === 1);
    expect(pb.bodies()).toEqual([{ still: 'serving' }]);
  });

  test('close ends connections that never finished their handshake', async () => {
    const pb = new Probe();
    const b = await TlsTransport.listen({ ...worker, ...pb.callbacks });
    const silent = net.connect(b.port, '127.0.0.1');
    const closed = new Promise<void>((resolve) => silent.on('close', () => resolve()));
    silent.on('error', () => undefined);
    await new Promise<void>((resolve) => silent.on('connect', () => resolve()));
    await b.close(); // would wait for the silent client without tracking raw connections
    await closed;
    expect(pb.messages).toEqual([]);
  });

  test('an outbound message over the frame limit is refused to the caller', async () => {
    const pa = new Probe();
    const a = await start(manager, pa, { maxFrameBytes: 64 });
    expect(() => a.send('127.0.0.1:1', { big: 'x'.repeat(100) })).toThrow(OutboundFrameTooLargeError);
    expect(a.queued('127.0.0.1:1')).toBe(0);
  });

  test('the sender reconnects after the receiver restarts on the same port', async () => {
    const pa = new Probe();
    const a = await start(manager, pa);
    const pb1 = new Probe();
    const b1 = await start(worker, pb1);
    const port = b1.port;
    const address = b1.address;
    a.send(address, { n: 1 });
    await pb1.until(() => pb1.messages.length === 1);
    await pa.until(() => pa.peerStates.some((s) => s.connected));

    await b1.close();
    await pa.until(() => pa.peerStates.some((s) => !s.connected));
    a.send(address, { n: 2 });
    a.send(address, { n: 3 });
    // Refused connections while the receiver is down: the sender backs off and retries.
    await pa.until(() => pa.errors.some((e) => e instanceof PeerConnectionError && e.direction === 'outbound'));

    const pb2 = new Probe();
    await start(worker, pb2, { port });
    await pb2.until(() => pb2.messages.length === 2);
    expect(pb2.bodies()).toEqual([{ n: 2 }, { n: 3 }]);
    expect(a.stats.reconnectsScheduled).toBeGreaterThan(0);
  });

  test('onPeerGone: a peer whose listener is gone is reported at once, with nothing queued to it; a live peer that drops the stream is not', async () => {
    const gone: string[] = [];
    const pa = new Probe();
    const a = await start(manager, pa, { onPeerGone: (peer) => gone.push(peer), goneProbeIntervalMs: 0 });
    // A live peer refuses our stream (as a node that removed us does): the probe reconnects, is
    // accepted by the listener, and nothing is reported gone.
    const removed = new Set<string>();
    const pl = new Probe();
    const live = await start(worker, pl, { verifyPeer: (peer) => (removed.has(peer.commonName) ? 'removed' : undefined) });
    a.send(live.address, { n: 1 });
    await pl.until(() => pl.messages.length === 1);
    expect(live.refuseConnected(() => true)).toBe(1);
    await pa.until(() => pa.peerStates.filter((s) => s.peer === live.address && s.connected).length === 2);
    expect(gone).toEqual([]);
    expect(a.stats.connectsRefused).toBe(0);

    // The peer's process stops: its listener goes with it. Nothing is queued to it, yet the closed
    // stream is probed once and the refusal reported, exactly once.
    const pb = new Probe();
    const b = await start(worker, pb);
    const address = b.address;
    a.send(address, { n: 2 });
    await pb.until(() => pb.messages.length === 1);
    await b.close();
    // The refusal is reported as an outbound connection error, and onPeerGone right after it.
    await pa.until(() => pa.errors.some((e) => e instanceof PeerConnectionError && e.remote === address && e.direction === 'outbound'));
    expect(gone).toEqual([address]);
    expect(a.stats.connectsRefused).toBe(1);
  });

  test('a peer is probed at most once per goneProbeIntervalMs: a peer that keeps refusing our stream is not probed in a loop', async () => {
    const pa = new Probe();
    const gone: string[] = [];
    const a = await start(manager, pa, { onPeerGone: (peer) => gone.push(peer) }); // default interval: 5 s
    const pl = new Probe();
    const live = await start(worker, pl, { verifyPeer: () => undefined });
    a.send(live.address, { n: 1 });
    await pl.until(() => pl.messages.length === 1);
    const scheduled = a.stats.reconnectsScheduled;
    // First close: probed (the probe connects: the peer is alive).
    expect(live.refuseConnected(() => true)).toBe(1);
    await pa.until(() => pa.peerStates.filter((s) => s.peer === live.address && s.connected).length === 2);
    expect(a.stats.reconnectsScheduled).toBe(scheduled + 1);
    // A message over the probe's stream: the listener has taken the connection in.
    a.send(live.address, { n: 2 });
    await pl.until(() => pl.messages.length === 2);
    // Second close within the interval, nothing queued: no probe, no reconnect until the next send.
    expect(live.refuseConnected(() => true)).toBe(1);
    await pa.until(() => pa.peerStates.filter((s) => s.peer === live.address && !s.connected).length === 2);
    expect(a.stats.reconnectsScheduled).toBe(scheduled + 1);
    expect(gone).toEqual([]);
    // The next send reconnects as before.
    a.send(live.address, { n: 3 });
    await pl.until(() => pl.messages.length === 3);
  });

  test('a full queue to a down peer drops the oldest lossy messages', async () => {
    const port = await freePort();
    const pa = new Probe();
    const a = await start(manager, pa, { queueLimit: 3, overflow: 'dropOldest' });
    const address = `127.0.0.1:${port}`;
    for (let i = 1; i <= 10; i++) a.send(address, { raft: i });
    expect(a.queued(address)).toBe(3);
    expect(a.stats.dropped).toBe(7);

    const pb = new Probe();
    await start(worker, pb, { port });
    await pb.until(() => pb.messages.length === 3);
    expect(pb.bodies()).toEqual([{ raft: 8 }, { raft: 9 }, { raft: 10 }]);
  });

  test('a full queue to a down peer fails reliable sends with a typed error and keeps what it had', async () => {
    const port = await freePort();
    const pa = new Probe();
    const a = await start(manager, pa, { queueLimit: 3 });
    const address = `127.0.0.1:${port}`;
    for (let i = 1; i <= 3; i++) a.send(address, { stream: i }, { overflow: 'fail' });
    let error: unknown;
    try {
      a.send(address, { stream: 4 }, { overflow: 'fail' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SendQueueFullError);
    expect((error as SendQueueFullError).code).toBe('SEND_QUEUE_FULL');
    expect(a.queued(address)).toBe(3);
    expect(a.stats.dropped).toBe(0);

    const pb = new Probe();
    await start(worker, pb, { port });
    await pb.until(() => pb.messages.length === 3);
    expect(pb.bodies()).toEqual([{ stream: 1 }, { stream: 2 }, { stream: 3 }]);
  });
});

/** The rejection of `promise` (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

/** Opens a raw TLS connection (any ALPN, any or no credentials), writes `bytes` once secure, resolves on close. */
function rawTls(port: number, options: { creds?: Partial<NodeCredentials>; alpn?: string[]; bytes?: Buffer }): Promise<void> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ...options.creds,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      ...(options.alpn === undefined ? {} : { ALPNProtocols: options.alpn }),
      checkServerIdentity: () => undefined,
    });
    socket.on('secureConnect', () => {
      if (options.bytes !== undefined) socket.write(options.bytes);
    });
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}

function samePem(a: string, b: string): boolean {
  return a.trim() === b.trim();
}

/** The first PEM certificate of a (possibly chained) PEM string. */
function leafOf(pem: string): string {
  return pem.slice(0, pem.indexOf('-----END CERTIFICATE-----') + '-----END CERTIFICATE-----'.length);
}

const echo: TlsTransportOptions['onRequest'] = async (body, peer) => ({ echo: body, peer: peer?.commonName ?? null });

describe('TlsTransport rpc (ALPN swarm-rpc)', () => {
  test('a client with a certificate is answered on the same port as streams, and its identity is given to onRequest', async () => {
    const pb = new Probe();
    const b = await start(worker, pb, { onRequest: echo });
    const result = await tlsRequest(b.address, { hello: 1 }, { ...manager, timeoutMs: 5000 });
    expect(result.body).toEqual({ echo: { hello: 1 }, peer: 'node-manager-1' });
    expect(samePem(result.serverCertificatePem, worker.cert)).toBe(true);
    expect(samePem(result.serverChainPem[0]!, worker.cert)).toBe(true);
    // The same port still takes streams.
    const a = await start(manager, new Probe());
    a.send(b.address, { stream: true });
    await pb.until(() => pb.messages.length === 1);
    expect(b.stats.requests).toBe(1);
    expect(pb.errors).toEqual([]);
  });

  test('a client without a certificate (a joining node) is answered with peer undefined and may skip verifying the server', async () => {
    const pb = new Probe();
    const b = await start(worker, pb, { onRequest: echo });
    const unverified = await tlsRequest(b.address, 'root please', { timeoutMs: 5000 });
    expect(unverified.body).toEqual({ echo: 'root please', peer: null });
    expect(samePem(unverified.serverCertificatePem, worker.cert)).toBe(true);
    // With `ca` the server's chain must verify against it.
    const verified = await tlsRequest(b.address, 'again', { ca: ca.certPem, timeoutMs: 5000 });
    expect(verified.body).toEqual({ echo: 'again', peer: null });
    const wrongRoot = await rejection(tlsRequest(b.address, 'x', { ca: otherCa.certPem, timeoutMs: 5000 }));
    expect(wrongRoot).toBeInstanceOf(PeerConnectionError);
    expect(wrongRoot.message).toMatch(/self-signed|unable to verify|unable to get/);
    expect(pb.errors).toEqual([]);
  });

  test('a rejected onRequest becomes an error reply with its code (or INTERNAL); without onRequest RPC_UNSUPPORTED', async () => {
    const b = await start(worker, new Probe(), {
      onRequest: async (body) => {
        if (body === 'typed') throw Object.assign(new Error('not the leader'), { code: 'NOT_LEADER' });
        throw new Error('boom');
      },
    });
    const typed = await rejection(tlsRequest(b.address, 'typed', { timeoutMs: 5000 }));
    expect(typed).toBeInstanceOf(RpcError);
    expect((typed as RpcError).code).toBe('NOT_LEADER');
    expect(typed.message).toBe('not the leader');
    const untyped = await rejection(tlsRequest(b.address, 'plain', { timeoutMs: 5000 }));
    expect((untyped as RpcError).code).toBe('INTERNAL');
    expect(untyped.message).toBe('boom');

    const c = await start(manager, new Probe());
    const unsupported = await rejection(tlsRequest(c.address, 'anything', { ...worker, timeoutMs: 5000 }));
    expect(unsupported).toBeInstanceOf(RpcError);
    expect((unsupported as RpcError).code).toBe('RPC_UNSUPPORTED');
  });

  test('a request with no reply times out with a typed error', async () => {
    const b = await start(worker, new Probe(), { onRequest: () => new Promise(() => undefined) });
    const error = await rejection(tlsRequest(b.address, 'never answered', { timeoutMs: 100 }));
    expect(error).toBeInstanceOf(RpcTimeoutError);
    expect((error as RpcTimeoutError).code).toBe('RPC_TIMEOUT');
  });

  test('TlsRpcClient multiplexes concurrent requests on one connection, bounds them, and reconnects after a failure', async () => {
    const held: Array<{ body: number; resolve: (value: unknown) => void }> = [];
    const remotes = new Set<string>();
    const heldProbe = new Probe();
    const pb = new Probe();
    const b = await start(worker, pb, {
      onRequest: (body, _peer, remote) => {
        remotes.add(remote);
        return new Promise((resolve) => {
          held.push({ body: body as number, resolve });
          heldProbe.callbacks.onPeerState!('held', true); // wakes waiters on `held`
        });
      },
    });
    const client = new TlsRpcClient(b.address, { ...manager, timeoutMs: 5000, outstandingMax: 3 });
    const replies = [1, 2, 3].map((n) => client.request(n));
    expect(client.outstanding).toBe(3);
    const over = await rejection(client.request(4));
    expect(over).toBeInstanceOf(RpcOutstandingFullError);
    await heldProbe.until(() => held.length === 3);
    // Answer in reverse order: each reply still reaches its own request.
    for (const h of [...held].reverse()) h.resolve(h.body * 10);
    expect((await Promise.all(replies)).map((r) => r.body)).toEqual([10, 20, 30]);
    expect(remotes.size).toBe(1);

    // The server goes away: outstanding requests fail; the next request after its return reconnects.
    const port = b.port;
    const pending = client.request(5);
    await heldProbe.until(() => held.length === 4);
    await b.close();
    expect(await rejection(pending)).toBeInstanceOf(PeerConnectionError);
    const b2 = await start(worker, new Probe(), { port, onRequest: echo });
    expect((await client.request(6)).body).toEqual({ echo: 6, peer: 'node-manager-1' });
    client.close();
    expect(b2.stats.requests).toBe(1);
  });

  test('garbage inside an rpc connection is reported and closed; the port keeps serving', async () => {
    const pb = new Probe();
    const b = await start(worker, pb, { onRequest: echo, maxFrameBytes: 1024 });
    const notARequest = Buffer.from(encodeMessage('hello'));
    const frame = Buffer.alloc(4 + notARequest.byteLength);
    frame.writeUInt32BE(notARequest.byteLength, 0);
    frame.set(notARequest, 4);
    await rawTls(b.port, { alpn: ['swarm-rpc'], bytes: frame });
    await pb.until(() => pb.errors.some((e) => e instanceof MalformedFrameError));
    await rawTls(b.port, { alpn: ['swarm-rpc'], bytes: Buffer.from('GARBAGE!') });
    await pb.until(() => pb.errors.some((e) => e instanceof FrameTooLargeError));
    // No ALPN at all, or one this port does not speak.
    await rawTls(b.port, { creds: manager, bytes: Buffer.from('x') });
    await rawTls(b.port, { creds: manager, alpn: ['http/1.1'], bytes: Buffer.from('x') });
    await pb.until(() => pb.errors.filter((e) => e instanceof PeerConnectionError).length >= 2);
    const messages = pb.errors.filter((e) => e instanceof PeerConnectionError).map((e) => e.message);
    expect(messages).toEqual(expect.arrayContaining([expect.stringMatching(/no ALPN protocol agreed/), expect.stringMatching(/no application protocol/)]));
    expect((await tlsRequest(b.address, 'still here', { timeoutMs: 5000 })).body).toEqual({ echo: 'still here', peer: null });
  });
});

describe('TlsTransport peer admission', () => {
  test('a stream without a client certificate is refused and nothing it sent is delivered', async () => {
    const pb = new Probe();
    const b = await start(worker, pb);
    const payload = Buffer.from(encodeMessage({ sneaky: true }));
    const frame = Buffer.alloc(4 + payload.byteLength);
    frame.writeUInt32BE(payload.byteLength, 0);
    frame.set(payload, 4);
    await rawTls(b.port, { alpn: ['swarm-stream'], bytes: frame });
    await pb.until(() => pb.errors.some((e) => e instanceof PeerConnectionError));
    expect(pb.errors.find((e) => e instanceof PeerConnectionError)!.message).toMatch(/requires a client certificate/);
    expect(pb.messages).toEqual([]);
  });

  test('an expired client certificate is refused with an error that says so', async () => {
    const pb = new Probe();
    const b = await start(worker, pb, { onRequest: echo });
    const expired = await issueNodeCert(ca, 'node-expired', 'swarm-worker', CLUSTER, { now: Date.UTC(2001, 0, 1), validityMs: 3600_000 });
    // TLS 1.3 lets the client finish its handshake before the server decides: the refusal comes
    // back as the answer to its request, with the reason, and nothing is served.
    const error = await rejection(tlsRequest(b.address, 'hi', { ...expired, timeoutMs: 5000 }));
    expect(error).toBeInstanceOf(RpcError);
    expect((error as RpcError).code).toBe('CERT_HAS_EXPIRED');
    expect((error as RpcError).message).toMatch(/certificate has expired/);
    await pb.until(() => pb.errors.some((e) => e instanceof PeerConnectionError && /certificate has expired/.test(e.message)));
    // And as a stream: nothing delivered.
    const pe = new Probe();
    const e = await start(expired, pe);
    e.send(b.address, { from: 'expired' });
    await pb.until(() => pb.errors.filter((x) => /expired/.test(x.message)).length >= 2);
    expect(pb.messages).toEqual([]);
  });

  test('a server with an expired certificate fails a verifying client with the cause', async () => {
    const expired = await issueNodeCert(ca, 'node-expired', 'swarm-manager', CLUSTER, { now: Date.UTC(2001, 0, 1), validityMs: 3600_000 });
    const b = await start(expired, new Probe(), { onRequest: echo });
    const error = await rejection(tlsRequest(b.address, 'hi', { ca: ca.certPem, timeoutMs: 5000 }));
    expect(error).toBeInstanceOf(PeerConnectionError);
    expect(error.message).toMatch(/certificate has expired/);
  });

  test('verifyPeer refuses a listed node (streams and rpc); refuseConnected closes its open connections', async () => {
    const removed = new Set<string>();
    const pb = new Probe();
    const b = await start(manager, pb, {
      onRequest: echo,
      verifyPeer: (peer) => (removed.has(peer.serialNumber) ? 'node was removed from the cluster' : undefined),
    });
    const pa = new Probe();
    const a = await start(worker, pa);
    a.send(b.address, { n: 1 });
    await pb.until(() => pb.messages.length === 1);
    await pa.until(() => pa.peerStates.some((s) => s.connected));

    // The node is removed: its still-valid certificate is refused from now on.
    const serial = pb.messages[0]!.peer.serialNumber;
    removed.add(serial);
    expect(b.refuseConnected((peer) => peer.serialNumber === serial)).toBe(1);
    expect(b.refuseConnected((peer) => peer.serialNumber === serial)).toBe(0);
    await pa.until(() => pa.peerStates.some((s) => !s.connected));
    a.send(b.address, { n: 2 });
    await pb.until(() => pb.errors.some((e) => e instanceof PeerRefusedError));
    const refused = pb.errors.find((e) => e instanceof PeerRefusedError) as PeerRefusedError;
    expect(refused.code).toBe('PEER_REFUSED');
    expect(refused.identity.commonName).toBe('node-worker-1');
    expect(refused.reason).toBe('node was removed from the cluster');

    const rpc = await rejection(tlsRequest(b.address, 'let me in', { ...worker, timeoutMs: 5000 }));
    expect(rpc).toBeInstanceOf(RpcError);
    expect((rpc as RpcError).code).toBe('PEER_REFUSED');
    expect((rpc as RpcError).message).toMatch(/node was removed from the cluster/);
    await pb.until(() => pb.errors.filter((e) => e instanceof PeerRefusedError).length >= 2);
    expect(pb.bodies()).toEqual([{ n: 1 }]);
    // Other nodes are still served.
    expect((await tlsRequest(b.address, 'ok', { ...manager, timeoutMs: 5000 })).body).toEqual({ echo: 'ok', peer: 'node-manager-1' });
  });
});

describe('TlsTransport credentials', () => {
  test('updateCredentials: new connections use the renewed certificate; an open stream keeps delivering', async () => {
    const pb = new Probe();
    const b = await start(worker, pb, { onRequest: echo });
    const pa = new Probe();
    const a = await start(manager, pa);
    a.send(b.address, { n: 1 });
    await pb.until(() => pb.messages.length === 1);
    const oldSerial = pb.messages[0]!.peer.serialNumber;

    const renewedManager = await issueNodeCert(ca, 'node-manager-1', 'swarm-manager', CLUSTER);
    const renewedWorker = await issueNodeCert(ca, 'node-worker-1', 'swarm-worker', CLUSTER);
    a.updateCredentials(renewedManager);
    b.updateCredentials(renewedWorker);

    // The open stream is not dropped and still carries the old identity.
    a.send(b.address, { n: 2 });
    await pb.until(() => pb.messages.length === 2);
    expect(pb.messages[1]!.peer.serialNumber).toBe(oldSerial);
    expect(pa.peerStates).toEqual([{ peer: b.address, connected: true }]);

    // A new outbound stream from a presents the renewed certificate.
    const pc = new Probe();
    const c = await start(worker, pc);
    a.send(c.address, { n: 3 });
    await pc.until(() => pc.messages.length === 1);
    expect(pc.messages[0]!.peer.serialNumber).toBe(parseNodeIdentity(renewedManager.cert).serial.toUpperCase());
    // A new inbound handshake with b sees b's renewed certificate.
    const result = await tlsRequest(b.address, 'who are you', { ca: ca.certPem, timeoutMs: 5000 });
    expect(samePem(result.serverCertificatePem, renewedWorker.cert)).toBe(true);
    expect(pb.errors).toEqual([]);
  });

  test('root rotation: trusting both roots, a node accepts peers of the new root while old-root streams stay up', async () => {
    const newRoot = await createRootCa();
    const pb = new Probe();
    const b = await start(worker, pb);
    const pa = new Probe();
    const a = await start(manager, pa);
    a.send(b.address, { n: 1 });
    await pb.until(() => pb.messages.length === 1);

    const crossSigned = await issueNodeCert(newRoot, 'node-worker-1', 'swarm-worker', CLUSTER);
    b.updateCredentials({ key: crossSigned.key, cert: crossSigned.cert, ca: [ca.certPem, newRoot.certPem] });
    const newcomer = await issueNodeCert(newRoot, 'node-manager-2', 'swarm-manager', CLUSTER);
    const pn = new Probe();
    const n = await start({ ...newcomer, ca: newRoot.certPem }, pn);
    n.send(b.address, { from: 'new root' });
    a.send(b.address, { n: 2 });
    await pb.until(() => pb.messages.length === 3);
    expect(pb.bodies()).toEqual(expect.arrayContaining([{ n: 1 }, { n: 2 }, { from: 'new root' }]));
    expect(pb.errors).toEqual([]);
  });

  test('a certificate chain (leaf + intermediate) is accepted at both ends, as server and as client', async () => {
    const intermediate = await createIntermediateCa(ca);
    const chainedManager = await issueNodeCert(intermediate, 'node-manager-3', 'swarm-manager', CLUSTER, { rootPem: ca.certPem });
    const chainedWorker = await issueNodeCert(intermediate, 'node-worker-3', 'swarm-worker', CLUSTER, { rootPem: ca.certPem });
    const pa = new Probe();
    const pb = new Probe();
    const a = await start(chainedManager, pa);
    const b = await start(chainedWorker, pb, { onRequest: echo });
    const plain = await start(worker, new Probe()); // a leaf issued by the root itself
    a.send(b.address, { to: 'b' });
    b.send(a.address, { to: 'a' });
    plain.send(a.address, { from: 'root-issued' });
    await pb.until(() => pb.messages.length === 1);
    await pa.until(() => pa.messages.length === 2);
    expect(pb.messages[0]!.peer.commonName).toBe('node-manager-3');
    expect(pa.bodies()).toEqual(expect.arrayContaining([{ to: 'a' }, { from: 'root-issued' }]));

    const result = await tlsRequest(b.address, 'chain?', { ...chainedManager, timeoutMs: 5000 });
    expect(result.body).toEqual({ echo: 'chain?', peer: 'node-manager-3' });
    expect(samePem(result.serverCertificatePem, leafOf(chainedWorker.cert))).toBe(true);
    expect(samePem(result.serverChainPem[1]!, intermediate.certPem)).toBe(true);
    expect(samePem(result.serverChainPem[2]!, ca.certPem)).toBe(true);
    expect(pa.errors).toEqual([]);
    expect(pb.errors).toEqual([]);
  });
});

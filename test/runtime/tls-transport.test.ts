// The mutual-TLS transport over real sockets on 127.0.0.1. No timing assertions: every wait is
// for an event (a delivery, a reported error, a peer state), bounded by jest's test timeout.
import net from 'node:net';
import tls from 'node:tls';
import {
  FrameTooLargeError,
  MalformedFrameError,
  OutboundFrameTooLargeError,
  PeerConnectionError,
  SendQueueFullError,
  TlsTransport,
  type PeerIdentity,
  type TlsTransportError,
  type TlsTransportOptions,
} from '../../runtime/env/real/index.js';
import { parseNodeIdentity } from '../../actors/index.js';
import { createRootCa, issueNodeCert, type NodeCredentials, type TestCa } from './tls-certs.js';

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

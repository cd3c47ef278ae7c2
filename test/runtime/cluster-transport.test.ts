// ActorSystems in one jest process talking over ClusterTransport: real mutual-TLS sockets on
// 127.0.0.1, node identity from the certificate. Every wait is for an event, bounded by jest's
// test timeout.
import { ActorSystem, parseAddress, plain, type Envelope } from '../../runtime/index.js';
import { ClusterTransport, TlsTransport, realEnv, type ClusterTransportOptions, type PeerIdentity } from '../../runtime/env/real/index.js';
import { createRootCa, issueNodeCert, type NodeCredentials, type TestCa } from './tls-certs.js';

const CLUSTER = 'cluster-test';

/** Resolves waits when a condition over recorded state becomes true. */
class Waiter {
  private waiters: Array<{ condition: () => boolean; resolve: () => void }> = [];

  until(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ condition, resolve }));
  }

  /** Call after every change of the state the conditions read. */
  changed(): void {
    const ready = this.waiters.filter((w) => w.condition());
    this.waiters = this.waiters.filter((w) => !w.condition());
    for (const w of ready) w.resolve();
  }
}

interface Refusal {
  readonly envelope: Envelope;
  readonly peer: PeerIdentity;
  readonly reason: string;
}

let ca: TestCa;
let managerA: NodeCredentials;
let managerB: NodeCredentials;
let workerC: NodeCredentials;
const transports: Array<ClusterTransport | TlsTransport> = [];
const systems: ActorSystem[] = [];

beforeAll(async () => {
  ca = await createRootCa();
  managerA = await issueNodeCert(ca, 'node-a', 'swarm-manager', CLUSTER);
  managerB = await issueNodeCert(ca, 'node-b', 'swarm-manager', CLUSTER);
  workerC = await issueNodeCert(ca, 'node-c', 'swarm-worker', CLUSTER);
});

afterEach(async () => {
  for (const system of systems.splice(0)) system.shutdown();
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

async function node(nodeId: string, creds: NodeCredentials, extra: Partial<ClusterTransportOptions> = {}): Promise<{ transport: ClusterTransport; system: ActorSystem }> {
  const transport = await ClusterTransport.start({ nodeId, host: '127.0.0.1', port: 0, ...creds, backoff: { initialMs: 5, maxMs: 50 }, ...extra });
  transports.push(transport);
  const system = new ActorSystem({ nodeId, env: realEnv({ transport }) });
  systems.push(system);
  return { transport, system };
}

/** Spawns `collector` on `system`: it records every message with its sender. */
function collector(system: ActorSystem, waiter: Waiter): Array<{ message: unknown; sender: string | undefined }> {
  const received: Array<{ message: unknown; sender: string | undefined }> = [];
  system.spawn('collector', plain<unknown>('collector', (message, ctx) => {
    received.push({ message, sender: ctx.sender });
    waiter.changed();
  }));
  return received;
}

describe('ClusterTransport', () => {
  test('two actor systems exchange ordered messages and asks across TLS', async () => {
    const a = await node('node-a', managerA);
    const b = await node('node-b', managerB);
    a.transport.setPeerAddress('node-b', b.transport.address);
    b.transport.setPeerAddress('node-a', a.transport.address);
    expect(a.transport.peerAddress('node-b')).toBe(b.transport.address);
    expect(a.transport.fifoPerLink).toBe(true);

    const waiter = new Waiter();
    const received = collector(b.system, waiter);
    b.system.spawn('echo', plain<{ n: number; replyTo: string }>('echo', (message, ctx) => ctx.send(message.replyTo, { pong: message.n })));
    a.system.spawn('sender', plain<{ count: number }>('sender', (message, ctx) => {
      for (let i = 0; i < message.count; i++) ctx.send('node-b/collector', { seq: i });
    }));

    a.system.send('node-a/sender', { count: 200 });
    await waiter.until(() => received.length === 200);
    expect(received.map((r) => r.message)).toEqual(Array.from({ length: 200 }, (_, i) => ({ seq: i })));
    expect(received[0]!.sender).toBe('node-a/sender');

    const replies = await Promise.all([1, 2, 3].map((n) => a.system.ask<{ pong: number }>('node-b/echo', (replyTo) => ({ n, replyTo }), { timeoutMs: 5000 })));
    expect(replies).toEqual([{ pong: 1 }, { pong: 2 }, { pong: 3 }]);
    expect(b.transport.stats.delivered).toBe(203);
    expect(b.transport.stats.refused).toBe(0);
    expect(a.transport.stats.delivered).toBe(3);
  });

  test('an envelope to a node with no known address is dropped and counted', async () => {
    const a = await node('node-a', managerA);
    a.system.send('node-z/anyone', { lost: true });
    expect(a.transport.stats.unroutable).toBe(1);
    a.transport.setPeerAddress('node-z', '127.0.0.1:1');
    a.transport.removePeer('node-z');
    expect(a.transport.peerAddress('node-z')).toBeUndefined();
    a.system.send('node-z/anyone', { lost: true });
    expect(a.transport.stats.unroutable).toBe(2);
    expect(a.transport.stats.sent).toBe(0);
  });

  test('a node cannot speak for another: a spoofed sender or a foreign target is refused, counted and reported', async () => {
    const refusals: Refusal[] = [];
    const waiter = new Waiter();
    const b = await node('node-b', managerB, { onRefused: (envelope, peer, reason) => { refusals.push({ envelope, peer, reason }); waiter.changed(); } });
    const received = collector(b.system, waiter);
    // node-c's certificate, speaking raw frames on the stream.
    const c = await TlsTransport.listen({ ...workerC, onMessage: () => undefined });
    transports.push(c);
    c.send(b.transport.address, { from: 'node-a/raft', to: 'node-b/collector', message: 'spoofed' });
    c.send(b.transport.address, { from: 'node-c/agent', to: 'node-x/collector', message: 'misrouted' });
    c.send(b.transport.address, { from: 'node-c/agent', to: 'node-b/collector', message: 'honest' });
    await waiter.until(() => received.length === 1);
    expect(received).toEqual([{ message: 'honest', sender: 'node-c/agent' }]);
    expect(b.transport.stats.refused).toBe(2);
    expect(refusals.map((r) => r.envelope.message)).toEqual(['spoofed', 'misrouted']);
    expect(refusals[0]!.peer.commonName).toBe('node-c');
    expect(refusals[0]!.reason).toMatch(/sender node 'node-a' is not the certificate's node 'node-c'/);
    expect(refusals[1]!.reason).toMatch(/addressed to node 'node-x'/);
  });

  test('authorize refuses by role: a worker may not address raft actors', async () => {
    const refusals: Refusal[] = [];
    const waiter = new Waiter();
    const b = await node('node-b', managerB, {
      authorize: (envelope, peer) => (peer.organizationalUnit === 'swarm-worker' && parseAddress(envelope.to).path.startsWith('raft') ? 'workers may not reach raft' : undefined),
      onRefused: (envelope, peer, reason) => { refusals.push({ envelope, peer, reason }); waiter.changed(); },
    });
    const raftSeen: unknown[] = [];
    b.system.spawn('raft', plain<unknown>('raft', (message) => { raftSeen.push(message); waiter.changed(); }));
    const received = collector(b.system, waiter);
    const c = await node('node-c', workerC);
    const a = await node('node-a', managerA);
    c.transport.setPeerAddress('node-b', b.transport.address);
    a.transport.setPeerAddress('node-b', b.transport.address);

    c.system.send('node-b/raft', { type: 'vote.request', term: 99 });
    c.system.send('node-b/collector', { type: 'task.status' });
    a.system.send('node-b/raft', { type: 'append.request' });
    // Same stream per link: once the later envelope from node-c is in, the earlier was decided.
    await waiter.until(() => received.length === 1 && raftSeen.length === 1);
    expect(raftSeen).toEqual([{ type: 'append.request' }]);
    expect(received.map((r) => r.message)).toEqual([{ type: 'task.status' }]);
    expect(b.transport.stats.refused).toBe(1);
    expect(refusals).toHaveLength(1);
    expect(refusals[0]!.envelope.to).toBe('node-b/raft');
    expect(refusals[0]!.peer.commonName).toBe('node-c');
    expect(refusals[0]!.reason).toBe('workers may not reach raft');
  });

  test('a node that restarts and opens a stream to us gets what we queued to it at once, not after our reconnect backoff', async () => {
    const waiter = new Waiter();
    const outboundErrors: string[] = [];
    let streamsLost = 0;
    // A backoff longer than the test's timeout: only the restarted node's own stream can cut it short.
    const a = await node('node-a', managerA, {
      backoff: { initialMs: 120_000, maxMs: 120_000 },
      onError: (error) => { outboundErrors.push(error.message); waiter.changed(); },
      onPeerState: (_peer, connected) => { if (!connected) streamsLost++; waiter.changed(); },
    });
    const aReceived = collector(a.system, waiter);
    const startB = async (port: number): Promise<{ transport: ClusterTransport; system: ActorSystem; received: Array<{ message: unknown; sender: string | undefined }> }> => {
      const transport = await ClusterTransport.start({ nodeId: 'node-b', host: '127.0.0.1', port, ...managerB, backoff: { initialMs: 5, maxMs: 50 } });
      const system = new ActorSystem({ nodeId: 'node-b', env: realEnv({ transport }) });
      transport.setPeerAddress('node-a', a.transport.address);
      return { transport, system, received: collector(system, waiter) };
    };
    const b1 = await startB(0);
    const port = b1.transport.port;
    a.transport.setPeerAddress('node-b', b1.transport.address);
    a.system.send('node-b/collector', { n: 1 });
    await waiter.until(() => b1.received.length === 1);

    // node-b's process stops: node-a's next message finds its port refusing, and waits for a retry.
    b1.system.shutdown();
    await b1.transport.close();
    await waiter.until(() => streamsLost === 1);
    a.system.send('node-b/collector', { n: 2 });
    await waiter.until(() => outboundErrors.some((m) => /ECONNREFUSED/.test(m)));
    expect(a.transport.tls.stats.reconnectsNow).toBe(0);

    // node-b restarts on its port and speaks to node-a: node-a's stream to it comes up now.
    const b2 = await startB(port);
    transports.push(b2.transport);
    systems.push(b2.system);
    b2.system.send('node-a/collector', { hello: 'again' });
    await waiter.until(() => aReceived.length === 1 && b2.received.length === 1);
    expect(b2.received.map((r) => r.message)).toEqual([{ n: 2 }]);
    // The retry that was waiting out the backoff went at once.
    expect(a.transport.tls.stats.reconnectsScheduled).toBe(1);
    expect(a.transport.tls.stats.reconnectsNow).toBe(1);
    // A stream already up is left alone.
    expect(a.transport.tls.reconnectNow(b2.transport.address)).toBe(false);
  });
});

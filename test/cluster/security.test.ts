// The cluster's security with real node processes on loopback: what a node refuses (bad join
// tokens, garbage on the cluster port, a worker's certificate speaking Raft or calling the
// control API, a removed node, an expired certificate, a locked manager), certificate renewal,
// and a root rotation while every node stays connected. Each wait is bounded; nothing asserts
// on timing. Three clusters: `short` (1-minute certificates, started first so that its clock runs
// while the others are tested), `guarded` (auto-locked, with a TCP control API) and `rotation`.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import {
  certificateChainPems, certificateKeyIds, createCertificateRequest, createRootCa, generateJoinToken, generateNodeKeyPair,
  parseJoinToken, parseNodeIdentity, rootCaDigest, verifyChain, type NodeIdentity,
} from '../../actors/index.js';
import { splitPem } from '../../cli/index.js';
import { ClusterTransport, secureRandomBytes, tlsRequest, type ClusterTransportError } from '../../runtime/env/real/index.js';
import { Cluster, freePort, sleep, type NodeProcess } from './harness.js';
import { within } from './helpers.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const MAIN = path.join(ROOT, 'cli/main.ts');
const TEST_TIMEOUT_MS = 120_000;

// ---- helpers ----------------------------------------------------------------------------------

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `swarm ARGS` to completion, killed (and failed) if it runs longer than `timeoutMs`. */
function cli(args: readonly string[], timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`swarm ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr });
    });
  });
}

/** Polls `probe` until it returns something other than undefined; fails after `timeoutMs` with the last error. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (last error: ${(last as Error).message ?? String(last)})`}`);
    await sleep(intervalMs);
  }
}

/** The promise's rejection (fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a refusal, but the request succeeded');
}

function certsOf(node: NodeProcess): { key: string; cert: string; ca: string } {
  const dir = path.join(node.stateDir, 'certs');
  return { key: readFileSync(path.join(dir, 'node.key'), 'utf8'), cert: readFileSync(path.join(dir, 'node.crt'), 'utf8'), ca: readFileSync(path.join(dir, 'ca.crt'), 'utf8') };
}

function identityOf(node: NodeProcess): NodeIdentity {
  return parseNodeIdentity(certsOf(node).cert);
}

interface NodeJson {
  ID: string;
  Spec: { Name: string; Role: string };
  Status: { State: string; Addr: string };
  ManagerStatus?: { Leader: boolean; Reachability: string };
}

interface SwarmJson {
  JoinTokens: { Worker: string; Manager: string };
  TLSInfo: { TrustRoot: string };
  RootRotationInProgress: boolean;
}

interface RaftJson {
  id: string;
  role: string;
  term: number;
  leader: string;
  refusedMessages: number;
}

/** Output lines of `node` that contain every one of `parts`. */
function logLines(node: NodeProcess, ...parts: string[]): string[] {
  return node.output.split('\n').filter((line) => parts.every((p) => line.includes(p)));
}

function waitForLog(node: NodeProcess, timeoutMs: number, ...parts: string[]): Promise<string> {
  return waitFor(`a line of ${node.name}'s output with ${parts.map((p) => JSON.stringify(p)).join(' and ')}`, timeoutMs, () => logLines(node, ...parts)[0], 100);
}

function hostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}

/** A GET on the TCP control API with the given client certificate. */
function controlOverTcp(addr: string, urlPath: string, creds: { key: string; cert: string; ca: string }): Promise<{ status: number; body: string }> {
  const { host, port } = hostPort(addr);
  return new Promise((resolve, reject) => {
    const req = https.request({
      host, port, path: urlPath, method: 'GET', key: creds.key, cert: creds.cert, ca: splitPem(creds.ca),
      checkServerIdentity: () => undefined, agent: false, timeout: 10_000,
    }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} on ${addr}: no answer within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Resolves once `socket` closed (the peer hung up), or fails after `timeoutMs`. */
function closed(socket: net.Socket, timeoutMs: number, what: string): Promise<void> {
  return within(what, new Promise<void>((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  }), timeoutMs);
}

const UNLOCK_KEY = /SWMKEY-1-[A-Za-z0-9+/]+/;

// ---- the clusters -----------------------------------------------------------------------------

// 1-minute certificates (the CLI's minimum): `renewer` keeps running and renews; `expiring` is
// killed right after it joined, so its certificate runs out while the other tests run.
const short = new Cluster('sec-short');
let shortBefore: { manager: NodeIdentity; worker: NodeIdentity; expiring: NodeIdentity };
/** Every cluster, for the final clean-up (a describe skipped by -t runs no hooks of its own, yet made its directory). */
const clusters: Cluster[] = [short];
function cluster(label: string): Cluster {
  const made = new Cluster(label);
  clusters.push(made);
  return made;
}

beforeAll(async () => {
  await short.start('m1', ['init'], { extra: ['--cert-expiry', '1m'] });
  const tokens = await short.request<SwarmJson>('m1', 'GET', '/swarm');
  await short.start('expiring', ['join', '--token', tokens.JoinTokens.Worker, short.node('m1').addr]);
  await short.kill('expiring', 'SIGKILL');
  await short.start('renewer', ['join', '--token', tokens.JoinTokens.Worker, short.node('m1').addr]);
  shortBefore = { manager: identityOf(short.node('m1')), worker: identityOf(short.node('renewer')), expiring: identityOf(short.node('expiring')) };
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  for (const c of clusters) await c.stopAll();
}, 60_000);

// ---- 1. refusals ------------------------------------------------------------------------------

describe('refusals', () => {
  // An auto-locked manager with the TCP control API, two workers (w2 is removed in (e)).
  const guarded = cluster('sec-guarded');
  let controlAddr: string;
  let unlockKey: string;
  let m1: NodeProcess;

  beforeAll(async () => {
    controlAddr = `127.0.0.1:${await freePort()}`;
    m1 = await guarded.start('m1', ['init'], { extra: ['--autolock', '--control-addr', controlAddr] });
    const key = UNLOCK_KEY.exec(m1.output);
    if (key === null) throw new Error(`init printed no unlock key:\n${m1.output}`);
    unlockKey = key[0];
    const tokens = await guarded.request<SwarmJson>('m1', 'GET', '/swarm');
    await guarded.start('w1', ['join', '--token', tokens.JoinTokens.Worker, m1.addr]);
    await guarded.start('w2', ['join', '--token', tokens.JoinTokens.Worker, m1.addr]);
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await guarded.stopAll();
  }, 30_000);

  const nodes = (): Promise<NodeJson[]> => guarded.request<NodeJson[]>('m1', 'GET', '/nodes');

  /** `swarm join` that must fail: returns its result and checks that it left no node behind. */
  async function refusedJoin(name: string, token: string): Promise<CliResult> {
    const stateDir = path.join(guarded.baseDir, name);
    const result = await cli(['join', '--token', token, m1.addr, '--state-dir', stateDir, '--listen-addr', `127.0.0.1:${await freePort()}`, '--name', name]);
    expect(result.code).not.toBe(0);
    expect(existsSync(path.join(stateDir, 'node.json'))).toBe(false);
    expect(existsSync(path.join(stateDir, 'certs'))).toBe(false);
    return result;
  }

  test('(a) a join token with the right CA digest but a wrong secret is refused, and no node is added', async () => {
    const before = await nodes();
    const real = parseJoinToken((await guarded.request<SwarmJson>('m1', 'GET', '/swarm')).JoinTokens.Worker);
    const root = (await guarded.request<SwarmJson>('m1', 'GET', '/swarm')).TLSInfo.TrustRoot;
    const forged = generateJoinToken(root, secureRandomBytes);
    expect(parseJoinToken(forged).rootDigest).toBe(real.rootDigest);
    expect(parseJoinToken(forged).secret).not.toBe(real.secret);

    const result = await refusedJoin('forged-secret', forged);
    expect(result.stderr).toMatch(/join token is not valid/);
    expect(await nodes()).toHaveLength(before.length);
  }, TEST_TIMEOUT_MS);

  test("(b) a join token pinning another cluster's root CA is refused by the joining node, and no node is added", async () => {
    const before = await nodes();
    const other = await createRootCa({ clusterId: 'another-cluster', now: Date.now(), randomBytes: secureRandomBytes });
    const foreign = generateJoinToken(other.certPem, secureRandomBytes);

    const result = await refusedJoin('foreign-ca', foreign);
    expect(result.stderr).toMatch(/root CA does not match the join token's fingerprint/);
    expect(result.stderr).toContain(rootCaDigest(other.certPem));
    expect(await nodes()).toHaveLength(before.length);
  }, TEST_TIMEOUT_MS);

  test('(c) garbage on the cluster port is logged and the manager keeps serving', async () => {
    const before = await nodes();
    const { port } = hostPort(m1.addr);
    const worker = certsOf(guarded.node('w1'));

    // Plain TCP, random bytes: not even a TLS handshake.
    const raw = net.connect({ host: '127.0.0.1', port });
    await within('TCP connect', new Promise<void>((resolve, reject) => {
      raw.once('connect', () => resolve());
      raw.once('error', reject);
    }), 10_000);
    const rawPort = raw.localPort!;
    raw.on('error', () => undefined);
    // Read whatever comes back (a TLS alert): a stream that is never read never sees the
    // server's FIN, and so never closes.
    raw.resume();
    raw.write(Buffer.from(secureRandomBytes(4096)));
    await closed(raw, 10_000, 'the manager closing a TCP connection that sent random bytes');
    await waitForLog(m1, 10_000, 'transport:', `:${rawPort}`);

    // TLS with a valid certificate, then frames that are not frames.
    const garbage: Array<{ what: string; alpn: string; bytes: Buffer; expect: string }> = [
      // a 5-byte frame of CBOR 'break' codes: undecodable
      { what: 'an undecodable stream frame', alpn: 'swarm-stream', bytes: Buffer.from([0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]), expect: 'undecodable frame' },
      // a length prefix of 2 GiB
      { what: 'an oversized stream frame', alpn: 'swarm-stream', bytes: Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]), expect: 'exceeds the limit' },
      // random bytes on an rpc connection
      { what: 'random bytes on rpc', alpn: 'swarm-rpc', bytes: Buffer.concat([Buffer.from([0, 0, 0, 16]), Buffer.alloc(16, 0xff)]), expect: 'undecodable frame' },
    ];
    for (const g of garbage) {
      const socket = tls.connect({ host: '127.0.0.1', port, ALPNProtocols: [g.alpn], key: worker.key, cert: worker.cert, ca: splitPem(worker.ca), checkServerIdentity: () => undefined });
      socket.on('error', () => undefined);
      await within(`TLS connect (${g.what})`, new Promise<void>((resolve) => socket.once('secureConnect', () => resolve())), 10_000);
      expect(socket.alpnProtocol).toBe(g.alpn);
      const localPort = socket.localPort!;
      socket.write(g.bytes);
      await closed(socket, 10_000, `the manager closing the connection after ${g.what}`);
      await waitForLog(m1, 10_000, 'transport:', `:${localPort}`, g.expect);
    }

    // A stream without a client certificate.
    const anonymous = tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['swarm-stream'], ca: splitPem(worker.ca), checkServerIdentity: () => undefined });
    anonymous.on('error', () => undefined);
    await within('TLS connect without a certificate', new Promise<void>((resolve) => anonymous.once('secureConnect', () => resolve())), 10_000);
    const anonymousPort = anonymous.localPort!;
    anonymous.write(Buffer.from([0, 0, 0, 1, 0]));
    await closed(anonymous, 10_000, 'the manager closing a stream without a client certificate');
    await waitForLog(m1, 10_000, 'transport:', `:${anonymousPort}`, 'requires a client certificate');

    const ls = await cli(['node', 'ls', '--state-dir', m1.stateDir]);
    expect(ls).toMatchObject({ code: 0 });
    expect(ls.stdout).toMatch(/m1.*Leader/);
    expect(await nodes()).toHaveLength(before.length);
    expect(guarded.node('m1').child.exitCode).toBeNull();
  }, TEST_TIMEOUT_MS);

  test("(d) a worker's certificate may neither send Raft messages to a manager nor use its control API", async () => {
    const worker = certsOf(guarded.node('w1'));
    const workerId = parseNodeIdentity(worker.cert).nodeId;
    const managerId = identityOf(m1).nodeId;
    const before = await guarded.request<RaftJson>('m1', 'GET', '/debug/raft');
    expect(before.role).toBe('leader');

    const errors: ClusterTransportError[] = [];
    const transport = await ClusterTransport.start({
      nodeId: workerId, host: '127.0.0.1', port: 0, key: worker.key, cert: worker.cert, ca: splitPem(worker.ca),
      onError: (error) => errors.push(error),
    });
    try {
      transport.setPeerAddress(managerId, m1.addr);
      // A vote request of a much later term: were it delivered, the leader would step down.
      const vote = { type: 'vote', from: workerId, to: managerId, term: before.term + 100, index: 1_000_000, logTerm: before.term + 100, force: true };
      transport.send(workerId, managerId, { from: `${workerId}/x`, to: `${managerId}/raft/peer`, message: { type: 'raft.message', message: vote } });
      transport.send(workerId, managerId, { from: `${workerId}/x`, to: `${managerId}/manager`, message: { type: 'manager.barrier', opId: 'x', replyTo: `${workerId}/x` } });
      await waitFor('the manager counting both refused messages', 15_000, async () => {
        const status = await guarded.request<RaftJson>('m1', 'GET', '/debug/raft');
        return status.refusedMessages >= before.refusedMessages + 2 ? status : undefined;
      });
    } finally {
      await transport.close();
    }
    const line = await waitForLog(m1, 5000, 'refused', workerId, `${managerId}/raft/peer`);
    expect(line).toMatch(/worker/);
    const after = await guarded.request<RaftJson>('m1', 'GET', '/debug/raft');
    expect(after).toMatchObject({ role: 'leader', leader: managerId, term: before.term });
    expect(transport.stats.sent).toBe(2);

    // The control API on TCP: a worker certificate is refused; a manager certificate is served.
    const refused = await controlOverTcp(controlAddr, '/nodes', worker);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'FORBIDDEN' });
    expect(JSON.parse(refused.body).message).toMatch(/manager certificate/);
    await waitForLog(m1, 5000, 'refused: control API call', workerId);
    // So is the inspection stream (the actors' messages are the manager's business).
    expect((await controlOverTcp(controlAddr, '/inspect', worker)).status).toBe(403);
    const served = await controlOverTcp(controlAddr, '/nodes', certsOf(m1));
    expect(served.status).toBe(200);
    expect((JSON.parse(served.body) as NodeJson[]).map((n) => n.Spec.Name).sort()).toEqual(['m1', 'w1', 'w2']);
  }, TEST_TIMEOUT_MS);

  test('(e) a removed node is refused with its still-valid certificate', async () => {
    const w2 = guarded.node('w2');
    const creds = certsOf(w2);
    const w2Id = parseNodeIdentity(creds.cert).nodeId;
    const options = { key: creds.key, cert: creds.cert, ca: splitPem(creds.ca), timeoutMs: 10_000 };
    // Before the removal its certificate is served.
    expect((await tlsRequest(m1.addr, { type: 'ping' }, options)).body).toMatchObject({ nodeId: identityOf(m1).nodeId });

    const rm = await cli(['node', 'rm', '--force', 'w2', '--state-dir', m1.stateDir]);
    expect(rm).toMatchObject({ code: 0 });
    expect((await nodes()).map((n) => n.ID)).not.toContain(w2Id);

    // Refused, and told why.
    const ping = await rejection(tlsRequest(m1.addr, { type: 'ping' }, options));
    expect(ping.message).toMatch(/removed from the swarm/);
    const keys = await generateNodeKeyPair();
    const renew = await rejection(tlsRequest(m1.addr, { type: 'ca.renew', csrPem: await createCertificateRequest(keys) }, options));
    expect(renew.message).toMatch(/removed from the swarm/);
    await waitForLog(m1, 5000, w2Id, 'was removed from the swarm');

    const ls = await cli(['node', 'ls', '--state-dir', m1.stateDir]);
    expect(ls).toMatchObject({ code: 0 });
    expect(ls.stdout).not.toContain(w2Id);
    expect(ls.stdout).not.toMatch(/\bw2\b/);
  }, TEST_TIMEOUT_MS);

  test('(g) a restarted auto-locked manager refuses to serve until unlocked with the right key', async () => {
    await guarded.kill('m1', 'SIGKILL');
    m1 = await guarded.start('m1', ['start']);
    const info = await guarded.request<{ Swarm: { LocalNodeState: string } }>('m1', 'GET', '/info');
    expect(info.Swarm.LocalNodeState).toBe('locked');

    const lockedLs = await cli(['node', 'ls', '--state-dir', m1.stateDir]);
    expect(lockedLs.code).not.toBe(0);
    expect(lockedLs.stderr).toMatch(/unlock/);

    const wrongKey = `SWMKEY-1-${Buffer.from(secureRandomBytes(32)).toString('base64').replace(/=+$/, '')}`;
    expect(wrongKey).not.toBe(unlockKey);
    const wrong = await cli(['unlock', '--unlock-key', wrongKey, '--state-dir', m1.stateDir]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/invalid unlock key/);
    expect((await guarded.request<{ Swarm: { LocalNodeState: string } }>('m1', 'GET', '/info')).Swarm.LocalNodeState).toBe('locked');

    const right = await cli(['unlock', '--unlock-key', unlockKey, '--state-dir', m1.stateDir]);
    expect(right).toMatchObject({ code: 0 });
    expect(right.stdout).toMatch(/unlocked/);
    expect((await guarded.request<{ Swarm: { LocalNodeState: string } }>('m1', 'GET', '/info')).Swarm.LocalNodeState).toBe('active');
    const ls = await waitFor('swarm node ls on the unlocked manager', 30_000, async () => {
      const r = await cli(['node', 'ls', '--state-dir', m1.stateDir]);
      return r.code === 0 ? r : undefined;
    }, 500);
    expect(ls.stdout).toMatch(/m1.*Leader/);
    expect(ls.stdout).toMatch(/\bw1\b/);
  }, TEST_TIMEOUT_MS);
});

// ---- 3. root rotation -------------------------------------------------------------------------

describe('root rotation', () => {
  const rotation = cluster('sec-rotation');
  const MANAGERS = ['m1', 'm2', 'm3'];

  beforeAll(async () => {
    const m1 = await rotation.start('m1', ['init']);
    const tokens = (await rotation.request<SwarmJson>('m1', 'GET', '/swarm')).JoinTokens;
    /** Until the leader sees `count` managers reachable (a manager join right after another may find no leader). */
    const settled = (count: number): Promise<NodeJson[]> => waitFor(`${count} reachable managers`, 30_000, async () => {
      const list = await rotation.request<NodeJson[]>(await rotation.leader(MANAGERS.filter((m) => rotation.nodes.has(m))), 'GET', '/nodes');
      return list.filter((n) => n.ManagerStatus?.Leader === true || n.ManagerStatus?.Reachability === 'reachable').length === count ? list : undefined;
    });
    await rotation.start('m2', ['join', '--token', tokens.Manager, m1.addr]);
    await settled(2);
    await rotation.start('m3', ['join', '--token', tokens.Manager, m1.addr]);
    await settled(3);
    await rotation.start('w1', ['join', '--token', tokens.Worker, m1.addr]);
    expect(await settled(3)).toHaveLength(4);
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await rotation.stopAll();
  }, 30_000);

  let newRoot = '';
  let newTokens: SwarmJson['JoinTokens'];
  /** w1's key and certificate of the old root, kept from before the rotation. */
  let oldWorkerCreds: { key: string; cert: string; ca: string };

  test('swarm ca --rotate: a new root and new tokens, every node re-certified by it, and writes never fail meanwhile', async () => {
    const before = await rotation.request<SwarmJson>('m1', 'GET', '/swarm');
    const leader = await rotation.leader(MANAGERS);
    oldWorkerCreds = certsOf(rotation.node('w1'));

    // A small write loop on the leader for the whole rotation.
    let stop = false;
    let writes = 0;
    const failures: string[] = [];
    const loop = (async () => {
      while (!stop) {
        try {
          await rotation.request(leader, 'POST', '/configs/create', { Name: `during-rotation-${writes}`, Data: Buffer.from(`config ${writes}`).toString('base64') });
        } catch (error) {
          failures.push(`write ${writes}: ${(error as Error).message}`);
        }
        writes++;
        await sleep(50);
      }
    })();
    let rotate: CliResult;
    try {
      rotate = await cli(['ca', '--rotate', '--state-dir', rotation.node('m1').stateDir], 100_000);
    } finally {
      stop = true;
      await within('the write loop to end', loop, 20_000);
    }
    expect(rotate).toMatchObject({ code: 0 });
    expect(failures).toEqual([]);
    expect(writes).toBeGreaterThan(0);
    expect((await rotation.request<unknown[]>(leader, 'GET', '/configs')).length).toBe(writes);

    const after = await rotation.request<SwarmJson>('m1', 'GET', '/swarm');
    newRoot = after.TLSInfo.TrustRoot;
    newTokens = after.JoinTokens;
    expect(newRoot).not.toBe(before.TLSInfo.TrustRoot);
    expect(after.RootRotationInProgress).toBe(false);
    expect(rotate.stdout.trim()).toBe(newRoot.trim());
    for (const role of ['Worker', 'Manager'] as const) {
      const old = parseJoinToken(before.JoinTokens[role]);
      const now = parseJoinToken(after.JoinTokens[role]);
      expect(now.rootDigest).not.toBe(old.rootDigest);
      expect(now.rootDigest).toBe(rootCaDigest(newRoot));
    }
    await waitForLog(rotation.node(leader), 5000, 'root rotation: every node holds a certificate of the new root');

    // Every node's certificate (the file) was issued by the new root.
    const newRootKeyId = certificateKeyIds(newRoot).subjectKeyId;
    expect(newRootKeyId).toBeDefined();
    for (const name of [...MANAGERS, 'w1']) {
      const node = rotation.node(name);
      const leaf = await waitFor(`${name}'s certificate of the new root`, 15_000, () => {
        const pem = certificateChainPems(certsOf(node).cert)[0]!;
        return certificateKeyIds(pem).authorityKeyId === newRootKeyId ? pem : undefined;
      });
      await expect(verifyChain(leaf, newRoot, Date.now())).resolves.toMatchObject({ nodeId: identityOf(node).nodeId });
      expect(logLines(node, 'certificate renewal failed')).toEqual([]);
    }

    // Every manager still lists every node, all ready; the leader sees every manager reachable.
    const ids = [...MANAGERS, 'w1'].map((name) => identityOf(rotation.node(name)).nodeId).sort();
    for (const name of MANAGERS) {
      const list = await rotation.request<NodeJson[]>(name, 'GET', '/nodes');
      expect(list.map((n) => n.ID).sort()).toEqual(ids);
      expect(list.map((n) => n.Status.State)).toEqual(list.map(() => 'ready'));
    }
    const fromLeader = await rotation.request<NodeJson[]>(await rotation.leader(MANAGERS), 'GET', '/nodes');
    expect(fromLeader.filter((n) => n.Spec.Role === 'manager').map((n) => (n.ManagerStatus!.Leader ? 'leader' : n.ManagerStatus!.Reachability)).sort())
      .toEqual(['leader', 'reachable', 'reachable']);
  }, 150_000);

  test('after the rotation every node trusts the new root only', async () => {
    expect(newRoot).not.toBe('');
    const newRootKeyId = certificateKeyIds(newRoot).subjectKeyId;
    for (const name of [...MANAGERS, 'w1']) {
      const node = rotation.node(name);
      await waitFor(`${name} trusting only the new root`, 10_000, () => {
        const roots = certificateChainPems(certsOf(node).ca);
        return roots.length === 1 && certificateKeyIds(roots[0]!).subjectKeyId === newRootKeyId ? roots : undefined;
      }).catch((error: Error) => {
        const roots = certificateChainPems(certsOf(node).ca).map((pem) => certificateKeyIds(pem).subjectKeyId === newRootKeyId ? 'new root' : 'other root');
        const lines = node.output.split('\n').filter((l) => /trust:|certificate renewed|renewing|root rotation/.test(l));
        throw new Error(`${error.message}\n${name}'s certs/ca.crt holds: ${roots.join(', ')}\n${name}'s log:\n${lines.join('\n')}`);
      });
    }
  }, TEST_TIMEOUT_MS);

  test('after the rotation every manager refuses a certificate of the old root', async () => {
    expect(newRoot).not.toBe('');
    const oldLeaf = certificateChainPems(oldWorkerCreds.cert)[0]!;
    expect(certificateKeyIds(oldLeaf).authorityKeyId).not.toBe(certificateKeyIds(newRoot).subjectKeyId);
    const accepted: string[] = [];
    for (const name of MANAGERS) {
      const outcome = await tlsRequest(rotation.node(name).addr, { type: 'ping' }, { key: oldWorkerCreds.key, cert: oldLeaf, ca: [newRoot], timeoutMs: 10_000 })
        .then(() => undefined, (error: Error) => error);
      if (outcome === undefined) accepted.push(`${name} answered a ping made with w1's old-root certificate`);
      else expect(outcome.message).not.toMatch(/timeout|did not answer/i);
    }
    expect(accepted).toEqual([]);
  }, TEST_TIMEOUT_MS);

  test("after the rotation every manager's node ls shows each manager Reachable or Leader", async () => {
    expect(newRoot).not.toBe('');
    const problems: string[] = [];
    for (const name of MANAGERS) {
      const list = await rotation.request<NodeJson[]>(name, 'GET', '/nodes');
      for (const n of list.filter((x) => x.Spec.Role === 'manager')) {
        const status = n.ManagerStatus === undefined ? 'none' : n.ManagerStatus.Leader ? 'leader' : n.ManagerStatus.Reachability;
        if (status !== 'leader' && status !== 'reachable') {
          // What a ping from this manager's certificate to that manager's cluster port gives now.
          const creds = certsOf(rotation.node(name));
          const ping = await tlsRequest(n.Status.Addr, { type: 'ping' }, { key: creds.key, cert: creds.cert, ca: splitPem(creds.ca), timeoutMs: 5000 })
            .then(() => 'answers', (error: Error) => `fails: ${error.message}`);
          problems.push(`on ${name}: ${n.Spec.Name} is ${status} (a ping with ${name}'s certificate now ${ping})`);
        }
      }
      const ls = await cli(['node', 'ls', '--state-dir', rotation.node(name).stateDir]);
      expect(ls).toMatchObject({ code: 0 });
      expect(ls.stdout).toMatch(/\bw1\b/);
      for (const m of MANAGERS) if (!new RegExp(`\\b${m}\\b.*(Leader|Reachable)`).test(ls.stdout)) problems.push(`swarm node ls on ${name}: ${ls.stdout.split('\n').find((l) => new RegExp(`\\b${m}\\b`).test(l)) ?? `no ${m}`}`);
    }
    expect(problems).toEqual([]);
  }, TEST_TIMEOUT_MS);

  test('after the rotation a new worker joins with the new worker token', async () => {
    expect(newRoot).not.toBe('');
    const w2 = await rotation.start('w2', ['join', '--token', newTokens.Worker, rotation.node('m1').addr]);
    const w2Leaf = certificateChainPems(certsOf(w2).cert)[0]!;
    await expect(verifyChain(w2Leaf, newRoot, Date.now())).resolves.toMatchObject({ role: 'worker' });
    const list = await rotation.request<NodeJson[]>('m1', 'GET', '/nodes');
    expect(list.map((n) => n.Spec.Name).sort()).toEqual(['m1', 'm2', 'm3', 'w1', 'w2']);
  }, TEST_TIMEOUT_MS);
});

// ---- 2. renewal, and 1 (f) expiry, on the short-lived cluster ------------------------------------

describe('short-lived certificates', () => {
  test("2. a manager's and a worker's certificates are renewed before they expire, and the cluster keeps working", async () => {
    const m1 = short.node('m1');
    const renewer = short.node('renewer');
    const deadline = Math.max(shortBefore.manager.notAfter, shortBefore.worker.notAfter) + 10_000 - Date.now();
    const renewed = await waitFor('both certificates renewed', Math.max(deadline, 5000), () => {
      const manager = identityOf(m1);
      const worker = identityOf(renewer);
      return manager.serial !== shortBefore.manager.serial && worker.serial !== shortBefore.worker.serial ? { manager, worker } : undefined;
    }, 500);
    expect(renewed.manager).toMatchObject({ nodeId: shortBefore.manager.nodeId, role: 'manager' });
    expect(renewed.worker).toMatchObject({ nodeId: shortBefore.worker.nodeId, role: 'worker' });
    expect(renewed.manager.notAfter).toBeGreaterThan(shortBefore.manager.notAfter);
    expect(renewed.worker.notAfter).toBeGreaterThan(shortBefore.worker.notAfter);
    await waitForLog(m1, 5000, 'certificate renewed');
    await waitForLog(renewer, 5000, 'certificate renewed');

    const ls = await cli(['node', 'ls', '--state-dir', m1.stateDir]);
    expect(ls).toMatchObject({ code: 0 });
    expect(ls.stdout).toMatch(/m1.*Leader/);
    expect(ls.stdout).toMatch(/\brenewer\b/);
    // The renewed worker's certificate is served.
    const creds = certsOf(renewer);
    await expect(tlsRequest(m1.addr, { type: 'ping' }, { key: creds.key, cert: creds.cert, ca: splitPem(creds.ca), timeoutMs: 10_000 })).resolves.toBeDefined();
  }, TEST_TIMEOUT_MS);

  let expiredRefusal: Error | undefined;

  test('1 (f) an expired certificate is refused, and the manager logs why', async () => {
    const m1 = short.node('m1');
    const creds = certsOf(short.node('expiring'));
    expect(parseNodeIdentity(creds.cert).serial).toBe(shortBefore.expiring.serial);
    const wait = shortBefore.expiring.notAfter + 1500 - Date.now();
    if (wait > 0) await sleep(wait);
    expect(Date.now()).toBeGreaterThan(shortBefore.expiring.notAfter);

    expiredRefusal = await rejection(tlsRequest(m1.addr, { type: 'ping' }, { key: creds.key, cert: creds.cert, ca: splitPem(creds.ca), timeoutMs: 10_000 }));
    expect(expiredRefusal.message).not.toMatch(/timeout|did not answer/i);
    await waitForLog(m1, 5000, 'transport:', 'certificate has expired');
  }, TEST_TIMEOUT_MS);

  test("1 (f) the refusal of an expired certificate tells the client it expired", () => {
    expect(expiredRefusal).toBeDefined();
    expect(expiredRefusal!.message).toMatch(/expired/);
  });
});

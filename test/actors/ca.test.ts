import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { SeededRandom } from '../../runtime/index.js';
import {
  CertificateVerificationError,
  JoinTokenFormatError,
  RootCaMismatchError,
  createCertificateRequest,
  createRootCa,
  exportPrivateKeyPem,
  generateJoinToken,
  generateNodeKeyPair,
  issueNodeCertificate,
  loadRootCa,
  parseJoinToken,
  parseNodeIdentity,
  renewalDelayMs,
  roleForJoinToken,
  verifyChain,
  verifyRootAgainstToken,
  type RootCa,
} from '../../actors/index.js';

// A whole second, since X.509 times have second precision.
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

// Validity wide enough to contain the wall clock while the TLS tests run (the root's too).
const WIDE = { now: NOW - 365 * DAY, validityMs: 30 * 365 * DAY };

function rng(seed: string) {
  const random = new SeededRandom(seed);
  return { random, randomBytes: (n: number) => random.bytes(n) };
}

describe('cluster CA', () => {
  const { randomBytes } = rng('ca-test');
  let ca: RootCa;
  let other: RootCa;

  beforeAll(async () => {
    ca = await createRootCa({ clusterId: 'cluster1', ...WIDE, validityMs: 40 * 365 * DAY, randomBytes });
    other = await createRootCa({ clusterId: 'cluster1', ...WIDE, validityMs: 40 * 365 * DAY, randomBytes });
  });

  test('root is a self-signed CA with an exportable PKCS#8 key', async () => {
    expect(ca.certPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const reloaded = await loadRootCa(ca.certPem, ca.keyPem);
    expect(reloaded.clusterId).toBe('cluster1');
    // A reloaded CA issues certificates that verify against the same root.
    const keys = await generateNodeKeyPair();
    const leaf = await issueNodeCertificate(reloaded, { nodeId: 'n1', role: 'worker', publicKey: keys.publicKey, now: NOW, randomBytes });
    await expect(verifyChain(leaf, ca.certPem, NOW)).resolves.toMatchObject({ nodeId: 'n1' });
  });

  test.each(['worker', 'manager'] as const)('%s certificate verifies against its root only and reads back', async (role) => {
    const keys = await generateNodeKeyPair();
    const leaf = await issueNodeCertificate(ca, { nodeId: `node-${role}`, role, clusterId: 'cluster1', publicKey: keys.publicKey, now: NOW, randomBytes });
    const identity = await verifyChain(leaf, ca.certPem, NOW + MINUTE);
    expect(identity).toMatchObject({ nodeId: `node-${role}`, role, clusterId: 'cluster1', notBefore: NOW, notAfter: NOW + 90 * DAY });
    expect(parseNodeIdentity(leaf)).toEqual(identity);
    const failure = await verifyChain(leaf, other.certPem, NOW).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CertificateVerificationError);
    expect((failure as CertificateVerificationError).problem).toBe('signature');
  });

  test('a certificate issued from a CSR carries the CA-chosen identity', async () => {
    const keys = await generateNodeKeyPair();
    const csrPem = await createCertificateRequest(keys);
    const leaf = await issueNodeCertificate(ca, { nodeId: 'fromcsr', role: 'manager', csrPem, now: NOW, randomBytes });
    expect(parseNodeIdentity(leaf)).toMatchObject({ nodeId: 'fromcsr', role: 'manager', clusterId: 'cluster1' });
    await verifyChain(leaf, ca.certPem, NOW);
  });

  test('a certificate issued for 5 minutes ends at now + 5 min and is expired after', async () => {
    const keys = await generateNodeKeyPair();
    const leaf = await issueNodeCertificate(ca, { nodeId: 'short', role: 'worker', publicKey: keys.publicKey, now: NOW, validityMs: 5 * MINUTE, randomBytes });
    expect(parseNodeIdentity(leaf).notAfter).toBe(NOW + 5 * MINUTE);
    await verifyChain(leaf, ca.certPem, NOW + 5 * MINUTE);
    await expect(verifyChain(leaf, ca.certPem, NOW + 5 * MINUTE + 1000)).rejects.toMatchObject({ problem: 'expired' });
    await expect(verifyChain(leaf, ca.certPem, NOW - 1000)).rejects.toMatchObject({ problem: 'not-yet-valid' });
  });

  test('serials come from the injected randomness: same seed, same serial', async () => {
    const keys = await generateNodeKeyPair();
    const issue = (seed: string) => issueNodeCertificate(ca, { nodeId: 'n', role: 'worker', publicKey: keys.publicKey, now: NOW, randomBytes: rng(seed).randomBytes });
    const [a, b, c] = await Promise.all([issue('s'), issue('s'), issue('t')]);
    expect(parseNodeIdentity(a).serial).toBe(parseNodeIdentity(b).serial);
    expect(parseNodeIdentity(a).serial).not.toBe(parseNodeIdentity(c).serial);
  });

  test('renewal delay is always within 50%..80% of the life', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 2_000_000_000_000 }),
      fc.integer({ min: 1, max: 400 * DAY }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (notBefore, life, r) => {
        const delay = renewalDelayMs(notBefore, notBefore + life, { float: () => r });
        return delay >= Math.floor(life * 0.5) && delay <= life * 0.8;
      },
    ), { numRuns: 2000 });
    const { random } = rng('renewal');
    for (let i = 0; i < 1000; i++) {
      const delay = renewalDelayMs(NOW, NOW + 90 * DAY, random);
      expect(delay).toBeGreaterThanOrEqual(45 * DAY);
      expect(delay).toBeLessThanOrEqual(72 * DAY);
    }
  });

  describe('join tokens', () => {
    test('round trip in SwarmKit shape; worker and manager tokens differ', () => {
      const worker = generateJoinToken(ca.certPem, randomBytes);
      const manager = generateJoinToken(ca.certPem, randomBytes);
      expect(worker).toMatch(/^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
      expect(worker).not.toBe(manager);
      const parsed = parseJoinToken(worker);
      expect(parsed.rootDigest).toBe(parseJoinToken(manager).rootDigest);
      expect(parsed.rootDigestHex).toMatch(/^[0-9a-f]{64}$/);
      expect(`SWMTKN-1-${parsed.rootDigest}-${parsed.secret}`).toBe(worker);
      verifyRootAgainstToken(ca.certPem, worker);
      expect(roleForJoinToken(worker, { worker, manager })).toBe('worker');
      expect(roleForJoinToken(manager, { worker, manager })).toBe('manager');
      // Rotation: a new token replaces the old one, which then grants nothing.
      const rotated = generateJoinToken(ca.certPem, randomBytes);
      expect(roleForJoinToken(worker, { worker: rotated, manager })).toBeUndefined();
    });

    test('a token for another root fails the MITM check', () => {
      const token = generateJoinToken(other.certPem, randomBytes);
      expect(() => verifyRootAgainstToken(ca.certPem, token)).toThrow(RootCaMismatchError);
    });

    test('malformed tokens name what is wrong', () => {
      const good = generateJoinToken(ca.certPem, randomBytes);
      const { rootDigest, secret } = parseJoinToken(good);
      const cases: Array<[string, string]> = [
        [`SWMTKX-1-${rootDigest}-${secret}`, 'prefix'],
        ['', 'prefix'],
        [`SWMTKN-2-${rootDigest}-${secret}`, 'version'],
        [`SWMTKN-1-${rootDigest}-${secret}-x`, 'shape'],
        [`SWMTKN-1-${rootDigest.slice(1)}-${secret}`, 'digest-length'],
        [`SWMTKN-1-${rootDigest.toUpperCase()}-${secret}`, 'digest-charset'],
        [`SWMTKN-1-${'z'.repeat(50)}-${secret}`, 'digest-charset'],
        [`SWMTKN-1-${rootDigest}-${secret}a`, 'secret-length'],
        [`SWMTKN-1-${rootDigest}-${secret.slice(0, 24)}_`, 'secret-charset'],
        [`SWMTKN-1-${rootDigest}-${'z'.repeat(25)}`, 'secret-charset'],
      ];
      for (const [text, problem] of cases) {
        const error = (() => { try { parseJoinToken(text); return undefined; } catch (e) { return e; } })();
        expect(error).toBeInstanceOf(JoinTokenFormatError);
        expect({ text, problem: (error as JoinTokenFormatError).problem }).toEqual({ text, problem });
      }
      expect(() => verifyRootAgainstToken(ca.certPem, 'nonsense')).toThrow(JoinTokenFormatError);
    });
  });

  test('node certificates work for mutual TLS on a real socket', async () => {
    const serverKeys = await generateNodeKeyPair();
    const clientKeys = await generateNodeKeyPair();
    // The TLS handshake checks validity against the wall clock: issue for a span that surely covers it.
    const serverCert = await issueNodeCertificate(ca, { nodeId: 'mgr1', role: 'manager', publicKey: serverKeys.publicKey, ...WIDE, randomBytes });
    const clientCert = await issueNodeCertificate(ca, { nodeId: 'wrk1', role: 'worker', publicKey: clientKeys.publicKey, ...WIDE, randomBytes });
    const serverKey = await exportPrivateKeyPem(serverKeys.privateKey);
    const clientKey = await exportPrivateKeyPem(clientKeys.privateKey);

    const server: tls.Server = tls.createServer({ key: serverKey, cert: serverCert, ca: [ca.certPem], requestCert: true, rejectUnauthorized: true });
    const seenByServer = new Promise<{ CN: string; OU: string; authorized: boolean }>((resolve, reject) => {
      server.once('secureConnection', (socket: tls.TLSSocket) => {
        const peer = socket.getPeerCertificate();
        resolve({ CN: String(peer.subject.CN), OU: String(peer.subject.OU), authorized: socket.authorized });
        socket.end('hello');
      });
      server.once('tlsClientError', reject);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const seenByClient = await new Promise<{ CN: string; OU: string; authorized: boolean; data: string }>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port, servername: 'swarm-manager', key: clientKey, cert: clientCert, ca: [ca.certPem] }, () => {
          const peer = socket.getPeerCertificate();
          let data = '';
          socket.setEncoding('utf8');
          socket.on('data', (chunk: string) => { data += chunk; });
          socket.on('end', () => { resolve({ CN: String(peer.subject.CN), OU: String(peer.subject.OU), authorized: socket.authorized, data }); socket.end(); });
        });
        socket.on('error', reject);
      });
      expect(seenByClient).toEqual({ CN: 'mgr1', OU: 'swarm-manager', authorized: true, data: 'hello' });
      await expect(seenByServer).resolves.toEqual({ CN: 'wrk1', OU: 'swarm-worker', authorized: true });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 15_000);

  test('a client with a certificate from another root is refused', async () => {
    const keys = await generateNodeKeyPair();
    const serverCert = await issueNodeCertificate(ca, { nodeId: 'mgr2', role: 'manager', publicKey: keys.publicKey, ...WIDE, randomBytes });
    const strangerCert = await issueNodeCertificate(other, { nodeId: 'evil', role: 'manager', publicKey: keys.publicKey, ...WIDE, randomBytes });
    const key = await exportPrivateKeyPem(keys.privateKey);
    const server = tls.createServer({ key, cert: serverCert, ca: [ca.certPem], requestCert: true, rejectUnauthorized: true }, (s) => s.end('should not happen'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const outcome = await new Promise<string>((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port, servername: 'swarm-manager', key, cert: strangerCert, ca: [ca.certPem] });
        let data = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => { data += chunk; });
        socket.on('error', () => resolve('refused'));
        socket.on('close', () => resolve(data === '' ? 'refused' : `got ${data}`));
      });
      expect(outcome).toBe('refused');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

// Root CA rotation by cross-signing (SwarmKit's design), checked with the pure helpers and with
// real mutual TLS over 127.0.0.1, so that OpenSSL's chain builder, not only our verifyChain, has to
// tell the old root, the new root and the cross-signed intermediate apart (all three are named
// CN=swarm-ca, O=<cluster id>; only their key ids differ).
import 'reflect-metadata';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import { SeededRandom } from '../../runtime/index.js';
import {
  CaArgumentError,
  CertificateVerificationError,
  certificateChainPems,
  certificateKeyIds,
  completeRootRotation,
  createRootCa,
  crossSignRoot,
  exportPrivateKeyPem,
  generateJoinToken,
  generateNodeKeyPair,
  issueNodeCertificate,
  issuingChain,
  loadRootCa,
  nodeCertificateChainPem,
  parseJoinToken,
  rootCaDigest,
  startRootRotation,
  trustBundle,
  verifyChain,
  verifyRootAgainstToken,
  RootCaMismatchError,
  type NodeRole,
  type RootCa,
  type RootRotation,
} from '../../actors/index.js';

const DAY = 24 * 60 * 60 * 1000;
// Whole seconds (X.509 precision), and wide enough to contain the wall clock the TLS handshakes
// check validity against.
const START = Date.UTC(2025, 0, 15, 12, 0, 0);
const ROOT_VALIDITY_MS = 40 * 365 * DAY;
const NODE = { now: START, validityMs: 30 * 365 * DAY };

const random = new SeededRandom('ca-rotation');
const randomBytes = (n: number) => random.bytes(n);

/** A node as the TLS layer sees it: its key, the certificate chain it presents, the roots it trusts. */
interface TlsNode {
  readonly name: string;
  readonly key: string;
  readonly cert: string;
  readonly ca: readonly string[];
}

/** Issues a node certificate the way the CA would at this point of the rotation. */
async function enroll(rotation: RootRotation, nodeId: string, role: NodeRole = 'manager'): Promise<TlsNode & { leaf: string }> {
  const chain = issuingChain(rotation);
  const signer = await loadRootCa(chain.signer.certPem, chain.signer.keyPem);
  const keys = await generateNodeKeyPair();
  const leaf = await issueNodeCertificate(signer, { nodeId, role, publicKey: keys.publicKey, ...NODE, randomBytes });
  return { name: nodeId, leaf, key: await exportPrivateKeyPem(keys.privateKey), cert: nodeCertificateChainPem(leaf, chain), ca: trustBundle(rotation) };
}

interface Peer { CN: string; OU: string; authorized: boolean }
type Handshake = { ok: true; clientSaw: Peer; serverSaw: Peer } | { ok: false; clientError?: string; serverError?: string };

function peerOf(socket: tls.TLSSocket): Peer {
  const peer = socket.getPeerCertificate();
  return { CN: String(peer.subject.CN), OU: String(peer.subject.OU), authorized: socket.authorized };
}

/**
 * One mutual-TLS connection from `client` to `server` on 127.0.0.1, both sides verifying. The
 * server answers 'hello' once it has accepted the client's certificate; under TLS 1.3 the client
 * finishes its handshake before the server has judged it, so success is that reply, not
 * 'secureConnect'.
 */
async function handshake(server: TlsNode, client: TlsNode): Promise<Handshake> {
  let serverSaw: Peer | undefined;
  let serverError: string | undefined;
  const listener = tls.createServer({ key: server.key, cert: server.cert, ca: [...server.ca], requestCert: true, rejectUnauthorized: true });
  listener.on('secureConnection', (socket: tls.TLSSocket) => {
    serverSaw = peerOf(socket);
    socket.end('hello');
  });
  listener.on('tlsClientError', (e: Error) => { serverError ??= e.message; });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  let seen: { peer?: Peer; data: string; error?: string };
  try {
    const { port } = listener.address() as AddressInfo;
    seen = await new Promise((resolve) => {
      // servername = the server's node id, one of its SANs.
      const socket = tls.connect({ host: '127.0.0.1', port, servername: server.name, key: client.key, cert: client.cert, ca: [...client.ca] });
      let peer: Peer | undefined;
      let data = '';
      let error: string | undefined;
      socket.setEncoding('utf8');
      socket.on('secureConnect', () => { peer = peerOf(socket); });
      socket.on('data', (chunk: string) => { data += chunk; });
      socket.on('error', (e: Error) => { error ??= e.message; });
      socket.on('close', () => resolve({ peer, data, error }));
    });
  } finally {
    // Closing waits for the server's side of the connection, so its verdict is in by then.
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  }
  if (seen.data === 'hello' && seen.peer !== undefined && serverSaw !== undefined) return { ok: true, clientSaw: seen.peer, serverSaw };
  return { ok: false, clientError: seen.error, serverError };
}

function identity(node: TlsNode, role: NodeRole = 'manager'): Peer {
  return { CN: node.name, OU: role === 'manager' ? 'swarm-manager' : 'swarm-worker', authorized: true };
}

describe('root CA rotation by cross-signing', () => {
  let oldRoot: RootCa;
  let newRoot: RootCa;
  let crossSignedPem: string;
  let before: RootRotation; // only the old root
  let rotating: RootRotation; // old root current, new root next
  let after: RootRotation; // only the new root

  beforeAll(async () => {
    oldRoot = await createRootCa({ clusterId: 'cluster1', now: START, validityMs: ROOT_VALIDITY_MS, randomBytes });
    // The new root lives longer than the old, as a real rotation's would.
    newRoot = await createRootCa({ clusterId: 'cluster1', now: START + DAY, validityMs: ROOT_VALIDITY_MS, randomBytes });
    crossSignedPem = await crossSignRoot(oldRoot, newRoot, { now: START + DAY, randomBytes });
    before = { current: { certPem: oldRoot.certPem, keyPem: oldRoot.keyPem } };
    rotating = startRootRotation(before, newRoot, crossSignedPem);
    after = completeRootRotation(rotating);
  });

  test('the two roots share a name and differ in key id; the cross-signed copy links them by SKI/AKI', async () => {
    const oldCert = new x509.X509Certificate(oldRoot.certPem);
    const newCert = new x509.X509Certificate(newRoot.certPem);
    const cross = new x509.X509Certificate(crossSignedPem);
    expect(newCert.subject).toBe(oldCert.subject);
    const oldIds = certificateKeyIds(oldRoot.certPem);
    const newIds = certificateKeyIds(newRoot.certPem);
    expect(oldIds.subjectKeyId).toMatch(/^[0-9a-f]{40}$/);
    expect(newIds.subjectKeyId).toMatch(/^[0-9a-f]{40}$/);
    expect(newIds.subjectKeyId).not.toBe(oldIds.subjectKeyId);

    // The cross-signed intermediate: the new root's subject, key and SKI; the old root as issuer.
    expect(cross.subject).toBe(newCert.subject);
    expect(cross.issuer).toBe(oldCert.subject);
    expect(Buffer.from(cross.publicKey.rawData)).toEqual(Buffer.from(newCert.publicKey.rawData));
    expect(certificateKeyIds(crossSignedPem)).toEqual({ subjectKeyId: newIds.subjectKeyId, authorityKeyId: oldIds.subjectKeyId });
    expect(cross.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: true, pathLength: 0 });
    expect(await cross.verify({ publicKey: oldCert.publicKey, signatureOnly: true })).toBe(true);
    expect(cross.notBefore.getTime()).toBe(START + DAY);
    expect(cross.notAfter.getTime()).toBe(oldCert.notAfter.getTime());
    expect(cross.notAfter.getTime()).toBeLessThan(newCert.notAfter.getTime());

    // A node certificate's AKI is its issuing root's SKI.
    const a = await enroll(before, 'node-a');
    const b = await enroll(rotating, 'node-b');
    expect(certificateKeyIds(a.leaf).authorityKeyId).toBe(oldIds.subjectKeyId);
    expect(certificateKeyIds(b.leaf).authorityKeyId).toBe(newIds.subjectKeyId);
  });

  test('the rotation state: who is trusted, who signs, what is appended', () => {
    expect(trustBundle(before)).toEqual([oldRoot.certPem]);
    expect(issuingChain(before)).toEqual({ signer: before.current, intermediatePems: [] });
    expect(trustBundle(rotating)).toEqual([oldRoot.certPem, newRoot.certPem]);
    expect(issuingChain(rotating)).toEqual({ signer: { certPem: newRoot.certPem, keyPem: newRoot.keyPem }, intermediatePems: [certificateChainPems(crossSignedPem)[0]] });
    expect(after).toEqual({ current: { certPem: newRoot.certPem, keyPem: newRoot.keyPem } });
    expect(trustBundle(after)).toEqual([newRoot.certPem]);
    expect(issuingChain(after).intermediatePems).toEqual([]);

    expect(() => startRootRotation(rotating, newRoot, crossSignedPem)).toThrow(/already in progress/);
    expect(() => completeRootRotation(before)).toThrow(/no root rotation/);
    // The cross-signed copy must be of the next root, by the current one.
    expect(() => startRootRotation(after, oldRoot, crossSignedPem)).toThrow(CaArgumentError);
    expect(() => startRootRotation(before, newRoot, newRoot.certPem)).toThrow(CaArgumentError);
  });

  test('crossSignRoot refuses what is not a rotation', async () => {
    await expect(crossSignRoot(oldRoot, oldRoot, { now: START + DAY, randomBytes })).rejects.toThrow(/needs a new key/);
    const foreign = await createRootCa({ clusterId: 'cluster2', now: START, validityMs: ROOT_VALIDITY_MS, randomBytes });
    await expect(crossSignRoot(oldRoot, foreign, { now: START + DAY, randomBytes })).rejects.toThrow(CaArgumentError);
    await expect(crossSignRoot(oldRoot, newRoot, { now: START + ROOT_VALIDITY_MS + DAY, randomBytes })).rejects.toThrow(/cannot cross-sign/);
    await expect(crossSignRoot(oldRoot, newRoot, { now: START - DAY, randomBytes })).rejects.toThrow(/cannot cross-sign/);
  });

  test('a node certificate chain PEM splits back into leaf and intermediate', async () => {
    const b = await enroll(rotating, 'node-b');
    const pems = certificateChainPems(b.cert);
    expect(pems).toHaveLength(2);
    expect(pems[0]!.trim()).toBe(b.leaf.trim());
    expect(pems[1]!.trim()).toBe(crossSignedPem.trim());
    expect(certificateChainPems(`junk\n${oldRoot.certPem}\n\n${newRoot.certPem}`).map((p) => p.trim())).toEqual([oldRoot.certPem.trim(), newRoot.certPem.trim()]);
    expect(certificateChainPems('no certificates here')).toEqual([]);
  });

  describe('verifyChain', () => {
    const AT = START + 2 * DAY;

    test('a new-root certificate verifies for an old-root-only verifier through the cross-signed intermediate', async () => {
      const b = await enroll(rotating, 'node-b', 'worker');
      await expect(verifyChain(b.leaf, oldRoot.certPem, AT, undefined, [crossSignedPem])).resolves.toMatchObject({ nodeId: 'node-b', role: 'worker', clusterId: 'cluster1' });
      await expect(verifyChain(b.leaf, [oldRoot.certPem], AT, undefined, [crossSignedPem])).resolves.toMatchObject({ nodeId: 'node-b' });
      // Without the intermediate the old root's name matches but its key did not sign.
      await expect(verifyChain(b.leaf, oldRoot.certPem, AT)).rejects.toMatchObject({ problem: 'signature' });
      // Directly against the new root, alone or in the bundle, in either order.
      await expect(verifyChain(b.leaf, newRoot.certPem, AT)).resolves.toMatchObject({ nodeId: 'node-b' });
      await expect(verifyChain(b.leaf, [oldRoot.certPem, newRoot.certPem], AT)).resolves.toMatchObject({ nodeId: 'node-b' });
      await expect(verifyChain(b.leaf, [newRoot.certPem, oldRoot.certPem], AT, undefined, [crossSignedPem])).resolves.toMatchObject({ nodeId: 'node-b' });
    });

    test('an intermediate helps only if a trusted root signed it', async () => {
      const a = await enroll(before, 'node-a');
      const b = await enroll(rotating, 'node-b');
      // Old-root certificate, new root trusted: the cross-signed copy does not lead to the old root.
      await expect(verifyChain(a.leaf, newRoot.certPem, AT, undefined, [crossSignedPem])).rejects.toMatchObject({ problem: 'signature' });
      await expect(verifyChain(a.leaf, [oldRoot.certPem, newRoot.certPem], AT)).resolves.toMatchObject({ nodeId: 'node-a' });
      // A copy of the new root cross-signed by a stranger of the same name is no help.
      const stranger = await createRootCa({ clusterId: 'cluster1', now: START, validityMs: ROOT_VALIDITY_MS, randomBytes });
      const strangerCross = await crossSignRoot(stranger, newRoot, { now: START + DAY, randomBytes });
      await expect(verifyChain(b.leaf, oldRoot.certPem, AT, undefined, [strangerCross])).rejects.toMatchObject({ problem: 'signature' });
      const other = await createRootCa({ clusterId: 'cluster9', now: START, validityMs: ROOT_VALIDITY_MS, randomBytes });
      await expect(verifyChain(b.leaf, other.certPem, AT, undefined, [crossSignedPem])).rejects.toMatchObject({ problem: 'issuer' });
      await expect(verifyChain(b.leaf, [], AT)).rejects.toThrow(CaArgumentError);
    });

    test('the intermediate\'s own validity counts', async () => {
      const b = await enroll(rotating, 'node-b');
      // Cross-signed later than the leaf's notBefore: before that, only the direct path is valid.
      const lateCross = await crossSignRoot(oldRoot, newRoot, { now: START + 10 * DAY, randomBytes });
      await expect(verifyChain(b.leaf, oldRoot.certPem, START + 5 * DAY, undefined, [lateCross])).rejects.toMatchObject({ problem: 'not-yet-valid' });
      await expect(verifyChain(b.leaf, oldRoot.certPem, START + 11 * DAY, undefined, [lateCross])).resolves.toMatchObject({ nodeId: 'node-b' });
      const failure = await verifyChain(b.leaf, oldRoot.certPem, START + 5 * DAY, undefined, [lateCross]).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(CertificateVerificationError);
      expect((failure as Error).message).toMatch(/intermediate/);
    });
  });

  test('join tokens pin the root, so the new root needs new tokens', () => {
    expect(rootCaDigest(newRoot.certPem)).not.toBe(rootCaDigest(oldRoot.certPem));
    const oldToken = generateJoinToken(oldRoot.certPem, randomBytes);
    const newToken = generateJoinToken(newRoot.certPem, randomBytes);
    expect(parseJoinToken(newToken).rootDigest).toBe(rootCaDigest(newRoot.certPem));
    expect(parseJoinToken(newToken).rootDigest).not.toBe(parseJoinToken(oldToken).rootDigest);
    verifyRootAgainstToken(newRoot.certPem, newToken);
    expect(() => verifyRootAgainstToken(newRoot.certPem, oldToken)).toThrow(RootCaMismatchError);
    expect(() => verifyRootAgainstToken(oldRoot.certPem, newToken)).toThrow(RootCaMismatchError);
  });

  describe('mutual TLS on 127.0.0.1', () => {
    test('during the rotation: an old-root node (trusting the old root only) and a new-root node with the intermediate talk both ways', async () => {
      const a = await enroll(before, 'node-a'); // old root's certificate, trusts [old]
      const b = await enroll(rotating, 'node-b', 'worker'); // new root's certificate + cross-signed, trusts [old, new]
      expect(a.ca).toEqual([oldRoot.certPem]);
      expect(b.ca).toEqual([oldRoot.certPem, newRoot.certPem]);
      expect(certificateChainPems(b.cert)).toHaveLength(2);
      await expect(handshake(b, a)).resolves.toEqual({ ok: true, clientSaw: identity(b, 'worker'), serverSaw: identity(a) });
      await expect(handshake(a, b)).resolves.toEqual({ ok: true, clientSaw: identity(a), serverSaw: identity(b, 'worker') });
    }, 15_000);

    test('during the rotation: two new-root nodes, and an old-root node that already trusts both', async () => {
      const b = await enroll(rotating, 'node-b');
      const c = await enroll(rotating, 'node-c');
      const a = { ...(await enroll(before, 'node-a')), ca: trustBundle(rotating) };
      await expect(handshake(b, c)).resolves.toMatchObject({ ok: true });
      await expect(handshake(a, b)).resolves.toMatchObject({ ok: true });
      await expect(handshake(b, a)).resolves.toMatchObject({ ok: true });
    }, 15_000);

    test('the cross-signed intermediate is what makes it work: without it the old-root-only node refuses', async () => {
      const a = await enroll(before, 'node-a');
      const b = await enroll(rotating, 'node-b');
      const bare = { ...b, cert: b.leaf };
      // Node completes a leaf-only chain from `ca`: bare b sends its leaf with the new root, which
      // a does not trust.
      await expect(handshake(bare, a)).resolves.toMatchObject({ ok: false, clientError: 'self-signed certificate in certificate chain' });
      await expect(handshake(a, bare)).resolves.toMatchObject({ ok: false, clientError: undefined });
    }, 15_000);

    test('after the rotation: nodes with new-root certificates trusting only the new root talk both ways', async () => {
      const c = await enroll(after, 'node-c');
      const d = await enroll(after, 'node-d', 'worker');
      expect(c.ca).toEqual([newRoot.certPem]);
      expect(certificateChainPems(c.cert)).toHaveLength(1);
      await expect(handshake(c, d)).resolves.toEqual({ ok: true, clientSaw: identity(c), serverSaw: identity(d, 'worker') });
      await expect(handshake(d, c)).resolves.toEqual({ ok: true, clientSaw: identity(d, 'worker'), serverSaw: identity(c) });
      // A node reissued during the rotation still presents the intermediate; that is harmless.
      const b = { ...(await enroll(rotating, 'node-b')), ca: trustBundle(after) };
      await expect(handshake(b, c)).resolves.toMatchObject({ ok: true });
      await expect(handshake(c, b)).resolves.toMatchObject({ ok: true });
    }, 15_000);

    test('after the rotation: a node trusting only the new root refuses an old-root certificate, as server and as client', async () => {
      // a holds an old-root certificate but trusts both roots, so that only d can be the one refusing.
      const a = { ...(await enroll(before, 'node-a')), ca: trustBundle(rotating) };
      const d = await enroll(after, 'node-d');
      const asServer = await handshake(d, a);
      expect(asServer).toMatchObject({ ok: false, clientError: undefined });
      expect(asServer.ok ? undefined : asServer.serverError).toBeDefined();
      const asClient = await handshake(a, d);
      // Node appends the leaf's issuer from `ca` to a leaf-only `cert`, so d is shown the old root
      // itself, self-signed and untrusted.
      expect(asClient).toMatchObject({ ok: false, clientError: 'self-signed certificate in certificate chain' });
    }, 15_000);

    test('the order of the two same-named roots in `ca` does not matter: OpenSSL picks the issuer by AKI', async () => {
      const a = await enroll(before, 'node-a');
      const b = await enroll(rotating, 'node-b');
      const oldFirst = { ...b, cert: b.leaf, ca: [oldRoot.certPem, newRoot.certPem] };
      const newFirst = { ...b, cert: b.leaf, ca: [newRoot.certPem, oldRoot.certPem] };
      const withOldRoot = { ...a, ca: [newRoot.certPem, oldRoot.certPem] };
      const withNewRoot = { ...b, ca: [oldRoot.certPem, newRoot.certPem] };
      for (const verifier of [oldFirst, newFirst]) {
        await expect(handshake(withNewRoot, verifier)).resolves.toMatchObject({ ok: true });
        await expect(handshake(withOldRoot, verifier)).resolves.toMatchObject({ ok: true });
        await expect(handshake(verifier, withNewRoot)).resolves.toMatchObject({ ok: true });
        await expect(handshake(verifier, withOldRoot)).resolves.toMatchObject({ ok: true });
      }
    }, 15_000);
  });
});

// Test PKI for the transport's tests, made by the cluster CA's own code (actors/ca): an ECDSA
// P-256 root and node certificates (CN = node id, OU = role, O = cluster id). Validity is fixed
// and wide (2020 to 2090): tests may not read the wall clock, and a TLS handshake checks it.
// An expired certificate is made by issuing it far in the past with a short life.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { createRootCa as createClusterRoot, exportPrivateKeyPem, generateNodeKeyPair, issueNodeCertificate, type RootCa } from '../../actors/index.js';
import { SeededRandom } from '../../runtime/index.js';

const NOW = Date.UTC(2020, 0, 1);
const VALIDITY_MS = 70 * 365 * 24 * 3600 * 1000;
const random = new SeededRandom('tls-certs');
const randomBytes = (n: number): Uint8Array => random.bytes(n);

/**
 * A signing CA: the root, or an intermediate shaped like one (actors/ca issues from either).
 * `chainPem` is what a leaf it issues must be followed by in a certificate chain (empty for the
 * root, the intermediate's own certificate for an intermediate).
 */
export type TestCa = RootCa & { readonly chainPem?: string };

export interface NodeCredentials {
  /** PEM PKCS#8 private key. */
  readonly key: string;
  /** PEM node certificate, followed by the intermediates when issued by one. */
  readonly cert: string;
  /** PEM root CA certificate the node trusts. */
  readonly ca: string;
}

/** A new root: every call gives a CA no other root's certificates verify against. */
export async function createRootCa(clusterId = 'cluster-test'): Promise<TestCa> {
  return createClusterRoot({ clusterId, now: NOW, validityMs: VALIDITY_MS, randomBytes });
}

// @peculiar/x509 types keys and the provider with the DOM's WebCrypto types, which this project's
// lib (no DOM) cannot name; they are node:crypto's webcrypto objects at run time.
type LibCrypto = NonNullable<Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1]>;
type LibKey = Parameters<typeof x509.X509CertificateGenerator.create>[0] extends infer P ? P extends { signingKey: infer K } ? K : never : never;

/** An intermediate CA (CA:true, path length 0) signed by `root`, issuing leaves in its name. */
export async function createIntermediateCa(root: TestCa): Promise<TestCa & { readonly rootPem: string }> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const crypto = webcrypto as unknown as LibCrypto;
  const rootCert = new x509.X509Certificate(root.certPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(randomBytes(16)).toString('hex').replace(/^./, '1'),
    subject: [{ O: [root.clusterId] }, { CN: ['swarm-intermediate-ca'] }],
    issuer: rootCert.subjectName,
    notBefore: new Date(NOW),
    notAfter: new Date(NOW + VALIDITY_MS),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: keys.publicKey as unknown as LibKey,
    signingKey: root.signingKey as unknown as LibKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as LibKey, false, crypto),
      await x509.AuthorityKeyIdentifierExtension.create(rootCert, false, crypto),
    ],
  }, crypto);
  const certPem = cert.toString('pem');
  return { clusterId: root.clusterId, certPem, keyPem: await exportPrivateKeyPem(keys.privateKey), signingKey: keys.privateKey, chainPem: certPem, rootPem: root.certPem };
}

export interface IssueOptions {
  /** notBefore, ms since the epoch (default 2020-01-01). */
  readonly now?: number;
  readonly validityMs?: number;
  /** The root the node trusts (default: `ca` itself, which must then be a root). */
  readonly rootPem?: string;
}

export async function issueNodeCert(ca: TestCa, nodeId: string, role: 'swarm-manager' | 'swarm-worker', clusterId: string, options: IssueOptions = {}): Promise<NodeCredentials> {
  const keys = await generateNodeKeyPair();
  const leaf = await issueNodeCertificate(ca, {
    nodeId,
    role: role === 'swarm-manager' ? 'manager' : 'worker',
    clusterId,
    publicKey: keys.publicKey,
    now: options.now ?? NOW,
    validityMs: options.validityMs ?? VALIDITY_MS,
    randomBytes,
  });
  const cert = ca.chainPem === undefined ? leaf : `${leaf.trimEnd()}\n${ca.chainPem}`;
  return { key: await exportPrivateKeyPem(keys.privateKey), cert, ca: options.rootPem ?? ca.certPem };
}

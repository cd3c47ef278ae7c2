// Test PKI for the transport's tests, made by the cluster CA's own code (actors/ca): an ECDSA
// P-256 root and node certificates (CN = node id, OU = role, O = cluster id). Validity is fixed
// and wide (2020 to 2090): tests may not read the wall clock, and a TLS handshake checks it.
import { createRootCa as createClusterRoot, exportPrivateKeyPem, generateNodeKeyPair, issueNodeCertificate, type RootCa } from '../../actors/index.js';
import { SeededRandom } from '../../runtime/index.js';

const NOW = Date.UTC(2020, 0, 1);
const VALIDITY_MS = 70 * 365 * 24 * 3600 * 1000;
const random = new SeededRandom('tls-certs');
const randomBytes = (n: number): Uint8Array => random.bytes(n);

export type TestCa = RootCa;

export interface NodeCredentials {
  /** PEM PKCS#8 private key. */
  readonly key: string;
  /** PEM node certificate. */
  readonly cert: string;
  /** PEM root CA certificate the node trusts. */
  readonly ca: string;
}

/** A new root: every call gives a CA no other root's certificates verify against. */
export async function createRootCa(clusterId = 'cluster-test'): Promise<TestCa> {
  return createClusterRoot({ clusterId, now: NOW, validityMs: VALIDITY_MS, randomBytes });
}

export async function issueNodeCert(ca: TestCa, nodeId: string, role: 'swarm-manager' | 'swarm-worker', clusterId: string): Promise<NodeCredentials> {
  const keys = await generateNodeKeyPair();
  const cert = await issueNodeCertificate(ca, { nodeId, role: role === 'swarm-manager' ? 'manager' : 'worker', clusterId, publicKey: keys.publicKey, now: NOW, validityMs: VALIDITY_MS, randomBytes });
  return { key: await exportPrivateKeyPem(keys.privateKey), cert, ca: ca.certPem };
}

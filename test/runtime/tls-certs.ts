// Test PKI: an ECDSA P-256 root CA and node certificates (CN = node id, OU = role, O = cluster id)
// made with @peculiar/x509 over Node's webcrypto (DESIGN.md section 7). Fixed validity dates:
// tests may not read the wall clock.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

// tsconfig has no DOM lib: the provider's parameter type is DOM's Crypto, which Node's webcrypto implements.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const NOT_BEFORE = new Date('2020-01-01T00:00:00Z');
const NOT_AFTER = new Date('2100-01-01T00:00:00Z');
let serial = 1;

function nextSerial(): string {
  return (serial++).toString(16).padStart(2, '0');
}

export interface TestCa {
  readonly cert: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
  /** PEM of the root certificate, for `ca`. */
  readonly certPem: string;
}

export interface NodeCredentials {
  /** PEM PKCS#8 private key. */
  readonly key: string;
  /** PEM node certificate. */
  readonly cert: string;
  /** PEM root CA certificate the node trusts. */
  readonly ca: string;
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

export async function createRootCa(name = 'swarm-root-ca'): Promise<TestCa> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${name}`,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, certPem: cert.toString('pem') };
}

export async function issueNodeCert(
  ca: TestCa,
  nodeId: string,
  role: 'swarm-manager' | 'swarm-worker',
  clusterId: string,
): Promise<NodeCredentials> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: nextSerial(),
    subject: `CN=${nodeId}, OU=${role}, O=${clusterId}`,
    issuer: ca.cert.subject,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
    cert: cert.toString('pem'),
    ca: ca.certPem,
  };
}

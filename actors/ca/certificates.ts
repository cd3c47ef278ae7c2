// The cluster CA's pure core: root creation, node certificate issuing, identity read-back and
// chain verification (DESIGN.md section 7). Nothing here reads the clock or draws ambient
// randomness: `now` (ms since the epoch) and serial-number bytes are parameters. Key generation and
// ECDSA signing use the injected WebCrypto provider (Node's `webcrypto` by default); their internal
// randomness is the provider's, which is fine because no replayed decision depends on it.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import {
  CaArgumentError,
  CertificateFormatError,
  CertificateVerificationError,
} from './errors.js';

export type NodeRole = 'manager' | 'worker';
export type WebCrypto = webcrypto.Crypto;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type CryptoKey = webcrypto.CryptoKey;

/** n random bytes from the caller's Env (`env.random.bytes` in replayed code, the OS in real). */
export type RandomBytes = (length: number) => Uint8Array;

export const ROOT_CA_COMMON_NAME = 'swarm-ca';
export const ROLE_OU: Readonly<Record<NodeRole, string>> = { manager: 'swarm-manager', worker: 'swarm-worker' };
/** SwarmKit's default node certificate life. */
export const DEFAULT_NODE_CERT_VALIDITY_MS = 90 * 24 * 60 * 60 * 1000;
/** SwarmKit's default root CA life (20 years). */
export const DEFAULT_ROOT_CA_VALIDITY_MS = 20 * 365 * 24 * 60 * 60 * 1000;

const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export interface RootCa {
  readonly clusterId: string;
  /** The self-signed root certificate, PEM. */
  readonly certPem: string;
  /** The root's private key, PKCS#8 PEM (to persist in the raft store, encrypted at rest). */
  readonly keyPem: string;
  /** The live signing key (imported from keyPem). */
  readonly signingKey: CryptoKey;
}

export interface NodeIdentity {
  readonly nodeId: string;
  readonly role: NodeRole;
  readonly clusterId: string;
  /** Hex serial number. */
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

// @peculiar/x509 types keys and the provider with the DOM's WebCrypto types, which this project's
// lib (no DOM) cannot name; they are the same objects at run time as node:crypto's webcrypto.
type LibCrypto = NonNullable<Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1]>;
type LibKeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
type LibKey = Parameters<typeof x509.X509CertificateGenerator.create>[0] extends infer P ? P extends { signingKey: infer K } ? K : never : never;
type LibAlgorithm = Parameters<x509.PublicKey['export']>[0];

/** WebCrypto as @peculiar/x509 types it; the same object at run time. */
function lib(crypto: WebCrypto): LibCrypto {
  return crypto as unknown as LibCrypto;
}

function serialHex(randomBytes: RandomBytes): string {
  const bytes = Uint8Array.from(randomBytes(16));
  if (bytes.length !== 16) throw new CaArgumentError(`randomBytes(16) returned ${bytes.length} bytes`);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, and no leading zero byte to trim
  return Buffer.from(bytes).toString('hex');
}

function checkTime(name: string, value: number): void {
  if (!Number.isFinite(value)) throw new CaArgumentError(`${name} must be a finite number of ms, got ${value}`);
}

function checkValidity(validityMs: number): void {
  checkTime('validityMs', validityMs);
  if (validityMs <= 0) throw new CaArgumentError(`validityMs must be positive, got ${validityMs}`);
}

export async function exportPrivateKeyPem(key: CryptoKey, crypto: WebCrypto = webcrypto): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

export async function importPrivateKeyPem(pem: string, crypto: WebCrypto = webcrypto): Promise<CryptoKey> {
  let der: ArrayBuffer;
  try {
    der = x509.PemConverter.decodeFirst(pem);
  } catch (e) {
    throw new CertificateFormatError('private key', (e as Error).message);
  }
  return crypto.subtle.importKey('pkcs8', der, EC_KEY, true, ['sign']);
}

/** A fresh ECDSA P-256 key pair (extractable, so the private half can be written as PEM). */
export async function generateNodeKeyPair(crypto: WebCrypto = webcrypto): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
}

function readCertificate(pem: string, what: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (e) {
    throw new CertificateFormatError(what, (e as Error).message);
  }
}

/**
 * The AuthorityKeyIdentifier for a certificate signed by `issuer`: the issuer's own
 * SubjectKeyIdentifier, copied (computed from its key only if it has none). During a root rotation
 * the old root, the new root and the cross-signed intermediate all carry the same subject name
 * (CN=swarm-ca, O=<cluster id>); OpenSSL's chain builder tells them apart by AKI against SKI, and
 * without a matching key id it would take the first same-named certificate and fail on its
 * signature instead of trying the next. The AKI holds only the key id, never issuer+serial: the
 * new root and its cross-signed copy have different serials and must both match.
 */
async function authorityKeyIdentifierFor(issuer: x509.X509Certificate, crypto: WebCrypto): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski !== null) return new x509.AuthorityKeyIdentifierExtension(ski.keyId, false);
  return x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey, false, lib(crypto));
}

export interface CertificateKeyIds {
  /** Hex SubjectKeyIdentifier, if the certificate has one. */
  readonly subjectKeyId?: string;
  /** Hex key id of the AuthorityKeyIdentifier, if the certificate has one. */
  readonly authorityKeyId?: string;
}

/** The SKI and AKI key ids of a certificate (for diagnostics and tests). */
export function certificateKeyIds(pem: string): CertificateKeyIds {
  const cert = readCertificate(pem, 'certificate');
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  return {
    ...(ski !== null ? { subjectKeyId: ski.keyId } : {}),
    ...(aki?.keyId !== undefined ? { authorityKeyId: aki.keyId } : {}),
  };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Splits concatenated PEM (a node's certificate followed by its intermediates, or a trust bundle)
 * into one PEM per certificate, in order, each ending in a newline. Text between blocks is dropped;
 * a block that does not parse as a certificate throws CertificateFormatError.
 */
export function certificateChainPems(pem: string): string[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  return blocks.map((block, i) => {
    readCertificate(block, `certificate ${i + 1} of the chain`);
    return `${block}\n`;
  });
}

export interface CreateRootCaOptions {
  readonly clusterId: string;
  readonly now: number;
  readonly validityMs?: number;
  readonly randomBytes: RandomBytes;
  readonly crypto?: WebCrypto;
}

/** A self-signed ECDSA P-256 root: CN=swarm-ca, O=<cluster id>, CA:TRUE, keyCertSign. */
export async function createRootCa(options: CreateRootCaOptions): Promise<RootCa> {
  const crypto = options.crypto ?? webcrypto;
  const validityMs = options.validityMs ?? DEFAULT_ROOT_CA_VALIDITY_MS;
  checkTime('now', options.now);
  checkValidity(validityMs);
  if (options.clusterId.length === 0) throw new CaArgumentError('clusterId must not be empty');
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex(options.randomBytes),
    name: [{ O: [options.clusterId] }, { CN: [ROOT_CA_COMMON_NAME] }],
    notBefore: new Date(options.now),
    notAfter: new Date(options.now + validityMs),
    signingAlgorithm: SIGNING,
    keys: keys as unknown as LibKeyPair,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as LibKey, false, lib(crypto)),
    ],
  }, lib(crypto));
  return {
    clusterId: options.clusterId,
    certPem: cert.toString('pem'),
    keyPem: await exportPrivateKeyPem(keys.privateKey, crypto),
    signingKey: keys.privateKey,
  };
}

/** A RootCa from its persisted PEMs (after a manager restart or leader change). */
export async function loadRootCa(certPem: string, keyPem: string, crypto: WebCrypto = webcrypto): Promise<RootCa> {
  const cert = readCertificate(certPem, 'root CA certificate');
  const o = cert.subjectName.getField('O')[0];
  if (o === undefined) throw new CertificateFormatError('root CA certificate', 'no O (cluster id) in the subject');
  return { clusterId: o, certPem, keyPem, signingKey: await importPrivateKeyPem(keyPem, crypto) };
}

/** A PKCS#10 request a node sends to the CA; the CA ignores its subject and sets its own. */
export async function createCertificateRequest(keys: CryptoKeyPair, crypto: WebCrypto = webcrypto): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: ['swarm-node'] }],
    keys: keys as unknown as LibKeyPair,
    signingAlgorithm: SIGNING,
  }, lib(crypto));
  return csr.toString('pem');
}

const NODE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface IssueNodeCertificateOptions {
  readonly nodeId: string;
  readonly role: NodeRole;
  /** Defaults to the CA's cluster id; a different value is refused. */
  readonly clusterId?: string;
  /** Either the node's public key or its PEM CSR (whose signature is checked). */
  readonly publicKey?: CryptoKey;
  readonly csrPem?: string;
  readonly now: number;
  readonly validityMs?: number;
  readonly randomBytes: RandomBytes;
  readonly crypto?: WebCrypto;
}

/**
 * A node certificate: CN=<node id>, OU=swarm-manager|swarm-worker, O=<cluster id>; key usage
 * digitalSignature, EKU serverAuth+clientAuth; SANs DNS:<node id> and DNS:<OU> (as SwarmKit, so a
 * client can verify a manager with servername 'swarm-manager').
 */
export async function issueNodeCertificate(ca: RootCa, options: IssueNodeCertificateOptions): Promise<string> {
  const crypto = options.crypto ?? webcrypto;
  const validityMs = options.validityMs ?? DEFAULT_NODE_CERT_VALIDITY_MS;
  checkTime('now', options.now);
  checkValidity(validityMs);
  if (!NODE_ID.test(options.nodeId)) throw new CaArgumentError(`node id must be a lower-case DNS label, got ${JSON.stringify(options.nodeId)}`);
  if (options.role !== 'manager' && options.role !== 'worker') throw new CaArgumentError(`role must be manager or worker, got ${String(options.role)}`);
  if (options.clusterId !== undefined && options.clusterId !== ca.clusterId) {
    throw new CaArgumentError(`cluster id ${options.clusterId} is not this CA's (${ca.clusterId})`);
  }
  if ((options.publicKey === undefined) === (options.csrPem === undefined)) {
    throw new CaArgumentError('give exactly one of publicKey and csrPem');
  }
  let publicKey: CryptoKey;
  if (options.csrPem !== undefined) {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(options.csrPem);
    } catch (e) {
      throw new CertificateFormatError('certificate request', (e as Error).message);
    }
    if (!(await csr.verify(lib(crypto)))) throw new CertificateFormatError('certificate request', 'its signature does not verify');
    publicKey = (await csr.publicKey.export(EC_KEY as unknown as LibAlgorithm, ['verify'], lib(crypto))) as unknown as CryptoKey;
  } else {
    publicKey = options.publicKey!;
  }
  const root = readCertificate(ca.certPem, 'root CA certificate');
  const ou = ROLE_OU[options.role];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex(options.randomBytes),
    subject: [{ O: [ca.clusterId] }, { OU: [ou] }, { CN: [options.nodeId] }],
    issuer: root.subjectName,
    notBefore: new Date(options.now),
    notAfter: new Date(options.now + validityMs),
    signingAlgorithm: SIGNING,
    publicKey: publicKey as unknown as LibKey,
    signingKey: ca.signingKey as unknown as LibKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: options.nodeId }, { type: 'dns', value: ou }], false),
      await authorityKeyIdentifierFor(root, crypto),
    ],
  }, lib(crypto));
  return cert.toString('pem');
}

function roleOf(ou: string | undefined): NodeRole | undefined {
  if (ou === ROLE_OU.manager) return 'manager';
  if (ou === ROLE_OU.worker) return 'worker';
  return undefined;
}

function identityOf(cert: x509.X509Certificate): NodeIdentity {
  const name = cert.subjectName;
  const [cn] = name.getField('CN');
  const [ou] = name.getField('OU');
  const [o] = name.getField('O');
  const role = roleOf(ou);
  if (cn === undefined || o === undefined || role === undefined) {
    throw new CertificateVerificationError('identity', `subject ${cert.subject} is not a node identity (CN=<node id>, OU=swarm-manager|swarm-worker, O=<cluster id>)`);
  }
  return { nodeId: cn, role, clusterId: o, serial: cert.serialNumber, notBefore: cert.notBefore.getTime(), notAfter: cert.notAfter.getTime() };
}

/** CN/OU/O, serial and validity of a node certificate (no verification). */
export function parseNodeIdentity(pem: string): NodeIdentity {
  return identityOf(readCertificate(pem, 'node certificate'));
}

function checkValidAt(cert: x509.X509Certificate, now: number, what: string): void {
  if (now < cert.notBefore.getTime()) throw new CertificateVerificationError('not-yet-valid', `${what} is valid from ${cert.notBefore.toISOString()}`);
  if (now > cert.notAfter.getTime()) throw new CertificateVerificationError('expired', `${what} expired at ${cert.notAfter.toISOString()}`);
}

function isCa(cert: x509.X509Certificate): boolean {
  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  return constraints !== null && constraints.ca;
}

async function signedBy(child: x509.X509Certificate, issuer: x509.X509Certificate, crypto: WebCrypto): Promise<boolean> {
  if (child.issuer !== issuer.subject) return false;
  return child.verify({ publicKey: issuer.publicKey, signatureOnly: true }, lib(crypto));
}

/**
 * Checks that `leafPem` chains to one of the trusted `roots` (a PEM or a list), either directly or
 * through one of the given `intermediates` (during a root rotation: the cross-signed copy of the
 * new root, issued by the old one), and that every certificate on that path is valid at `now`
 * (ms); returns the leaf's node identity. Paths are tried by signature, not by name alone, since
 * the old root, the new root and the cross-signed intermediate all share one subject name.
 * Throws CertificateVerificationError naming the problem: 'issuer' if nothing given has the
 * leaf's issuer name, 'signature' if nothing with that name signed it, else the first validity
 * problem of a path that did.
 */
export async function verifyChain(
  leafPem: string,
  roots: string | readonly string[],
  now: number,
  crypto: WebCrypto = webcrypto,
  intermediates: readonly string[] = [],
): Promise<NodeIdentity> {
  checkTime('now', now);
  const leaf = readCertificate(leafPem, 'node certificate');
  const rootPems = typeof roots === 'string' ? [roots] : roots;
  if (rootPems.length === 0) throw new CaArgumentError('verifyChain needs at least one trusted root');
  const anchors = rootPems.map((pem) => readCertificate(pem, 'root CA certificate'));
  if (!anchors.every(isCa)) throw new CertificateVerificationError('not-a-ca', 'a trusted root certificate is not a CA');
  // Each path runs from the leaf's would-be issuer up to a trusted root.
  const paths: Array<readonly x509.X509Certificate[]> = anchors.map((root) => [root]);
  for (const pem of intermediates) {
    const intermediate = readCertificate(pem, 'intermediate CA certificate');
    if (!isCa(intermediate)) continue;
    for (const root of anchors) {
      if (await signedBy(intermediate, root, crypto)) paths.push([intermediate, root]);
    }
  }
  let nameMatched = false;
  let validityProblem: CertificateVerificationError | undefined;
  for (const path of paths) {
    if (leaf.issuer !== path[0]!.subject) continue;
    nameMatched = true;
    if (!(await signedBy(leaf, path[0]!, crypto))) continue;
    try {
      checkValidAt(path[path.length - 1]!, now, 'the root CA');
      if (path.length === 2) checkValidAt(path[0]!, now, 'the intermediate CA');
      checkValidAt(leaf, now, 'the node certificate');
      return identityOf(leaf);
    } catch (e) {
      if (!(e instanceof CertificateVerificationError) || e.problem === 'identity') throw e;
      validityProblem ??= e;
    }
  }
  if (validityProblem !== undefined) throw validityProblem;
  if (nameMatched) throw new CertificateVerificationError('signature', 'the certificate was not signed by a trusted root or a given intermediate');
  throw new CertificateVerificationError('issuer', `issued by ${leaf.issuer}, which no trusted root or given intermediate is`);
}

export interface CrossSignRootOptions {
  readonly now: number;
  readonly randomBytes: RandomBytes;
  readonly crypto?: WebCrypto;
}

/**
 * The cross-signed intermediate of a root rotation (SwarmKit's design): a CA certificate with the
 * new root's subject, public key and SubjectKeyIdentifier, issued and signed by the old root (its
 * AuthorityKeyIdentifier is the old root's key id). Node certificates issued by the new key and
 * presented with this intermediate verify for a node that still trusts only the old root. Valid
 * from `now` until the earlier of the two roots' ends; path length 0, since it only signs nodes.
 */
export async function crossSignRoot(oldRoot: RootCa, newRoot: RootCa, options: CrossSignRootOptions): Promise<string> {
  const crypto = options.crypto ?? webcrypto;
  checkTime('now', options.now);
  const issuer = readCertificate(oldRoot.certPem, 'old root CA certificate');
  const subject = readCertificate(newRoot.certPem, 'new root CA certificate');
  if (oldRoot.clusterId !== newRoot.clusterId) {
    throw new CaArgumentError(`the new root is for cluster ${newRoot.clusterId}, the old one for ${oldRoot.clusterId}`);
  }
  if (!isCa(issuer)) throw new CaArgumentError('the old root certificate is not a CA');
  if (!isCa(subject)) throw new CaArgumentError('the new root certificate is not a CA');
  const subjectKeyId = subject.getExtension(x509.SubjectKeyIdentifierExtension);
  if (subjectKeyId === null) throw new CaArgumentError('the new root certificate has no SubjectKeyIdentifier');
  if (Buffer.from(subject.publicKey.rawData).equals(Buffer.from(issuer.publicKey.rawData))) {
    throw new CaArgumentError('the new root has the old root\'s key; a rotation needs a new key');
  }
  const notAfter = Math.min(issuer.notAfter.getTime(), subject.notAfter.getTime());
  if (options.now < issuer.notBefore.getTime() || options.now >= notAfter) {
    throw new CaArgumentError(`cannot cross-sign at ${new Date(options.now).toISOString()}: the old root is valid ${issuer.notBefore.toISOString()}..${issuer.notAfter.toISOString()}, the new root until ${subject.notAfter.toISOString()}`);
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialHex(options.randomBytes),
    subject: subject.subjectName,
    issuer: issuer.subjectName,
    notBefore: new Date(options.now),
    notAfter: new Date(notAfter),
    signingAlgorithm: SIGNING,
    publicKey: subject.publicKey,
    signingKey: oldRoot.signingKey as unknown as LibKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectKeyIdentifierExtension(subjectKeyId.keyId, false),
      await authorityKeyIdentifierFor(issuer, crypto),
    ],
  }, lib(crypto));
  return cert.toString('pem');
}

/**
 * When to renew, in ms after notBefore: a uniformly random point between 50% and 80% of the
 * certificate's life (SwarmKit's rule, which spreads renewals of certificates issued together).
 * `random.float()` is in [0, 1), e.g. `env.random`.
 */
export function renewalDelayMs(notBefore: number, notAfter: number, random: { float(): number }): number {
  checkTime('notBefore', notBefore);
  checkTime('notAfter', notAfter);
  const lifetime = notAfter - notBefore;
  if (lifetime <= 0) return 0;
  const r = Math.min(Math.max(random.float(), 0), 1);
  return Math.floor(lifetime * (0.5 + 0.3 * r));
}

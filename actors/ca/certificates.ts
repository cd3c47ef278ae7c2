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
      await x509.AuthorityKeyIdentifierExtension.create(root, false, lib(crypto)),
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

/**
 * Checks that `leafPem` was issued by `rootPem` and that both are valid at `now` (ms); returns the
 * leaf's node identity. Throws CertificateVerificationError naming the problem.
 */
export async function verifyChain(leafPem: string, rootPem: string, now: number, crypto: WebCrypto = webcrypto): Promise<NodeIdentity> {
  checkTime('now', now);
  const leaf = readCertificate(leafPem, 'node certificate');
  const root = readCertificate(rootPem, 'root CA certificate');
  const constraints = root.getExtension(x509.BasicConstraintsExtension);
  if (constraints === null || !constraints.ca) throw new CertificateVerificationError('not-a-ca', 'the root certificate is not a CA');
  if (leaf.issuer !== root.subject) throw new CertificateVerificationError('issuer', `issued by ${leaf.issuer}, not ${root.subject}`);
  const ok = await leaf.verify({ publicKey: root.publicKey, signatureOnly: true }, lib(crypto));
  if (!ok) throw new CertificateVerificationError('signature', 'the certificate was not signed by this root');
  checkValidAt(root, now, 'the root CA');
  checkValidAt(leaf, now, 'the node certificate');
  return identityOf(leaf);
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

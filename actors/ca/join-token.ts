// Join tokens in SwarmKit's shape (ca/config.go): SWMTKN-1-<root digest>-<secret>, where the
// root digest is the SHA-256 of the root CA certificate written in base 36 and zero-padded to 50
// characters, and the secret is 128 random bits in base 36 zero-padded to 25 characters. The
// digest lets a joining node pin the root CA it is offered (the MITM check); the secret tells the
// CA which role the joiner gets. Worker and manager tokens are generated separately; rotating one
// is generating a new one.
//
// One deliberate difference: SwarmKit hashes the root's PEM bytes; we hash its DER, so that
// re-encoding the PEM (line endings, trailing newline) does not change the fingerprint.
import { createHash, timingSafeEqual } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CertificateFormatError, JoinTokenFormatError, RootCaMismatchError } from './errors.js';
import type { NodeRole, RandomBytes } from './certificates.js';

export const JOIN_TOKEN_PREFIX = 'SWMTKN';
export const JOIN_TOKEN_VERSION = '1';
export const ROOT_DIGEST_LENGTH = 50;
export const SECRET_LENGTH = 25;
const SECRET_BYTES = 16;
const BASE36 = /^[0-9a-z]+$/;

export interface ParsedJoinToken {
  readonly version: 1;
  /** Root CA digest, base 36, 50 characters. */
  readonly rootDigest: string;
  /** Root CA digest as 64 hex characters (sha256). */
  readonly rootDigestHex: string;
  /** The secret, base 36, 25 characters. */
  readonly secret: string;
}

function toBase36(bytes: Uint8Array, length: number): string {
  const n = BigInt('0x' + (Buffer.from(bytes).toString('hex') || '0'));
  return n.toString(36).padStart(length, '0');
}

function fromBase36(text: string): bigint {
  let n = 0n;
  for (const c of text) n = n * 36n + BigInt(parseInt(c, 36));
  return n;
}

/** SHA-256 of the root certificate's DER, base 36, padded to 50 characters. */
export function rootCaDigest(rootPem: string): string {
  let der: ArrayBuffer;
  try {
    der = new x509.X509Certificate(rootPem).rawData;
  } catch (e) {
    throw new CertificateFormatError('root CA certificate', (e as Error).message);
  }
  return toBase36(createHash('sha256').update(Buffer.from(der)).digest(), ROOT_DIGEST_LENGTH);
}

/** A fresh join token for this root; call once for workers and once for managers. */
export function generateJoinToken(rootPem: string, randomBytes: RandomBytes): string {
  const secret = randomBytes(SECRET_BYTES);
  if (secret.length !== SECRET_BYTES) throw new RangeError(`randomBytes(${SECRET_BYTES}) returned ${secret.length} bytes`);
  return `${JOIN_TOKEN_PREFIX}-${JOIN_TOKEN_VERSION}-${rootCaDigest(rootPem)}-${toBase36(secret, SECRET_LENGTH)}`;
}

/** Reads a join token; throws JoinTokenFormatError naming the first thing wrong. */
export function parseJoinToken(text: string): ParsedJoinToken {
  const token = text.trim();
  const parts = token.split('-');
  if (parts[0] !== JOIN_TOKEN_PREFIX) throw new JoinTokenFormatError('prefix', `must start with ${JOIN_TOKEN_PREFIX}-`);
  if (parts[1] !== JOIN_TOKEN_VERSION) throw new JoinTokenFormatError('version', `version ${JSON.stringify(parts[1] ?? '')} is not supported (only ${JOIN_TOKEN_VERSION})`);
  if (parts.length !== 4) throw new JoinTokenFormatError('shape', `expected SWMTKN-1-<digest>-<secret>, got ${parts.length} parts`);
  const rootDigest = parts[2]!;
  const secret = parts[3]!;
  if (rootDigest.length !== ROOT_DIGEST_LENGTH) throw new JoinTokenFormatError('digest-length', `root CA digest has ${rootDigest.length} characters, expected ${ROOT_DIGEST_LENGTH}`);
  if (!BASE36.test(rootDigest)) throw new JoinTokenFormatError('digest-charset', 'root CA digest must be lower-case base 36');
  const digest = fromBase36(rootDigest);
  if (digest >= 1n << 256n) throw new JoinTokenFormatError('digest-charset', 'root CA digest does not fit 256 bits');
  if (secret.length !== SECRET_LENGTH) throw new JoinTokenFormatError('secret-length', `secret has ${secret.length} characters, expected ${SECRET_LENGTH}`);
  if (!BASE36.test(secret)) throw new JoinTokenFormatError('secret-charset', 'secret must be lower-case base 36');
  if (fromBase36(secret) >= 1n << 128n) throw new JoinTokenFormatError('secret-charset', 'secret does not fit 128 bits');
  return { version: 1, rootDigest, rootDigestHex: digest.toString(16).padStart(64, '0'), secret };
}

/**
 * The joining node's MITM check: the root CA it was offered must be the one its token pins.
 * Throws JoinTokenFormatError for a malformed token, RootCaMismatchError on a mismatch.
 */
export function verifyRootAgainstToken(rootPem: string, token: string): void {
  const parsed = parseJoinToken(token);
  const actual = rootCaDigest(rootPem);
  if (actual !== parsed.rootDigest) throw new RootCaMismatchError(parsed.rootDigest, actual);
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The CA's side: which role a presented token grants, given the cluster's current tokens, or
 * undefined if it grants none (a rotated-out or foreign token). Compares in constant time.
 */
export function roleForJoinToken(presented: string, current: { readonly worker: string; readonly manager: string }): NodeRole | undefined {
  const token = presented.trim();
  // Check both, always, so timing does not tell which one matched.
  const manager = sameText(token, current.manager);
  const worker = sameText(token, current.worker);
  if (manager) return 'manager';
  if (worker) return 'worker';
  return undefined;
}

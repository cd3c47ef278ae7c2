// Typed failures of the cluster CA's pure core. Each names what is wrong, so a caller (the CA
// actor, `swarm join`) can answer with a precise message instead of a generic "invalid token".

/** Base of every CA error; `code` is stable and safe to match on. */
export abstract class CaError extends Error {
  abstract readonly code: string;
}

/** What is wrong with a join token's text. */
export type JoinTokenProblem =
  | 'prefix' // does not start with SWMTKN
  | 'version' // a version other than 1
  | 'shape' // wrong number of '-'-separated parts
  | 'digest-length' // root CA digest is not 50 characters
  | 'digest-charset' // root CA digest is not lower-case base 36 or does not fit 256 bits
  | 'secret-length' // secret is not 25 characters
  | 'secret-charset'; // secret is not lower-case base 36 or does not fit 128 bits

export class JoinTokenFormatError extends CaError {
  readonly code = 'JOIN_TOKEN_FORMAT';
  constructor(readonly problem: JoinTokenProblem, detail: string) {
    super(`invalid join token (${problem}): ${detail}`);
    this.name = 'JoinTokenFormatError';
  }
}

/** The root CA a joining node was offered does not match the digest pinned in its join token. */
export class RootCaMismatchError extends CaError {
  readonly code = 'ROOT_CA_MISMATCH';
  constructor(readonly expectedDigest: string, readonly actualDigest: string) {
    super(`remote root CA does not match the join token's fingerprint: expected ${expectedDigest}, got ${actualDigest}`);
    this.name = 'RootCaMismatchError';
  }
}

/** A PEM or CSR that cannot be read as what it should be. */
export class CertificateFormatError extends CaError {
  readonly code = 'CERTIFICATE_FORMAT';
  constructor(readonly what: string, detail: string) {
    super(`malformed ${what}: ${detail}`);
    this.name = 'CertificateFormatError';
  }
}

export type VerificationProblem = 'signature' | 'issuer' | 'not-yet-valid' | 'expired' | 'not-a-ca' | 'identity';

/** A certificate did not verify against the root (or lacks a node identity). */
export class CertificateVerificationError extends CaError {
  readonly code = 'CERTIFICATE_VERIFICATION';
  constructor(readonly problem: VerificationProblem, detail: string) {
    super(`certificate verification failed (${problem}): ${detail}`);
    this.name = 'CertificateVerificationError';
  }
}

/** Bad arguments to an issuing call (validity, node id, role). */
export class CaArgumentError extends CaError {
  readonly code = 'CA_ARGUMENT';
  constructor(detail: string) {
    super(detail);
    this.name = 'CaArgumentError';
  }
}

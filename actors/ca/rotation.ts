// Root CA rotation by cross-signing, as SwarmKit does it (DESIGN.md section 7). A rotation
// generates a new root and has the old root sign a cross-signed intermediate that carries the new
// root's subject and key (crossSignRoot in certificates.ts). While it runs:
//   - nodes trust both roots (trustBundle);
//   - the CA signs node certificates with the NEW key, and each node presents its certificate
//     followed by the cross-signed intermediate (issuingChain, nodeCertificateChainPem), so that a
//     node still trusting only the old root verifies it through the intermediate;
//   - once every node holds a certificate from the new key, the rotation completes
//     (completeRootRotation): the old root leaves the trust bundle and the intermediate is dropped.
// Join tokens pin the root's digest, so they are regenerated when the rotation completes.
//
// These are pure functions of the rotation's state; the CA actor persists that state in the raft
// store and decides when every node has been reissued.
import { CaArgumentError } from './errors.js';
import { certificateChainPems, certificateKeyIds } from './certificates.js';

/** A root's persisted material: certificate and PKCS#8 private key, PEM. */
export interface RootMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

/** The incoming root of a rotation, with its cross-signed copy (issued by the current root). */
export interface NextRoot extends RootMaterial {
  readonly crossSignedPem: string;
}

export interface RootRotation {
  /** The root every node trusts; during a rotation, the outgoing one. */
  readonly current: RootMaterial;
  /** Present while a rotation is in progress. */
  readonly next?: NextRoot;
}

/** Which root signs new node certificates, and what a node appends after its own certificate. */
export interface IssuingChain {
  readonly signer: RootMaterial;
  /** Intermediates, leaf-side first; empty outside a rotation. */
  readonly intermediatePems: readonly string[];
}

/**
 * Starts a rotation from `current` to `next`, whose cross-signed copy `crossSignedPem` is from
 * crossSignRoot(current, next). Throws CaArgumentError if a rotation is already running or the
 * intermediate is not the cross-signed copy of `next` by `current` (checked by key ids).
 */
export function startRootRotation(rotation: RootRotation, next: RootMaterial, crossSignedPem: string): RootRotation {
  if (rotation.next !== undefined) throw new CaArgumentError('a root rotation is already in progress');
  const [cross] = certificateChainPems(crossSignedPem);
  if (cross === undefined) throw new CaArgumentError('crossSignedPem holds no certificate');
  const crossIds = certificateKeyIds(cross);
  const currentIds = certificateKeyIds(rotation.current.certPem);
  const nextIds = certificateKeyIds(next.certPem);
  if (nextIds.subjectKeyId === undefined || currentIds.subjectKeyId === undefined) {
    throw new CaArgumentError('both roots need a SubjectKeyIdentifier');
  }
  if (nextIds.subjectKeyId === currentIds.subjectKeyId) throw new CaArgumentError('the next root has the current root\'s key id');
  if (crossIds.subjectKeyId !== nextIds.subjectKeyId || crossIds.authorityKeyId !== currentIds.subjectKeyId) {
    throw new CaArgumentError('crossSignedPem is not the next root cross-signed by the current root');
  }
  return { current: rotation.current, next: { certPem: next.certPem, keyPem: next.keyPem, crossSignedPem: cross } };
}

/** Ends a rotation once every node holds a certificate from the new root: the new root is all. */
export function completeRootRotation(rotation: RootRotation): RootRotation {
  if (rotation.next === undefined) throw new CaArgumentError('no root rotation is in progress');
  return { current: { certPem: rotation.next.certPem, keyPem: rotation.next.keyPem } };
}

/** The roots a node must trust: the current one, and the next one during a rotation. */
export function trustBundle(rotation: RootRotation): string[] {
  return rotation.next === undefined ? [rotation.current.certPem] : [rotation.current.certPem, rotation.next.certPem];
}

/**
 * Who signs new node certificates: during a rotation the NEW root, with the cross-signed
 * intermediate to present after the node's certificate; otherwise the current root alone.
 */
export function issuingChain(rotation: RootRotation): IssuingChain {
  if (rotation.next === undefined) return { signer: rotation.current, intermediatePems: [] };
  const { certPem, keyPem, crossSignedPem } = rotation.next;
  return { signer: { certPem, keyPem }, intermediatePems: [crossSignedPem] };
}

/** A node's certificate followed by its intermediates: the `cert` a TLS endpoint presents. */
export function nodeCertificateChainPem(leafPem: string, chain: IssuingChain): string {
  return [leafPem, ...chain.intermediatePems].map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`)).join('');
}

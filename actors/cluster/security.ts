// The cluster's security state, replicated through the journal beside the store: the root CA (and
// the next one during a rotation), the join tokens, the certificates issued to each node and the
// nodes whose certificates are refused. It is applied by every manager from committed entries, so
// a leader change loses nothing (SwarmKit keeps the same in its cluster object). It is carried in
// the Raft log and snapshots, which are sealed at rest by the journal's cipher.
//
// It lives beside the store rather than in the Cluster object so that the journal's event schema
// (a contract with golden journals) is untouched; moving it into a versioned cluster event is a
// later schema change.
import { InvariantViolation } from '../../runtime/index.js';
import type { NodeRole } from '../ca/index.js';

export interface RootKeyPair {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface IssuedCertificate {
  readonly serial: string;
  readonly role: NodeRole;
  readonly notAfter: number;
  /** The root whose key signed it: the current one, or the next one during a rotation. */
  readonly rootCertPem: string;
}

export interface SecurityState {
  readonly clusterId: string;
  readonly root: RootKeyPair;
  /** During a root rotation: the new root and its certificate cross-signed by the current root. */
  readonly next: (RootKeyPair & { readonly crossSignedPem: string }) | null;
  readonly tokens: { readonly worker: string; readonly manager: string };
  /** The last certificate issued to each node. */
  readonly issued: Readonly<Record<string, IssuedCertificate>>;
  /** Removed nodes: their certificates are refused until this time (their last certificate's expiry). */
  readonly revoked: Readonly<Record<string, number>>;
  /** The cluster-wide unlock key of auto-locked managers, or '' when auto-lock is off. */
  readonly unlockKey: string;
  readonly nodeCertValidityMs: number;
}

export type SecurityChange =
  | { readonly kind: 'init'; readonly state: SecurityState }
  | { readonly kind: 'tokensRotated'; readonly worker: string | null; readonly manager: string | null }
  | { readonly kind: 'certificateIssued'; readonly nodeId: string; readonly certificate: IssuedCertificate }
  | { readonly kind: 'nodeRevoked'; readonly nodeId: string; readonly until: number }
  | { readonly kind: 'rootRotationStarted'; readonly next: RootKeyPair & { readonly crossSignedPem: string }; readonly tokens: { readonly worker: string; readonly manager: string } }
  | { readonly kind: 'rootRotationFinished'; readonly rootCertPem: string }
  | { readonly kind: 'unlockKeyChanged'; readonly unlockKey: string }
  | { readonly kind: 'certValidityChanged'; readonly nodeCertValidityMs: number };

/** Applies one change; the result is a new object (the old one stays valid for readers). Pure. */
export function applySecurityChange(state: SecurityState | null, change: SecurityChange): SecurityState | null {
  if (change.kind === 'init') {
    if (state !== null) throw new InvariantViolation('security state initialized twice');
    return change.state;
  }
  if (state === null) throw new InvariantViolation(`security change ${change.kind} before init`);
  switch (change.kind) {
    case 'tokensRotated':
      return { ...state, tokens: { worker: change.worker ?? state.tokens.worker, manager: change.manager ?? state.tokens.manager } };
    case 'certificateIssued':
      return { ...state, issued: { ...state.issued, [change.nodeId]: change.certificate } };
    case 'nodeRevoked': {
      const issued = { ...state.issued };
      delete issued[change.nodeId];
      return { ...state, issued, revoked: { ...state.revoked, [change.nodeId]: change.until } };
    }
    case 'rootRotationStarted':
      // A second rotation while one runs replaces the pending next root (SwarmKit does the same).
      return { ...state, next: change.next, tokens: change.tokens };
    case 'rootRotationFinished':
      // Only the rotation that was checked may finish: a newer one started meanwhile stays.
      if (state.next === null || state.next.certPem !== change.rootCertPem) return state;
      return { ...state, root: { certPem: state.next.certPem, keyPem: state.next.keyPem }, next: null };
    case 'unlockKeyChanged':
      return { ...state, unlockKey: change.unlockKey };
    case 'certValidityChanged':
      return { ...state, nodeCertValidityMs: change.nodeCertValidityMs };
    default:
      throw new InvariantViolation(`unknown security change ${(change as { kind: string }).kind}`);
  }
}

/** The roots a node must trust now: the current root, and the next one during a rotation. */
export function trustedRoots(state: SecurityState): string[] {
  return state.next === null ? [state.root.certPem] : [state.root.certPem, state.next.certPem];
}

/** Whether a node's certificates are refused at `now`. */
export function isRevoked(state: SecurityState, nodeId: string, now: number): boolean {
  const until = state.revoked[nodeId];
  return until !== undefined && now <= until;
}

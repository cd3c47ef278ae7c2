// The replicated security state (actors/cluster/security.ts): a pure reducer every manager applies
// from committed entries, so each rule here holds identically on every manager.
import { applySecurityChange, isRevoked, trustedRoots, type SecurityState } from '../../actors/index.js';
import { InvariantViolation } from '../../runtime/index.js';

const base: SecurityState = {
  clusterId: 'c1',
  root: { certPem: 'ROOT-A', keyPem: 'KEY-A' },
  next: null,
  tokens: { worker: 'W1', manager: 'M1' },
  issued: {},
  revoked: {},
  unlockKey: '',
  nodeCertValidityMs: 60_000,
};

describe('security state', () => {
  test('init once; any other change before init or a second init is a bug', () => {
    const state = applySecurityChange(null, { kind: 'init', state: base });
    expect(state).toBe(base);
    expect(() => applySecurityChange(state, { kind: 'init', state: base })).toThrow(InvariantViolation);
    expect(() => applySecurityChange(null, { kind: 'tokensRotated', worker: 'W2', manager: null })).toThrow(InvariantViolation);
  });

  test('rotating one token leaves the other', () => {
    const state = applySecurityChange(base, { kind: 'tokensRotated', worker: 'W2', manager: null })!;
    expect(state.tokens).toEqual({ worker: 'W2', manager: 'M1' });
    expect(base.tokens.worker).toBe('W1'); // the old object is untouched: readers may hold it
  });

  test('a removed node is refused until its last certificate expires, and forgets its issued record', () => {
    let state = applySecurityChange(base, { kind: 'certificateIssued', nodeId: 'n1', certificate: { serial: 'aa', role: 'worker', notAfter: 5000, rootCertPem: 'ROOT-A' } })!;
    expect(state.issued['n1']?.serial).toBe('aa');
    state = applySecurityChange(state, { kind: 'nodeRevoked', nodeId: 'n1', until: 5000 })!;
    expect(state.issued['n1']).toBeUndefined();
    expect(isRevoked(state, 'n1', 4999)).toBe(true);
    expect(isRevoked(state, 'n1', 5000)).toBe(true);
    expect(isRevoked(state, 'n1', 5001)).toBe(false);
    expect(isRevoked(state, 'n2', 0)).toBe(false);
  });

  test('a root rotation trusts both roots until it finishes, then only the new one', () => {
    const next = { certPem: 'ROOT-B', keyPem: 'KEY-B', crossSignedPem: 'CROSS-B-BY-A' };
    let state = applySecurityChange(base, { kind: 'rootRotationStarted', next, tokens: { worker: 'WB', manager: 'MB' } })!;
    expect(trustedRoots(state)).toEqual(['ROOT-A', 'ROOT-B']);
    expect(state.tokens).toEqual({ worker: 'WB', manager: 'MB' });
    // A finish for another rotation (one replaced meanwhile) changes nothing.
    expect(applySecurityChange(state, { kind: 'rootRotationFinished', rootCertPem: 'ROOT-C' })).toBe(state);
    state = applySecurityChange(state, { kind: 'rootRotationFinished', rootCertPem: 'ROOT-B' })!;
    expect(state.root).toEqual({ certPem: 'ROOT-B', keyPem: 'KEY-B' });
    expect(state.next).toBeNull();
    expect(trustedRoots(state)).toEqual(['ROOT-B']);
  });
});

import { DEFAULT_NODE_CERT_VALIDITY_MS } from '../../actors/index.js';
import { DEFAULT_CERT_EXPIRY, duration } from '../../cli/index.js';

// The command tree does not import actors/ (it would load the CA's x509 code at every start), so
// `swarm init`'s --cert-expiry default is written out in the CLI: it must stay the CA's.
describe('swarm init --cert-expiry', () => {
  test("the default is the CA's node certificate life", () => {
    expect(duration('--cert-expiry')(DEFAULT_CERT_EXPIRY)).toBe(DEFAULT_NODE_CERT_VALIDITY_MS);
  });

  test('a duration reads ms, s, m, h and d, and a bad one names the flag', () => {
    expect(duration('--cert-expiry')('12h')).toBe(12 * 3_600_000);
    expect(duration('--cert-expiry')('1.5s')).toBe(1500);
    expect(() => duration('--cert-expiry')('12')).toThrow(/--cert-expiry must be a duration/);
    expect(() => duration('--cert-expiry', 10_000)('5s')).toThrow(/--cert-expiry must be at least 10 s/);
  });
});

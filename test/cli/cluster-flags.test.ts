import {
  DEFAULT_NODE_CERT_VALIDITY_MS, DISPATCHER_HEARTBEAT_PERIOD_MS_MAX, DISPATCHER_HEARTBEAT_PERIOD_MS_MIN, NODE_CERT_EXPIRY_MS_MIN, TASK_HISTORY_RETENTION_LIMIT_MAX,
} from '../../actors/index.js';
import { CLUSTER_LIMITS, DEFAULT_CERT_EXPIRY, duration, formatDuration } from '../../cli/index.js';

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
    expect(() => duration('--cert-expiry', 10_000)('5s')).toThrow(/--cert-expiry must be at least 10s/);
  });
});

// `swarm cluster update`'s flags refuse what the node refuses, with the flag's name: the bounds are
// written out in the CLI (as the default above is) and must stay the API's.
describe('swarm cluster update', () => {
  test("the flags' bounds are the API's", () => {
    expect(CLUSTER_LIMITS).toEqual({
      heartbeatMsMin: DISPATCHER_HEARTBEAT_PERIOD_MS_MIN, heartbeatMsMax: DISPATCHER_HEARTBEAT_PERIOD_MS_MAX,
      certExpiryMsMin: NODE_CERT_EXPIRY_MS_MIN, taskHistoryMax: TASK_HISTORY_RETENTION_LIMIT_MAX,
    });
  });

  test('a duration prints as the flags read it back', () => {
    for (const text of ['90d', '12h', '5m', '5s', '1500ms', '100ms']) expect(formatDuration(duration('--x')(text))).toBe(text);
    expect(formatDuration(7_776_000_000)).toBe('90d');
    expect(() => duration('--dispatcher-heartbeat', 100, 3_600_000)('2h')).toThrow(/--dispatcher-heartbeat must be at most 1h/);
  });
});

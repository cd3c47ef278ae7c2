// `POST /swarm/update`'s pure core (actors/api/cluster.ts): Docker's swarm Spec, whole or in part,
// read against the cluster object and the security state, to the writes the server makes; a bad
// field is refused naming it, before any write. Called directly, without a runtime.
import { SpecInvalidError, StaleVersionError, updateSwarm } from '../../actors/index.js';
import type { Cluster } from '../../journal/index.js';

const CLUSTER: Cluster = {
  id: 'c1',
  meta: { version: 7, createdAt: 1, updatedAt: 1 },
  spec: {
    annotations: { name: 'default', labels: {} },
    orchestration: { taskHistoryRetentionLimit: 5 },
    dispatcher: { heartbeatPeriodMs: 5_000 },
    raft: { snapshotIntervalEntries: 10_000, logEntriesForSlowFollowers: 500, electionTicks: 10, heartbeatTicks: 1 },
    caConfig: { nodeCertExpiryMs: 7_776_000_000 },
    encryption: { autoLockManagers: false },
  },
};
const SECURITY = { autoLockManagers: false, nodeCertExpiryMs: 7_776_000_000 };
const NOW = 2_000;

/** GET /swarm's Spec for CLUSTER, as the docker CLI sends it back. */
const WHOLE = {
  Name: 'default', Labels: {}, Orchestration: { TaskHistoryRetentionLimit: 5 },
  Raft: { SnapshotInterval: 10_000, LogEntriesForSlowFollowers: 500, ElectionTick: 10, HeartbeatTick: 1, KeepOldSnapshots: 0 },
  Dispatcher: { HeartbeatPeriod: 5e9 }, CAConfig: { NodeCertExpiry: 7_776_000_000e6, ExternalCAs: [] }, EncryptionConfig: { AutoLockManagers: false }, TaskDefaults: {},
};

function refusal(body: unknown, version: number | null = null): string {
  try {
    updateSwarm(CLUSTER, SECURITY, version, body, NOW);
  } catch (error) {
    if (error instanceof SpecInvalidError || error instanceof StaleVersionError) return error.message;
    throw error;
  }
  throw new Error(`${JSON.stringify(body)} was not refused`);
}

describe('updateSwarm', () => {
  test('the whole spec as read writes nothing', () => {
    expect(updateSwarm(CLUSTER, SECURITY, 7, WHOLE, NOW)).toEqual({ event: null, nodeCertExpiryMs: null, forceRotate: false });
    expect(updateSwarm(CLUSTER, SECURITY, null, {}, NOW)).toEqual({ event: null, nodeCertExpiryMs: null, forceRotate: false });
  });

  test('history limit, heartbeat and certificate life: one cluster.updated at the version read, and the security state\'s change', () => {
    const update = updateSwarm(CLUSTER, SECURITY, 7, { ...WHOLE, Orchestration: { TaskHistoryRetentionLimit: 1 }, Dispatcher: { HeartbeatPeriod: 2e9 }, CAConfig: { NodeCertExpiry: 3_600_000e6 } }, NOW);
    expect(update.event).toEqual({
      type: 'cluster.updated', v: 1, at: NOW, id: 'c1', expectedVersion: 7,
      spec: { ...CLUSTER.spec, orchestration: { taskHistoryRetentionLimit: 1 }, dispatcher: { heartbeatPeriodMs: 2_000 }, caConfig: { nodeCertExpiryMs: 3_600_000 } },
    });
    expect(update.nodeCertExpiryMs).toBe(3_600_000);
    // A part of the spec: the rest keeps its values.
    expect(updateSwarm(CLUSTER, SECURITY, null, { Orchestration: { TaskHistoryRetentionLimit: -1 } }, NOW).event?.spec).toEqual({ ...CLUSTER.spec, orchestration: { taskHistoryRetentionLimit: -1 } });
  });

  test('a bad or fixed field is refused, naming it', () => {
    expect(refusal({ Orchestration: { TaskHistoryRetentionLimit: 'x' } })).toMatch(/^Orchestration\.TaskHistoryRetentionLimit: must be a whole number/);
    expect(refusal({ Orchestration: { TaskHistoryRetentionLimit: -2 } })).toMatch(/^Orchestration\.TaskHistoryRetentionLimit: must be from -1 to 10000/);
    expect(refusal({ Dispatcher: { HeartbeatPeriod: 1e6 } })).toMatch(/^Dispatcher\.HeartbeatPeriod: must be a duration in nanoseconds, 0\.1 s to 3600 s/);
    expect(refusal({ CAConfig: { NodeCertExpiry: 1e9 } })).toMatch(/^CAConfig\.NodeCertExpiry: must be a duration in nanoseconds, 10 s or more/);
    expect(refusal({ EncryptionConfig: { AutoLockManagers: true } })).toMatch(/^EncryptionConfig\.AutoLockManagers: cannot be changed/);
    expect(refusal({ Raft: { SnapshotInterval: 5 } })).toMatch(/^Raft\.SnapshotInterval: cannot be changed/);
    expect(refusal({ Name: 'other' })).toMatch(/^Name: cannot be changed/);
    expect(refusal({ Dispatcher: [] })).toMatch(/^Dispatcher: must be an object/);
    expect(refusal({ Bogus: 1 })).toMatch(/^Bogus: not a field of the swarm spec/);
    expect(refusal({}, 6)).toMatch(/version 7, the request was made against version 6/);
  });
});

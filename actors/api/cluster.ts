// `POST /swarm/update` as a pure function: the body, Docker's swarm Spec (`docker swarm update`
// sends the whole of it, as read from `GET /swarm`; a field left out keeps its value), read against
// the cluster object and the security state, to what the server then writes: a `cluster.updated`
// event, a new node certificate life for the security state, a root rotation. Every field is
// checked before anything is written, and a refusal names the field in Docker's spelling.
//
// What can change here: Labels, Orchestration.TaskHistoryRetentionLimit, Dispatcher.HeartbeatPeriod
// and CAConfig.NodeCertExpiry (and CAConfig.ForceRotate, a root rotation). The rest of the spec is
// fixed at `swarm init` and accepted only as it is (a round trip of GET /swarm's Spec): Name,
// Raft (each node's own flags rule its log), EncryptionConfig.AutoLockManagers (the managers' key
// stores are sealed at init), and no external CA, signing key or task defaults.
import { EVENT_VERSIONS, type Cluster, type ClusterUpdated } from '../../journal/index.js';
import { SpecInvalidError, StaleVersionError } from './errors.js';

/** Agents heartbeat at least this often apart (init's --dispatcher-heartbeat floor). */
export const DISPATCHER_HEARTBEAT_PERIOD_MS_MIN = 100;
/** And at most this far apart: a node is declared down after a few missed periods. */
export const DISPATCHER_HEARTBEAT_PERIOD_MS_MAX = 3_600_000;
/** A node certificate lives at least this long (renewal starts at half of it). */
export const NODE_CERT_EXPIRY_MS_MIN = 10_000;
/** Terminal tasks kept per slot at most (-1: keep all). */
export const TASK_HISTORY_RETENTION_LIMIT_MAX = 10_000;

const FIELDS = ['Name', 'Labels', 'Orchestration', 'Raft', 'Dispatcher', 'CAConfig', 'EncryptionConfig', 'TaskDefaults'] as const;

/** What the server reads besides the cluster object: the security state's side of the spec. */
export interface SwarmSecurityView {
  readonly autoLockManagers: boolean;
  readonly nodeCertExpiryMs: number;
}

/** What `POST /swarm/update` writes; each part null (or false) when it does not change. */
export interface SwarmUpdate {
  readonly event: ClusterUpdated | null;
  readonly nodeCertExpiryMs: number | null;
  readonly forceRotate: boolean;
}

type Json = Record<string, unknown>;

function fail(field: string, reason: string): never {
  throw new SpecInvalidError(field, reason);
}

function object(value: unknown, field: string): Json | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) fail(field, 'must be an object');
  return value as Json;
}

function integer(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(field, `must be a whole number, got ${JSON.stringify(value)}`);
  if (value < min || value > max) fail(field, `must be from ${min} to ${max}, got ${value}`);
  return value;
}

/** A field fixed at init: accepted when absent or equal to the current value. */
function unchanged(value: unknown, current: unknown, field: string, why: string): void {
  if (value !== undefined && value !== null && value !== current) fail(field, `cannot be changed (${why}); it is ${JSON.stringify(current)}`);
}

/** Nanoseconds (Docker's time.Duration) to whole milliseconds, within [minMs, maxMs]. */
function durationMs(value: unknown, field: string, minMs: number, maxMs: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const range = `${minMs / 1000} s${maxMs === undefined ? ' or more' : ` to ${maxMs / 1000} s`}`;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minMs * 1e6 || (maxMs !== undefined && value > maxMs * 1e6)) {
    fail(field, `must be a duration in nanoseconds, ${range}; got ${JSON.stringify(value)}`);
  }
  return Math.round(value / 1e6);
}

/**
 * The writes of `POST /swarm/update[?version=N]` with `body`, or a SpecInvalidError naming the
 * first bad field (StaleVersionError for a version other than the cluster's), nothing written.
 */
export function updateSwarm(cluster: Cluster, security: SwarmSecurityView, version: number | null, body: unknown, now: number): SwarmUpdate {
  if (version !== null && version !== cluster.meta.version) throw new StaleVersionError('swarm', cluster.id, version, cluster.meta.version);
  const spec = object(body, 'Spec') ?? {};
  for (const key of Object.keys(spec)) {
    if (!(FIELDS as readonly string[]).includes(key)) fail(key, `not a field of the swarm spec (${FIELDS.join(', ')})`);
  }
  const current = cluster.spec;
  unchanged(spec.Name, current.annotations.name, 'Name', 'the cluster is named at init');

  let labels = current.annotations.labels;
  if (spec.Labels !== undefined && spec.Labels !== null) {
    const given = object(spec.Labels, 'Labels')!;
    for (const [key, value] of Object.entries(given)) {
      if (typeof value !== 'string') fail(`Labels.${key}`, 'must be a string');
    }
    labels = given as Record<string, string>;
  }

  const orchestration = object(spec.Orchestration, 'Orchestration') ?? {};
  const historyLimit = integer(orchestration.TaskHistoryRetentionLimit, 'Orchestration.TaskHistoryRetentionLimit', -1, TASK_HISTORY_RETENTION_LIMIT_MAX)
    ?? current.orchestration.taskHistoryRetentionLimit;

  const raft = object(spec.Raft, 'Raft') ?? {};
  const raftWhy = "each manager's own --snapshot-interval and --snapshot-keep rule its log";
  unchanged(raft.SnapshotInterval, current.raft.snapshotIntervalEntries, 'Raft.SnapshotInterval', raftWhy);
  unchanged(raft.LogEntriesForSlowFollowers, current.raft.logEntriesForSlowFollowers, 'Raft.LogEntriesForSlowFollowers', raftWhy);
  unchanged(raft.ElectionTick, current.raft.electionTicks, 'Raft.ElectionTick', 'fixed by the Raft implementation');
  unchanged(raft.HeartbeatTick, current.raft.heartbeatTicks, 'Raft.HeartbeatTick', 'fixed by the Raft implementation');
  unchanged(raft.KeepOldSnapshots === 0 ? undefined : raft.KeepOldSnapshots, undefined, 'Raft.KeepOldSnapshots', 'no old snapshot is kept');

  const dispatcher = object(spec.Dispatcher, 'Dispatcher') ?? {};
  const heartbeatMs = durationMs(dispatcher.HeartbeatPeriod, 'Dispatcher.HeartbeatPeriod', DISPATCHER_HEARTBEAT_PERIOD_MS_MIN, DISPATCHER_HEARTBEAT_PERIOD_MS_MAX)
    ?? current.dispatcher.heartbeatPeriodMs;

  const ca = object(spec.CAConfig, 'CAConfig') ?? {};
  const certExpiryMs = durationMs(ca.NodeCertExpiry, 'CAConfig.NodeCertExpiry', NODE_CERT_EXPIRY_MS_MIN, undefined);
  if (ca.ExternalCAs !== undefined && ca.ExternalCAs !== null && !(Array.isArray(ca.ExternalCAs) && ca.ExternalCAs.length === 0)) fail('CAConfig.ExternalCAs', 'not supported: the cluster is its own CA');
  unchanged(ca.SigningCACert === '' ? undefined : ca.SigningCACert, undefined, 'CAConfig.SigningCACert', 'not supported: swarm ca --rotate makes the new root');
  unchanged(ca.SigningCAKey === '' ? undefined : ca.SigningCAKey, undefined, 'CAConfig.SigningCAKey', 'not supported: swarm ca --rotate makes the new root');
  const forceRotate = integer(ca.ForceRotate, 'CAConfig.ForceRotate', 0, Number.MAX_SAFE_INTEGER) ?? 0;

  const encryption = object(spec.EncryptionConfig, 'EncryptionConfig') ?? {};
  if (encryption.AutoLockManagers !== undefined && typeof encryption.AutoLockManagers !== 'boolean') fail('EncryptionConfig.AutoLockManagers', 'must be true or false');
  unchanged(encryption.AutoLockManagers, security.autoLockManagers, 'EncryptionConfig.AutoLockManagers', "the managers' key stores are sealed at swarm init (swarm init --autolock)");

  const taskDefaults = object(spec.TaskDefaults, 'TaskDefaults') ?? {};
  if (taskDefaults.LogDriver !== undefined && taskDefaults.LogDriver !== null) fail('TaskDefaults.LogDriver', 'not supported: a task logs to its node (swarm service logs)');

  const next = {
    ...current,
    annotations: { ...current.annotations, labels },
    orchestration: { taskHistoryRetentionLimit: historyLimit },
    dispatcher: { heartbeatPeriodMs: heartbeatMs },
    caConfig: { nodeCertExpiryMs: certExpiryMs ?? current.caConfig.nodeCertExpiryMs },
  };
  const changed = JSON.stringify(next) !== JSON.stringify(current);
  return {
    event: changed ? { type: 'cluster.updated', v: EVENT_VERSIONS['cluster.updated'], at: now, id: cluster.id, spec: next, expectedVersion: cluster.meta.version } : null,
    nodeCertExpiryMs: certExpiryMs !== undefined && certExpiryMs !== security.nodeCertExpiryMs ? certExpiryMs : null,
    forceRotate: forceRotate > 0,
  };
}

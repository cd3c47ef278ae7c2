// The orchestrator clients of the Raft workload (raft.ts): each reads one manager's store (a
// replica, so the read may be stale) and proposes the next batch of journal events as a real
// orchestrator would (a cluster, nodes registering and changing status, services created, updated
// and removed, their tasks created, assigned, moved forward and shut down, networks, secrets and
// configs), with `expectedVersion` taken from that read. A stale read meets an apply-time
// conflict, which every manager must refuse identically. The store stays small (a few dozen
// objects), so that the per-apply check of raft.ts is cheap.
import {
  CONTAINER_SPEC_DEFAULTS, EVENT_VERSIONS, TASK_STATE_ORDER,
  type BlobSpec, type ClusterSpec, type JournalEvent, type NetworkSpec, type NodeSpec, type ObjectKind,
  type ServiceSpec, type StoreReader, type Task, type TaskSpec, type TaskState, type TaskStatus,
} from '../journal/index.js';
import type { Random } from '../runtime/index.js';

/** Past this many objects, the orchestrators only remove and update. */
export const STORE_OBJECTS_MAX = 40;
const NODES_MAX = 4;
const SERVICES_MAX = 3;
const REPLICAS_MAX = 3;
const BLOBS_MAX = 2;
const CLUSTER_ID = 'cluster';

const clusterSpec = (name: string): ClusterSpec => ({
  annotations: { name, labels: {} },
  orchestration: { taskHistoryRetentionLimit: 5 },
  dispatcher: { heartbeatPeriodMs: 5_000 },
  raft: { snapshotIntervalEntries: 10_000, logEntriesForSlowFollowers: 500, electionTicks: 10, heartbeatTicks: 1 },
  caConfig: { nodeCertExpiryMs: 7_776_000_000 },
  encryption: { autoLockManagers: false },
});

const nodeSpec = (name: string, availability: NodeSpec['availability']): NodeSpec => ({ annotations: { name, labels: {} }, role: 'worker', availability });

const taskSpec = (image: string): TaskSpec => ({
  container: { image, command: [], args: [], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS },
  resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
  restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
  placement: { constraints: [], maxReplicasPerNode: 0, preferences: [], platforms: [] },
  networks: [],
  secrets: [],
  configs: [],
  forceUpdate: 0,
  runtime: 'container',
});

const update = { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 0, maxFailureRatio: 0, order: 'stopFirst' } as const;

const serviceSpec = (name: string, replicas: number, image: string): ServiceSpec => ({
  annotations: { name, labels: {} },
  task: taskSpec(image),
  mode: { kind: 'replicated', replicas },
  update,
  rollback: update,
  endpoint: { ports: [] },
  rebalance: false, dependsOn: [],
});

const networkSpec = (name: string): NetworkSpec => ({
  annotations: { name, labels: {} }, driver: 'overlay', ipam: { driver: 'default', subnets: [] }, internal: false, attachable: true, ingress: false,
});

const blob = (name: string): BlobSpec => ({ annotations: { name, labels: {} }, data: new TextEncoder().encode(name) });

const status = (state: TaskState, at: number): TaskStatus => ({ state, message: '', timestamp: at, err: '' });

/** The observed states a task moves through, in order, once assigned. */
const TASK_PATH: readonly TaskState[] = ['assigned', 'accepted', 'preparing', 'ready', 'starting', 'running'];
const TERMINAL: readonly TaskState[] = ['complete', 'shutdown', 'failed', 'rejected'];

function objectCount(read: StoreReader): number {
  const kinds: ObjectKind[] = ['cluster', 'node', 'service', 'task', 'network', 'secret', 'config'];
  return kinds.reduce((sum, kind) => sum + read.count(kind), 0);
}

/**
 * The next batch an orchestrator proposes after reading `read` (possibly stale), or undefined
 * when it has nothing to do. `newId` gives ids unique to this orchestrator; names are drawn from a
 * small set, so that two orchestrators may claim the same one (a name conflict at apply time).
 */
export function nextEventBatch(read: StoreReader, random: Random, at: number, newId: () => string): JournalEvent[] | undefined {
  // Mostly conditional on the version read; sometimes unconditional (a task's state may then be
  // asked to go backwards, which the store refuses too).
  const expected = (version: number): number | null => (random.chance(0.1) ? null : version);
  if (read.count('cluster') === 0) return [{ type: 'cluster.created', v: 1, at, id: CLUSTER_ID, spec: clusterSpec('default') }];
  const full = objectCount(read) >= STORE_OBJECTS_MAX;
  const nodes = read.list('node');
  const services = read.list('service');
  const tasks = read.list('task');
  const moves: Array<() => JournalEvent[] | undefined> = [];
  const add = (weight: number, move: () => JournalEvent[] | undefined): void => {
    for (let i = 0; i < weight; i++) moves.push(move);
  };

  if (!full && nodes.length < NODES_MAX) {
    add(2, () => {
      const name = `host-${random.int(1, NODES_MAX + 1)}`;
      return [{ type: 'node.registered', v: 1, at, id: `node-${name}`, spec: nodeSpec(name, 'active'), description: { hostname: name, platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 4e9, memoryBytes: 2 ** 33 }, engineLabels: {} }, status: { state: 'ready', message: '', addr: '10.0.0.1' } }];
    });
  }
  if (nodes.length > 0) {
    add(2, () => {
      const node = random.pick(nodes);
      return [{ type: 'node.statusChanged', v: 1, at, id: node.id, status: { ...node.status, state: random.pick(['ready', 'down', 'disconnected'] as const) }, expectedVersion: expected(node.meta.version) }];
    });
    add(1, () => {
      const node = random.pick(nodes);
      return [{ type: 'node.updated', v: 1, at, id: node.id, spec: nodeSpec(node.spec.annotations.name, random.pick(['active', 'pause', 'drain'] as const)), expectedVersion: expected(node.meta.version) }];
    });
    add(1, () => {
      // A node with no tasks left on it (as read) leaves.
      const idle = nodes.filter((n) => read.tasksByNode(n.id).length === 0);
      if (idle.length === 0) return undefined;
      const node = random.pick(idle);
      return [{ type: 'node.removed', v: 1, at, id: node.id, expectedVersion: expected(node.meta.version) }];
    });
  }
  if (!full && services.length < SERVICES_MAX) {
    add(2, () => [{ type: 'service.created', v: EVENT_VERSIONS['service.created'], at, id: newId(), spec: serviceSpec(`svc-${random.int(1, SERVICES_MAX + 1)}`, random.int(1, REPLICAS_MAX), 'app:1') }]);
  }
  if (services.length > 0) {
    add(2, () => {
      const service = random.pick(services);
      const replicas = random.int(1, REPLICAS_MAX);
      return [{ type: 'service.updated', v: EVENT_VERSIONS['service.updated'], at, id: service.id, spec: serviceSpec(service.spec.annotations.name, replicas, `app:${random.int(1, 5)}`), expectedVersion: expected(service.meta.version) }];
    });
    add(1, () => {
      // One atomic batch: the service and its tasks, each at the version read.
      const service = random.pick(services);
      const events: JournalEvent[] = read.tasksByService(service.id).map((t) => ({ type: 'task.removed', v: 1, at, id: t.id, expectedVersion: expected(t.meta.version) }));
      events.push({ type: 'service.removed', v: 1, at, id: service.id, expectedVersion: expected(service.meta.version) });
      return events;
    });
    add(4, () => {
      // Fill the lowest free slot of a service with fewer live tasks than replicas.
      const service = random.pick(services);
      const replicas = service.spec.mode.kind === 'replicated' ? service.spec.mode.replicas : 1;
      const live = read.tasksByService(service.id).filter((t) => t.desiredState === 'running');
      if (live.length >= replicas || full) return undefined;
      let slot = 1;
      while (live.some((t) => t.slot === slot)) slot++;
      return [{
        type: 'task.created', v: EVENT_VERSIONS['task.created'], at, id: newId(), serviceId: service.id, slot, nodeId: '', spec: service.spec.task,
        serviceVersion: service.specVersion, desiredState: 'running', status: status('pending', at), restarts: [], addresses: [],
      }];
    });
  }
  const unassigned = tasks.filter((t) => t.nodeId === '' && t.desiredState === 'running');
  if (unassigned.length > 0 && nodes.length > 0) {
    add(4, () => {
      const task = random.pick(unassigned);
      return [{ type: 'task.assigned', v: 1, at, id: task.id, nodeId: random.pick(nodes).id, status: status('assigned', at), expectedVersion: expected(task.meta.version) }];
    });
  }
  const moving = tasks.filter((t) => t.nodeId !== '' && !TERMINAL.includes(t.status.state));
  if (moving.length > 0) {
    add(6, () => {
      const task = random.pick(moving);
      return [{ type: 'task.statusChanged', v: 1, at, id: task.id, status: status(nextState(task, random), at), expectedVersion: expected(task.meta.version) }];
    });
  }
  const running = tasks.filter((t) => t.desiredState === 'running');
  if (running.length > 0) {
    add(2, () => {
      const task = random.pick(running);
      return [{ type: 'task.desiredStateChanged', v: 1, at, id: task.id, desiredState: 'shutdown', expectedVersion: expected(task.meta.version) }];
    });
  }
  const done = tasks.filter((t) => t.desiredState !== 'running' || TERMINAL.includes(t.status.state));
  if (done.length > 0) {
    add(full ? 8 : 3, () => {
      const task = random.pick(done);
      return [{ type: 'task.removed', v: 1, at, id: task.id, expectedVersion: expected(task.meta.version) }];
    });
  }
  // Networks, secrets and configs: a few, created and removed; a secret's labels change.
  for (const kind of ['network', 'secret', 'config'] as const) {
    const objects = read.list(kind);
    if (!full && objects.length < BLOBS_MAX) {
      add(1, () => {
        const name = `${kind}-${random.int(1, BLOBS_MAX + 1)}`;
        const id = newId();
        if (kind === 'network') return [{ type: 'network.created', v: 1, at, id, spec: networkSpec(name) }];
        return [{ type: `${kind}.created`, v: 1, at, id, spec: blob(name) }];
      });
    }
    if (objects.length > 0) {
      add(1, () => {
        const object = random.pick(objects);
        return [{ type: `${kind}.removed`, v: 1, at, id: object.id, expectedVersion: expected(object.meta.version) }];
      });
    }
  }
  const secrets = read.list('secret');
  if (secrets.length > 0) {
    add(1, () => {
      const secret = random.pick(secrets);
      return [{ type: 'secret.updated', v: 1, at, id: secret.id, labels: { rotation: String(random.int(1, 9)) }, expectedVersion: expected(secret.meta.version) }];
    });
  }
  if (moves.length === 0) return undefined;
  // One or two moves per batch: a batch is atomic, so one stale expectation refuses both.
  const events: JournalEvent[] = [];
  for (let n = random.chance(0.25) ? 2 : 1; n > 0; n--) events.push(...(random.pick(moves)() ?? []));
  return events.length > 0 ? events : undefined;
}

/** One or two steps forward on the task's path, or to an end state. */
function nextState(task: Task, random: Random): TaskState {
  const rank = TASK_PATH.indexOf(task.status.state);
  if (rank === TASK_PATH.length - 1 || random.chance(0.1)) return random.pick(TERMINAL);
  const next = TASK_PATH[Math.min(TASK_PATH.length - 1, Math.max(rank, 0) + random.int(1, 2))] as TaskState;
  return TASK_STATE_ORDER[next] > TASK_STATE_ORDER[task.status.state] ? next : task.status.state;
}

// What the end-to-end cluster tests share besides the harness: polling with a deadline, a
// deadline on a promise, whether a task's process runs, and, bound to a test file's cluster by
// clusterHelpers(): forming a swarm of m1 and workers, a failure that carries every node's
// output, the manager's control API (m1), services, and a service's tasks (listing and
// describing them, and waiting until exactly N of them run). clusterHelpers() reads the cluster
// at each call: the files create it in beforeAll.
import { readFileSync } from 'node:fs';
import { ControlError } from '../../cli/index.js';
import { TASK_STATE_ORDER, type TaskState } from '../../journal/index.js';
import { alive } from '../runtime/processes.js';
import { sleep, type Cluster, type NodeProcess } from './harness.js';

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A task as the control API shows it (Docker's shape): the fields the tests read. */
export interface TaskJson {
  ID: string;
  ServiceID: string;
  Slot: number;
  NodeID: string;
  DesiredState: string;
  Spec: { ContainerSpec: { Env?: string[] } };
  Status: { State: string; Message: string; Err?: string; Timestamp: string };
}

/** An error as a failure message names it: its code, its HTTP status if it has one, its message. */
export function errorText(error: unknown): string {
  const e = error as { code?: string; status?: number; message?: string };
  return `${e?.code ?? '?'}${e?.status === undefined ? '' : ` ${e.status}`}: ${e?.message ?? String(error)}`;
}

export interface WaitOptions {
  /** What a failure at the deadline adds (e.g. the tasks last seen); nothing unless given. */
  readonly describe?: () => string;
  /** The pause between two probes; 200 ms unless given. */
  readonly intervalMs?: number;
}

/** Polls `probe` until it returns a value other than undefined; throws with `what`, the last error and what `describe` says at the deadline. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, options: WaitOptions = {}): Promise<T> {
  const { describe = () => '', intervalMs = 200 } = options;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = errorText(error);
    }
    await sleep(intervalMs);
  }
  const described = describe();
  throw new Error(`${what}: not within ${timeoutMs} ms${last === '' ? '' : ` (last error ${last})`}${described === '' ? '' : `\n${described}`}`);
}

/** The promise's value, or a failure naming `what` once `timeoutMs` has passed. */
export function within<T>(what: string, promise: Promise<T>, timeoutMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs);
    promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    }, (error: unknown) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** The last `lines` lines of `text`. */
export function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Whether a task's process runs: `pid` answers kill(pid, 0), is not a zombie, and has `marker` in
 * its command line. When /proc cannot be read after kill(pid, 0) answered, `unreadable` is the
 * answer: false where that means the process went between the two looks, true where there may be
 * no /proc at all (kill(pid, 0) is then all there is).
 */
export function taskProcessRuns(pid: number, marker: string, unreadable = false): boolean {
  if (!alive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    return unreadable;
  }
}

/** Observed at or past complete: it no longer runs. */
export const ended = (t: TaskJson): boolean => TASK_STATE_ORDER[t.Status.State as TaskState] >= TASK_STATE_ORDER.complete;

export interface ClusterHelperOptions {
  /** The nodes running() allows tasks on unless a call names others. */
  readonly nodes?: readonly string[];
  /** How long running() waits unless a call says; 60 s unless given. */
  readonly runningTimeoutMs?: number;
  /**
   * Whether running() counts a task that is still desired running but has ended as live, so that
   * it waits until the orchestrator no longer wants it; unless given, such a task is history (a
   * task that failed and was replaced by the restart policy keeps its desired state).
   */
  readonly endedTasksLive?: boolean;
  /** How many of each node's last lines of output a failure carries; 40 unless given. */
  readonly tailLines?: number;
  /** Node processes a restart replaced (the cluster no longer holds them): a failure carries their output too. */
  readonly replaced?: () => readonly NodeProcess[];
}

export interface SwarmOptions {
  /** Added to `swarm init`'s arguments (e.g. `--dispatcher-heartbeat`). */
  readonly extra?: readonly string[];
  /** Added to every node's environment (e.g. DOCKER_HOST). */
  readonly env?: NodeJS.ProcessEnv;
  /** Then waits until the manager lists every node Ready. */
  readonly allReady?: boolean;
}

export interface ClusterHelpers {
  /** Node name -> node id, and back: startSwarm() learns them. */
  readonly ids: Map<string, string>;
  readonly names: Map<string, string>;
  /**
   * Forms the swarm: m1 by `swarm init`, then each of `workers` joining it with the worker token;
   * learns every node's id; with `allReady`, waits (30 s at most) until every node is Ready.
   * Resolves with m1.
   */
  startSwarm(workers: readonly string[], options?: SwarmOptions): Promise<NodeProcess>;
  /** A request to the control API of m1, the manager. */
  api<T = Json>(method: string, urlPath: string, body?: unknown): Promise<T>;
  /** The refusal a control API call on m1 must meet; a call that succeeds fails the test. */
  apiRefusal(method: string, urlPath: string, body?: unknown): Promise<ControlError>;
  /** Runs a test body; a failure carries every node's output (its last lines). */
  withLogs(body: () => Promise<void>): Promise<void>;
  /** The service's tasks. */
  tasksOf(serviceId: string): Promise<TaskJson[]>;
  /** One line a task: its slot, node, state and message. */
  describeTasks(list: readonly TaskJson[]): string;
  /**
   * Waits until exactly `count` tasks of the service are desired and observed running, on
   * `allowed` nodes, and `also` holds of them; resolves with them.
   */
  running(serviceId: string, count: number, allowed?: readonly string[], timeoutMs?: number, also?: (up: TaskJson[]) => boolean): Promise<TaskJson[]>;
  /** Creates a service: its id. */
  createService(spec: Json): Promise<string>;
  /** Updates a service to `change` of its current spec, at its current version. */
  updateService(serviceId: string, change: (spec: Json) => Json): Promise<void>;
}

/** The helpers bound to a test file's cluster: `cluster` is read at each call. */
export function clusterHelpers(cluster: () => Cluster, options: ClusterHelperOptions = {}): ClusterHelpers {
  const ids = new Map<string, string>();
  const names = new Map<string, string>();
  const lines = options.tailLines ?? 40;

  const api = <T = Json>(method: string, urlPath: string, body?: unknown): Promise<T> => cluster().request<T>('m1', method, urlPath, body);

  const startSwarm = async (workers: readonly string[], swarm: SwarmOptions = {}): Promise<NodeProcess> => {
    const m1 = await cluster().start('m1', ['init'], { extra: swarm.extra ?? [], env: swarm.env });
    const token = (await cluster().request<{ JoinTokens: { Worker: string } }>('m1', 'GET', '/swarm')).JoinTokens.Worker;
    for (const name of workers) await cluster().start(name, ['join', '--token', token, m1.addr], { env: swarm.env });
    for (const name of ['m1', ...workers]) {
      const info = await cluster().request<{ Swarm: { NodeID: string } }>(name, 'GET', '/info');
      ids.set(name, info.Swarm.NodeID);
      names.set(info.Swarm.NodeID, name);
    }
    if (swarm.allReady === true) {
      await waitFor(`${workers.length + 1} nodes ready`, 30_000, async () => {
        const nodes = await api<Json[]>('GET', '/nodes');
        return nodes.length === workers.length + 1 && nodes.every((n) => n.Status.State === 'ready') ? nodes : undefined;
      });
    }
    return m1;
  };

  const withLogs = async (body: () => Promise<void>): Promise<void> => {
    try {
      await body();
    } catch (error) {
      const e = error as Error;
      const before = (options.replaced?.() ?? []).map((n) => `--- ${n.name} (before the restart) ---\n${tail(n.output, lines)}`);
      const parts = [...cluster().nodes.values()].map((n) => `--- ${n.name} ---\n${tail(n.output, lines)}`);
      e.message = `${e.message}\n\nnode output:\n${[...before, ...parts].join('\n')}`;
      throw e;
    }
  };

  const tasksOf = async (serviceId: string): Promise<TaskJson[]> => {
    const filters = encodeURIComponent(JSON.stringify({ service: [serviceId] }));
    return (await api<TaskJson[]>('GET', `/tasks?filters=${filters}`)).filter((t) => t.ServiceID === serviceId);
  };

  const describeTasks = (list: readonly TaskJson[]): string => list.map((t) => `${t.ID} slot ${t.Slot} on ${names.get(t.NodeID) ?? (t.NodeID || '-')}: ${t.Status.State} (desired ${t.DesiredState}) ${t.Status.Message}${t.Status.Err ? ` err ${t.Status.Err}` : ''}`).join('\n');

  const running = async (serviceId: string, count: number, allowed: readonly string[] = options.nodes ?? [], timeoutMs = options.runningTimeoutMs ?? 60_000, also: (up: TaskJson[]) => boolean = () => true): Promise<TaskJson[]> => {
    const allowedIds = new Set(allowed.map((n) => ids.get(n)!));
    let last: TaskJson[] = [];
    return waitFor(`${count} tasks of ${serviceId} running on ${allowed.join(', ')}`, timeoutMs, async () => {
      last = await tasksOf(serviceId);
      // Live as the orchestrator counts them: wanted, and (unless endedTasksLive) not ended.
      const live = last.filter((t) => t.DesiredState === 'running' && (options.endedTasksLive === true || !ended(t)));
      const up = live.filter((t) => t.Status.State === 'running' && allowedIds.has(t.NodeID));
      return up.length === count && live.length === count && also(up) ? up : undefined;
    }, { describe: () => `tasks:\n${describeTasks(last)}` });
  };

  const createService = async (spec: Json): Promise<string> => (await api<{ ID: string }>('POST', '/services/create', spec)).ID;

  const updateService = async (serviceId: string, change: (spec: Json) => Json): Promise<void> => {
    const service = await api('GET', `/services/${serviceId}`);
    await api('POST', `/services/${serviceId}/update?version=${service.Version.Index}`, change(service.Spec));
  };

  /** The refusal a control API call must meet (its ControlError); a call that succeeds fails the test. */
  const apiRefusal = async (method: string, urlPath: string, body?: unknown): Promise<ControlError> => {
    try {
      await api(method, urlPath, body);
    } catch (error) {
      if (error instanceof ControlError) return error;
      throw error;
    }
    throw new Error(`${method} ${urlPath} was not refused`);
  };

  return { ids, names, startSwarm, api, apiRefusal, withLogs, tasksOf, describeTasks, running, createService, updateService };
}

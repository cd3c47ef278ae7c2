// Our cluster for bench/cluster.ts: three manager processes (`swarm init`, then `swarm join` with
// the manager token, twice) on 127.0.0.1 with free cluster and control ports, each with its state
// directory under a fresh temp directory (removed by `stop`), every journal write synced (the
// default). Writes are `POST /configs/create` of a 256-byte config with a unique name over the
// control API on TCP: HTTPS (TLS 1.3) with a manager certificate of the cluster CA as the client
// certificate, one keep-alive https.Agent per manager. Writes go to the managers as the etcd
// target sends them (by default each client pinned to one member), so two in three reach a follower that
// forwards the proposal to the leader, and every write pays TLS and JSON as etcd's do.
//
// Failover: the leader is the member whose `GET /debug/raft` says role 'leader' (asked over the
// unix control socket); it is SIGKILLed, probes go to a random survivor over HTTPS, and the member
// is started again with `swarm start --state-dir` on its state directory.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeEndpoints, freePorts, memberFor, payloadOf, procCpuMs, track, type Endpoints, type FailoverHooks, type RaftCounts, type StartOurCluster, type WriteTarget } from './cluster-lib.js';
import { monotonicMs } from '../runtime/env/real/index.js';
import { ControlError, controlRequest as controlClient } from '../cli/index.js';

// ---- sizes and limits (every wait below is bounded by one of these) -----------------------------

const MEMBERS = 3;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The command as users run it: the launcher, which runs the build in dist/ (rebuilt first if older than its sources). */
const LAUNCHER = path.join(ROOT, 'swarm');
/** A node process must answer its control socket within this long of being spawned. */
const START_TIMEOUT_MS = 60_000;
/** The cluster must have three voters and one leader within this long. */
const SETTLE_TIMEOUT_MS = 60_000;
/** A write (load) with no reply within this long fails; the node itself gives up after 10 s. */
const WRITE_TIMEOUT_MS = 15_000;
/** A failover probe gives up after this long (as etcd's do): one forwarded to the dead leader may hang. */
const PROBE_TIMEOUT_MS = 2_000;
/** Control-socket requests (status, tokens, node lists). */
const CONTROL_TIMEOUT_MS = 3_000;
const POLL_MS = 50;
const STOP_TIMEOUT_MS = 5_000;
/** Output kept per node (for error messages): the last this many characters. */
const OUTPUT_KEEP_CHARS = 64 * 1024;
const TAIL_LINES = 30;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Our cluster did not start, settle or answer as expected. */
export class OurClusterError extends Error {
  readonly code = 'OUR_CLUSTER_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A control API request failed: HTTP status other than the expected one, timeout, connection error. */
export class ControlRequestError extends Error {
  readonly code = 'CONTROL_REQUEST_FAILED';
  constructor(message: string, readonly status: number | undefined, options?: { cause?: unknown }) {
    super(message, options);
  }
}

// ---- processes ----------------------------------------------------------------------------------


interface RaftStatusReply {
  readonly id: string;
  readonly role: string;
  readonly leader: string;
  readonly term: number;
  readonly voters?: readonly string[];
  readonly progress?: Readonly<Record<string, { match: number; next: number; state: string }>>;
}

interface Member {
  readonly name: string;
  readonly stateDir: string;
  readonly listenAddr: string;
  readonly controlPort: number;
  /** The running process, undefined while killed. */
  process: ChildProcess | undefined;
  /** Resolves with a description of how the current process ended. */
  exited: Promise<string>;
  /** The last OUTPUT_KEEP_CHARS of stdout and stderr, across restarts. */
  output: string;
  /** HTTPS to this member's control port, for the load; made once it has certificates. */
  agent: https.Agent | undefined;
}

function tail(m: Member, lines = TAIL_LINES): string {
  const text = m.output.trimEnd();
  return text === '' ? '(no output)' : text.split('\n').slice(-lines).join('\n');
}

function socketPath(m: Member): string {
  return path.join(m.stateDir, 'control.sock');
}

/** Extra node flags for the member processes (profiling: `--cpu-prof --cpu-prof-dir=DIR`), space-separated. */
const NODE_ARGS = (process.env['SWARM_BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');

/** `node [SWARM_BENCH_NODE_ARGS] swarm ARGS` in the repository root, output kept in `m.output`. */
function launch(m: Member, args: readonly string[]): void {
  const child = spawn(process.execPath, [...NODE_ARGS, LAUNCHER, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  m.process = child;
  m.output += `\n--- ${m.name}: ${args[0] ?? '?'} (pid ${child.pid ?? '?'}) ---\n`;
  const keep = (c: Buffer): void => {
    m.output += c.toString('utf8');
    if (m.output.length > OUTPUT_KEEP_CHARS * 2) m.output = m.output.slice(-OUTPUT_KEEP_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  m.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      if (m.process === child) m.process = undefined;
      resolve(signal !== null ? `killed by ${signal}` : `exit code ${code ?? '?'}`);
    });
    child.once('error', (e) => {
      if (m.process === child) m.process = undefined;
      resolve(`spawn failed: ${e.message}`);
    });
  });
}

// ---- the control API ----------------------------------------------------------------------------

/** One request over the member's unix control socket (the `swarm` command's client); rejects unless the status is 2xx. */
async function controlRequest<T>(m: Member, method: string, urlPath: string, timeoutMs = CONTROL_TIMEOUT_MS): Promise<T> {
  try {
    return await controlClient<T>(m.stateDir, method, urlPath, undefined, timeoutMs);
  } catch (e) {
    throw new ControlRequestError(`${m.name} ${method} ${urlPath}: ${errorText(e)}`, e instanceof ControlError && e.status > 0 ? e.status : undefined, { cause: e });
  }
}

/** An https.Agent presenting the member's own manager certificate, trusting the cluster CA. */
function makeAgent(m: Member, socketsMax: number): https.Agent {
  const certs = path.join(m.stateDir, 'certs');
  const read = (file: string): string => {
    try {
      return fs.readFileSync(path.join(certs, file), 'utf8');
    } catch (e) {
      throw new OurClusterError(`${m.name}: cannot read ${path.join(certs, file)}: ${errorText(e)}\n--- ${m.name} output (tail) ---\n${tail(m)}`, { cause: e });
    }
  };
  return new https.Agent({
    keepAlive: true,
    maxSockets: socketsMax,
    maxFreeSockets: socketsMax,
    scheduling: 'lifo',
    key: read('node.key'),
    cert: read('node.crt'),
    ca: read('ca.crt'),
    checkServerIdentity: () => undefined,
  });
}

/**
 * One `POST /configs/create` over HTTPS; resolves on 201. Rejects on any other status (with the
 * node's `{code, message}`), after `timeoutMs`, on a connection error, or when `signal` aborts.
 */
function createConfig(m: Member, agent: https.Agent, body: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    };
    const req = https.request(
      {
        agent,
        host: '127.0.0.1',
        port: m.controlPort,
        path: '/configs/create',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        ...(signal === undefined ? {} : { signal }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => fail(new ControlRequestError(`${m.name} POST /configs/create: ${e.message}`, undefined, { cause: e })));
        res.on('end', () => {
          if (settled) return;
          if (res.statusCode !== 201) {
            const text = Buffer.concat(chunks).toString('utf8');
            let detail = text.slice(0, 300);
            try {
              const p = JSON.parse(text) as { code?: string; message?: string };
              detail = `${p.code ?? '?'}: ${p.message ?? text.slice(0, 300)}`;
            } catch {
              // not JSON: the raw text
            }
            fail(new ControlRequestError(`${m.name} POST /configs/create: HTTP ${res.statusCode ?? '?'} ${detail}`, res.statusCode));
            return;
          }
          settled = true;
          clearTimeout(timer);
          resolve();
        });
      },
    );
    const timer = setTimeout(() => {
      fail(new ControlRequestError(`${m.name} POST /configs/create: no reply within ${timeoutMs} ms`, undefined));
      req.destroy();
    }, timeoutMs);
    req.on('error', (e) => fail(new ControlRequestError(`${m.name} POST /configs/create: ${e.message}`, undefined, { cause: e })));
    req.end(body);
  });
}

// ---- the cluster --------------------------------------------------------------------------------

interface OurCluster {
  readonly dir: string;
  readonly members: readonly Member[];
  /** Waits until `m`'s process answers its control socket; throws with its output if it exits. */
  waitAnswers(m: Member, timeoutMs?: number): Promise<void>;
  /** Waits until every member answers /debug/raft, all name the same leader and it says so. Returns the leader's index. */
  waitSettled(timeoutMs?: number): Promise<number>;
  kill(index: number): Promise<void>;
  /** CPU milliseconds used so far by each member's process, in member order (0 for one not running). */
  cpuMs(): number[];
  stop(): Promise<void>;
}

async function startProcesses(baseDir: string): Promise<OurCluster> {
  const dir = fs.mkdtempSync(path.join(baseDir, 'swarm-bench-ours-'));
  const ports = await freePorts(MEMBERS * 2);
  const members: Member[] = Array.from({ length: MEMBERS }, (_, i) => ({
    name: `m${i + 1}`,
    stateDir: path.join(dir, `m${i + 1}`),
    listenAddr: `127.0.0.1:${ports[2 * i] as number}`,
    controlPort: ports[2 * i + 1] as number,
    process: undefined,
    exited: Promise.resolve('not started'),
    output: '',
    agent: undefined,
  }));

  const waitAnswers = async (m: Member, timeoutMs = START_TIMEOUT_MS): Promise<void> => {
    const t0 = monotonicMs();
    let last = '';
    let ended: string | undefined;
    void m.exited.then((how) => (ended = how));
    while (monotonicMs() - t0 < timeoutMs) {
      if (m.process === undefined || ended !== undefined) {
        throw new OurClusterError(`node ${m.name} exited while starting (${ended ?? await m.exited})\n--- ${m.name} output (tail) ---\n${tail(m)}`);
      }
      if (fs.existsSync(socketPath(m))) {
        try {
          await controlRequest(m, 'GET', '/_ping', 1000);
          return;
        } catch (e) {
          last = errorText(e);
        }
      }
      await sleep(POLL_MS);
    }
    throw new OurClusterError(`node ${m.name} did not answer on ${socketPath(m)} within ${timeoutMs} ms (last: ${last || 'no socket'})\n--- ${m.name} output (tail) ---\n${tail(m)}`);
  };

  const statuses = (): Promise<Array<RaftStatusReply | Error>> =>
    Promise.all(members.map((m) =>
      m.process === undefined
        ? Promise.resolve(new Error(`${m.name} is not running`))
        : controlRequest<RaftStatusReply>(m, 'GET', '/debug/raft').catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))),
    ));

  const waitSettled = async (timeoutMs = SETTLE_TIMEOUT_MS): Promise<number> => {
    const t0 = monotonicMs();
    let last = 'not asked yet';
    while (monotonicMs() - t0 < timeoutMs) {
      const down = members.find((m) => m.process === undefined);
      if (down !== undefined) throw new OurClusterError(`node ${down.name} is not running (${await down.exited})\n--- ${down.name} output (tail) ---\n${tail(down)}`);
      const all = await statuses();
      const failed = all.findIndex((s) => s instanceof Error);
      if (failed >= 0) last = errorText(all[failed]);
      else {
        const ok = all as RaftStatusReply[];
        const leaderIds = new Set(ok.map((s) => s.leader));
        const leaderIndex = ok.findIndex((s) => s.role === 'leader');
        const leader = ok[leaderIndex];
        if (leaderIds.size === 1 && leader !== undefined && leader.leader === leader.id && (leader.voters?.length ?? MEMBERS) === MEMBERS) return leaderIndex;
        last = ok.map((s, i) => `${members[i]?.name}: ${s.role}, term ${s.term}, leader '${s.leader}'`).join('; ');
      }
      await sleep(POLL_MS);
    }
    throw new OurClusterError(`cluster not settled within ${timeoutMs} ms (every member answering, all naming one leader): ${last}\n` +
      members.map((m) => `--- ${m.name} output (tail) ---\n${tail(m, 8)}`).join('\n'));
  };

  const kill = async (index: number): Promise<void> => {
    const m = members[index];
    const child = m?.process;
    if (m === undefined || child === undefined) throw new OurClusterError(`member ${index} is not running`);
    child.kill('SIGKILL');
    await m.exited;
  };

  const stop = async (): Promise<void> => {
    await Promise.all(members.map(async (m) => {
      m.agent?.destroy();
      m.agent = undefined;
      const child = m.process;
      if (child === undefined) return;
      // With node flags (a profile to write on exit) the member is stopped as `swarm` stops it.
      child.kill(NODE_ARGS.length > 0 ? 'SIGTERM' : 'SIGKILL');
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([m.exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS)))]);
      clearTimeout(timer);
    }));
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const cluster: OurCluster = {
    dir,
    members,
    waitAnswers,
    waitSettled,
    kill,
    cpuMs: () => members.map((m) => procCpuMs(m.process?.pid)),
    stop,
  };

  try {
    const [m1, ...joiners] = members as [Member, ...Member[]];
    const runArgs = (m: Member): string[] => ['--state-dir', m.stateDir, '--listen-addr', m.listenAddr, '--control-addr', `127.0.0.1:${m.controlPort}`, '--name', m.name];
    launch(m1, ['init', ...runArgs(m1)]);
    await waitAnswers(m1);
    let token: string | undefined;
    const t0 = monotonicMs();
    let last = '';
    while (token === undefined && monotonicMs() - t0 < SETTLE_TIMEOUT_MS) {
      try {
        token = (await controlRequest<{ JoinTokens?: { Manager?: string } }>(m1, 'GET', '/swarm')).JoinTokens?.Manager;
        if (token === undefined || token === '') throw new Error(`GET /swarm has no JoinTokens.Manager`);
      } catch (e) {
        token = undefined;
        last = errorText(e);
        await sleep(POLL_MS);
      }
    }
    if (token === undefined) throw new OurClusterError(`no manager join token from ${m1.name} within ${SETTLE_TIMEOUT_MS} ms (last: ${last})\n--- ${m1.name} output (tail) ---\n${tail(m1)}`);
    // One at a time: each join adds a voter, and the next should see a settled configuration.
    for (const m of joiners) {
      launch(m, ['join', '--token', token, m1.listenAddr, ...runArgs(m)]);
      await waitAnswers(m);
    }
    await waitVoters(m1, members);
    await waitSettled();
  } catch (e) {
    await stop();
    throw e;
  }
  return cluster;
}

/** Waits until `GET /nodes` on `m` lists every member with a ManagerStatus (a Raft voter). */
async function waitVoters(m: Member, members: readonly Member[], timeoutMs = SETTLE_TIMEOUT_MS): Promise<void> {
  const t0 = monotonicMs();
  let last = 'not asked yet';
  while (monotonicMs() - t0 < timeoutMs) {
    try {
      const nodes = await controlRequest<Array<{ ID: string; Spec?: { Name?: string }; ManagerStatus?: { Leader: boolean; Reachability: string } }>>(m, 'GET', '/nodes', CONTROL_TIMEOUT_MS * 2);
      const managers = nodes.filter((n) => n.ManagerStatus !== undefined);
      if (nodes.length === members.length && managers.length === members.length && managers.some((n) => n.ManagerStatus?.Leader === true)) return;
      last = `${nodes.length} nodes, ${managers.length} voters: ${nodes.map((n) => `${n.Spec?.Name ?? n.ID} ${n.ManagerStatus === undefined ? 'no manager status' : n.ManagerStatus.Leader ? 'leader' : n.ManagerStatus.Reachability}`).join(', ')}`;
    } catch (e) {
      last = errorText(e);
    }
    await sleep(POLL_MS * 2);
  }
  throw new OurClusterError(`${m.name} GET /nodes did not list ${members.length} voters within ${timeoutMs} ms (last: ${last})\n` +
    members.map((x) => `--- ${x.name} output (tail) ---\n${tail(x, 8)}`).join('\n'));
}

// ---- the target and the failover hooks ----------------------------------------------------------

function configBody(name: string, data: string): string {
  return `{"Name":"${name}","Data":"${data}"}`;
}

/** How long the target waits for the members to name their leader after a level's window. */
const LEADER_QUERY_TIMEOUT_MS = 5000;

function ourTarget(cluster: Pick<OurCluster, 'members' | 'cpuMs'> & Partial<Pick<OurCluster, 'waitSettled'>>, socketsMax: number, endpoints: Endpoints): WriteTarget {
  const settled = cluster.waitSettled;
  for (const m of cluster.members) {
    m.agent?.destroy();
    m.agent = makeAgent(m, socketsMax);
  }
  const valueCache = new WeakMap<Uint8Array, string>();
  let written = 0; // runLoad restarts `seq` at every level: the counter keeps names unique across levels
  return {
    name: 'ours',
    write(clientIndex, seq, payload) {
      let value = valueCache.get(payload);
      if (value === undefined) {
        value = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64');
        valueCache.set(payload, value);
      }
      const m = cluster.members[memberFor(endpoints, cluster.members.length, clientIndex, seq)] as Member;
      if (m.agent === undefined) return Promise.reject(new OurClusterError(`${m.name} has no client agent`));
      return createConfig(m, m.agent, configBody(`bench-${clientIndex}-${seq}-${written++}`, value), WRITE_TIMEOUT_MS);
    },
    close() {
      for (const m of cluster.members) {
        m.agent?.destroy();
        m.agent = undefined;
      }
      return Promise.resolve();
    },
    serverCpuMs: () => cluster.cpuMs(),
    ...(settled === undefined ? {} : { leader: () => settled(LEADER_QUERY_TIMEOUT_MS) }),
    raftCounts: () => ourRaftCounts(cluster.members),
  };
}

/** Each member's GET /debug/raft: the highest commit index, and each one's synced log writes (NaN where a member did not answer). */
async function ourRaftCounts(members: readonly Member[]): Promise<RaftCounts> {
  const replies = await Promise.all(members.map((m) => controlRequest<{ commit: number; syncedLogWrites: number }>(m, 'GET', '/debug/raft', 2000).catch(() => undefined)));
  const commits = replies.flatMap((r) => (r === undefined ? [] : [r.commit]));
  if (commits.length === 0) throw new OurClusterError('no member answered GET /debug/raft');
  return { commitIndex: Math.max(...commits), syncedLogWrites: replies.map((r) => r?.syncedLogWrites ?? Number.NaN) };
}

/**
 * Ours' client path (the same agent, requests and checks as the load on our cluster) against one
 * process that listens like a member's control port, with its certificates (ca.crt, node.crt,
 * node.key) under `stateDir/certs`: bench/cluster-ceiling.ts's responder.
 */
export function ourClientTarget(server: { readonly name: string; readonly stateDir: string; readonly controlPort: number; cpuMs(): number[] }, socketsMax: number): WriteTarget {
  const member: Member = {
    name: server.name,
    stateDir: server.stateDir,
    listenAddr: '',
    controlPort: server.controlPort,
    process: undefined,
    exited: Promise.resolve('not a manager'),
    output: '',
    agent: undefined,
  };
  return ourTarget({ members: [member], cpuMs: () => server.cpuMs() }, socketsMax, 'first');
}

function ourFailoverHooks(cluster: OurCluster, socketsMax = 1000): FailoverHooks {
  // Agents of their own (probes every 10 ms, each giving up after 2 s: ~200 in flight at most),
  // remade after each round since the killed member's old sockets are dead.
  let agents = new Map<Member, https.Agent>();
  const agentFor = (m: Member): https.Agent => {
    let a = agents.get(m);
    if (a === undefined) {
      a = makeAgent(m, socketsMax);
      agents.set(m, a);
    }
    return a;
  };
  const value = Buffer.from(payloadOf(256)).toString('base64');
  let killed: number | undefined;
  let probes = 0;
  return {
    async killLeader() {
      killed = await cluster.waitSettled();
      await cluster.kill(killed);
    },
    writeOnce(signal) {
      const survivors = cluster.members.filter((m) => m.process !== undefined);
      const m = survivors[Math.floor(Math.random() * survivors.length)];
      if (m === undefined) return Promise.reject(new OurClusterError('no member running'));
      return createConfig(m, agentFor(m), configBody(`failover-${probes++}`, value), PROBE_TIMEOUT_MS, signal);
    },
    async recover() {
      if (killed !== undefined) {
        const m = cluster.members[killed] as Member;
        if (m.process === undefined) {
          launch(m, ['start', '--state-dir', m.stateDir]);
          await cluster.waitAnswers(m);
        }
      }
      killed = undefined;
      for (const a of agents.values()) a.destroy();
      agents = new Map();
      await cluster.waitSettled();
    },
  };
}

export const startOurCluster: StartOurCluster = async ({ baseDir, clientsMax, endpoints }) => {
  const cluster = await startProcesses(baseDir);
  let target: WriteTarget;
  try {
    target = ourTarget(cluster, Math.max(1, clientsMax), endpoints);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return {
    target,
    failover: ourFailoverHooks(cluster),
    description:
      `${cluster.members.length} managers on 127.0.0.1 (cluster ${cluster.members.map((m) => m.listenAddr.replace('127.0.0.1', '')).join(' ')}, ` +
      `control ${cluster.members.map((m) => `:${m.controlPort}`).join(' ')}), state under ${cluster.dir}, journal writes synced, tick 100 ms, election 10 ticks; ` +
      `client: POST /configs/create over HTTPS (TLS 1.3, manager client certificate) keep-alive, ${describeEndpoints(endpoints)}`,
    async stop() {
      await target.close();
      await cluster.stop();
    },
  };
};

// The node process (`swarm init`, `swarm join`, `swarm start`): one OS process per node. It holds
// the node's TLS identity, listens on the cluster port (mutual TLS; joining nodes reach the CA's
// RPCs there without a certificate), runs an ActorSystem whose remote messages cross that port,
// and serves the control socket. Every node runs the agent (actors/agent), which keeps a session
// with the leader's dispatcher and runs the node's tasks as OS processes (the process executor,
// under tasks/ in the state directory), and a credentials actor, which managers message to renew
// its certificate or change its trust. A manager also runs its Raft peer over a classic-level
// journal sealed at rest, the manager state actor (actors/cluster) that applies it, and the
// orchestration (actors/orchestrator), which leads while this manager does.
//
// Everything a manager knows lives in the journal: the store (nodes, configs, secrets, ...) and the
// security state (root CA, join tokens, issued and revoked certificates). This file is the shell
// around those actors: sockets, files, certificates, timers (through the real Env).
import os from 'node:os';
import path from 'node:path';
import { existsSync, rmSync } from 'node:fs';
import {
  agentActor, checkLogReply, createCertificateRequest, logContext, logStreamsHome, nodeLogsActor, resolveService, resolveTask, LOG_STREAMS_HOME, createRootCa, crossSignRoot, exportPrivateKeyPem, generateJoinToken, generateNodeKeyPair,
  isRevoked, issueNodeCertificate, loadRootCa, managerActor, orchestrationActor, parseNodeIdentity, renewalDelayMs, roleForJoinToken, trustedRoots,
  verifyRootAgainstToken,
  type AppliedChanges, type ClusterCommand, type LogSink, type LogStream, type LogStreamControl, type LogStreamsInput, type LogStreamsOpen, type LogTarget, type ManagerInput, type ManagerReply, type ManagerView, type NodeRole, type SecurityChange, type SecurityState,
} from '../../actors/index.js';
import { KeyStore, KeyStoreLockedError, KvLogStorage, WatchFeed, WrongUnlockKeyError, MalformedUnlockKeyError, type ConfState, type JournalEvent, type KvLogStorage as KvLog, type NodeDescription, type Task } from '../../journal/index.js';
import { raftProps, type ConfChange, type RaftCounters, type RaftStatus } from '../../raft/index.js';
import { ActorSystem, RuntimeExecutor, type Env, type Envelope } from '../../runtime/index.js';
import {
  ClusterTransport, DockerExecutor, LevelStorage, ProcessExecutor, RealClock, realRandom, secureRandomBytes, tlsRequest,
  type PeerIdentity,
} from '../../runtime/env/real/index.js';
import { StateDir, splitPem, type ManagerAddress, type NodeFile, type TlsFiles } from './state-dir.js';
import { NodeError } from '../errors.js';
import { WriteCoalescer } from './write-coalescer.js';

export { DEFAULT_CLUSTER_PORT } from './state-dir.js';
const RPC_TIMEOUT_MS = 10_000;
export const WRITE_TIMEOUT_MS = 10_000;
const RENEW_RETRY_MIN_MS = 500;
/** Attempts of a join refused for a passing reason (no leader during an election), about 15 s in all. */
const JOIN_ATTEMPTS = 10;
/** Refusals a join retries: the cluster is between leaders, not refusing this node. */
const JOIN_RETRYABLE = new Set(['NO_LEADER', 'TIMEOUT', 'NOT_LEADER', 'PROPOSAL_DROPPED', 'ENTRY_LOST', 'RPC_TIMEOUT']);
/** Rounds over the known managers to join the Raft group (bounded: about 15 s in all). */
const RAFT_JOIN_ROUNDS = 10;
const RENEW_RETRY_MAX_MS = 30_000;
/** SwarmKit's dispatcher heartbeat period, unless init is told otherwise. */
const DEFAULT_HEARTBEAT_PERIOD_MS = 5_000;
const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** The Docker engine this node drives: DOCKER_HOST (a unix:// socket), else the default socket if there is one. */
function dockerHostOf(): string | undefined {
  const host = process.env['DOCKER_HOST'];
  if (host !== undefined && host !== '') return host;
  return existsSync(DEFAULT_DOCKER_SOCKET) ? `unix://${DEFAULT_DOCKER_SOCKET}` : undefined;
}

/** The process executor's directory in the state directory: one directory per task. */
const TASKS_DIR = 'tasks';
/** Events a manager keeps for `GET /events?since=V` (whole entries; older versions answer 410). */
const WATCH_HISTORY_EVENTS = 100_000;
/** How long `swarm leave` gives each task to stop (its own stop grace, at most this) before killing it. */
const LEAVE_STOP_GRACE_MS_MAX = 5_000;
/**
 * The only messages a worker may send a manager's dispatcher. Besides these, a worker may send only
 * log replies to a log stream open for it (checkLogReply in actors/logs).
 */
const WORKER_MESSAGES: ReadonlySet<string> = new Set(['dispatcher.register', 'dispatcher.heartbeat', 'dispatcher.status', 'dispatcher.resync', 'dispatcher.describe']);
/** How often a node reads its engine's labels again (its agent sends a changed description). */
const ENGINE_LABELS_REFRESH_MS = 20_000;

export { NodeError } from '../errors.js';

export interface InitOptions {
  readonly listenAddr: string;
  readonly advertiseAddr?: string;
  readonly controlAddr?: string;
  readonly autolock: boolean;
  readonly certExpiryMs: number;
  readonly tickMs: number;
  readonly snapshotIntervalEntries: number;
  readonly snapshotTailEntries: number;
  readonly name?: string;
  /** The dispatcher heartbeat period of the new cluster (`--dispatcher-heartbeat`; default 5 s). */
  readonly dispatcherHeartbeatMs?: number;
}

export interface JoinOptions {
  readonly token: string;
  readonly remote: string;
  readonly listenAddr: string;
  readonly advertiseAddr?: string;
  readonly controlAddr?: string;
  readonly tickMs: number;
  readonly snapshotIntervalEntries: number;
  readonly snapshotTailEntries: number;
  readonly name?: string;
}

export type Logger = (line: string) => void;

/** `GET /services/{id}/logs` and `GET /tasks/{id}/logs`: whose lines, and how. */
export interface LogsQuery {
  readonly kind: 'service' | 'task';
  readonly ref: string;
  readonly follow: boolean;
  readonly tail?: number;
  readonly streams: ReadonlySet<LogStream>;
}

/** An open log request: the control API tells it when its client is ready for more, or gone. */
export interface OpenLogs {
  readonly requestId: string;
  drained(): void;
  cancel(): void;
}

/** RPC bodies on the cluster port (`swarm-rpc`). */
export type NodeRpc =
  | { readonly type: 'ca.root' }
  | { readonly type: 'node.join'; readonly token: string; readonly csrPem: string; readonly addr: string; readonly hostname: string; readonly name: string; readonly os: string; readonly arch: string; readonly nanoCpus: number; readonly memoryBytes: number }
  | { readonly type: 'ca.renew'; readonly csrPem: string }
  | { readonly type: 'raft.join' }
  | { readonly type: 'raft.leave'; readonly nodeId: string }
  | { readonly type: 'ping' };

export interface JoinReply {
  readonly nodeId: string;
  readonly clusterId: string;
  readonly role: NodeRole;
  readonly certPem: string;
  readonly roots: readonly string[];
  readonly managers: readonly ManagerAddress[];
}

export interface RenewReply {
  readonly role: NodeRole;
  readonly certPem: string;
  readonly roots: readonly string[];
  readonly managers: readonly ManagerAddress[];
}

/** Messages a node's credentials actor (`<node>/credentials`) accepts from managers. */
export type AgentInput =
  | { readonly type: 'agent.renew'; readonly reason: string }
  | { readonly type: 'agent.trust'; readonly roots: readonly string[] };

interface ManagerParts {
  readonly storage: KvLog;
  readonly keyStore: KeyStore;
  view: ManagerView;
  readonly peer: string;
  readonly managerAddress: string;
  /** Committed events for `GET /events` watchers; replaced when a snapshot install voids it. */
  watch: WatchFeed;
  /** Called when the feed is replaced: each open events stream ends, its client resynchronises. */
  readonly watchResets: Set<() => void>;
}

function hostPort(address: string, flag: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new NodeError('BAD_ADDRESS', `${flag}: '${address}' is not host:port`);
  return { host: address.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port };
}

function newId(env: Env, length = 25): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let id = alphabet[env.random.int(0, 25)] as string; // a DNS label starts with a letter
  while (id.length < length) id += alphabet[env.random.int(0, 35)];
  return id;
}

/** A PEM block ending in a newline: concatenated blocks must be separated by one. */
function pemLine(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

function joinPem(pems: readonly string[]): string {
  return pems.map(pemLine).join('');
}

function refusal(error: unknown): NodeError {
  if (error instanceof NodeError) return error;
  const e = error as { code?: unknown; message?: unknown };
  return new NodeError(typeof e?.code === 'string' ? e.code : 'INTERNAL', typeof e?.message === 'string' ? e.message : String(error), 500);
}

/** Node's names for architectures, as Docker reports them (the kernel's `uname -m`). */
const DOCKER_ARCHITECTURES: Readonly<Record<string, string>> = {
  x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l', ia32: 'i386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loongarch64',
};

/** This machine as Docker describes a node: hostname, platform in Docker's names, CPUs (nano-CPUs) and memory. */
export function localNodeDescription(): NodeDescription {
  return {
    hostname: os.hostname(),
    platform: { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: DOCKER_ARCHITECTURES[process.arch] ?? process.arch },
    resources: { nanoCpus: os.cpus().length * 1e9, memoryBytes: os.totalmem() },
    engineLabels: {},
  };
}

/** The heartbeat period a new cluster gets: the option, else the test-only environment variable, else 5 s. */
function initialHeartbeatPeriodMs(option: number | undefined): number {
  const value = option ?? DEFAULT_HEARTBEAT_PERIOD_MS;
  if (!Number.isSafeInteger(value) || value < 100) throw new NodeError('BAD_HEARTBEAT', `--dispatcher-heartbeat: at least 100 ms, got ${String(option)}`);
  return value;
}

/** A store's refusal of a write, as the control API answers it. */
function storeRefusal(refused: { readonly code: string; readonly message: string }): NodeError {
  return new NodeError(refused.code, refused.message, refused.code.includes('NOT_FOUND') ? 404 : 409);
}

export class SwarmNode {
  file: NodeFile;
  tls: TlsFiles;
  readonly env: Env;
  readonly system: ActorSystem;
  /** Runs this node's tasks as OS processes, under tasks/ in the state directory. */
  readonly executor: ProcessExecutor;
  /** The node's container engine (Docker, at DOCKER_HOST or the default socket), when it has one. */
  readonly docker: DockerExecutor | undefined;
  /** What the agent drives: containers through `docker`, `process` tasks through `executor`. */
  readonly runtimes: RuntimeExecutor;
  manager: ManagerParts | undefined;
  /** An auto-locked manager waiting for `swarm unlock`. */
  locked = false;
  private renewTimer: unknown;
  private renewAttempts = 0;
  private stopped = false;
  private readonly exitListeners: Array<(code: number) => void> = [];
  /** Nodes whose certificates this node refuses (from the security state; workers keep none). */
  private revokedView: SecurityState | null = null;
  refusedMessages = 0;
  /** Trust changes pushed by managers (a renewal in flight must not undo a newer one). */
  private trustPushes = 0;
  /** Raft snapshots installed from the leader since start (a manager far behind catches up so). */
  snapshotInstalls = 0;

  private leaderWork: Promise<void> = Promise.resolve();
  /** The control API's writes, coalesced into few entries (see writeEvents). */
  private readonly writes: WriteCoalescer;
  /** This manager's open log requests: the nodes each asked, and the tasks asked of each (the inbound allowlist for log replies). */
  private readonly logGrants = new Map<string, ReadonlyMap<string, ReadonlySet<string>>>();

  private constructor(readonly state: StateDir, file: NodeFile, tls: TlsFiles, readonly transport: ClusterTransport, env: Env, readonly log: Logger) {
    this.file = file;
    this.tls = tls;
    this.env = env;
    this.writes = new WriteCoalescer({
      clock: env.clock,
      propose: (batch) => this.propose({ op: 'events', opId: newId(env, 20), batch }),
      refusal: storeRefusal,
    });
    this.system = new ActorSystem({ nodeId: file.nodeId, env });
    this.system.onRootFailure((failure) => {
      this.log(`fatal: actor ${failure.address} failed: ${failure.error instanceof Error ? failure.error.stack ?? failure.error.message : String(failure.error)}`);
      this.exit(70);
    });
    this.system.spawn('credentials', {
      kind: 'credentials',
      create: () => ({ receive: (m: AgentInput) => this.agentReceive(m) }),
      mailboxDepthMax: 1000,
    });
    // The agent registers with the managers this node knows of: the store's, on a manager; those it
    // joined through or last learned at a renewal, on a worker.
    this.executor = new ProcessExecutor(path.join(state.dir, TASKS_DIR));
    const dockerHost = dockerHostOf();
    this.docker = dockerHost === undefined ? undefined : new DockerExecutor({ nodeId: file.nodeId, socketPath: dockerHost });
    this.refreshEngineLabels();
    this.runtimes = new RuntimeExecutor({
      process: this.executor,
      container: this.docker ?? { missing: `no container engine (no Docker socket at ${DEFAULT_DOCKER_SOCKET}, and DOCKER_HOST is not set)` },
    });
    this.system.spawn('agent', agentActor({
      nodeId: file.nodeId,
      description: () => ({ ...localNodeDescription(), engineLabels: this.engineLabels }),
      managers: () => (this.manager !== undefined ? this.managerAddresses() : this.file.managers).map((m) => m.id),
      dispatcherAddress: (m) => `${m}/orchestration/dispatcher`,
      executor: this.runtimes,
      storage: env.storage,
    }));
    // Logs: every node serves its tasks' lines to managers (n/logs); a manager's open requests
    // live under n/logstreams (spawned on every node: a promoted worker needs no restart).
    this.system.spawn('logs', nodeLogsActor({ executor: this.runtimes }));
    this.system.spawn(LOG_STREAMS_HOME, logStreamsHome());
  }

  /** The engine's labels as last read (none without an engine, or until read). */
  private engineLabels: Readonly<Record<string, string>> = {};
  private engineLabelsTimer: unknown;

  private refreshEngineLabels(): void {
    const docker = this.docker;
    if (docker === undefined || this.stopped) return;
    docker.engineLabels()
      .then((labels) => {
        if (JSON.stringify(labels) !== JSON.stringify(this.engineLabels)) this.engineLabels = labels;
      })
      .catch((error: unknown) => this.log(`reading the Docker engine's labels: ${(error as Error).message}`))
      .finally(() => {
        if (!this.stopped) this.engineLabelsTimer = this.env.clock.setTimeout(() => this.refreshEngineLabels(), ENGINE_LABELS_REFRESH_MS);
      });
  }

  get nodeId(): string {
    return this.file.nodeId;
  }

  private readonly credentialListeners: Array<() => void> = [];

  /** Called after this node's certificate or trusted roots changed. */
  onCredentials(listener: () => void): void {
    this.credentialListeners.push(listener);
  }

  private credentialsChanged(): void {
    for (const listener of this.credentialListeners) listener();
  }

  onExit(listener: (code: number) => void): void {
    this.exitListeners.push(listener);
  }

  private exit(code: number): void {
    for (const listener of this.exitListeners) listener(code);
  }

  // ---- start-up ---------------------------------------------------------------------------------

  private static async open(state: StateDir, file: NodeFile, tls: TlsFiles, log: Logger): Promise<SwarmNode> {
    const { host, port } = hostPort(file.listenAddr, '--listen-addr');
    const clock = new RealClock();
    const holder: { node: SwarmNode | undefined } = { node: undefined };
    const transport = await ClusterTransport.start({
      nodeId: file.nodeId,
      host,
      port,
      key: tls.keyPem,
      cert: tls.certPem,
      ca: splitPem(tls.rootsPem),
      authorize: (envelope, peer) => holder.node?.authorize(envelope, peer),
      onRefused: (envelope, peer, reason) => {
        if (holder.node !== undefined) holder.node.refusedMessages++;
        log(`refused: message from ${peer.commonName} (${peer.organizationalUnit ?? 'no role'}) to ${envelope.to}: ${reason}`);
      },
      verifyPeer: (peer) => holder.node?.verifyPeer(peer),
      onRequest: async (body, peer) => {
        if (holder.node === undefined) throw new NodeError('STARTING', 'the node is starting');
        return holder.node.serveRpc(body as NodeRpc, peer);
      },
      onError: (error) => log(`transport: ${error.message}`),
      onNodeGone: (nodeId) => holder.node?.nodeGone(nodeId),
    });
    const env: Env = { clock, random: realRandom(), transport, storage: new LevelStorage(state.raftDir) };
    holder.node = new SwarmNode(state, file, tls, transport, env, log);
    return holder.node;
  }

  /** `swarm init`: a new cluster whose first manager is this node. */
  static async init(stateDir: string, options: InitOptions, log: Logger): Promise<{ node: SwarmNode; unlockKey: string | undefined }> {
    const state = new StateDir(stateDir);
    if (state.exists()) throw new NodeError('ALREADY_IN_SWARM', `--state-dir ${stateDir}: this node is already part of a swarm (start it with 'swarm start', or 'swarm leave --force' first)`);
    hostPort(options.listenAddr, '--listen-addr');
    const heartbeatPeriodMs = initialHeartbeatPeriodMs(options.dispatcherHeartbeatMs);
    const clock = new RealClock();
    const random = realRandom();
    const idEnv = { random } as Env;
    const clusterId = newId(idEnv);
    const nodeId = newId(idEnv);
    const now = clock.now();
    const root = await createRootCa({ clusterId, now, randomBytes: secureRandomBytes });
    const keys = await generateNodeKeyPair();
    const certPem = await issueNodeCertificate(root, { nodeId, role: 'manager', publicKey: keys.publicKey, now, validityMs: options.certExpiryMs, randomBytes: secureRandomBytes });
    const advertiseAddr = options.advertiseAddr ?? options.listenAddr;
    const file: NodeFile = {
      v: 1, nodeId, clusterId, role: 'manager', listenAddr: options.listenAddr, advertiseAddr,
      managers: [{ id: nodeId, addr: advertiseAddr }], controlAddr: options.controlAddr ?? '',
      tickMs: options.tickMs, snapshotIntervalEntries: options.snapshotIntervalEntries, snapshotTailEntries: options.snapshotTailEntries,
    };
    const tls: TlsFiles = { keyPem: await exportPrivateKeyPem(keys.privateKey), certPem: pemLine(certPem), rootsPem: pemLine(root.certPem) };
    state.writeTls(tls);
    const node = await SwarmNode.open(state, file, tls, log);
    const unlockKey = await node.startManager({ voters: [nodeId], learners: [] }, { autolock: options.autolock, unlockKey: undefined });
    state.writeNode(file);
    // The first entries: the security state, the cluster object and this node.
    const identity = parseNodeIdentity(certPem);
    const security: SecurityState = {
      clusterId,
      root: { certPem: root.certPem, keyPem: root.keyPem },
      next: null,
      tokens: { worker: generateJoinToken(root.certPem, secureRandomBytes), manager: generateJoinToken(root.certPem, secureRandomBytes) },
      issued: { [nodeId]: { serial: identity.serial, role: 'manager', notAfter: identity.notAfter, rootCertPem: root.certPem } },
      revoked: {},
      unlockKey: unlockKey ?? '',
      nodeCertValidityMs: options.certExpiryMs,
    };
    await node.waitForLeader(nodeId, 10_000);
    await node.writeSecurity({ kind: 'init', state: security });
    await node.writeEvents([
      {
        type: 'cluster.created', v: 1, at: now, id: clusterId,
        spec: {
          annotations: { name: 'default', labels: {} },
          orchestration: { taskHistoryRetentionLimit: 5 },
          dispatcher: { heartbeatPeriodMs },
          raft: { snapshotIntervalEntries: options.snapshotIntervalEntries, logEntriesForSlowFollowers: options.snapshotTailEntries, electionTicks: 10, heartbeatTicks: 1 },
          caConfig: { nodeCertExpiryMs: options.certExpiryMs },
          encryption: { autoLockManagers: options.autolock },
        },
      },
      node.registration(nodeId, 'manager', advertiseAddr, options.name ?? nodeId, localNodeDescription()),
    ]);
    node.scheduleRenewal();
    return { node, unlockKey };
  }

  /** `swarm join`: fetch and pin the root CA, obtain a certificate with the token, start. */
  static async join(stateDir: string, options: JoinOptions, log: Logger): Promise<SwarmNode> {
    const state = new StateDir(stateDir);
    if (state.exists()) throw new NodeError('ALREADY_IN_SWARM', `--state-dir ${stateDir}: this node is already part of a swarm`);
    hostPort(options.listenAddr, '--listen-addr');
    hostPort(options.remote, 'ADDR');
    // 1. The root CA, fetched without trusting anything, then checked against the token's digest.
    let rootReply: { clusterId: string; roots: string[] };
    try {
      rootReply = (await tlsRequest(options.remote, { type: 'ca.root' } satisfies NodeRpc, { timeoutMs: RPC_TIMEOUT_MS })).body as typeof rootReply;
    } catch (error) {
      throw new NodeError('JOIN_UNREACHABLE', `cannot reach a manager at ${options.remote}: ${(error as Error).message}`);
    }
    const pinned = rootReply.roots.filter((root) => {
      try {
        verifyRootAgainstToken(root, options.token);
        return true;
      } catch {
        return false;
      }
    });
    if (pinned.length === 0) {
      // Names the problem precisely: a malformed token, or a root that is not the one it pins.
      verifyRootAgainstToken(rootReply.roots[0] ?? '', options.token);
    }
    // 2. A key and a certificate request; the CA answers over TLS verified against the pinned root.
    const keys = await generateNodeKeyPair();
    const csrPem = await createCertificateRequest(keys);
    const advertiseAddr = options.advertiseAddr ?? options.listenAddr;
    let reply: JoinReply | undefined;
    const clock = new RealClock();
    // A cluster electing a leader (a manager joined a moment ago) cannot register this node yet:
    // such refusals are retried, a few times, backing off; a refusal of the token is final.
    const description = localNodeDescription();
    for (let attempt = 0; reply === undefined; attempt++) {
      try {
        reply = (await tlsRequest(options.remote, {
          type: 'node.join', token: options.token.trim(), csrPem, addr: advertiseAddr, hostname: description.hostname, name: options.name ?? '',
          os: description.platform.os, arch: description.platform.architecture, nanoCpus: description.resources.nanoCpus, memoryBytes: description.resources.memoryBytes,
        } satisfies NodeRpc, { ca: pinned, timeoutMs: 30_000 })).body as JoinReply;
      } catch (error) {
        const e = error as { code?: string; message?: string };
        if (attempt + 1 >= JOIN_ATTEMPTS || !JOIN_RETRYABLE.has(e.code ?? '')) {
          throw new NodeError(e.code ?? 'JOIN_FAILED', `join refused by ${options.remote}: ${e.message ?? String(error)}`);
        }
        log(`join: ${e.message ?? String(error)}; trying again`);
        await new Promise<void>((resolve) => clock.setTimeout(resolve, Math.min(2000, 200 * 2 ** attempt)));
      }
    }
    const file: NodeFile = {
      v: 1, nodeId: reply.nodeId, clusterId: reply.clusterId, role: reply.role, listenAddr: options.listenAddr, advertiseAddr,
      managers: reply.managers, controlAddr: options.controlAddr ?? '',
      tickMs: options.tickMs, snapshotIntervalEntries: options.snapshotIntervalEntries, snapshotTailEntries: options.snapshotTailEntries,
    };
    const tls: TlsFiles = { keyPem: await exportPrivateKeyPem(keys.privateKey), certPem: reply.certPem, rootsPem: joinPem(reply.roots) };
    state.writeTls(tls);
    const node = await SwarmNode.open(state, file, tls, log);
    for (const m of reply.managers) node.transport.setPeerAddress(m.id, m.addr);
    state.writeNode(file);
    if (reply.role === 'manager') await node.becomeManager(reply.managers);
    node.scheduleRenewal();
    return node;
  }

  /** `swarm start`: a node that was part of a swarm starts again from its state directory. */
  static async restart(stateDir: string, options: { unlockKey?: string }, log: Logger): Promise<SwarmNode> {
    const state = new StateDir(stateDir);
    if (!state.exists()) throw new NodeError('NOT_IN_SWARM', `--state-dir ${stateDir}: this node is not part of a swarm (use swarm init or swarm join)`);
    const file = state.readNode();
    const node = await SwarmNode.open(state, file, state.readTls(), log);
    for (const m of file.managers) node.transport.setPeerAddress(m.id, m.addr);
    if (file.role === 'manager' && !existsSync(state.raftDir)) {
      // Joined as a manager but never made it into the Raft group (stopped before its raft.join).
      await node.becomeManager(file.managers);
    } else if (file.role === 'manager') {
      try {
        await node.startManager(undefined, { autolock: false, unlockKey: options.unlockKey });
      } catch (error) {
        if (!(error instanceof KeyStoreLockedError)) throw error;
        node.locked = true;
        log('locked: this manager is auto-locked; run swarm unlock');
      }
    }
    node.scheduleRenewal();
    return node;
  }

  /** Opens the journal (sealed at rest) and starts the Raft peer and the manager actor. Resolves with a new unlock key (auto-lock at init). */
  private async startManager(initialConf: ConfState | undefined, keys: { autolock: boolean; unlockKey: string | undefined }): Promise<string | undefined> {
    const storage = this.env.storage;
    const keyKv = await storage.openKv('keys');
    let keyStore: KeyStore;
    let unlockKey: string | undefined;
    try {
      if ((await keyKv.get('keys')) === undefined) {
        const made = await KeyStore.init(keyKv, { randomBytes: secureRandomBytes, autoLock: keys.autolock, ...(keys.unlockKey === undefined ? {} : { unlockKey: keys.unlockKey }) });
        keyStore = made.keyStore;
        unlockKey = made.unlockKey;
      } else {
        keyStore = await KeyStore.open(keyKv, { randomBytes: secureRandomBytes, ...(keys.unlockKey === undefined ? {} : { unlockKey: keys.unlockKey }) });
      }
    } catch (error) {
      await keyKv.close();
      throw error;
    }
    const logKv = await storage.openKv('log');
    const log = await KvLogStorage.open(logKv, { cipher: keyStore.cipher, ...(initialConf === undefined ? {} : { initialConfState: initialConf }) });
    const snapshot = log.snapshot();
    const id = this.nodeId;
    const managerAddress = `${id}/manager`;
    const parts: ManagerParts = {
      storage: log, keyStore, peer: `${id}/raft/peer`, managerAddress,
      view: { store: undefined as never, security: null, conf: snapshot.meta.confState, appliedIndex: snapshot.meta.index },
      watch: new WatchFeed({ historyEventsMax: WATCH_HISTORY_EVENTS, startVersion: snapshot.meta.index }),
      watchResets: new Set(),
    };
    this.manager = parts;
    this.system.spawn('manager', managerActor({
      nodeId: id,
      peer: parts.peer,
      log: `${id}/raft/log`,
      snapshotData: snapshot.data,
      snapshotIndex: snapshot.meta.index,
      snapshotConf: snapshot.meta.confState,
      snapshotIntervalEntries: this.file.snapshotIntervalEntries,
      snapshotTailEntries: this.file.snapshotTailEntries,
      onApplied: (view, changes) => this.applied(view, changes),
      onCommitted: ({ index, events, restored }) => {
        if (restored) {
          // The store jumped to a snapshot: events between were never seen here.
          parts.watch = new WatchFeed({ historyEventsMax: WATCH_HISTORY_EVENTS, startVersion: index });
          for (const reset of [...parts.watchResets]) reset();
          return;
        }
        parts.watch.publish(index, events);
      },
      onLeaderChange: () => this.writes.leaderChanged(),
    }));
    // Subscribes to the manager actor: the leader's orchestration while this manager leads, a
    // standby dispatcher (pointing agents at the leader) otherwise.
    this.system.spawn('orchestration', orchestrationActor({ nodeId: id, manager: managerAddress, view: () => parts.view.store }));
    this.system.spawn('raft', raftProps({
      id,
      storage: log,
      random: this.env.random.fork('raft'),
      peerAddress: (peer) => `${peer}/raft/peer`,
      applier: managerAddress,
      tickMs: this.file.tickMs,
      config: { electionTicks: 10, heartbeatTicks: 1, asyncStorageWrites: true },
    }));
    if (initialConf !== undefined && initialConf.voters.length === 1 && initialConf.voters[0] === id && log.lastIndex() === 0) {
      this.system.send(parts.peer, { type: 'raft.campaign' });
    }
    this.locked = false;
    return unlockKey;
  }

  /** `swarm unlock`: opens the journal of a locked manager with its unlock key. */
  async unlock(unlockKey: string): Promise<void> {
    if (!this.locked) throw new NodeError('NOT_LOCKED', 'this node is not locked', 409);
    try {
      await this.startManager(undefined, { autolock: false, unlockKey });
    } catch (error) {
      if (error instanceof WrongUnlockKeyError) throw new NodeError('WRONG_UNLOCK_KEY', 'invalid unlock key: it does not unlock this manager', 400);
      if (error instanceof MalformedUnlockKeyError) throw new NodeError('MALFORMED_UNLOCK_KEY', `invalid unlock key: ${error.message}`, 400);
      throw error;
    }
    this.log('unlocked');
  }

  // ---- the manager's reactions to committed changes ---------------------------------------------

  private applied(view: ManagerView, changes: AppliedChanges): void {
    if (this.manager === undefined) return;
    const starting = this.manager.view.store === undefined;
    this.manager.view = view;
    if (changes.restored && !starting) {
      this.snapshotInstalls++;
      this.log(`installed a snapshot at index ${view.appliedIndex} (this manager was behind the leader's log)`);
    }
    if (view.security !== null) this.revokedView = view.security;
    if (changes.nodes || changes.restored) {
      for (const node of view.store.list('node')) {
        if (node.id !== this.nodeId && node.status.addr !== '') this.transport.setPeerAddress(node.id, node.status.addr);
      }
    }
    if ((changes.security || changes.restored) && view.security !== null) {
      this.adoptTrust(trustedRoots(view.security));
      // Connections of nodes removed since are closed now, not only at their next handshake.
      const security = view.security;
      const now = this.env.clock.now();
      this.transport.refuseConnected((peer) => isRevoked(security, peer.commonName, now));
    }
    if ((changes.conf || changes.restored) && view.appliedIndex > 0 && !view.conf.voters.includes(this.nodeId) && !view.conf.learners.includes(this.nodeId)) {
      this.log(`removed from the Raft group at index ${view.appliedIndex}`);
    }
    if (!changes.security && !changes.nodes) return;
    // Leader duties run one at a time, after this turn.
    this.leaderWork = this.leaderWork.then(() => this.leaderDuties(changes)).catch((error: unknown) => this.log(`leader duties: ${(error as Error).message}`));
  }

  /** Work only the leader does after a change: drive a root rotation to its end. */
  private async leaderDuties(changes: AppliedChanges): Promise<void> {
    if (!changes.security && !changes.nodes) return;
    const manager = this.manager;
    if (manager === undefined) return;
    const status = await this.raftStatus();
    if (status.role !== 'leader') return;
    const security = manager.view.security;
    if (security === null) return;
    // A node whose role in the store differs from its certificate's renews: promotion or demotion.
    for (const n of manager.view.store.list('node')) {
      const issued = security.issued[n.id];
      if (issued !== undefined && issued.role !== n.spec.role) this.system.send(`${n.id}/credentials`, { type: 'agent.renew', reason: `role is now ${n.spec.role}` } satisfies AgentInput);
    }
    if (security.next === null) return;
    const next = security.next;
    const nodes = manager.view.store.list('node');
    const behind = nodes.filter((n) => security.issued[n.id]?.rootCertPem !== next.certPem && !isRevoked(security, n.id, this.env.clock.now()));
    if (behind.length > 0) {
      for (const n of behind) this.system.send(`${n.id}/credentials`, { type: 'agent.renew', reason: 'root rotation' } satisfies AgentInput);
      return;
    }
    this.log('root rotation: every node holds a certificate of the new root; finishing');
    await this.writeSecurity({ kind: 'rootRotationFinished', rootCertPem: next.certPem });
    for (const n of nodes) this.system.send(`${n.id}/credentials`, { type: 'agent.trust', roots: [next.certPem] } satisfies AgentInput);
  }

  private adoptTrust(roots: readonly string[]): void {
    const rootsPem = joinPem(roots);
    if (rootsPem === this.tls.rootsPem) return;
    this.tls = { ...this.tls, rootsPem };
    this.state.writeTls(this.tls);
    this.transport.updateCredentials({ key: this.tls.keyPem, cert: this.tls.certPem, ca: [...roots] });
    this.credentialsChanged();
    this.log(`trust: ${roots.length} root(s)`);
  }

  // ---- inbound authorization --------------------------------------------------------------------

  /**
   * Every inbound actor message: managers of this cluster may message any of a node's actors; a
   * worker only this manager's dispatcher, with the agent's messages, speaking for itself alone
   * (the transport has checked that the sender's address is on the certificate's node), and the
   * log stream of a request this manager opened and sent to it, with the replies of a log server
   * about the tasks it was asked for (logGrants; nothing else under n/logstreams).
   */
  private authorize(envelope: Envelope, peer: PeerIdentity): string | undefined {
    if (peer.organization !== this.file.clusterId) return `certificate of another cluster (${peer.organization ?? 'none'})`;
    if (peer.organizationalUnit === 'swarm-manager') return undefined;
    if (peer.organizationalUnit !== 'swarm-worker') return 'manager-only: the sender holds a worker certificate';
    const sender = peer.commonName;
    const streams = `${this.nodeId}/${LOG_STREAMS_HOME}`;
    if (envelope.to.startsWith(`${streams}/`)) {
      // Log replies: only to a stream open now, for the request and tasks it asked of this worker.
      const refused = checkLogReply(this.logGrants, streams, envelope.to, envelope.message, sender);
      if (refused !== undefined) return refused;
      return this.memberRefusal(sender);
    }
    if (envelope.to !== `${this.nodeId}/orchestration/dispatcher`) return 'manager-only: the sender holds a worker certificate';
    const m = envelope.message as { type?: unknown; nodeId?: unknown; replyTo?: unknown } | null;
    if (typeof m !== 'object' || m === null || typeof m.type !== 'string' || !WORKER_MESSAGES.has(m.type)) return `a worker may send the dispatcher only an agent's messages, not ${typeof m?.type === 'string' ? m.type : 'this'}`;
    if (m.nodeId !== sender) return `a worker speaks only for itself (${sender}), not for ${String(m.nodeId)}`;
    if (m.type === 'dispatcher.register' && (typeof m.replyTo !== 'string' || !m.replyTo.startsWith(`${sender}/`))) return 'a worker\'s replies go to its own node';
    return this.memberRefusal(sender);
  }

  /** A worker removed from the swarm (or not in it) is refused whatever it sends. */
  private memberRefusal(sender: string): string | undefined {
    const security = this.revokedView;
    if (security !== null && isRevoked(security, sender, this.env.clock.now())) return `node ${sender} was removed from the swarm`;
    const store = this.manager?.view.store;
    if (store !== undefined && store.get('node', sender) === undefined) return `node ${sender} is not a member of the swarm`;
    return undefined;
  }

  /**
   * Node `nodeId`'s address refuses connections: its process is gone (a crash, a kill, a stop).
   * The Raft peer takes it as a hint (RaftCore.leaderGone): if that node led, this manager
   * campaigns now instead of waiting out the election timeout.
   */
  private nodeGone(nodeId: string): void {
    if (this.manager === undefined) return;
    this.system.send(this.manager.peer, { type: 'raft.peerGone', peer: nodeId });
  }

  private verifyPeer(peer: PeerIdentity): string | undefined {
    if (peer.organization !== this.file.clusterId) return `certificate of another cluster (${peer.organization ?? 'none'})`;
    const security = this.revokedView;
    if (security !== null && isRevoked(security, peer.commonName, this.env.clock.now())) return `node ${peer.commonName} was removed from the swarm`;
    return undefined;
  }

  // ---- RPCs on the cluster port -----------------------------------------------------------------

  private async serveRpc(body: NodeRpc, peer: PeerIdentity | undefined): Promise<unknown> {
    try {
      switch (body?.type) {
        case 'ping':
          return { nodeId: this.nodeId };
        case 'ca.root':
          return { clusterId: this.file.clusterId, roots: trustedRoots(await this.securityOrFail()) };
        case 'node.join':
          return await this.serveJoin(body);
        case 'ca.renew':
          if (peer === undefined) throw new NodeError('UNAUTHENTICATED', 'renewal needs the node\'s current certificate', 401);
          return await this.serveRenew(body.csrPem, peer);
        case 'raft.join':
          if (peer === undefined || peer.organizationalUnit !== 'swarm-manager') throw new NodeError('FORBIDDEN', 'only a manager certificate may join the Raft group', 403);
          return await this.serveRaftJoin(peer.commonName);
        case 'raft.leave':
          if (peer === undefined || peer.organizationalUnit !== 'swarm-manager' || peer.commonName !== body.nodeId) throw new NodeError('FORBIDDEN', 'a manager may only remove itself', 403);
          return await this.removeVoter(body.nodeId, true);
        default:
          throw new NodeError('BAD_REQUEST', `unknown request ${JSON.stringify((body as { type?: unknown })?.type)}`);
      }
    } catch (error) {
      throw refusal(error);
    }
  }

  private async securityOrFail(): Promise<SecurityState> {
    if (this.locked) throw new NodeError('LOCKED', 'this manager is locked', 503);
    const security = this.manager?.view.security;
    if (security === undefined || security === null) throw new NodeError('NOT_A_MANAGER', 'this node is not a swarm manager', 503);
    return security;
  }

  private async serveJoin(req: Extract<NodeRpc, { type: 'node.join' }>): Promise<JoinReply> {
    const security = await this.securityOrFail();
    const role = roleForJoinToken(req.token, security.tokens);
    if (role === undefined) throw new NodeError('JOIN_TOKEN_INVALID', 'the join token is not valid for this swarm (wrong, or rotated)', 401);
    // Any manager serves a join (its writes are forwarded to the leader); a manager's Raft
    // membership is its own later request (raft.join), once it listens.
    hostPort(req.addr, 'addr');
    const nodeId = newId(this.env);
    const description: NodeDescription = { hostname: req.hostname, platform: { os: req.os, architecture: req.arch }, resources: { nanoCpus: req.nanoCpus, memoryBytes: req.memoryBytes }, engineLabels: {} };
    await this.writeEvents([this.registration(nodeId, role, req.addr, req.name === '' ? nodeId : req.name, description)]);
    const certPem = await this.issue(nodeId, role, req.csrPem);
    // A manager is added to the Raft group only once it listens (its `raft.join` after start-up):
    // a voter that cannot be reached yet would cost a one-manager cluster its quorum.
    const latest = await this.securityOrFail();
    this.log(`joined: ${nodeId} as ${role} from ${req.addr}`);
    return { nodeId, clusterId: this.file.clusterId, role, certPem, roots: trustedRoots(latest), managers: this.managerAddresses() };
  }

  private async serveRenew(csrPem: string, peer: PeerIdentity): Promise<RenewReply> {
    const security = await this.securityOrFail();
    const nodeId = peer.commonName;
    if (isRevoked(security, nodeId, this.env.clock.now())) throw new NodeError('NODE_REMOVED', `node ${nodeId} was removed from the swarm`, 403);
    const node = this.manager?.view.store.get('node', nodeId);
    if (node === undefined) throw new NodeError('NODE_UNKNOWN', `node ${nodeId} is not part of this swarm`, 403);
    const certPem = await this.issue(nodeId, node.spec.role, csrPem);
    return { role: node.spec.role, certPem, roots: trustedRoots(await this.securityOrFail()), managers: this.managerAddresses() };
  }

  private async serveRaftJoin(nodeId: string): Promise<{ conf: ConfState; managers: readonly ManagerAddress[]; unlockKey: string }> {
    const node = this.manager?.view.store.get('node', nodeId);
    if (node === undefined || node.spec.role !== 'manager') throw new NodeError('FORBIDDEN', `node ${nodeId} is not a manager in the store`, 403);
    const status = await this.raftStatus();
    if (status.role !== 'leader') return this.forwardToLeader({ type: 'raft.join' }, status) as never;
    const conf = await this.addVoter(nodeId);
    return { conf, managers: this.managerAddresses(), unlockKey: (await this.securityOrFail()).unlockKey };
  }

  /** Issues a certificate for `nodeId` from the issuing root (the next one during a rotation) and records it. */
  private async issue(nodeId: string, role: NodeRole, csrPem: string): Promise<string> {
    const security = await this.securityOrFail();
    const issuing = security.next ?? security.root;
    const ca = await loadRootCa(issuing.certPem, issuing.keyPem);
    const leaf = await issueNodeCertificate(ca, { nodeId, role, csrPem, now: this.env.clock.now(), validityMs: security.nodeCertValidityMs, randomBytes: secureRandomBytes });
    const identity = parseNodeIdentity(leaf);
    await this.writeSecurity({ kind: 'certificateIssued', nodeId, certificate: { serial: identity.serial, role, notAfter: identity.notAfter, rootCertPem: issuing.certPem } });
    return security.next === null ? pemLine(leaf) : `${pemLine(leaf)}${pemLine(security.next.crossSignedPem)}`;
  }

  private async forwardToLeader(body: NodeRpc, status: RaftStatus): Promise<unknown> {
    if (status.leader === '' || status.leader === this.nodeId) throw new NodeError('NO_LEADER', 'the swarm has no leader now (no quorum?); try again', 503);
    const address = this.transport.peerAddress(status.leader);
    if (address === undefined) throw new NodeError('NO_LEADER', `the leader ${status.leader} has no known address`, 503);
    try {
      return (await tlsRequest(address, body, { ca: splitPem(this.tls.rootsPem), key: this.tls.keyPem, cert: this.tls.certPem, timeoutMs: 30_000 })).body;
    } catch (error) {
      throw refusal(error);
    }
  }

  // ---- membership -------------------------------------------------------------------------------

  private async addVoter(nodeId: string): Promise<ConfState> {
    await this.confChange({ type: 'addVoter', peer: nodeId });
    return this.manager!.view.conf;
  }

  /**
   * Removes a manager from the Raft group; refuses to remove the last one or to leave the rest
   * without a quorum of reachable managers (SwarmKit's rule for demotion and removal).
   */
  async removeVoter(nodeId: string, allowSelf: boolean): Promise<{ conf: ConfState }> {
    const status = await this.raftStatus();
    if (status.role !== 'leader') return this.forwardToLeader({ type: 'raft.leave', nodeId }, status) as Promise<{ conf: ConfState }>;
    if (!status.voters.includes(nodeId)) return { conf: this.manager!.view.conf };
    if (nodeId === this.nodeId && !allowSelf) throw new NodeError('LEADER', 'cannot remove the leader; transfer leadership first', 409);
    const remaining = status.voters.filter((v) => v !== nodeId);
    if (remaining.length === 0) throw new NodeError('LAST_MANAGER', 'cannot demote or remove the last manager of the swarm', 409);
    const reachable = remaining.filter((v) => v === this.nodeId || status.progress[v]?.state === 'replicate').length;
    const quorum = Math.floor(remaining.length / 2) + 1;
    if (reachable < quorum) throw new NodeError('QUORUM', `removing ${nodeId} would leave ${reachable} reachable of ${remaining.length} managers, below the quorum of ${quorum}`, 409);
    await this.confChange({ type: 'removePeer', peer: nodeId });
    return { conf: this.manager!.view.conf };
  }

  private async confChange(change: ConfChange): Promise<void> {
    const manager = this.requireManager();
    const opId = newId(this.env, 20);
    const reply = await this.system.ask<ManagerReply>(manager.managerAddress, (replyTo) => ({ type: 'manager.confChange', opId, change, replyTo }), { timeoutMs: WRITE_TIMEOUT_MS })
      .catch((error: unknown) => {
        this.forget(manager, opId);
        throw new NodeError('TIMEOUT', `membership change not confirmed in ${WRITE_TIMEOUT_MS} ms: ${(error as Error).message}`, 503);
      });
    if (reply.type === 'manager.failed') throw new NodeError(reply.code, reply.message, 503);
  }

  managerAddresses(): ManagerAddress[] {
    const view = this.manager?.view;
    if (view === undefined || view.store === undefined) return [...this.file.managers];
    return view.store.list('node').filter((n) => view.conf.voters.includes(n.id) && n.status.addr !== '').map((n) => ({ id: n.id, addr: n.status.addr }));
  }

  registration(nodeId: string, role: NodeRole, addr: string, name: string, description: NodeDescription): JournalEvent {
    const { hostname, platform, resources } = description;
    return {
      type: 'node.registered', v: 1, at: this.env.clock.now(), id: nodeId,
      spec: { annotations: { name, labels: {} }, role, availability: 'active' },
      description: { hostname: hostname === '' ? nodeId : hostname, platform: { os: platform.os, architecture: platform.architecture }, resources: { nanoCpus: Math.max(0, Math.floor(resources.nanoCpus)), memoryBytes: Math.max(0, Math.floor(resources.memoryBytes)) }, engineLabels: {} },
      // Ready once its agent opens a session with the leader's dispatcher (SwarmKit's order): until then no task is placed on it.
      status: { state: 'unknown', message: 'registered; waiting for its agent', addr },
    };
  }

  // ---- writes and reads through the manager actor -----------------------------------------------

  requireManager(): ManagerParts {
    if (this.locked) throw new NodeError('LOCKED', 'Swarm is encrypted and needs to be unlocked before it can be used. Please use "swarm unlock" to unlock it.', 503);
    if (this.manager === undefined) throw new NodeError('NOT_A_MANAGER', 'This node is not a swarm manager. Worker nodes can\'t be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.', 503);
    return this.manager;
  }

  /** An ask of the manager timed out: it forgets who waited (see `manager.forget`). */
  private forget(manager: ManagerParts, opId: string): void {
    this.system.send(manager.managerAddress, { type: 'manager.forget', opId } satisfies ManagerInput);
  }

  /** Proposes a command and resolves once it applied here; a store refusal rejects with its code. */
  async write(command: ClusterCommand): Promise<number> {
    const reply = await this.propose(command);
    if (reply.refused !== null) throw storeRefusal(reply.refused);
    return reply.index;
  }

  /** The command's entry applied (`refused` set when the store refused its batch), or a NodeError. */
  private async propose(command: ClusterCommand): Promise<Extract<ManagerReply, { type: 'manager.applied' }>> {
    const manager = this.requireManager();
    let reply: ManagerReply;
    try {
      reply = await this.system.ask<ManagerReply>(manager.managerAddress, (replyTo) => ({ type: 'manager.write', command, replyTo }), { timeoutMs: WRITE_TIMEOUT_MS });
    } catch {
      this.forget(manager, command.opId);
      throw new NodeError('TIMEOUT', `the write was not confirmed within ${WRITE_TIMEOUT_MS} ms (no quorum?); it may still apply`, 503);
    }
    if (reply.type === 'manager.failed') {
      const noLeader = reply.code !== 'DUPLICATE';
      throw new NodeError(reply.code, noLeader ? `the write was not accepted: ${reply.message}` : reply.message, noLeader ? 503 : 409);
    }
    if (reply.type !== 'manager.applied') throw new NodeError('INTERNAL', `unexpected reply ${reply.type}`, 500);
    return reply;
  }

  /**
   * Writes the events as one atomic change and resolves with the index it applied at. Writes are
   * coalesced (write-coalescer.ts): those made in one turn, and those made while two entries are
   * in flight, go as one entry, so that a hundred clients writing at once cost the cluster a few
   * entries, not a hundred; a store refusal of a shared entry is retried write by write.
   */
  writeEvents(events: JournalEvent[]): Promise<number> {
    try {
      this.requireManager();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.writes.write(events);
  }

  writeSecurity(change: SecurityChange): Promise<number> {
    return this.write({ op: 'security', opId: newId(this.env, 20), change });
  }

  /** A linearizable read barrier (ReadIndex): resolves with the view once it is at least as new as the leader's commit. */
  async readBarrier(): Promise<ManagerView> {
    const manager = this.requireManager();
    const opId = newId(this.env, 20);
    let reply: ManagerReply;
    try {
      reply = await this.system.ask<ManagerReply>(manager.managerAddress, (replyTo) => ({ type: 'manager.barrier', opId, replyTo }), { timeoutMs: 5000 });
    } catch {
      this.forget(manager, opId);
      throw new NodeError('NO_LEADER', 'no leader confirmed this read within 5000 ms (no quorum?)', 503);
    }
    if (reply.type !== 'manager.readable') throw new NodeError('INTERNAL', `unexpected reply ${reply.type}`, 500);
    return manager.view;
  }

  // ---- logs ---------------------------------------------------------------------------------------

  /**
   * Opens a log request (`service logs`, `task logs`): the tasks of the service that are bound to
   * a node and not removed (running and finished ones: their nodes may still hold their lines), or
   * the one task, grouped by node; a stream actor under n/logstreams asks each node and hands the
   * tagged lines to `sink`. A node down in the store is reported unreachable at once.
   */
  async openLogs(query: LogsQuery, sink: LogSink): Promise<OpenLogs> {
    const store = (await this.readBarrier()).store;
    let serviceName: string;
    let tasks: Task[];
    if (query.kind === 'service') {
      const service = resolveService(store, query.ref);
      serviceName = service.spec.annotations.name;
      tasks = store.tasksByService(service.id);
    } else {
      const task = resolveTask(store, query.ref);
      serviceName = store.get('service', task.serviceId)?.spec.annotations.name ?? task.serviceId;
      tasks = [task];
    }
    const byNode = new Map<string, Task[]>();
    for (const task of tasks) {
      if (task.nodeId === '' || task.desiredState === 'remove') continue;
      const list = byNode.get(task.nodeId) ?? [];
      list.push(task);
      byNode.set(task.nodeId, list);
    }
    const targets: LogTarget[] = [...byNode].map(([nodeId, list]) => {
      const node = store.get('node', nodeId);
      const nodeName = node === undefined ? nodeId : node.spec.annotations.name || node.description.hostname || nodeId;
      return {
        nodeId, nodeName, reachable: node?.status.state === 'ready',
        tasks: list.map((t) => ({ taskId: t.id, context: logContext(serviceName, t, nodeName) })),
      };
    });
    const requestId = newId(this.env, 20);
    this.logGrants.set(requestId, new Map(targets.map((t) => [t.nodeId, new Set(t.tasks.map((x) => x.taskId))])));
    const open: LogStreamsOpen = {
      type: 'logstreams.open',
      options: {
        requestId, targets, follow: query.follow, ...(query.tail === undefined ? {} : { tail: query.tail }), streams: query.streams, reportGone: query.kind === 'task',
        sink: {
          write: (entries) => sink.write(entries),
          end: () => {
            this.logGrants.delete(requestId);
            sink.end();
          },
        },
      },
    };
    this.system.send(`${this.nodeId}/${LOG_STREAMS_HOME}`, open);
    // Through the home, after the open: a client gone before the stream started still stops it.
    const tell = (message: LogStreamControl): void => this.system.send(`${this.nodeId}/${LOG_STREAMS_HOME}`, { type: 'logstreams.tell', requestId, message } satisfies LogStreamsInput);
    return { requestId, drained: () => tell({ type: 'logs.drained' }), cancel: () => tell({ type: 'logs.cancel', requestId }) };
  }

  async raftStatus(): Promise<RaftStatus> {
    return (await this.raftStatusAndCounters()).status;
  }

  /** The Raft peer's status and its counters (`/debug/raft`). */
  async raftStatusAndCounters(): Promise<{ status: RaftStatus; counters: RaftCounters }> {
    const manager = this.requireManager();
    return this.system.ask<{ status: RaftStatus; counters: RaftCounters }>(manager.peer, (replyTo) => ({ type: 'raft.status', replyTo }), { timeoutMs: 2000 });
  }

  async waitForLeader(expected: string | undefined, timeoutMs: number): Promise<void> {
    const deadline = this.env.clock.now() + timeoutMs;
    for (;;) {
      const status = await this.raftStatus();
      if (status.leader !== '' && (expected === undefined || status.leader === expected)) return;
      if (this.env.clock.now() > deadline) throw new NodeError('NO_LEADER', `no leader within ${timeoutMs} ms`, 503);
      await new Promise<void>((resolve) => this.env.clock.setTimeout(resolve, 50));
    }
  }

  // ---- the credentials actor: pushes from managers ----------------------------------------------

  private agentReceive(m: AgentInput): void {
    switch (m.type) {
      case 'agent.renew':
        this.log(`renewing: ${m.reason}`);
        void this.renew();
        return;
      case 'agent.trust':
        if (this.manager === undefined) {
          this.trustPushes++;
          this.adoptTrust(m.roots);
        }
        return;
    }
  }

  // ---- certificate renewal ----------------------------------------------------------------------

  scheduleRenewal(): void {
    if (this.stopped) return;
    const identity = parseNodeIdentity(this.tls.certPem);
    const at = identity.notBefore + renewalDelayMs(identity.notBefore, identity.notAfter, this.env.random);
    const delay = Math.max(0, at - this.env.clock.now());
    this.armRenewal(delay);
  }

  private armRenewal(delayMs: number): void {
    if (this.renewTimer !== undefined) this.env.clock.clearTimeout(this.renewTimer as never);
    if (this.engineLabelsTimer !== undefined) this.env.clock.clearTimeout(this.engineLabelsTimer as never);
    // Node's timers hold 32-bit delays: a 90-day certificate's renewal is armed in steps.
    const step = Math.min(delayMs, 2 ** 31 - 1);
    this.renewTimer = this.env.clock.setTimeout(() => {
      this.renewTimer = undefined;
      if (step < delayMs) this.armRenewal(delayMs - step);
      else void this.renew();
    }, step);
  }

  private renewing: Promise<void> | undefined;

  /** Obtains a new certificate from any manager (this one first), then uses it at once. */
  renew(): Promise<void> {
    if (this.renewing !== undefined) return this.renewing;
    this.renewing = this.doRenew().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async doRenew(): Promise<void> {
    if (this.stopped) return;
    const trustPushesAtStart = this.trustPushes;
    const keys = await generateNodeKeyPair();
    const csrPem = await createCertificateRequest(keys);
    // Other managers first: this manager may have just been removed from the Raft group (demotion),
    // and its own proposals would then go nowhere.
    const known = this.manager !== undefined ? this.managerAddresses() : this.file.managers;
    const candidates = [...known.filter((m) => m.id !== this.nodeId).map((m) => m.addr), ...(this.manager !== undefined ? [this.file.advertiseAddr] : [])];
    let lastError: unknown;
    for (const address of [...new Set(candidates)]) {
      try {
        const reply = (await tlsRequest(address, { type: 'ca.renew', csrPem } satisfies NodeRpc, { ca: splitPem(this.tls.rootsPem), key: this.tls.keyPem, cert: this.tls.certPem, timeoutMs: RPC_TIMEOUT_MS })).body as RenewReply;
        const keyPem = await exportPrivateKeyPem(keys.privateKey);
        // The reply's roots were read when the certificate was issued; a newer trust may have
        // arrived since (a rotation finishing meanwhile): a manager trusts its own replicated
        // security state, a worker the last trust a manager pushed after this renewal began.
        const security = this.manager?.view.security ?? null;
        const roots = security !== null ? trustedRoots(security) : this.trustPushes !== trustPushesAtStart ? splitPem(this.tls.rootsPem) : reply.roots;
        this.tls = { keyPem, certPem: reply.certPem, rootsPem: joinPem(roots) };
        this.state.writeTls(this.tls);
        this.transport.updateCredentials({ key: keyPem, cert: reply.certPem, ca: [...roots] });
        this.credentialsChanged();
        if (reply.managers.length > 0) this.updateFile({ managers: reply.managers });
        for (const m of reply.managers) if (m.id !== this.nodeId) this.transport.setPeerAddress(m.id, m.addr);
        if (reply.role === 'manager' && this.manager === undefined) await this.becomeManager(reply.managers);
        else if (reply.role === 'worker' && this.manager !== undefined) await this.becomeWorker();
        const identity = parseNodeIdentity(reply.certPem);
        this.log(`certificate renewed: serial ${identity.serial}, ${identity.role}, valid until ${new Date(identity.notAfter).toISOString()}`);
        this.renewAttempts = 0;
        this.scheduleRenewal();
        return;
      } catch (error) {
        lastError = error;
      }
    }
    this.renewAttempts++;
    const delay = Math.min(RENEW_RETRY_MAX_MS, RENEW_RETRY_MIN_MS * 2 ** Math.min(this.renewAttempts, 10));
    this.log(`certificate renewal failed (${(lastError as Error)?.message ?? 'no manager known'}); retrying in ${delay} ms`);
    this.armRenewal(delay);
  }

  /** Promotion: with a manager certificate in hand, join the Raft group and start the manager's parts. */
  async becomeManager(managers: readonly ManagerAddress[]): Promise<void> {
    let lastError: unknown;
    // A leader election may be under way (a manager joined a moment ago): a few rounds, backing off.
    for (let round = 0; round < RAFT_JOIN_ROUNDS; round++) {
      if (round > 0) await new Promise<void>((resolve) => this.env.clock.setTimeout(resolve, Math.min(2000, 100 * 2 ** round)));
      for (const m of managers) {
        if (m.id === this.nodeId) continue;
        try {
        const reply = (await tlsRequest(m.addr, { type: 'raft.join' } satisfies NodeRpc, { ca: splitPem(this.tls.rootsPem), key: this.tls.keyPem, cert: this.tls.certPem, timeoutMs: 30_000 })).body as { conf: ConfState; managers: ManagerAddress[]; unlockKey: string };
          for (const x of reply.managers) if (x.id !== this.nodeId) this.transport.setPeerAddress(x.id, x.addr);
          SwarmNode.forgetJournal(this.state);
          await this.startManager(reply.conf, { autolock: reply.unlockKey !== '', unlockKey: reply.unlockKey === '' ? undefined : reply.unlockKey });
          this.updateFile({ role: 'manager', managers: reply.managers });
          this.log(`manager: joined the Raft group, voters ${reply.conf.voters.join(',')}`);
          return;
        } catch (error) {
          lastError = error;
          const code = (error as { code?: string }).code;
          if (code === 'FORBIDDEN' || code === 'LOCKED') throw error;
        }
      }
    }
    throw new NodeError('PROMOTION_FAILED', `could not join the Raft group: ${(lastError as Error)?.message ?? 'no manager known'}`, 503);
  }

  /** Demotion: this node is out of the Raft group; stop the manager's parts and forget the journal. */
  private async becomeWorker(): Promise<void> {
    const manager = this.manager;
    if (manager === undefined) return;
    const managers = this.managerAddresses().filter((m) => m.id !== this.nodeId);
    this.manager = undefined;
    this.system.stop(`${this.nodeId}/orchestration`);
    this.system.stop(`${this.nodeId}/raft`);
    this.system.stop(`${this.nodeId}/manager`);
    await manager.storage.close().catch(() => undefined);
    await manager.keyStore.close().catch(() => undefined);
    SwarmNode.forgetJournal(this.state);
    this.updateFile({ role: 'worker', managers });
    this.log('demoted: worker');
  }

  updateFile(change: Partial<NodeFile>): void {
    this.file = { ...this.file, ...change };
    this.state.writeNode(this.file);
  }

  // ---- leaving and stopping -----------------------------------------------------------------------

  /** `swarm leave`: a worker just goes; a manager must be demoted first unless `force`. */
  async leave(force: boolean): Promise<void> {
    if (this.manager !== undefined && !this.locked) {
      const status = await this.raftStatus().catch(() => undefined);
      if (!force) {
        throw new NodeError('MANAGER_LEAVE', 'You are attempting to leave the swarm on a node that is participating as a manager. Demote it first (swarm node demote), or use --force to ignore this message (removing the last manager erases the cluster state).', 409);
      }
      if (status !== undefined && status.voters.length > 1) {
        try {
          await this.removeVoter(this.nodeId, true);
        } catch (error) {
          this.log(`leave --force: could not remove this manager from the Raft group: ${(error as Error).message}`);
        }
      }
    }
    // Leaving ends this node's tasks: the agent goes first (it would report the exits and take new
    // assignments), then their processes are stopped and their directories removed.
    this.system.stop(`${this.nodeId}/agent`);
    await this.executor.removeAll(LEAVE_STOP_GRACE_MS_MAX).catch((error: unknown) => this.log(`leave: stopping the tasks: ${(error as Error).message}`));
    if (this.docker !== undefined) {
      const docker = this.docker;
      await docker.list()
        .then((workloads) => Promise.all(workloads.map(async (w) => {
          await docker.stop(w.id, LEAVE_STOP_GRACE_MS_MAX);
          await docker.remove(w.id);
        })))
        .catch((error: unknown) => this.log(`leave: stopping the containers: ${(error as Error).message}`));
    }
    await this.stop();
    this.state.clear();
    rmSync(path.join(this.state.dir, TASKS_DIR), { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.renewTimer !== undefined) this.env.clock.clearTimeout(this.renewTimer as never);
    this.system.shutdown();
    // The tasks keep running, as containers outlive their agent: the next start adopts them.
    this.executor.close();
    await this.transport.close();
    if (this.manager !== undefined) {
      await this.manager.storage.close().catch(() => undefined);
      await this.manager.keyStore.close().catch(() => undefined);
    }
  }

  /** Removes a departed manager's journal (after demotion this node no longer keeps one). */
  static forgetJournal(state: StateDir): void {
    rmSync(state.raftDir, { recursive: true, force: true });
  }

  /** Root rotation (`swarm ca --rotate`): a new root, cross-signed by the current one; tokens follow the new root. */
  async rotateRoot(): Promise<void> {
    const security = await this.securityOrFail();
    const now = this.env.clock.now();
    const current = await loadRootCa(security.root.certPem, security.root.keyPem);
    const next = await createRootCa({ clusterId: security.clusterId, now, randomBytes: secureRandomBytes });
    const crossSignedPem = await crossSignRoot(current, next, { now, randomBytes: secureRandomBytes });
    await this.writeSecurity({
      kind: 'rootRotationStarted',
      next: { certPem: next.certPem, keyPem: next.keyPem, crossSignedPem },
      tokens: { worker: generateJoinToken(next.certPem, secureRandomBytes), manager: generateJoinToken(next.certPem, secureRandomBytes) },
    });
  }
}

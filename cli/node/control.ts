// The control API: HTTP + JSON on a unix socket in the state directory (what the `swarm` command
// talks to) and, optionally, on TCP with client certificates of the cluster CA (manager
// certificates only). Paths and shapes follow the Docker Engine API's swarm endpoints (/swarm,
// /nodes, /services, /tasks, /secrets, /configs, /info) so that habits, and later the docker CLI,
// carry over. Every GET is a linearizable read: it waits for a ReadIndex barrier before reading the
// store; so does every write that checks the store first (a service spec's references, a name, a
// version), and what it then proposes comes from actors/api's pure functions of that read.
import http from 'node:http';
import https from 'node:https';
import { chmodSync, rmSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { WatchCompactedError, type BlobSpec, type ClusterSpec, type Config, type JournalEvent, type Node, type Secret, type StoreReader, type Task } from '../../journal/index.js';
import {
  ApiError, BLOB_FILTERS, SERVICE_FILTERS, TASK_FILTERS, checkBlobSize, filterBlobs, createService, filterServices, filterTasks, isJobMode, objectId,
  parseFilters, removeBlob, removeService, resolveService, resolveTask, rollbackService, serviceStatus, serviceToDocker, taskToDocker,
  updateService, updateSwarm, generateJoinToken,
} from '../../actors/index.js';
import { secureRandomBytes, tlsRequest } from '../../runtime/env/real/index.js';
import { INSPECTION_EVENT_TYPES, machineChart } from '../../runtime/index.js';
import type { LogEntry, LogStream } from '../../actors/index.js';
import type { LogsQuery, SwarmNode } from './daemon.js';
import { NodeError } from '../errors.js';
import { EVENT_TYPES, eventMessage } from './events.js';
import { InspectFeed } from './inspect.js';
import { splitPem } from './state-dir.js';

/** The record kinds of GET /inspect: the inspection events, and the machine lines that describe actors' statecharts. */
const INSPECT_KINDS = [...INSPECTION_EVENT_TYPES, 'machine'] as const;

/** Room for a config at its 1000 KiB limit, base64-encoded (4/3 of it) in JSON. */
const BODY_BYTES_MAX = 2 * 1024 * 1024;
/** An events client this far behind (bytes unsent) is cut off with an `overflow` line; it resumes from its version. */
const EVENTS_BUFFER_BYTES_MAX = 8 * 1024 * 1024;

interface Request {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
}

type Json = Record<string, unknown> | unknown[] | string;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function nodeJson(node: Node, managerStatus: Record<string, unknown> | undefined): Record<string, unknown> {
  return {
    ID: node.id,
    Version: { Index: node.meta.version },
    CreatedAt: iso(node.meta.createdAt),
    UpdatedAt: iso(node.meta.updatedAt),
    Spec: { Name: node.spec.annotations.name, Labels: node.spec.annotations.labels, Role: node.spec.role, Availability: node.spec.availability },
    Description: {
      Hostname: node.description.hostname,
      Platform: { OS: node.description.platform.os, Architecture: node.description.platform.architecture },
      Resources: { NanoCPUs: node.description.resources.nanoCpus, MemoryBytes: node.description.resources.memoryBytes },
      Engine: { Labels: node.description.engineLabels },
    },
    Status: { State: node.status.state, Message: node.status.message, Addr: node.status.addr },
    ...(managerStatus === undefined ? {} : { ManagerStatus: managerStatus }),
  };
}

function blobJson(object: Secret | Config, withData: boolean): Record<string, unknown> {
  return {
    ID: object.id,
    Version: { Index: object.meta.version },
    CreatedAt: iso(object.meta.createdAt),
    UpdatedAt: iso(object.meta.updatedAt),
    Spec: { Name: object.spec.annotations.name, Labels: object.spec.annotations.labels, ...(withData ? { Data: Buffer.from(object.spec.data).toString('base64') } : {}) },
  };
}

/**
 * The swarm's Spec as Docker's `GET /swarm` shows it. The node certificate life and auto-lock are
 * read from the security state, which rules them; the rest from the cluster object (absent only
 * before init's first entries commit).
 */
function swarmSpecJson(spec: ClusterSpec | undefined, security: { readonly nodeCertValidityMs: number; readonly unlockKey: string }): Record<string, unknown> {
  return {
    Name: spec?.annotations.name ?? 'default',
    Labels: spec?.annotations.labels ?? {},
    ...(spec === undefined ? {} : {
      Orchestration: { TaskHistoryRetentionLimit: spec.orchestration.taskHistoryRetentionLimit },
      Raft: { SnapshotInterval: spec.raft.snapshotIntervalEntries, LogEntriesForSlowFollowers: spec.raft.logEntriesForSlowFollowers, ElectionTick: spec.raft.electionTicks, HeartbeatTick: spec.raft.heartbeatTicks },
      Dispatcher: { HeartbeatPeriod: spec.dispatcher.heartbeatPeriodMs * 1e6 },
    }),
    CAConfig: { NodeCertExpiry: security.nodeCertValidityMs * 1e6 },
    EncryptionConfig: { AutoLockManagers: security.unlockKey !== '' },
    TaskDefaults: {},
  };
}

function field<T>(body: unknown, name: string, check: (v: unknown) => v is T, what: string): T | undefined {
  if (body === null || typeof body !== 'object') throw new NodeError('BAD_REQUEST', 'the request body must be a JSON object');
  const value = (body as Record<string, unknown>)[name];
  if (value === undefined) return undefined;
  if (!check(value)) throw new NodeError('BAD_REQUEST', `${name}: must be ${what}`);
  return value;
}
const isString = (v: unknown): v is string => typeof v === 'string';
const isLabels = (v: unknown): v is Record<string, string> => v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');

function versionParam(query: URLSearchParams, required: boolean): number | null {
  const text = query.get('version');
  if (text === null) {
    if (required) throw new NodeError('BAD_REQUEST', 'version: the object\'s current version is required (read it with inspect)');
    return null;
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new NodeError('BAD_REQUEST', `version: must be a positive integer, got '${text}'`);
  return n;
}

function flag(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  if (v === null || v === '' || v === '0' || v === 'false') return false;
  if (v === '1' || v === 'true') return true;
  throw new NodeError('BAD_REQUEST', `${name}: must be true or false, got '${v}'`);
}

function logJson(e: LogEntry): Record<string, unknown> {
  switch (e.kind) {
    case 'line':
      return { Kind: 'line', Stream: e.stream, Task: e.taskId, Node: e.nodeId, Context: e.context, Line: e.line, Text: e.text };
    case 'incomplete':
      return { Kind: 'incomplete', Stream: 'stderr', Node: e.nodeId, NodeName: e.nodeName, Reason: e.reason, Text: e.text };
    case 'error':
      return { Kind: 'error', Stream: 'stderr', Task: e.taskId, Node: e.nodeId, Context: e.context, Message: e.message, Text: e.text };
  }
}

export class ControlApi {
  private readonly servers: Array<http.Server | https.Server> = [];
  /** `GET /inspect` streams open now, each one inspection listener (`GET /debug/inspect` shows it). */
  private inspectStreams = 0;

  constructor(private readonly node: SwarmNode, private readonly onLeave: () => void) {}

  async listen(): Promise<void> {
    const socket = this.node.state.controlSocket;
    rmSync(socket, { force: true });
    const local = http.createServer((req, res) => void this.serve(req, res, undefined));
    await new Promise<void>((resolve, reject) => {
      local.once('error', reject);
      local.listen(socket, () => resolve());
    });
    chmodSync(socket, 0o600);
    this.servers.push(local);
    if (this.node.file.controlAddr !== '') {
      const i = this.node.file.controlAddr.lastIndexOf(':');
      const host = this.node.file.controlAddr.slice(0, i);
      const port = Number(this.node.file.controlAddr.slice(i + 1));
      const tls = this.node.tls;
      // The client's identity, read once per connection: getPeerCertificate builds the whole
      // certificate object, which per request cost more than the request itself.
      const clients = new WeakMap<TLSSocket, { ou: string; o: string; cn: string }>();
      const remote = https.createServer({ key: tls.keyPem, cert: tls.certPem, ca: splitPem(tls.rootsPem), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (req, res) => {
        const socket = req.socket as TLSSocket;
        let client = clients.get(socket);
        if (client === undefined) {
          const subject = socket.getPeerCertificate().subject;
          client = { ou: String(subject?.OU ?? ''), o: String(subject?.O ?? ''), cn: String(subject?.CN ?? '') };
          clients.set(socket, client);
        }
        void this.serve(req, res, client);
      });
      remote.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve, reject) => {
        remote.once('error', reject);
        remote.listen(port, host, () => resolve());
      });
      this.node.onCredentials(() => {
        const now = this.node.tls;
        remote.setSecureContext({ key: now.keyPem, cert: now.certPem, ca: splitPem(now.rootsPem), minVersion: 'TLSv1.3' } as never);
      });
      this.servers.push(remote);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => {
      s.close(() => resolve());
      (s as http.Server).closeAllConnections?.();
    })));
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse, client: { ou: string; o: string; cn: string } | undefined): Promise<void> {
    const send = (status: number, body: Json | undefined): void => {
      const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    try {
      if (client !== undefined) {
        if (client.o !== this.node.file.clusterId) throw new NodeError('FORBIDDEN', 'a certificate of another cluster', 403);
        if (client.ou !== 'swarm-manager') {
          this.node.log(`refused: control API call ${req.method} ${req.url} with a ${client.ou} certificate (${client.cn})`);
          throw new NodeError('FORBIDDEN', `the control API needs a manager certificate; ${client.cn} holds a ${client.ou} certificate`, 403);
        }
      }
      const text = await readBody(req, BODY_BYTES_MAX);
      let body: unknown = {};
      if (text.trim() !== '') {
        try {
          body = JSON.parse(text);
        } catch (error) {
          throw new NodeError('BAD_REQUEST', `the request body is not JSON: ${(error as Error).message}`);
        }
      }
      const url = new URL(req.url ?? '/', 'http://swarm');
      const path = url.pathname.replace(/^\/v[0-9.]+\//, '/');
      const logs = /^\/(services|tasks)\/([^/]+)\/logs$/.exec(path);
      if (logs !== null && req.method === 'GET') {
        await this.serveLogs(logs[1] === 'services' ? 'service' : 'task', decodeURIComponent(logs[2]!), url.searchParams, res);
        return;
      }
      if (path === '/events' && req.method === 'GET') {
        this.serveEvents(url.searchParams, res);
        return;
      }
      if (path === '/inspect' && req.method === 'GET') {
        this.serveInspect(url.searchParams, res);
        return;
      }
      if (path === '/debug/inspect' && req.method === 'GET') {
        send(200, { streams: this.inspectStreams });
        return;
      }
      const result = await this.route({ method: req.method ?? 'GET', path, query: url.searchParams, body });
      send(result.status, result.body);
    } catch (error) {
      const e = error instanceof NodeError ? error
        : error instanceof ApiError ? new NodeError(error.code, error.message, error.status)
          : new NodeError('INTERNAL', (error as Error).message ?? String(error), 500);
      if (e.status >= 500 && e.code === 'INTERNAL') this.node.log(`control API: ${(error as Error).stack ?? e.message}`);
      send(e.status, { message: e.message, code: e.code });
    }
  }

  /**
   * `GET /services/{id}/logs` and `GET /tasks/{id}/logs` with Docker's query (follow, tail, stdout,
   * stderr; timestamps and details are refused when asked for: we keep neither). Docker answers with
   * a raw multiplexed stream; we answer with JSON lines (`application/x-ndjson`), one per log line,
   * as they come: `{ Kind: 'line', Stream, Task, Node, Context, Line, Text }`, and
   * `{ Kind: 'incomplete', Stream: 'stderr', Node, Text: 'incomplete: node <name> unreachable' }` or
   * `{ Kind: 'error', ... }`; `Text` is what the CLI prints. The response ends when every node
   * ended or was given up; a client that goes away cancels the request on every node.
   */
  private async serveLogs(kind: 'service' | 'task', ref: string, query: URLSearchParams, res: http.ServerResponse): Promise<void> {
    if (flag(query, 'timestamps')) throw new NodeError('BAD_REQUEST', 'timestamps: not supported (the executors keep no time per line)');
    if (flag(query, 'details')) throw new NodeError('BAD_REQUEST', 'details: not supported (no log attributes are kept)');
    const tailText = query.get('tail');
    let tail: number | undefined;
    if (tailText !== null && tailText !== '' && tailText !== 'all') {
      tail = Number(tailText);
      if (!/^\d+$/.test(tailText) || !Number.isSafeInteger(tail)) throw new NodeError('BAD_REQUEST', `tail: must be a whole number or 'all', got '${tailText}'`);
    }
    const stdout = flag(query, 'stdout');
    const stderr = flag(query, 'stderr');
    // Docker refuses a request for neither; the docker CLI always asks for both. Neither given: both.
    const streams = new Set<LogStream>(!stdout && !stderr ? ['stdout', 'stderr'] : [...(stdout ? ['stdout' as const] : []), ...(stderr ? ['stderr' as const] : [])]);
    const logsQuery: LogsQuery = { kind, ref, follow: flag(query, 'follow'), ...(tail === undefined ? {} : { tail }), streams };
    let ended = false;
    const head = (): void => {
      if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-cache' });
    };
    const open = await this.node.openLogs(logsQuery, {
      write: (entries: readonly LogEntry[]) => {
        if (ended || res.destroyed) return true;
        head();
        return res.write(entries.map((e) => `${JSON.stringify(logJson(e))}\n`).join(''));
      },
      end: () => {
        if (ended) return;
        ended = true;
        head();
        res.end();
      },
    });
    head();
    res.on('drain', () => open.drained());
    res.once('close', () => {
      if (!ended) {
        ended = true;
        open.cancel();
      }
    });
  }

  /**
   * `GET /events[?since=VERSION][&filters={"type":[...]}]`: the committed events as JSON lines
   * (cli/node/events.ts), from the entry after VERSION (or from now), as they commit; the first
   * line is `{ Type: 'sync', Version }`, the version the stream starts after. A version the
   * manager no longer holds is refused (410, naming the oldest); a snapshot install here, or a
   * client that reads too slowly, ends the stream with `{ Type: 'reset' | 'overflow', Version }`
   * after which the client resumes from its last version or resynchronises.
   */
  private serveEvents(query: URLSearchParams, res: http.ServerResponse): void {
    const parts = this.node.requireManager();
    const sinceText = query.get('since');
    let since: number | undefined;
    if (sinceText !== null && sinceText !== '') {
      since = Number(sinceText);
      if (!/^\d+$/.test(sinceText) || !Number.isSafeInteger(since)) throw new NodeError('BAD_REQUEST', `since: must be a version (a whole number), got '${sinceText}'`);
    }
    const types = parseFilters(query.get('filters'), ['type']).get('type');
    for (const t of types ?? []) {
      if (!(EVENT_TYPES as readonly string[]).includes(t)) throw new NodeError('BAD_REQUEST', `filters.type: '${t}' is not one of ${EVENT_TYPES.join(', ')}`);
    }
    const wanted = types === undefined || types.length === 0 ? undefined : new Set(types);
    const feed = parts.watch;
    const start = since ?? feed.version;
    if (start > feed.version) throw new NodeError('BAD_REQUEST', `since: version ${start} is ahead of this manager's ${feed.version}`);
    let last = start;
    let ended = false;
    const finish = (line: Record<string, unknown> | undefined): void => {
      if (ended) return;
      ended = true;
      subscription.current?.unsubscribe();
      parts.watchResets.delete(reset);
      if (line !== undefined && !res.destroyed) res.write(`${JSON.stringify(line)}\n`);
      res.end();
    };
    const reset = (): void => finish({ Type: 'reset', Version: last });
    // Filled once subscribed; the history delivered at subscribe may already finish the stream.
    const subscription: { current?: { unsubscribe(): void } } = {};
    const deliver = (batch: { index: number; events: readonly JournalEvent[] }): void => {
      if (ended) return;
      const store = parts.view.store;
      let text = '';
      for (const event of batch.events) {
        const message = eventMessage(event, batch.index, store);
        if (wanted === undefined || wanted.has(message.Type)) text += `${JSON.stringify(message)}\n`;
      }
      last = batch.index;
      if (text !== '') res.write(text);
      if (res.writableLength > EVENTS_BUFFER_BYTES_MAX) finish({ Type: 'overflow', Version: last });
    };
    if (start < feed.oldestVersion) {
      const compacted = new WatchCompactedError(start, feed.oldestVersion);
      throw new NodeError(compacted.code, compacted.message, 410);
    }
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-cache' });
    res.write(`${JSON.stringify({ Type: 'sync', Version: start })}\n`);
    subscription.current = feed.subscribe(start, deliver);
    if (ended) subscription.current.unsubscribe();
    parts.watchResets.add(reset);
    res.once('close', () => finish(undefined));
  }

  /**
   * `GET /inspect[?kinds=KIND,...]`: this node's inspection stream as JSON lines (cli/node/inspect.ts),
   * what the visualizer reads. The first line is `{ kind: 'tree', t, node, actors }`, the actors
   * there were when the stream began; then one record a line (`{ t, node, kind, ... }`, kinds as
   * in runtime/inspection.ts, only those asked for), as they happen, until the client closes.
   * The system is inspected only while a stream is open: an unwatched node pays nothing. A client
   * that reads too slowly loses records past a bounded queue, told by `{ kind: 'dropped', count }`.
   * Any node serves it (workers too); over TCP only to managers, as every control endpoint.
   */
  private serveInspect(query: URLSearchParams, res: http.ServerResponse): void {
    const kindsText = query.get('kinds');
    let kinds: Set<string> | undefined;
    if (kindsText !== null && kindsText.trim() !== '') {
      kinds = new Set(kindsText.split(',').map((k) => k.trim()).filter((k) => k !== ''));
      for (const k of kinds) {
        if (!(INSPECT_KINDS as readonly string[]).includes(k)) throw new NodeError('BAD_REQUEST', `kinds: '${k}' is not one of ${INSPECT_KINDS.join(', ')}`);
      }
    }
    // Gone while its request was read: no subscription that no close would end.
    if (res.destroyed || res.socket === null || res.socket.destroyed) return;
    const system = this.node.system;
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-cache' });
    const describe = (address: string): unknown => {
      const machine = system.machineOf(address);
      return machine === undefined ? undefined : machineChart(machine);
    };
    const feed = new InspectFeed({ write: (text) => res.destroyed || res.write(text) }, { node: this.node.nodeId, clock: this.node.env.clock, describe, ...(kinds === undefined ? {} : { kinds }) });
    // The tree and the subscription in one synchronous step: no record falls between them.
    feed.start(system.tree());
    const unsubscribe = system.inspect(feed.listener);
    this.inspectStreams += 1;
    res.on('drain', () => feed.drained());
    res.once('close', () => {
      unsubscribe();
      feed.close();
      this.inspectStreams -= 1;
    });
  }

  private async route(r: Request): Promise<{ status: number; body: Json | undefined }> {
    const ok = (body: Json | undefined, status = 200) => ({ status, body });
    const seg = r.path.split('/').filter((s) => s !== '');
    const node = this.node;
    const m = `${r.method} /${seg[0] ?? ''}${seg.length > 1 ? '/' + (seg.length > 2 ? ':id/' + seg[2] : (['create', 'update', 'leave', 'unlock', 'unlockkey', 'raft'].includes(seg[1]!) ? seg[1] : ':id')) : ''}`;
    switch (m) {
      case 'GET /_ping':
        return ok('OK');
      case 'GET /info':
        return ok(await this.info());
      case 'POST /swarm/unlock': {
        const key = field(r.body, 'UnlockKey', isString, 'a string');
        if (key === undefined) throw new NodeError('BAD_REQUEST', 'UnlockKey: required');
        await node.unlock(key);
        return ok(undefined);
      }
      case 'POST /swarm/leave': {
        await node.leave(flag(r.query, 'force'));
        this.onLeave();
        return ok(undefined);
      }
      case 'GET /swarm': {
        const view = await node.readBarrier();
        const security = view.security!;
        const cluster = view.store.list('cluster')[0];
        return ok({
          ID: node.file.clusterId,
          Version: { Index: cluster?.meta.version ?? 0 },
          CreatedAt: cluster === undefined ? '' : iso(cluster.meta.createdAt),
          UpdatedAt: cluster === undefined ? '' : iso(cluster.meta.updatedAt),
          Spec: swarmSpecJson(cluster?.spec, security),
          JoinTokens: { Worker: security.tokens.worker, Manager: security.tokens.manager },
          TLSInfo: { TrustRoot: security.root.certPem },
          RootRotationInProgress: security.next !== null,
        });
      }
      case 'GET /swarm/unlockkey': {
        const view = await node.readBarrier();
        return ok({ UnlockKey: view.security!.unlockKey });
      }
      case 'POST /swarm/update': {
        // Every part is checked before the first write: a refusal changes nothing.
        const rotateWorker = flag(r.query, 'rotateWorkerToken');
        const rotateManager = flag(r.query, 'rotateManagerToken');
        const version = versionParam(r.query, false);
        const view = await node.readBarrier();
        const security = view.security!;
        const cluster = view.store.list('cluster')[0];
        if (cluster === undefined) throw new NodeError('NO_CLUSTER', 'the cluster object is not written yet; try again', 503);
        const update = updateSwarm(cluster, { autoLockManagers: security.unlockKey !== '', nodeCertExpiryMs: security.nodeCertValidityMs }, version, r.body, node.env.clock.now());
        // The cluster object first: the one write that can meet a newer version (409) and stop the rest.
        if (update.event !== null) await node.writeEvents([update.event]);
        if (update.nodeCertExpiryMs !== null) await node.writeSecurity({ kind: 'certValidityChanged', nodeCertValidityMs: update.nodeCertExpiryMs });
        if (rotateWorker || rotateManager) {
          const tokenRoot = security.next?.certPem ?? security.root.certPem;
          await node.writeSecurity({
            kind: 'tokensRotated',
            worker: rotateWorker ? generateJoinToken(tokenRoot, secureRandomBytes) : null,
            manager: rotateManager ? generateJoinToken(tokenRoot, secureRandomBytes) : null,
          });
        }
        if (update.forceRotate) await node.rotateRoot();
        return ok(undefined);
      }
      case 'GET /nodes': {
        const view = await node.readBarrier();
        const status = await node.raftStatus().catch(() => undefined);
        const nodes = view.store.list('node');
        const probed = await this.probeManagers(nodes, view.conf.voters, status);
        return ok(nodes.map((n) => nodeJson(n, this.managerStatus(n, view.conf.voters, status, probed))));
      }
      case 'GET /nodes/:id': {
        const view = await node.readBarrier();
        const found = this.findNode(view.store.list('node'), seg[1]!);
        const status = await node.raftStatus().catch(() => undefined);
        const probed = await this.probeManagers([found], view.conf.voters, status);
        return ok(nodeJson(found, this.managerStatus(found, view.conf.voters, status, probed)));
      }
      case 'POST /nodes/:id/update':
        return ok(await this.updateNode(seg[1]!, r));
      case 'DELETE /nodes/:id':
        return ok(await this.removeNode(seg[1]!, flag(r.query, 'force')));
      case 'GET /secrets':
      case 'GET /configs': {
        const kind = seg[0] === 'secrets' ? 'secret' : 'config';
        const filters = parseFilters(r.query.get('filters'), BLOB_FILTERS);
        const view = await node.readBarrier();
        return ok(filterBlobs<Secret | Config>(view.store.list(kind), filters).map((o) => blobJson(o, kind === 'config')));
      }
      case 'GET /secrets/:id':
      case 'GET /configs/:id': {
        const kind = seg[0] === 'secrets' ? 'secret' : 'config';
        const view = await node.readBarrier();
        const found = view.store.get(kind, seg[1]!) ?? view.store.byName(kind, seg[1]!);
        if (found === undefined) throw new NodeError('NOT_FOUND', `${kind} ${seg[1]} not found`, 404);
        return ok(blobJson(found, kind === 'config'));
      }
      case 'POST /secrets/create':
      case 'POST /configs/create': {
        const kind = seg[0] === 'secrets' ? 'secret' : 'config';
        const name = field(r.body, 'Name', isString, 'a string');
        if (name === undefined || name === '') throw new NodeError('BAD_REQUEST', 'Name: required');
        const labels = field(r.body, 'Labels', isLabels, 'a map of strings') ?? {};
        const data = field(r.body, 'Data', isString, 'base64 text') ?? '';
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw new NodeError('BAD_REQUEST', 'Data: must be base64');
        const bytes = Buffer.from(data, 'base64');
        checkBlobSize(kind, bytes.byteLength);
        const id = `${kind[0]}${[...node.env.random.bytes(12)].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
        const spec: BlobSpec = { annotations: { name, labels }, data: new Uint8Array(bytes) };
        const event: JournalEvent = kind === 'secret'
          ? { type: 'secret.created', v: 1, at: node.env.clock.now(), id, spec }
          : { type: 'config.created', v: 1, at: node.env.clock.now(), id, spec };
        await node.writeEvents([event]);
        return ok({ ID: id }, 201);
      }
      case 'POST /secrets/:id/update': {
        const view = node.requireManager().view;
        const found = view.store.get('secret', seg[1]!) ?? view.store.byName('secret', seg[1]!);
        if (found === undefined) throw new NodeError('NOT_FOUND', `secret ${seg[1]} not found`, 404);
        const labels = field(r.body, 'Labels', isLabels, 'a map of strings');
        if (labels === undefined) throw new NodeError('BAD_REQUEST', 'Labels: required (only labels of a secret may change)');
        await node.writeEvents([{ type: 'secret.updated', v: 1, at: node.env.clock.now(), id: found.id, labels, expectedVersion: versionParam(r.query, false) }]);
        return ok(undefined);
      }
      case 'DELETE /secrets/:id':
      case 'DELETE /configs/:id': {
        const kind = seg[0] === 'secrets' ? 'secret' : 'config';
        // Read through the barrier: a service created a moment ago that uses it must be seen.
        const view = await node.readBarrier();
        await node.writeEvents([removeBlob(view.store, kind, seg[1]!, node.env.clock.now())]);
        return ok(undefined, 204);
      }
      case 'GET /services': {
        const filters = parseFilters(r.query.get('filters'), SERVICE_FILTERS);
        const store = (await node.readBarrier()).store;
        return ok(filterServices(store.list('service'), filters).map((s) => serviceToDocker(s, serviceStatus(s, store))) as unknown as Json);
      }
      case 'GET /services/:id': {
        const store = (await node.readBarrier()).store;
        const service = resolveService(store, seg[1]!);
        return ok(serviceToDocker(service, serviceStatus(service, store)) as unknown as Json);
      }
      case 'POST /services/create': {
        const store = (await node.readBarrier()).store;
        const event = createService(store, r.body, objectId(node.env.random), node.env.clock.now());
        await node.writeEvents([event]);
        return ok({ ID: event.id }, 201);
      }
      case 'POST /services/:id/update': {
        const version = versionParam(r.query, false);
        const rollback = r.query.get('rollback');
        if (rollback !== null && rollback !== '' && rollback !== 'previous') throw new NodeError('BAD_REQUEST', `rollback: only 'previous' is supported, got '${rollback}'`);
        const store = (await node.readBarrier()).store;
        const now = node.env.clock.now();
        const event = rollback === 'previous' ? rollbackService(store, seg[1]!, version, now) : updateService(store, seg[1]!, version, r.body, now);
        await node.writeEvents([event]);
        return ok({ Warnings: [] });
      }
      case 'DELETE /services/:id': {
        const store = (await node.readBarrier()).store;
        await node.writeEvents([removeService(store, seg[1]!, node.env.clock.now())]);
        return ok(undefined);
      }
      case 'GET /tasks': {
        const filters = parseFilters(r.query.get('filters'), TASK_FILTERS);
        const store = (await node.readBarrier()).store;
        return ok(filterTasks(store.list('task'), filters, store).map((t) => this.taskJson(t, store)) as unknown as Json);
      }
      case 'GET /tasks/:id': {
        const store = (await node.readBarrier()).store;
        return ok(this.taskJson(resolveTask(store, seg[1]!), store) as unknown as Json);
      }
      case 'GET /debug/raft': {
        const { status, counters } = await node.raftStatusAndCounters();
        const manager = node.requireManager();
        return ok({ ...status, counters, refusedMessages: node.refusedMessages, snapshotInstalls: node.snapshotInstalls, appliedIndex: manager.view.appliedIndex, syncedLogWrites: manager.storage.syncedWrites } as unknown as Record<string, unknown>);
      }
      default:
        throw new NodeError('NOT_FOUND', `no such endpoint: ${r.method} ${r.path}`, 404);
    }
  }

  private taskJson(task: Task, store: StoreReader): ReturnType<typeof taskToDocker> {
    const service = store.get('service', task.serviceId);
    return taskToDocker(task, service !== undefined && isJobMode(service.spec.mode));
  }

  private async info(): Promise<Record<string, unknown>> {
    const node = this.node;
    const isManager = node.manager !== undefined && !node.locked;
    let leader = '';
    let nodes = 0;
    let managers = 0;
    if (isManager) {
      const status = await node.raftStatus().catch(() => undefined);
      leader = status?.leader ?? '';
      nodes = node.manager!.view.store?.count('node') ?? 0;
      managers = node.manager!.view.conf.voters.length;
    }
    return {
      ID: node.nodeId,
      Swarm: {
        NodeID: node.nodeId,
        NodeAddr: node.file.advertiseAddr,
        LocalNodeState: node.locked ? 'locked' : 'active',
        ControlAvailable: isManager,
        Role: node.file.role,
        Cluster: { ID: node.file.clusterId },
        Leader: leader,
        Nodes: nodes,
        Managers: managers,
        RemoteManagers: node.file.managers.map((m) => ({ NodeID: m.id, Addr: m.addr })),
      },
    };
  }

  /** On a follower: which other managers answer on their cluster port now (the leader knows from Raft). */
  private async probeManagers(nodes: readonly Node[], voters: readonly string[], status: Awaited<ReturnType<SwarmNode['raftStatus']>> | undefined): Promise<Map<string, boolean> | undefined> {
    if (status === undefined || status.role === 'leader') return undefined;
    const others = nodes.filter((n) => voters.includes(n.id) && n.id !== status.id && n.id !== status.leader);
    const answers = await Promise.all(others.map((n) => this.reachable(n.status.addr)));
    return new Map(others.map((n, i) => [n.id, answers[i]!]));
  }

  private managerStatus(n: Node, voters: readonly string[], status: Awaited<ReturnType<SwarmNode['raftStatus']>> | undefined, probed?: Map<string, boolean>): Record<string, unknown> | undefined {
    if (!voters.includes(n.id)) return undefined;
    const leader = status?.leader === n.id;
    let reachability = 'unknown';
    if (status !== undefined) {
      if (n.id === status.id) reachability = 'reachable';
      else if (status.role === 'leader') reachability = status.progress[n.id]?.state === 'replicate' ? 'reachable' : 'unreachable';
      // A follower sees the others through its own streams (Raft traffic flows from the leader,
      // and a follower answers on its stream to it), as SwarmKit reports each member from the local view.
      else reachability = leader || probed?.get(n.id) === true ? 'reachable' : 'unreachable';
    }
    return { Leader: leader, Reachability: reachability, Addr: n.status.addr };
  }

  private findNode(nodes: readonly Node[], ref: string): Node {
    const exact = nodes.find((n) => n.id === ref) ?? nodes.filter((n) => n.spec.annotations.name === ref);
    if (!Array.isArray(exact)) return exact;
    if (exact.length === 1) return exact[0]!;
    const prefixed = nodes.filter((n) => n.id.startsWith(ref));
    if (prefixed.length === 1 && exact.length === 0) return prefixed[0]!;
    if (exact.length > 1 || prefixed.length > 1) throw new NodeError('AMBIGUOUS', `node ${ref} is ambiguous (${[...exact, ...prefixed].length} matches)`, 400);
    throw new NodeError('NOT_FOUND', `node ${ref} not found`, 404);
  }

  private async updateNode(ref: string, r: Request): Promise<undefined> {
    const node = this.node;
    const view = await node.readBarrier();
    const found = this.findNode(view.store.list('node'), ref);
    const version = versionParam(r.query, true);
    const role = field(r.body, 'Role', (v): v is 'manager' | 'worker' => v === 'manager' || v === 'worker', "'manager' or 'worker'") ?? found.spec.role;
    const availability = field(r.body, 'Availability', (v): v is 'active' | 'pause' | 'drain' => v === 'active' || v === 'pause' || v === 'drain', "'active', 'pause' or 'drain'") ?? found.spec.availability;
    const labels = field(r.body, 'Labels', isLabels, 'a map of strings') ?? found.spec.annotations.labels;
    const name = field(r.body, 'Name', isString, 'a string') ?? found.spec.annotations.name;
    if (version !== found.meta.version) throw new NodeError('VERSION_CONFLICT', `node ${found.id}: version ${version} is out of date (now ${found.meta.version}); read it again`, 409);
    let expected = version;
    if (found.spec.role === 'manager' && role === 'worker') {
      // Demotion leaves the Raft group first, refusing to break quorum or to demote the last manager.
      await node.removeVoter(found.id, true);
      expected = null as unknown as number;
    }
    await node.writeEvents([{ type: 'node.updated', v: 1, at: node.env.clock.now(), id: found.id, spec: { annotations: { name: name === '' ? found.spec.annotations.name : name, labels }, role, availability }, expectedVersion: expected }]);
    return undefined;
  }

  private async removeNode(ref: string, force: boolean): Promise<undefined> {
    const node = this.node;
    const view = await node.readBarrier();
    const found = this.findNode(view.store.list('node'), ref);
    if (view.conf.voters.includes(found.id) || found.spec.role === 'manager') {
      throw new NodeError('IS_MANAGER', `node ${found.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`, 409);
    }
    if (!force && (await this.reachable(found.status.addr))) {
      throw new NodeError('NODE_UP', `node ${found.id} is not down and can't be removed (use --force)`, 409);
    }
    const security = view.security!;
    const until = security.issued[found.id]?.notAfter ?? node.env.clock.now() + security.nodeCertValidityMs;
    await node.writeSecurity({ kind: 'nodeRevoked', nodeId: found.id, until });
    await node.writeEvents([{ type: 'node.removed', v: 1, at: node.env.clock.now(), id: found.id, expectedVersion: null }]);
    return undefined;
  }

  /** Whether a node answers on its cluster port within a second. */
  private async reachable(addr: string): Promise<boolean> {
    if (addr === '') return false;
    const tls = this.node.tls;
    try {
      await tlsRequest(addr, { type: 'ping' }, { ca: splitPem(tls.rootsPem), key: tls.keyPem, cert: tls.certPem, timeoutMs: 1000 });
      return true;
    } catch (error) {
      // An answer, even a refusal, means it is up.
      return (error as { code?: string }).code !== undefined && !['RPC_TIMEOUT', 'PEER_CONNECTION'].includes((error as { code: string }).code);
    }
  }
}

/**
 * The request's body as text, read with 'data' and 'end' listeners rather than `for await`: the
 * async iterator costs a promise and a microtask hop per chunk, on every request of the control
 * API. A body over `max` bytes is refused (413) as soon as it passes the limit; the rest is not kept.
 */
function readBody(req: http.IncomingMessage, max: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength;
      if (size > max) {
        done();
        reject(new NodeError('BAD_REQUEST', `request body over ${max} bytes`, 413));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    };
    // The client's connection failed mid-body (e.g. 'aborted'): its condition, not the node's.
    const onError = (error: Error): void => {
      done();
      reject(new NodeError('BAD_REQUEST', `the request body could not be read: ${error.message}`));
    };
    // A client gone before the end of its body: nothing more will come.
    const onClose = (): void => {
      done();
      reject(new NodeError('BAD_REQUEST', 'the request closed before its body ended'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

// The inspection stream of a real node (`GET /inspect`, read by the visualizer's live source):
// `swarm init` in its own OS process on loopback, read through its control socket. Covered, in
// order: the first line is the actor tree with the Raft peer and its state; a service created
// through the control API shows its actor.started within a second (the time is printed); a
// secret with a known value, used by a running process task (so its bytes travel in a journal
// event, the dispatcher's assignments and the executor's prepare), never appears in the raw text
// of the stream; a kinds filter; and closing: the node unsubscribes (no stream left open), a new
// stream still works and the node stays healthy.
import http from 'node:http';
import https from 'node:https';
import { openLiveSource, splitPem, StateDir, type LiveStream } from '../../cli/index.js';
import { Cluster, freePort } from './harness.js';
import { clusterHelpers, waitFor, type Json } from './helpers.js';

const TEST_TIMEOUT_MS = 120_000;
const NS_PER_MS = 1_000_000;
/** The secret's value: it must not appear in any line of the stream, nor its base64. */
const SECRET_VALUE = 'inspect-secret-7f3a9c1e-do-not-stream';
const CONFIG_VALUE = 'inspect-config-5b2d-do-not-stream';

let cluster: Cluster;
let stateDir: string;
/** The node's TCP control API (manager client certificates only). */
let controlAddr: string;
const { api, withLogs, running, updateService, startSwarm } = clusterHelpers(() => cluster, { nodes: ['m1'] });

/** A live source whose records and end are kept for the test to look at. */
interface Watched {
  readonly records: Record<string, unknown>[];
  readonly source: LiveStream;
  /** Resolves with onEnd's error (undefined for a clean end). */
  readonly ended: Promise<Error | undefined>;
  /** When each record arrived (Date.now()), by index. */
  readonly arrivals: number[];
}

function watch(kinds?: readonly string[]): Watched {
  const records: Record<string, unknown>[] = [];
  const arrivals: number[] = [];
  let resolveEnd: (error: Error | undefined) => void = () => undefined;
  const ended = new Promise<Error | undefined>((resolve) => (resolveEnd = resolve));
  const source = openLiveSource({ stateDir, ...(kinds === undefined ? {} : { kinds }) }, (batch) => {
    const now = Date.now();
    for (const r of batch) {
      records.push(r);
      arrivals.push(now);
    }
  }, (error) => resolveEnd(error));
  return { records, source, ended, arrivals };
}

/** The raw text of a `GET /inspect` stream, as the node writes it, until `stop()`. */
function rawStream(): { text: () => string; stop: () => void } {
  let text = '';
  const req = http.request({ socketPath: new StateDir(stateDir).controlSocket, method: 'GET', path: '/inspect', agent: false }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
  });
  req.on('error', () => undefined);
  req.end();
  return { text: () => text, stop: () => req.destroy() };
}

interface TreeActor {
  address: string;
  kind: string;
  status: string;
  state: unknown;
  children: TreeActor[];
}

function flatten(actors: readonly TreeActor[]): TreeActor[] {
  return actors.flatMap((a) => [a, ...flatten(a.children)]);
}

beforeAll(async () => {
  cluster = new Cluster('inspect');
  controlAddr = `127.0.0.1:${await freePort()}`;
  stateDir = (await startSwarm([], { extra: ['--control-addr', controlAddr] })).stateDir;
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stopAll();
});

describe('GET /inspect on a real node', () => {
  test('tree first, service actors within a second, no secret bytes, a kinds filter, and close unsubscribes', () => withLogs(async () => {
    const main = watch();
    const raw = rawStream();
    const tree = await waitFor('the tree line', 10_000, async () => main.records[0]);
    expect(tree['kind']).toBe('tree');
    expect(typeof tree['t']).toBe('number');
    const info = await api('GET', '/info');
    expect(tree['node']).toBe(info.Swarm.NodeID);
    const actors = flatten(tree['actors'] as TreeActor[]);
    const peer = actors.find((a) => a.address.endsWith('/raft/peer'));
    expect(peer).toMatchObject({ kind: 'raft-peer', status: 'running' });
    expect(peer!.state).toBeDefined();
    expect(peer!.state).not.toBeNull();
    expect(await api('GET', '/debug/inspect')).toEqual({ streams: 2 });

    // A service: its actor starts, and the record comes, within a second of the request.
    const secretId = (await api<{ ID: string }>('POST', '/secrets/create', { Name: 'inspect-secret', Data: Buffer.from(SECRET_VALUE).toString('base64') })).ID;
    const configId = (await api<{ ID: string }>('POST', '/configs/create', { Name: 'inspect-config', Data: Buffer.from(CONFIG_VALUE).toString('base64') })).ID;
    const from = main.records.length;
    const before = Date.now();
    const serviceId = (await api<{ ID: string }>('POST', '/services/create', {
      Name: 'watched',
      TaskTemplate: {
        ContainerSpec: {
          Command: [process.execPath], Args: ['-e', 'setInterval(() => {}, 1000)'], StopGracePeriod: 1_000 * NS_PER_MS,
          Secrets: [{ SecretID: secretId, SecretName: 'inspect-secret', File: { Name: 'inspect-secret', UID: '0', GID: '0', Mode: 0o444 } }],
          Configs: [{ ConfigID: configId, ConfigName: 'inspect-config', File: { Name: '/inspect.conf', UID: '0', GID: '0', Mode: 0o444 } }],
        },
        RestartPolicy: { Condition: 'none' },
        Runtime: 'process',
      },
      Mode: { Replicated: { Replicas: 1 } },
    })).ID;
    const created = Date.now();
    const isServiceStart = (r: Record<string, unknown>): boolean => r['kind'] === 'actor.started' && r['actorKind'] === 'service' && String(r['address']).includes(serviceId);
    const at = await waitFor('actor.started of the service actor', 5_000, async () => {
      const i = main.records.findIndex((r, k) => k >= from && isServiceStart(r));
      return i < 0 ? undefined : main.arrivals[i];
    }, { intervalMs: 5 });
    console.log(`inspect: the service actor's actor.started arrived ${at - before} ms after POST /services/create was sent (${at - created} ms after it answered)`);
    expect(at - before).toBeLessThan(1_000);

    // The task runs with its secret and config: their bytes went through the journal, the
    // dispatcher's assignments and the executor's prepare, all inspected.
    await running(serviceId, 1);
    const kindsSeen = new Set(main.records.map((r) => r['kind']));
    expect([...kindsSeen]).toEqual(expect.arrayContaining(['tree', 'actor.started', 'message.delivered', 'snapshot.changed']));
    const types = new Set(main.records.filter((r) => r['kind'] === 'message.delivered').map((r) => (r['message'] as { type?: string } | null)?.type));
    expect([...types]).toEqual(expect.arrayContaining(['agent.assignments', 'executor.prepare']));

    // The kinds filter: only actor.started after the tree.
    const started = watch(['actor.started']);
    await waitFor('the filtered tree line', 10_000, async () => started.records[0]);
    await updateService(serviceId, (spec) => ({ ...spec, Mode: { Replicated: { Replicas: 2 } } }));
    await running(serviceId, 2);
    await waitFor('a filtered actor.started', 5_000, async () => (started.records.length > 1 ? true : undefined));
    expect(started.records[0]!['kind']).toBe('tree');
    expect(new Set(started.records.slice(1).map((r) => r['kind']))).toEqual(new Set(['actor.started']));

    const text = raw.text();
    const lines = text.split('\n').filter((l) => l !== '');
    console.log(`inspect: ${main.records.length} records on the live source, ${lines.length} lines (${text.length} characters) on the raw stream, over ${Date.now() - before} ms`);
    for (const value of [SECRET_VALUE, CONFIG_VALUE]) {
      expect(text).not.toContain(value);
      expect(text).not.toContain(Buffer.from(value).toString('base64'));
      expect(text).not.toContain(Buffer.from(value).toString('hex'));
      expect(JSON.stringify(main.records)).not.toContain(value);
    }
    expect(text).toContain(`"data":{"bytes":${Buffer.byteLength(SECRET_VALUE)}}`);
    expect(lines.every((l) => typeof JSON.parse(l) === 'object')).toBe(true);
    expect(lines.filter((l) => l.includes('"kind":"dropped"'))).toEqual([]);

    // Closing: every stream ends, the node unsubscribes, and a new stream still works.
    main.source.close();
    started.source.close();
    raw.stop();
    expect(await main.ended).toBeUndefined();
    expect(await started.ended).toBeUndefined();
    await waitFor('no inspection stream open', 5_000, async () => ((await api('GET', '/debug/inspect')).streams === 0 ? true : undefined), { intervalMs: 20 });
    const again = watch();
    const second = await waitFor('the tree line of a second stream', 10_000, async () => again.records[0]);
    expect(flatten(second['actors'] as TreeActor[]).some((a) => a.address.includes(serviceId))).toBe(true);
    expect(await api('GET', '/debug/inspect')).toEqual({ streams: 1 });
    again.source.close();
    expect(await again.ended).toBeUndefined();
    expect(await api<string>('GET', '/_ping')).toBe('OK');
    expect((await api<Json>('GET', '/info')).Swarm.LocalNodeState).toBe('active');
    await waitFor('no inspection stream open', 5_000, async () => ((await api('GET', '/debug/inspect')).streams === 0 ? true : undefined), { intervalMs: 20 });
  }), TEST_TIMEOUT_MS);

  test('over TCP with a manager certificate: the same stream', () => withLogs(async () => {
    const creds = cluster.tls('m1');
    const i = controlAddr.lastIndexOf(':');
    const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = https.request({
        host: controlAddr.slice(0, i), port: Number(controlAddr.slice(i + 1)), path: '/inspect?kinds=snapshot.changed', method: 'GET',
        key: creds.key, cert: creds.cert, ca: splitPem(creds.ca), checkServerIdentity: () => undefined, agent: false,
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          const newline = text.indexOf('\n');
          if (newline >= 0) {
            resolve(JSON.parse(text.slice(0, newline)) as Record<string, unknown>);
            req.destroy();
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(first['kind']).toBe('tree');
    await waitFor('no inspection stream open', 5_000, async () => ((await api('GET', '/debug/inspect')).streams === 0 ? true : undefined), { intervalMs: 20 });
  }), TEST_TIMEOUT_MS);

  test('a bad kind is refused; a node that is not running ends the source with an error', () => withLogs(async () => {
    const refused = watch(['actor.started', 'no.such']);
    const error = await refused.ended;
    expect(error).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
    expect(error!.message).toMatch(/kinds: 'no\.such' is not one of/);
    const nowhere = await new Promise<Error | undefined>((resolve) => {
      openLiveSource({ stateDir: `${stateDir}-missing` }, () => undefined, resolve);
    });
    expect(nowhere).toMatchObject({ code: 'NOT_RUNNING' });
    expect(await api('GET', '/debug/inspect')).toEqual({ streams: 0 });
  }), TEST_TIMEOUT_MS);
});

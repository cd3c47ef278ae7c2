// `swarm viz`'s web server: the page (bundled into dist/viz by tools/build.js) and a small JSON API
// over one Source. It listens on 127.0.0.1 only. The page asks for views of one moment (`at`, a
// record number) and for windows of the timeline, never for the whole history, so a trace of a
// million records opens without the page holding it. Changes are pushed as server-sent events,
// at most ten a second.
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { RealClock } from '../../runtime/env/real/clock.js';
import { activeStates, chartMermaid, chartSvg, type Chart } from './chart.js';
import { chartFor } from './machines.js';
import type { Source } from './sources.js';

export interface VizServerOptions {
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** The directory holding index.html and app.js (default: the package's dist/viz). */
  readonly pageDir?: string;
}

export interface VizServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

class BadRequest extends Error {}

const PUSH_INTERVAL_MS = 100;
const MESSAGES_LIMIT_MAX = 2_000;
const RECENT_CHANGES = 5;

/** The package's root: the nearest directory above this module with the package.json of `swarm`. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'swarm') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('swarm viz: cannot find the swarm package root (its package.json) above this module');
    dir = up;
  }
}

export function defaultPageDir(): string {
  return path.join(packageRoot(), 'dist', 'viz');
}

function intParam(query: URLSearchParams, name: string, fallback: number | undefined, max = Number.MAX_SAFE_INTEGER): number {
  const raw = query.get(name);
  if (raw === null || raw === '') {
    if (fallback === undefined) throw new BadRequest(`the query parameter '${name}' is required`);
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0 || value > max) throw new BadRequest(`the query parameter '${name}' must be an integer from 0 to ${max}, got '${raw}'`);
  return value;
}

/** The chart's transitions that the change from `from` to `to` took (by the states it left and entered). */
export function transitionsTaken(chart: Chart, from: unknown, to: unknown, trigger: string | undefined): string[] {
  const before = new Set(activeStates(from));
  const after = new Set(activeStates(to));
  const entered = [...after].filter((s) => !before.has(s));
  const candidates = chart.transitions.filter((t) => before.has(t.source) && t.targets.some((target) => entered.includes(target)));
  if (trigger !== undefined) {
    const base = trigger.split(':')[0];
    const named = candidates.filter((t) => t.event === trigger || t.event === base);
    if (named.length > 0) return named.map((t) => t.id);
  }
  return candidates.map((t) => t.id);
}

export async function startVizServer(source: Source, options: VizServerOptions = {}): Promise<VizServer> {
  const pageDir = options.pageDir ?? defaultPageDir();
  const page = (name: string): Buffer => {
    const file = path.join(pageDir, name);
    if (!existsSync(file)) throw new Error(`swarm viz: the page is not built (no ${file}): run npm run build`);
    return readFileSync(file);
  };
  // Checked at start: a server without its page is of no use.
  const html = page('index.html');
  page('app.js');
  const svgCache = new Map<string, Promise<string>>();
  const clock = new RealClock();
  const streams = new Set<http.ServerResponse>();
  let pushPending = false;

  const meta = (): Record<string, unknown> => {
    const history = source.history;
    const count = history.count;
    return {
      ...source.status(),
      count,
      dropped: history.dropped,
      firstT: count > 0 ? history.timeOf(0) : 0,
      lastT: count > 0 ? history.timeOf(count - 1) : 0,
      types: history.messageTypes(),
      nodes: history.nodesAt(Math.max(0, count - 1)).map((n) => n.id),
      violations: history.violations.slice(0, 20),
    };
  };

  const push = (): void => {
    pushPending = false;
    const line = `data: ${JSON.stringify(meta())}\n\n`;
    for (const res of streams) res.write(line);
  };
  const unsubscribe = source.onChange(() => {
    if (pushPending || streams.size === 0) return;
    pushPending = true;
    clock.setTimeout(push, PUSH_INTERVAL_MS);
  });

  // The source's own description of a machine (a trace's or a node's `machine` records) first;
  // the machines this build knows otherwise.
  const chartOf = (kind: string): Chart | undefined => source.history.charts.get(kind) ?? chartFor(kind);

  const at = (query: URLSearchParams): number => {
    const count = source.history.count;
    if (count === 0) throw new BadRequest('no records yet');
    return Math.min(intParam(query, 'at', count - 1), count - 1);
  };

  const api = async (route: string, query: URLSearchParams, res: http.ServerResponse): Promise<unknown> => {
    const history = source.history;
    switch (route) {
      case '/api/meta':
        return meta();
      case '/api/view': {
        const seq = at(query);
        return { at: seq, t: history.timeOf(seq), kind: history.kindAt(seq), nodes: history.nodesAt(seq), actors: history.actorsAt(seq) };
      }
      case '/api/actor': {
        const seq = at(query);
        const address = query.get('address') ?? '';
        const actor = history.actorAt(address, seq);
        if (actor === undefined) throw new BadRequest(`no actor ${address} at record ${seq}`);
        const chart = chartOf(actor.kind);
        const changes = history.stateChanges(address, seq, RECENT_CHANGES).map((c) => ({ ...c, transitions: chart === undefined ? [] : transitionsTaken(chart, c.from, c.to, c.trigger) }));
        return {
          at: seq,
          actor,
          chart: chart !== undefined,
          active: chart === undefined ? [] : activeStates(actor.state),
          changes,
          previousChange: history.stateChangeNear(address, seq, -1) ?? null,
          nextChange: history.stateChangeNear(address, seq, 1) ?? null,
        };
      }
      case '/api/messages': {
        const seq = at(query);
        const limit = intParam(query, 'limit', 200, MESSAGES_LIMIT_MAX);
        const filter = (name: string): string | undefined => query.get(name) ?? undefined;
        return history.messages({ at: seq, limit, ...optional('node', filter('node')), ...optional('actor', filter('actor')), ...optional('type', filter('type')) });
      }
      case '/api/record': {
        const seq = intParam(query, 'seq', undefined);
        if (seq >= history.count) throw new BadRequest(`no record ${seq} (the history has ${history.count})`);
        const record = source.record(seq);
        return { seq, record: record ?? null, held: record !== undefined };
      }
      case '/api/chart': {
        const kind = query.get('kind') ?? '';
        const chart = chartOf(kind);
        if (chart === undefined) throw new BadRequest(`no statechart for actor kind '${kind}' (only xstate machines have one)`);
        const format = query.get('format') ?? 'svg';
        if (format === 'mermaid') {
          res.setHeader('Content-Disposition', `attachment; filename="${kind}.mmd"`);
          return { text: chartMermaid(chart), type: 'text/plain; charset=utf-8' };
        }
        if (format !== 'svg') throw new BadRequest(`format must be svg or mermaid, got '${format}'`);
        let svg = svgCache.get(kind);
        if (svg === undefined) {
          svg = chartSvg(chart);
          svgCache.set(kind, svg);
        }
        if (query.get('download') === '1') res.setHeader('Content-Disposition', `attachment; filename="${kind}.svg"`);
        return { text: await svg, type: 'image/svg+xml' };
      }
      default:
        return undefined;
    }
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://viz');
    const send = (status: number, type: string, body: string | Buffer): void => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'text/plain', 'only GET');
    if (url.pathname === '/' || url.pathname === '/index.html') return send(200, 'text/html; charset=utf-8', html);
    if (url.pathname === '/app.js') return send(200, 'text/javascript; charset=utf-8', page('app.js'));
    if (url.pathname === '/api/stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
      res.write(`data: ${JSON.stringify(meta())}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return undefined;
    }
    api(url.pathname, url.searchParams, res).then(
      (body) => {
        if (body === undefined) return send(404, 'application/json', JSON.stringify({ message: `no such path ${url.pathname}` }));
        const raw = body as { text?: string; type?: string };
        if (typeof raw.text === 'string' && typeof raw.type === 'string') return send(200, raw.type, raw.text);
        return send(200, 'application/json', JSON.stringify(body));
      },
      (error: unknown) => {
        const status = error instanceof BadRequest ? 400 : 500;
        send(status, 'application/json', JSON.stringify({ message: (error as Error).message }));
      },
    );
    return undefined;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: async () => {
      unsubscribe();
      for (const res of streams) res.end();
      streams.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined || value === '' ? {} : { [key]: value }) as { [P in K]?: string };
}

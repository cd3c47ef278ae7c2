// The visualizer's page: plain DOM, no framework. It holds only what is on screen: the view of one
// moment (`at`, a record number) and a window of the timeline, fetched from the server's API
// (cli/viz/server.ts). The server pushes its size as server-sent events.
import type { ActorView, MessageRow, NodeView, StateChange } from '../history.js';

interface Meta {
  description: string;
  live: boolean;
  loaded: boolean;
  error?: string;
  bytesRead: number;
  bytesTotal: number;
  count: number;
  dropped: number;
  types: string[];
  nodes: string[];
  violations: { seq: number; t: number; message: string }[];
}

interface View {
  at: number;
  t: number;
  kind: string;
  nodes: NodeView[];
  actors: ActorView[];
}

interface ActorDetail {
  actor: ActorView;
  chart: boolean;
  active: string[];
  changes: (StateChange & { transitions: string[] })[];
  previousChange: number | null;
  nextChange: number | null;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
};

const slider = $<HTMLInputElement>('slider');
const follow = $<HTMLInputElement>('follow');
const fNode = $<HTMLSelectElement>('f-node');
const fActor = $<HTMLInputElement>('f-actor');
const fType = $<HTMLInputElement>('f-type');

let meta: Meta | undefined;
let at = 0;
let selected: string | undefined;
let chosenSeq: number | undefined;
let rendering = false;
let dirty = false;
let firstRender = true;
let firstMeta = true;
const charts = new Map<string, Promise<string>>();
let shownChartKind: string | undefined;

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path);
  const body = (await res.json()) as T & { message?: string };
  if (!res.ok) throw new Error(body.message ?? `${path}: HTTP ${res.status}`);
  return body;
}

function showError(text: string | undefined): void {
  const box = $('error');
  box.textContent = text ?? '';
  box.classList.toggle('shown', text !== undefined && text !== '');
}

function stateText(state: unknown): string {
  if (state === undefined || state === null) return '';
  if (typeof state === 'string') return state;
  if (typeof state === 'object' && !Array.isArray(state)) {
    return Object.entries(state as Record<string, unknown>)
      .map(([k, v]) => `${k}:${typeof v === 'string' ? v : stateText(v)}`)
      .join(' ');
  }
  return JSON.stringify(state);
}

function formatTime(t: number): string {
  // Live nodes report wall-clock ms; the simulator, virtual ms from 0.
  return t > 1e12 ? new Date(t).toISOString().slice(11, 23) : `${t.toLocaleString('en-US')} ms`;
}

/** An address with a long node id (a live node's) cut to its first characters, for narrow columns. */
function short(address: string | null): string {
  if (address === null) return '—';
  const slash = address.indexOf('/');
  const node = slash < 0 ? address : address.slice(0, slash);
  return node.length > 12 ? `${node.slice(0, 6)}…${slash < 0 ? '' : address.slice(slash)}` : address;
}

function element(tag: string, className: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (className !== '') e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderTree(view: View): void {
  const tree = $('tree');
  const fragment = document.createDocumentFragment();
  for (const node of view.nodes) {
    const box = element('div', `node ${node.status}`);
    box.dataset.node = node.id;
    box.append(element('div', 'node-title', node.status === 'up' ? `node ${node.id}` : `node ${node.id} (${node.status})`));
    for (const actor of view.actors) {
      if (actor.node !== node.id) continue;
      const parts = actor.address.split('/');
      const row = element('div', `actor ${actor.status}${actor.address === selected ? ' selected' : ''}`);
      row.dataset.address = actor.address;
      row.dataset.status = actor.status;
      row.dataset.kind = actor.kind;
      row.style.paddingLeft = `${10 + 12 * (parts.length - 1)}px`;
      const name = element('span', 'name', parts[parts.length - 1]);
      name.append(' ', element('span', 'kind', actor.kind));
      if (actor.status === 'stopped' || actor.status === 'failed') name.append(' ', element('span', 'badge dead', actor.status === 'failed' ? 'failed' : 'dead'));
      if (actor.status === 'restarting') name.append(' ', element('span', 'badge restarting', 'restarting'));
      if (actor.status === 'passive') name.append(' ', element('span', 'badge passive', 'passive'));
      const meta = element('span', 'meta', `✉${actor.depth}${actor.restarts > 0 ? ` ↻${actor.restarts}` : ''}`);
      meta.title = `mailbox depth ${actor.depth}, restarts ${actor.restarts}${actor.reason === undefined ? '' : `, ${actor.reason}`}`;
      row.append(name, meta);
      const state = stateText(actor.state);
      if (state !== '') row.append(element('span', 'state-text', state));
      box.append(row);
    }
    fragment.append(box);
  }
  tree.replaceChildren(fragment);
}

async function chartSvg(kind: string): Promise<string> {
  let svg = charts.get(kind);
  if (svg === undefined) {
    svg = fetch(`/api/chart?kind=${encodeURIComponent(kind)}`).then(async (res) => {
      if (!res.ok) throw new Error(((await res.json()) as { message: string }).message);
      return res.text();
    });
    charts.set(kind, svg);
  }
  return svg;
}

async function renderDetail(detail: ActorDetail | undefined): Promise<void> {
  const chartBox = $('chart');
  const exportSvg = $<HTMLAnchorElement>('export-svg');
  const exportMermaid = $<HTMLAnchorElement>('export-mermaid');
  if (detail === undefined) {
    $('detail-title').textContent = selected === undefined ? 'select an actor' : `${selected} (not started yet at this moment)`;
    $('detail-state').textContent = '';
    $('changes').replaceChildren();
    return;
  }
  const { actor } = detail;
  $('detail-title').textContent = `${actor.address} · ${actor.kind} · ${actor.status}`;
  $('detail-state').textContent = stateText(actor.state);
  const kind = encodeURIComponent(actor.kind);
  for (const [a, href] of [[exportSvg, `/api/chart?kind=${kind}&download=1`], [exportMermaid, `/api/chart?kind=${kind}&format=mermaid`]] as const) {
    a.href = detail.chart ? href : '';
    a.setAttribute('aria-disabled', String(!detail.chart));
  }
  if (!detail.chart) {
    shownChartKind = undefined;
    chartBox.replaceChildren(element('div', 'none', `A ${actor.kind} actor is not a state machine: it has no statechart. Its state: ${stateText(actor.state) || '(none)'}`));
  } else {
    if (shownChartKind !== actor.kind) {
      chartBox.innerHTML = await chartSvg(actor.kind);
      shownChartKind = actor.kind;
    }
    const active = new Set(detail.active);
    for (const g of chartBox.querySelectorAll<SVGGElement>('g.state')) g.classList.toggle('active', active.has(g.dataset.state ?? '\u0000'));
    const recent = new Set(detail.changes.flatMap((c) => c.transitions));
    for (const g of chartBox.querySelectorAll<SVGGElement>('g.transition')) g.classList.toggle('recent', recent.has(g.dataset.transition ?? '\u0000'));
  }
  const list = $('changes');
  list.replaceChildren(
    ...detail.changes
      .slice()
      .reverse()
      .map((c) => {
        const li = element('li', '', `#${c.seq} ${formatTime(c.t)}: ${stateText(c.from) || '∅'} → ${stateText(c.to)}${c.trigger === undefined ? '' : ` on ${c.trigger}`}`);
        li.dataset.seq = String(c.seq);
        return li;
      }),
  );
  ($<HTMLButtonElement>('prev-change')).disabled = detail.previousChange === null;
  ($<HTMLButtonElement>('next-change')).disabled = detail.nextChange === null;
  $('prev-change').dataset.seq = String(detail.previousChange ?? '');
  $('next-change').dataset.seq = String(detail.nextChange ?? '');
}

function renderTimeline(result: { rows: MessageRow[]; matched: number }): void {
  $('matched').textContent = `${result.matched.toLocaleString('en-US')} messages up to this moment${result.matched > result.rows.length ? ` (the last ${result.rows.length} shown)` : ''}`;
  const body = document.createElement('tbody');
  for (const row of result.rows) {
    const tr = element('tr', `${row.kind}${row.kind === 'deliver' || row.kind === 'drop' || row.kind === 'duplicate' ? ' net' : ''}${row.seq === chosenSeq ? ' chosen' : ''}`);
    tr.dataset.seq = String(row.seq);
    tr.dataset.type = row.type;
    const cells = [String(row.seq), formatTime(row.t), short(row.from), '→', short(row.to), row.type, row.kind === 'delivered' ? '' : row.kind];
    cells.forEach((text, i) => tr.append(element('td', i === 5 ? 'type' : '', text)));
    tr.title = `${row.from ?? '(outside)'} → ${row.to}: ${row.type}`;
    body.append(tr);
  }
  $('timeline').replaceChildren(body);
  const wrap = $('timeline-wrap');
  wrap.scrollTop = wrap.scrollHeight;
}

function query(): string {
  const params = new URLSearchParams({ at: String(at), limit: '300' });
  if (fNode.value !== '') params.set('node', fNode.value);
  if (fActor.value.trim() !== '') params.set('actor', fActor.value.trim());
  if (fType.value.trim() !== '') params.set('type', fType.value.trim());
  return params.toString();
}

/** Renders the moment `at`; a call while one is running makes it run once more after. */
async function render(): Promise<void> {
  if (rendering) {
    dirty = true;
    return;
  }
  if (meta === undefined || meta.count === 0) return;
  rendering = true;
  try {
    const seq = at;
    const [view, messages, detail] = await Promise.all([
      getJson<View>(`/api/view?at=${seq}`),
      getJson<{ rows: MessageRow[]; matched: number }>(`/api/messages?${query()}`),
      selected === undefined ? Promise.resolve(undefined) : getJson<ActorDetail>(`/api/actor?at=${seq}&address=${encodeURIComponent(selected)}`).catch(() => undefined),
    ]);
    $('position').textContent = `record ${(view.at + 1).toLocaleString('en-US')} of ${meta.count.toLocaleString('en-US')} · ${formatTime(view.t)} · ${view.kind}`;
    renderTree(view);
    renderTimeline(messages);
    await renderDetail(detail);
    document.body.dataset.at = String(view.at);
    if (firstRender) {
      firstRender = false;
      document.body.dataset.rendered = 'true';
      performance.mark('viz-first-render');
    }
  } catch (error) {
    showError((error as Error).message);
  } finally {
    rendering = false;
    if (dirty) {
      dirty = false;
      void render();
    }
  }
}

function moveTo(seq: number): void {
  if (meta === undefined || meta.count === 0) return;
  at = Math.max(0, Math.min(meta.count - 1, seq));
  slider.value = String(at);
  if (at < meta.count - 1) follow.checked = false;
  void render();
}

function onMeta(next: Meta): void {
  const grew = meta === undefined || next.count !== meta.count;
  const wasLoaded = meta?.loaded ?? false;
  meta = next;
  $('source').textContent = next.description;
  const progress = next.loaded ? '' : ` · reading ${next.bytesTotal > 0 ? Math.floor((100 * next.bytesRead) / next.bytesTotal) : 0}%`;
  $('status').textContent = `${next.count.toLocaleString('en-US')} records${next.dropped > 0 ? ` · ${next.dropped.toLocaleString('en-US')} dropped by the stream` : ''}${progress}`;
  document.body.dataset.count = String(next.count);
  showError(next.error);
  const violations = $('violations');
  if (violations.childElementCount !== next.violations.length) {
    violations.replaceChildren(...next.violations.map((v) => {
      const line = element('div', '', `violation at record ${v.seq + 1} (${formatTime(v.t)}): ${v.message}`);
      const go = element('button', '', 'go there');
      go.addEventListener('click', () => moveTo(v.seq));
      line.append(go);
      return line;
    }));
    violations.classList.toggle('shown', next.violations.length > 0);
  }
  slider.max = String(Math.max(0, next.count - 1));
  if (fNode.options.length - 1 !== next.nodes.length) {
    const current = fNode.value;
    fNode.replaceChildren(new Option('all nodes', ''), ...next.nodes.map((n) => new Option(n, n)));
    fNode.value = current;
  }
  const types = $('types');
  if (types.childElementCount !== next.types.length) types.replaceChildren(...next.types.map((t) => new Option(t)));
  document.body.dataset.loaded = String(next.loaded);
  // A trace is shown while it is read, following its end (unless the user has moved away), and
  // at its end once read; a live source follows its end while `follow` is on.
  if (firstMeta) {
    firstMeta = false;
    follow.checked = true;
  }
  if (next.count > 0 && ((grew && follow.checked) || (next.loaded && !wasLoaded && follow.checked))) moveTo(next.count - 1);
}

function connect(): void {
  const events = new EventSource('/api/stream');
  events.onmessage = (event: MessageEvent<string>) => onMeta(JSON.parse(event.data) as Meta);
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) showError('lost the connection to swarm viz (is it still running?)');
  };
}

slider.addEventListener('input', () => moveTo(Number(slider.value)));
$('start').addEventListener('click', () => moveTo(0));
$('end').addEventListener('click', () => moveTo(Number.MAX_SAFE_INTEGER));
$('back').addEventListener('click', () => moveTo(at - 1));
$('forward').addEventListener('click', () => moveTo(at + 1));
follow.addEventListener('change', () => {
  if (follow.checked) moveTo(Number.MAX_SAFE_INTEGER);
});
for (const id of ['prev-change', 'next-change']) {
  $(id).addEventListener('click', () => {
    const seq = Number($(id).dataset.seq);
    if ($(id).dataset.seq !== '' && Number.isInteger(seq)) moveTo(seq);
  });
}
$('tree').addEventListener('click', (event) => {
  const row = (event.target as HTMLElement).closest<HTMLElement>('.actor');
  if (row?.dataset.address === undefined) return;
  selected = row.dataset.address;
  void render();
});
$('timeline').addEventListener('click', (event) => {
  const row = (event.target as HTMLElement).closest<HTMLElement>('tr');
  if (row?.dataset.seq === undefined) return;
  chosenSeq = Number(row.dataset.seq);
  for (const tr of $('timeline').querySelectorAll('tr.chosen')) tr.classList.remove('chosen');
  row.classList.add('chosen');
  const payload = $('payload');
  payload.textContent = 'loading…';
  getJson<{ seq: number; record: unknown; held: boolean }>(`/api/record?seq=${chosenSeq}`).then(
    (r) => {
      payload.textContent = r.held ? JSON.stringify(r.record, null, 2) : `record ${r.seq} is no longer held (a live source keeps the latest records only)`;
    },
    (error: unknown) => {
      payload.textContent = (error as Error).message;
    },
  );
});
$('only-actor').addEventListener('click', () => {
  if (selected === undefined) return;
  fActor.value = selected;
  void render();
});
$<HTMLInputElement>('fit').addEventListener('change', (event) => $('chart').classList.toggle('fit', (event.target as HTMLInputElement).checked));
for (const input of [fNode, fActor, fType]) input.addEventListener('input', () => void render());
document.addEventListener('keydown', (event) => {
  if (event.target instanceof HTMLInputElement && event.target !== slider) return;
  const step = event.shiftKey ? 100 : 1;
  const keys: Record<string, () => void> = {
    ArrowLeft: () => moveTo(at - step),
    ArrowRight: () => moveTo(at + step),
    Home: () => moveTo(0),
    End: () => moveTo(Number.MAX_SAFE_INTEGER),
    '[': () => $('prev-change').click(),
    ']': () => $('next-change').click(),
  };
  const action = keys[event.key];
  if (action !== undefined) {
    event.preventDefault();
    action();
  }
});
connect();

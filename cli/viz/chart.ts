// A state machine as a chart for `swarm viz`: plain data read off an xstate machine's state nodes
// (machineChart), drawn as a self-contained SVG laid out by elkjs (chartSvg) or written as
// Mermaid text (chartMermaid), and a snapshot's value as the set of chart states it makes active
// (activeStates). The page highlights by toggling classes on the SVG (`.state.active`,
// `.transition.recent`), never by laying it out again.
//
// Everything here is deterministic: the same machine gives the same chart and byte-identical SVG
// (states and transitions in definition order, no generated ids, coordinates rounded to one
// decimal, text measured in a monospace font rather than by a browser).
import ELK from 'elkjs/lib/elk.bundled.js';
import type { ELK as ElkApi, ElkEdgeSection, ElkExtendedEdge, ElkLabel, ElkNode } from 'elkjs/lib/elk.bundled.js';
import { assert, type Chart, type ChartState, type ChartTransition } from '../../runtime/index.js';

export { activeStates, machineChart, type Chart, type ChartState, type ChartStateType, type ChartTransition } from '../../runtime/index.js';

// ---------------------------------------------------------------------------------------------
// Shared walks.

function allStates(root: ChartState): ChartState[] {
  const out: ChartState[] = [];
  const visit = (s: ChartState): void => {
    out.push(s);
    s.children.forEach(visit);
  };
  visit(root);
  return out;
}

function parentId(id: string): string | undefined {
  if (id === '') return undefined;
  const dot = id.lastIndexOf('.');
  return dot < 0 ? '' : id.slice(0, dot);
}

/** The ancestors of an id from the root down, the id itself last. */
function lineage(id: string): string[] {
  if (id === '') return [''];
  const parts = id.split('.');
  return ['', ...parts.map((_, i) => parts.slice(0, i + 1).join('.'))];
}

/**
 * The state whose box holds a transition's edges: the deepest common ancestor of the source's
 * and the targets' parents (undefined: outside the root, for the root's own transitions).
 */
function edgeContainer(t: ChartTransition): string | undefined {
  const ends = [t.source, ...t.targets].map(parentId);
  if (ends.some((p) => p === undefined)) return undefined;
  const lines = ends.map((p) => lineage(p!));
  let common = lines[0]!;
  for (const line of lines.slice(1)) {
    let n = 0;
    while (n < common.length && n < line.length && common[n] === line[n]) n++;
    common = common.slice(0, n);
  }
  return common[common.length - 1];
}

// ---------------------------------------------------------------------------------------------
// Mermaid.

/**
 * The chart as Mermaid `stateDiagram-v2` text. The root is a composite state named after the
 * machine (its own transitions need a state to start from); ids are paths with '_' for '.',
 * labelled with their keys. Targetless transitions are self-loops. Each transition is written in
 * the block that declares both of its ends (Mermaid nests a state where it first meets it).
 */
export function chartMermaid(chart: Chart): string {
  const states = allStates(chart.root);
  const ids = mermaidIds(states, chart.machineId);
  const byContainer = new Map<string | undefined, ChartTransition[]>();
  for (const t of chart.transitions) {
    let container = edgeContainer(t);
    // Regions are separated by `--`: what belongs to the parallel state itself goes around it.
    while (container !== undefined && stateById(states, container).type === 'parallel') container = parentId(container);
    const list = byContainer.get(container) ?? [];
    list.push(t);
    byContainer.set(container, list);
  }
  const lines = ['stateDiagram-v2'];
  const edgeLines = (container: string | undefined, indent: string): void => {
    for (const t of byContainer.get(container) ?? []) {
      const from = ids.get(t.source)!;
      const label = mermaidText(t.label);
      for (const target of t.targets.length === 0 ? [t.source] : t.targets) lines.push(`${indent}${from} --> ${ids.get(target)!} : ${label}`);
    }
  };
  const declare = (s: ChartState, indent: string): void => {
    const id = ids.get(s.id)!;
    if (id !== s.key) lines.push(`${indent}state "${mermaidText(s.key)}" as ${id}`);
    if (s.children.length === 0) {
      if (id === s.key) lines.push(`${indent}${id}`);
      if (s.type === 'final') lines.push(`${indent}${id} --> [*]`);
      return;
    }
    lines.push(`${indent}state ${id} {`);
    const inner = `${indent}  `;
    if (s.type === 'parallel') {
      s.children.forEach((region, i) => {
        if (i > 0) lines.push(`${inner}--`);
        declare(region, inner);
      });
    } else {
      if (s.initial !== undefined) lines.push(`${inner}[*] --> ${ids.get(s.initial)!}`);
      for (const child of s.children) declare(child, inner);
      edgeLines(s.id, inner);
    }
    lines.push(`${indent}}`);
  };
  lines.push(`  [*] --> ${ids.get('')!}`);
  declare(chart.root, '  ');
  edgeLines(undefined, '  ');
  return `${lines.join('\n')}\n`;
}

function stateById(states: readonly ChartState[], id: string): ChartState {
  const s = states.find((x) => x.id === id);
  assert(s !== undefined, `no state '${id}' in the chart`);
  return s;
}

/** Mermaid ids: the path with '_' for '.' and for anything Mermaid does not take, made unique. */
function mermaidIds(states: readonly ChartState[], machineId: string): Map<string, string> {
  const ids = new Map<string, string>();
  const taken = new Set<string>();
  for (const s of states) {
    let base = (s.id === '' ? machineId : s.id).replace(/[^A-Za-z0-9_]/g, '_');
    if (base === '' || /^\d/.test(base)) base = `s_${base}`;
    let id = base;
    for (let n = 2; taken.has(id); n++) id = `${base}_${n}`;
    taken.add(id);
    ids.set(s.id, id);
  }
  return ids;
}

/** Text inside a Mermaid line: no line breaks, quotes, statement separators or entity starts. */
function mermaidText(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/"/g, "'").replace(/;/g, ',').replace(/#/g, 'no.');
}

// ---------------------------------------------------------------------------------------------
// SVG: laid out by elkjs.

// Text is measured, not rendered: the SVG sets a monospace font of this size, so a string is
// as wide as its length times the advance.
const FONT_SIZE_PX = 12;
const CHAR_WIDTH_PX = 7.2;
const LINE_HEIGHT_PX = 16;
const STATE_PAD_PX = 10;
const STATE_HEADER_PX = 24;
const STATE_MIN_WIDTH_PX = 64;
const STATE_MIN_HEIGHT_PX = 32;
const CONTAINER_PAD_PX = 14;
const INITIAL_MARKER_PX = 10;
const INTERNAL_ARROW_PX = 14;
const EDGE_LABEL_HEIGHT_PX = 14;

// elkjs is CommonJS: under NodeNext the default import is module.exports, which is the
// constructor and also carries it as `default` (the one spelling both tsc and Node accept).
let elkInstance: ElkApi | undefined;

/**
 * The chart as a self-contained SVG document: states as `g.state[data-state]` (a rounded rect
 * and its name), transitions as `g.transition[data-transition][data-event]` (a path with an
 * arrow and a label). Targetless transitions are listed inside their state's box, under its name.
 */
export async function chartSvg(chart: Chart): Promise<string> {
  const states = allStates(chart.root);
  const internal = new Map<string, ChartTransition[]>();
  for (const t of chart.transitions) {
    if (t.targets.length > 0) continue;
    const list = internal.get(t.source) ?? [];
    list.push(t);
    internal.set(t.source, list);
  }
  const graph = elkGraph(chart, internal);
  elkInstance ??= new ELK.default();
  const laid = await elkInstance.layout(graph);
  const boxes = new Map<string, Box>();
  const edges = new Map<string, ElkExtendedEdge>();
  const collect = (node: ElkNode): void => {
    boxes.set(node.id, { x: node.x ?? 0, y: node.y ?? 0, width: node.width ?? 0, height: node.height ?? 0 });
    for (const e of node.edges ?? []) edges.set(e.id, e);
    for (const child of node.children ?? []) collect(child);
  };
  collect(laid);
  const whole = boxes.get(laid.id)!;
  const width = Math.ceil(whole.width);
  const height = Math.ceil(whole.height);
  assert(width > 0 && height > 0, `the layout of '${chart.machineId}' is empty`);

  const marker = `viz-arrow-${chart.machineId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-machine="${xml(chart.machineId)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">`);
  out.push(`<style>${svgStyle(marker)}</style>`);
  out.push(`<defs>${arrowMarker(marker, 'arrow')}${arrowMarker(`${marker}-recent`, 'arrow recent')}</defs>`);

  const parents = new Map<string, ChartState>();
  for (const s of states) for (const c of s.children) parents.set(c.id, s);
  for (const s of states) {
    const box = boxes.get(nodeId(s.id))!;
    const classes = ['state', s.type];
    if (s.id === '') classes.push('root');
    if (parents.get(s.id)?.type === 'parallel') classes.push('region');
    out.push(`<g class="${classes.join(' ')}" data-state="${xml(s.id)}">`);
    out.push(`<rect x="${num(box.x)}" y="${num(box.y)}" width="${num(box.width)}" height="${num(box.height)}" rx="6" ry="6"/>`);
    const name = s.type === 'history' ? `H ${s.key}` : s.key;
    const atomic = s.children.length === 0;
    const nameX = atomic ? box.x + box.width / 2 : box.x + STATE_PAD_PX;
    out.push(`<text class="name" x="${num(nameX)}" y="${num(box.y + 16)}"${atomic ? ' text-anchor="middle"' : ''}>${xml(name)}</text>`);
    out.push('</g>');
    if (s.initial !== undefined) {
      const dot = boxes.get(initialId(s.id))!;
      const edge = edges.get(initialEdgeId(s.id));
      out.push(`<g class="initial" data-initial-of="${xml(s.id)}">`);
      out.push(`<circle cx="${num(dot.x + dot.width / 2)}" cy="${num(dot.y + dot.height / 2)}" r="${num(INITIAL_MARKER_PX / 2)}"/>`);
      if (edge !== undefined) out.push(`<path d="${pathData(edge.sections ?? [])}" marker-end="url(#${marker})"/>`);
      out.push('</g>');
    }
  }
  for (const t of chart.transitions) {
    out.push(`<g class="transition${t.targets.length === 0 ? ' internal' : ''}" data-transition="${xml(t.id)}" data-event="${xml(t.event)}">`);
    if (t.targets.length === 0) {
      // Listed under the source's name: an arrow stub, then the label.
      const box = boxes.get(nodeId(t.source))!;
      const line = internal.get(t.source)!.indexOf(t);
      const y = box.y + STATE_HEADER_PX + line * LINE_HEIGHT_PX + LINE_HEIGHT_PX / 2;
      const x = box.x + STATE_PAD_PX;
      out.push(`<path d="M${num(x)},${num(y)} L${num(x + INTERNAL_ARROW_PX - 4)},${num(y)}" marker-end="url(#${marker})"/>`);
      out.push(`<text x="${num(x + INTERNAL_ARROW_PX + 2)}" y="${num(y + 4)}">${xml(t.label)}</text>`);
    } else {
      t.targets.forEach((_, k) => {
        const edge = edges.get(transitionEdgeId(t, k));
        assert(edge !== undefined, `no layout for transition ${t.id}`);
        out.push(`<path d="${pathData(edge.sections ?? [])}" marker-end="url(#${marker})"/>`);
      });
      const label = edges.get(transitionEdgeId(t, 0))?.labels?.[0];
      if (label !== undefined) {
        out.push(`<text x="${num((label.x ?? 0) + (label.width ?? 0) / 2)}" y="${num((label.y ?? 0) + EDGE_LABEL_HEIGHT_PX - 3)}" text-anchor="middle">${xml(t.label)}</text>`);
      }
    }
    out.push('</g>');
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

const nodeId = (stateId: string): string => `s:${stateId}`;
const initialId = (stateId: string): string => `i:${stateId}`;
const initialEdgeId = (stateId: string): string => `ie:${stateId}`;
const transitionEdgeId = (t: ChartTransition, k: number): string => `t:${t.id}:${k}`;

const textWidth = (text: string): number => text.length * CHAR_WIDTH_PX;

/**
 * The ELK graph: one node per state, nested as the states are, an initial marker in each compound
 * state, one edge per transition target declared in the box that holds both ends. Coordinates
 * come back absolute (shapeCoords and edgeCoords ROOT).
 */
function elkGraph(chart: Chart, internal: ReadonlyMap<string, readonly ChartTransition[]>): ElkNode {
  const edgesIn = new Map<string | undefined, ElkExtendedEdge[]>();
  const addEdge = (container: string | undefined, edge: ElkExtendedEdge): void => {
    const list = edgesIn.get(container) ?? [];
    list.push(edge);
    edgesIn.set(container, list);
  };
  for (const t of chart.transitions) {
    const container = edgeContainer(t);
    t.targets.forEach((target, k) => {
      const labels: ElkLabel[] = k === 0 ? [{ id: `l:${t.id}`, text: t.label, width: textWidth(t.label) + 6, height: EDGE_LABEL_HEIGHT_PX }] : [];
      addEdge(container, { id: transitionEdgeId(t, k), sources: [nodeId(t.source)], targets: [nodeId(target)], labels });
    });
  }
  const node = (s: ChartState, regionIndex?: number): ElkNode => {
    const lines = internal.get(s.id) ?? [];
    const name = s.type === 'history' ? `H ${s.key}` : s.key;
    const headerWidth = Math.max(textWidth(name) + 2 * STATE_PAD_PX, ...lines.map((t) => textWidth(t.label) + INTERNAL_ARROW_PX + 2 + 2 * STATE_PAD_PX), STATE_MIN_WIDTH_PX);
    const headerHeight = STATE_HEADER_PX + lines.length * LINE_HEIGHT_PX + (lines.length > 0 ? 4 : 0);
    // Regions sit side by side in definition order, top-aligned: layered keeps a semi-interactive
    // container's children in the order of their given positions.
    const region: Record<string, string> = regionIndex === undefined ? {} : { 'elk.position': `(${regionIndex * 100}, 0)`, 'elk.alignment': 'TOP' };
    if (s.children.length === 0) {
      return { id: nodeId(s.id), width: Math.ceil(headerWidth), height: Math.max(headerHeight, STATE_MIN_HEIGHT_PX), layoutOptions: region };
    }
    const children = s.children.map((child, i) => node(child, s.type === 'parallel' ? i : undefined));
    if (s.initial !== undefined) {
      children.unshift({ id: initialId(s.id), width: INITIAL_MARKER_PX, height: INITIAL_MARKER_PX });
      addEdge(s.id, { id: initialEdgeId(s.id), sources: [initialId(s.id)], targets: [nodeId(s.initial)] });
    }
    return {
      id: nodeId(s.id),
      layoutOptions: {
        'elk.padding': `[top=${headerHeight + 6},left=${CONTAINER_PAD_PX},bottom=${CONTAINER_PAD_PX},right=${CONTAINER_PAD_PX}]`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        'elk.nodeSize.minimum': `(${Math.ceil(headerWidth)}, ${headerHeight + STATE_MIN_HEIGHT_PX})`,
        ...(s.type === 'parallel' ? { 'elk.layered.crossingMinimization.semiInteractive': 'true' } : {}),
        ...region,
      },
      children,
    };
  };
  const rootNode = node(chart.root);
  // Edges are attached after the walk: the walk adds the initial markers' edges.
  const attach = (n: ElkNode, stateId: string): void => {
    n.edges = edgesIn.get(stateId) ?? [];
    for (const child of n.children ?? []) if (child.id.startsWith('s:')) attach(child, child.id.slice(2));
  };
  attach(rootNode, '');
  return {
    id: 'graph',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.spacing.nodeNode': '24',
      'elk.layered.spacing.nodeNodeBetweenLayers': '28',
      'elk.spacing.edgeLabel': '4',
      'elk.padding': '[top=8,left=8,bottom=8,right=8]',
    },
    children: [rootNode],
    edges: edgesIn.get(undefined) ?? [],
  };
}

function pathData(sections: readonly ElkEdgeSection[]): string {
  return sections.map((s) => [s.startPoint, ...(s.bendPoints ?? []), s.endPoint].map((p, i) => `${i === 0 ? 'M' : 'L'}${num(p.x)},${num(p.y)}`).join(' ')).join(' ');
}

function arrowMarker(id: string, cls: string): string {
  return `<marker id="${id}" class="${cls}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>`;
}

function svgStyle(marker: string): string {
  return [
    `.chart{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:${FONT_SIZE_PX}px;background:#fff}`,
    '.state>rect{fill:#fff;stroke:#6b7785;stroke-width:1.2}',
    '.state.compound>rect,.state.parallel>rect{fill:#f6f8fa}',
    '.state.root>rect{fill:#fbfcfd}',
    '.state.region>rect{fill:none;stroke-dasharray:6 4}',
    '.state.final>rect{stroke-width:3}',
    '.state.history>rect{stroke-dasharray:2 2}',
    '.state text{fill:#1f2933}',
    '.state text.name{font-weight:600}',
    '.state.active>rect{fill:#e3f5e8;stroke:#1e8e3e;stroke-width:2.5}',
    '.state.active.compound>rect,.state.active.parallel>rect{fill:#f1faf3}',
    '.state.active.region>rect{fill:none}',
    '.initial circle{fill:#1f2933}',
    '.initial path{fill:none;stroke:#1f2933;stroke-width:1.2}',
    '.transition path{fill:none;stroke:#7b8794;stroke-width:1.2}',
    '.transition text{fill:#3e4c59;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}',
    '.transition.internal text{stroke:none}',
    '.arrow path{fill:#7b8794}',
    '.arrow.recent path{fill:#d9480f}',
    `.transition.recent path{stroke:#d9480f;stroke-width:2.5;marker-end:url(#${marker}-recent)}`,
    '.transition.recent text{fill:#d9480f;font-weight:600}',
  ].join('');
}

/** One decimal, no '-0': the SVG's numbers are part of its bytes. */
function num(n: number): string {
  const r = Math.round(n * 10) / 10;
  return Object.is(r, -0) ? '0' : String(r);
}

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);
}

const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

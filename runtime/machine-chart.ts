// A state machine as plain data: its states (nested and parallel) and transitions, read off an
// xstate machine's state nodes (machineChart), and a snapshot's value as the set of chart states
// it makes active (activeStates). The visualizer draws it (cli/viz/chart.ts); the simulator's
// trace and a node's inspection stream carry it, once per actor kind, so that a recorded run
// describes its own machines. Deterministic: states and transitions in definition order, no
// generated ids.
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { assert } from './errors.js';

export type ChartStateType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

export interface ChartState {
  /** The dotted path from the root, e.g. `role.leader`; the root's is ''. */
  readonly id: string;
  readonly key: string;
  readonly type: ChartStateType;
  /** The id of the initial child (compound states only). */
  readonly initial?: string;
  /** In definition order. */
  readonly children: readonly ChartState[];
}

export interface ChartTransition {
  /** `${source}:${index}`, the index counting the source's transitions in definition order. */
  readonly id: string;
  readonly source: string;
  /** Empty for a targetless transition (actions only, no change of state). */
  readonly targets: readonly string[];
  /** 'always' (eventless), 'after 500ms' / 'after tick' (delays), 'onDone', or the event type. */
  readonly event: string;
  /** The guard's name: 'isLeader', 'not(isLeader)', 'and(a, b)', 'in(ended)' (with params), 'inline'. */
  readonly guard?: string;
  /** The delay of an `after` transition: milliseconds ('500') or a named delay ('tick'). */
  readonly delay?: string;
  /** What the chart shows: the event, then the guard in brackets. */
  readonly label: string;
}

export interface Chart {
  readonly machineId: string;
  readonly root: ChartState;
  /** Grouped by source (sources in pre-order), each source's in definition order. */
  readonly transitions: readonly ChartTransition[];
}

// ---------------------------------------------------------------------------------------------
// The chart: plain data from the machine's state nodes.

/** The machine's states and transitions as plain data. */
export function machineChart(machine: AnyStateMachine): Chart {
  const transitions: ChartTransition[] = [];
  const root = chartState(machine.root, transitions);
  return { machineId: machine.id, root, transitions };
}

function chartState(node: AnyStateNode, transitions: ChartTransition[]): ChartState {
  const id = pathId(node.path);
  const type = node.type as ChartStateType;
  const definitions: AnyTransitionDefinition[] = [];
  for (const list of node.transitions.values()) definitions.push(...list);
  definitions.push(...(node.always ?? []));
  definitions.forEach((t, index) => transitions.push(chartTransition(id, index, t)));
  let initial: string | undefined;
  if (type === 'compound') {
    const targets = node.initial.target;
    assert(targets.length === 1, `state '${id}' has ${targets.length} initial targets`);
    initial = pathId(targets[0]!.path);
  }
  const children = Object.values(node.states).map((child) => chartState(child, transitions));
  return { id, key: id === '' ? node.machine.id : node.key, type, ...(initial === undefined ? {} : { initial }), children };
}

function chartTransition(source: string, index: number, t: AnyTransitionDefinition): ChartTransition {
  const targets = (t.target ?? []).map((node) => pathId(node.path));
  const { event, delay } = eventOf(t);
  const guard = t.guard === undefined ? undefined : guardName(t.guard);
  const label = guard === undefined ? event : `${event} [${guard}]`;
  return { id: `${source}:${index}`, source, targets, event, ...(guard === undefined ? {} : { guard }), ...(delay === undefined ? {} : { delay }), label };
}

function pathId(path: readonly string[]): string {
  return path.join('.');
}

const AFTER_PREFIX = 'xstate.after.';

function eventOf(t: AnyTransitionDefinition): { event: string; delay?: string } {
  const type = String(t.eventType);
  if (type === '') return { event: 'always' };
  if (type.startsWith(AFTER_PREFIX)) {
    // xstate keeps the delay on the definition of an `after` transition; the event type
    // (`xstate.after.<delay>.<state id>`) is the fallback.
    const raw = (t as { delay?: unknown }).delay;
    const delay = typeof raw === 'number' || typeof raw === 'string' ? String(raw) : type.slice(AFTER_PREFIX.length).split('.')[0]!;
    return { event: /^\d+$/.test(delay) ? `after ${delay}ms` : `after ${delay}`, delay };
  }
  if (type.startsWith('xstate.done.state.')) return { event: 'onDone' };
  return { event: type };
}

/** A guard's name: a referenced guard's type, the built-in combinators spelled out, else 'inline'. */
function guardName(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    // xstate's not/and/or return functions of those names carrying their operands in `guards`,
    // stateIn one carrying `stateValue`; any other function is an inline guard.
    const g = guard as { name: string; guards?: unknown; stateValue?: unknown };
    if ((g.name === 'not' || g.name === 'and' || g.name === 'or') && Array.isArray(g.guards)) {
      return `${g.name}(${g.guards.map(guardName).join(', ')})`;
    }
    if (g.name === 'stateIn' && g.stateValue !== undefined) {
      return `stateIn(${typeof g.stateValue === 'string' ? g.stateValue : JSON.stringify(g.stateValue)})`;
    }
    return 'inline';
  }
  if (typeof guard === 'object' && guard !== null && typeof (guard as { type?: unknown }).type === 'string') {
    const { type, params } = guard as { type: string; params?: unknown };
    if (typeof params === 'string' || typeof params === 'number' || typeof params === 'boolean') return `${type}(${params})`;
    return type;
  }
  return 'inline';
}

// ---------------------------------------------------------------------------------------------
// Active states: a snapshot's value as chart state ids.

/**
 * The chart states a snapshot value makes active, each ancestor before its descendants and
 * siblings in key order: `{ role: 'leader', clock: 'ticking' }` gives
 * `['', 'clock', 'clock.ticking', 'role', 'role.leader']`, `'follower'` gives `['', 'follower']`.
 * Anything that is not a state value gives none.
 */
export function activeStates(value: unknown): string[] {
  if (typeof value !== 'string' && (typeof value !== 'object' || value === null)) return [];
  const out = [''];
  collectActive(value, '', out);
  return out;
}

function collectActive(value: unknown, prefix: string, out: string[]): void {
  const join = (key: string): string => (prefix === '' ? key : `${prefix}.${key}`);
  if (typeof value === 'string') {
    out.push(join(value));
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const key of Object.keys(value).sort(compareCodeUnits)) {
    out.push(join(key));
    collectActive((value as Record<string, unknown>)[key], join(key), out);
  }
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

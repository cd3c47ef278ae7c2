// The scheduler's pure core (DESIGN.md section 6, step 3): which nodes may run a service's tasks
// (the filter pipeline, SwarmKit's order: ready and active, resources, constraints, host ports,
// max replicas per node; the first failure decides a node's reason), and which of them each task
// goes to (spread: fewest tasks of this service, then fewest tasks in all; with placement
// preferences, spread over the values of each label in turn, hierarchically). A batch of tasks is
// placed one after another against loads updated as it goes. Nothing here reads the store or a
// clock: the scheduler actor gives the nodes and their loads, and proposes what comes back.
//
// One call costs O(nodes + count x levels x log nodes): the pipeline runs once per node, because
// a task of the request changes only the load of the node it goes to, so only that node's
// eligibility can change (and only from eligible to not: loads only grow). The spread choice is
// a tree of groups, one level per preference, each group's subgroups in a heap by (tasks of the
// service on its eligible nodes, value) and each leaf's eligible nodes in a heap by (tasks of the
// service, tasks in all, node id, position in `nodes`); placing a task moves only the path from
// the root to the chosen node, which is the top of every heap on it. The choices are those of
// re-filtering and re-sorting every node for every task, which
// test/actors/placement-equivalence.test.ts checks against that implementation.
//
// What depends on the node list alone (ids and their order, readiness, capacity, each constraint
// set's verdict, each preference key's values) is derived once per list and kept for the next
// call with the same list (`preparedFor`): the scheduler passes one list until a node changes, and
// at 10,000 nodes that derivation was most of a call's cost. A call then reads only the loads.
//
// The loads, too, may come in a form kept between calls (`LoadTable`, the scheduler's): columns by
// position in the list, copied in one go, and each service's counts from that service's own map.
// Read from a map of NodeLoad objects, a call costs two map lookups per node (the node's load,
// then the service in the node's map), each a cache miss or more at 10,000 nodes: measured, that
// was 85% of a call, 10 ms per call of 1,000 tasks on 10,000 nodes holding 1,000,000 tasks.
import type { Node, PortConfig, TaskSpec } from '../../journal/index.js';
import { assert } from '../../runtime/index.js';
import { constraintMet, parseConstraints, type Constraint } from './constraint.js';

/** What a node already carries (tasks assigned and not finished). */
export interface NodeLoad {
  /** Tasks in all, and of each service. */
  readonly tasks: number;
  readonly tasksOfService: ReadonlyMap<string, number>;
  readonly reservedNanoCpus: number;
  readonly reservedMemoryBytes: number;
  /** Host-mode published ports in use, as `protocol/port`. */
  readonly hostPorts: ReadonlySet<string>;
}

export const EMPTY_LOAD: NodeLoad = { tasks: 0, tasksOfService: new Map(), reservedNanoCpus: 0, reservedMemoryBytes: 0, hostPorts: new Set() };

export interface PlacementRequest {
  readonly serviceId: string;
  readonly spec: TaskSpec;
  /** The service's published ports; only host-mode ones bind on the node. */
  readonly ports: readonly PortConfig[];
  /** Spread over these label keys, in order (`node.labels.zone`, `engine.labels.rack`). */
  readonly preferences: readonly string[];
  /** How many tasks to place. */
  readonly count: number;
}

export interface PlacementResult {
  /** A node id per placed task, in order; shorter than `count` when nodes ran out. */
  readonly assignments: readonly string[];
  /** Why the rest could not be placed, e.g. "no suitable node (insufficient memory on 3 nodes)"; '' when all were. */
  readonly unschedulable: string;
}

type Reason = 'notReady' | 'cpu' | 'memory' | 'constraint' | 'hostPort' | 'maxReplicas';

interface Failure {
  readonly reason: Reason;
  readonly constraint?: Constraint;
}

const NOT_READY: Failure = { reason: 'notReady' };
const CPU: Failure = { reason: 'cpu' };
const MEMORY: Failure = { reason: 'memory' };
const HOST_PORT: Failure = { reason: 'hostPort' };
const MAX_REPLICAS: Failure = { reason: 'maxReplicas' };

/** The host-mode published ports of a service, as `protocol/port` (what a node can hold once). */
export function hostPortsOf(ports: readonly PortConfig[]): string[] {
  return ports.filter((p) => p.publishMode === 'host' && p.publishedPort > 0).map((p) => `${p.protocol}/${p.publishedPort}`);
}

function plural(n: number): string {
  return `${n} node${n === 1 ? '' : 's'}`;
}

const REASON_TEXTS: Readonly<Record<Exclude<Reason, 'constraint'>, string>> = {
  notReady: 'node not ready or not active',
  cpu: 'insufficient CPU',
  memory: 'insufficient memory',
  hostPort: 'host port already in use',
  maxReplicas: 'max replicas per node reached',
};

/**
 * "no suitable node (insufficient memory on 3 nodes; constraint node.labels.gpu==true not met on 2 nodes)":
 * each node counted once, by its first failing filter, the reasons in the order of the first node
 * that has each.
 */
function explain(failures: readonly Failure[], nodeCount: number): string {
  if (nodeCount === 0) return 'no suitable node (no nodes in the cluster)';
  const counts = new Map<string, number>();
  for (const f of failures) {
    const text = f.reason === 'constraint' ? `constraint ${f.constraint?.text ?? ''} not met` : REASON_TEXTS[f.reason];
    counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  return `no suitable node (${[...counts].map(([text, n]) => `${text} on ${plural(n)}`).join('; ')})`;
}

/** A preference key (`node.labels.x`, `engine.labels.x`) parsed once per call; undefined for any other key. */
type PreferenceKey = { readonly labels: 'node' | 'engine'; readonly name: string } | undefined;

function parsePreference(key: string): PreferenceKey {
  const label = /^(node|engine)\.labels\.(.+)$/i.exec(key);
  if (label === null) return undefined;
  return { labels: label[1]!.toLowerCase() === 'node' ? 'node' : 'engine', name: label[2]! };
}

/** A node's value for a preference key; '' when absent (its own group) and for a key that names no label (one group). */
function preferenceValue(node: Node, key: PreferenceKey): string {
  if (key === undefined) return '';
  const labels = key.labels === 'node' ? node.spec.annotations.labels : node.description.engineLabels;
  return labels[key.name] ?? '';
}

/** Derived sets kept per node list, at most this many of each kind (distinct constraint sets, preference keys). */
const PREPARED_SETS_MAX = 64;

/**
 * What placement derives from a node list alone. Node objects are immutable (the store replaces
 * an object to change it), so a list whose every element is the same object yields the same.
 */
interface PreparedNodes {
  /** A copy of the list: the identity of each element is what makes the rest valid. */
  readonly nodes: readonly Node[];
  readonly ids: readonly string[];
  /** Each position's rank in (id, position) order: spread's last tie-breaks as one integer comparison. */
  readonly rank: Int32Array;
  /** Ready and active: the first filter, which loads do not change. */
  readonly ready: Uint8Array;
  readonly nanoCpus: Float64Array;
  readonly memoryBytes: Float64Array;
  /** By the constraint texts: each position's first failing constraint, -1 when all are met. */
  readonly constraintFailures: Map<string, Int32Array>;
  /** By preference key: the distinct values (in order of first position) and each position's value index. */
  readonly preferenceValues: Map<string, { readonly values: readonly string[]; readonly of: Int32Array }>;
}

const preparedByList = new WeakMap<readonly Node[], PreparedNodes>();

function prepareNodes(nodes: readonly Node[]): PreparedNodes {
  const n = nodes.length;
  const ids = nodes.map((node) => node.id);
  const ready = new Uint8Array(n);
  const nanoCpus = new Float64Array(n);
  const memoryBytes = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const node = nodes[i]!;
    ready[i] = node.status.state === 'ready' && node.spec.availability === 'active' ? 1 : 0;
    nanoCpus[i] = node.description.resources.nanoCpus;
    memoryBytes[i] = node.description.resources.memoryBytes;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : a - b));
  const rank = new Int32Array(n);
  for (let r = 0; r < n; r++) rank[order[r]!] = r;
  return { nodes: nodes.slice(), ids, rank, ready, nanoCpus, memoryBytes, constraintFailures: new Map(), preferenceValues: new Map() };
}

/** The derivation for this list: the one kept for it when every element is still the same object, else a new one. */
function preparedFor(nodes: readonly Node[]): PreparedNodes {
  const kept = preparedByList.get(nodes);
  if (kept !== undefined && kept.nodes.length === nodes.length) {
    let same = true;
    for (let i = 0; i < nodes.length && same; i++) same = kept.nodes[i] === nodes[i];
    if (same) return kept;
  }
  const prepared = prepareNodes(nodes);
  preparedByList.set(nodes, prepared);
  return prepared;
}

function constraintFailuresOf(prepared: PreparedNodes, texts: readonly string[], constraints: readonly Constraint[]): Int32Array {
  const key = texts.join('\u0000');
  let failing = prepared.constraintFailures.get(key);
  if (failing === undefined) {
    failing = new Int32Array(prepared.nodes.length).fill(-1);
    for (let i = 0; i < prepared.nodes.length; i++) {
      const node = prepared.nodes[i]!;
      for (let c = 0; c < constraints.length; c++) {
        if (!constraintMet(constraints[c]!, node)) {
          failing[i] = c;
          break;
        }
      }
    }
    if (prepared.constraintFailures.size >= PREPARED_SETS_MAX) prepared.constraintFailures.clear();
    prepared.constraintFailures.set(key, failing);
  }
  return failing;
}

function preferenceValuesOf(prepared: PreparedNodes, text: string): { readonly values: readonly string[]; readonly of: Int32Array } {
  let found = prepared.preferenceValues.get(text);
  if (found === undefined) {
    const key = parsePreference(text);
    const values: string[] = [];
    const indexOf = new Map<string, number>();
    const of = new Int32Array(prepared.nodes.length);
    for (let i = 0; i < prepared.nodes.length; i++) {
      const value = preferenceValue(prepared.nodes[i]!, key);
      let at = indexOf.get(value);
      if (at === undefined) {
        at = values.length;
        indexOf.set(value, at);
        values.push(value);
      }
      of[i] = at;
    }
    found = { values, of };
    if (prepared.preferenceValues.size >= PREPARED_SETS_MAX) prepared.preferenceValues.clear();
    prepared.preferenceValues.set(text, found);
  }
  return found;
}

interface MutableLoad {
  tasks: number;
  reservedNanoCpus: number;
  reservedMemoryBytes: number;
  readonly hostPorts: Set<string>;
}

/** A LoadTable's loads as columns by position in one node list (whose ids are distinct). */
interface LoadColumns {
  readonly prepared: PreparedNodes;
  readonly positionOf: ReadonlyMap<string, number>;
  readonly tasks: Float64Array;
  readonly reservedNanoCpus: Float64Array;
  readonly reservedMemoryBytes: Float64Array;
}

/** Lists shorter than this are read by lookups and do not take the columns from the long list. */
const COLUMNS_NODES_MIN = 64;

/**
 * Node loads kept by the caller between placements and changed task by task (`add`), in the form
 * a placement reads fastest: the same loads as a map of NodeLoad (`toMap` gives that map, and
 * `placeTasks` places alike with either). Columns follow the last list of at least
 * `columnsNodesMin` distinct nodes that a placement was given: built once for it (O(nodes)) and
 * then kept current by `add`; any other list is read by lookups, as a map would be.
 */
export class LoadTable {
  private readonly loads = new Map<string, MutableLoad>();
  /** Service id -> node id -> tasks of the service on that node (no zero entries, no empty maps). */
  private readonly ofService = new Map<string, Map<string, number>>();
  private columns: LoadColumns | undefined;
  private readonly columnsNodesMin: number;

  constructor(options: { readonly columnsNodesMin?: number } = {}) {
    this.columnsNodesMin = options.columnsNodesMin ?? COLUMNS_NODES_MIN;
  }

  /** Counts (sign 1) or uncounts (-1) one task on a node; its host ports are taken or freed. */
  add(nodeId: string, serviceId: string, nanoCpus: number, memoryBytes: number, hostPorts: readonly string[], sign: 1 | -1): void {
    let load = this.loads.get(nodeId);
    if (load === undefined) this.loads.set(nodeId, (load = { tasks: 0, reservedNanoCpus: 0, reservedMemoryBytes: 0, hostPorts: new Set() }));
    load.tasks += sign;
    load.reservedNanoCpus += sign * nanoCpus;
    load.reservedMemoryBytes += sign * memoryBytes;
    for (const p of hostPorts) {
      if (sign > 0) load.hostPorts.add(p);
      else load.hostPorts.delete(p);
    }
    let counts = this.ofService.get(serviceId);
    if (counts === undefined) this.ofService.set(serviceId, (counts = new Map()));
    const count = (counts.get(nodeId) ?? 0) + sign;
    if (count !== 0) counts.set(nodeId, count);
    else {
      counts.delete(nodeId);
      if (counts.size === 0) this.ofService.delete(serviceId);
    }
    const columns = this.columns;
    const at = columns?.positionOf.get(nodeId);
    if (columns !== undefined && at !== undefined) {
      columns.tasks[at] += sign;
      columns.reservedNanoCpus[at] += sign * nanoCpus;
      columns.reservedMemoryBytes[at] += sign * memoryBytes;
    }
  }

  clear(): void {
    this.loads.clear();
    this.ofService.clear();
    this.columns = undefined;
  }

  /** The loads as a map of NodeLoad (an entry per node ever counted, as `add` left it). */
  toMap(): Map<string, NodeLoad> {
    const out = new Map<string, NodeLoad>();
    for (const [nodeId, load] of this.loads) {
      out.set(nodeId, { tasks: load.tasks, tasksOfService: new Map(), reservedNanoCpus: load.reservedNanoCpus, reservedMemoryBytes: load.reservedMemoryBytes, hostPorts: new Set(load.hostPorts) });
    }
    for (const [serviceId, counts] of this.ofService) {
      for (const [nodeId, count] of counts) (out.get(nodeId)!.tasksOfService as Map<string, number>).set(serviceId, count);
    }
    return out;
  }

  /** Fills a placement's per-position loads for `prepared`'s list. */
  fill(prepared: PreparedNodes, serviceId: string, hostPorts: readonly string[], into: PositionLoads): void {
    const { ids } = prepared;
    const n = ids.length;
    const counts = this.ofService.get(serviceId);
    const columns = this.columnsFor(prepared);
    if (columns === undefined) {
      for (let i = 0; i < n; i++) {
        const load = this.loads.get(ids[i]!);
        into.ofService[i] = counts?.get(ids[i]!) ?? 0;
        if (load === undefined) continue;
        into.tasks[i] = load.tasks;
        into.reservedNanoCpus[i] = load.reservedNanoCpus;
        into.reservedMemoryBytes[i] = load.reservedMemoryBytes;
        for (const port of hostPorts) if (load.hostPorts.has(port)) into.hostPortBusy[i] = 1;
      }
      return;
    }
    into.tasks.set(columns.tasks);
    into.reservedNanoCpus.set(columns.reservedNanoCpus);
    into.reservedMemoryBytes.set(columns.reservedMemoryBytes);
    if (counts !== undefined) {
      for (const [nodeId, count] of counts) {
        const at = columns.positionOf.get(nodeId);
        if (at !== undefined) into.ofService[at] = count;
      }
    }
    if (hostPorts.length > 0) {
      for (const [nodeId, load] of this.loads) {
        const at = columns.positionOf.get(nodeId);
        if (at === undefined || load.hostPorts.size === 0) continue;
        for (const port of hostPorts) if (load.hostPorts.has(port)) into.hostPortBusy[at] = 1;
      }
    }
  }

  /** The columns for this list: kept, built now (a long list of distinct ids), or none. */
  private columnsFor(prepared: PreparedNodes): LoadColumns | undefined {
    if (this.columns?.prepared === prepared) return this.columns;
    const { ids } = prepared;
    const n = ids.length;
    if (n < this.columnsNodesMin) return undefined;
    const positionOf = new Map<string, number>();
    for (let i = 0; i < n; i++) positionOf.set(ids[i]!, i);
    // A node listed twice has two positions: such a list is read by lookups.
    if (positionOf.size !== n) return undefined;
    const columns: LoadColumns = { prepared, positionOf, tasks: new Float64Array(n), reservedNanoCpus: new Float64Array(n), reservedMemoryBytes: new Float64Array(n) };
    for (let i = 0; i < n; i++) {
      const load = this.loads.get(ids[i]!);
      if (load === undefined) continue;
      columns.tasks[i] = load.tasks;
      columns.reservedNanoCpus[i] = load.reservedNanoCpus;
      columns.reservedMemoryBytes[i] = load.reservedMemoryBytes;
    }
    this.columns = columns;
    return columns;
  }
}

/** A placement's working loads, by position in its node list (zero-filled before `fill`). */
interface PositionLoads {
  readonly ofService: Float64Array;
  readonly tasks: Float64Array;
  readonly reservedNanoCpus: Float64Array;
  readonly reservedMemoryBytes: Float64Array;
  readonly hostPortBusy: Uint8Array;
}

function fillFromMap(loads: ReadonlyMap<string, NodeLoad>, ids: readonly string[], serviceId: string, hostPorts: readonly string[], into: PositionLoads): void {
  for (let i = 0; i < ids.length; i++) {
    const load = loads.get(ids[i]!) ?? EMPTY_LOAD;
    into.ofService[i] = load.tasksOfService.get(serviceId) ?? 0;
    into.tasks[i] = load.tasks;
    into.reservedNanoCpus[i] = load.reservedNanoCpus;
    into.reservedMemoryBytes[i] = load.reservedMemoryBytes;
    for (const port of hostPorts) {
      if (load.hostPorts.has(port)) into.hostPortBusy[i] = 1;
    }
  }
}

/**
 * The eligible nodes that share the values of the first `depth` preferences (the root: all of
 * them). Invariant: `eligible` > 0 for every group in its parent's heap.
 */
interface Group {
  readonly value: string;
  readonly parent: Group | undefined;
  /** Tasks of the service on the group's eligible nodes: what spread at its parent's level balances. */
  ofService: number;
  /** Eligible nodes in the group; at 0 it leaves its parent's heap. */
  eligible: number;
  /** Subgroups by the next preference's value, a heap by (ofService, value); empty at a leaf. */
  readonly children: Group[];
  /** The subgroups by the index of their value in the preference's values. */
  readonly childByValue: Map<number, Group>;
  /** At a leaf (depth = the number of preferences): node positions, a heap by (tasks of service, tasks, id, position). */
  readonly nodes: number[];
}

function newGroup(value: string, parent: Group | undefined): Group {
  return { value, parent, ofService: 0, eligible: 0, children: [], childByValue: new Map(), nodes: [] };
}

/** The group the spread takes first: fewest tasks of the service, ties by value. */
function groupBefore(a: Group, b: Group): boolean {
  if (a.ofService !== b.ofService) return a.ofService < b.ofService;
  return a.value < b.value;
}

/** Restores the heap below `at` after its key grew (or at build). */
function siftDown<T>(heap: T[], at: number, before: (a: T, b: T) => boolean): void {
  const size = heap.length;
  const item = heap[at]!;
  let i = at;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= size) break;
    const right = left + 1;
    const child = right < size && before(heap[right]!, heap[left]!) ? right : left;
    if (!before(heap[child]!, item)) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = item;
}

function heapify<T>(heap: T[], before: (a: T, b: T) => boolean): void {
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i, before);
}

function popTop<T>(heap: T[], before: (a: T, b: T) => boolean): void {
  const last = heap.pop();
  assert(last !== undefined, 'pop from an empty placement heap');
  if (heap.length === 0) return;
  heap[0] = last;
  siftDown(heap, 0, before);
}

/**
 * Places `request.count` tasks on `nodes`, given their current `loads` (absent: empty; a map or a
 * LoadTable, alike). Throws
 * ConstraintSyntaxError for a constraint that does not parse. Deterministic for equal inputs.
 * Reads `loads` and never changes it. Counts of tasks are integers, so that the sums kept as
 * tasks are placed equal sums taken afresh.
 */
export function placeTasks(request: PlacementRequest, nodes: readonly Node[], loads: ReadonlyMap<string, NodeLoad> | LoadTable): PlacementResult {
  const constraints = parseConstraints(request.spec.placement.constraints);
  const hostPorts = hostPortsOf(request.ports);
  const assignments: string[] = [];
  if (!(request.count > 0)) return { assignments, unschedulable: '' };

  const { serviceId } = request;
  const want = request.spec.resources.reservations;
  const maxReplicas = request.spec.placement.maxReplicasPerNode;
  const levels = request.preferences.length;
  const prepared = preparedFor(nodes);
  const { ids, rank, ready } = prepared;
  const capacityNanoCpus = prepared.nanoCpus;
  const capacityMemoryBytes = prepared.memoryBytes;
  const constraintFailing = constraints.length > 0 ? constraintFailuresOf(prepared, request.spec.placement.constraints, constraints) : undefined;
  const preferenceValues = request.preferences.map((text) => preferenceValuesOf(prepared, text));

  // The load of each node, by its position in `nodes` (a node listed twice has two): what placing
  // tasks changes, kept here rather than in copies of the caller's NodeLoad objects.
  const n = nodes.length;
  const ofService = new Float64Array(n);
  const tasks = new Float64Array(n);
  const reservedNanoCpus = new Float64Array(n);
  const reservedMemoryBytes = new Float64Array(n);
  const hostPortBusy = new Uint8Array(n);
  /** Each node's first failing filter; undefined while it is eligible. */
  const failures: Array<Failure | undefined> = new Array<Failure | undefined>(n);

  const constraintFailures: Failure[] = constraints.map((constraint) => ({ reason: 'constraint', constraint }));

  /**
   * The pipeline for one more task on the node at `i`, its first failing filter. `settled`: the
   * node passed the filters that do not depend on its load (state, availability, constraints)
   * already, in this call.
   */
  const failureOf = (i: number, settled: boolean): Failure | undefined => {
    if (!settled && ready[i] === 0) return NOT_READY;
    if (want.nanoCpus > 0 && reservedNanoCpus[i]! + want.nanoCpus > capacityNanoCpus[i]!) return CPU;
    if (want.memoryBytes > 0 && reservedMemoryBytes[i]! + want.memoryBytes > capacityMemoryBytes[i]!) return MEMORY;
    if (!settled && constraintFailing !== undefined && constraintFailing[i]! >= 0) return constraintFailures[constraintFailing[i]!];
    if (hostPortBusy[i] === 1) return HOST_PORT;
    if (maxReplicas > 0 && ofService[i]! >= maxReplicas) return MAX_REPLICAS;
    return undefined;
  };

  /** Spread's order: fewest tasks of the service, fewest tasks in all, then id and position (as `rank`). */
  const nodeBefore = (a: number, b: number): boolean => {
    const sa = ofService[a]!;
    const sb = ofService[b]!;
    if (sa !== sb) return sa < sb;
    const ta = tasks[a]!;
    const tb = tasks[b]!;
    if (ta !== tb) return ta < tb;
    return rank[a]! < rank[b]!;
  };

  // The pipeline, once per node; the eligible ones into the tree of preference groups.
  const root = newGroup('', undefined);
  const groups: Group[] = [root];
  const into: PositionLoads = { ofService, tasks, reservedNanoCpus, reservedMemoryBytes, hostPortBusy };
  if (loads instanceof LoadTable) loads.fill(prepared, serviceId, hostPorts, into);
  else fillFromMap(loads, ids, serviceId, hostPorts, into);
  for (let i = 0; i < n; i++) {
    const failure = failureOf(i, false);
    failures[i] = failure;
    if (failure !== undefined) continue;
    let group = root;
    for (let level = 0; level < levels; level++) {
      group.eligible += 1;
      group.ofService += ofService[i]!;
      const { values, of } = preferenceValues[level]!;
      const valueIndex = of[i]!;
      let child = group.childByValue.get(valueIndex);
      if (child === undefined) {
        child = newGroup(values[valueIndex]!, group);
        group.childByValue.set(valueIndex, child);
        group.children.push(child);
        groups.push(child);
      }
      group = child;
    }
    group.eligible += 1;
    group.ofService += ofService[i]!;
    group.nodes.push(i);
  }
  for (const group of groups) {
    heapify(group.children, groupBefore);
    heapify(group.nodes, nodeBefore);
  }

  for (let placed = 0; placed < request.count; placed++) {
    if (root.eligible === 0) {
      assert(failures.every((f) => f !== undefined), 'a node out of the placement tree without a failure');
      return { assignments, unschedulable: explain(failures as Failure[], n) };
    }
    let leaf = root;
    for (let level = 0; level < levels; level++) leaf = leaf.children[0]!;
    assert(leaf !== undefined && leaf.nodes.length > 0, 'an empty group on the placement path');
    const i = leaf.nodes[0]!;
    assignments.push(ids[i]!);

    const before = ofService[i]!;
    ofService[i] = before + 1;
    tasks[i] += 1;
    reservedNanoCpus[i] += want.nanoCpus;
    reservedMemoryBytes[i] += want.memoryBytes;
    if (hostPorts.length > 0) hostPortBusy[i] = 1;
    const failure = failureOf(i, true);
    if (failure === undefined) {
      siftDown(leaf.nodes, 0, nodeBefore);
      for (let group: Group = leaf; group.parent !== undefined; group = group.parent) {
        group.ofService += 1;
        siftDown(group.parent.children, 0, groupBefore);
      }
      root.ofService += 1;
    } else {
      failures[i] = failure;
      popTop(leaf.nodes, nodeBefore);
      for (let group: Group | undefined = leaf; group !== undefined; group = group.parent) {
        group.ofService -= before;
        group.eligible -= 1;
        const parent: Group | undefined = group.parent;
        if (parent === undefined) continue;
        assert(parent.children[0] === group, 'the placement path left the top of a heap');
        if (group.eligible === 0) popTop(parent.children, groupBefore);
        else siftDown(parent.children, 0, groupBefore);
      }
    }
  }
  return { assignments, unschedulable: '' };
}

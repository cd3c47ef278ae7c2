// The scheduler's placement core as it was before the incremental rewrite (actors/scheduler/
// placement.ts at 5e638d5), kept verbatim but for its name: the reference that
// test/actors/placement-equivalence.test.ts checks the new core against, and the baseline that
// bench/placement.ts measures beside it. Each task re-runs the filter pipeline over every node and
// sorts the candidates (O(count x nodes log nodes)); do not use it outside that test and bench.
import { EMPTY_LOAD, constraintMet, parseConstraints, type Constraint, type NodeLoad, type PlacementRequest, type PlacementResult } from '../actors/index.js';
import type { Node, PortConfig } from '../journal/index.js';

type Reason = 'notReady' | 'cpu' | 'memory' | 'constraint' | 'hostPort' | 'maxReplicas';

interface Candidate {
  readonly node: Node;
  load: NodeLoad;
}

function hostPortsOf(ports: readonly PortConfig[]): string[] {
  return ports.filter((p) => p.publishMode === 'host' && p.publishedPort > 0).map((p) => `${p.protocol}/${p.publishedPort}`);
}

/** The first filter `node` fails for one more task of the request, with the constraint it broke. */
function firstFailure(candidate: Candidate, request: PlacementRequest, constraints: readonly Constraint[], hostPorts: readonly string[]): { reason: Reason; constraint?: Constraint } | undefined {
  const { node, load } = candidate;
  if (node.status.state !== 'ready' || node.spec.availability !== 'active') return { reason: 'notReady' };
  const want = request.spec.resources.reservations;
  const has = node.description.resources;
  if (want.nanoCpus > 0 && load.reservedNanoCpus + want.nanoCpus > has.nanoCpus) return { reason: 'cpu' };
  if (want.memoryBytes > 0 && load.reservedMemoryBytes + want.memoryBytes > has.memoryBytes) return { reason: 'memory' };
  const broken = constraints.find((c) => !constraintMet(c, node));
  if (broken !== undefined) return { reason: 'constraint', constraint: broken };
  if (hostPorts.some((p) => load.hostPorts.has(p))) return { reason: 'hostPort' };
  const max = request.spec.placement.maxReplicasPerNode;
  if (max > 0 && (load.tasksOfService.get(request.serviceId) ?? 0) >= max) return { reason: 'maxReplicas' };
  return undefined;
}

function plural(n: number): string {
  return `${n} node${n === 1 ? '' : 's'}`;
}

/** "no suitable node (insufficient memory on 3 nodes; constraint node.labels.gpu==true not met on 2 nodes)". */
function explain(failures: ReadonlyArray<{ reason: Reason; constraint?: Constraint }>, nodeCount: number): string {
  if (nodeCount === 0) return 'no suitable node (no nodes in the cluster)';
  const counts = new Map<string, number>();
  for (const f of failures) {
    const text = {
      notReady: 'node not ready or not active',
      cpu: 'insufficient CPU',
      memory: 'insufficient memory',
      constraint: `constraint ${f.constraint?.text ?? ''} not met`,
      hostPort: 'host port already in use',
      maxReplicas: `max replicas per node reached`,
    }[f.reason];
    counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  return `no suitable node (${[...counts].map(([text, n]) => `${text} on ${plural(n)}`).join('; ')})`;
}

/** A node's value for a preference key (`node.labels.x`, `engine.labels.x`); '' when absent (its own group). */
function preferenceValue(node: Node, key: string): string {
  const label = /^(node|engine)\.labels\.(.+)$/i.exec(key);
  if (label === null) return '';
  const labels = label[1]!.toLowerCase() === 'node' ? node.spec.annotations.labels : node.description.engineLabels;
  return labels[label[2]!] ?? '';
}

/** The spread choice among eligible candidates, hierarchically over the preferences. */
function choose(eligible: readonly Candidate[], serviceId: string, preferences: readonly string[]): Candidate {
  let pool = eligible;
  for (const key of preferences) {
    const groups = new Map<string, Candidate[]>();
    for (const c of pool) {
      const value = preferenceValue(c.node, key);
      let group = groups.get(value);
      if (group === undefined) groups.set(value, (group = []));
      group.push(c);
    }
    const ofService = (group: readonly Candidate[]): number => group.reduce((sum, c) => sum + (c.load.tasksOfService.get(serviceId) ?? 0), 0);
    // The group holding fewest tasks of the service; ties by value, so the choice is deterministic.
    const [, best] = [...groups].sort(([a, ga], [b, gb]) => ofService(ga) - ofService(gb) || (a < b ? -1 : a > b ? 1 : 0))[0]!;
    pool = best;
  }
  return [...pool].sort((a, b) =>
    (a.load.tasksOfService.get(serviceId) ?? 0) - (b.load.tasksOfService.get(serviceId) ?? 0)
    || a.load.tasks - b.load.tasks
    || (a.node.id < b.node.id ? -1 : a.node.id > b.node.id ? 1 : 0))[0]!;
}

function withTask(load: NodeLoad, request: PlacementRequest, hostPorts: readonly string[]): NodeLoad {
  const tasksOfService = new Map(load.tasksOfService);
  tasksOfService.set(request.serviceId, (tasksOfService.get(request.serviceId) ?? 0) + 1);
  const want = request.spec.resources.reservations;
  return {
    tasks: load.tasks + 1,
    tasksOfService,
    reservedNanoCpus: load.reservedNanoCpus + want.nanoCpus,
    reservedMemoryBytes: load.reservedMemoryBytes + want.memoryBytes,
    hostPorts: new Set([...load.hostPorts, ...hostPorts]),
  };
}

/**
 * Places `request.count` tasks on `nodes`, given their current `loads` (absent: empty). Throws
 * ConstraintSyntaxError for a constraint that does not parse. Deterministic for equal inputs.
 */
export function placeTasksReference(request: PlacementRequest, nodes: readonly Node[], loads: ReadonlyMap<string, NodeLoad>): PlacementResult {
  const constraints = parseConstraints(request.spec.placement.constraints);
  const hostPorts = hostPortsOf(request.ports);
  const candidates: Candidate[] = nodes.map((node) => ({ node, load: loads.get(node.id) ?? EMPTY_LOAD }));
  const assignments: string[] = [];
  for (let i = 0; i < request.count; i++) {
    const failures: Array<{ reason: Reason; constraint?: Constraint }> = [];
    const eligible: Candidate[] = [];
    for (const c of candidates) {
      const failure = firstFailure(c, request, constraints, hostPorts);
      if (failure === undefined) eligible.push(c);
      else failures.push(failure);
    }
    if (eligible.length === 0) return { assignments, unschedulable: explain(failures, nodes.length) };
    const chosen = choose(eligible, request.serviceId, request.preferences);
    chosen.load = withTask(chosen.load, request, hostPorts);
    assignments.push(chosen.node.id);
  }
  return { assignments, unschedulable: '' };
}

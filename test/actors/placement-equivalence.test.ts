// The incremental placement core against the implementation it replaced (re-filter every node and
// re-sort the candidates for every task, bench/placement-reference.ts): for equal inputs both give
// the same PlacementResult, assignment by assignment, and neither changes the caller's loads.
// Random clusters cover every filter (state, availability, CPU, memory, constraints, host ports,
// max replicas), 0-2 preference levels over present and absent labels, loads that already hold
// tasks of the service and of others, and node ids listed twice (ties then go by position).
import fc from 'fast-check';
import { LoadTable, placeTasks, type NodeLoad, type PlacementRequest } from '../../actors/index.js';
import type { Node, PortConfig, TaskSpec } from '../../journal/index.js';
// eslint-disable-next-line swarm/part-boundaries -- the one copy of the reference, shared with bench/placement.ts, which measures the two side by side
import { placeTasksReference } from '../../bench/placement-reference.js';
import { taskSpec } from '../journal/journal-fixtures.js';

const GIB = 2 ** 30;
const SERVICE = 'svc';

const nodeArb = (idMax: number): fc.Arbitrary<Node> => fc.record({
  id: fc.integer({ min: 0, max: idMax }).map((k) => `n${k}`),
  state: fc.constantFrom('ready', 'ready', 'ready', 'down', 'unknown', 'disconnected' as const),
  availability: fc.constantFrom('active', 'active', 'active', 'pause', 'drain' as const),
  role: fc.constantFrom('worker', 'manager' as const),
  nanoCpus: fc.constantFrom(0, 1e9, 2e9, 4e9),
  memoryBytes: fc.constantFrom(0, GIB, 2 * GIB, 4 * GIB, 8 * GIB),
  zone: fc.constantFrom('a', 'b', 'c', undefined),
  rack: fc.constantFrom('1', '2', undefined),
  gpu: fc.boolean(),
  disk: fc.constantFrom('ssd', 'hdd', undefined),
  subnet: fc.constantFrom(0, 1),
}).map((s): Node => {
  const labels: Record<string, string> = {};
  if (s.zone !== undefined) labels['zone'] = s.zone;
  if (s.rack !== undefined) labels['rack'] = s.rack;
  if (s.gpu) labels['gpu'] = 'true';
  return {
    id: s.id,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: { annotations: { name: s.id, labels }, role: s.role, availability: s.availability },
    description: {
      hostname: `host-${s.id}`, platform: { os: 'linux', architecture: 'x86_64' },
      resources: { nanoCpus: s.nanoCpus, memoryBytes: s.memoryBytes }, engineLabels: s.disk === undefined ? {} : { disk: s.disk },
    },
    status: { state: s.state, message: '', addr: `10.0.${s.subnet}.7:2377` },
  };
});

const loadArb: fc.Arbitrary<NodeLoad> = fc.record({
  ofService: fc.integer({ min: 0, max: 3 }),
  ofOther: fc.integer({ min: 0, max: 3 }),
  tasks: fc.integer({ min: 0, max: 8 }),
  reservedNanoCpus: fc.constantFrom(0, 5e8, 1e9, 3e9),
  reservedMemoryBytes: fc.constantFrom(0, GIB / 2, GIB, 3 * GIB),
  hostPorts: fc.subarray(['tcp/80', 'tcp/8080', 'udp/80']),
}).map((s): NodeLoad => {
  const tasksOfService = new Map<string, number>();
  if (s.ofService > 0) tasksOfService.set(SERVICE, s.ofService);
  if (s.ofOther > 0) tasksOfService.set('other', s.ofOther);
  return { tasks: s.tasks, tasksOfService, reservedNanoCpus: s.reservedNanoCpus, reservedMemoryBytes: s.reservedMemoryBytes, hostPorts: new Set(s.hostPorts) };
});

const portArb: fc.Arbitrary<PortConfig> = fc.record({
  protocol: fc.constantFrom('tcp', 'udp' as const),
  publishedPort: fc.constantFrom(0, 80, 8080),
  publishMode: fc.constantFrom('host', 'ingress' as const),
}).map((s) => ({ name: 'p', protocol: s.protocol, targetPort: 80, publishedPort: s.publishedPort, publishMode: s.publishMode }));

const CONSTRAINTS = ['node.labels.gpu==true', 'node.labels.gpu!=true', 'node.labels.zone!=c', 'engine.labels.disk==ssd', 'node.role==worker', 'node.ip==10.0.0.0/24'];
// Label keys present on some nodes, a label on none (one group of ''), a key that names no label (one group).
const PREFERENCES = ['node.labels.zone', 'node.labels.rack', 'engine.labels.disk', 'NODE.LABELS.zone', 'node.labels.none', 'node.role'];

const requestArb = (countMax: number): fc.Arbitrary<PlacementRequest> => fc.record({
  nanoCpus: fc.constantFrom(0, 0, 5e8, 1e9),
  memoryBytes: fc.constantFrom(0, 0, GIB / 2, GIB, 2 * GIB),
  constraints: fc.subarray(CONSTRAINTS, { maxLength: 2 }),
  maxReplicasPerNode: fc.integer({ min: 0, max: 3 }),
  ports: fc.array(portArb, { maxLength: 2 }),
  preferences: fc.array(fc.constantFrom(...PREFERENCES), { maxLength: 2 }),
  count: fc.integer({ min: 0, max: countMax }),
}).map((s): PlacementRequest => {
  const base = taskSpec();
  const spec: TaskSpec = {
    ...base,
    resources: { limits: base.resources.limits, reservations: { nanoCpus: s.nanoCpus, memoryBytes: s.memoryBytes } },
    placement: { constraints: s.constraints, maxReplicasPerNode: s.maxReplicasPerNode, preferences: s.preferences.map((spread) => ({ spread })), platforms: [] },
  };
  return { serviceId: SERVICE, spec, ports: s.ports, preferences: s.preferences, count: s.count };
});

// size 'max': fast-check's default ('small') would keep arrays near 10 elements whatever nodesMax says.
const clusterArb = (nodesMax: number, idMax: number, countMax: number): fc.Arbitrary<{ nodes: Node[]; loads: Map<string, NodeLoad>; request: PlacementRequest }> => fc.record({
  nodes: fc.array(nodeArb(idMax), { maxLength: nodesMax, size: 'max' }),
  loads: fc.array(fc.tuple(fc.integer({ min: 0, max: idMax }).map((k) => `n${k}`), loadArb), { maxLength: nodesMax, size: 'max' }).map((entries) => new Map(entries)),
  request: requestArb(countMax),
});

/** The loads as plain data, to see that a call left them as they were. */
function snapshot(loads: ReadonlyMap<string, NodeLoad>): unknown {
  return [...loads].map(([id, l]) => [id, l.tasks, [...l.tasksOfService], l.reservedNanoCpus, l.reservedMemoryBytes, [...l.hostPorts]]);
}

function expectSamePlacement(request: PlacementRequest, nodes: readonly Node[], loads: ReadonlyMap<string, NodeLoad>): void {
  const before = snapshot(loads);
  const result = placeTasks(request, nodes, loads);
  expect(snapshot(loads)).toEqual(before);
  expect(result).toEqual(placeTasksReference(request, nodes, loads));
}

describe('placement equivalence with the re-sorting implementation', () => {
  test('small clusters: every filter, 0-2 preference levels, loads, repeated ids', () => {
    fc.assert(fc.property(clusterArb(14, 24, 40), ({ nodes, loads, request }) => expectSamePlacement(request, nodes, loads)), { numRuns: 1_500 });
  });

  test('one node list across calls (what placement derives from it is kept): other requests, and nodes replaced in place between calls', () => {
    const arb = fc.record({
      nodes: fc.array(nodeArb(24), { minLength: 1, maxLength: 14, size: 'max' }),
      replacements: fc.array(fc.tuple(fc.nat(), nodeArb(24)), { maxLength: 3 }),
      loads: fc.array(fc.tuple(fc.integer({ min: 0, max: 24 }).map((k) => `n${k}`), loadArb), { maxLength: 14, size: 'max' }).map((entries) => new Map(entries)),
      requests: fc.array(requestArb(40), { minLength: 2, maxLength: 4 }),
    });
    fc.assert(fc.property(arb, ({ nodes, replacements, loads, requests }) => {
      for (const request of requests) expectSamePlacement(request, nodes, loads);
      for (const [at, node] of replacements) nodes[at % nodes.length] = node;
      for (const request of requests) expectSamePlacement(request, nodes, loads);
    }), { numRuns: 500 });
  });

  test('larger clusters, where the heaps are deep and nodes leave them as they fill', () => {
    fc.assert(fc.property(clusterArb(150, 400, 400), ({ nodes, loads, request }) => expectSamePlacement(request, nodes, loads)), { numRuns: 60 });
  });

  test('a thousand nodes over two preference levels, filled until the cluster runs out', () => {
    const zones = ['a', 'b', 'c', 'd', 'e'];
    const nodes: Node[] = [];
    const loads = new Map<string, NodeLoad>();
    for (let k = 0; k < 1_000; k++) {
      const id = `node-${(k * 7919) % 1_000}`;
      const labels: Record<string, string> = k % 11 === 0 ? {} : { zone: zones[k % zones.length]!, rack: `r${k % 13}` };
      nodes.push({
        id, meta: { version: 1, createdAt: 0, updatedAt: 0 },
        spec: { annotations: { name: id, labels }, role: 'worker', availability: k % 17 === 0 ? 'drain' : 'active' },
        description: { hostname: id, platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 4e9, memoryBytes: (1 + (k % 4)) * GIB }, engineLabels: {} },
        status: { state: k % 23 === 0 ? 'down' : 'ready', message: '', addr: '10.0.0.1' },
      });
      if (k % 3 === 0) loads.set(id, { tasks: k % 5, tasksOfService: new Map([[SERVICE, k % 3 === 0 ? 1 : 0]]), reservedNanoCpus: 0, reservedMemoryBytes: (k % 2) * GIB / 2, hostPorts: new Set() });
    }
    const base = taskSpec();
    const request: PlacementRequest = {
      serviceId: SERVICE,
      spec: { ...base, resources: { limits: base.resources.limits, reservations: { nanoCpus: 0, memoryBytes: GIB / 2 } }, placement: { constraints: [], maxReplicasPerNode: 5, preferences: [], platforms: [] } },
      ports: [],
      preferences: ['node.labels.zone', 'node.labels.rack'],
      count: 6_000,
    };
    const result = placeTasks(request, nodes, loads);
    expect(result.assignments.length).toBeLessThan(request.count);
    expect(result.unschedulable).toMatch(/^no suitable node \(/);
    expectSamePlacement(request, nodes, loads);
  });
});

describe('a LoadTable places as the map of the same loads', () => {
  /** One task counted or uncounted: node, service, reservations, host ports. */
  const opArb = fc.record({
    node: fc.integer({ min: 0, max: 24 }).map((k) => `n${k}`),
    service: fc.constantFrom(SERVICE, 'other', 'third'),
    nanoCpus: fc.constantFrom(0, 5e8, 1e9),
    memoryBytes: fc.constantFrom(0, GIB / 2, GIB),
    hostPorts: fc.subarray(['tcp/80', 'tcp/8080', 'udp/80'], { maxLength: 1 }),
    remove: fc.boolean(),
  });

  test('columns or lookups, lists changed and repeated ids, tasks counted and uncounted between calls', () => {
    const arb = fc.record({
      lists: fc.array(fc.array(nodeArb(24), { minLength: 1, maxLength: 14, size: 'max' }), { minLength: 1, maxLength: 3 }),
      columnsNodesMin: fc.constantFrom(0, 1, 8, 64),
      rounds: fc.array(fc.record({ ops: fc.array(opArb, { maxLength: 12 }), list: fc.nat(), request: requestArb(30) }), { minLength: 1, maxLength: 6 }),
    });
    fc.assert(fc.property(arb, ({ lists, columnsNodesMin, rounds }) => {
      const table = new LoadTable({ columnsNodesMin });
      /** What was counted, so that an uncount matches a count (as the scheduler's are). */
      const counted: Array<{ node: string; service: string; nanoCpus: number; memoryBytes: number; hostPorts: string[] }> = [];
      for (const { ops, list, request } of rounds) {
        for (const op of ops) {
          if (op.remove && counted.length > 0) {
            const c = counted.splice(counted.length >> 1, 1)[0]!;
            table.add(c.node, c.service, c.nanoCpus, c.memoryBytes, c.hostPorts, -1);
          } else {
            counted.push(op);
            table.add(op.node, op.service, op.nanoCpus, op.memoryBytes, op.hostPorts, 1);
          }
        }
        const nodes = lists[list % lists.length]!;
        expect(placeTasks(request, nodes, table)).toEqual(placeTasks(request, nodes, table.toMap()));
      }
    }), { numRuns: 800 });
  });

  test('a thousand nodes, the columns kept current across calls', () => {
    const nodes: Node[] = [];
    for (let k = 0; k < 1_000; k++) {
      const id = `node-${(k * 7919) % 1_000}`;
      nodes.push({
        id, meta: { version: 1, createdAt: 0, updatedAt: 0 },
        spec: { annotations: { name: id, labels: { zone: `z${k % 3}` } }, role: 'worker', availability: 'active' },
        description: { hostname: id, platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 4e9, memoryBytes: 4 * GIB }, engineLabels: {} },
        status: { state: 'ready', message: '', addr: '10.0.0.1' },
      });
    }
    const base = taskSpec();
    const table = new LoadTable();
    for (let call = 0; call < 12; call++) {
      const serviceId = `svc${call % 4}`;
      const request: PlacementRequest = {
        serviceId,
        spec: { ...base, resources: { limits: base.resources.limits, reservations: { nanoCpus: 1e8, memoryBytes: GIB / 8 } }, placement: { constraints: [], maxReplicasPerNode: 0, preferences: [], platforms: [] } },
        ports: [],
        preferences: call % 2 === 0 ? ['node.labels.zone'] : [],
        count: 700,
      };
      const result = placeTasks(request, nodes, table);
      expect(result).toEqual(placeTasks(request, nodes, table.toMap()));
      for (const nodeId of result.assignments) table.add(nodeId, serviceId, 1e8, GIB / 8, [], 1);
      // Some tasks end: uncounted, as the scheduler does.
      for (const nodeId of result.assignments.slice(0, 50)) table.add(nodeId, serviceId, 1e8, GIB / 8, [], -1);
    }
  });
});

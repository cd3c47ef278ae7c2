// The scheduler's pure core: constraints, the filter pipeline with its explanations, and spread
// with placement preferences. Called directly, without a runtime (STYLE.md practice 1).
import fc from 'fast-check';
import { ConstraintSyntaxError, EMPTY_LOAD, constraintMet, parseConstraint, placeTasks, type NodeLoad, type PlacementRequest } from '../../actors/index.js';
import type { Node, TaskSpec } from '../../journal/index.js';
import { taskSpec } from '../journal/journal-fixtures.js';

const GIB = 2 ** 30;

function node(id: string, over: { labels?: Record<string, string>; engineLabels?: Record<string, string>; role?: 'manager' | 'worker'; state?: Node['status']['state']; availability?: Node['spec']['availability']; memoryBytes?: number; nanoCpus?: number; addr?: string } = {}): Node {
  return {
    id,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: { annotations: { name: id, labels: over.labels ?? {} }, role: over.role ?? 'worker', availability: over.availability ?? 'active' },
    description: { hostname: `host-${id}`, platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: over.nanoCpus ?? 4e9, memoryBytes: over.memoryBytes ?? 8 * GIB }, engineLabels: over.engineLabels ?? {} },
    status: { state: over.state ?? 'ready', message: '', addr: over.addr ?? '10.0.0.1:2377' },
  };
}

function spec(over: { constraints?: string[]; maxReplicasPerNode?: number; memoryBytes?: number; nanoCpus?: number } = {}): TaskSpec {
  const base = taskSpec();
  return {
    ...base,
    resources: { limits: base.resources.limits, reservations: { nanoCpus: over.nanoCpus ?? 0, memoryBytes: over.memoryBytes ?? 0 } },
    placement: { constraints: over.constraints ?? [], maxReplicasPerNode: over.maxReplicasPerNode ?? 0, preferences: [], platforms: [] },
  };
}

function request(over: Partial<PlacementRequest> & { spec?: TaskSpec } = {}): PlacementRequest {
  return { serviceId: 'svc', spec: spec(), ports: [], preferences: [], count: 1, ...over };
}

const counts = (ids: readonly string[]): Record<string, number> => ids.reduce<Record<string, number>>((acc, id) => ({ ...acc, [id]: (acc[id] ?? 0) + 1 }), {});

describe('constraints', () => {
  test('each key of SwarmKit grammar, == and !=, keys case-insensitive', () => {
    const n = node('n1', { labels: { gpu: 'true' }, engineLabels: { disk: 'ssd' }, role: 'manager', addr: '10.1.2.3:2377' });
    const met = (text: string): boolean => constraintMet(parseConstraint(text), n);
    expect(met('node.id==n1')).toBe(true);
    expect(met('node.hostname!=host-n1')).toBe(false);
    expect(met('node.role==manager')).toBe(true);
    expect(met('NODE.ROLE == manager')).toBe(true);
    expect(met('node.platform.os==linux')).toBe(true);
    expect(met('node.platform.arch!=x86_64')).toBe(false);
    expect(met('node.labels.gpu==true')).toBe(true);
    expect(met('engine.labels.disk==ssd')).toBe(true);
    expect(met('node.ip==10.1.2.3')).toBe(true);
    expect(met('node.ip==10.1.0.0/16')).toBe(true);
    expect(met('node.ip==10.2.0.0/16')).toBe(false);
    // A missing label fails == and meets !=.
    expect(met('node.labels.zone==a')).toBe(false);
    expect(met('node.labels.zone!=a')).toBe(true);
  });

  test('a bad constraint is refused with a message that names it', () => {
    const bad = (text: string): string => {
      try {
        parseConstraint(text);
      } catch (error) {
        expect(error).toBeInstanceOf(ConstraintSyntaxError);
        return (error as Error).message;
      }
      throw new Error(`${text} parsed`);
    };
    expect(bad('node.labels.gpu=true')).toMatch(/"node.labels.gpu=true".*key==value/);
    expect(bad('node.colour==red')).toMatch(/unknown key "node.colour"/);
    expect(bad('node.role==boss')).toMatch(/manager or worker/);
    expect(bad('node.ip==10.0.0.300')).toMatch(/not an IPv4 address or CIDR/);
    expect(bad('node.id==')).toMatch(/value is empty/);
  });
});

describe('placement', () => {
  test('spread: replicas go to the nodes with fewest tasks of the service, then fewest tasks in all', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const loads = new Map<string, NodeLoad>([['a', { ...EMPTY_LOAD, tasks: 5 }]]);
    const result = placeTasks(request({ count: 7 }), nodes, loads);
    expect(result.unschedulable).toBe('');
    expect(counts(result.assignments)).toEqual({ a: 2, b: 3, c: 2 });
    // b and c (no other tasks) come first; a only once they hold more of the service.
    expect(result.assignments.slice(0, 2).sort()).toEqual(['b', 'c']);
  });

  test('the filter pipeline: not ready, drained, resources, constraints, host ports and max replicas each keep a node out', () => {
    const nodes = [
      node('down', { state: 'down' }),
      node('drained', { availability: 'drain' }),
      node('small', { memoryBytes: 1 * GIB }),
      node('plain'),
      node('gpu', { labels: { gpu: 'true' } }),
    ];
    const result = placeTasks(request({ spec: spec({ memoryBytes: 2 * GIB, constraints: ['node.labels.gpu==true'] }), count: 1 }), nodes, new Map());
    expect(result).toEqual({ assignments: ['gpu'], unschedulable: '' });
    const ports = [{ name: 'web', protocol: 'tcp' as const, targetPort: 80, publishedPort: 8080, publishMode: 'host' as const }];
    const busy = new Map<string, NodeLoad>([['gpu', { ...EMPTY_LOAD, hostPorts: new Set(['tcp/8080']) }]]);
    expect(placeTasks(request({ spec: spec({ constraints: ['node.labels.gpu==true'] }), ports }), nodes, busy).unschedulable)
      .toBe('no suitable node (node not ready or not active on 2 nodes; constraint node.labels.gpu==true not met on 2 nodes; host port already in use on 1 node)');
  });

  test('an unschedulable rest says why, counting each node once by its first failing filter', () => {
    const nodes = [node('a', { memoryBytes: 4 * GIB }), node('b', { memoryBytes: 4 * GIB }), node('c', { memoryBytes: 1 * GIB })];
    const result = placeTasks(request({ spec: spec({ memoryBytes: 3 * GIB }), count: 4 }), nodes, new Map());
    expect([...result.assignments].sort()).toEqual(['a', 'b']);
    expect(result.unschedulable).toBe('no suitable node (insufficient memory on 3 nodes)');
    expect(placeTasks(request(), [], new Map()).unschedulable).toBe('no suitable node (no nodes in the cluster)');
  });

  test('max replicas per node caps each node, including what it already runs', () => {
    const nodes = [node('a'), node('b')];
    const loads = new Map<string, NodeLoad>([['a', { ...EMPTY_LOAD, tasks: 1, tasksOfService: new Map([['svc', 1]]) }]]);
    const result = placeTasks(request({ spec: spec({ maxReplicasPerNode: 2 }), count: 5 }), nodes, loads);
    expect(counts(result.assignments)).toEqual({ a: 1, b: 2 });
    expect(result.unschedulable).toBe('no suitable node (max replicas per node reached on 2 nodes)');
  });

  test('placement preferences spread over label values first, hierarchically; nodes without the label form their own group', () => {
    const nodes = [
      node('a1', { labels: { zone: 'a', rack: '1' } }), node('a2', { labels: { zone: 'a', rack: '2' } }), node('a3', { labels: { zone: 'a', rack: '2' } }),
      node('b1', { labels: { zone: 'b', rack: '1' } }),
      node('x', {}),
    ];
    const result = placeTasks(request({ preferences: ['node.labels.zone', 'node.labels.rack'], count: 6 }), nodes, new Map());
    const byZone = counts(result.assignments.map((id) => (id === 'x' ? '' : id[0]!)));
    expect(byZone).toEqual({ a: 2, b: 2, '': 2 });
    // Within zone a, its two tasks go to the two racks, not to one.
    const zoneA = result.assignments.filter((id) => id.startsWith('a'));
    expect(new Set(zoneA.map((id) => (id === 'a1' ? '1' : '2'))).size).toBe(2);
  });

  test('properties: never a node that fails a filter, spread within one on equal nodes, the same inputs give the same placement', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ ready: fc.boolean(), gpu: fc.boolean(), memoryGiB: fc.integer({ min: 1, max: 8 }) }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 1, max: 30 }),
      fc.boolean(),
      (shapes, count, needGpu) => {
        const nodes = shapes.map((s, i) => node(`n${i}`, { state: s.ready ? 'ready' : 'down', labels: s.gpu ? { gpu: 'true' } : {}, memoryBytes: s.memoryGiB * GIB }));
        const req = request({ spec: spec({ constraints: needGpu ? ['node.labels.gpu==true'] : [], memoryBytes: GIB }), count });
        const result = placeTasks(req, nodes, new Map());
        expect(placeTasks(req, nodes, new Map())).toEqual(result);
        const placed = counts(result.assignments);
        for (const [id, n] of Object.entries(placed)) {
          const shape = shapes[Number(id.slice(1))]!;
          expect(shape.ready).toBe(true);
          if (needGpu) expect(shape.gpu).toBe(true);
          expect(n).toBeLessThanOrEqual(shape.memoryGiB); // each task reserves 1 GiB
        }
        // Nodes that could still take a task hold no fewer than any other placed node minus one.
        const open = nodes.filter((n) => n.status.state === 'ready' && (!needGpu || n.spec.annotations.labels['gpu'] === 'true') && (placed[n.id] ?? 0) < n.description.resources.memoryBytes / GIB);
        const max = Math.max(0, ...Object.values(placed));
        for (const n of open) expect(placed[n.id] ?? 0).toBeGreaterThanOrEqual(max - 1);
        expect(result.unschedulable === '').toBe(result.assignments.length === count);
      },
    ), { numRuns: 300 });
  });
});

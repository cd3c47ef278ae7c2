// The placement benchmark: tasks placed per second by the scheduler's pure core (`placeTasks`)
// beside the implementation it replaced (bench/placement-reference.ts), in the same run, on the
// same inputs. A benchmark, not a test: it prints figures and exits 0 (1 if the two disagree).
//
//   npm run bench:placement     (= node --expose-gc --import tsx bench/placement.ts)
//   flags: --calls 100 (calls per case), --reference-ms 3000 (time budget of the reference per case)
//
// Workload, as the scheduler actor calls it: batches of 1,000 tasks of one service per call, 100
// calls per case, the services taking turns (10 of them), each call given the loads left by the
// calls before it (applied between calls, untimed: keeping loads is the actor's work). Cases:
// 1,000 and 10,000 nodes, each with no placement preference and with two levels (5 zones, 20
// racks per zone; 1 node in 50 without labels). Every node runs the whole pipeline: 1 in 100 is
// down and 1 in 100 drained, tasks reserve CPU and memory (nodes differ in size, so the largest
// take more), every request carries a constraint (node.role==worker). The reference re-filters and
// re-sorts every node for every task, O(count x nodes log nodes): it runs the same calls until its
// time budget is spent (at least one call), and its assignments are checked against the new ones.
import os from 'node:os';
import { EMPTY_LOAD, placeTasks, type NodeLoad, type PlacementRequest, type PlacementResult } from '../actors/index.js';
import { CONTAINER_SPEC_DEFAULTS, type Node, type TaskSpec } from '../journal/index.js';
import { monotonicMs } from '../runtime/env/real/index.js';
import { placeTasksReference } from './placement-reference.js';

const GIB = 2 ** 30;
const TASKS_PER_CALL = 1_000;
const SERVICES = 10;
const ZONES = 5;
const RACKS_PER_ZONE = 20;

const gcFn = globalThis.gc;
if (gcFn === undefined) throw new Error('run with node --expose-gc (npm run bench:placement does)');
const gc: () => void = () => gcFn();

function parseFlags(argv: readonly string[]): { calls: number; referenceMs: number } {
  const flags = { calls: 100, referenceMs: 3_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]!;
    const value = Number(argv[i + 1]);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} needs a positive integer, got ${JSON.stringify(argv[i + 1])}`);
    if (name === '--calls') flags.calls = value;
    else if (name === '--reference-ms') flags.referenceMs = value;
    else throw new Error(`unknown flag ${name} (--calls, --reference-ms)`);
  }
  return flags;
}
const FLAGS = parseFlags(process.argv.slice(2));

function cluster(count: number): Node[] {
  const nodes: Node[] = [];
  for (let k = 0; k < count; k++) {
    const id = `node-${String(k).padStart(5, '0')}`;
    const zone = k % ZONES;
    const labels: Record<string, string> = k % 50 === 49 ? {} : { zone: `z${zone}`, rack: `z${zone}-r${Math.floor(k / ZONES) % RACKS_PER_ZONE}` };
    nodes.push({
      id,
      meta: { version: 1, createdAt: 0, updatedAt: 0 },
      spec: { annotations: { name: id, labels }, role: 'worker', availability: k % 100 === 17 ? 'drain' : 'active' },
      description: {
        hostname: id, platform: { os: 'linux', architecture: 'x86_64' },
        resources: { nanoCpus: (8 + (k % 4) * 8) * 1e9, memoryBytes: (32 + (k % 4) * 32) * GIB }, engineLabels: {},
      },
      status: { state: k % 100 === 42 ? 'down' : 'ready', message: '', addr: '10.0.0.1:2377' },
    });
  }
  return nodes;
}

function request(call: number, preferences: readonly string[]): PlacementRequest {
  const spec: TaskSpec = {
    container: { image: 'registry.local/web:1.0', command: [], args: [], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS },
    resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 1e7, memoryBytes: 2 ** 24 } },
    restartPolicy: { condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0 },
    placement: { constraints: ['node.role==worker'], maxReplicasPerNode: 0, preferences: preferences.map((spread) => ({ spread })), platforms: [] },
    networks: [],
    secrets: [],
    configs: [],
    forceUpdate: 0,
    runtime: 'container',
  };
  return { serviceId: `svc${call % SERVICES}`, spec, ports: [], preferences, count: TASKS_PER_CALL };
}

/** The loads after `assignments` of `req`, as the scheduler actor keeps them between calls. */
function applyAssignments(loads: Map<string, NodeLoad>, req: PlacementRequest, assignments: readonly string[]): void {
  const want = req.spec.resources.reservations;
  const added = new Map<string, number>();
  for (const id of assignments) added.set(id, (added.get(id) ?? 0) + 1);
  for (const [id, n] of added) {
    const load = loads.get(id) ?? EMPTY_LOAD;
    const tasksOfService = new Map(load.tasksOfService);
    tasksOfService.set(req.serviceId, (tasksOfService.get(req.serviceId) ?? 0) + n);
    loads.set(id, {
      tasks: load.tasks + n, tasksOfService,
      reservedNanoCpus: load.reservedNanoCpus + n * want.nanoCpus, reservedMemoryBytes: load.reservedMemoryBytes + n * want.memoryBytes,
      hostPorts: load.hostPorts,
    });
  }
}

function sameResult(a: PlacementResult, b: PlacementResult): boolean {
  return a.unschedulable === b.unschedulable && a.assignments.length === b.assignments.length && a.assignments.every((id, i) => id === b.assignments[i]);
}

/** What one implementation did over the calls of a case. */
interface Figures {
  calls: number;
  placed: number;
  ms: number;
  readonly callMs: number[];
}

/** Runs one call, gc first so that no call pays for the garbage of another, and counts it. */
function timedCall(figures: Figures, call: () => PlacementResult): PlacementResult {
  gc();
  const t0 = monotonicMs();
  const result = call();
  const ms = monotonicMs() - t0;
  figures.calls++;
  figures.placed += result.assignments.length;
  figures.ms += ms;
  figures.callMs.push(ms);
  return result;
}

/**
 * One case: `FLAGS.calls` calls of the new core on loads that grow from call to call; the
 * reference on the same calls, alternating which of the two goes first, until its budget is spent.
 */
function runCase(nodeCount: number, preferences: readonly string[]): { fresh: Figures; reference: Figures; agreed: boolean } {
  const nodes = cluster(nodeCount);
  const loads = new Map<string, NodeLoad>();
  const fresh: Figures = { calls: 0, placed: 0, ms: 0, callMs: [] };
  const reference: Figures = { calls: 0, placed: 0, ms: 0, callMs: [] };
  let agreed = true;
  for (let call = 0; call < FLAGS.calls; call++) {
    const req = request(call, preferences);
    const runReference = reference.ms < FLAGS.referenceMs;
    let older: PlacementResult | undefined;
    if (runReference && call % 2 === 1) older = timedCall(reference, () => placeTasksReference(req, nodes, loads));
    const result = timedCall(fresh, () => placeTasks(req, nodes, loads));
    if (runReference && call % 2 === 0) older = timedCall(reference, () => placeTasksReference(req, nodes, loads));
    if (older !== undefined && !sameResult(result, older)) agreed = false;
    if (result.unschedulable !== '') throw new Error(`the workload ran out of room: ${result.unschedulable}`);
    applyAssignments(loads, req, result.assignments);
  }
  return { fresh, reference, agreed };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] ?? NaN;
const rate = (f: Figures): number => (f.placed / f.ms) * 1_000;

console.log(`placement bench: node ${process.version}, ${os.cpus().length} cpus, ${os.cpus()[0]?.model ?? '?'}, load average ${os.loadavg()[0]?.toFixed(2)}`);
console.log(`${fmt(TASKS_PER_CALL)} tasks per call, ${FLAGS.calls} calls per case (${SERVICES} services in turn, loads carried over); reference budget ${fmt(FLAGS.referenceMs)} ms per case\n`);

// Warm-up: both implementations JIT-compiled before anything is timed.
{
  const nodes = cluster(200);
  for (const preferences of [[], ['node.labels.zone', 'node.labels.rack']]) {
    for (let call = 0; call < 5; call++) {
      placeTasks({ ...request(call, preferences), count: 200 }, nodes, new Map());
      placeTasksReference({ ...request(call, preferences), count: 200 }, nodes, new Map());
    }
  }
}

const header = ['nodes', 'preferences', 'implementation', 'calls', 'placements/s', 'ms/call (median)', 'speed-up'];
const rows: string[][] = [];
let disagreed = false;
for (const nodeCount of [1_000, 10_000]) {
  for (const preferences of [[], ['node.labels.zone', 'node.labels.rack']]) {
    const { fresh, reference, agreed } = runCase(nodeCount, preferences);
    const prefs = preferences.length === 0 ? 'none' : '2 levels';
    rows.push([fmt(nodeCount), prefs, 'reference (old)', String(reference.calls), fmt(rate(reference)), median(reference.callMs).toFixed(2), '1x']);
    rows.push([fmt(nodeCount), prefs, 'placeTasks (new)', String(fresh.calls), fmt(rate(fresh)), median(fresh.callMs).toFixed(2), `${(rate(fresh) / rate(reference)).toFixed(0)}x`]);
    rows.push([fmt(nodeCount), prefs, 'same assignments', agreed ? 'yes' : 'NO', '', '', '']);
    if (!agreed) disagreed = true;
  }
}
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
const line = (cells: readonly string[]): string => cells.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
console.log(line(header));
for (const r of rows) console.log(line(r));
if (disagreed) {
  console.log('\nthe new core and the reference disagreed on the same inputs');
  process.exitCode = 1;
}

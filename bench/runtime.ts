// The runtime benchmark: messages per second through local mailboxes, actors spawned per second
// under one supervisor and heap bytes per idle actor, each printed beside a baseline measured in
// the same process run (raw xstate, or the runtime's own small case). A benchmark, not a test: it
// prints figures and whether each goal is met, and exits 0 either way.
//
//   npm run bench:runtime        (= node --expose-gc --import tsx bench/runtime.ts)
//
// Method: the real Env (setImmediate dispatcher, wall clock); every timed figure gets warm-up
// runs, then the MEDIAN of the measured runs is reported (all runs are printed). A full GC runs
// before every run, outside the timed section. Timed sections are wall clock and include the GC
// pauses and page faults they cause; both are printed beside the median run, so that a figure
// dominated by memory effects can be told from one dominated by the runtime's own code. Heap
// figures are one measurement each: full GC, heapUsed, create N actors and keep them alive, full
// GC, heapUsed; (delta / N).
import os from 'node:os';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { assign, createActor, setup, spawnChild } from 'xstate';
import { ActorSystem, MemoryTransport, fromMachine, plain, type ActorContext, type Address, type Props } from '../runtime/index.js';
import { RealClock, monotonicMs, realEnv, yieldToMacrotask } from '../runtime/env/real/index.js';

// ---- sizes (every loop below is bounded by one of these) ----------------------------------------

/** The mailbox bound used by the "default bound" runs: the runtime's default (1000). */
const BOUND = 1000;
const PLAIN_ONE = 2_000_000; // messages into one plain actor per run
const SPREAD_ACTORS = 10_000;
const PLAIN_SPREAD_ROUNDS = 100; // messages per actor per run (<= BOUND, so one burst fits)
const XSTATE_ONE = 100_000; // events into one xstate actor per run
const XSTATE_SPREAD_ROUNDS = 10; // events per actor per run
const SPAWN_SMALL = 1_000;
const SPAWN_MID = 10_000; // past the cache-hot regime of the 1,000 run: the linearity check that memory effects do not swamp
const SPAWN_LARGE = 100_000;
const SPAWN_GROUPS = SPAWN_LARGE / SPAWN_SMALL; // the control: 100 supervisors x 1,000 children
const XSTATE_SPAWN = 20_000; // xstate actors per spawn run (raw top-level and runtime children)
const XSTATE_SPAWNCHILD = 2_000; // raw xstate spawnChild inside one parent (reported to slow quadratically)
const XSTATE_SPAWNCHILD_SMALL = 500;
const XSTATE_SPAWNCHILD_LARGE = 5_000; // where a quadratic spawnChild would show

const WARMUPS = 1;
const REPEATS = 3;
/** Sub-millisecond runs are noisier: more warm-ups and more measured runs (still the median). */
const WARMUPS_SHORT = 3;
const REPEATS_SHORT = 9;

const gcFn = globalThis.gc;
if (gcFn === undefined) {
  console.error('bench/runtime.ts needs node --expose-gc (use npm run bench:runtime)');
  process.exit(2);
}
const gc: () => void = () => gcFn();

function settledHeap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** GC pauses, as reported by V8; attributed to a timed section by their start time. */
const gcEntries: PerformanceEntry[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcEntries.push(entry);
});
gcObserver.observe({ entryTypes: ['gc'] });

function minorPageFaults(): number {
  return process.resourceUsage().minorPageFault;
}

/** The timed section of the current run: `begin()` ... `end()` (which returns elapsed ms). */
const section = { t0: 0, t1: 0, faults0: 0, faults1: 0 };
function begin(): void {
  section.faults0 = minorPageFaults();
  section.t0 = monotonicMs();
}
function end(): number {
  section.t1 = monotonicMs();
  section.faults1 = minorPageFaults();
  return section.t1 - section.t0;
}

/** What one minor page fault costs on this machine: touch 64 MiB of fresh memory once. */
function pageFaultMicros(): number {
  const faults0 = minorPageFaults();
  const t0 = monotonicMs();
  const bytes = new Uint8Array(64 * 1024 * 1024);
  for (let i = 0; i < bytes.length; i += 4096) bytes[i] = 1;
  const ms = monotonicMs() - t0;
  const faults = minorPageFaults() - faults0;
  return faults > 0 ? (ms * 1000) / faults : 0;
}

// ---- the workload: one small machine for raw xstate and for the runtime ------------------------

type CounterEvent = { type: 'inc' } | { type: 'done' };
const INC: CounterEvent = { type: 'inc' };
const DONE: CounterEvent = { type: 'done' };

/** Completion: a 'done' event (xstate) or the n-th message (plain) calls `wake`. */
let wake: () => void = () => undefined;
let donesPending = 0;
let seen = 0;
let seenTarget = -1;

function expectDones(n: number): Promise<void> {
  donesPending = n;
  return new Promise((resolve) => {
    wake = resolve;
  });
}

function expectMessages(n: number): Promise<void> {
  seenTarget = seen + n;
  return new Promise((resolve) => {
    wake = resolve;
  });
}

/** A counter with assign and two states; 'done' runs an action that reports completion. */
const counterMachine = setup({
  types: { context: {} as { count: number }, events: {} as CounterEvent },
  actions: {
    finished: () => {
      if (--donesPending === 0) wake();
    },
  },
}).createMachine({
  id: 'counter',
  context: { count: 0 },
  initial: 'even',
  states: {
    even: { on: { inc: { target: 'odd', actions: assign({ count: ({ context }) => context.count + 1 }) } } },
    odd: { on: { inc: { target: 'even', actions: assign({ count: ({ context }) => context.count + 1 }) } } },
  },
  on: { done: { actions: 'finished' } },
});

/** One event stream for every xstate run: a 'done' closes each burst of BOUND events. */
function eventAt(i: number): CounterEvent {
  return i % BOUND === BOUND - 1 ? DONE : INC;
}

const parentMachine = setup({ actors: { counter: counterMachine } }).createMachine({
  id: 'parent',
  on: { spawn: { actions: spawnChild('counter') } },
});

// ---- the runtime under test ---------------------------------------------------------------------

const clock = new RealClock();
const env = realEnv({ transport: new MemoryTransport({ defer: (fn) => clock.defer(fn) }) });
const system = new ActorSystem({ nodeId: 'bench', env });

const sinkReceive = (): void => {
  if (++seen === seenTarget) wake();
};
const plainSink = plain<unknown>('sink', sinkReceive);
const plainSinkDeep = plain<unknown>('sink', sinkReceive, { mailboxDepthMax: PLAIN_ONE });
const plainIdle = plain<unknown>('idle', () => undefined);
const xstateCounter = fromMachine({ kind: 'counter', machine: counterMachine });
const xstateCounterDeep = fromMachine({ kind: 'counter', machine: counterMachine, mailboxDepthMax: XSTATE_ONE });

/** A supervisor that runs a function as its own turn: children are spawned from inside a turn. */
interface RunInTurn {
  readonly fn: (ctx: ActorContext) => void;
}
const supervisorProps = plain<RunInTurn>('supervisor', (message, ctx) => message.fn(ctx));
let supervisorSeq = 0;

function newSupervisor(tag: string): Address {
  return system.spawn(`${tag}-${++supervisorSeq}`, supervisorProps);
}

function inTurn<T>(supervisor: Address, fn: (ctx: ActorContext) => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const message: RunInTurn = {
      fn: (ctx) => {
        try {
          resolve(fn(ctx));
        } catch (error) {
          reject(error as Error);
        }
      },
    };
    system.send(supervisor, message);
  });
}

/** Spawns `n` children of `props` in one turn of `supervisor`; returns the ms the spawns took. */
function spawnChildren(supervisor: Address, n: number, props: Props<never>): Promise<number> {
  return inTurn(supervisor, (ctx) => {
    begin();
    for (let i = 0; i < n; i++) ctx.spawn(`c${i}`, props);
    return end();
  });
}

/**
 * The control for spawn linearity: `perSupervisor` children under each of `supervisors`, one turn
 * each, all turns back to back in one dispatcher turn (one timed section, first turn to last).
 */
function spawnChildrenSpread(supervisors: Address[], perSupervisor: number, props: Props<never>): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    supervisors.forEach((supervisor, k) => {
      const message: RunInTurn = {
        fn: (ctx) => {
          try {
            if (k === 0) begin();
            for (let i = 0; i < perSupervisor; i++) ctx.spawn(`c${i}`, props);
            if (k === supervisors.length - 1) resolve(end());
          } catch (error) {
            reject(error as Error);
          }
        },
      };
      system.send(supervisor, message);
    });
  });
}

// ---- measurement -------------------------------------------------------------------------------

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

interface Run {
  readonly rate: number;
  readonly ms: number;
  readonly gcMs: number;
  readonly faults: number;
}

/**
 * Runs `once` (which brackets its timed section with `begin()`/`end()` and returns `end()`'s
 * elapsed ms for `ops` operations); returns the median rate.
 */
async function rate(label: string, ops: number, once: () => Promise<number> | number, short = false): Promise<number> {
  const warmups = short ? WARMUPS_SHORT : WARMUPS;
  const repeats = short ? REPEATS_SHORT : REPEATS;
  for (let i = 0; i < warmups; i++) {
    gc();
    await once();
  }
  const runs: Run[] = [];
  for (let i = 0; i < repeats; i++) {
    gc();
    await yieldToMacrotask();
    gcEntries.length = 0;
    const ms = await once();
    const { t0, t1, faults0, faults1 } = section;
    await yieldToMacrotask(); // GC entries are delivered asynchronously
    await yieldToMacrotask();
    const gcMs = gcEntries.filter((e) => e.startTime >= t0 && e.startTime < t1).reduce((sum, e) => sum + e.duration, 0);
    runs.push({ rate: ops / (ms / 1000), ms, gcMs, faults: faults1 - faults0 });
  }
  const sorted = [...runs].sort((a, b) => a.rate - b.rate);
  const mid = sorted[sorted.length >> 1] as Run;
  const value = repeats % 2 === 1 ? mid.rate : median(runs.map((r) => r.rate));
  console.log(`  ${label.padEnd(72)} ${fmt(value).padStart(11)}/s  (runs: ${runs.map((r) => fmt(r.rate)).join(', ')})`);
  console.log(`  ${''.padEnd(72)} median run: ${mid.ms.toFixed(1)} ms, GC pauses ${mid.gcMs.toFixed(1)} ms, ${fmt(mid.faults)} minor page faults`);
  return value;
}

function heapLine(label: string, bytesPerActor: number, n: number): number {
  console.log(`  ${label.padEnd(72)} ${fmt(bytesPerActor).padStart(11)} B  (heapUsed delta / ${fmt(n)}, one measurement after full GC)`);
  return bytesPerActor;
}

interface Row {
  readonly figure: string;
  readonly runtime: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly goal: string;
  readonly met: string;
}
const rows: Row[] = [];

function row(figure: string, runtime: number, baselineLabel: string, baseline: number, unit: string, goal: string, met: boolean | undefined): void {
  rows.push({
    figure,
    runtime: `${fmt(runtime)}${unit}`,
    baseline: `${fmt(baseline)}${unit} ${baselineLabel}`,
    ratio: `${(runtime / baseline).toFixed(2)}x`,
    goal,
    met: met === undefined ? 'info' : met ? 'yes' : 'NO',
  });
}

function printTable(): void {
  const header: Row = { figure: 'figure', runtime: 'runtime', baseline: 'baseline', ratio: 'ratio', goal: 'goal', met: 'met?' };
  const keys = ['figure', 'runtime', 'baseline', 'ratio', 'goal', 'met'] as const;
  const widths = keys.map((k) => Math.max(header[k].length, ...rows.map((r) => r[k].length)));
  const line = (r: Row): string => keys.map((k, i) => r[k].padEnd(widths[i] as number)).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
}

// ---- the figures -------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = monotonicMs();
  console.log(`runtime bench: node ${process.version}, ${os.cpus().length} cpus, ${os.cpus()[0]?.model ?? '?'}`);
  console.log(
    `system: real Env (setImmediate dispatcher), MemoryTransport (local sends bypass it), mailboxDepthMaxDefault ${BOUND}, ` +
      `throughputPerActor 64, messagesPerTurnMax 20,000 (the defaults); overflow 'fail'.`,
  );
  console.log('senders: the bench itself via system.send (no sender address); the same event objects are reused for every run.');
  console.log(`timing: median of ${REPEATS} runs after ${WARMUPS} warm-up (sub-ms runs: median of ${REPEATS_SHORT} after ${WARMUPS_SHORT}); full GC before each run, untimed.`);
  console.log(`machine: one minor page fault (first touch of fresh memory) costs ${pageFaultMicros().toFixed(1)} us here.\n`);

  // -- messages, raw xstate baselines ------------------------------------------------------------
  console.log('messages/s');
  const rawOne = createActor(counterMachine).start();
  const rawOneRate = await rate(`raw xstate: createActor(machine).send x ${fmt(XSTATE_ONE)}, 1 actor`, XSTATE_ONE, async () => {
    const done = expectDones(XSTATE_ONE / BOUND);
    begin();
    for (let i = 0; i < XSTATE_ONE; i++) rawOne.send(eventAt(i));
    await done;
    return end();
  });
  rawOne.stop();

  const rawMany = Array.from({ length: SPREAD_ACTORS }, () => createActor(counterMachine).start());
  const xstateSpreadTotal = SPREAD_ACTORS * XSTATE_SPREAD_ROUNDS;
  const rawManyRate = await rate(`raw xstate: send over ${fmt(SPREAD_ACTORS)} actors, ${XSTATE_SPREAD_ROUNDS} each`, xstateSpreadTotal, async () => {
    const done = expectDones(SPREAD_ACTORS);
    begin();
    for (let r = 0; r < XSTATE_SPREAD_ROUNDS - 1; r++) for (const a of rawMany) a.send(INC);
    for (const a of rawMany) a.send(DONE);
    await done;
    return end();
  });
  for (const a of rawMany) a.stop();
  rawMany.length = 0;

  // -- messages, runtime plain -------------------------------------------------------------------
  const msgSup = newSupervisor('messages');
  const plainOne = system.spawn('plain-one', plainSink);
  const plainOneRate = await rate(`runtime plain: 1 mailbox, bound ${BOUND}, ${fmt(PLAIN_ONE)} in bursts of ${BOUND}`, PLAIN_ONE, async () => {
    begin();
    for (let sent = 0; sent < PLAIN_ONE; sent += BOUND) {
      const done = expectMessages(BOUND);
      for (let i = 0; i < BOUND; i++) system.send(plainOne, INC);
      await done;
    }
    return end();
  });
  system.stop(plainOne);

  const plainDeep = system.spawn('plain-deep', plainSinkDeep);
  const plainDeepRate = await rate(`runtime plain: 1 mailbox, mailboxDepthMax ${fmt(PLAIN_ONE)}, one burst`, PLAIN_ONE, async () => {
    const done = expectMessages(PLAIN_ONE);
    begin();
    for (let i = 0; i < PLAIN_ONE; i++) system.send(plainDeep, INC);
    await done;
    return end();
  });
  system.stop(plainDeep);

  const plainMany = await inTurn(msgSup, (ctx) => Array.from({ length: SPREAD_ACTORS }, (_, i) => ctx.spawn(`p${i}`, plainSink)));
  const plainSpreadTotal = SPREAD_ACTORS * PLAIN_SPREAD_ROUNDS;
  const plainManyRate = await rate(`runtime plain: ${fmt(SPREAD_ACTORS)} actors, ${PLAIN_SPREAD_ROUNDS} each, bound ${BOUND}, one burst`, plainSpreadTotal, async () => {
    const done = expectMessages(plainSpreadTotal);
    begin();
    for (let r = 0; r < PLAIN_SPREAD_ROUNDS; r++) for (const a of plainMany) system.send(a, INC);
    await done;
    return end();
  });

  // -- messages, runtime xstate ------------------------------------------------------------------
  const xOne = system.spawn('xstate-one', xstateCounter);
  const xOneRate = await rate(`runtime xstate: 1 mailbox, bound ${BOUND}, ${fmt(XSTATE_ONE)} in bursts of ${BOUND}`, XSTATE_ONE, async () => {
    begin();
    for (let sent = 0; sent < XSTATE_ONE; sent += BOUND) {
      const done = expectDones(1);
      for (let i = 0; i < BOUND; i++) system.send(xOne, eventAt(i));
      await done;
    }
    return end();
  });
  system.stop(xOne);

  const xDeep = system.spawn('xstate-deep', xstateCounterDeep);
  const xDeepRate = await rate(`runtime xstate: 1 mailbox, mailboxDepthMax ${fmt(XSTATE_ONE)}, one burst`, XSTATE_ONE, async () => {
    const done = expectDones(XSTATE_ONE / BOUND);
    begin();
    for (let i = 0; i < XSTATE_ONE; i++) system.send(xDeep, eventAt(i));
    await done;
    return end();
  });
  system.stop(xDeep);

  const xMany = await inTurn(msgSup, (ctx) => Array.from({ length: SPREAD_ACTORS }, (_, i) => ctx.spawn(`x${i}`, xstateCounter)));
  const xManyRate = await rate(`runtime xstate: ${fmt(SPREAD_ACTORS)} actors, ${XSTATE_SPREAD_ROUNDS} each, bound ${BOUND}, one burst`, xstateSpreadTotal, async () => {
    const done = expectDones(SPREAD_ACTORS);
    begin();
    for (let r = 0; r < XSTATE_SPREAD_ROUNDS - 1; r++) for (const a of xMany) system.send(a, INC);
    for (const a of xMany) system.send(a, DONE);
    await done;
    return end();
  });
  system.stop(msgSup);
  plainMany.length = 0;
  xMany.length = 0;

  // -- spawning, raw xstate baselines ------------------------------------------------------------
  console.log('\nactors spawned/s and heap per idle actor');
  const rawTopLevel = (n: number) => (): number => {
    const actors = new Array<{ stop(): void }>(n);
    begin();
    for (let i = 0; i < n; i++) actors[i] = createActor(counterMachine).start();
    const ms = end();
    for (const a of actors) a.stop();
    return ms;
  };
  const rawTopSmallRate = await rate(`raw xstate: createActor(machine).start() x ${fmt(SPAWN_SMALL)}, top-level`, SPAWN_SMALL, rawTopLevel(SPAWN_SMALL), true);
  const rawTopRate = await rate(`raw xstate: createActor(machine).start() x ${fmt(XSTATE_SPAWN)}, top-level`, XSTATE_SPAWN, rawTopLevel(XSTATE_SPAWN));

  let rawHeap: number;
  {
    const h0 = settledHeap();
    const actors = new Array<{ stop(): void }>(XSTATE_SPAWN);
    for (let i = 0; i < XSTATE_SPAWN; i++) actors[i] = createActor(counterMachine).start();
    const h1 = settledHeap();
    rawHeap = heapLine(`raw xstate: heap per started top-level actor (${fmt(XSTATE_SPAWN)}, incl. 8 B array slot)`, (h1 - h0) / XSTATE_SPAWN, XSTATE_SPAWN);
    for (const a of actors) a.stop();
  }

  const rawSpawnChild = (n: number) => (): number => {
    const parent = createActor(parentMachine).start();
    begin();
    for (let i = 0; i < n; i++) parent.send({ type: 'spawn' });
    const ms = end();
    parent.stop();
    return ms;
  };
  const rawSpawnChildRate = await rate(`raw xstate: spawnChild x ${fmt(XSTATE_SPAWNCHILD)} inside one parent machine`, XSTATE_SPAWNCHILD, rawSpawnChild(XSTATE_SPAWNCHILD));
  const rawSpawnChildSmallRate = await rate(`raw xstate: spawnChild x ${fmt(XSTATE_SPAWNCHILD_SMALL)} inside one parent machine`, XSTATE_SPAWNCHILD_SMALL, rawSpawnChild(XSTATE_SPAWNCHILD_SMALL), true);
  const rawSpawnChildLargeRate = await rate(`raw xstate: spawnChild x ${fmt(XSTATE_SPAWNCHILD_LARGE)} inside one parent machine`, XSTATE_SPAWNCHILD_LARGE, rawSpawnChild(XSTATE_SPAWNCHILD_LARGE));

  // -- spawning, runtime ---------------------------------------------------------------------------
  const runtimeSpawn = (n: number, props: Props<never>) => async (): Promise<number> => {
    const supervisor = newSupervisor('spawn');
    const ms = await spawnChildren(supervisor, n, props);
    system.stop(supervisor);
    return ms;
  };
  const plainSmallRate = await rate(`runtime plain: ${fmt(SPAWN_SMALL)} children under one supervisor`, SPAWN_SMALL, runtimeSpawn(SPAWN_SMALL, plainIdle), true);
  const plainMidRate = await rate(`runtime plain: ${fmt(SPAWN_MID)} children under one supervisor`, SPAWN_MID, runtimeSpawn(SPAWN_MID, plainIdle));
  const plainLargeRate = await rate(`runtime plain: ${fmt(SPAWN_LARGE)} children under one supervisor`, SPAWN_LARGE, runtimeSpawn(SPAWN_LARGE, plainIdle));
  const plainGroupsRate = await rate(`runtime plain: ${fmt(SPAWN_SMALL)} children under each of ${SPAWN_GROUPS} supervisors, back to back`, SPAWN_LARGE, async () => {
    const supervisors = Array.from({ length: SPAWN_GROUPS }, () => newSupervisor('spawn'));
    const ms = await spawnChildrenSpread(supervisors, SPAWN_SMALL, plainIdle);
    for (const supervisor of supervisors) system.stop(supervisor);
    return ms;
  });
  const xSpawnSmallRate = await rate(`runtime xstate: ${fmt(XSTATE_SPAWNCHILD)} children under one supervisor`, XSTATE_SPAWNCHILD, runtimeSpawn(XSTATE_SPAWNCHILD, xstateCounter));
  const xSpawnRate = await rate(`runtime xstate: ${fmt(XSTATE_SPAWN)} children under one supervisor`, XSTATE_SPAWN, runtimeSpawn(XSTATE_SPAWN, xstateCounter));

  const runtimeHeap = async (n: number, props: Props<never>): Promise<number> => {
    const supervisor = newSupervisor('heap');
    await inTurn(supervisor, () => undefined); // its own mailbox is allocated before the first reading
    const h0 = settledHeap();
    await spawnChildren(supervisor, n, props);
    const h1 = settledHeap();
    if (system.actorCount < n) throw new Error(`expected ${n} live actors, found ${system.actorCount}`);
    system.stop(supervisor);
    return (h1 - h0) / n;
  };
  const plainHeap = heapLine(`runtime plain: heap per idle child (${fmt(SPAWN_LARGE)} under one supervisor)`, await runtimeHeap(SPAWN_LARGE, plainIdle), SPAWN_LARGE);
  const xHeap = heapLine(`runtime xstate: heap per idle child (${fmt(XSTATE_SPAWN)} under one supervisor)`, await runtimeHeap(XSTATE_SPAWN, xstateCounter), XSTATE_SPAWN);

  // -- the table -----------------------------------------------------------------------------------
  const MSG_GOAL = 2_000_000;
  row(`msgs/s plain, 1 mailbox, bound ${BOUND}, bursts of ${BOUND}`, plainOneRate, '(raw xstate, 1 actor)', rawOneRate, '/s', '>= 2,000,000/s', plainOneRate >= MSG_GOAL);
  row(`msgs/s plain, 1 mailbox, mailboxDepthMax ${fmt(PLAIN_ONE)}`, plainDeepRate, '(raw xstate, 1 actor)', rawOneRate, '/s', '>= 2,000,000/s', plainDeepRate >= MSG_GOAL);
  row(`msgs/s plain, ${fmt(SPREAD_ACTORS)} actors, bound ${BOUND}`, plainManyRate, `(raw xstate, ${fmt(SPREAD_ACTORS)} actors)`, rawManyRate, '/s', '>= 2,000,000/s', plainManyRate >= MSG_GOAL);
  row(`events/s xstate, 1 mailbox, bound ${BOUND}, bursts of ${BOUND}`, xOneRate, '(raw xstate, 1 actor)', rawOneRate, '/s', '>= 0.8x baseline', xOneRate >= 0.8 * rawOneRate);
  row(`events/s xstate, 1 mailbox, mailboxDepthMax ${fmt(XSTATE_ONE)}`, xDeepRate, '(raw xstate, 1 actor)', rawOneRate, '/s', '>= 0.8x baseline', xDeepRate >= 0.8 * rawOneRate);
  row(`events/s xstate, ${fmt(SPREAD_ACTORS)} actors, bound ${BOUND}`, xManyRate, `(raw xstate, ${fmt(SPREAD_ACTORS)} actors)`, rawManyRate, '/s', '>= 0.8x baseline', xManyRate >= 0.8 * rawManyRate);
  row(`spawns/s plain, ${fmt(SPAWN_SMALL)} children, 1 supervisor`, plainSmallRate, `(raw xstate top-level x ${fmt(SPAWN_SMALL)})`, rawTopSmallRate, '/s', '-', undefined);
  row(`spawns/s plain, ${fmt(SPAWN_LARGE)} children, 1 supervisor`, plainLargeRate, `(runtime, ${fmt(SPAWN_SMALL)} children)`, plainSmallRate, '/s', '>= 0.8x baseline', plainLargeRate >= 0.8 * plainSmallRate);
  row(`  same, vs ${fmt(SPAWN_MID)} children, 1 supervisor`, plainLargeRate, `(runtime, ${fmt(SPAWN_MID)} children)`, plainMidRate, '/s', '>= 0.8x baseline', plainLargeRate >= 0.8 * plainMidRate);
  row(`  control: same, vs ${SPAWN_GROUPS} supervisors x ${fmt(SPAWN_SMALL)}`, plainLargeRate, `(runtime, ${SPAWN_GROUPS} x ${fmt(SPAWN_SMALL)} children)`, plainGroupsRate, '/s', '>= 0.8x baseline', plainLargeRate >= 0.8 * plainGroupsRate);
  row(`spawns/s xstate, ${fmt(XSTATE_SPAWN)} children`, xSpawnRate, `(raw xstate top-level x ${fmt(XSTATE_SPAWN)})`, rawTopRate, '/s', '-', undefined);
  row(`spawns/s xstate, ${fmt(XSTATE_SPAWNCHILD)} children`, xSpawnSmallRate, `(raw spawnChild x ${fmt(XSTATE_SPAWNCHILD)}, 1 parent)`, rawSpawnChildRate, '/s', '-', undefined);
  row(`heap/idle plain actor, ${fmt(SPAWN_LARGE)} children`, plainHeap, `(raw xstate top-level, ${fmt(XSTATE_SPAWN)})`, rawHeap, ' B', '<= 1,024 B', plainHeap <= 1024);
  row(`heap/idle xstate actor, ${fmt(XSTATE_SPAWN)} children`, xHeap, `(raw xstate top-level, ${fmt(XSTATE_SPAWN)})`, rawHeap, ' B', '-', undefined);

  console.log(
    `\nraw xstate spawnChild in one parent: ${fmt(rawSpawnChildSmallRate)}/s at ${fmt(XSTATE_SPAWNCHILD_SMALL)} children, ${fmt(rawSpawnChildRate)}/s at ${fmt(XSTATE_SPAWNCHILD)}, ` +
      `${fmt(rawSpawnChildLargeRate)}/s at ${fmt(XSTATE_SPAWNCHILD_LARGE)} (${fmt(XSTATE_SPAWNCHILD_LARGE)} vs ${fmt(XSTATE_SPAWNCHILD_SMALL)}: ${(rawSpawnChildLargeRate / rawSpawnChildSmallRate).toFixed(2)}x)`,
  );
  console.log(`raw xstate top-level: ${fmt(rawTopSmallRate)}/s at ${fmt(SPAWN_SMALL)} -> ${fmt(rawTopRate)}/s at ${fmt(XSTATE_SPAWN)}; runtime xstate children: ${fmt(xSpawnSmallRate)}/s at ${fmt(XSTATE_SPAWNCHILD)} -> ${fmt(xSpawnRate)}/s at ${fmt(XSTATE_SPAWN)}\n`);
  printTable();
  const unmet = rows.filter((r) => r.met === 'NO').length;
  console.log(`\n${rows.filter((r) => r.met === 'yes').length} goals met, ${unmet} not met; dead letters: ${system.deadLetters.total}; bench took ${((monotonicMs() - started) / 1000).toFixed(1)} s`);
}

try {
  await main();
} finally {
  system.shutdown();
  gcObserver.disconnect();
}

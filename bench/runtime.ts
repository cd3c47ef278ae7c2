// The runtime benchmark: messages per second through local mailboxes, actors spawned per second
// under one supervisor and heap bytes per idle actor, each printed beside a baseline measured in
// the same process run (raw xstate, or the runtime's own small case). A benchmark, not a test: it
// prints figures and whether each goal is met, and exits 0 either way.
//
//   npm run bench:runtime        (= node --expose-gc --import tsx bench/runtime.ts)
//
// Method: the real Env (setImmediate dispatcher, wall clock); every timed figure gets warm-up
// runs, then the MEDIAN of the measured runs is reported (all runs are printed). A full GC runs
// before every run, outside the timed section. Heap figures are one measurement each: full GC,
// heapUsed, create N actors and keep them alive, full GC, heapUsed; (delta / N).
import os from 'node:os';
import { assign, createActor, setup, spawnChild } from 'xstate';
import { ActorSystem, MemoryTransport, fromMachine, plain, type ActorContext, type Address, type Props } from '../runtime/index.js';
import { RealClock, monotonicMs, realEnv } from '../runtime/env/real/index.js';

// ---- sizes (every loop below is bounded by one of these) ----------------------------------------

/** The mailbox bound used by the "default bound" runs: the runtime's default (1000). */
const BOUND = 1000;
const PLAIN_ONE = 2_000_000; // messages into one plain actor per run
const SPREAD_ACTORS = 10_000;
const PLAIN_SPREAD_ROUNDS = 100; // messages per actor per run (<= BOUND, so one burst fits)
const XSTATE_ONE = 100_000; // events into one xstate actor per run
const XSTATE_SPREAD_ROUNDS = 10; // events per actor per run
const SPAWN_SMALL = 1_000;
const SPAWN_LARGE = 100_000;
const XSTATE_SPAWN = 20_000; // xstate actors per spawn run (raw top-level and runtime children)
const XSTATE_SPAWNCHILD = 2_000; // raw xstate spawnChild inside one parent (quadratic)
const XSTATE_SPAWNCHILD_SMALL = 500;

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
    const t0 = monotonicMs();
    for (let i = 0; i < n; i++) ctx.spawn(`c${i}`, props);
    return monotonicMs() - t0;
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

/** Runs `once` (which times itself and returns elapsed ms for `ops` operations); median rate. */
async function rate(label: string, ops: number, once: () => Promise<number> | number, short = false): Promise<number> {
  const warmups = short ? WARMUPS_SHORT : WARMUPS;
  const repeats = short ? REPEATS_SHORT : REPEATS;
  for (let i = 0; i < warmups; i++) {
    gc();
    await once();
  }
  const rates: number[] = [];
  for (let i = 0; i < repeats; i++) {
    gc();
    const ms = await once();
    rates.push(ops / (ms / 1000));
  }
  const value = median(rates);
  console.log(`  ${label.padEnd(64)} ${fmt(value).padStart(12)}/s   median of ${repeats} after ${warmups} warm-up (runs: ${rates.map(fmt).join(', ')})`);
  return value;
}

function heapLine(label: string, bytesPerActor: number, n: number): number {
  console.log(`  ${label.padEnd(64)} ${fmt(bytesPerActor).padStart(12)} B    (heapUsed delta / ${fmt(n)}, one measurement after full GC)`);
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
  console.log(`timing: median of ${REPEATS} runs after ${WARMUPS} warm-up (sub-ms spawn runs: median of ${REPEATS_SHORT} after ${WARMUPS_SHORT}).\n`);

  // -- messages, raw xstate baselines ------------------------------------------------------------
  console.log('messages/s');
  const rawOne = createActor(counterMachine).start();
  const rawOneRate = await rate(`raw xstate: createActor(machine).send x ${fmt(XSTATE_ONE)}, 1 actor`, XSTATE_ONE, async () => {
    const done = expectDones(XSTATE_ONE / BOUND);
    const t0 = monotonicMs();
    for (let i = 0; i < XSTATE_ONE; i++) rawOne.send(eventAt(i));
    await done;
    return monotonicMs() - t0;
  });
  rawOne.stop();

  const rawMany = Array.from({ length: SPREAD_ACTORS }, () => createActor(counterMachine).start());
  const xstateSpreadTotal = SPREAD_ACTORS * XSTATE_SPREAD_ROUNDS;
  const rawManyRate = await rate(`raw xstate: send over ${fmt(SPREAD_ACTORS)} actors, ${XSTATE_SPREAD_ROUNDS} each`, xstateSpreadTotal, async () => {
    const done = expectDones(SPREAD_ACTORS);
    const t0 = monotonicMs();
    for (let r = 0; r < XSTATE_SPREAD_ROUNDS - 1; r++) for (const a of rawMany) a.send(INC);
    for (const a of rawMany) a.send(DONE);
    await done;
    return monotonicMs() - t0;
  });
  for (const a of rawMany) a.stop();
  rawMany.length = 0;

  // -- messages, runtime plain -------------------------------------------------------------------
  const msgSup = newSupervisor('messages');
  const plainOne = system.spawn('plain-one', plainSink);
  const plainOneRate = await rate(`runtime plain: 1 mailbox, bound ${BOUND}, ${fmt(PLAIN_ONE)} in bursts of ${BOUND}`, PLAIN_ONE, async () => {
    const t0 = monotonicMs();
    for (let sent = 0; sent < PLAIN_ONE; sent += BOUND) {
      const done = expectMessages(BOUND);
      for (let i = 0; i < BOUND; i++) system.send(plainOne, INC);
      await done;
    }
    return monotonicMs() - t0;
  });
  system.stop(plainOne);

  const plainDeep = system.spawn('plain-deep', plainSinkDeep);
  const plainDeepRate = await rate(`runtime plain: 1 mailbox, mailboxDepthMax ${fmt(PLAIN_ONE)}, one burst`, PLAIN_ONE, async () => {
    const done = expectMessages(PLAIN_ONE);
    const t0 = monotonicMs();
    for (let i = 0; i < PLAIN_ONE; i++) system.send(plainDeep, INC);
    await done;
    return monotonicMs() - t0;
  });
  system.stop(plainDeep);

  const plainMany = await inTurn(msgSup, (ctx) => Array.from({ length: SPREAD_ACTORS }, (_, i) => ctx.spawn(`p${i}`, plainSink)));
  const plainSpreadTotal = SPREAD_ACTORS * PLAIN_SPREAD_ROUNDS;
  const plainManyRate = await rate(`runtime plain: ${fmt(SPREAD_ACTORS)} actors, ${PLAIN_SPREAD_ROUNDS} each, bound ${BOUND}, one burst`, plainSpreadTotal, async () => {
    const done = expectMessages(plainSpreadTotal);
    const t0 = monotonicMs();
    for (let r = 0; r < PLAIN_SPREAD_ROUNDS; r++) for (const a of plainMany) system.send(a, INC);
    await done;
    return monotonicMs() - t0;
  });

  // -- messages, runtime xstate ------------------------------------------------------------------
  const xOne = system.spawn('xstate-one', xstateCounter);
  const xOneRate = await rate(`runtime xstate: 1 mailbox, bound ${BOUND}, ${fmt(XSTATE_ONE)} in bursts of ${BOUND}`, XSTATE_ONE, async () => {
    const t0 = monotonicMs();
    for (let sent = 0; sent < XSTATE_ONE; sent += BOUND) {
      const done = expectDones(1);
      for (let i = 0; i < BOUND; i++) system.send(xOne, eventAt(i));
      await done;
    }
    return monotonicMs() - t0;
  });
  system.stop(xOne);

  const xDeep = system.spawn('xstate-deep', xstateCounterDeep);
  const xDeepRate = await rate(`runtime xstate: 1 mailbox, mailboxDepthMax ${fmt(XSTATE_ONE)}, one burst`, XSTATE_ONE, async () => {
    const done = expectDones(XSTATE_ONE / BOUND);
    const t0 = monotonicMs();
    for (let i = 0; i < XSTATE_ONE; i++) system.send(xDeep, eventAt(i));
    await done;
    return monotonicMs() - t0;
  });
  system.stop(xDeep);

  const xMany = await inTurn(msgSup, (ctx) => Array.from({ length: SPREAD_ACTORS }, (_, i) => ctx.spawn(`x${i}`, xstateCounter)));
  const xManyRate = await rate(`runtime xstate: ${fmt(SPREAD_ACTORS)} actors, ${XSTATE_SPREAD_ROUNDS} each, bound ${BOUND}, one burst`, xstateSpreadTotal, async () => {
    const done = expectDones(SPREAD_ACTORS);
    const t0 = monotonicMs();
    for (let r = 0; r < XSTATE_SPREAD_ROUNDS - 1; r++) for (const a of xMany) system.send(a, INC);
    for (const a of xMany) system.send(a, DONE);
    await done;
    return monotonicMs() - t0;
  });
  system.stop(msgSup);
  plainMany.length = 0;
  xMany.length = 0;

  // -- spawning, raw xstate baselines ------------------------------------------------------------
  console.log('\nactors spawned/s and heap per idle actor');
  const rawTopLevel = (n: number) => (): number => {
    const actors = new Array<{ stop(): void }>(n);
    const t0 = monotonicMs();
    for (let i = 0; i < n; i++) actors[i] = createActor(counterMachine).start();
    const ms = monotonicMs() - t0;
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
    const t0 = monotonicMs();
    for (let i = 0; i < n; i++) parent.send({ type: 'spawn' });
    const ms = monotonicMs() - t0;
    parent.stop();
    return ms;
  };
  const rawSpawnChildSmallRate = await rate(`raw xstate: spawnChild x ${fmt(XSTATE_SPAWNCHILD_SMALL)} inside one parent machine`, XSTATE_SPAWNCHILD_SMALL, rawSpawnChild(XSTATE_SPAWNCHILD_SMALL));
  const rawSpawnChildRate = await rate(`raw xstate: spawnChild x ${fmt(XSTATE_SPAWNCHILD)} inside one parent machine`, XSTATE_SPAWNCHILD, rawSpawnChild(XSTATE_SPAWNCHILD));

  // -- spawning, runtime ---------------------------------------------------------------------------
  const runtimeSpawn = (n: number, props: Props<never>) => async (): Promise<number> => {
    const supervisor = newSupervisor('spawn');
    const ms = await spawnChildren(supervisor, n, props);
    system.stop(supervisor);
    return ms;
  };
  const plainSmallRate = await rate(`runtime plain: ${fmt(SPAWN_SMALL)} children under one supervisor`, SPAWN_SMALL, runtimeSpawn(SPAWN_SMALL, plainIdle), true);
  const plainLargeRate = await rate(`runtime plain: ${fmt(SPAWN_LARGE)} children under one supervisor`, SPAWN_LARGE, runtimeSpawn(SPAWN_LARGE, plainIdle));
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
  row(`spawns/s plain, ${fmt(SPAWN_SMALL)} children`, plainSmallRate, `(raw xstate top-level x ${fmt(SPAWN_SMALL)})`, rawTopSmallRate, '/s', '-', undefined);
  row(`spawns/s plain, ${fmt(SPAWN_LARGE)} children`, plainLargeRate, `(runtime, ${fmt(SPAWN_SMALL)} children)`, plainSmallRate, '/s', '>= 0.8x baseline', plainLargeRate >= 0.8 * plainSmallRate);
  row(`spawns/s xstate, ${fmt(XSTATE_SPAWN)} children`, xSpawnRate, `(raw xstate top-level x ${fmt(XSTATE_SPAWN)})`, rawTopRate, '/s', '-', undefined);
  row(`spawns/s xstate, ${fmt(XSTATE_SPAWNCHILD)} children`, xSpawnSmallRate, `(raw spawnChild x ${fmt(XSTATE_SPAWNCHILD)}, 1 parent)`, rawSpawnChildRate, '/s', '-', undefined);
  row(`heap/idle plain actor, ${fmt(SPAWN_LARGE)} children`, plainHeap, `(raw xstate top-level, ${fmt(XSTATE_SPAWN)})`, rawHeap, ' B', '<= 1,024 B', plainHeap <= 1024);
  row(`heap/idle xstate actor, ${fmt(XSTATE_SPAWN)} children`, xHeap, `(raw xstate top-level, ${fmt(XSTATE_SPAWN)})`, rawHeap, ' B', '-', undefined);

  console.log(`\nraw xstate spawnChild slowdown: ${fmt(rawSpawnChildSmallRate)}/s at ${fmt(XSTATE_SPAWNCHILD_SMALL)} children -> ${fmt(rawSpawnChildRate)}/s at ${fmt(XSTATE_SPAWNCHILD)} (${(rawSpawnChildRate / rawSpawnChildSmallRate).toFixed(2)}x)`);
  console.log(`raw xstate top-level: ${fmt(rawTopSmallRate)}/s at ${fmt(SPAWN_SMALL)} -> ${fmt(rawTopRate)}/s at ${fmt(XSTATE_SPAWN)}; runtime xstate children: ${fmt(xSpawnSmallRate)}/s at ${fmt(XSTATE_SPAWNCHILD)} -> ${fmt(xSpawnRate)}/s at ${fmt(XSTATE_SPAWN)}\n`);
  printTable();
  const unmet = rows.filter((r) => r.met === 'NO').length;
  console.log(`\n${rows.filter((r) => r.met === 'yes').length} goals met, ${unmet} not met; dead letters: ${system.deadLetters.total}; bench took ${((monotonicMs() - started) / 1000).toFixed(1)} s`);
}

try {
  await main();
} finally {
  system.shutdown();
}

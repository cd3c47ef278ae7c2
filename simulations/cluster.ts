// A simulated cluster: nodes that each run an ActorSystem on a simulated Env (their own clock
// on the shared loop, a door to the shared network, their own disk), with crash and restart
// hooks, every inspection event folded into the run's trace, and a first-failure record that
// scenarios and checkers share. Scenarios say what a node runs (`boot`); the cluster does the rest.
import { ActorSystem, SeededRandom, inspectionRecord, machineChart, type Env, type InspectionEvent, type Random, type RootFailure } from '../runtime/index.js';
import { SimClock } from './clock.js';
import { SimStorage, type SimStorageOptions } from './disk.js';
import type { SimNodeExecutor } from './executor.js';
import { SimLoop } from './loop.js';
import { SimNetwork, type SimNetworkOptions } from './network.js';

/** More events than this in one virtual second is a storm or a livelock (a busy run has a few thousand). */
const EVENTS_PER_SECOND_MAX = 200_000;
import { Trace, type TraceOptions } from './trace.js';

export interface SimNode {
  readonly id: string;
  /** The running system, or undefined while the node is down. */
  readonly system: ActorSystem | undefined;
  readonly env: Env | undefined;
  /** Survives crashes: what the node's disk held (minus what a crash lost). */
  readonly storage: SimStorage;
  /** The node's workload engine (see SimClusterOptions.executor): it outlives the node's restarts. */
  readonly executor: SimNodeExecutor | undefined;
  /** 1 for the first boot, +1 per restart. */
  readonly incarnation: number;
  readonly up: boolean;
}

/** Builds a node's actors on a fresh system; runs at the first boot and at every restart. */
export type BootNode = (node: SimNode & { system: ActorSystem; env: Env }) => void | Promise<void>;

export interface SimClusterOptions {
  readonly seed: string | number;
  readonly nodeIds: readonly string[];
  readonly network: Omit<SimNetworkOptions, 'onTrace'>;
  readonly disk: SimStorageOptions;
  readonly boot: BootNode;
  /**
   * Gives each node a workload engine (e.g. a SimExecutor), made once per node: it survives the
   * node's process (its env.executor at every boot) and loses its workloads when the node crashes.
   */
  readonly executor?: (node: { readonly id: string; readonly loop: SimLoop; readonly random: Random }) => SimNodeExecutor;
  readonly trace?: TraceOptions;
  /** Called for every inspection event of every node, after it is traced. Must not throw. */
  readonly observe?: (node: string, event: InspectionEvent) => void;
  /**
   * A failure that escalated past a node's root: 'crash' crashes the node (an expected fault,
   * such as a failed fsync), 'fail' fails the run (the default: it is a bug).
   */
  readonly onRootFailure?: (node: string, failure: RootFailure) => 'crash' | 'fail';
  /** Called after a node crashed (any cause), its process gone: what the other nodes may notice. */
  readonly onCrash?: (node: string) => void;
}

class NodeSlot implements SimNode {
  system: ActorSystem | undefined;
  env: Env | undefined;
  clock: SimClock | undefined;
  incarnation = 0;
  up = false;
  constructor(readonly id: string, readonly storage: SimStorage, readonly random: Random, readonly executor: SimNodeExecutor | undefined) {}
}

export class SimCluster {
  readonly loop = new SimLoop();
  readonly random: Random;
  readonly network: SimNetwork;
  readonly trace: Trace;
  /** Actor kinds whose machine (or lack of one) the trace has described. */
  private readonly describedKinds = new Set<string>();
  readonly crashes: { count: number } = { count: 0 };
  readonly pauses: { count: number } = { count: 0 };
  private readonly slots = new Map<string, NodeSlot>();
  private failureMessage: string | undefined;

  constructor(private readonly options: SimClusterOptions) {
    this.random = new SeededRandom(String(options.seed));
    this.trace = new Trace(options.trace);
    this.network = new SimNetwork(this.loop, this.random.fork('network'), { ...options.network, onTrace: (record) => this.trace.record(record) });
    for (const id of options.nodeIds) {
      const nodeRandom = this.random.fork(`node/${id}`);
      const executor = options.executor?.({ id, loop: this.loop, random: nodeRandom.fork('executor') });
      this.slots.set(id, new NodeSlot(id, new SimStorage(this.loop, nodeRandom, options.disk), nodeRandom, executor));
    }
  }

  get nodeIds(): string[] {
    return [...this.slots.keys()];
  }

  node(id: string): SimNode {
    const slot = this.slots.get(id);
    if (slot === undefined) throw new Error(`no node ${id} in this cluster`);
    return slot;
  }

  get nodes(): SimNode[] {
    return [...this.slots.values()];
  }

  /** The first failure recorded (an invariant violation, a liveness failure), if any. */
  get failure(): string | undefined {
    return this.failureMessage;
  }

  /** Records a failure; the first one wins and stops `run`. */
  fail(message: string): void {
    if (this.failureMessage !== undefined) return;
    this.failureMessage = message;
    this.trace.record({ t: this.loop.now(), kind: 'violation', message });
  }

  /**
   * Boots every node as an event at the current virtual time. Boots may wait on the disk, whose
   * completions are loop events, so they finish while `run` drives the loop.
   */
  startAll(): void {
    for (const slot of this.slots.values()) this.restart(slot.id);
  }

  /** The node's process dies: no stop hooks, timers cancelled, unsynced writes maybe lost. */
  crash(id: string): void {
    const slot = this.slots.get(id);
    if (slot === undefined || !slot.up) return;
    this.crashes.count++;
    this.trace.record({ t: this.loop.now(), kind: 'node.crashed', node: id });
    slot.up = false;
    slot.system?.halt();
    slot.clock?.cancelAll();
    slot.system = undefined;
    slot.env = undefined;
    slot.clock = undefined;
    this.network.setNodeUp(id, false);
    // The workloads die with the machine.
    slot.executor?.crashAll();
    const report = slot.storage.crash();
    if (report.torn.length > 0) this.trace.record({ t: this.loop.now(), kind: "disk.torn", node: id, torn: report.torn });
    this.options.onCrash?.(id);
  }

  /**
   * The node's process stops for `durationMs` (a GC pause, a stopped VM): its timers and the
   * messages that reach it wait, then run in order when it resumes. It is not a crash: nothing is lost.
   */
  pause(id: string, durationMs: number): void {
    const slot = this.slots.get(id);
    if (slot === undefined || !slot.up || slot.clock === undefined || slot.clock.paused) return;
    const clock = slot.clock;
    this.pauses.count++;
    this.trace.record({ t: this.loop.now(), kind: 'node.paused', node: id, durationMs });
    clock.pause();
    this.network.hold(id);
    this.loop.schedule(durationMs, () => {
      if (slot.clock !== clock) return; // Crashed meanwhile.
      this.trace.record({ t: this.loop.now(), kind: 'node.resumed', node: id });
      this.network.release(id);
      clock.resume();
    });
  }

  /** Boots a crashed node again on what its disk kept (as an event at the current virtual time). */
  restart(id: string): void {
    const slot = this.slots.get(id);
    if (slot === undefined || slot.up) return;
    this.loop.schedule(0, () => {
      if (slot.up) return;
      void this.start(slot).catch((error: unknown) => this.fail(`boot of ${id} failed: ${String(error)}`));
    });
  }

  /** Runs until `untilMs`, a failure, or `stopWhen`. */
  async run(untilMs: number, stopWhen?: () => boolean): Promise<void> {
    // A message storm or livelock (messages multiplying, or bouncing while virtual time stands
    // still) would take the run forever: it fails the run instead, naming when it happened.
    let windowStart = this.loop.now();
    let eventsInWindow = 0;
    await this.loop.run({
      untilMs,
      stopWhen: () => {
        if (this.loop.now() - windowStart >= 1000) {
          windowStart = this.loop.now();
          eventsInWindow = 0;
        } else if (++eventsInWindow > EVENTS_PER_SECOND_MAX) {
          this.fail(`message storm: more than ${EVENTS_PER_SECOND_MAX} events within one virtual second from ${windowStart} ms`);
        }
        return this.failureMessage !== undefined || (stopWhen?.() ?? false);
      },
    });
  }

  /** Stops every node cleanly and closes the trace. */
  async finish(): Promise<void> {
    for (const slot of this.slots.values()) {
      slot.system?.shutdown();
      slot.clock?.cancelAll();
    }
    await this.trace.close();
  }

  private async start(slot: NodeSlot): Promise<void> {
    slot.incarnation++;
    const clock = new SimClock(this.loop);
    const env: Env = {
      clock, random: slot.random.fork(`incarnation/${slot.incarnation}`), transport: this.network.transportFor(slot.id), storage: slot.storage,
      ...(slot.executor === undefined ? {} : { executor: slot.executor }),
    };
    const system = new ActorSystem({ nodeId: slot.id, env });
    system.inspect((event) => {
      // The first actor of each kind that runs a machine puts the machine's chart in the trace:
      // a recorded run describes its own statecharts (the visualizer draws them).
      if (event.type === 'actor.started' && !this.describedKinds.has(event.kind)) {
        this.describedKinds.add(event.kind);
        const machine = system.machineOf(event.address);
        if (machine !== undefined) this.trace.record({ t: event.at, node: slot.id, kind: 'machine', actorKind: event.kind, chart: machineChart(machine) });
      }
      this.trace.record(inspectionRecord(slot.id, event));
      if (event.type === 'actor.failed' && event.error.startsWith('InvariantViolation')) this.fail(`${event.address}: ${event.error}`);
      this.options.observe?.(slot.id, event);
    });
    system.onRootFailure((f) => {
      if (this.options.onRootFailure?.(slot.id, f) === 'crash') {
        this.trace.record({ t: this.loop.now(), kind: 'node.failed', node: slot.id, error: String(f.error) });
        // The process dies at once; nothing more of this incarnation runs.
        this.crash(slot.id);
        return;
      }
      this.fail(`${f.address} failed past its root supervisor: ${String(f.error)}`);
    });
    slot.system = system;
    slot.env = env;
    slot.clock = clock;
    slot.up = true;
    this.network.setNodeUp(slot.id, true);
    await this.options.boot(slot as NodeSlot & { system: ActorSystem; env: Env });
    this.trace.record({ t: this.loop.now(), kind: 'node.started', node: slot.id, incarnation: slot.incarnation });
  }
}

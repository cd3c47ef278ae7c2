// The demo scenario: reliable, ordered, exactly-once channels between every pair of nodes,
// built from supervised xstate actors, run under network faults, node crashes, disk loss and
// injected actor faults. It exercises the whole runtime (mailboxes, timers on the Env clock,
// supervision, remote delivery, storage) and checks invariants a real protocol must keep:
//   - an acknowledged message is never lost, whatever crashes (acks only after a synced write);
//   - a receiver persists each sender's messages in order, exactly once (no gap, no duplicate);
//   - liveness: once faults stop, every submitted message is acknowledged.
import { enqueueActions, setup } from 'xstate';
import {
  MailboxFullError,
  SeededRandom,
  assert,
  fromMachine,
  messageType,
  restart,
  sendMessage,
  type ActorContext,
  type InspectionEvent,
  type KvStore,
  type Random,
} from '../runtime/index.js';
import { SimCluster, type BootNode } from './cluster.js';

/** Bugs that can be planted on purpose, to prove that the simulator finds them. */
export const PLANTABLE_BUGS = ['ack-before-persist'] as const;
export type PlantedBug = (typeof PLANTABLE_BUGS)[number];

/** Everything the seed chose; printed first, so that a run can be understood and replayed. */
export interface DemoOptions {
  readonly nodes: number;
  readonly messagesPerLink: number;
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  readonly lossProbability: number;
  readonly duplicateProbability: number;
  readonly reorder: boolean;
  /** Directed links made slow (delay 100-1000 ms) for the safety phase. */
  readonly slowLinks: number;
  readonly crashes: boolean;
  readonly crashMeanIntervalMs: number;
  readonly partitions: 'off' | 'symmetric' | 'asymmetric';
  readonly partitionMeanIntervalMs: number;
  readonly actorFaultProbability: number;
  readonly diskLatencyMsMax: number;
  readonly retransmitMs: number;
  readonly safetyPhaseMs: number;
  readonly livenessPhaseMsMax: number;
}

/** Swarm testing: each seed turns fault classes on or off and draws their strengths. */
export function chooseOptions(random: Random): DemoOptions {
  const r = random.fork('options');
  const delayMsMin = r.int(0, 5);
  return {
    nodes: r.int(3, 5),
    messagesPerLink: r.int(5, 30),
    delayMsMin,
    delayMsMax: delayMsMin + r.int(1, 60),
    lossProbability: r.chance(0.7) ? r.int(0, 30) / 100 : 0,
    duplicateProbability: r.chance(0.5) ? r.int(0, 30) / 100 : 0,
    reorder: r.chance(0.5),
    slowLinks: r.chance(0.3) ? r.int(1, 3) : 0,
    crashes: r.chance(0.7),
    crashMeanIntervalMs: r.int(500, 4000),
    partitions: r.pick(['off', 'symmetric', 'asymmetric'] as const),
    partitionMeanIntervalMs: r.int(1000, 5000),
    actorFaultProbability: r.chance(0.5) ? r.int(1, 50) / 1000 : 0,
    diskLatencyMsMax: r.int(0, 30),
    retransmitMs: r.int(50, 400),
    safetyPhaseMs: 20_000,
    livenessPhaseMsMax: 60_000,
  };
}

export function describeOptions(options: DemoOptions): string {
  return Object.entries(options).map(([k, v]) => `${k}=${v}`).join(' ');
}

export interface DemoRun {
  readonly seed: string;
  readonly options: DemoOptions;
  readonly plantedBug: PlantedBug | undefined;
  readonly ok: boolean;
  /** The first violated invariant, or the liveness failure. */
  readonly failure: string | undefined;
  readonly traceDigest: string;
  readonly traceRecords: number;
  readonly virtualMs: number;
  readonly events: number;
  /** Fault counts, to show that the faults actually happened ("sometimes" properties). */
  readonly faults: { crashes: number; partitions: number; actorRestarts: number; deadLetters: number; networkDropped: number; networkDuplicated: number };
}

export interface DemoRunOptions {
  readonly plantedBug?: PlantedBug;
  /** Streams the trace to this file as JSON Lines. */
  readonly traceFile?: string;
  /** Keeps the trace lines in memory (returned by `runDemoWithTrace`). */
  readonly keepTrace?: boolean;
}

// ---- the actors -----------------------------------------------------------------------------

type LinkEvent = { type: 'submit'; seq: number } | { type: 'ack'; from: string; upTo: number };
interface LinkContext {
  readonly node: string;
  readonly peerInbox: string;
  readonly retransmitMs: number;
  readonly unacked: readonly number[];
}

/** Sends each submitted message to the peer and retransmits until it is acknowledged. */
const linkMachine = setup({
  types: {} as { context: LinkContext; events: LinkEvent; input: Omit<LinkContext, 'unacked'> },
  delays: { retransmit: ({ context }) => context.retransmitMs },
  actions: {
    accept: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'submit' || context.unacked.includes(event.seq)) return;
      enqueue.assign({ unacked: [...context.unacked, event.seq].sort((a, b) => a - b) });
      enqueue(sendMessage(context.peerInbox, { type: 'data', from: context.node, seq: event.seq }));
    }),
    forget: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'ack') return;
      enqueue.assign({ unacked: context.unacked.filter((seq) => seq > event.upTo) });
    }),
    retransmit: enqueueActions(({ context, enqueue }) => {
      // A window of the oldest unacknowledged messages: the receiver needs them in order.
      for (const seq of context.unacked.slice(0, 4)) {
        enqueue(sendMessage(context.peerInbox, { type: 'data', from: context.node, seq }));
      }
    }),
  },
  guards: {
    ackCoversAll: ({ context, event }) => event.type === 'ack' && context.unacked.every((seq) => seq <= event.upTo),
  },
}).createMachine({
  id: 'link',
  initial: 'idle',
  context: ({ input }) => ({ ...input, unacked: [] }),
  states: {
    idle: {
      on: {
        submit: { target: 'sending', actions: 'accept' },
        ack: { actions: 'forget' },
      },
    },
    sending: {
      after: { retransmit: { target: 'sending', reenter: true, actions: 'retransmit' } },
      on: {
        submit: { actions: 'accept' },
        ack: [{ guard: 'ackCoversAll', target: 'idle', actions: 'forget' }, { actions: 'forget' }],
      },
    },
  },
});

type InboxEvent = { type: 'data'; from: string; seq: number } | { type: 'persisted'; peer: string; upTo: number };
interface InboxContext {
  readonly self: string;
  readonly disk: string;
  /** Highest sequence handed to the disk, per sender. */
  readonly issued: Readonly<Record<string, number>>;
  /** Highest sequence known durable, per sender: the only thing ever acknowledged. */
  readonly durable: Readonly<Record<string, number>>;
}

/** Accepts each sender's messages in order, persists them, and acknowledges what is durable. */
function inboxMachine(faults: Random, faultProbability: () => number, plantedBug: PlantedBug | undefined) {
  const nodeOf = (address: string) => address.slice(0, address.indexOf('/'));
  return setup({
    types: {} as { context: InboxContext; events: InboxEvent; input: InboxContext },
    actions: {
      accept: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'data') return;
        if (faults.chance(faultProbability())) throw new Error('injected actor fault');
        const node = nodeOf(context.self);
        const linkOfSender = `${event.from}/node/link-${node}`;
        const issued = context.issued[event.from] ?? 0;
        const durable = context.durable[event.from] ?? 0;
        if (event.seq === issued + 1) {
          enqueue.assign({ issued: { ...context.issued, [event.from]: event.seq } });
          enqueue(sendMessage(context.disk, { type: 'persist', peer: event.from, upTo: event.seq, replyTo: context.self }));
          if (plantedBug === 'ack-before-persist') enqueue(sendMessage(linkOfSender, { type: 'ack', from: node, upTo: event.seq }));
        } else if (event.seq <= durable) {
          // A retransmission of something already durable: the ack was lost, say it again.
          enqueue(sendMessage(linkOfSender, { type: 'ack', from: node, upTo: durable }));
        }
        // Otherwise it is ahead of a gap, or its write is still in flight: the sender retries.
      }),
      confirm: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'persisted') return;
        const durable = context.durable[event.peer] ?? 0;
        if (event.upTo <= durable) return;
        assert(event.upTo <= (context.issued[event.peer] ?? 0), () => `inbox ${context.self}: ${event.peer} durable ${event.upTo} beyond issued ${context.issued[event.peer]}`);
        enqueue.assign({ durable: { ...context.durable, [event.peer]: event.upTo } });
        enqueue(sendMessage(`${event.peer}/node/link-${nodeOf(context.self)}`, { type: 'ack', from: nodeOf(context.self), upTo: event.upTo }));
      }),
    },
  }).createMachine({
    id: 'inbox',
    initial: 'serving',
    context: ({ input }) => input,
    states: {
      serving: {
        on: {
          data: { actions: 'accept' },
          persisted: { actions: 'confirm' },
        },
      },
    },
  });
}

/** What a node's disk holds for the inbox, mirrored in memory for actors that restart. */
interface DiskMirror {
  readonly issued: Map<string, number>;
  readonly durable: Map<string, number>;
}

type PersistMessage = { type: 'persist'; peer: string; upTo: number; replyTo: string };
type DiskMessage = PersistMessage | { type: 'redeliver' };

/** How long the disk waits before offering a confirmation again to an inbox whose mailbox was full. */
const REDELIVER_MS = 25;

/**
 * Owns the node's store: writes each persist request with sync, then confirms it. A confirmation
 * that meets a full inbox (it is restarting while links retransmit) is kept, the highest per
 * sender, and offered again by timer: confirmations are monotone, so the latest one carries all.
 */
function diskActor(store: KvStore, mirror: DiskMirror) {
  return {
    kind: 'disk',
    create: (ctx: ActorContext) => {
      const undelivered = new Map<string, { upTo: number; replyTo: string }>();
      const confirm = (peer: string, upTo: number, replyTo: string): void => {
        try {
          ctx.send(replyTo, { type: 'persisted', peer, upTo });
        } catch (error) {
          if (!(error instanceof MailboxFullError)) throw error;
          if ((undelivered.get(peer)?.upTo ?? 0) < upTo) undelivered.set(peer, { upTo, replyTo });
          ctx.setTimer('redeliver', REDELIVER_MS, { type: 'redeliver' });
        }
      };
      return {
        receive: (m: DiskMessage) => {
          if (m.type === 'redeliver') {
            const pending = [...undelivered];
            undelivered.clear();
            for (const [peer, { upTo, replyTo }] of pending) confirm(peer, upTo, replyTo);
            return;
          }
          mirror.issued.set(m.peer, Math.max(mirror.issued.get(m.peer) ?? 0, m.upTo));
          const value = new Uint8Array(4);
          new DataView(value.buffer).setUint32(0, m.upTo);
          void store.batch([{ type: 'put', key: `applied/${m.peer}`, value }], { sync: true }).then(() => {
            mirror.durable.set(m.peer, Math.max(mirror.durable.get(m.peer) ?? 0, m.upTo));
            confirm(m.peer, m.upTo, m.replyTo);
          });
        },
      };
    },
    supervision: restart({ backoffMinMs: 10 }),
  };
}

// ---- the simulation -------------------------------------------------------------------------

export async function runDemo(seed: string | number, runOptions: DemoRunOptions = {}): Promise<DemoRun> {
  return (await runDemoWithTrace(seed, runOptions)).run;
}

export async function runDemoWithTrace(seed: string | number, runOptions: DemoRunOptions = {}): Promise<{ run: DemoRun; trace: readonly string[] }> {
  const options = chooseOptions(new SeededRandom(String(seed)));
  const plantedBug = runOptions.plantedBug;
  const ids = [...Array(options.nodes).keys()].map((i) => `n${i + 1}`);
  const links: Array<[string, string]> = ids.flatMap((from) => ids.filter((to) => to !== from).map((to): [string, string] => [from, to]));
  const linkKey = (from: string, to: string) => `${from}->${to}`;
  const submitted = new Map<string, number>();
  const acked = new Map<string, number>();
  const lastPersistRequest = new Map<string, number>();
  const counts = { partitions: 0, actorRestarts: 0, deadLetters: 0 };
  /** Injected actor faults stop with the other faults, at the liveness phase. */
  let faultsOn = true;

  // Invariant checks read the inspection stream of every node; they record, never throw into
  // the runtime (an exception there would look like an actor failure).
  const observe = (node: string, event: InspectionEvent): void => {
    switch (event.type) {
      case 'message.delivered': {
        const type = messageType(event.message);
        if (type === 'ack') {
          const m = event.message as { from: string; upTo: number };
          const key = linkKey(node, m.from);
          acked.set(key, Math.max(acked.get(key) ?? 0, m.upTo));
        } else if (type === 'persist') {
          const m = event.message as PersistMessage;
          const key = linkKey(m.peer, node);
          const last = lastPersistRequest.get(key) ?? 0;
          if (m.upTo !== last + 1) cluster.fail(`${node} persisted ${m.peer}'s message ${m.upTo} after ${last}: a gap or a duplicate`);
          lastPersistRequest.set(key, m.upTo);
        }
        break;
      }
      case 'actor.restarted':
        counts.actorRestarts++;
        break;
      case 'message.deadLetter':
        counts.deadLetters++;
        break;
      default:
        break;
    }
  };

  const boot: BootNode = async (node) => {
    const { system, env } = node;
    const store = await node.storage.openKv('inbox');
    const recovered = new Map<string, number>();
    for (const [key, value] of await store.range({ gte: 'applied/', lt: 'applied0' })) {
      recovered.set(key.slice('applied/'.length), new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0));
    }
    if (node.system !== system) return;
    for (const from of ids) {
      if (from === node.id) continue;
      const durable = recovered.get(from) ?? 0;
      const ackedUpTo = acked.get(linkKey(from, node.id)) ?? 0;
      if (durable < ackedUpTo) cluster.fail(`lost acknowledged messages: ${node.id} acknowledged ${from}'s messages up to ${ackedUpTo} but recovered only ${durable}`);
      lastPersistRequest.set(linkKey(from, node.id), durable);
    }
    const mirror: DiskMirror = { issued: new Map(recovered), durable: new Map(recovered) };
    const faultsRandom = env.random.fork('actor-faults');
    const peers = ids.filter((p) => p !== node.id);
    system.spawn('node', {
      kind: 'node',
      create: (ctx) => ({
        started: () => {
          ctx.spawn('disk', diskActor(store, mirror));
          ctx.spawn('inbox', fromMachine({
            kind: 'inbox',
            machine: inboxMachine(faultsRandom, () => (faultsOn ? options.actorFaultProbability : 0), plantedBug),
            // Rebuilt from the disk's mirror at every restart: nothing lives only in the actor.
            input: () => ({
              self: `${node.id}/node/inbox`,
              disk: `${node.id}/node/disk`,
              issued: Object.fromEntries(mirror.issued),
              durable: Object.fromEntries(mirror.durable),
            }),
            supervision: restart({ backoffMinMs: 20, backoffMaxMs: 2000, restartsMax: 50, onGiveUp: 'escalate' }),
          }));
          for (const peer of peers) {
            ctx.spawn(`link-${peer}`, fromMachine({
              kind: 'link',
              machine: linkMachine,
              input: () => ({ node: node.id, peerInbox: `${peer}/node/inbox`, retransmitMs: options.retransmitMs }),
            }));
          }
        },
        receive: () => undefined,
      }),
      supervision: restart({ backoffMinMs: 100 }),
    });
    // The workload's client resubmits what it has not seen acknowledged, as a client would.
    for (const peer of peers) {
      const key = linkKey(node.id, peer);
      for (let seq = (acked.get(key) ?? 0) + 1; seq <= (submitted.get(key) ?? 0); seq++) {
        system.send(`${node.id}/node/link-${peer}`, { type: 'submit', seq });
      }
    }
  };

  const cluster = new SimCluster({
    seed: String(seed),
    nodeIds: ids,
    network: {
      delayMsMin: options.delayMsMin,
      delayMsMax: options.delayMsMax,
      lossProbability: options.lossProbability,
      duplicateProbability: options.duplicateProbability,
      reorder: options.reorder,
    },
    disk: { writeLatencyMsMax: options.diskLatencyMsMax },
    boot,
    observe,
    trace: { keepLines: runOptions.keepTrace ?? false, ...(runOptions.traceFile ? { filePath: runOptions.traceFile } : {}) },
  });
  const { loop, network, trace } = cluster;
  trace.record({ t: 0, kind: 'options', seed: String(seed), options, plantedBug: plantedBug ?? null });
  const nemesis = cluster.random.fork('nemesis');
  const workload = cluster.random.fork('workload');
  cluster.startAll();

  // Workload: each link's messages are submitted at random times during the safety phase.
  for (const [from, to] of links) {
    const key = linkKey(from, to);
    const times = [...Array(options.messagesPerLink)].map(() => workload.int(1, options.safetyPhaseMs - 1)).sort((a, b) => a - b);
    times.forEach((at, index) => {
      loop.schedule(at, () => {
        submitted.set(key, index + 1);
        cluster.node(from).system?.send(`${from}/node/link-${to}`, { type: 'submit', seq: index + 1 });
      });
    });
  }

  // Nemesis: slow links for the whole safety phase; crashes and partitions at random times.
  const slowed = [...Array(options.slowLinks)].map(() => nemesis.pick(links));
  for (const [from, to] of slowed) {
    const delayMsMin = nemesis.int(100, 500);
    network.setLink(from, to, { delayMsMin, delayMsMax: delayMsMin + nemesis.int(0, 500) });
  }
  if (options.crashes) {
    for (let at = expDelay(nemesis, options.crashMeanIntervalMs); at < options.safetyPhaseMs; at += expDelay(nemesis, options.crashMeanIntervalMs)) {
      const id = nemesis.pick(ids);
      const downtime = nemesis.int(50, 3000);
      loop.schedule(at, () => {
        if (!cluster.node(id).up) return;
        cluster.crash(id);
        loop.schedule(downtime, () => cluster.restart(id));
      });
    }
  }
  if (options.partitions !== 'off') {
    for (let at = expDelay(nemesis, options.partitionMeanIntervalMs); at < options.safetyPhaseMs; at += expDelay(nemesis, options.partitionMeanIntervalMs)) {
      const shuffled = ids.map((id) => ({ id, key: nemesis.uint32() })).sort((a, b) => a.key - b.key).map((x) => x.id);
      const cut = nemesis.int(1, ids.length - 1);
      const [a, b] = [shuffled.slice(0, cut), shuffled.slice(cut)];
      const duration = nemesis.int(100, 4000);
      const asymmetric = options.partitions === 'asymmetric' && nemesis.chance(0.5);
      loop.schedule(at, () => {
        counts.partitions++;
        trace.record({ t: loop.now(), kind: 'partition', a, b, asymmetric });
        if (asymmetric) for (const x of a) for (const y of b) network.block(x, y);
        else network.partition(a, b);
        loop.schedule(duration, () => {
          trace.record({ t: loop.now(), kind: 'heal' });
          network.heal();
        });
      });
    }
  }

  // Safety phase: faults on.
  await cluster.run(options.safetyPhaseMs);

  // Liveness phase: faults off, every node up; everything submitted must be acknowledged.
  if (cluster.failure === undefined) {
    trace.record({ t: loop.now(), kind: 'liveness' });
    network.heal();
    network.setLossProbability(0);
    for (const [from, to] of slowed) network.clearLink(from, to);
    faultsOn = false;
    for (const id of ids) cluster.restart(id);
    const allAcked = () => links.every(([from, to]) => (acked.get(linkKey(from, to)) ?? 0) >= options.messagesPerLink);
    await cluster.run(loop.now() + options.livenessPhaseMsMax, allAcked);
    if (cluster.failure === undefined && !allAcked()) {
      const behind = links.filter(([f, t]) => (acked.get(linkKey(f, t)) ?? 0) < options.messagesPerLink).map(([f, t]) => `${f}->${t} acked ${acked.get(linkKey(f, t)) ?? 0}/${options.messagesPerLink}`);
      cluster.fail(`no liveness: ${options.livenessPhaseMsMax} ms after faults stopped, still unacknowledged: ${behind.join(', ')}`);
    }
  }
  const stats = network.stats();
  const faults = {
    crashes: cluster.crashes.count,
    partitions: counts.partitions,
    actorRestarts: counts.actorRestarts,
    deadLetters: counts.deadLetters,
    networkDropped: Object.values(stats.dropped).reduce((a, b) => a + b, 0),
    networkDuplicated: stats.duplicated,
  };
  trace.record({ t: loop.now(), kind: 'end', failure: cluster.failure ?? null, faults });
  await cluster.finish();
  const run: DemoRun = {
    seed: String(seed),
    options,
    plantedBug,
    ok: cluster.failure === undefined,
    failure: cluster.failure,
    traceDigest: trace.digest(),
    traceRecords: trace.count,
    virtualMs: loop.now(),
    events: loop.eventsProcessed,
    faults,
  };
  return { run, trace: trace.lines };
}

function expDelay(random: Random, meanMs: number): number {
  return Math.max(1, Math.round(-Math.log(1 - random.float()) * meanMs));
}

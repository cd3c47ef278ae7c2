// The agent on a real ActorSystem in virtual time, against probe dispatchers (the test answers
// for them) and a SimExecutor: registration order and backoff, leader hints, heartbeats and their
// deadline, assignments in seq order, and status reports batched and resent until committed.
import { agentActor, type AgentAssignments, type AgentInput } from '../../actors/index.js';
import { CONTAINER_SPEC_DEFAULTS, type NodeDescription, type Task, type TaskSpec, type TaskState } from '../../journal/index.js';
import { ActorSystem, MemoryStorage, MemoryTransport, SeededRandom } from '../../runtime/index.js';
import { SimClock, SimExecutor, SimLoop } from '../../simulations/index.js';

const description: NodeDescription = { hostname: 'w1', platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 1e9, memoryBytes: 2 ** 30 }, engineLabels: {} };

const spec = (image: string): TaskSpec => ({
  container: { image, command: [], args: [], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS },
  resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
  restartPolicy: { condition: 'none', delayMs: 0, maxAttempts: 0, windowMs: 0 },
  placement: { constraints: [], maxReplicasPerNode: 0, preferences: [], platforms: [] },
  networks: [], secrets: [], configs: [], forceUpdate: 0, runtime: 'container',
});

const task = (id: string, image = 'nginx', state: TaskState = 'assigned'): Task => ({
  id, meta: { version: 1, createdAt: 0, updatedAt: 0 }, serviceId: 's1', slot: 1, nodeId: 'w1', spec: spec(image), serviceVersion: 1,
  desiredState: 'running', status: { state, message: state, timestamp: 0, err: '' }, restarts: [], addresses: [],
});

interface Seen {
  readonly t: number;
  readonly to: string;
  readonly message: { readonly type: string } & Record<string, unknown>;
}

class Bench {
  readonly loop = new SimLoop();
  readonly clock = new SimClock(this.loop);
  readonly seen: Seen[] = [];
  readonly executor = new SimExecutor(this.loop, new SeededRandom('executor'), { prepareDelayMsMin: 1, prepareDelayMsMax: 1, startDelayMsMin: 1, startDelayMsMax: 1 });
  readonly system: ActorSystem;

  /** `ackHeartbeats`: the probe dispatchers answer heartbeats, as a live session does, naming `ackPeriodMs`. */
  constructor(managers: readonly string[], ackHeartbeats = false, ackPeriodMs = 1_000) {
    const transport = new MemoryTransport({ defer: (fn) => this.clock.defer(fn) });
    this.system = new ActorSystem({ nodeId: 'w1', env: { clock: this.clock, random: new SeededRandom('agent'), transport, storage: new MemoryStorage() } });
    for (const m of managers) {
      this.system.spawn(`dispatcher-${m}`, {
        kind: 'probe',
        create: (ctx) => ({
          receive: (message: Seen['message']) => {
            this.seen.push({ t: this.loop.now(), to: ctx.self, message });
            if (ackHeartbeats && message.type === 'dispatcher.heartbeat') {
              ctx.send('w1/agent', { type: 'agent.heartbeatAck', sessionId: message.sessionId as string, heartbeatPeriodMs: ackPeriodMs } satisfies AgentInput);
            }
          },
        }),
      });
    }
    this.system.spawn('agent', agentActor({
      nodeId: 'w1', description, managers: () => managers, dispatcherAddress: (m) => `w1/dispatcher-${m}`, executor: this.executor,
      heartbeatPeriodMs: 1_000, registerTimeoutMs: 500, registerBackoffMinMs: 100, registerBackoffMaxMs: 1_000, statusResendMs: 1_000,
    }));
  }

  async run(ms: number): Promise<void> {
    await this.loop.run({ untilMs: this.loop.now() + ms });
  }

  /** Answers as the dispatcher on manager `m`. */
  say(m: string, message: AgentInput): void {
    this.system.send('w1/agent', message, `w1/dispatcher-${m}`);
  }

  of(type: string, to?: string): Seen[] {
    return this.seen.filter((s) => s.message.type === type && (to === undefined || s.to === `w1/dispatcher-${to}`));
  }

  async connect(m = 'm1', sessionId = 's1'): Promise<void> {
    await this.run(1);
    this.say(m, { type: 'agent.session', sessionId, heartbeatPeriodMs: 1_000, leader: m });
    await this.run(1);
  }
}

const assignments = (sessionId: string, seq: number, full: boolean, tasks: Task[], removedTasks: string[] = []): AgentAssignments => ({
  type: 'agent.assignments', sessionId, seq, full, tasks, removedTasks, secrets: [], removedSecrets: [], configs: [], removedConfigs: [],
});

describe('agent registration', () => {
  test('tries each manager in turn, a deadline each, with a growing backoff; a leader hint is followed at once', async () => {
    const b = new Bench(['m1', 'm2', 'm3']);
    await b.run(10_000);
    const registers = b.of('dispatcher.register');
    expect(registers[0]!.message).toEqual({ type: 'dispatcher.register', nodeId: 'w1', description, replyTo: 'w1/agent' });
    expect(registers.slice(0, 5).map((r) => r.to)).toEqual(['m1', 'm2', 'm3', 'm1', 'm2'].map((m) => `w1/dispatcher-${m}`));
    // deadline (500 ms) + backoff: 100, 200, 400, 800, 1000 (capped), each +-20%.
    const gaps = registers.slice(1).map((r, i) => r.t - registers[i]!.t - 500);
    const expected = [100, 200, 400, 800, 1_000, 1_000];
    gaps.slice(0, expected.length).forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(Math.floor(expected[i]! * 0.8));
      expect(gap).toBeLessThanOrEqual(Math.ceil(expected[i]! * 1.2));
    });

    // A refusal pointing at the leader: registered there at once.
    const b2 = new Bench(['m1', 'm2', 'm3']);
    await b2.run(1);
    b2.say('m1', { type: 'agent.sessionRefused', reason: 'not the leader', leader: 'm3' });
    await b2.run(1);
    expect(b2.of('dispatcher.register').map((r) => [r.t, r.to])).toEqual([[0, 'w1/dispatcher-m1'], [1, 'w1/dispatcher-m3']]);
    b2.say('m3', { type: 'agent.session', sessionId: 's1', heartbeatPeriodMs: 1_000, leader: 'm3' });
    await b2.run(2_000);
    expect(b2.of('dispatcher.register')).toHaveLength(2);
  });

  test('heartbeats every period (+-10%) to the leader; when acks stop for about two periods it registers again, at the leader first', async () => {
    const b = new Bench(['m1', 'm2']);
    await b.connect('m2', 's1');
    // Ack every heartbeat for a while.
    for (let i = 0; i < 5; i++) {
      await b.run(1_100);
      b.say('m2', { type: 'agent.heartbeatAck', sessionId: 's1', heartbeatPeriodMs: 1_000 });
    }
    const beats = b.of('dispatcher.heartbeat', 'm2');
    expect(beats.length).toBe(5);
    expect(beats[0]!.message).toEqual({ type: 'dispatcher.heartbeat', nodeId: 'w1', sessionId: 's1', ackSeq: 0 });
    for (let i = 1; i < beats.length; i++) {
      expect(beats[i]!.t - beats[i - 1]!.t).toBeGreaterThanOrEqual(900);
      expect(beats[i]!.t - beats[i - 1]!.t).toBeLessThanOrEqual(1_100);
    }
    const lastAck = b.loop.now();
    await b.run(3_000);
    const again = b.of('dispatcher.register');
    expect(again).toHaveLength(2);
    expect(again[1]!.to).toBe('w1/dispatcher-m2');
    expect(again[1]!.t - lastAck).toBe(2_500);
    // No heartbeats once it is registering.
    expect(b.of('dispatcher.heartbeat').filter((h) => h.t > again[1]!.t)).toEqual([]);
  });

  test('a new period in an ack is followed from the next heartbeat on', async () => {
    const b = new Bench(['m1'], true, 500);
    await b.run(1);
    b.say('m1', { type: 'agent.session', sessionId: 's1', heartbeatPeriodMs: 5_000, leader: 'm1' });
    await b.run(8_000);
    const beats = b.of('dispatcher.heartbeat');
    expect(beats[0]!.t).toBeGreaterThanOrEqual(4_500);
    expect(beats.length).toBeGreaterThan(5);
    for (let i = 1; i < beats.length; i++) expect(beats[i]!.t - beats[i - 1]!.t).toBeLessThanOrEqual(551);
    expect(b.of('dispatcher.register')).toHaveLength(1);
  });

  test('a refused heartbeat makes it register again at once', async () => {
    const b = new Bench(['m1']);
    await b.connect();
    b.say('m1', { type: 'agent.sessionRefused', reason: 'no session', leader: 'm1' });
    await b.run(1);
    expect(b.of('dispatcher.register').map((r) => r.t)).toEqual([0, 2]);
  });
});

describe('agent assignments and status', () => {
  test('applies assignments in seq order: a gap asks for a resync (again if no full set comes), duplicates are ignored', async () => {
    const b = new Bench(['m1'], true);
    await b.connect();
    b.say('m1', assignments('s1', 1, true, [task('a')]));
    b.say('m1', assignments('s1', 1, true, [task('a')]));
    b.say('m1', assignments('s1', 3, false, [task('c')]));
    await b.run(10);
    expect(b.of('dispatcher.resync')).toEqual([{ t: 2, to: 'w1/dispatcher-m1', message: { type: 'dispatcher.resync', nodeId: 'w1', sessionId: 's1' } }]);
    expect(b.executor.workloads().map((w) => w.id)).toEqual(['a']);
    // Nothing answers: asked again a period later; the heartbeats say how far it got.
    await b.run(1_100);
    expect(b.of('dispatcher.resync')).toHaveLength(2);
    expect(b.of('dispatcher.heartbeat')[0]!.message.ackSeq).toBe(1);
    b.say('m1', assignments('s1', 4, true, [task('b'), task('c')]));
    await b.run(100);
    // 'a' left the set: stopped and removed; 'b' and 'c' run.
    expect(b.executor.workloads().map((w) => [w.id, w.running])).toEqual([['b', true], ['c', true]]);
    b.say('m1', assignments('s1', 5, false, [], ['b']));
    await b.run(100);
    expect(b.executor.workloads().map((w) => w.id)).toEqual(['c']);
    await b.run(2_000);
    expect(b.of('dispatcher.resync')).toHaveLength(2);
    expect(b.of('dispatcher.register')).toHaveLength(1);
    expect(b.of('dispatcher.heartbeat').at(-1)!.message.ackSeq).toBe(5);
  });

  test('state changes of a turn go out together; uncommitted ones are resent, merged, every second until committed', async () => {
    const b = new Bench(['m1'], true);
    await b.connect();
    b.say('m1', assignments('s1', 1, true, [task('a'), task('b', 'exit/3/50')]));
    await b.run(1);
    const first = b.of('dispatcher.status');
    expect(first[0]!.message).toMatchObject({ type: 'dispatcher.status', nodeId: 'w1', sessionId: 's1', reportSeq: 1 });
    // Both runners' first changes (accepted, then preparing in the same turn), merged: the highest state of each.
    expect((first[0]!.message.updates as Array<{ taskId: string; status: { state: string } }>).map((u) => [u.taskId, u.status.state])).toEqual([['a', 'preparing'], ['b', 'preparing']]);
    await b.run(200);
    const reports = b.of('dispatcher.status');
    const last = reports.at(-1)!.message;
    // Nothing committed yet: every report carries every change so far, the highest per task.
    expect((last.updates as Array<{ taskId: string; status: { state: string; message: string } }>).map((u) => [u.taskId, u.status.state, u.status.message])).toEqual([
      ['a', 'running', 'started'], ['b', 'failed', 'exit code 3'],
    ]);
    const seqs = reports.map((r) => r.message.reportSeq as number);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    // Resent every second while uncommitted.
    const before = reports.length;
    await b.run(2_100);
    expect(b.of('dispatcher.status').length - before).toBe(2);
    // A commit for another session does not count; one for this session covering all stops the resends.
    b.say('m1', { type: 'agent.statusCommitted', sessionId: 'other', reportSeq: 1_000 });
    await b.run(1_000);
    expect(b.of('dispatcher.status').length - before).toBe(3);
    const covering = b.of('dispatcher.status').at(-1)!.message.reportSeq as number;
    b.say('m1', { type: 'agent.statusCommitted', sessionId: 's1', reportSeq: covering });
    await b.run(5_000);
    expect(b.of('dispatcher.status').length - before).toBe(3);
  });

  test('uncommitted changes go out again under a new session', async () => {
    const b = new Bench(['m1']);
    await b.connect('m1', 's1');
    b.say('m1', assignments('s1', 1, true, [task('a')]));
    await b.run(100);
    b.say('m1', { type: 'agent.sessionRefused', reason: 'expired', leader: 'm1' });
    await b.run(5);
    b.say('m1', { type: 'agent.session', sessionId: 's2', heartbeatPeriodMs: 1_000, leader: 'm1' });
    await b.run(5);
    const report = b.of('dispatcher.status').at(-1)!.message;
    expect(report.sessionId).toBe('s2');
    expect((report.updates as Array<{ taskId: string; status: { state: string } }>).map((u) => [u.taskId, u.status.state])).toEqual([['a', 'running']]);
  });
});

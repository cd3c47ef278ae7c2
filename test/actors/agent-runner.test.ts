// The task runner's machine, run directly with xstate: its effects are the messages it emits
// (runtime.send to the executor actor and to the agent), its inputs the executor's replies.
import { SimulatedClock, createActor, type EventObject } from 'xstate';
import { TASK_LOST_MESSAGE, UNHEALTHY_MESSAGE, runnerMachine, runnerStart, type ExecutorReply, type RunnerTask, type TaskBlobs } from '../../actors/index.js';
import { CONTAINER_SPEC_DEFAULTS, type DesiredState, type TaskSpec, type TaskState } from '../../journal/index.js';
import { RUNTIME_SEND, type ExecutorWorkload, type RuntimeSendEvent } from '../../runtime/index.js';

const spec: TaskSpec = {
  container: { image: 'nginx', command: ['nginx'], args: ['-g', 'daemon off;'], env: ['A=1'], labels: { team: 'web' }, ...CONTAINER_SPEC_DEFAULTS, stopGracePeriodMs: 2_000 },
  resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
  restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
  placement: { constraints: [], maxReplicasPerNode: 0, preferences: [], platforms: [] },
  networks: [], secrets: [], configs: [], forceUpdate: 0, runtime: 'container',
};

const task = (state: TaskState = 'assigned', desiredState: DesiredState = 'running'): RunnerTask => ({
  id: 't1', serviceId: 's1', slot: 2, nodeId: 'w1', spec, desiredState, status: { state, message: state, timestamp: 1, err: '' },
});

/** A runner machine and what it says: `took()` returns what it sent since the last call, as short strings. */
function runner(t: RunnerTask, workload: ExecutorWorkload | null | undefined = undefined, options: { clock?: SimulatedClock; blobs?: TaskBlobs } = {}) {
  const sent: RuntimeSendEvent[] = [];
  const input = { task: t, workload, self: 'w1/agent/task-t1', agent: 'w1/agent', executor: 'w1/agent/executor', stopGraceMs: 5_000, ...(options.blobs === undefined ? {} : { blobs: options.blobs }) };
  const actor = createActor(runnerMachine, { input, ...(options.clock === undefined ? {} : { clock: options.clock }) });
  actor.on('*', (e: EventObject) => {
    if (e.type === RUNTIME_SEND) sent.push(e as RuntimeSendEvent);
  });
  actor.start();
  let seen = 0;
  const took = (): string[] => sent.slice(seen).map((e) => {
    const m = e.message as { type: string; state?: string; message?: string; err?: string; graceMs?: number };
    seen = sent.length;
    if (m.type === 'agent.runnerStatus') return `${e.to} ${m.state}: ${m.message}${m.err ? ` (${m.err})` : ''}`;
    return `${e.to} ${m.type}${m.graceMs === undefined ? '' : ` ${m.graceMs}`}`;
  });
  const reply = (event: ExecutorReply | { type: 'runner.update'; desiredState: DesiredState } | { type: 'runner.remove' }): void => actor.send(event);
  return { actor, took, reply, state: () => actor.getSnapshot().value, done: () => actor.getSnapshot().status === 'done' };
}

describe('task runner', () => {
  test('where a runner begins, from the task\'s state and what the executor held', () => {
    const created: ExecutorWorkload = { id: 't1', running: false, exitCode: null };
    expect(runnerStart(task('assigned'), undefined)).toBe('fresh');
    expect(runnerStart(task('assigned'), null)).toBe('fresh');
    expect(runnerStart(task('preparing'), null)).toBe('fresh');
    expect(runnerStart(task('running'), null)).toBe('lost');
    expect(runnerStart(task('starting'), null)).toBe('lost');
    expect(runnerStart(task('running'), undefined)).toBe('fresh');
    expect(runnerStart(task('running'), { id: 't1', running: true, exitCode: null })).toBe('running');
    expect(runnerStart(task('running'), { id: 't1', running: false, exitCode: 2 })).toBe('exited');
    expect(runnerStart(task('ready'), created)).toBe('created');
    expect(runnerStart(task('starting'), created)).toBe('start');
    expect(runnerStart(task('complete'), null)).toBe('finished');
    expect(runnerStart(task('failed'), { id: 't1', running: false, exitCode: 1 })).toBe('finished');
  });

  test('a task that runs to exit 0: accepted, preparing, ready, starting, running, complete; removed, it removes its workload and ends', () => {
    const r = runner(task());
    expect(r.took()).toEqual(['w1/agent accepted: accepted', 'w1/agent preparing: preparing', 'w1/agent/executor executor.prepare']);
    const prepare = (r.actor.getSnapshot().context as { spec: unknown }).spec;
    expect(prepare).toEqual({
      id: 't1', image: 'nginx', command: ['nginx'], args: ['-g', 'daemon off;'], env: ['A=1'], stopGraceMs: 2_000, runtime: 'container',
      labels: { team: 'web', 'swarm.task.id': 't1', 'swarm.service.id': 's1', 'swarm.node.id': 'w1', 'swarm.task.slot': '2' },
      resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    });
    r.reply({ type: 'exec.prepared' });
    expect(r.took()).toEqual(['w1/agent ready: prepared', 'w1/agent starting: starting', 'w1/agent/executor executor.start']);
    r.reply({ type: 'exec.started' });
    expect(r.took()).toEqual(['w1/agent running: started', 'w1/agent/executor executor.wait']);
    r.reply({ type: 'exec.exited', exitCode: 0, message: 'exited' });
    expect(r.took()).toEqual(['w1/agent complete: finished']);
    expect(r.state()).toBe('finished');
    // Still assigned (desired running): it stays, and runs nothing again.
    r.reply({ type: 'runner.update', desiredState: 'running' });
    expect(r.took()).toEqual([]);
    r.reply({ type: 'runner.remove' });
    expect(r.took()).toEqual(['w1/agent/executor executor.remove']);
    r.reply({ type: 'exec.removed' });
    expect(r.done()).toBe(true);
  });

  test('a non-zero exit fails with its code; a refused pull is rejected, a failed step fails, with the engine\'s words', () => {
    const exits = runner(task());
    exits.reply({ type: 'exec.prepared' });
    exits.reply({ type: 'exec.started' });
    exits.took();
    exits.reply({ type: 'exec.exited', exitCode: 3, message: 'exited with code 3' });
    expect(exits.took()).toEqual(['w1/agent failed: exit code 3 (exit code 3)']);

    const refused = runner(task());
    refused.took();
    refused.reply({ type: 'exec.prepareFailed', code: 'REJECTED', message: 'No such image: nginx' });
    expect(refused.took()).toEqual(['w1/agent rejected: No such image: nginx (No such image: nginx)']);
    expect(refused.state()).toBe('finished');

    const broken = runner(task());
    broken.reply({ type: 'exec.prepared' });
    broken.took();
    broken.reply({ type: 'exec.startFailed', code: 'FAILED', message: 'OCI runtime create failed' });
    expect(broken.took()).toEqual(['w1/agent failed: OCI runtime create failed (OCI runtime create failed)']);
  });

  test('desired ready: prepared and not started until desired running', () => {
    const r = runner(task('assigned', 'ready'));
    r.reply({ type: 'exec.prepared' });
    expect(r.took()).toEqual(['w1/agent accepted: accepted', 'w1/agent preparing: preparing', 'w1/agent/executor executor.prepare', 'w1/agent ready: prepared']);
    r.reply({ type: 'runner.update', desiredState: 'ready' });
    expect(r.took()).toEqual([]);
    r.reply({ type: 'runner.update', desiredState: 'running' });
    expect(r.took()).toEqual(['w1/agent starting: starting', 'w1/agent/executor executor.start']);
  });

  test('desired shutdown while it runs: stop with the grace, then shutdown; a late exit is the stop\'s own', () => {
    const r = runner(task());
    r.reply({ type: 'exec.prepared' });
    r.reply({ type: 'exec.started' });
    r.took();
    r.reply({ type: 'runner.update', desiredState: 'shutdown' });
    expect(r.took()).toEqual(['w1/agent/executor executor.stop 2000']);
    r.reply({ type: 'exec.exited', exitCode: 143, message: 'stopped' });
    expect(r.took()).toEqual([]);
    r.reply({ type: 'exec.stopped' });
    expect(r.took()).toEqual(['w1/agent shutdown: shutdown']);
    expect(r.state()).toBe('finished');
  });

  test('removed while preparing: once prepared it is shut down (never started) and removed', () => {
    const r = runner(task());
    r.took();
    r.reply({ type: 'runner.remove' });
    expect(r.took()).toEqual([]);
    r.reply({ type: 'exec.prepared' });
    expect(r.took()).toEqual(['w1/agent ready: prepared', 'w1/agent shutdown: shutdown', 'w1/agent/executor executor.remove']);
    r.reply({ type: 'exec.removeFailed', code: 'FAILED', message: 'gone' });
    expect(r.done()).toBe(true);
  });

  test('removed while starting: it stops what it started, then removes it', () => {
    const r = runner(task());
    r.reply({ type: 'exec.prepared' });
    r.took();
    r.reply({ type: 'runner.remove' });
    r.reply({ type: 'exec.started' });
    expect(r.took()).toEqual(['w1/agent running: started', 'w1/agent/executor executor.wait', 'w1/agent/executor executor.stop 2000']);
    r.reply({ type: 'exec.stopped' });
    expect(r.took()).toEqual(['w1/agent shutdown: shutdown', 'w1/agent/executor executor.remove']);
  });

  test('desired shutdown before it ever ran: shutdown at once, nothing prepared', () => {
    const r = runner(task('assigned', 'shutdown'));
    expect(r.took()).toEqual(['w1/agent shutdown: shutdown']);
    expect(r.state()).toBe('finished');
  });

  test('after a restart: a running workload is adopted, an exited one reported, a missing one lost', () => {
    const adopted = runner(task('starting'), { id: 't1', running: true, exitCode: null });
    expect(adopted.took()).toEqual(['w1/agent running: started', 'w1/agent/executor executor.wait']);
    adopted.reply({ type: 'exec.exited', exitCode: 2, message: '' });
    expect(adopted.took()).toEqual(['w1/agent failed: exit code 2 (exit code 2)']);

    expect(runner(task('running'), { id: 't1', running: false, exitCode: 3 }).took()).toEqual(['w1/agent failed: exit code 3 (exit code 3)']);
    expect(runner(task('running'), { id: 't1', running: false, exitCode: 0 }).took()).toEqual(['w1/agent complete: finished']);
    expect(runner(task('running', 'shutdown'), { id: 't1', running: false, exitCode: 137 }).took()).toEqual(['w1/agent shutdown: shutdown']);
    expect(runner(task('running'), null).took()).toEqual([`w1/agent failed: ${TASK_LOST_MESSAGE} (${TASK_LOST_MESSAGE})`]);
    const created = runner(task('ready'), { id: 't1', running: false, exitCode: null });
    expect(created.took()).toEqual(['w1/agent starting: starting', 'w1/agent/executor executor.start']);
  });

  test('never reports a state at or below the one its task has', () => {
    const r = runner(task('preparing'));
    expect(r.took()).toEqual(['w1/agent/executor executor.prepare']);
    r.reply({ type: 'exec.prepared' });
    expect(r.took()).toEqual(['w1/agent ready: prepared', 'w1/agent starting: starting', 'w1/agent/executor executor.start']);
  });

  describe('health checks, files, the task\'s own stop', () => {
    const healthSpec = (test: string[]): TaskSpec => ({
      ...spec,
      container: { ...spec.container, healthcheck: { test, intervalMs: 500, timeoutMs: 1_000, retries: 3, startPeriodMs: 0 }, stopSignal: 'SIGQUIT', stopGracePeriodMs: 7_000 },
    });
    const started = (t: RunnerTask, clock: SimulatedClock) => {
      const r = runner(t, undefined, { clock });
      r.reply({ type: 'exec.prepared' });
      r.reply({ type: 'exec.started' });
      return r;
    };

    test('a workload with a health check stays starting until the engine calls it healthy; it is watched while it runs, and failed when unhealthy', () => {
      const clock = new SimulatedClock();
      const t = { ...task(), spec: healthSpec(['CMD', 'true']) };
      const r = started(t, clock);
      const spec0 = (r.actor.getSnapshot().context as { spec: { healthcheck: unknown; stopSignal: string; stopGraceMs: number } }).spec;
      expect(spec0).toMatchObject({ healthcheck: { test: ['CMD', 'true'], intervalMs: 500 }, stopSignal: 'SIGQUIT', stopGraceMs: 7_000 });
      expect(r.took()).toEqual([
        'w1/agent accepted: accepted', 'w1/agent preparing: preparing', 'w1/agent/executor executor.prepare',
        'w1/agent ready: prepared', 'w1/agent starting: starting', 'w1/agent/executor executor.start', 'w1/agent/executor executor.wait',
      ]);
      clock.increment(500);
      expect(r.took()).toEqual(['w1/agent/executor executor.health']);
      r.reply({ type: 'exec.health', health: 'starting' });
      expect(r.took()).toEqual([]);
      clock.increment(500);
      expect(r.took()).toEqual(['w1/agent/executor executor.health']);
      r.reply({ type: 'exec.health', health: 'healthy' });
      // Running, and no second wait: the first one is still out.
      expect(r.took()).toEqual(['w1/agent running: started']);
      clock.increment(500);
      expect(r.took()).toEqual(['w1/agent/executor executor.health']);
      r.reply({ type: 'exec.health', health: 'healthy' });
      clock.increment(500);
      expect(r.took()).toEqual(['w1/agent/executor executor.health']);
      r.reply({ type: 'exec.health', health: 'unhealthy' });
      expect(r.took()).toEqual(['w1/agent/executor executor.stop 7000']);
      r.reply({ type: 'exec.stopped' });
      expect(r.took()).toEqual([`w1/agent failed: ${UNHEALTHY_MESSAGE} (${UNHEALTHY_MESSAGE})`]);
      expect(r.state()).toBe('finished');
    });

    test('unhealthy before it ever was healthy: stopped and failed, never running; an exit while starting ends it', () => {
      const clock = new SimulatedClock();
      const r = started({ ...task(), spec: healthSpec(['CMD', 'false']) }, clock);
      r.took();
      clock.increment(500);
      r.reply({ type: 'exec.health', health: 'unhealthy' });
      expect(r.took()).toEqual(['w1/agent/executor executor.health', 'w1/agent/executor executor.stop 7000']);
      r.reply({ type: 'exec.stopped' });
      expect(r.took()).toEqual([`w1/agent failed: ${UNHEALTHY_MESSAGE} (${UNHEALTHY_MESSAGE})`]);

      const exits = started({ ...task(), spec: healthSpec(['CMD', 'true']) }, new SimulatedClock());
      exits.took();
      exits.reply({ type: 'exec.exited', exitCode: 2, message: '' });
      expect(exits.took()).toEqual(['w1/agent failed: exit code 2 (exit code 2)']);
    });

    test('without a health check (or with NONE), started is running at once and nothing is asked of the engine', () => {
      const clock = new SimulatedClock();
      const r = started({ ...task(), spec: healthSpec(['NONE']) }, clock);
      expect(r.took().slice(-2)).toEqual(['w1/agent running: started', 'w1/agent/executor executor.wait']);
      clock.increment(10_000);
      expect(r.took()).toEqual([]);
    });

    test('secrets and configs become files with their data: bare secret names under /run/secrets; a task whose secret the node was not given is rejected', () => {
      const withFiles: TaskSpec = { ...spec, secrets: [{ id: 'sec1', name: 'db-password', target: 'db-password' }], configs: [{ id: 'cfg1', name: 'app.conf', target: '/etc/app.conf' }] };
      const data = new TextEncoder().encode('hunter2');
      const conf = new TextEncoder().encode('x=1');
      const blobs: TaskBlobs = { secret: (id) => (id === 'sec1' ? data : undefined), config: (id) => (id === 'cfg1' ? conf : undefined) };
      const r = runner({ ...task(), spec: withFiles }, undefined, { blobs });
      expect((r.actor.getSnapshot().context as { spec: { files: unknown } }).spec.files).toEqual([
        { target: '/run/secrets/db-password', data, mode: 0o444 },
        { target: '/etc/app.conf', data: conf, mode: 0o444 },
      ]);
      const missing = runner({ ...task(), spec: withFiles }, undefined, { blobs: { secret: () => undefined, config: blobs.config } });
      expect(missing.took()).toEqual(['w1/agent rejected: not given to this node: secret db-password (not given to this node: secret db-password)']);
      expect(missing.state()).toBe('finished');
    });
  });
});

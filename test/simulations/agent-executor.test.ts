// The simulated executor: workloads on the simulator's loop, their faults drawn from the seed.
import { SeededRandom, type ExecutorSpec } from '../../runtime/index.js';
import { EXIT_CODE_KILLED, SimExecutor, SimLoop, imageBehaviour, type SimExecutorOptions } from '../../simulations/index.js';

const spec = (id: string, image: string, stopGraceMs = 1_000): ExecutorSpec => ({ id, image, command: [], args: [], env: [], labels: {}, stopGraceMs });

function bench(options: SimExecutorOptions = {}, seed = 'executor'): { loop: SimLoop; executor: SimExecutor; run: (ms: number) => Promise<void> } {
  const loop = new SimLoop();
  const executor = new SimExecutor(loop, new SeededRandom(seed), options);
  return { loop, executor, run: async (ms) => void (await loop.run({ untilMs: loop.now() + ms })) };
}

/** The outcome of a promise once the loop has run: a value, or the error's code and message. */
function outcome<T>(promise: Promise<T>): { value?: T; error?: { code: string; message: string }; settled: boolean } {
  const result: { value?: T; error?: { code: string; message: string }; settled: boolean } = { settled: false };
  promise.then(
    (value) => Object.assign(result, { value, settled: true }),
    (error: { code: string; message: string }) => Object.assign(result, { error: { code: error.code, message: error.message }, settled: true }),
  );
  return result;
}

describe('SimExecutor', () => {
  test('images say how they behave, the table over the name', () => {
    expect(imageBehaviour('missing/app')).toEqual({ missing: true });
    expect(imageBehaviour('exit/3/500')).toEqual({ exitCode: 3, exitAfterMs: 500 });
    expect(imageBehaviour('exit/0/20/job')).toEqual({ exitCode: 0, exitAfterMs: 20 });
    expect(imageBehaviour('stubborn/db')).toEqual({ ignoresStop: true });
    expect(imageBehaviour('nginx')).toEqual({});
    expect(imageBehaviour('nginx', { nginx: { exitAfterMs: 5, exitCode: 1 } })).toEqual({ exitAfterMs: 5, exitCode: 1 });
  });

  test('the whole life of a workload, and a missing image', async () => {
    const { executor, run, loop } = bench({ prepareDelayMsMin: 10, prepareDelayMsMax: 10, startDelayMsMin: 5, startDelayMsMax: 5 });
    const missing = outcome(executor.prepare(spec('m', 'missing/app')));
    const prepared = outcome(executor.prepare(spec('a', 'exit/3/500')));
    await run(10);
    expect(missing.error).toEqual({ code: 'REJECTED', message: 'No such image: missing/app' });
    expect(prepared.settled).toBe(true);
    expect(executor.workloads()).toEqual([{ id: 'a', running: false, exitCode: null }]);
    const started = outcome(executor.start('a'));
    const exit = outcome(executor.wait('a'));
    await run(5);
    expect(started.settled).toBe(true);
    expect(executor.workloads()).toEqual([{ id: 'a', running: true, exitCode: null }]);
    await run(499);
    expect(exit.settled).toBe(false);
    await run(1);
    expect(loop.now()).toBe(515);
    expect(exit.value).toEqual({ exitCode: 3, message: 'exited with code 3' });
    const listed = outcome(executor.list());
    await run(0);
    expect(listed.value).toEqual([{ id: 'a', running: false, exitCode: 3 }]);
    const removed = outcome(executor.remove('a'));
    await run(20);
    expect(removed.settled).toBe(true);
    expect(executor.workloads()).toEqual([]);
    const gone = outcome(executor.start('a'));
    await run(10);
    expect(gone.error).toEqual({ code: 'FAILED', message: 'no such workload: a' });
  });

  test('a stop ends the workload within its grace; a stubborn one takes the whole grace and is killed', async () => {
    const { executor, run, loop } = bench({ stopDelayMsMax: 30 });
    for (const [id, image] of [['a', 'nginx'], ['b', 'stubborn/db']] as const) {
      void executor.prepare(spec(id, image, 2_000));
      await run(60);
      void executor.start(id);
      await run(30);
    }
    const exitA = outcome(executor.wait('a'));
    const exitB = outcome(executor.wait('b'));
    const t0 = loop.now();
    const stopA = outcome(executor.stop('a', 2_000));
    const stopB = outcome(executor.stop('b', 2_000));
    await run(30);
    expect(stopA.settled).toBe(true);
    expect(exitA.value?.exitCode).toBe(143);
    expect(stopB.settled).toBe(false);
    await run(2_000 - 31);
    expect(stopB.settled).toBe(false);
    await run(1);
    expect(loop.now() - t0).toBe(2_000);
    expect(stopB.settled).toBe(true);
    expect(exitB.value).toEqual({ exitCode: EXIT_CODE_KILLED, message: 'killed after the stop grace period' });
    expect(executor.counters).toMatchObject({ stopped: 2, slowStops: 1 });
  });

  test('random crashes at the configured rate end running workloads with 137', async () => {
    const { executor, run } = bench({ crashProbabilityPerSecond: 0.5 });
    const exits: number[] = [];
    for (let i = 0; i < 40; i++) {
      void executor.prepare(spec(`w${i}`, 'nginx'));
    }
    await run(100);
    for (let i = 0; i < 40; i++) void executor.start(`w${i}`);
    await run(50);
    for (let i = 0; i < 40; i++) void executor.wait(`w${i}`).then((e) => exits.push(e.exitCode));
    await run(1_000);
    // About half crash within a second (binomial: 40 draws at p = 0.5).
    expect(executor.counters.crashed).toBeGreaterThan(8);
    expect(executor.counters.crashed).toBeLessThan(32);
    expect(exits.every((code) => code === EXIT_CODE_KILLED)).toBe(true);
    await run(20_000);
    expect(executor.counters.crashed).toBe(40);
  });

  test('setCrashProbabilityPerSecond(0) ends the crashes, of running workloads too', async () => {
    const { executor, run } = bench({ crashProbabilityPerSecond: 0.5 });
    for (let i = 0; i < 20; i++) void executor.prepare(spec(`w${i}`, 'nginx'));
    await run(100);
    for (let i = 0; i < 20; i++) void executor.start(`w${i}`);
    await run(50);
    executor.setCrashProbabilityPerSecond(0);
    await run(60_000);
    const crashed = executor.counters.crashed;
    expect(executor.workloads().filter((w) => w.running)).toHaveLength(20 - crashed);
    expect(crashed).toBeLessThan(5);
    executor.setCrashProbabilityPerSecond(1);
    await run(100);
    expect(executor.workloads().filter((w) => w.running)).toHaveLength(0);
  });

  test('crashAll: every workload is gone, promises given out before never settle, and the executor serves afterwards', async () => {
    const { executor, run } = bench();
    void executor.prepare(spec('a', 'nginx'));
    await run(100);
    void executor.start('a');
    await run(100);
    const exit = outcome(executor.wait('a'));
    const late = outcome(executor.prepare(spec('b', 'nginx')));
    await run(0);
    executor.crashAll();
    await run(1_000);
    expect(exit.settled).toBe(false);
    expect(late.settled).toBe(false);
    const listed = outcome(executor.list());
    await run(0);
    expect(listed.value).toEqual([]);
    const again = outcome(executor.prepare(spec('a', 'nginx')));
    await run(100);
    expect(again.settled).toBe(true);
    expect(executor.workloads()).toEqual([{ id: 'a', running: false, exitCode: null }]);
  });

  test('same seed, same run', async () => {
    const history = async (seed: string): Promise<string[]> => {
      const { executor, run, loop } = bench({ crashProbabilityPerSecond: 0.3, slowStopProbability: 0.5 }, seed);
      const log: string[] = [];
      for (let i = 0; i < 10; i++) {
        void executor.prepare(spec(`w${i}`, 'nginx')).then(() => executor.start(`w${i}`)).then(() => {
          log.push(`${loop.now()} start w${i}`);
          return executor.wait(`w${i}`);
        }).then((e) => log.push(`${loop.now()} exit w${i} ${e.exitCode}`));
      }
      await run(1_500);
      for (let i = 0; i < 10; i++) void executor.stop(`w${i}`, 500).then(() => log.push(`${loop.now()} stopped w${i}`), () => log.push(`${loop.now()} stop failed w${i}`));
      await run(2_000);
      return log;
    };
    const a = await history('s1');
    expect(await history('s1')).toEqual(a);
    expect(await history('s2')).not.toEqual(a);
  });
});

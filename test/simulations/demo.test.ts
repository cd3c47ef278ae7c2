import { runDemo, runDemoWithTrace } from '../../simulations/index.js';

describe('the simulator demo scenario', () => {
  test('one seed gives one trace: the same digest twice in one run; another seed differs', async () => {
    const first = await runDemoWithTrace(7, { keepTrace: true });
    const second = await runDemoWithTrace(7, { keepTrace: true });
    expect(second.run.traceDigest).toBe(first.run.traceDigest);
    expect(second.trace).toEqual(first.trace);
    const other = await runDemo(8);
    expect(other.traceDigest).not.toBe(first.run.traceDigest);
    expect(first.run.ok).toBe(true);
    expect(first.run.traceRecords).toBeGreaterThan(100);
  });

  test('keeps its invariants on 40 seeds, and the faults really happen', async () => {
    const runs = [];
    for (let seed = 1000; seed < 1040; seed++) runs.push(await runDemo(seed));
    expect(runs.filter((r) => !r.ok).map((r) => `${r.seed}: ${r.failure}`)).toEqual([]);
    // Anti-vacuity: the seeds did crash nodes, partition the network, restart actors, lose and duplicate messages.
    expect(runs.filter((r) => r.faults.crashes > 0).length).toBeGreaterThan(10);
    expect(runs.filter((r) => r.faults.partitions > 0).length).toBeGreaterThan(10);
    expect(runs.filter((r) => r.faults.actorRestarts > 0).length).toBeGreaterThan(5);
    expect(runs.filter((r) => r.faults.networkDuplicated > 0).length).toBeGreaterThan(5);
  });

  test('a planted bug (acknowledging before the write is durable) is found within 200 seeds and its seed replays it exactly', async () => {
    let found;
    for (let seed = 1; seed <= 200 && found === undefined; seed++) {
      const run = await runDemo(seed, { plantedBug: 'ack-before-persist' });
      if (!run.ok) found = run;
    }
    expect(found).toBeDefined();
    if (found === undefined) return;
    expect(found.failure).toMatch(/^lost acknowledged messages: n\d acknowledged n\d's messages up to \d+ but recovered only \d+$/);
    const replay = await runDemo(found.seed, { plantedBug: 'ack-before-persist' });
    expect(replay.failure).toBe(found.failure);
    expect(replay.traceDigest).toBe(found.traceDigest);
    expect(replay.virtualMs).toBe(found.virtualMs);
    // Without the bug, the same seed (same faults, same workload) keeps the invariant.
    const fixed = await runDemo(found.seed);
    expect(fixed.ok).toBe(true);
  });
});

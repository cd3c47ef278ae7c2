import { checkSeedBlock } from './orchestration-seeds.js';

// Seeds 1-100 of the 300 that every test run checks (three files, so that jest runs
// them in parallel). Each seed: three managers and two to four workers running the real Raft
// peers, manager actors, orchestration and agents on simulated engines, a client's workload of
// services of every mode, and crashes, partitions and workload failures; then convergence.
checkSeedBlock(1);

test('one seed gives one trace', async () => {
  const { runOrchestrationSim } = await import('../../simulations/index.js');
  const [a, b] = [await runOrchestrationSim(5), await runOrchestrationSim(5)];
  expect(a.traceDigest).toBe(b.traceDigest);
  expect((await runOrchestrationSim(6)).traceDigest).not.toBe(a.traceDigest);
}, 120_000);

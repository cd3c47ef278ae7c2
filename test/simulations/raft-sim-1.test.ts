import { checkSeedBlock, runSeeds } from './raft-seeds.js';

// Seeds 1-100 of the 300 that every test run checks (three files, so that jest runs them
// in parallel). Each seed: 3-7 peers under the full fault mix, invariants checked after every
// event, linearizability and lost writes at the end, then liveness.
checkSeedBlock(1);

test('one seed gives one trace', async () => {
  const [a, b] = [await runSeeds(7, 1), await runSeeds(7, 1)];
  expect(a[0]?.traceDigest).toBe(b[0]?.traceDigest);
  expect((await runSeeds(8, 1))[0]?.traceDigest).not.toBe(a[0]?.traceDigest);
}, 120_000);

import { failures, runSeeds } from './raft-seeds.js';

// Seeds 1-100 of the 300 that every test run checks (three files, so that jest runs them
// in parallel). Each seed: 3-7 peers under the full fault mix, invariants checked after every
// event, linearizability and lost writes at the end, then liveness.
test('Raft keeps its invariants on seeds 1-100, and the rare situations happen', async () => {
  const runs = await runSeeds(1, 100);
  expect(failures(runs)).toEqual([]);
  const reached = (key: keyof (typeof runs)[number]['sometimes']) => runs.filter((r) => r.sometimes[key] > 0).length;
  expect(reached('leaderChanges')).toBeGreaterThan(50);
  expect(reached('crashes')).toBeGreaterThan(50);
  expect(reached('snapshotInstalls')).toBeGreaterThan(0);
  expect(reached('membershipChangesUnderPartition')).toBeGreaterThan(0);
  expect(reached('tornWriteRecoveries')).toBeGreaterThan(0);
}, 900_000);

test('one seed gives one trace', async () => {
  const [a, b] = [await runSeeds(7, 1), await runSeeds(7, 1)];
  expect(a[0]?.traceDigest).toBe(b[0]?.traceDigest);
  expect((await runSeeds(8, 1))[0]?.traceDigest).not.toBe(a[0]?.traceDigest);
}, 120_000);

import { STORE_BUGS, runRaftSim, type RaftSimRun, type StoreBug } from '../../simulations/index.js';

// The store check of the Raft workload (simulations/raft.ts): every manager's store must equal
// every other's at the same applied index. A store bug planted behind a test-only switch is
// caught, with a message naming the index and the managers, and its seed replays it.
const caught: Array<[StoreBug, RegExp]> = [
  // m1 applies batches differently: its digest differs from the others' at the same index.
  ['dropEvent', /^store divergence at index \d+: m\d's store \(by (apply|snapshot install|restart)\) is [0-9a-f]{16} but m\d's \(by (apply|snapshot install|restart)\) was [0-9a-f]{16}; first difference: \w+ \S+ (is in|differs)/],
  // Snapshots holding an older store: a manager restored from one holds a store at the wrong index.
  ['staleSnapshot', /^store (index: m\d's store is at index \d+ after (snapshot install|restart) at applied index \d+|divergence at index \d+)/],
  // A snapshot written a step at a time that takes in entries applied after its index.
  ['unisolatedSnapshot', /^store (index|divergence at index \d+)/],
];

test.each(caught)('the planted store bug %s is caught within 20 seeds, and its seed replays it', async (storeBug, expected) => {
  expect(STORE_BUGS).toContain(storeBug);
  let found: RaftSimRun | undefined;
  for (let seed = 1; seed <= 20 && found === undefined; seed++) {
    const run = await runRaftSim(seed, { storeBug });
    if (!run.ok) found = run;
  }
  expect(found?.failure).toMatch(expected);
  if (found === undefined) return;
  const replay = await runRaftSim(found.seed, { storeBug });
  expect(replay.failure).toBe(found.failure);
  expect(replay.traceDigest).toBe(found.traceDigest);
  // Without the bug the same seed keeps every invariant.
  expect((await runRaftSim(found.seed)).ok).toBe(true);
}, 300_000);

test('an encrypted seed seals every manager, rotates a DEK, and keeps the stores equal', async () => {
  let run: RaftSimRun | undefined;
  for (let seed = 1; seed <= 20 && run === undefined; seed++) {
    const candidate = await runRaftSim(seed);
    if (candidate.options.encryptedAtRest && candidate.options.dekRotationAtMs > 0 && candidate.sometimes.mixedKeyRecoveries > 0) run = candidate;
  }
  expect(run?.failure).toBeUndefined();
  expect(run?.sometimes.encryptedManagers).toBe(run?.options.peers);
  expect(run?.sometimes.dekRotations).toBe(1);
  expect(run?.sometimes.storeEventsApplied).toBeGreaterThan(0);
}, 300_000);

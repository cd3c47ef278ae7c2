import { runRaftSim } from '../../simulations/index.js';
import type { RaftBug } from '../../raft/index.js';

// Mutation check: a bug planted behind a test-only switch must be caught by the simulator's
// checkers within 200 seeds, and its seed must replay the same failure.
const caught: Array<[RaftBug, RegExp]> = [
  ['ackBeforePersist', /vote not durable|state machine safety|election safety|acknowledged write lost|InvariantViolation/],
  ['forgetVoteOnRestart', /InvariantViolation: hard state changes the vote|election safety/],
  ['skipVoteTermCheck', /InvariantViolation: hard state changes the vote|election safety/],
  ['applyBeforeCommit', /state machine safety/],
  // Reached through the stranded-entries schedule (simulations/raft-strand.ts, Figure 8).
  ['commitPreviousTermByCounting', /state machine safety/],
];

test.each(caught)('the planted bug %s is caught within 200 seeds, and its seed replays it', async (bug, expected) => {
  let found;
  for (let seed = 1; seed <= 200 && found === undefined; seed++) {
    const run = await runRaftSim(seed, { bug });
    if (!run.ok) found = run;
  }
  expect(found?.failure).toMatch(expected);
  if (found === undefined) return;
  const replay = await runRaftSim(found.seed, { bug });
  expect(replay.failure).toBe(found.failure);
  expect(replay.traceDigest).toBe(found.traceDigest);
  // Without the bug the same seed keeps every invariant.
  expect((await runRaftSim(found.seed)).ok).toBe(true);
}, 600_000);

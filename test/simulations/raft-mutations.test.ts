import { runRaftSim } from '../../simulations/index.js';
import type { RaftBug } from '../../raft/index.js';

// Mutation check: a bug planted behind a test-only switch must be caught by the simulator's
// checkers within 200 seeds, and its seed must replay the same failure.
// (commitPreviousTermByCounting is not in this list: in 200 seeds the simulator's workload does
// not reach a Figure 8 history, since a new leader's first append almost always carries its own
// term's entry; test/raft/paper.test.ts plays Figure 8 and catches that bug deterministically.)
const caught: Array<[RaftBug, RegExp]> = [
  ['ackBeforePersist', /vote not durable|state machine safety|election safety|acknowledged write lost|InvariantViolation/],
  ['forgetVoteOnRestart', /InvariantViolation: hard state changes the vote|election safety/],
  ['skipVoteTermCheck', /InvariantViolation: hard state changes the vote|election safety/],
  ['applyBeforeCommit', /state machine safety/],
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

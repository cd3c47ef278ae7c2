// Shared by the Raft simulation tests, which jest spreads over its workers.
import { runRaftSim, type RaftSimRun } from '../../simulations/index.js';

export async function runSeeds(from: number, count: number): Promise<RaftSimRun[]> {
  const runs: RaftSimRun[] = [];
  for (let seed = from; seed < from + count; seed++) runs.push(await runRaftSim(seed));
  return runs;
}

export function failures(runs: readonly RaftSimRun[]): string[] {
  return runs.filter((r) => !r.ok).map((r) => `seed ${r.seed}: ${r.failure} (replay: npm run sim:raft -- --seed ${r.seed})`);
}

/** The test of one block of 100 seeds: no failure, and the rare situations reached. */
export function checkSeedBlock(from: number): void {
  test(`Raft keeps its invariants on seeds ${from}-${from + 99}, and the rare situations happen`, async () => {
    const runs = await runSeeds(from, 100);
    expect(failures(runs)).toEqual([]);
    const reached = (key: keyof RaftSimRun['sometimes']) => runs.filter((r) => r.sometimes[key] > 0).length;
    expect(reached('leaderChanges')).toBeGreaterThan(50);
    expect(reached('crashes')).toBeGreaterThan(50);
    expect(reached('snapshotInstalls')).toBeGreaterThan(0);
    expect(reached('membershipChangesUnderPartition')).toBeGreaterThan(0);
    expect(reached('tornWriteRecoveries')).toBeGreaterThan(0);
    // The store workload: batches applied and refused, stores restored, logs sealed and rotated.
    expect(reached('storeEventsApplied')).toBeGreaterThan(80);
    expect(reached('refusedBatches')).toBeGreaterThan(20);
    expect(reached('storeRestores')).toBeGreaterThan(20);
    expect(reached('snapshotsOverlappingApplies')).toBeGreaterThan(20);
    expect(reached('encryptedManagers')).toBeGreaterThan(20);
    expect(reached('dekRotations')).toBeGreaterThan(10);
    expect(reached('mixedKeyRecoveries')).toBeGreaterThan(0);
    // The transport's hint after a crash (RaftCore.leaderGone), and wrong hints that must change nothing.
    expect(reached('leaderGoneHints')).toBeGreaterThan(20);
    expect(reached('wrongHints')).toBeGreaterThan(10);
    // Asynchronous storage writes (the real node's mode) in about half the seeds.
    expect(runs.filter((r) => r.options.asyncStorageWrites).length).toBeGreaterThan(30);
  }, 900_000);
}

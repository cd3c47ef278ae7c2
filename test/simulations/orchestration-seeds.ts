// Shared by the orchestration simulation tests, which jest spreads over its workers.
import { runOrchestrationSim, type OrchestrationSimRun, type OrchestrationSimStats } from '../../simulations/index.js';

export async function runSeeds(from: number, count: number): Promise<OrchestrationSimRun[]> {
  const runs: OrchestrationSimRun[] = [];
  for (let seed = from; seed < from + count; seed++) runs.push(await runOrchestrationSim(seed));
  return runs;
}

/** The test of one block of 100 seeds: no failure, and the situations that matter reached. */
export function checkSeedBlock(from: number): void {
  test(`the orchestration keeps its invariants and converges on seeds ${from}-${from + 99}`, async () => {
    const runs = await runSeeds(from, 100);
    const failed = runs.filter((r) => !r.ok).map((r) => `seed ${r.seed}: ${r.failure} (replay: npm run sim:orchestration -- --seed ${r.seed})`);
    expect(failed).toEqual([]);
    const reached = (key: keyof OrchestrationSimStats): number => runs.filter((r) => r.stats[key] > 0).length;
    expect(reached('servicesCreated')).toBe(100);
    expect(reached('updates')).toBeGreaterThan(80);
    expect(reached('leaderCrashes')).toBeGreaterThan(20);
    expect(reached('nodesDown')).toBeGreaterThan(30);
    expect(reached('partitions')).toBeGreaterThan(20);
    expect(reached('drains')).toBeGreaterThan(10);
    expect(reached('restarts')).toBeGreaterThan(20);
    expect(reached('rollbacks')).toBeGreaterThan(10);
    expect(reached('automaticRollbacks')).toBeGreaterThan(0);
    expect(reached('pausedUpdates')).toBeGreaterThan(0);
    expect(reached('workloadCrashes')).toBeGreaterThan(0);
    // Start order: services created with dependencies, their first tasks checked against the
    // journal, and some held first (a dependency not yet meeting its condition), then released.
    expect(reached('dependents')).toBeGreaterThan(30);
    expect(reached('dependentsChecked')).toBeGreaterThan(20);
    expect(reached('holdsReleased')).toBeGreaterThan(5);
  }, 900_000);
}

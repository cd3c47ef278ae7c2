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

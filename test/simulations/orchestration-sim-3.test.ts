import { checkSeedBlock } from './orchestration-seeds.js';

// Seeds 201-300 of the 300 that every test run checks (three files, so that jest runs
// them in parallel). Each seed: three managers and two to four workers running the real Raft
// peers, manager actors, orchestration and agents on simulated engines, a client's workload of
// services of every mode, and crashes, partitions and workload failures; then convergence.
checkSeedBlock(201);

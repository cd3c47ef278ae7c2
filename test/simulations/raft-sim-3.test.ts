import { checkSeedBlock } from './raft-seeds.js';

// Seeds 201-300 of the 300 that every test run checks (three files, so that jest runs them
// in parallel). Each seed: 3-7 peers under the full fault mix, invariants checked after every
// event, linearizability and lost writes at the end, then liveness.
checkSeedBlock(201);

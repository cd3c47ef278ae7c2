// `npm run sim:raft -- --seeds N --from S` runs the Raft workload on N seeds from S;
// `--seed S` replays one. Prints each seed's options and outcome, and at the end how often the
// rare situations happened; a run in which one never happened fails (the test did not reach it).
import { parseArgs } from 'node:util';
import { RAFT_BUGS, STORE_BUGS, runRaftSim, type RaftSimRun, type StoreBug } from './raft.js';
import type { RaftBug } from '../raft/index.js';

const USAGE = `usage: npm run sim:raft -- (--seed S | --seeds N [--from S]) [--bug NAME] [--store-bug NAME] [--trace FILE] [--quiet]

  --seed S     run (replay) one seed
  --seeds N    run N seeds (at most 100000), starting at --from (default 1)
  --bug NAME   plant a known bug: ${RAFT_BUGS.join(', ')}
  --store-bug NAME  plant a known store bug: ${STORE_BUGS.join(', ')}
  --trace FILE write the trace of a single seed as JSON Lines
  --quiet      one line per seed
  --until-failure  stop at the first failing seed (to measure how soon a planted bug is found)`;

function fail(message: string): never {
  console.error(`sim:raft: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parse(): { from: number; count: number; bug: RaftBug | undefined; storeBug: StoreBug | undefined; trace: string | undefined; quiet: boolean; untilFailure: boolean } {
  let values;
  try {
    ({ values } = parseArgs({ options: { seed: { type: 'string' }, seeds: { type: 'string' }, from: { type: 'string' }, bug: { type: 'string' }, 'store-bug': { type: 'string' }, trace: { type: 'string' }, quiet: { type: 'boolean' }, 'until-failure': { type: 'boolean' }, help: { type: 'boolean' } }, strict: true }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text)) fail(`--${flag} must be a non-negative integer, got '${text}'`);
    return Number(text);
  };
  const seed = int('seed', values.seed);
  const seeds = int('seeds', values.seeds);
  const from = int('from', values.from);
  if (seed !== undefined && (seeds !== undefined || from !== undefined)) fail('--seed replays one seed: use it without --seeds and --from');
  if (seed === undefined && seeds === undefined) fail('say --seed S or --seeds N');
  if (seeds !== undefined && (seeds < 1 || seeds > 100_000)) fail(`--seeds must be 1 to 100000, got ${seeds}`);
  if (values.bug !== undefined && !(RAFT_BUGS as readonly string[]).includes(values.bug)) fail(`--bug: unknown bug '${values.bug}'`);
  if (values['store-bug'] !== undefined && !(STORE_BUGS as readonly string[]).includes(values['store-bug'])) fail(`--store-bug: unknown store bug '${values['store-bug']}'`);
  if (values.trace !== undefined && seed === undefined) fail('--trace needs --seed');
  return { from: seed ?? from ?? 1, count: seed !== undefined ? 1 : (seeds as number), bug: values.bug as RaftBug | undefined, storeBug: values['store-bug'] as StoreBug | undefined, trace: values.trace, quiet: values.quiet ?? false, untilFailure: values['until-failure'] ?? false };
}

const args = parse();
const totals = { leaderChanges: 0, snapshotInstalls: 0, membershipChangesUnderPartition: 0, tornWriteRecoveries: 0, storeRestores: 0, snapshotsOverlappingApplies: 0, refusedBatches: 0, storeEventsApplied: 0, encryptedManagers: 0, dekRotations: 0, mixedKeyRecoveries: 0, leaderGoneHints: 0, wrongHints: 0 };
const failed: string[] = [];
for (let seed = args.from; seed < args.from + args.count; seed++) {
  const run: RaftSimRun = await runRaftSim(seed, { ...(args.bug ? { bug: args.bug } : {}), ...(args.storeBug ? { storeBug: args.storeBug } : {}), ...(args.trace ? { traceFile: args.trace } : {}) });
  const replay = `npm run sim:raft -- --seed ${seed}${args.bug ? ` --bug ${args.bug}` : ''}${args.storeBug ? ` --store-bug ${args.storeBug}` : ''} --trace seed-${seed}.trace.jsonl`;
  if (args.quiet) {
    console.log(`SEED=${seed} ${run.ok ? 'ok' : `FAILED ${run.failure}`} sha256=${run.traceDigest}`);
  } else {
    console.log(`SEED=${seed} ${Object.entries(run.options).map(([k, v]) => `${k}=${v}`).join(' ')}${run.bug ? ` bug=${run.bug}` : ''}`);
    console.log(`  ${run.ok ? 'ok' : 'FAILED'}: ${(run.virtualMs / 1000).toFixed(1)} s virtual, ${run.events} events; ops ${JSON.stringify(run.ops)}; ${Object.entries(run.sometimes).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    console.log(`  trace sha256=${run.traceDigest}`);
    if (!run.ok) console.log(`  failure: ${run.failure}`);
  }
  if (!run.ok) {
    console.log(`  replay: ${replay}`);
    console.log(`  then step through it: ./swarm viz --trace seed-${seed}.trace.jsonl`);
    failed.push(String(seed));
    if (args.untilFailure) {
      console.log(`first failure at seed ${seed}, after ${seed - args.from + 1} seeds`);
      break;
    }
  }
  for (const key of Object.keys(totals) as Array<keyof typeof totals>) if (run.sometimes[key] > 0) totals[key]++;
}
if (args.count > 1) {
  console.log(`\n${args.count} seeds from ${args.from}: ${args.count - failed.length} passed, ${failed.length} failed${failed.length ? ` (${failed.slice(0, 20).join(', ')})` : ''}`);
  console.log(`rare situations reached: ${Object.entries(totals).map(([k, v]) => `${k} in ${v} seeds`).join(', ')}`);
  const never = Object.entries(totals).filter(([, v]) => v === 0).map(([k]) => k);
  if (never.length > 0 && args.count >= 50) {
    console.log(`FAILED: never reached: ${never.join(', ')}`);
    failed.push('sometimes');
  }
}
process.exitCode = failed.length === 0 ? 0 : 1;

// `npm run sim:orchestration -- --seeds N --from S` runs the orchestration workload on N seeds
// from S; `--seed S` replays one (with `--trace FILE` to keep its trace). Prints each seed's
// options and outcome, then how often the rare situations happened.
import { parseArgs } from 'node:util';
import { describeOrchestrationOptions, runOrchestrationSim, type OrchestrationSimStats } from './orchestration.js';

const USAGE = `usage: npm run sim:orchestration -- (--seed S | --seeds N [--from S]) [--trace FILE] [--quiet]

  --seed S     run (replay) one seed
  --seeds N    run N seeds (at most 100000), starting at --from (default 1)
  --trace FILE write the trace of a single seed as JSON Lines
  --quiet      one line per seed`;

function fail(message: string): never {
  console.error(`sim:orchestration: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parse(): { from: number; count: number; trace: string | undefined; quiet: boolean } {
  let values;
  try {
    ({ values } = parseArgs({ options: { seed: { type: 'string' }, seeds: { type: 'string' }, from: { type: 'string' }, trace: { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean' } }, strict: true }));
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
  if (values.trace !== undefined && seed === undefined) fail('--trace needs --seed');
  return { from: seed ?? from ?? 1, count: seed !== undefined ? 1 : (seeds as number), trace: values.trace, quiet: values.quiet ?? false };
}

const args = parse();
const failed: string[] = [];
const reached = new Map<keyof OrchestrationSimStats, number>();
for (let seed = args.from; seed < args.from + args.count; seed++) {
  const run = await runOrchestrationSim(seed, args.trace ? { traceFile: args.trace } : {});
  if (args.quiet) {
    console.log(`SEED=${seed} ${run.ok ? 'ok' : `FAILED ${run.failure}`} sha256=${run.traceDigest}`);
  } else {
    console.log(`SEED=${seed} ${describeOrchestrationOptions(run.options)}`);
    console.log(`  ${run.ok ? 'ok' : 'FAILED'}: ${(run.virtualMs / 1000).toFixed(1)} s virtual, ${run.events} events; ${Object.entries(run.stats).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    console.log(`  trace sha256=${run.traceDigest}`);
    if (!run.ok) console.log(`  failure: ${run.failure}`);
  }
  if (!run.ok) {
    console.log(`  replay: npm run sim:orchestration -- --seed ${seed} --trace seed-${seed}.trace.jsonl`);
    console.log(`  then step through it: ./swarm viz --trace seed-${seed}.trace.jsonl`);
    failed.push(String(seed));
  }
  for (const [k, v] of Object.entries(run.stats) as Array<[keyof OrchestrationSimStats, number]>) if (v > 0) reached.set(k, (reached.get(k) ?? 0) + 1);
}
if (args.count > 1) {
  console.log(`\n${args.count} seeds from ${args.from}: ${args.count - failed.length} passed, ${failed.length} failed${failed.length ? ` (${failed.slice(0, 20).join(', ')})` : ''}`);
  console.log(`situations reached: ${[...reached].map(([k, v]) => `${k} in ${v}`).join(', ')}`);
}
process.exitCode = failed.length > 0 ? 1 : 0;

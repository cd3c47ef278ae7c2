// The simulator's runner: `npm run sim -- --seed N` runs the demo scenario for one seed and
// prints every option the seed chose, the outcome and the trace digest; `--seeds K` runs K seeds
// from N on. A failing seed prints the command that replays it.
import { parseArgs } from 'node:util';
import { realRandom } from '../runtime/env/real/index.js';
import { PLANTABLE_BUGS, describeOptions, runDemo, type DemoRun, type PlantedBug } from './demo.js';

const USAGE = `usage: npm run sim -- [--seed N] [--seeds K] [--trace FILE] [--plant-bug NAME] [--check-determinism] [--quiet]

  --seed N             the first seed (a non-negative integer; default: a random one, printed)
  --seeds K            how many consecutive seeds to run (default 1, at most 100000)
  --trace FILE         write the trace of the run as JSON Lines (one seed only)
  --plant-bug NAME     plant a known bug to show the simulator finds it (${PLANTABLE_BUGS.join(', ')})
  --check-determinism  run every seed twice and fail if the two traces differ
  --quiet              one line per seed`;

interface Args {
  seed: number;
  seeds: number;
  traceFile: string | undefined;
  plantedBug: PlantedBug | undefined;
  checkDeterminism: boolean;
  quiet: boolean;
}

class UsageError extends Error {}

function parse(argv: string[]): Args {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        seed: { type: 'string' },
        seeds: { type: 'string' },
        trace: { type: 'string' },
        'plant-bug': { type: 'string' },
        'check-determinism': { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const integer = (flag: string, text: string | undefined, fallback: number, max: number): number => {
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text) || Number(text) > max) throw new UsageError(`--${flag} must be an integer from 0 to ${max}, got '${text}'`);
    return Number(text);
  };
  const seed = integer('seed', v.seed, realRandom().int(0, 2 ** 31 - 1), Number.MAX_SAFE_INTEGER);
  const seeds = integer('seeds', v.seeds, 1, 100_000);
  if (seeds === 0) throw new UsageError('--seeds must be at least 1');
  const bug = v['plant-bug'];
  if (bug !== undefined && !(PLANTABLE_BUGS as readonly string[]).includes(bug)) {
    throw new UsageError(`--plant-bug: unknown bug '${bug}' (known: ${PLANTABLE_BUGS.join(', ')})`);
  }
  if (v.trace !== undefined && seeds !== 1) throw new UsageError('--trace writes one seed\'s trace: use it without --seeds');
  return {
    seed,
    seeds,
    traceFile: v.trace,
    plantedBug: bug as PlantedBug | undefined,
    checkDeterminism: v['check-determinism'] ?? false,
    quiet: v.quiet ?? false,
  };
}

function replayCommand(seed: string, args: Args): string {
  return `npm run sim -- --seed ${seed}${args.plantedBug ? ` --plant-bug ${args.plantedBug}` : ''} --trace seed-${seed}.trace.jsonl`;
}

function report(run: DemoRun, args: Args): void {
  const faults = Object.entries(run.faults).map(([k, v]) => `${k}=${v}`).join(' ');
  if (args.quiet) {
    console.log(`SEED=${run.seed} ${run.ok ? 'ok' : 'FAILED'} sha256=${run.traceDigest}${run.ok ? '' : ` ${run.failure}`}`);
  } else {
    console.log(`SEED=${run.seed} ${describeOptions(run.options)}${run.plantedBug ? ` plantedBug=${run.plantedBug}` : ''}`);
    console.log(`  ${run.ok ? 'ok' : 'FAILED'}: ${(run.virtualMs / 1000).toFixed(1)} s virtual, ${run.events} events, ${run.traceRecords} trace records; ${faults}`);
    console.log(`  trace sha256=${run.traceDigest}`);
    if (!run.ok) console.log(`  failure: ${run.failure}`);
  }
  if (!run.ok) {
    console.log(`  replay: ${replayCommand(run.seed, args)}`);
    console.log(`  then step through it: ./swarm viz --trace seed-${run.seed}.trace.jsonl`);
  }
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`sim: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  const failed: string[] = [];
  // An exception that escapes the simulation (a promise callback that throws) would end the
  // process with a bare stack: name the seed and how to replay it first.
  let current: string | undefined;
  const escaped = (error: unknown): void => {
    console.log(`SEED=${current ?? '?'} FAILED: an exception escaped the simulation: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    if (current !== undefined) console.log(`  replay: ${replayCommand(current, args)}`);
    process.exit(1);
  };
  process.on('uncaughtException', escaped);
  process.on('unhandledRejection', escaped);
  const sometimes = { crashes: 0, partitions: 0, actorRestarts: 0, networkDropped: 0, networkDuplicated: 0 };
  for (let seed = args.seed; seed < args.seed + args.seeds; seed++) {
    current = String(seed);
    const run = await runDemo(seed, { ...(args.plantedBug ? { plantedBug: args.plantedBug } : {}), ...(args.traceFile ? { traceFile: args.traceFile } : {}) });
    report(run, args);
    if (!run.ok) failed.push(String(seed));
    if (args.checkDeterminism) {
      const again = await runDemo(seed, args.plantedBug ? { plantedBug: args.plantedBug } : {});
      if (again.traceDigest !== run.traceDigest) {
        console.log(`  NONDETERMINISTIC: a second run gave sha256=${again.traceDigest}`);
        failed.push(String(seed));
      }
    }
    for (const key of Object.keys(sometimes) as Array<keyof typeof sometimes>) if (run.faults[key] > 0) sometimes[key]++;
  }
  if (args.seeds > 1) {
    const seen = Object.entries(sometimes).map(([k, v]) => `${k} in ${v}`).join(', ');
    console.log(`\n${args.seeds} seeds from ${args.seed}: ${args.seeds - failed.length} passed, ${failed.length} failed${failed.length ? ` (${failed.slice(0, 20).join(', ')}${failed.length > 20 ? ', ...' : ''})` : ''}`);
    console.log(`faults seen: ${seen} seeds`);
  }
  if (args.traceFile) console.log(`trace written to ${args.traceFile}`);
  return failed.length === 0 ? 0 : 1;
}

process.exitCode = await main();

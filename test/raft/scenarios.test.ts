// Runs the Raft scenario files (test/raft/scenarios/*.txt) against their golden output. Each file
// starts a fresh cluster and runs its commands in order; a block whose output differs fails the
// file, naming the file, the command's line and a line diff.
//
// `npm run test:scenarios:rewrite` (REWRITE_SCENARIOS=1) writes the actual outputs into the files
// instead of comparing, and fills in the output of a command written without one. Read the diff
// of a rewrite as you would read a change to the core: it is one.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { diffLines, InteractionEnv, parseScenario, renderScenario, ScenarioError, UsageError } from './interaction.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'scenarios');
const rewrite = process.env.REWRITE_SCENARIOS === '1';
const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();

/** Runs every block; returns the outputs and, when comparing, the first mismatch. */
function runScenario(file: string, text: string): { outputs: string[]; mismatch: string | undefined } {
  const parsed = parseScenario(file, text, { allowMissingOutput: rewrite });
  const env = new InteractionEnv();
  const outputs: string[] = [];
  let mismatch: string | undefined;
  let mismatches = 0;
  for (const block of parsed.blocks) {
    let actual: string;
    try {
      actual = env.run(block.command);
    } catch (error) {
      if (error instanceof UsageError) throw new ScenarioError(file, block.line, error.message);
      const e = error as Error;
      throw new ScenarioError(file, block.line, `'${block.command}' crashed: ${e.name}: ${e.message}\n${e.stack ?? ''}`);
    }
    outputs.push(actual);
    if (rewrite || actual === block.expected) continue;
    mismatches++;
    if (mismatch === undefined) {
      mismatch =
        `${file}:${block.line}: output of '${block.command}' differs (- expected, + actual; ` +
        `run 'npm run test:scenarios:rewrite' to accept):\n${diffLines(block.expected ?? '', actual)}`;
    }
  }
  if (parsed.blocks.length === 0) throw new ScenarioError(file, 1, 'no commands');
  // Later blocks usually differ because the first did: count them, show the first.
  if (mismatches > 1) mismatch += `\n(${mismatches - 1} later block(s) of this file differ too)`;
  return { outputs, mismatch };
}

describe('raft scenarios', () => {
  test('there are scenario files', () => {
    expect(files.length).toBeGreaterThanOrEqual(22);
  });

  test.each(files)('%s', (name) => {
    const file = path.join(dir, name);
    const text = readFileSync(file, 'utf8');
    const label = path.join('test/raft/scenarios', name);
    const { outputs, mismatch } = runScenario(label, text);
    if (rewrite) {
      const updated = renderScenario(parseScenario(label, text, { allowMissingOutput: true }), outputs);
      if (updated !== text) writeFileSync(file, updated);
      return;
    }
    if (mismatch !== undefined) throw new Error(mismatch);
  });
});

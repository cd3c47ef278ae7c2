// The lint rules that keep the simulator's replay exact and the parts' boundaries clean are part
// of the product's safety: these tests prove they fire (and stay quiet where they should).
import { ESLint } from 'eslint';
import path from 'node:path';

const eslint = new ESLint({ cwd: process.cwd() });

async function problems(relativePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(process.cwd(), relativePath) });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

describe('lint', () => {
  test.each([
    ['Date.now()', 'no-restricted-properties'],
    ['new Date()', 'no-restricted-syntax'],
    ['Math.random()', 'no-restricted-properties'],
    ['setTimeout(() => undefined, 1)', 'no-restricted-globals'],
    ['setInterval(() => undefined, 1)', 'no-restricted-globals'],
    ['setImmediate(() => undefined)', 'no-restricted-globals'],
    ['performance.now()', 'no-restricted-globals'],
    ['process.hrtime()', 'no-restricted-properties'],
    ['crypto.randomUUID()', 'no-restricted-properties'],
  ])('forbids %s outside the real Env', async (expression, rule) => {
    const found = await problems('runtime/some-actor.ts', `export const x = ${expression};\n`);
    expect(found.some((p) => p.startsWith(`${rule}:`))).toBe(true);
    expect(await problems('runtime/env/real/clock-extra.ts', `export const x = ${expression};\n`)).toEqual([]);
  });

  test('forbids crypto randomness imported by name', async () => {
    const found = await problems('raft/core.ts', "import { randomBytes } from 'node:crypto';\nexport const x = randomBytes(4);\n");
    expect(found).toContain('swarm/no-ambient-crypto: crypto.randomBytes is ambient randomness: use env.random');
  });

  test('allows a fixed date and hashing', async () => {
    expect(await problems('journal/x.ts', "import { createHash } from 'node:crypto';\nexport const d = new Date(0);\nexport const h = createHash('sha256');\n")).toEqual([]);
  });

  test('forbids deep imports across parts and imports that point up the dependency order', async () => {
    expect(await problems('raft/core.ts', "import { Mailbox } from '../runtime/mailbox.js';\nexport const m = Mailbox;\n"))
      .toEqual(['swarm/part-boundaries: deep import of runtime/mailbox.js: import runtime/index.js instead']);
    expect(await problems('runtime/x.ts', "import { y } from '../actors/index.js';\nexport const z = y;\n"))
      .toEqual(['swarm/part-boundaries: runtime/ may not import actors/ (allowed: none)']);
    expect(await problems('actors/x.ts', "import { y } from '../simulations/index.js';\nexport const z = y;\n"))
      .toEqual(['swarm/part-boundaries: actors/ may not import simulations/ (allowed: raft, journal, runtime)']);
    expect(await problems('actors/x.ts', "import { y } from '../runtime/index.js';\nexport const z = y;\n")).toEqual([]);
    expect(await problems('cli/x.ts', "import { y } from '../runtime/env/real/index.js';\nexport const z = y;\n")).toEqual([]);
  });
});

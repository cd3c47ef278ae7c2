// Project-local ESLint rules.
import path from 'node:path';

const PARTS = ['cli', 'actors', 'raft', 'journal', 'runtime', 'simulations', 'test', 'bench', 'examples'];

// What each part may import (besides itself). DESIGN.md section 2: an import may only point down
// cli -> actors -> raft, journal -> runtime; simulations may import anything; only test (and
// bench, which measures) import simulations.
const ALLOWED = {
  runtime: [],
  journal: ['runtime'],
  raft: ['runtime', 'journal'],
  actors: ['raft', 'journal', 'runtime'],
  cli: ['actors', 'raft', 'journal', 'runtime'],
  simulations: ['cli', 'actors', 'raft', 'journal', 'runtime'],
  test: ['cli', 'actors', 'raft', 'journal', 'runtime', 'simulations'],
  bench: ['cli', 'actors', 'raft', 'journal', 'runtime', 'simulations'],
  examples: [],
};

function partOf(root, file) {
  const rel = path.relative(root, file);
  if (rel.startsWith('..')) return undefined;
  const first = rel.split(path.sep)[0];
  return PARTS.includes(first) ? { part: first, rest: rel.split(path.sep).slice(1) } : undefined;
}

const partBoundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'imports across top-level parts go through the part index, downwards only' },
    schema: [],
  },
  create(context) {
    const root = context.cwd;
    const file = context.filename;
    const from = partOf(root, file);
    if (!from) return {};
    function check(node, source) {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const target = partOf(root, path.resolve(path.dirname(file), source));
      if (!target || target.part === from.part) return;
      if (!ALLOWED[from.part].includes(target.part)) {
        context.report({ node, message: `${from.part}/ may not import ${target.part}/ (allowed: ${ALLOWED[from.part].join(', ') || 'none'})` });
        return;
      }
      // runtime/env/real is a second face of runtime: the real world, chosen by the process's entry point.
      // runtime/env/real/clock is that world's clock alone, for short-lived commands that must not
      // load the disk, the transports and the engine client (the CLI's start-up time).
      const face = target.rest.join('/').replace(/\.(js|ts)$/, '');
      const faces = target.part === 'runtime' ? ['index', 'env/real/index', 'env/real/clock'] : ['index'];
      if (!faces.includes(face)) {
        context.report({ node, message: `deep import of ${target.part}/${target.rest.join('/')}: import ${target.part}/index.js instead` });
      }
    }
    return {
      ImportDeclaration(node) { check(node, node.source.value); },
      ExportNamedDeclaration(node) { if (node.source) check(node, node.source.value); },
      ExportAllDeclaration(node) { check(node, node.source.value); },
      ImportExpression(node) { if (node.source.type === 'Literal') check(node, node.source.value); },
    };
  },
};

// node:crypto's randomness (randomUUID, randomBytes, randomInt, getRandomValues) is ambient too.
const noAmbientCrypto = {
  meta: { type: 'problem', docs: { description: 'no ambient crypto randomness outside the real Env' }, schema: [] },
  create(context) {
    const banned = new Set(['randomUUID', 'randomBytes', 'randomInt', 'randomFillSync', 'randomFill', 'getRandomValues']);
    return {
      ImportDeclaration(node) {
        if (node.source.value !== 'node:crypto' && node.source.value !== 'crypto') return;
        for (const spec of node.specifiers) {
          if (spec.type === 'ImportSpecifier' && banned.has(spec.imported.name)) {
            context.report({ node: spec, message: `crypto.${spec.imported.name} is ambient randomness: use env.random` });
          }
        }
      },
      MemberExpression(node) {
        if (node.property.type === 'Identifier' && banned.has(node.property.name)
          && node.object.type === 'Identifier' && /crypto/i.test(node.object.name)) {
          context.report({ node, message: `crypto.${node.property.name} is ambient randomness: use env.random` });
        }
      },
    };
  },
};

export default { rules: { 'part-boundaries': partBoundaries, 'no-ambient-crypto': noAmbientCrypto } };

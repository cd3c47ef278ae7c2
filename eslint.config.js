// Lint is part of `npm test`. Two project rules matter most:
//  1. Ambient nondeterminism (wall clock, timers, Math.random, ...) is allowed only in
//     runtime/env/real: everything else reaches time, randomness and I/O through the Env, so
//     that the simulator can replay a seed exactly (DESIGN.md section 3).
//  2. Parts import each other only through their index.ts face, and only downwards:
//     cli -> actors -> raft, journal -> runtime (DESIGN.md section 2).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import swarm from './tools/eslint/plugin.js';

const ambientMessage = 'reach time, timers and randomness through the Env (runtime/env); only runtime/env/real may use the ambient ones';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', '.swarm/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: false } },
    plugins: { swarm },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: ambientMessage },
        { name: 'setInterval', message: ambientMessage },
        { name: 'setImmediate', message: ambientMessage },
        { name: 'clearTimeout', message: ambientMessage },
        { name: 'clearInterval', message: ambientMessage },
        { name: 'clearImmediate', message: ambientMessage },
        { name: 'performance', message: ambientMessage },
      ],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: ambientMessage },
        { object: 'Math', property: 'random', message: ambientMessage },
        { object: 'performance', property: 'now', message: ambientMessage },
        { object: 'process', property: 'hrtime', message: ambientMessage },
        { object: 'crypto', property: 'randomUUID', message: ambientMessage },
        { object: 'globalThis', property: 'setTimeout', message: ambientMessage },
        { object: 'globalThis', property: 'setInterval', message: ambientMessage },
        { object: 'globalThis', property: 'setImmediate', message: ambientMessage },
      ],
      'no-restricted-syntax': ['error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: ambientMessage },
        { selector: "CallExpression[callee.name='Date'][arguments.length=0]", message: ambientMessage },
      ],
      'no-restricted-imports': ['error', {
        paths: [
          { name: 'node:timers', message: ambientMessage },
          { name: 'timers', message: ambientMessage },
          { name: 'node:timers/promises', message: ambientMessage },
          { name: 'timers/promises', message: ambientMessage },
          { name: 'node:perf_hooks', message: ambientMessage },
          { name: 'perf_hooks', message: ambientMessage },
        ],
        patterns: [],
      }],
      'swarm/part-boundaries': 'error',
      'swarm/no-ambient-crypto': 'error',
    },
  },
  {
    // The real Env is the one door to the world.
    files: ['runtime/env/real/**/*.ts'],
    rules: {
      'no-restricted-globals': 'off',
      'no-restricted-properties': 'off',
      'no-restricted-syntax': 'off',
      'no-restricted-imports': 'off',
      'swarm/no-ambient-crypto': 'off',
    },
  },
  {
    // The plain-JavaScript scripts that run without a compile step (the launcher, the build):
    // Node's globals. The Env rules above are for the TypeScript sources only.
    files: ['bin/**/*.js', 'tools/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // The visualizer's page runs in the browser, outside every node: nothing there is replayed.
    files: ['cli/viz/page/**/*.ts'],
    rules: {
      'no-restricted-globals': 'off',
      'no-restricted-properties': 'off',
      'no-restricted-syntax': 'off',
    },
  },
  {
    // Benchmarks measure wall-clock time; tests may wait on real processes. Neither is replayed.
    files: ['bench/**/*.ts', 'test/cluster/**/*.ts', 'test/viz/**/*.ts'],
    rules: {
      'no-restricted-globals': 'off',
      'no-restricted-properties': 'off',
      'no-restricted-syntax': 'off',
      'no-restricted-imports': 'off',
    },
  },
);

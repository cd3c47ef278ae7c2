// Tests are ES modules (jose 6 and later dependencies ship ESM only), so jest runs with
// --experimental-vm-modules (see package.json) and ts-jest transpiles without type checking:
// `npm run typecheck` owns the type check, once, for the whole tree.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  testTimeout: 60_000,
};

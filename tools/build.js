// Builds the `swarm` command into dist/: cli/main.ts bundled by esbuild as ES modules, split so that
// the modules an action imports lazily (the node process, the journal tool) are chunks of their own
// that `swarm node ls` never loads. The packages stay external (resolved from node_modules at run
// time: the native ones, classic-level, cbor-extract, ssh2 and cpu-features, must), except
// commander, which every command loads: bundled, it saves Node's package resolution and CommonJS
// translation, about 7 ms of `swarm node ls` (measured on the 2-core machine). The type check is
// not part of the build (`npm run typecheck`).
//
//   node tools/build.js             # npm run build
//   node tools/build.js --prepare   # npm ci and npm install (the prepare script): without esbuild
//                                   # (an install that omits dev dependencies) it says so and
//                                   # passes, and ./swarm says what to run
//
// dist/build.json lists the build's inputs; bin/swarm.js compares their times with the build's to
// tell a stale build (see there). Files are written beside their final names and renamed into
// place, entry and build.json last, so that a `swarm` started during a build never reads half a
// file, and a node process already running keeps the chunks it loaded.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = path.join(ROOT, 'dist');
export const BUILD_INFO = path.join(DIST, 'build.json');
const ENTRY = 'cli/main.ts';
const CHUNKS = 'chunks';
const VIZ_PAGE = 'cli/viz/page/main.ts';
const VIZ_HTML = 'cli/viz/page/index.html';
/** Dependencies bundled into dist/ (pure JavaScript, loaded by every command); the rest stay external. */
const BUNDLED = new Set(['commander']);
/**
 * A bundled CommonJS package (commander) calls require() for Node's own modules; ES modules have
 * none, so each output file makes one.
 */
const REQUIRE_BANNER = "import { createRequire as __swarmCreateRequire } from 'node:module'; const require = __swarmCreateRequire(import.meta.url);";

/**
 * Builds dist/. With `prune`, removes the chunks that this build did not write (an explicit
 * `npm run build`; the launcher's rebuild keeps them for the processes that may still load them).
 * Resolves with the number of inputs.
 */
export async function build({ prune = false } = {}) {
  const esbuild = await import('esbuild');
  const startedMs = Date.now();
  const { dependencies } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const external = Object.keys(dependencies).filter((name) => !BUNDLED.has(name));
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [ENTRY],
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external,
    banner: { js: REQUIRE_BANNER },
    chunkNames: `${CHUNKS}/[name]-[hash]`,
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'warning',
  });
  const outputs = [...result.outputFiles].sort((a, b) => rank(a.path) - rank(b.path));
  const pageInputs = await buildVizPage(esbuild);
  for (const file of outputs) writeAtomically(file.path, file.contents);
  const inputs = [...Object.keys(result.metafile.inputs).filter((p) => !p.includes('node_modules/')), ...pageInputs, 'tools/build.js'];
  writeAtomically(BUILD_INFO, `${JSON.stringify({ startedMs, entry: ENTRY, inputs }, null, 1)}\n`);
  if (prune) {
    const written = new Set(outputs.map((f) => path.basename(f.path)));
    for (const name of readdirSync(path.join(DIST, CHUNKS))) if (!written.has(name)) rmSync(path.join(DIST, CHUNKS, name), { force: true });
  }
  return inputs.length;
}

/**
 * The visualizer's page (`swarm viz`): cli/viz/page/main.ts bundled for the browser with
 * everything it imports (no CDN: the page works offline), and its index.html, into dist/viz.
 * Resolves with its inputs.
 */
async function buildVizPage(esbuild) {
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [VIZ_PAGE],
    outfile: path.join(DIST, 'viz', 'app.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'warning',
  });
  for (const file of result.outputFiles) writeAtomically(file.path, file.contents);
  writeAtomically(path.join(DIST, 'viz', 'index.html'), readFileSync(path.join(ROOT, VIZ_HTML)));
  return [...Object.keys(result.metafile.inputs).filter((p) => !p.includes('node_modules/')), VIZ_HTML];
}

/** Chunks first, then the entry, so that a new entry never points at a chunk not yet written. */
function rank(file) {
  return path.basename(path.dirname(file)) === CHUNKS ? 0 : 1;
}

function writeAtomically(file, contents) {
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, file);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await import('esbuild');
  } catch {
    process.stderr.write('swarm build: esbuild (a dev dependency) is not installed, so dist/ is not built: npm ci installs it and builds\n');
    process.exit(process.argv.includes('--prepare') ? 0 : 1);
  }
  const inputs = await build({ prune: true });
  process.stderr.write(`built dist/ from ${inputs} sources: run the command as ./swarm, npx swarm or bin/swarm.js\n`);
}

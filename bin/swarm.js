#!/usr/bin/env node
// `swarm` as users run it (./swarm, npx swarm, npm run swarm): the build in dist/, which `npm ci`
// makes (the package's prepare script) and `npm run build` remakes. No TypeScript is compiled here.
//
// A build older than its sources is rebuilt first, with a line on stderr, rather than refused:
// running old code without a word is the outcome to avoid, a rebuild takes well under a second,
// and "edit a source, run swarm" keeps working as it did under tsx. Without esbuild (an install
// without dev dependencies) the launcher says what to run and stops.
//
// The check reads dist/build.json and stats the build's inputs (about 110 files, about 1 ms).
// A detached node (`swarm init -d`) re-runs this file with the same arguments, so it runs the
// same build as its parent.
import { readFileSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);

/** Why dist/ cannot be run as it is, or undefined when it is up to date. */
function staleness() {
  let info;
  try {
    info = JSON.parse(readFileSync(new URL('dist/build.json', root), 'utf8'));
  } catch {
    return 'there is no build in dist/';
  }
  for (const input of info.inputs) {
    let mtimeMs;
    try {
      mtimeMs = statSync(new URL(input, root)).mtimeMs;
    } catch {
      return `${input}, a source of the build in dist/, is gone`;
    }
    if (mtimeMs > info.startedMs) return `${input} changed since the build in dist/`;
  }
  return undefined;
}

const reason = staleness();
if (reason !== undefined) {
  let build;
  try {
    await import('esbuild');
    ({ build } = await import('../tools/build.js'));
  } catch {
    process.stderr.write(`swarm: ${reason}, and esbuild (a dev dependency) is not installed to build it: run npm ci (it builds), or npm install then npm run build\n`);
    process.exit(1);
  }
  process.stderr.write(`swarm: ${reason}: rebuilding (npm run build)\n`);
  try {
    await build();
  } catch (error) {
    process.stderr.write(`swarm: the build failed (npm run build shows why): ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
await import('../dist/main.js');

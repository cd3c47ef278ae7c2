// The visualizer benchmark (issue 9), in Debian's Chromium driven by playwright-core:
//  1. Time to first render and page memory for a trace of about 100,000 records (a real run of the
//     orchestration simulator, made longer), beside a baseline measured in the same run: a page
//     that fetches the whole trace and parses every record, which is what the windowed design
//     avoids. Goal: first render under 2 s. Then the page's memory after stepping through the
//     history, to show it holds only a window.
//  2. The live rate: records pushed into a live source at rising rates while the page follows the
//     end; printed is how far behind the page's shown record was (its lag) during and after each
//     step. The page keeps up at a rate if it shows the last record within 1 s of the push ending
//     and its lag stayed bounded. Goal: at least 5,000 records/s.
//  3. A real node watched live: a one-node cluster (`swarm init -d`, the built executable) under a
//     write load (config creations through the control socket, 32 at a time, 5 s), unwatched and
//     then with a live source reading its inspection stream (GET /inspect) as `swarm viz` does:
//     writes/s both ways (the cost of being watched), records/s that reached the source, and the
//     records the node dropped because the reader fell behind.
//  With --million, also a trace of about 1,000,000 records (generated first: about a minute).
//
//   npm run bench:viz [-- --million] [--rates 1000,5000,10000,20000,50000] [--seconds 5]
//   npm run bench:viz -- --node-only      only part 3
//
// A benchmark, not a test: it prints its figures and exits 0 whether the goals are met or not.
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { LiveSource, TraceFileSource, controlRequest, openBrowser, openLiveSource, startVizServer, type Browser, type TraceRecord } from '../cli/index.js';
import { freePort, run } from './docker-engine.js';
import { runOrchestrationSim } from '../simulations/index.js';

const FIRST_RENDER_GOAL_MS = 2_000;
const LIVE_GOAL_PER_S = 5_000;

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
}

const rates = (option('--rates') ?? '1000,5000,10000,20000,50000').split(',').map(Number);
const seconds = Number(option('--seconds') ?? '5');
const million = process.argv.includes('--million');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function heapBytes(browser: Browser): Promise<number> {
  const cdp = await browser.context.newCDPSession(browser.page);
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  await cdp.detach();
  return metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? Number.NaN;
}

/** Writes an orchestration simulator trace of about `records` records; returns its path and count. */
async function makeTrace(dir: string, records: number): Promise<{ file: string; count: number; ms: number }> {
  const file = path.join(dir, `orchestration-${records}.trace.jsonl`);
  // Seed 1's trace grows with operations x virtual time: 150 operations over 155 s made about
  // 100,000 records (measured), so both scale with the square root of the size asked for.
  const scale = Math.sqrt(records / 100_000);
  const started = performance.now();
  const run = await runOrchestrationSim(1, { traceFile: file, overrides: { safetyPhaseMs: Math.round(155_000 * scale), operations: Math.round(150 * scale) } });
  if (!run.ok) throw new Error(`the simulator run failed: ${run.failure}`);
  const source = new TraceFileSource(file);
  await source.whenLoaded();
  const count = source.history.count;
  source.close();
  return { file, count, ms: performance.now() - started };
}

async function firstRender(browser: Browser, file: string): Promise<{ renderMs: number; wholeMs: number; heap: number; heapAfterSteps: number }> {
  const started = performance.now();
  const source = new TraceFileSource(file);
  const server = await startVizServer(source);
  await browser.page.goto(server.url);
  await browser.page.waitForSelector('body[data-rendered="true"]', { timeout: 120_000 });
  const renderMs = performance.now() - started;
  // The page renders while the server reads the trace, following its end; then the whole of it.
  await source.whenLoaded();
  await browser.page.waitForSelector(`body[data-loaded="true"][data-at="${source.history.count - 1}"]`, { timeout: 120_000 });
  const wholeMs = performance.now() - started;
  const heap = await heapBytes(browser);
  // Time travel: 40 jumps across the history, each waited for.
  const count = source.history.count;
  for (let i = 1; i <= 40; i++) {
    const at = Math.floor((count - 1) * ((i * 7919) % 40) / 40);
    await browser.page.locator('#slider').fill(String(at));
    await browser.page.waitForSelector(`body[data-at="${at}"]`, { timeout: 30_000 });
  }
  const heapAfterSteps = await heapBytes(browser);
  await server.close();
  source.close();
  return { renderMs, wholeMs, heap, heapAfterSteps };
}

/** The baseline: a page that fetches the whole trace and parses every record. */
async function holdAll(browser: Browser, file: string): Promise<{ ms: number; heap: number; records: number }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/trace') {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Content-Length': statSync(file).size });
      createReadStream(file).pipe(res);
    } else {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>baseline</title>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  await browser.page.goto(url);
  const started = performance.now();
  const records = await browser.page.evaluate(async () => {
    const text = await (await fetch('/trace')).text();
    const all = text.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown);
    (globalThis as { held?: unknown }).held = all;
    return all.length;
  });
  const ms = performance.now() - started;
  const heap = await heapBytes(browser);
  server.closeAllConnections();
  server.close();
  return { ms, heap, records };
}

async function liveRate(browser: Browser, sample: readonly TraceRecord[]): Promise<void> {
  console.log(`\nlive: records pushed into a live source at a steady rate for ${seconds} s each, the page following the end`);
  console.log('rate (rec/s) | pushed | max lag (records) | max lag (ms) | caught up after the push ended | keeps up');
  for (const rate of rates) {
    const source = new LiveSource('bench live', 100_000);
    const server = await startVizServer(source);
    const page: Page = browser.page;
    source.push(sample.slice(0, 50));
    await page.goto(server.url);
    await page.waitForSelector('body[data-rendered="true"]');
    let pushed = 50;
    let maxLag = 0;
    const started = performance.now();
    const endAt = started + seconds * 1_000;
    let next = 0;
    // The feeder: every 10 ms, the records due by now.
    const feeder = (async () => {
      while (performance.now() < endAt) {
        const due = Math.floor(((performance.now() - started) / 1_000) * rate) + 50;
        const batch: TraceRecord[] = [];
        for (; pushed < due; pushed++) batch.push(sample[next++ % sample.length] as TraceRecord);
        source.push(batch);
        await sleep(10);
      }
    })();
    const shownAt = async (): Promise<number> => Number(await page.locator('body').getAttribute('data-at'));
    while (performance.now() < endAt) {
      await sleep(250);
      maxLag = Math.max(maxLag, pushed - 1 - (await shownAt()));
    }
    await feeder;
    const ended = performance.now();
    let caughtUpMs = Number.NaN;
    while (performance.now() - ended < 5_000) {
      if ((await shownAt()) >= pushed - 1) {
        caughtUpMs = performance.now() - ended;
        break;
      }
      await sleep(20);
    }
    const keeps = Number.isFinite(caughtUpMs) && caughtUpMs <= 1_000 && maxLag <= rate;
    console.log(`${String(rate).padStart(12)} | ${String(pushed).padStart(6)} | ${String(maxLag).padStart(17)} | ${String(Math.round((maxLag / rate) * 1000)).padStart(12)} | ${Number.isFinite(caughtUpMs) ? `${Math.round(caughtUpMs)} ms` : 'not within 5 s'} | ${keeps ? 'yes' : 'no'}`);
    await server.close();
    source.close();
  }
  console.log(`goal: at least ${LIVE_GOAL_PER_S} records/s`);
}

const SWARM = path.resolve(import.meta.dirname, '..', 'bin', 'swarm.js');

/** Config creations, `concurrency` at a time for `ms`; resolves with writes per second. */
async function writeLoad(stateDir: string, tag: string, ms: number, concurrency = 32): Promise<number> {
  const endAt = performance.now() + ms;
  let done = 0;
  const data = Buffer.alloc(256, 7).toString('base64');
  await Promise.all([...Array(concurrency).keys()].map(async (client) => {
    for (let i = 0; performance.now() < endAt; i++) {
      await controlRequest(stateDir, 'POST', '/configs/create', { Name: `${tag}-${client}-${i}`, Data: data });
      done++;
    }
  }));
  return done / (ms / 1000);
}

async function watchedNode(dir: string): Promise<void> {
  const stateDir = path.join(dir, 'node');
  await run(process.execPath, [SWARM, 'init', '-d', '--state-dir', stateDir, '--listen-addr', `127.0.0.1:${await freePort()}`]);
  try {
    await writeLoad(stateDir, 'warm', 2_000);
    const unwatched = await writeLoad(stateDir, 'plain', 5_000);
    const live = new LiveSource('bench', 100_000);
    const stream = openLiveSource({ stateDir }, (records) => live.push(records as TraceRecord[]), () => undefined);
    await sleep(200);
    const from = live.history.count;
    const started = performance.now();
    const watched = await writeLoad(stateDir, 'watched', 5_000);
    await sleep(500);
    const records = live.history.count - from;
    const seconds = (performance.now() - started) / 1000;
    stream.close();
    console.log('\na real node watched live (swarm init -d; config creations, 32 at a time, 5 s each way)');
    console.log('way        | writes/s | inspection records/s reached the viewer | dropped by the node');
    console.log(`unwatched  | ${unwatched.toFixed(0).padStart(8)} | - | -`);
    console.log(`watched    | ${watched.toFixed(0).padStart(8)} | ${(records / seconds).toFixed(0).padStart(6)} (${records} records) | ${live.history.dropped}`);
  } finally {
    await run(process.execPath, [SWARM, 'stop', '--state-dir', stateDir]).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-viz-'));
  if (process.argv.includes('--node-only')) {
    await watchedNode(dir);
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  const browser = await openBrowser();
  try {
    const trace = await makeTrace(dir, 100_000);
    console.log(`trace: ${trace.count} records, ${mib(statSync(trace.file).size)} (orchestration simulator, seed 1, made in ${(trace.ms / 1000).toFixed(1)} s)`);
    const ours = await firstRender(browser, trace.file);
    const baseline = await holdAll(browser, trace.file);
    console.log('\nway                                    | first render | whole trace shown | page JS heap | after 40 jumps');
    console.log(`ours (windowed: server index + view)    | ${ours.renderMs.toFixed(0).padStart(9)} ms | ${ours.wholeMs.toFixed(0).padStart(14)} ms | ${mib(ours.heap).padStart(12)} | ${mib(ours.heapAfterSteps)}`);
    console.log(`baseline (page parses the whole trace)  | ${'-'.padStart(12)} | ${baseline.ms.toFixed(0).padStart(14)} ms | ${mib(baseline.heap).padStart(12)} | (${baseline.records} records held, nothing drawn)`);
    console.log(`goal: first render under ${FIRST_RENDER_GOAL_MS} ms: ${ours.renderMs < FIRST_RENDER_GOAL_MS ? 'met' : 'NOT met'}`);
    if (million) {
      const big = await makeTrace(dir, 1_000_000);
      console.log(`\ntrace: ${big.count} records, ${mib(statSync(big.file).size)} (made in ${(big.ms / 1000).toFixed(1)} s)`);
      const m = await firstRender(browser, big.file);
      console.log(`ours on it: first render ${m.renderMs.toFixed(0)} ms, whole trace shown ${m.wholeMs.toFixed(0)} ms, page JS heap ${mib(m.heap)}, after 40 jumps ${mib(m.heapAfterSteps)}`);
    }
    const sampleSource = new TraceFileSource(trace.file);
    await sampleSource.whenLoaded();
    const sample: TraceRecord[] = [];
    for (let i = 0; i < Math.min(20_000, sampleSource.history.count); i++) sample.push(sampleSource.record(i) as TraceRecord);
    sampleSource.close();
    await liveRate(browser, sample);
    await watchedNode(dir);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

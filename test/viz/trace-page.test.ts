/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The visualizer on a recorded simulator run, as a user opens one: `npm run sim:raft -- --seed S
// --trace FILE` writes the trace, `swarm viz --trace FILE` (the real executable, a child process)
// serves it, and Debian's Chromium (playwright-core) looks at the page. A Raft election: every
// peer in the tree; the winner selected shows `leader` highlighted in its statechart at the
// moment it won; one step back it was not leader; the timeline holds the vote messages and
// shows a payload on click. A cut-short trace gives a clear message in the page. Screenshots are
// written to test-artifacts/viz/.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openBrowser, type Browser } from '../../cli/index.js';
import { ROOT, SWARM, VizProcesses } from './viz-process.js';

const SEED = 1;
const TIMEOUT_MS = 90_000;

let dir = '';
let trace = '';
let browser: Browser | undefined;
const viz = new VizProcesses();
const startViz = (args: string[]): Promise<string> => viz.start(args, dir);

function run(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, output }));
  });
}

interface Line {
  kind: string;
  address?: string;
  actorKind?: string;
  state?: { role?: string };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'swarm-viz-trace-'));
  trace = path.join(dir, `seed-${SEED}.trace.jsonl`);
  const sim = await run(['--import', 'tsx', 'simulations/raft-main.ts', '--seed', String(SEED), '--trace', trace, '--quiet']);
  if (sim.code !== 0) throw new Error(`sim:raft failed:\n${sim.output}`);
  browser = await openBrowser();
}, TIMEOUT_MS);

afterAll(async () => {
  await browser?.close();
  await viz.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

test('a Raft election, stepped through: the peers, the winner\'s statechart at and before its win, the vote messages', async () => {
  const lines = readFileSync(trace, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Line);
  const peers = [...new Set(lines.filter((l) => l.kind === 'actor.started' && l.actorKind === 'raft-peer').map((l) => l.address!))].sort();
  expect(peers.length).toBeGreaterThanOrEqual(3);
  // The first election's winner and the record at which it became leader.
  const won = lines.findIndex((l) => l.kind === 'snapshot.changed' && l.state?.role === 'leader');
  expect(won).toBeGreaterThan(0);
  const winner = lines[won]!.address!;

  const url = await startViz(['--trace', trace]);
  const page = browser!.page;
  await page.goto(url);
  await page.waitForSelector('body[data-rendered="true"][data-loaded="true"]', { timeout: 10_000 });
  expect(await page.locator('body').getAttribute('data-count')).toBe(String(lines.length));
  // Every peer is in the tree.
  for (const peer of peers) await expect(page.locator(`.actor[data-address="${peer}"]`).count()).resolves.toBe(1);

  // The moment of the win: the winner's chart has role.leader highlighted.
  await page.locator('#slider').fill(String(won));
  await page.waitForSelector(`body[data-at="${won}"]`);
  await page.locator(`.actor[data-address="${winner}"]`).click();
  await page.waitForSelector('#chart g.state.active[data-state="role.leader"]', { timeout: 10_000 });
  await expect(page.locator('#chart g.state.active[data-state="role.follower"]').count()).resolves.toBe(0);
  await expect(page.locator(`.actor[data-address="${winner}"] .state-text`).textContent()).resolves.toContain('role:leader');
  await browser!.screenshot('raft-election-leader');

  // One step back (the ← key): before the win, the winner was a follower or a candidate.
  await page.locator('#slider').focus();
  await page.keyboard.press('ArrowLeft');
  await page.waitForSelector(`body[data-at="${won - 1}"]`);
  await page.waitForSelector('#chart g.state.active[data-state^="role."]');
  const before = await page.locator('#chart g.state.active[data-state^="role."]').getAttribute('data-state');
  expect(['role.follower', 'role.preCandidate', 'role.candidate']).toContain(before);
  await expect(page.locator('#chart g.state.active[data-state="role.leader"]').count()).resolves.toBe(0);
  await browser!.screenshot('raft-election-before');

  // The timeline, filtered to votes, holds the votes that elected it; a click shows the payload.
  await page.locator('#f-type').fill('vote');
  await page.waitForFunction(() => document.querySelectorAll('#timeline tr').length > 0 && [...document.querySelectorAll<HTMLElement>('#timeline tr')].every((tr) => /vote/i.test(tr.dataset.type ?? '')));
  const types = await page.locator('#timeline tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.type));
  expect(types.some((t) => t === 'raft.message:vote' || t === 'raft.message:voteResp')).toBe(true);
  await page.locator('#timeline tr').last().click();
  await page.waitForFunction(() => (document.getElementById('payload')?.textContent ?? '').includes('"kind": "message.delivered"'));
  expect(await page.locator('#payload').textContent()).toMatch(/"type": "(pre)?[vV]ote/);
  await browser!.screenshot('raft-election-votes');

  // The chart exports: SVG and Mermaid, the same bytes on every request.
  const svg = await page.evaluate(async () => (await fetch((document.getElementById('export-svg') as HTMLAnchorElement).href)).text());
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg).toContain('data-state="role.leader"');
  const mermaid = await page.evaluate(async () => (await fetch((document.getElementById('export-mermaid') as HTMLAnchorElement).href)).text());
  expect(mermaid.startsWith('stateDiagram-v2')).toBe(true);
  expect(browser!.errors).toEqual([]);
}, TIMEOUT_MS);

test('a cut-short trace: the page says which line and shows the records before it', async () => {
  const text = readFileSync(trace, 'utf8');
  const cut = path.join(dir, 'cut.trace.jsonl');
  const keep = text.split('\n').slice(0, 300).join('\n');
  writeFileSync(cut, `${keep}\n{"kind":"message.deliv`);
  const url = await startViz(['--trace', cut]);
  const page = browser!.page;
  await page.goto(url);
  await page.waitForSelector('#error.shown', { timeout: 10_000 });
  expect(await page.locator('#error').textContent()).toMatch(/cut\.trace\.jsonl line 301: not JSON .*cut short.*showing the 300 records before it/);
  await page.waitForSelector('body[data-rendered="true"][data-loaded="true"]');
  expect(await page.locator('body').getAttribute('data-count')).toBe('300');
  expect(await page.locator('.actor').count()).toBeGreaterThan(0);
  await browser!.screenshot('cut-trace');
}, TIMEOUT_MS);

test('a failing seed: the checker\'s violation is shown, and one click goes to its moment', async () => {
  const failing = path.join(dir, 'failing.trace.jsonl');
  const sim = await run(['--import', 'tsx', 'simulations/main.ts', '--seed', '14', '--plant-bug', 'ack-before-persist', '--trace', failing]);
  expect(sim.output).toContain('then step through it: ./swarm viz --trace seed-14.trace.jsonl');
  const lines = readFileSync(failing, 'utf8').trimEnd().split('\n');
  const at = lines.findIndex((l) => l.includes('"kind":"violation"'));
  expect(at).toBeGreaterThan(0);
  const url = await startViz(['--trace', failing]);
  const page = browser!.page;
  await page.goto(url);
  await page.waitForSelector('#violations.shown', { timeout: 10_000 });
  expect(await page.locator('#violations').textContent()).toMatch(new RegExp(`violation at record ${at + 1} .*lost acknowledged messages`));
  await page.waitForSelector('body[data-rendered="true"][data-loaded="true"]');
  await page.locator('#violations button').first().click();
  await page.waitForSelector(`body[data-at="${at}"]`);
  // The demo's link actors are machines this build's visualizer does not know: the trace
  // describes them (its machine records), and their chart is drawn from that.
  expect(lines.some((l) => l.includes('"kind":"machine"') && l.includes('"actorKind":"link"'))).toBe(true);
  await page.locator('.actor[data-kind="link"]').first().click();
  await page.waitForSelector('#chart g.state.active[data-state="idle"], #chart g.state.active[data-state="sending"]', { timeout: 10_000 });
  await browser!.screenshot('failing-seed');
}, TIMEOUT_MS);

test('swarm viz refuses a missing trace file, a state directory without a node, and both at once, naming what is wrong', async () => {
  const missing = path.join(dir, 'nope.jsonl');
  const result = await run([SWARM, 'viz', '--trace', missing]);
  expect(result.code).toBe(1);
  expect(result.output).toContain(`cannot open the trace ${missing}`);
  const noNode = await run([SWARM, 'viz', '--state-dir', path.join(dir, 'no-node')]);
  expect(noNode.code).toBe(1);
  expect(noNode.output).toContain(`no node is running with --state-dir ${path.join(dir, 'no-node')}`);
  const both = await run([SWARM, 'viz', '--trace', trace, '--state-dir', dir]);
  expect(both.code).toBe(1);
  expect(both.output).toContain('give either --trace FILE (a recorded run) or --state-dir DIR (a live node), not both');
  const badPort = await run([SWARM, 'viz', '--trace', trace, '--port', '99999']);
  expect(badPort.code).not.toBe(0);
  expect(badPort.output).toContain("--port must be a port number from 0 to 65535, got '99999'");
}, TIMEOUT_MS);

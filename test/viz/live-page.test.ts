/// <reference lib="dom" />
// The visualizer live, as a user runs it: `swarm init` in its own OS process (on loopback), then
// `swarm viz --state-dir DIR` (the built executable) reading the node's inspection stream, and
// Debian's Chromium on the page. The node's actors are in the tree with their states; a service
// created through the control API appears in the page (its actor, followed live) within a second;
// the timeline fills with the node's messages. A screenshot is written to test-artifacts/viz/.
import { openBrowser, type Browser } from '../../cli/index.js';
import { Cluster } from '../cluster/harness.js';
import { clusterHelpers } from '../cluster/helpers.js';
import { VizProcesses } from './viz-process.js';

const TIMEOUT_MS = 120_000;

let cluster: Cluster;
let stateDir = '';
let browser: Browser | undefined;
const viz = new VizProcesses();
const { api, withLogs, startSwarm } = clusterHelpers(() => cluster, { nodes: ['m1'] });

beforeAll(async () => {
  cluster = new Cluster('viz-live');
  stateDir = (await startSwarm([])).stateDir;
  browser = await openBrowser();
}, TIMEOUT_MS);

afterAll(async () => {
  await browser?.close();
  await viz.stopAll();
  await cluster?.stopAll();
});

test('a live node: its actors and states, a new service actor within a second, its messages', () => withLogs(async () => {
  const url = await viz.start(['--state-dir', stateDir]);
  const page = browser!.page;
  await page.goto(url);
  await page.waitForSelector('body[data-rendered="true"]', { timeout: 15_000 });
  // The node's Raft peer is there with its state, and the page follows the end.
  const peer = page.locator('.actor[data-kind="raft-peer"]');
  await peer.first().waitFor({ timeout: 10_000 });
  await expect(peer.first().locator('.state-text').textContent()).resolves.toMatch(/role:leader/);
  expect(await page.locator('#follow').isChecked()).toBe(true);

  const before = Date.now();
  const serviceId = (await api<{ ID: string }>('POST', '/services/create', {
    Name: 'viz-watched',
    TaskTemplate: { ContainerSpec: { Command: [process.execPath], Args: ['-e', 'setInterval(() => {}, 1000)'], StopGracePeriod: 1_000_000_000 }, RestartPolicy: { Condition: 'none' }, Runtime: 'process' },
    Mode: { Replicated: { Replicas: 1 } },
  })).ID;
  const row = page.locator(`.actor[data-kind="service"][data-address*="${serviceId}"]`);
  await row.waitFor({ timeout: 5_000 });
  const appearedMs = Date.now() - before;
  console.log(`swarm viz live: the new service actor appeared in the page ${appearedMs} ms after POST /services/create was sent`);
  expect(appearedMs).toBeLessThan(1_000);

  // Its statechart, selected; the timeline holds the node's messages.
  await row.click();
  await page.waitForSelector('#chart g.state.active', { timeout: 10_000 });
  await page.waitForFunction(() => document.querySelectorAll('#timeline tr').length > 10);
  await browser!.screenshot('live-node');
  await api('DELETE', `/services/${serviceId}`);
  expect(browser!.errors).toEqual([]);
}), TIMEOUT_MS);

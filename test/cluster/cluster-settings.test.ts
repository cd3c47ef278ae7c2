// The swarm's settings on a real single-node cluster (`swarm init` in its own OS process, which is
// manager and worker): `swarm cluster inspect` (a summary, and GET /swarm with --format json) and
// `swarm cluster update` (POST /swarm/update, Docker's swarm Spec). A change of the task history
// limit and of the heartbeat period shows in the Spec, and takes effect without a restart: the
// history of a crash-looping service's slot is cut to the new limit. A bad value is refused naming
// the field (the API) or the flag (the CLI), with nothing changed.
import { Cluster, swarmCli } from './harness.js';
import { clusterHelpers, waitFor, type Json } from './helpers.js';

const TEST_TIMEOUT_MS = 120_000;

let cluster: Cluster;
let stateDir: string;

const { api, apiRefusal, withLogs, tasksOf, describeTasks, createService } = clusterHelpers(() => cluster);

/** `swarm cluster VERB --state-dir <the node's> ARGS`. */
function cli(verb: string, ...args: string[]): ReturnType<typeof swarmCli> {
  return swarmCli(['cluster', verb, '--state-dir', stateDir, ...args]);
}

async function inspect(): Promise<Json> {
  const { code, stdout, stderr } = await cli('inspect', '--format', 'json');
  if (code !== 0) throw new Error(`swarm cluster inspect exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as Json;
}


beforeAll(async () => {
  cluster = new Cluster('settings');
  stateDir = (await cluster.start('m1', ['init'])).stateDir;
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stopAll();
});

describe('swarm cluster inspect and update on a real node', () => {
  test('inspect: the summary, and the whole of GET /swarm with --format json', async () => {
    const swarm = await inspect();
    expect(swarm.Spec).toMatchObject({
      Name: 'default',
      Orchestration: { TaskHistoryRetentionLimit: 5 },
      Dispatcher: { HeartbeatPeriod: 5e9 },
      CAConfig: { NodeCertExpiry: 90 * 86_400e9 },
      EncryptionConfig: { AutoLockManagers: false },
    });
    expect(swarm.JoinTokens.Worker).toMatch(/^SWMTKN-1-/);
    const { code, stdout } = await cli('inspect');
    expect(code).toBe(0);
    expect(stdout).toContain(`ID: ${swarm.ID}\n`);
    expect(stdout).toContain(' Task History Retention Limit: 5\n');
    expect(stdout).toContain(' Heartbeat Period: 5s\n');
    expect(stdout).toContain(' Expiry Duration: 90d\n');
    expect(stdout).not.toContain(swarm.JoinTokens.Worker);
  }, TEST_TIMEOUT_MS);

  test('update: the task history limit, the heartbeat and the certificate life change, and show', async () => {
    const before = await inspect();
    const { code, stdout, stderr } = await cli('update', '--task-history-limit', '2', '--dispatcher-heartbeat', '2s', '--cert-expiry', '30d');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toBe('Swarm updated.\n');
    const after = await inspect();
    expect(after.Spec).toMatchObject({ Orchestration: { TaskHistoryRetentionLimit: 2 }, Dispatcher: { HeartbeatPeriod: 2e9 }, CAConfig: { NodeCertExpiry: 30 * 86_400e9 } });
    expect(after.Version.Index).toBeGreaterThan(before.Version.Index);
    // Through the API in Docker's shape: the whole Spec as read, one field changed, at its version.
    await api('POST', `/swarm/update?version=${after.Version.Index}`, { ...after.Spec, Dispatcher: { HeartbeatPeriod: 3e9 } });
    expect((await inspect()).Spec.Dispatcher).toEqual({ HeartbeatPeriod: 3e9 });
  }, TEST_TIMEOUT_MS);

  test('a bad value is refused naming the field or the flag, with nothing changed', async () => {
    const before = await inspect();
    // A good field with a bad one: neither is written.
    const bad = await apiRefusal('POST', '/swarm/update', { Orchestration: { TaskHistoryRetentionLimit: 1 }, Dispatcher: { HeartbeatPeriod: 'soon' } });
    expect(bad.status).toBe(400);
    expect(bad.message).toMatch(/^Dispatcher\.HeartbeatPeriod: must be a duration in nanoseconds/);
    const locked = await apiRefusal('POST', '/swarm/update?rotateWorkerToken=true', { EncryptionConfig: { AutoLockManagers: true } });
    expect(locked.message).toMatch(/^EncryptionConfig\.AutoLockManagers: cannot be changed/);
    const stale = await apiRefusal('POST', `/swarm/update?version=${before.Version.Index - 1}`, { Orchestration: { TaskHistoryRetentionLimit: 1 } });
    expect(stale.status).toBe(409);
    const cliBad = await cli('update', '--task-history-limit', 'many');
    expect(cliBad.code).not.toBe(0);
    expect(cliBad.stderr).toContain("--task-history-limit must be a whole number from -1 (keep all) to 10000, got 'many'");
    const nothing = await cli('update');
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('nothing to change');
    expect(await inspect()).toEqual(before);
  }, TEST_TIMEOUT_MS);

  test('a lower task history limit cuts the history of a running service without a restart', async () => {
    await withLogs(async () => {
      // A process that fails at once, restarted every 100 ms: its slot's history grows to the limit.
      const serviceId = await createService({
        Name: 'flaky',
        TaskTemplate: { ContainerSpec: { Command: [process.execPath, '-e', 'process.exit(3)'] }, RestartPolicy: { Condition: 'any', Delay: 100e6 }, Runtime: 'process' },
        Mode: { Replicated: { Replicas: 1 } },
      });
      const swarm = await inspect();
      await api('POST', `/swarm/update?version=${swarm.Version.Index}`, { Orchestration: { TaskHistoryRetentionLimit: 4 } });
      let last: Json[] = [];
      await waitFor('the slot holds 4 ended tasks', 60_000, async () => {
        last = await tasksOf(serviceId);
        return last.length >= 5 ? last : undefined;
      }, { describe: () => describeTasks(last as never) });
      expect((await cli('update', '--task-history-limit', '0')).code).toBe(0);
      // The orchestrator plans every service again on the committed cluster.updated: the history
      // goes (the slot's current task, and one the restart may just have made, stay).
      await waitFor('the history cut to the new limit', 30_000, async () => {
        last = await tasksOf(serviceId);
        return last.length <= 2 ? last : undefined;
      }, { describe: () => describeTasks(last as never) });
      await api('DELETE', `/services/${serviceId}`);
    });
  }, TEST_TIMEOUT_MS);
});

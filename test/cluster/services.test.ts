// Services through a real single-node cluster: `swarm init` in its own OS process, driven through
// its control socket both by the `swarm` command (each call its own process, as a user runs it)
// and by HTTP requests in the Docker Engine API's shapes, as the docker CLI would send them.
// Covered: create through the CLI and through the API, list and inspect in Docker's shapes,
// update, scale and rollback, a stale version (409), a duplicate name, a bad spec naming its
// field with nothing written, a secret over 500 KiB, a secret in use that cannot be removed, and
// rm; and, where a docker CLI is installed, the docker CLI itself against the node's socket. Tasks
// do not exist until the orchestrator lands: nothing here asserts that any are created.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster, swarmCli } from './harness.js';
import { clusterHelpers, type Json } from './helpers.js';

const TEST_TIMEOUT_MS = 120_000;

let cluster: Cluster;
let stateDir: string;
let scratch: string;

/**
 * `swarm GROUP VERB --state-dir <the node's> ARGS`: the state directory before the arguments, since
 * after a service's image everything is its command, as with docker.
 */
function withStateDir(args: readonly string[]): string[] {
  return [args[0]!, args[1]!, '--state-dir', stateDir, ...args.slice(2)];
}

/** `swarm ARGS`, failing with its output unless it exits 0. */
async function swarm(...args: string[]): Promise<string> {
  const result = await swarmCli(withStateDir(args));
  if (result.code !== 0) throw new Error(`swarm ${args.join(' ')} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result.stdout;
}

/** `swarm ARGS`, expected to be refused: its stderr. */
async function refused(...args: string[]): Promise<string> {
  const result = await swarmCli(withStateDir(args));
  if (result.code === 0) throw new Error(`swarm ${args.join(' ')} was not refused\nstdout: ${result.stdout}`);
  return result.stderr;
}

const { api, apiRefusal } = clusterHelpers(() => cluster);


/** The docker CLI on PATH, if any. */
const DOCKER = (process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'docker')).find((file) => existsSync(file));

/** `docker ARGS` against the node's control socket (API 1.44: our socket sends no version header). */
function docker(args: readonly string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOCKER!, args, { env: { ...process.env, DOCKER_HOST: `unix://${path.join(stateDir, 'control.sock')}`, DOCKER_API_VERSION: '1.44', DOCKER_CONFIG: scratch }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`docker ${args.join(' ')} did not finish within 30 s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 30_000);
    child.stdin.end(input);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

const filter = (filters: Record<string, string[]>): string => encodeURIComponent(JSON.stringify(Object.fromEntries(Object.entries(filters).map(([k, vs]) => [k, Object.fromEntries(vs.map((v) => [v, true]))]))));

beforeAll(async () => {
  cluster = new Cluster('services');
  scratch = mkdtempSync(path.join(os.tmpdir(), 'swarm-services-files-'));
  stateDir = (await cluster.start('m1', ['init'])).stateDir;
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  await cluster?.stopAll();
  rmSync(scratch, { recursive: true, force: true });
});

describe('services on a real node', () => {
  test('create through the CLI with Docker\'s flags; inspect in Docker\'s shape', async () => {
    const id = (await swarm(
      'service', 'create', '--name', 'web', '--replicas', '3', '--publish', '8080:80', '-p', 'published=8443,target=443,protocol=udp',
      '--env', 'A=1', '--label', 'tier=front', '--constraint', 'node.role==manager', '--placement-pref', 'spread=node.labels.zone',
      '--reserve-memory', '64M', '--limit-memory', '128M', '--limit-cpu', '0.5', '--update-parallelism', '2', '--update-delay', '10s',
      '--update-order', 'start-first', '--restart-condition', 'on-failure', '--restart-max-attempts', '3', '--rebalance', '--detach',
      'nginx:1.27', 'nginx', '-g', 'daemon off;',
    )).trim();
    expect(id).toMatch(/^[a-z0-9]{25}$/);

    const service = await api('GET', '/services/web');
    expect(service.ID).toBe(id);
    expect(service.Version.Index).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(service.CreatedAt))).toBe(false);
    const spec = service.Spec;
    expect(spec.Name).toBe('web');
    expect(spec.Labels).toEqual({ tier: 'front' });
    expect(spec.Mode).toEqual({ Replicated: { Replicas: 3 } });
    expect(spec.TaskTemplate.ContainerSpec).toMatchObject({ Image: 'nginx:1.27', Args: ['nginx', '-g', 'daemon off;'], Env: ['A=1'] });
    expect(spec.TaskTemplate.Resources).toEqual({ Limits: { NanoCPUs: 5e8, MemoryBytes: 128 * 2 ** 20 }, Reservations: { NanoCPUs: 0, MemoryBytes: 64 * 2 ** 20 } });
    expect(spec.TaskTemplate.RestartPolicy).toEqual({ Condition: 'on-failure', Delay: 5e9, MaxAttempts: 3, Window: 0 });
    expect(spec.TaskTemplate.Placement).toMatchObject({ Constraints: ['node.role==manager'], Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }] });
    expect(spec.UpdateConfig).toEqual({ Parallelism: 2, Delay: 10e9, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'start-first' });
    expect(spec.RollbackConfig).toEqual({ Parallelism: 1, Delay: 0, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' });
    expect(spec.EndpointSpec.Ports).toEqual([
      { Name: '', Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' },
      { Name: '', Protocol: 'udp', TargetPort: 443, PublishedPort: 8443, PublishMode: 'ingress' },
    ]);
    expect(spec.Rebalance).toBe(true);
    expect(service.ServiceStatus).toEqual({ RunningTasks: 0, DesiredTasks: 3, CompletedTasks: 0 });
    // By id prefix and with a Docker API version prefix, as the docker CLI asks.
    expect((await api('GET', `/v1.44/services/${id.slice(0, 6)}`)).ID).toBe(id);
  }, TEST_TIMEOUT_MS);

  test('create through the HTTP API with the docker CLI\'s body; list with filters, ls and inspect', async () => {
    const body = JSON.parse('{"Name":"probe","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Args":["/bin/sleep","600"],"Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":2}},"EndpointSpec":{"Mode":"vip"}}');
    const { ID } = await api<{ ID: string }>('POST', '/v1.41/services/create', body);
    const probe = await api('GET', `/services/${ID}`);
    expect(probe.Spec.Mode).toEqual({ Replicated: { Replicas: 2 } });
    expect(probe.Spec.TaskTemplate.RestartPolicy).toEqual({ Condition: 'any', Delay: 5e9, MaxAttempts: 0, Window: 0 });

    expect((await api<Json[]>('GET', '/services')).map((s) => s.Spec.Name).sort()).toEqual(['probe', 'web']);
    expect((await api<Json[]>('GET', `/services?filters=${filter({ name: ['pro'] })}`)).map((s) => s.ID)).toEqual([ID]);
    expect((await api<Json[]>('GET', `/services?filters=${filter({ label: ['tier=front'] })}`)).map((s) => s.Spec.Name)).toEqual(['web']);

    const table = await swarm('service', 'ls');
    expect(table.split('\n')[0]).toMatch(/^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$/);
    // The orchestrator runs the tasks (as processes): how many run by now depends on timing.
    expect(table).toMatch(/probe\s+replicated\s+[0-2]\/2\s+busybox:latest/);
    expect(table).toMatch(/web\s+replicated\s+[0-3]\/3\s+nginx:1\.27\s+\*:8080->80\/tcp, \*:8443->443\/udp/);
    const listed = JSON.parse(await swarm('service', 'ls', '--format', 'json', '--filter', 'name=web')) as Json[];
    expect(listed.map((s) => s.Spec.Name)).toEqual(['web']);
    const inspected = JSON.parse(await swarm('service', 'inspect', 'probe')) as Json[];
    expect(inspected[0]!.ID).toBe(ID);

    // No orchestrator yet: the task list answers, in Docker's shape, and `service ps` runs.
    expect(Array.isArray(await api('GET', `/tasks?filters=${filter({ service: ['web'], '_up-to-date': ['true'] })}`))).toBe(true);
    expect((await swarm('service', 'ps', 'web')).split('\n')[0]).toMatch(/^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR$/);
    expect((await apiRefusal('GET', '/tasks/nope')).status).toBe(404);
  }, TEST_TIMEOUT_MS);

  test('update against a stale version is refused with 409 naming both versions; update, scale and rollback', async () => {
    const before = await api('GET', '/services/web');
    const stale = await apiRefusal('POST', `/services/${before.ID}/update?version=${before.Version.Index - 1}`, before.Spec);
    expect(stale.status).toBe(409);
    expect(stale.message).toContain(`at version ${before.Version.Index}`);
    expect(stale.message).toContain(`against version ${before.Version.Index - 1}`);
    expect((await api('GET', '/services/web')).Version.Index).toBe(before.Version.Index);

    await swarm('service', 'update', '--detach', '--image', 'nginx:1.28', '--replicas', '5', '--env-add', 'B=2', '--force', 'web');
    const updated = await api('GET', '/services/web');
    expect(updated.Version.Index).toBeGreaterThan(before.Version.Index);
    expect(updated.Spec.TaskTemplate.ContainerSpec.Image).toBe('nginx:1.28');
    expect(updated.Spec.TaskTemplate.ContainerSpec.Env).toEqual(['A=1', 'B=2']);
    expect(updated.Spec.TaskTemplate.ForceUpdate).toBe(1);
    expect(updated.Spec.Mode).toEqual({ Replicated: { Replicas: 5 } });
    expect(updated.PreviousSpec.TaskTemplate.ContainerSpec.Image).toBe('nginx:1.27');

    expect((await swarm('service', 'scale', '--detach', 'web=2')).trim()).toBe('web scaled to 2');
    expect((await api('GET', '/services/web')).Spec.Mode).toEqual({ Replicated: { Replicas: 2 } });

    await swarm('service', 'rollback', '--detach', 'web');
    const rolledBack = await api('GET', '/services/web');
    expect(rolledBack.Spec.Mode).toEqual({ Replicated: { Replicas: 5 } });
    expect(rolledBack.UpdateStatus.State).toMatch(/^rollback_(started|completed)$/);
    expect(rolledBack.UpdateStatus.Message).toMatch(/^(manually requested rollback|rollback completed)/);
    expect(Number.isNaN(Date.parse(rolledBack.UpdateStatus.StartedAt))).toBe(false);
  }, TEST_TIMEOUT_MS);

  test('a duplicate name and a bad spec are refused, naming what is wrong, and nothing is written', async () => {
    const count = (await api<Json[]>('GET', '/services')).length;
    expect(await refused('service', 'create', '--name', 'web', 'nginx')).toMatch(/a service named 'web' exists already/);
    const duplicate = await apiRefusal('POST', '/services/create', { Name: 'probe', TaskTemplate: { ContainerSpec: { Image: 'x' } } });
    expect(duplicate.status).toBe(409);
    expect(await refused('service', 'create', '--name', 'other', '--constraint', 'node.colour==red', 'nginx')).toMatch(/TaskTemplate\.Placement\.Constraints\[0\]: .*node\.colour==red/);
    expect(await refused('service', 'create', '--name', 'other', '--publish', '8080:81', 'nginx')).toMatch(/EndpointSpec\.Ports\[0\]\.PublishedPort: port 8080\/tcp is already in use by service web/);
    const unknownField = await apiRefusal('POST', '/services/create', { Name: 'other', Replicas: 3, TaskTemplate: { ContainerSpec: { Image: 'x' } } });
    expect(unknownField.status).toBe(400);
    expect(unknownField.message).toBe('Replicas: is not a known field');
    expect(await refused('service', 'create', '--name', 'other', '--replicas', '-1', 'nginx')).toMatch(/--replicas/);
    expect((await api<Json[]>('GET', '/services')).length).toBe(count);
  }, TEST_TIMEOUT_MS);

  test('a secret over 500 KiB is refused; a config of 900 KiB is not', async () => {
    const big = path.join(scratch, 'big');
    writeFileSync(big, Buffer.alloc(600 * 1024, 7));
    expect(await refused('secret', 'create', 'big', big)).toMatch(/Data: a secret of 614400 bytes is over the limit of 500 KiB/);
    expect((await api<Json[]>('GET', `/secrets?filters=${filter({ name: ['big'] })}`))).toEqual([]);
    const { ID } = await api<{ ID: string }>('POST', '/configs/create', { Name: 'large.conf', Data: Buffer.alloc(900 * 1024, 1).toString('base64') });
    await api('DELETE', `/configs/${ID}`);
  }, TEST_TIMEOUT_MS);

  test('a request body over 2 MiB is answered 413 with the limit; a client gone mid-body is its own failure, not the node\'s; the node goes on serving', async () => {
    const huge = await apiRefusal('POST', '/configs/create', { Name: 'huge.conf', Data: 'A'.repeat(3 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.message).toBe('request body over 2097152 bytes');
    expect((await api<Json[]>('GET', `/configs?filters=${filter({ name: ['huge.conf'] })}`))).toEqual([]);
    // Half a body, then the connection closes: the node logs no internal error for it.
    const m1 = cluster.node('m1');
    const outputBefore = m1.output.length;
    await new Promise<void>((resolve) => {
      const req = http.request({ socketPath: path.join(m1.stateDir, 'control.sock'), method: 'POST', path: '/configs/create', headers: { 'Content-Type': 'application/json', 'Content-Length': 1000 } });
      // Destroyed before any response: the client sees an error, then the close.
      req.on('error', () => undefined);
      req.on('close', () => resolve());
      req.write('{"Name":"half');
      setTimeout(() => req.destroy(), 100);
    });
    await api('GET', '/info');
    expect(m1.output.slice(outputBefore)).not.toMatch(/control API/);
    const { ID } = await api<{ ID: string }>('POST', '/configs/create', { Name: 'after-huge.conf', Data: Buffer.from('ok').toString('base64') });
    await api('DELETE', `/configs/${ID}`);
  }, TEST_TIMEOUT_MS);

  test('writes made at once go as fewer Raft entries than writes; one write\'s conflict fails only that write', async () => {
    const appliedIndex = async (): Promise<number> => (await api<{ appliedIndex: number }>('GET', '/debug/raft')).appliedIndex;
    const data = (name: string): string => Buffer.from(`value of ${name}`).toString('base64');
    const create = (name: string): Promise<{ ID: string }> => api<{ ID: string }>('POST', '/configs/create', { Name: name, Data: data(name) });
    const together = async (): Promise<Json[]> => (await api<Json[]>('GET', '/configs')).filter((c) => (c.Spec.Name as string).startsWith('together.'));
    // Sixty creates at once: fewer entries than writes.
    const WRITES = 60;
    const before = await appliedIndex();
    await Promise.all(Array.from({ length: WRITES }, (_, i) => create(`together.${i}`)));
    expect((await appliedIndex()) - before).toBeLessThan(WRITES);
    // Twenty more at once, two under one name: the store refuses an entry that holds both, and
    // each of its writes is tried again alone. One of the two is refused; everything else lands.
    const names = Array.from({ length: 20 }, (_, i) => (i === 7 || i === 13 ? 'together.dup' : `together.more${i}`));
    const results = await Promise.allSettled(names.map(create));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ i, reason: r.reason as { status?: number; message?: string } }] : []));
    expect(failed).toHaveLength(1);
    expect([7, 13]).toContain(failed[0]!.i);
    expect(failed[0]!.reason.status).toBe(409);
    expect(failed[0]!.reason.message).toMatch(/together\.dup/);
    // Every write that succeeded is there once, with its own data.
    const configs = await together();
    expect(configs.map((c) => c.Spec.Name as string).sort()).toEqual([...Array.from({ length: WRITES }, (_, i) => `together.${i}`), ...new Set(names)].sort());
    for (const c of configs) expect(c.Spec.Data).toBe(data(c.Spec.Name as string));
    for (const c of configs) await api('DELETE', `/configs/${c.ID as string}`);
  }, TEST_TIMEOUT_MS);

  test('a secret in use cannot be removed until its service is; rm works', async () => {
    const file = path.join(scratch, 'pass');
    writeFileSync(file, 'hunter2');
    await swarm('secret', 'create', 'db_pass', file);
    await swarm('service', 'create', '--name', 'api', '--secret', 'db_pass', '--detach', 'api:1');
    const api1 = await api('GET', '/services/api');
    expect(api1.Spec.TaskTemplate.ContainerSpec.Secrets).toEqual([{ File: { Name: 'db_pass', UID: '0', GID: '0', Mode: 0o444 }, SecretID: expect.any(String), SecretName: 'db_pass' }]);
    expect(await refused('secret', 'rm', 'db_pass')).toMatch(/secret db_pass is in use by service api/);
    expect((await api<Json[]>('GET', `/secrets?filters=${filter({ name: ['db_pass'] })}`)).length).toBe(1);

    expect((await swarm('service', 'rm', 'api', 'web')).trim().split('\n')).toEqual(['api', 'web']);
    expect((await apiRefusal('GET', '/services/web')).status).toBe(404);
    await swarm('secret', 'rm', 'db_pass');
    expect(await api('GET', `/secrets?filters=${filter({ name: ['db_pass'] })}`)).toEqual([]);
    await api('DELETE', '/services/probe');
    expect(await api('GET', '/services')).toEqual([]);
  }, TEST_TIMEOUT_MS);

  (DOCKER === undefined ? test.skip : test)('the docker CLI creates, lists, inspects, scales, updates, rolls back and removes a service, and is refused a secret in use', async () => {
    const run = async (args: string[], input?: string): Promise<string> => {
      const result = await docker(args, input);
      if (result.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
      return result.stdout;
    };
    await run(['secret', 'create', 'dk_pass', '-'], 'hunter2');
    const id = (await run(['service', 'create', '-d', '--name', 'dk', '--replicas', '2', '--publish', '9090:80', '--secret', 'dk_pass', '--update-delay', '10s', 'busybox', 'sleep', '600'])).trim();
    expect(id).toMatch(/^[a-z0-9]{25}$/);
    expect(await run(['service', 'ls'])).toMatch(/dk\s+replicated\s+[0-2]\/2\s+busybox/);
    const inspected = JSON.parse(await run(['service', 'inspect', 'dk'])) as Json[];
    expect(inspected[0]!.Spec.UpdateConfig.Delay).toBe(10e9);
    expect(inspected[0]!.Spec.TaskTemplate.ContainerSpec.Secrets[0].SecretName).toBe('dk_pass');
    await run(['service', 'scale', '-d', 'dk=3']);
    await run(['service', 'update', '-d', '--image', 'busybox:1.36', 'dk']);
    await run(['service', 'rollback', '-d', 'dk']);
    const rolledBack = (await api('GET', '/services/dk'));
    // The docker CLI names the image in full (busybox:latest); the rollback goes back to the scaled spec.
    expect(rolledBack.Spec.TaskTemplate.ContainerSpec.Image).toBe('busybox:latest');
    expect(rolledBack.Spec.Mode).toEqual({ Replicated: { Replicas: 3 } });
    // Started, or already completed: the orchestrator runs rollbacks now.
    expect(rolledBack.UpdateStatus.State).toMatch(/^rollback_(started|completed)$/);
    const inUse = await docker(['secret', 'rm', 'dk_pass']);
    expect(inUse.code).not.toBe(0);
    expect(inUse.stderr).toContain('secret dk_pass is in use by service dk');
    await run(['service', 'rm', 'dk']);
    await run(['secret', 'rm', 'dk_pass']);
    expect(await api('GET', '/services')).toEqual([]);
  }, TEST_TIMEOUT_MS);
});

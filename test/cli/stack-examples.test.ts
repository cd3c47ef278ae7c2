// The example stacks in examples/: each parses, converts (reading its files) and is accepted by
// the API's own create; and the default one's Node scripts do what the stack counts on: three
// replicas on one host take three ports, the health check finds them, the job exits 0.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createService } from '../../actors/index.js';
import { parseStack, planStack, formatPlan, toServiceSpecs, type StackSpecs } from '../../cli/index.js';
import { Store, type JournalEvent } from '../../journal/index.js';

const EXAMPLES = path.join(import.meta.dirname, '..', '..', 'examples');
const AT = 1_000;

function load(name: string): StackSpecs {
  const file = path.join(EXAMPLES, name);
  return toServiceSpecs(parseStack(readFileSync(file, 'utf8'), file), { readFile: (p) => readFileSync(p) });
}

/** Creates the stack's configs and services through the API, as swarm up would, in a fresh store. */
function deploy(specs: StackSpecs): Store {
  const store = new Store();
  let index = 0;
  const apply = (event: JournalEvent): void => {
    const result = store.applyBatch([event], ++index);
    if (!result.applied) throw result.error;
  };
  specs.configs.forEach((c, i) => apply({ type: 'config.created', v: 1, at: AT, id: `cfg${i}`, spec: { annotations: { name: c.Name, labels: c.Labels }, data: Buffer.from(c.Data, 'base64') } }));
  specs.services.forEach((s, i) => {
    const { DependsOn: _dependsOn, ...body } = s;
    apply(createService(store, body, `svc${i}`, AT));
  });
  return store;
}

describe('examples/stack.yml: the default of swarm up, for any machine with Node.js', () => {
  const specs = load('stack.yml');

  test('web: 3 replicas of a Node script as host processes, with a health check, after the migrate job', () => {
    expect(specs.stackName).toBe('hello');
    const [migrate, web] = specs.services;
    expect(migrate).toMatchObject({ Name: 'hello_migrate', Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } }, TaskTemplate: { Runtime: 'process', ContainerSpec: { Command: ['node'], Args: ['migrate.mjs'], Dir: EXAMPLES } } });
    expect(web).toMatchObject({
      Name: 'hello_web',
      Mode: { Replicated: { Replicas: 3 } },
      TaskTemplate: { Runtime: 'process', ContainerSpec: { Image: '', Command: ['node'], Args: ['web.mjs'], Dir: EXAMPLES, Env: ['PORT=18080', 'PORT_SPAN=16'], Healthcheck: { Test: ['CMD', 'node', 'web.mjs', '--check'] } } },
      DependsOn: [{ Service: 'hello_migrate', Condition: 'service_completed_successfully' }],
    });
    const store = deploy(specs);
    expect(store.list('service').map((s) => [s.spec.annotations.name, s.spec.task.runtime])).toEqual([['hello_migrate', 'process'], ['hello_web', 'process']]);
    expect(formatPlan(planStack(specs, []))).toEqual(['create migrate (job, 1 completion, process)', 'create web (3 replicas, process)']);
  });

  test('the job prints its steps and exits 0', () => {
    const run = spawnSync(process.execPath, ['migrate.mjs'], { cwd: EXAMPLES, encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('migrate: done');
  });

  test('three replicas on one host take three ports from PORT on, and the health check finds them', async () => {
    const base = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(Math.min(port, 65000)));
      });
    });
    const env = { ...process.env, PORT: String(base), PORT_SPAN: '8' };
    const check = (): number | null => spawnSync(process.execPath, ['web.mjs', '--check'], { cwd: EXAMPLES, env }).status;
    expect(check()).toBe(1);
    const replicas: ChildProcess[] = [];
    try {
      const ports: string[] = [];
      for (let i = 0; i < 3; i++) {
        const child = spawn(process.execPath, ['web.mjs'], { cwd: EXAMPLES, env, stdio: ['ignore', 'pipe', 'inherit'] });
        replicas.push(child);
        // One at a time: each takes the first port the earlier ones left.
        ports.push(await new Promise<string>((resolve, reject) => {
          child.stdout!.on('data', (chunk: Buffer) => {
            const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(chunk.toString());
            if (match !== null) resolve(match[1]!);
          });
          child.once('exit', (code) => reject(new Error(`web.mjs exited with ${code}`)));
        }));
      }
      expect(ports).toEqual([String(base), String(base + 1), String(base + 2)]);
      const reply = await fetch(`http://127.0.0.1:${base + 1}/`).then((r) => r.text());
      expect(reply).toMatch(new RegExp(`^hello from web on port ${base + 1} \\(pid \\d+\\)`));
      expect(check()).toBe(0);
    } finally {
      await Promise.all(replicas.map((child) => new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(undefined);
        child.once('exit', resolve);
        child.kill('SIGTERM');
      })));
    }
  });
  test('with its slot (SWARM_TASK_SLOT, from the process executor), replica N listens on PORT + N - 1 and its check asks that port alone', async () => {
    const base = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(Math.min(port, 65000)));
      });
    });
    const envOf = (slot: number): NodeJS.ProcessEnv => ({ ...process.env, PORT: String(base), SWARM_TASK_SLOT: String(slot) });
    const check = (slot: number): number | null => spawnSync(process.execPath, ['web.mjs', '--check'], { cwd: EXAMPLES, env: envOf(slot) }).status;
    const child = spawn(process.execPath, ['web.mjs'], { cwd: EXAMPLES, env: envOf(2), stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<string>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => {
          const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(chunk.toString());
          if (match !== null) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`web.mjs exited with ${code}`)));
      });
      expect(port).toBe(String(base + 1));
      expect(check(2)).toBe(0);
      // Replica 1's check does not pass on replica 2's answer.
      expect(check(1)).toBe(1);
    } finally {
      await new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(undefined);
        child.once('exit', resolve);
        child.kill('SIGTERM');
      });
    }
  });
});

describe('examples/docker-stack.yml: the same shape with the test image, for machines with an engine', () => {
  const specs = load('docker-stack.yml');

  test('busybox images only (nothing is pulled), host ports from PORT on, the scripts as configs', () => {
    const [migrate, web] = specs.services;
    for (const s of specs.services) expect((s.TaskTemplate.ContainerSpec as { Image: string }).Image).toBe('swarm-test/busybox:1');
    expect(migrate).toMatchObject({ Mode: { ReplicatedJob: { TotalCompletions: 1 } }, TaskTemplate: { ContainerSpec: { Args: ['sh', '/migrate.sh'], Configs: [{ ConfigName: 'hello-docker_migrate_script', File: { Name: '/migrate.sh' } }] } } });
    expect(web).toMatchObject({
      Mode: { Replicated: { Replicas: 3 } },
      TaskTemplate: { ContainerSpec: { Args: ['sh', '/web.sh'], Healthcheck: { Test: ['CMD-SHELL', 'wget -q -O /dev/null http://127.0.0.1:`cat /tmp/port`/'] } } },
      DependsOn: [{ Service: 'hello-docker_migrate', Condition: 'service_completed_successfully' }],
    });
    expect(web!.EndpointSpec).toBeUndefined();
    expect(specs.configs.map((c) => [c.Name, Buffer.from(c.Data, 'base64').toString()])).toEqual([
      ['hello-docker_web_script', readFileSync(path.join(EXAMPLES, 'web.sh'), 'utf8')],
      ['hello-docker_migrate_script', readFileSync(path.join(EXAMPLES, 'migrate.sh'), 'utf8')],
    ]);
    expect(deploy(specs).list('service')).toHaveLength(2);
  });
});

// toServiceSpecs (cli/stack): a parsed stack becomes the Docker ServiceSpec JSON the control API
// reads, named as docker stack deploy names things; each spec is run through the API's own
// create (actors/api createService: read, defaults, validation against a store) to prove it is
// accepted, without DependsOn, the extension the API is being given elsewhere.
import path from 'node:path';
import { createService, serviceSpecFromDocker } from '../../actors/index.js';
import { parseStack, StackError, toServiceSpecs, type DockerServiceSpecJson } from '../../cli/index.js';
import { Store, type JournalEvent } from '../../journal/index.js';

const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;
const AT = 1_000;

/** Files the stack reads, by their resolved path. */
function files(entries: Record<string, string>): (file: string) => string {
  return (file) => {
    const data = entries[file];
    if (data === undefined) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
    return data;
  };
}

const blob = (name: string) => ({ annotations: { name, labels: {} }, data: new Uint8Array(4) });

/** A store with the secrets and configs the specs name, as `swarm up` creates them before the services. */
function storeWith(secrets: readonly string[], configs: readonly string[]): Store {
  const store = new Store();
  const events: JournalEvent[] = [
    ...secrets.map((name, i): JournalEvent => ({ type: 'secret.created', v: 1, at: AT, id: `sec${i}`, spec: blob(name) })),
    ...configs.map((name, i): JournalEvent => ({ type: 'config.created', v: 1, at: AT, id: `cfg${i}`, spec: blob(name) })),
  ];
  events.forEach((event, i) => {
    const result = store.applyBatch([event], i + 1);
    if (!result.applied) throw result.error;
  });
  return store;
}

/** The API's create of the spec (DependsOn set aside): throws what the API would answer. */
function accepted(spec: DockerServiceSpecJson, store: Store): ReturnType<typeof createService> {
  const { DependsOn: _dependsOn, ...body } = spec;
  return createService(store, body, `svc-${spec.Name}`, AT);
}

describe('toServiceSpecs', () => {
  const dir = path.resolve('/srv/shop');
  const file = path.join(dir, 'stack.yml');

  test('every supported key becomes its ServiceSpec field, and the API accepts the result', () => {
    const stack = parseStack(yaml(
      'name: shop',
      'services:',
      '  web:',
      '    image: nginx:1.27',
      '    entrypoint: /docker-entrypoint.sh',
      '    command: ["nginx", "-g", "daemon off;"]',
      '    environment: { B: 2, A: 1, BARE: null }',
      '    env_file: [web.env, /etc/common.env]',
      '    labels: { tier: front }',
      '    ports: ["8080:80", "8053:53/udp", { target: 443, published: 8443, mode: host, name: https }]',
      '    secrets: [db_pass, { source: tls, target: server.pem }]',
      '    configs: [conf, { source: conf, target: /etc/nginx/nginx.conf }]',
      '    healthcheck: { test: curl -f http://localhost/, interval: 30s, timeout: 5s, retries: 3, start_period: 1m }',
      '    volumes: ["/srv/html:/usr/share/nginx/html:ro", "./logs:/logs", "cache:/cache", { type: tmpfs, target: /tmp }]',
      '    working_dir: /srv',
      '    user: "101:101"',
      '    hostname: web',
      '    stop_signal: SIGQUIT',
      '    stop_grace_period: 20s',
      '    depends_on: { api: { condition: service_healthy } }',
      '    deploy:',
      '      replicas: 3',
      '      placement: { constraints: ["node.role==worker"], preferences: [{ spread: node.labels.zone }], max_replicas_per_node: 2 }',
      '      resources: { limits: { cpus: "0.5", memory: 512M }, reservations: { cpus: 0.25, memory: 64M } }',
      '      restart_policy: { condition: on-failure, delay: 2s, max_attempts: 5, window: 1m }',
      '      update_config: { parallelism: 2, delay: 10s, failure_action: rollback, monitor: 15s, max_failure_ratio: 0.25, order: start-first }',
      '      rollback_config: { parallelism: 1, failure_action: continue }',
      '      labels: { owner: team-a }',
      '  api:',
      '    image: api:2',
      '    healthcheck: { test: ["CMD", "/bin/check"] }',
      '    deploy: { mode: global }',
      '  migrate:',
      '    image: api:2',
      '    command: migrate up',
      '    deploy: { mode: replicated-job, replicas: 2 }',
      '  sweep:',
      '    image: api:2',
      '    healthcheck: { disable: true }',
      '    deploy: { mode: global-job }',
      'secrets:',
      '  db_pass: { file: ./secrets/db_pass.txt }',
      '  tls: { external: true, name: shared_tls }',
      'configs:',
      '  conf: { file: nginx.conf }',
      'volumes:',
      '  cache: {}',
    ), file);
    const specs = toServiceSpecs(stack, {
      readFile: files({
        [path.join(dir, 'secrets/db_pass.txt')]: 's3cret',
        [path.join(dir, 'nginx.conf')]: 'events {}',
        [path.join(dir, 'web.env')]: '# comment\n\nA=from-file\nC=3\n',
        '/etc/common.env': 'D=4\n',
      }),
    });
    expect(specs.stackName).toBe('shop');
    expect(specs.secrets).toEqual([{ Name: 'shop_db_pass', Labels: { 'com.docker.stack.namespace': 'shop' }, Data: Buffer.from('s3cret').toString('base64') }]);
    expect(specs.configs).toEqual([{ Name: 'shop_conf', Labels: { 'com.docker.stack.namespace': 'shop' }, Data: Buffer.from('events {}').toString('base64') }]);
    expect(specs.external).toEqual({ secrets: ['shared_tls'], configs: [] });
    const [web, api, migrate, sweep] = specs.services as [DockerServiceSpecJson, DockerServiceSpecJson, DockerServiceSpecJson, DockerServiceSpecJson];
    expect(web).toEqual({
      Name: 'shop_web',
      Labels: { owner: 'team-a', 'com.docker.stack.namespace': 'shop' },
      TaskTemplate: {
        ContainerSpec: {
          Image: 'nginx:1.27',
          Labels: { tier: 'front', 'com.docker.stack.namespace': 'shop' },
          Command: ['/docker-entrypoint.sh'],
          Args: ['nginx', '-g', 'daemon off;'],
          // env_file first, environment over it, sorted as the docker CLI sends them.
          Env: ['A=1', 'B=2', 'BARE', 'C=3', 'D=4'],
          Dir: '/srv',
          User: '101:101',
          Hostname: 'web',
          StopSignal: 'SIGQUIT',
          StopGracePeriod: 20e9,
          Healthcheck: { Test: ['CMD-SHELL', 'curl -f http://localhost/'], Interval: 30e9, Timeout: 5e9, Retries: 3, StartPeriod: 60e9 },
          Mounts: [
            { Type: 'bind', Source: '/srv/html', Target: '/usr/share/nginx/html', ReadOnly: true },
            { Type: 'bind', Source: path.join(dir, 'logs'), Target: '/logs', ReadOnly: false },
            { Type: 'volume', Source: 'shop_cache', Target: '/cache', ReadOnly: false },
            { Type: 'tmpfs', Source: '', Target: '/tmp', ReadOnly: false },
          ],
          Secrets: [
            { File: { Name: 'db_pass', UID: '0', GID: '0', Mode: 0o444 }, SecretName: 'shop_db_pass' },
            { File: { Name: 'server.pem', UID: '0', GID: '0', Mode: 0o444 }, SecretName: 'shared_tls' },
          ],
          Configs: [
            { File: { Name: '/conf', UID: '0', GID: '0', Mode: 0o444 }, ConfigName: 'shop_conf' },
            { File: { Name: '/etc/nginx/nginx.conf', UID: '0', GID: '0', Mode: 0o444 }, ConfigName: 'shop_conf' },
          ],
        },
        Resources: { Limits: { NanoCPUs: 0.5e9, MemoryBytes: 512 * 1024 ** 2 }, Reservations: { NanoCPUs: 0.25e9, MemoryBytes: 64 * 1024 ** 2 } },
        RestartPolicy: { Condition: 'on-failure', Delay: 2e9, MaxAttempts: 5, Window: 60e9 },
        Placement: { Constraints: ['node.role==worker'], Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }], MaxReplicas: 2 },
      },
      Mode: { Replicated: { Replicas: 3 } },
      UpdateConfig: { Parallelism: 2, Delay: 10e9, FailureAction: 'rollback', Monitor: 15e9, MaxFailureRatio: 0.25, Order: 'start-first' },
      RollbackConfig: { Parallelism: 1, FailureAction: 'continue' },
      EndpointSpec: {
        Ports: [
          { Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' },
          { Protocol: 'udp', TargetPort: 53, PublishedPort: 8053, PublishMode: 'ingress' },
          { Name: 'https', Protocol: 'tcp', TargetPort: 443, PublishedPort: 8443, PublishMode: 'host' },
        ],
      },
      DependsOn: [{ Service: 'shop_api', Condition: 'service_healthy' }],
    });
    expect(api.Mode).toEqual({ Global: {} });
    expect(migrate.Mode).toEqual({ ReplicatedJob: { MaxConcurrent: 2, TotalCompletions: 2 } });
    expect((migrate.TaskTemplate.ContainerSpec as { Args: string[] }).Args).toEqual(['migrate', 'up']);
    expect(sweep.Mode).toEqual({ GlobalJob: {} });
    expect((sweep.TaskTemplate.ContainerSpec as { Healthcheck: unknown }).Healthcheck).toEqual({ Test: ['NONE'] });

    // The API takes every one of them, and reads them as the file meant.
    const store = storeWith(['shop_db_pass', 'shared_tls'], ['shop_conf']);
    const created = accepted(web, store).spec;
    expect(created.task.secrets).toEqual([{ id: 'sec0', name: 'shop_db_pass', target: 'db_pass' }, { id: 'sec1', name: 'shared_tls', target: 'server.pem' }]);
    expect(created.task.container.env).toEqual(['A=1', 'B=2', 'BARE', 'C=3', 'D=4']);
    expect(created.update).toEqual({ parallelism: 2, delayMs: 10_000, failureAction: 'rollback', monitorMs: 15_000, maxFailureRatio: 0.25, order: 'startFirst' });
    expect(created.rollback).toMatchObject({ parallelism: 1, failureAction: 'continue', monitorMs: 5_000 });
    for (const spec of [api, migrate, sweep]) expect(() => accepted(spec, store)).not.toThrow();
  });

  test('x-runtime: process becomes TaskTemplate.Runtime process: the command line, no image, a relative working_dir from the stack file', () => {
    const stack = parseStack(yaml(
      'services:',
      '  web:',
      '    x-runtime: process',
      '    command: node web.mjs --port 8080',
      '    working_dir: ./app',
      '    environment: [PORT=8080]',
      '  tool:',
      '    x-runtime: process',
      '    entrypoint: ["/usr/bin/env", "node"]',
      '    command: tool.mjs',
      '    working_dir: /opt/tool',
    ), file);
    const specs = toServiceSpecs(stack, { stackName: 'dev', readFile: files({}) });
    const [web, tool] = specs.services;
    expect(web!.TaskTemplate).toEqual({
      ContainerSpec: { Image: '', Labels: { 'com.docker.stack.namespace': 'dev' }, Command: ['node'], Args: ['web.mjs', '--port', '8080'], Env: ['PORT=8080'], Dir: path.join(dir, 'app') },
      Runtime: 'process',
    });
    expect(tool!.TaskTemplate.ContainerSpec).toMatchObject({ Command: ['/usr/bin/env'], Args: ['node', 'tool.mjs'], Dir: '/opt/tool' });
    const store = storeWith([], []);
    expect(accepted(web!, store).spec.task).toMatchObject({ runtime: 'process', container: { image: '', command: ['node'], args: ['web.mjs', '--port', '8080'] } });
    expect(() => accepted(tool!, store)).not.toThrow();
  });

  test('the stack name: the option wins over name:, one is needed, and it must be a Compose project name', () => {
    const stack = parseStack(yaml('name: fromfile', 'services:', '  a: { image: x }'), 'stack.yml');
    expect(toServiceSpecs(stack, { readFile: files({}) }).services[0]!.Name).toBe('fromfile_a');
    expect(toServiceSpecs(stack, { stackName: 'given', readFile: files({}) }).services[0]!.Name).toBe('given_a');
    const unnamed = parseStack(yaml('services:', '  a: { image: x }'), 'stack.yml');
    expect(() => toServiceSpecs(unnamed, { readFile: files({}) })).toThrow('stack.yml: name: the stack has no name');
    expect(() => toServiceSpecs(unnamed, { stackName: 'Bad Name', readFile: files({}) })).toThrow("stack.yml: name: 'Bad Name' is not a stack name");
  });

  test('files that cannot be read, bad env_file lines, names too long and blobs over the limit are all reported', () => {
    const stack = parseStack(yaml(
      'services:',
      `  ${'a'.repeat(60)}:`,
      '    image: x',
      '    env_file: app.env',
      '    secrets: [missing, big]',
      'secrets:',
      '  missing: { file: nowhere.txt }',
      '  big: { file: big.bin }',
    ), 'st/stack.yml');
    let error: unknown;
    try {
      toServiceSpecs(stack, { stackName: 'shop', readFile: files({ [path.resolve('st/app.env')]: 'OK=1\nnot valid\n', [path.resolve('st/big.bin')]: 'x'.repeat(500 * 1024 + 1) }) });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StackError);
    expect((error as StackError).message.split('\n')).toEqual([
      `st/stack.yml:2:3: services.${'a'.repeat(60)}: the service's name in the cluster, 'shop_${'a'.repeat(60)}', is longer than 63 characters`,
      `st/stack.yml:7:3: secrets.missing.file: cannot read ${path.resolve('st/nowhere.txt')} (ENOENT)`,
      `st/stack.yml:8:3: secrets.big.file: ${path.resolve('st/big.bin')} holds 512001 bytes, over the limit of 500 KiB for a secret`,
      `${path.resolve('st/app.env')}:2: "not valid" is not KEY=VALUE (in the env_file of service ${'a'.repeat(60)})`,
    ]);
  });

  test('secret and config file modes and owners are written as given (the API accepts only root and 0444 today)', () => {
    const stack = parseStack(yaml(
      'services:',
      '  a:',
      '    image: x',
      '    secrets: [{ source: s, uid: "1000", gid: "1000", mode: 0400 }]',
      'secrets:',
      '  s: { external: true }',
    ), 'stack.yml');
    const [a] = toServiceSpecs(stack, { stackName: 'st', readFile: files({}) }).services;
    expect((a!.TaskTemplate.ContainerSpec as { Secrets: unknown }).Secrets).toEqual([{ File: { Name: 's', UID: '1000', GID: '1000', Mode: 0o400 }, SecretName: 's' }]);
    expect(() => accepted(a!, storeWith(['s'], []))).toThrow('TaskTemplate.ContainerSpec.Secrets[0].File.UID: only 0 is supported');
  });

  test('what the stack writes reads back through the API\'s reader without an unknown field, DependsOn too', () => {
    const stack = parseStack(yaml('services:', '  a: { image: x, depends_on: [b] }', '  b: { image: x }'), 'stack.yml');
    const [a] = toServiceSpecs(stack, { stackName: 'st', readFile: files({}) }).services;
    expect(a!.DependsOn).toEqual([{ Service: 'st_b', Condition: 'service_started' }]);
    expect(serviceSpecFromDocker(a).dependsOn).toEqual([{ service: 'st_b', condition: 'started' }]);
  });
});

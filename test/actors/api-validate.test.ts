// The control API's validation (actors/api): each bad spec is refused with a typed error whose
// message starts with the field's path (in Docker's spelling, the shape requests come in), and the
// write functions return no event for it, so nothing is written. Called directly on a real store,
// without a runtime (STYLE.md practice 1).
import {
  BlobTooLargeError, DEFAULT_RESTART_POLICY, DEFAULT_UPDATE_CONFIG, NameTakenError, NoPreviousSpecError, ObjectInUseError,
  SpecInvalidError, StaleVersionError, checkBlobSize, createService, removeBlob, rollbackService, serviceSpecFromDocker, updateService,
  validateServiceSpec, type ApiError,
} from '../../actors/index.js';
import { EVENT_VERSIONS, Store, type JournalEvent, type ServiceSpec } from '../../journal/index.js';

const AT = 1_000;

/** A store holding these events, each batch applied (and checked to apply) at the next index. */
function storeWith(events: readonly JournalEvent[]): Store {
  const store = new Store();
  events.forEach((event, i) => {
    const result = store.applyBatch([event], i + 1);
    if (!result.applied) throw result.error;
  });
  return store;
}

const blob = (name: string, bytes = 8) => ({ annotations: { name, labels: {} }, data: new Uint8Array(bytes) });

/** A store with a secret, a config, a network and a service `api` that publishes 8080 and uses the secret. */
function cluster(): Store {
  const api = spec({
    Name: 'api',
    TaskTemplate: { ContainerSpec: { Image: 'api:1' } },
    EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] },
  }, new Store());
  return storeWith([
    { type: 'secret.created', v: 1, at: AT, id: 'sec1', spec: blob('db_pass') },
    { type: 'config.created', v: 1, at: AT, id: 'cfg1', spec: blob('app.conf') },
    { type: 'network.created', v: 1, at: AT, id: 'net1', spec: { annotations: { name: 'backend', labels: {} }, driver: 'overlay', ipam: { driver: 'default', subnets: [] }, internal: false, attachable: false, ingress: false } },
    { type: 'service.created', v: 1, at: AT, id: 'svc-api', spec: { ...api, task: { ...api.task, secrets: [{ id: 'sec1', name: 'db_pass', target: 'db_pass' }] } } },
  ]);
}

/** A Docker spec read and validated as a create would (throws what the API would answer). */
function spec(docker: Record<string, unknown>, store: Store = cluster()): ServiceSpec {
  return validateServiceSpec(serviceSpecFromDocker(docker), store, null);
}

const minimal = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'nginx:1.27' } }, ...over });

/** The error `createService` throws for this body, after checking it wrote nothing a store would see. */
function refusal(docker: Record<string, unknown>, store: Store = cluster()): ApiError {
  const before = store.list('service');
  let thrown: unknown;
  try {
    createService(store, docker, 'svc-new', AT);
  } catch (error) {
    thrown = error;
  }
  expect(store.list('service')).toEqual(before);
  expect(thrown).toBeDefined();
  return thrown as ApiError;
}

function refusedField(docker: Record<string, unknown>, store?: Store): string {
  const error = refusal(docker, store);
  expect(error).toBeInstanceOf(SpecInvalidError);
  expect(error.status).toBe(400);
  expect(error.message.startsWith(`${(error as SpecInvalidError).field}: `)).toBe(true);
  return (error as SpecInvalidError).field;
}

describe('defaults', () => {
  test('a minimal spec gets DESIGN.md section 8 defaults: 1 replica, restart any after 5 s, update and rollback 1 at a time, pause, 5 s monitor, stop-first', () => {
    const s = spec(minimal());
    expect(s.mode).toEqual({ kind: 'replicated', replicas: 1 });
    expect(s.task.restartPolicy).toEqual({ condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0 });
    expect(s.update).toEqual({ parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stopFirst' });
    expect(s.rollback).toEqual(s.update);
    expect(s.rebalance).toBe(false);
    expect(s.endpoint.ports).toEqual([]);
    expect(s.task.forceUpdate).toBe(0);
  });

  test('defaults fill only the fields left out: an explicit 0 stays 0', () => {
    const s = spec(minimal({ UpdateConfig: { Parallelism: 0, Delay: 10e9 }, TaskTemplate: { ContainerSpec: { Image: 'x' }, RestartPolicy: { Condition: 'on-failure', Delay: 0 } } }));
    expect(s.update).toEqual({ ...DEFAULT_UPDATE_CONFIG, parallelism: 0, delayMs: 10_000 });
    expect(s.task.restartPolicy).toEqual({ ...DEFAULT_RESTART_POLICY, condition: 'onFailure', delayMs: 0 });
  });

  test('a replicated job without MaxConcurrent runs one at a time; TotalCompletions defaults to MaxConcurrent', () => {
    expect(spec(minimal({ Mode: { ReplicatedJob: {} } })).mode).toEqual({ kind: 'replicatedJob', maxConcurrent: 1, totalCompletions: 1 });
    expect(spec(minimal({ Mode: { ReplicatedJob: { MaxConcurrent: 3 } } })).mode).toEqual({ kind: 'replicatedJob', maxConcurrent: 3, totalCompletions: 3 });
  });

  test('references resolve by name or id, to both, with the file target defaulting to the name', () => {
    const s = spec(minimal({ TaskTemplate: { ContainerSpec: { Image: 'x', Secrets: [{ SecretName: 'db_pass' }], Configs: [{ ConfigID: 'cfg1', File: { Name: '/etc/app.conf' } }] }, Networks: [{ Target: 'backend' }] } }));
    expect(s.task.secrets).toEqual([{ id: 'sec1', name: 'db_pass', target: 'db_pass' }]);
    expect(s.task.configs).toEqual([{ id: 'cfg1', name: 'app.conf', target: '/etc/app.conf' }]);
    expect(s.task.networks).toEqual(['net1']);
  });
});

describe('each bad spec is refused, naming the field, and nothing is written', () => {
  test('replicas: negative or not a whole number', () => {
    expect(refusedField(minimal({ Mode: { Replicated: { Replicas: -1 } } }))).toBe('Mode.Replicated.Replicas');
    expect(refusedField(minimal({ Mode: { Replicated: { Replicas: 1.5 } } }))).toBe('Mode.Replicated.Replicas');
    expect(refusedField(minimal({ Mode: { Replicated: { Replicas: '3' } } }))).toBe('Mode.Replicated.Replicas');
  });

  test('more than one mode, or an unknown one', () => {
    expect(refusedField(minimal({ Mode: { Replicated: { Replicas: 1 }, Global: {} } }))).toBe('Mode');
    expect(refusedField(minimal({ Mode: { Daemon: {} } }))).toBe('Mode.Daemon');
  });

  test('constraints: an unknown key and bad syntax, naming the constraint', () => {
    const unknownKey = refusal(minimal({ TaskTemplate: { ContainerSpec: { Image: 'x' }, Placement: { Constraints: ['node.role==manager', 'node.colour==red'] } } }));
    expect(unknownKey.message).toMatch(/^TaskTemplate\.Placement\.Constraints\[1\]: .*node\.colour==red.*unknown key/);
    const syntax = refusal(minimal({ TaskTemplate: { ContainerSpec: { Image: 'x' }, Placement: { Constraints: ['node.role=manager'] } } }));
    expect(syntax.message).toMatch(/^TaskTemplate\.Placement\.Constraints\[0\]: .*node\.role=manager/);
  });

  test('ports: target 1-65535, published 0 or 1-65535, protocol and mode', () => {
    const port = (p: Record<string, unknown>): Record<string, unknown> => minimal({ EndpointSpec: { Ports: [p] } });
    expect(refusedField(port({ TargetPort: 0 }))).toBe('EndpointSpec.Ports[0].TargetPort');
    expect(refusedField(port({ TargetPort: 65536 }))).toBe('EndpointSpec.Ports[0].TargetPort');
    expect(refusedField(port({ PublishedPort: 80 }))).toBe('EndpointSpec.Ports[0].TargetPort');
    expect(refusedField(port({ TargetPort: 80, PublishedPort: 70000 }))).toBe('EndpointSpec.Ports[0].PublishedPort');
    expect(refusedField(port({ TargetPort: 80, PublishedPort: -1 }))).toBe('EndpointSpec.Ports[0].PublishedPort');
    expect(refusedField(port({ TargetPort: 80, Protocol: 'icmp' }))).toBe('EndpointSpec.Ports[0].Protocol');
    expect(refusedField(port({ TargetPort: 80, PublishMode: 'mesh' }))).toBe('EndpointSpec.Ports[0].PublishMode');
    expect(spec(port({ TargetPort: 80, PublishedPort: 0 })).endpoint.ports).toEqual([{ name: '', protocol: 'tcp', targetPort: 80, publishedPort: 0, publishMode: 'ingress' }]);
  });

  test('a published port twice in one spec (the same protocol; host mode may repeat)', () => {
    const error = refusal(minimal({ EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 9000 }, { TargetPort: 81, PublishedPort: 9000 }] } }));
    expect(error.message).toMatch(/^EndpointSpec\.Ports\[1\]\.PublishedPort: port 9000\/tcp is published twice/);
    expect(() => spec(minimal({ EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 9000 }, { TargetPort: 81, PublishedPort: 9000, Protocol: 'udp' }] } }))).not.toThrow();
    expect(() => spec(minimal({ EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 9000, PublishMode: 'host' }, { TargetPort: 81, PublishedPort: 9000, PublishMode: 'host' }] } }))).not.toThrow();
  });

  test('a published port another service publishes (in its spec, or as allocated)', () => {
    const error = refusal(minimal({ EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] } }));
    expect(error.message).toBe('EndpointSpec.Ports[0].PublishedPort: port 8080/tcp is already in use by service api (svc-api)');
    const store = cluster();
    const allocated = store.applyBatch([{
      type: 'service.endpointAllocated', v: 1, at: AT, id: 'svc-api', expectedVersion: null,
      endpoint: { ports: [{ name: '', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }, { name: '', protocol: 'tcp', targetPort: 443, publishedPort: 30001, publishMode: 'ingress' }], virtualIps: [] },
    }], store.index + 1);
    expect(allocated.applied).toBe(true);
    expect(refusal(minimal({ EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 30001 }] } }), store).message).toMatch(/port 30001\/tcp is already in use by service api/);
  });

  test('a taken name: NameTakenError (409); an invalid name', () => {
    const error = refusal(minimal({ Name: 'api' }));
    expect(error).toBeInstanceOf(NameTakenError);
    expect(error.status).toBe(409);
    expect(error.message).toBe("Name: a service named 'api' exists already (svc-api)");
    expect(refusedField(minimal({ Name: '' }))).toBe('Name');
    expect(refusedField(minimal({ Name: '-web' }))).toBe('Name');
    expect(refusedField(minimal({ Name: 'a'.repeat(64) }))).toBe('Name');
  });

  test('an image is required', () => {
    expect(refusedField(minimal({ TaskTemplate: { ContainerSpec: { Image: '' } } }))).toBe('TaskTemplate.ContainerSpec.Image');
    expect(refusedField(minimal({ TaskTemplate: {} }))).toBe('TaskTemplate.ContainerSpec');
  });

  test('a health check: Docker\'s test forms, durations of 0 (the default) or at least 1ms, retries >= 0', () => {
    const health = (Healthcheck: Record<string, unknown>): Record<string, unknown> => minimal({ TaskTemplate: { ContainerSpec: { Image: 'nginx', Healthcheck } } });
    expect(spec(health({ Test: ['CMD', 'curl', '-f', 'http://localhost/'], Interval: 1e6, Timeout: 0, Retries: 3 })).task.container.healthcheck)
      .toEqual({ test: ['CMD', 'curl', '-f', 'http://localhost/'], intervalMs: 1, timeoutMs: 0, retries: 3, startPeriodMs: 0 });
    expect(spec(health({ Test: ['NONE'] })).task.container.healthcheck?.test).toEqual(['NONE']);
    // An empty test keeps the image's, with these timings (Docker's rule).
    expect(spec(health({ Interval: 30e9 })).task.container.healthcheck).toEqual({ test: [], intervalMs: 30_000, timeoutMs: 0, retries: 0, startPeriodMs: 0 });
    expect(refusal(health({ Test: ['CMD-SHELL', 'true'], Interval: 5e5 })).message).toBe('TaskTemplate.ContainerSpec.Healthcheck.Interval: must be at least 1ms (or 0 for the default), got 500000 ns');
    expect(refusedField(health({ Test: ['CMD-SHELL', 'true'], Timeout: 1 }))).toBe('TaskTemplate.ContainerSpec.Healthcheck.Timeout');
    expect(refusedField(health({ Test: ['CMD-SHELL', 'true'], StartPeriod: -1e9 }))).toBe('TaskTemplate.ContainerSpec.Healthcheck.StartPeriod');
    expect(refusedField(health({ Test: ['CMD-SHELL', 'true'], Interval: 1.5e6 }))).toBe('TaskTemplate.ContainerSpec.Healthcheck.Interval');
    expect(refusedField(health({ Test: ['CMD-SHELL', 'true'], Retries: -1 }))).toBe('TaskTemplate.ContainerSpec.Healthcheck.Retries');
    expect(refusal(health({ Test: ['curl', 'localhost'] })).message).toBe("TaskTemplate.ContainerSpec.Healthcheck.Test[0]: must be CMD, CMD-SHELL or NONE, got 'curl'");
    expect(refusedField(health({ Test: ['CMD'] }))).toBe('TaskTemplate.ContainerSpec.Healthcheck.Test');
    expect(refusedField(health({ Test: ['CMD-SHELL', 'a', 'b'] }))).toBe('TaskTemplate.ContainerSpec.Healthcheck.Test');
    expect(refusedField(health({ Test: ['NONE', 'x'] }))).toBe('TaskTemplate.ContainerSpec.Healthcheck.Test');
  });

  test('mounts: a known type, an absolute target used once, a source that fits the type', () => {
    const mounts = (Mounts: unknown[]): Record<string, unknown> => minimal({ TaskTemplate: { ContainerSpec: { Image: 'nginx', Mounts } } });
    expect(spec(mounts([
      { Type: 'bind', Source: '/srv/html', Target: '/usr/share/nginx/html', ReadOnly: true },
      { Type: 'volume', Source: 'cache', Target: '/var/cache/nginx' },
      { Type: 'volume', Target: '/anonymous' },
      { Type: 'tmpfs', Target: '/tmp' },
    ])).task.container.mounts).toEqual([
      { type: 'bind', source: '/srv/html', target: '/usr/share/nginx/html', readOnly: true },
      { type: 'volume', source: 'cache', target: '/var/cache/nginx', readOnly: false },
      { type: 'volume', source: '', target: '/anonymous', readOnly: false },
      { type: 'tmpfs', source: '', target: '/tmp', readOnly: false },
    ]);
    expect(refusal(mounts([{ Type: 'volume', Source: 'data', Target: 'data' }])).message).toBe("TaskTemplate.ContainerSpec.Mounts[0].Target: must be an absolute path, got 'data'");
    expect(refusedField(mounts([{ Type: 'volume', Source: 'data' }]))).toBe('TaskTemplate.ContainerSpec.Mounts[0].Target');
    expect(refusedField(mounts([{ Type: 'tmpfs', Target: '/a' }, { Type: 'bind', Source: 'relative', Target: '/b' }]))).toBe('TaskTemplate.ContainerSpec.Mounts[1].Source');
    expect(refusedField(mounts([{ Type: 'tmpfs', Source: '/x', Target: '/a' }]))).toBe('TaskTemplate.ContainerSpec.Mounts[0].Source');
    expect(refusedField(mounts([{ Type: 'volume', Source: '/host/path', Target: '/a' }]))).toBe('TaskTemplate.ContainerSpec.Mounts[0].Source');
    expect(refusal(mounts([{ Type: 'tmpfs', Target: '/a' }, { Type: 'volume', Target: '/a' }])).message)
      .toBe("TaskTemplate.ContainerSpec.Mounts[1].Target: '/a' is mounted twice (also by TaskTemplate.ContainerSpec.Mounts[0])");
  });

  test('dir, user, stop signal, stop grace period and hostname', () => {
    const container = (fields: Record<string, unknown>): Record<string, unknown> => minimal({ TaskTemplate: { ContainerSpec: { Image: 'nginx', ...fields } } });
    expect(spec(container({ Dir: '/srv', User: 'www-data:www-data', StopSignal: 'SIGQUIT', StopGracePeriod: 0, Hostname: 'web-1.internal' })).task.container).toMatchObject({
      dir: '/srv', user: 'www-data:www-data', stopSignal: 'SIGQUIT', stopGracePeriodMs: 0, hostname: 'web-1.internal',
    });
    for (const signal of ['TERM', '15', 'SIGRTMIN+3', 'SIGUSR1']) expect(spec(container({ StopSignal: signal })).task.container.stopSignal).toBe(signal);
    expect(refusal(container({ Dir: 'srv' })).message).toBe("TaskTemplate.ContainerSpec.Dir: must be an absolute path, got 'srv'");
    expect(refusedField(container({ User: 'a b' }))).toBe('TaskTemplate.ContainerSpec.User');
    expect(refusedField(container({ User: 'a:b:c' }))).toBe('TaskTemplate.ContainerSpec.User');
    expect(refusedField(container({ StopSignal: 'sigterm' }))).toBe('TaskTemplate.ContainerSpec.StopSignal');
    expect(refusedField(container({ StopSignal: '0' }))).toBe('TaskTemplate.ContainerSpec.StopSignal');
    expect(refusedField(container({ StopSignal: '65' }))).toBe('TaskTemplate.ContainerSpec.StopSignal');
    expect(refusedField(container({ StopGracePeriod: -1e9 }))).toBe('TaskTemplate.ContainerSpec.StopGracePeriod');
    expect(refusedField(container({ StopGracePeriod: 1.5e6 }))).toBe('TaskTemplate.ContainerSpec.StopGracePeriod');
    expect(refusedField(container({ Hostname: '{{.Node.Hostname}}' }))).toBe('TaskTemplate.ContainerSpec.Hostname');
    expect(refusedField(container({ Hostname: '-web' }))).toBe('TaskTemplate.ContainerSpec.Hostname');
  });

  test('the process runtime: a command is required, an image is not (and is refused), nor mounts or a hostname; an unknown runtime is refused', () => {
    const processSpec = (container: Record<string, unknown>): Record<string, unknown> => minimal({ TaskTemplate: { ContainerSpec: container, Runtime: 'process' } });
    const s = spec(processSpec({ Command: ['/usr/local/bin/worker'], Args: ['--queue', 'jobs'], Dir: '/var/lib/worker', User: 'worker', StopSignal: 'SIGINT' }));
    expect(s.task.runtime).toBe('process');
    expect(s.task.container).toMatchObject({ image: '', command: ['/usr/local/bin/worker'], args: ['--queue', 'jobs'] });
    expect(refusal(processSpec({})).message).toBe('TaskTemplate.ContainerSpec.Command: the process runtime runs a command on the host: one is required');
    expect(refusedField(processSpec({ Command: [''] }))).toBe('TaskTemplate.ContainerSpec.Command');
    expect(refusedField(processSpec({ Command: ['/bin/w'], Image: 'nginx' }))).toBe('TaskTemplate.ContainerSpec.Image');
    expect(refusedField(processSpec({ Command: ['/bin/w'], Mounts: [{ Type: 'tmpfs', Target: '/tmp' }] }))).toBe('TaskTemplate.ContainerSpec.Mounts');
    expect(refusedField(processSpec({ Command: ['/bin/w'], Hostname: 'w' }))).toBe('TaskTemplate.ContainerSpec.Hostname');
    // A container still needs its image.
    expect(refusedField(minimal({ TaskTemplate: { ContainerSpec: { Command: ['/bin/w'] }, Runtime: 'container' } }))).toBe('TaskTemplate.ContainerSpec.Image');
    expect(refusal(minimal({ TaskTemplate: { ContainerSpec: { Image: 'x' }, Runtime: 'plugin' } })).message).toMatch(/^TaskTemplate\.Runtime: must be container or process/);
    // The create writes the runtime into the journal's spec.
    const store = cluster();
    const event = createService(store, processSpec({ Command: ['/usr/local/bin/worker'] }), 'svc-w', AT);
    expect(event).toMatchObject({ type: 'service.created', v: EVENT_VERSIONS['service.created'], spec: { task: { runtime: 'process', container: { image: '', command: ['/usr/local/bin/worker'] } } } });
    expect(store.applyBatch([event], store.index + 1).applied).toBe(true);
  });

  test('jobs: MaxConcurrent at least 1 and at most TotalCompletions; no update or rollback config', () => {
    expect(refusedField(minimal({ Mode: { ReplicatedJob: { MaxConcurrent: 0, TotalCompletions: 3 } } }))).toBe('Mode.ReplicatedJob.MaxConcurrent');
    expect(refusedField(minimal({ Mode: { ReplicatedJob: { MaxConcurrent: 4, TotalCompletions: 3 } } }))).toBe('Mode.ReplicatedJob.MaxConcurrent');
    expect(refusedField(minimal({ Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 0 } } }))).toBe('Mode.ReplicatedJob.TotalCompletions');
    expect(refusedField(minimal({ Mode: { GlobalJob: {} }, UpdateConfig: { Parallelism: 2 } }))).toBe('UpdateConfig');
    expect(refusedField(minimal({ Mode: { ReplicatedJob: {} }, RollbackConfig: {} }))).toBe('RollbackConfig');
  });

  test('Rebalance only for replicated services', () => {
    expect(refusedField(minimal({ Mode: { Global: {} }, Rebalance: true }))).toBe('Rebalance');
    expect(spec(minimal({ Rebalance: true })).rebalance).toBe(true);
  });

  test('secrets and configs must exist (by id or by name), and agree when both are given', () => {
    const container = (extra: Record<string, unknown>): Record<string, unknown> => minimal({ TaskTemplate: { ContainerSpec: { Image: 'x', ...extra } } });
    expect(refusal(container({ Secrets: [{ SecretName: 'nope' }] })).message).toBe('TaskTemplate.ContainerSpec.Secrets[0].SecretName: secret nope not found');
    expect(refusedField(container({ Secrets: [{ SecretID: 'nope' }] }))).toBe('TaskTemplate.ContainerSpec.Secrets[0].SecretID');
    expect(refusedField(container({ Secrets: [{ SecretID: 'sec1', SecretName: 'other' }] }))).toBe('TaskTemplate.ContainerSpec.Secrets[0].SecretName');
    expect(refusedField(container({ Configs: [{ ConfigName: 'db_pass' }] }))).toBe('TaskTemplate.ContainerSpec.Configs[0].ConfigName');
    expect(refusedField(container({ Secrets: [{ SecretName: 'db_pass' }, { SecretID: 'sec1' }] }))).toBe('TaskTemplate.ContainerSpec.Secrets[1].File.Name');
    expect(refusedField(container({ Secrets: [{ SecretName: 'db_pass', File: { Mode: 0o400 } }] }))).toBe('TaskTemplate.ContainerSpec.Secrets[0].File.Mode');
    expect(refusedField(minimal({ TaskTemplate: { ContainerSpec: { Image: 'x' }, Networks: [{ Target: 'frontend' }] } }))).toBe('TaskTemplate.Networks[0].Target');
  });

  test('update and rollback configs: parallelism >= 0, ratio in [0, 1], delays >= 0, known actions and orders', () => {
    expect(refusedField(minimal({ UpdateConfig: { Parallelism: -1 } }))).toBe('UpdateConfig.Parallelism');
    expect(refusedField(minimal({ UpdateConfig: { MaxFailureRatio: 1.5 } }))).toBe('UpdateConfig.MaxFailureRatio');
    expect(refusedField(minimal({ UpdateConfig: { MaxFailureRatio: -0.1 } }))).toBe('UpdateConfig.MaxFailureRatio');
    expect(refusedField(minimal({ UpdateConfig: { Delay: -1e9 } }))).toBe('UpdateConfig.Delay');
    expect(refusedField(minimal({ UpdateConfig: { Monitor: 1.5e6 } }))).toBe('UpdateConfig.Monitor');
    expect(refusedField(minimal({ UpdateConfig: { FailureAction: 'explode' } }))).toBe('UpdateConfig.FailureAction');
    expect(refusedField(minimal({ UpdateConfig: { Order: 'random' } }))).toBe('UpdateConfig.Order');
    expect(refusedField(minimal({ RollbackConfig: { FailureAction: 'rollback' } }))).toBe('RollbackConfig.FailureAction');
    expect(refusedField(minimal({ RollbackConfig: { Parallelism: 0.5 } }))).toBe('RollbackConfig.Parallelism');
  });

  test('restart policy: delays >= 0, attempts >= 0, a known condition', () => {
    const restart = (r: Record<string, unknown>): Record<string, unknown> => minimal({ TaskTemplate: { ContainerSpec: { Image: 'x' }, RestartPolicy: r } });
    expect(refusedField(restart({ Delay: -5e9 }))).toBe('TaskTemplate.RestartPolicy.Delay');
    expect(refusedField(restart({ Window: -1e9 }))).toBe('TaskTemplate.RestartPolicy.Window');
    expect(refusedField(restart({ MaxAttempts: -1 }))).toBe('TaskTemplate.RestartPolicy.MaxAttempts');
    expect(refusedField(restart({ Condition: 'always' }))).toBe('TaskTemplate.RestartPolicy.Condition');
  });

  test('resources: >= 0, not below SwarmKit\'s least, reservations <= limits when both are set', () => {
    const resources = (r: Record<string, unknown>): Record<string, unknown> => minimal({ TaskTemplate: { ContainerSpec: { Image: 'x' }, Resources: r } });
    expect(refusedField(resources({ Limits: { MemoryBytes: -1 } }))).toBe('TaskTemplate.Resources.Limits.MemoryBytes');
    expect(refusedField(resources({ Reservations: { NanoCPUs: -1 } }))).toBe('TaskTemplate.Resources.Reservations.NanoCPUs');
    expect(refusedField(resources({ Limits: { MemoryBytes: 1024 } }))).toBe('TaskTemplate.Resources.Limits.MemoryBytes');
    expect(refusedField(resources({ Limits: { MemoryBytes: 64 * 2 ** 20 }, Reservations: { MemoryBytes: 128 * 2 ** 20 } }))).toBe('TaskTemplate.Resources.Reservations.MemoryBytes');
    expect(refusedField(resources({ Limits: { NanoCPUs: 5e8 }, Reservations: { NanoCPUs: 1e9 } }))).toBe('TaskTemplate.Resources.Reservations.NanoCPUs');
    // A reservation without a limit is fine.
    expect(spec(resources({ Reservations: { MemoryBytes: 128 * 2 ** 20, NanoCPUs: 1e9 } })).task.resources.reservations).toEqual({ nanoCpus: 1e9, memoryBytes: 128 * 2 ** 20 });
  });

  test('placement preferences spread over node or engine labels; MaxReplicas >= 0', () => {
    const placement = (p: Record<string, unknown>): Record<string, unknown> => minimal({ TaskTemplate: { ContainerSpec: { Image: 'x' }, Placement: p } });
    expect(spec(placement({ Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }, { Spread: { SpreadDescriptor: 'engine.labels.rack' } }] })).task.placement.preferences)
      .toEqual([{ spread: 'node.labels.zone' }, { spread: 'engine.labels.rack' }]);
    expect(refusedField(placement({ Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }, { Spread: { SpreadDescriptor: 'node.hostname' } }] }))).toBe('TaskTemplate.Placement.Preferences[1].Spread.SpreadDescriptor');
    expect(refusedField(placement({ Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.' } }] }))).toBe('TaskTemplate.Placement.Preferences[0].Spread.SpreadDescriptor');
    expect(refusedField(placement({ Preferences: [{}] }))).toBe('TaskTemplate.Placement.Preferences[0].Spread');
    expect(refusedField(placement({ MaxReplicas: -2 }))).toBe('TaskTemplate.Placement.MaxReplicas');
  });

  test('unknown fields are refused by name; Docker fields we do not model pass only empty', () => {
    expect(refusal(minimal({ Replicas: 3 })).message).toBe('Replicas: is not a known field');
    expect(refusedField(minimal({ TaskTemplate: { ContainerSpec: { Image: 'x', Imag: 'y' } } }))).toBe('TaskTemplate.ContainerSpec.Imag');
    expect(refusal(minimal({ TaskTemplate: { ContainerSpec: { Image: 'x', Groups: ['wheel'] } } })).message).toMatch(/^TaskTemplate\.ContainerSpec\.Groups: is not supported/);
    // What the docker CLI sends for a plain `service create` passes.
    expect(() => spec(minimal({
      Labels: {},
      TaskTemplate: { ContainerSpec: { Image: 'x', Init: false, DNSConfig: {}, Privileges: { CredentialSpec: null, SELinuxContext: null, NoNewPrivileges: false } }, Resources: { Limits: {}, Reservations: {} }, Placement: {}, ForceUpdate: 0 },
      EndpointSpec: { Mode: 'vip' },
    }))).not.toThrow();
    expect(refusedField(minimal({ EndpointSpec: { Mode: 'dnsrr' } }))).toBe('EndpointSpec.Mode');
  });
});

describe('secrets and configs', () => {
  test('a secret over 500 KiB and a config over 1000 KiB are refused, naming the size and the limit', () => {
    expect(() => checkBlobSize('secret', 500 * 1024)).not.toThrow();
    expect(() => checkBlobSize('secret', 500 * 1024 + 1)).toThrow(BlobTooLargeError);
    expect(() => checkBlobSize('secret', 600_000)).toThrow('Data: a secret of 600000 bytes is over the limit of 500 KiB (512000 bytes)');
    expect(() => checkBlobSize('config', 1000 * 1024)).not.toThrow();
    expect(() => checkBlobSize('config', 1000 * 1024 + 1)).toThrow('over the limit of 1000 KiB');
  });

  test('a secret or config in use by a service cannot be removed; an unused one can', () => {
    const store = cluster();
    expect(() => removeBlob(store, 'secret', 'db_pass', AT)).toThrow(ObjectInUseError);
    expect(() => removeBlob(store, 'secret', 'sec1', AT)).toThrow('secret db_pass is in use by service api');
    expect(removeBlob(store, 'config', 'app.conf', AT)).toEqual({ type: 'config.removed', v: 1, at: AT, id: 'cfg1', expectedVersion: null });
    expect(() => removeBlob(store, 'config', 'nope', AT)).toThrow('config nope not found');
  });
});

describe('updates and rollbacks', () => {
  const body = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    Name: 'api', TaskTemplate: { ContainerSpec: { Image: 'api:2', Secrets: [{ SecretName: 'db_pass' }] } }, EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] }, ...over,
  });

  test('an update made against a stale version is refused (409), naming both versions', () => {
    const store = cluster();
    const version = store.get('service', 'svc-api')!.meta.version;
    const error = (() => {
      try {
        updateService(store, 'api', version - 1, body(), AT);
      } catch (e) {
        return e as ApiError;
      }
      throw new Error('not refused');
    })();
    expect(error).toBeInstanceOf(StaleVersionError);
    expect(error.status).toBe(409);
    expect(error.message).toContain(`at version ${version}`);
    expect(error.message).toContain(`against version ${version - 1}`);
    expect(() => updateService(store, 'api', null, body(), AT)).toThrow(/version: .*required/);
  });

  test('an update keeps its own name and published ports, and may not rename or change mode', () => {
    const store = cluster();
    const version = store.get('service', 'svc-api')!.meta.version;
    const event = updateService(store, 'api', version, body(), AT);
    expect(event).toMatchObject({ type: 'service.updated', id: 'svc-api', expectedVersion: version });
    expect(event.spec.task.container.image).toBe('api:2');
    expect(() => updateService(store, 'api', version, body({ Name: 'api2' }), AT)).toThrow(/^Name: renaming a service is not supported/);
    expect(() => updateService(store, 'api', version, body({ Mode: { Global: {} } }), AT)).toThrow(/^Mode: a service's mode cannot change/);
  });

  test('a rollback needs a previous spec; it is recorded as service.rolledBack with a manual rollback status', () => {
    const store = cluster();
    const version = store.get('service', 'svc-api')!.meta.version;
    expect(() => rollbackService(store, 'api', version, AT)).toThrow(NoPreviousSpecError);
    const applied = store.applyBatch([updateService(store, 'api', version, body(), AT)], store.index + 1);
    expect(applied.applied).toBe(true);
    const updated = store.get('service', 'svc-api')!;
    expect(rollbackService(store, 'svc-api', updated.meta.version, 5_000)).toEqual({
      type: 'service.rolledBack', v: 1, at: 5_000, id: 'svc-api', expectedVersion: updated.meta.version,
      updateStatus: { state: 'rollbackStarted', startedAt: 5_000, completedAt: 0, message: 'manually requested rollback' },
    });
    expect(() => rollbackService(store, 'svc-api', updated.meta.version - 1, AT)).toThrow(StaleVersionError);
  });

  test('a rollback to a spec that is no longer valid (its published port taken since) is refused', () => {
    const store = cluster();
    const version = store.get('service', 'svc-api')!.meta.version;
    store.applyBatch([updateService(store, 'api', version, body({ EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8081 }] } }), AT)], store.index + 1);
    store.applyBatch([createService(store, minimal({ Name: 'other', EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] } }), 'svc-other', AT)], store.index + 1);
    expect(() => rollbackService(store, 'api', store.get('service', 'svc-api')!.meta.version, AT))
      .toThrow(/^PreviousSpec\.EndpointSpec\.Ports\[0\]\.PublishedPort: cannot roll back: port 8080\/tcp is already in use by service other/);
  });
});

describe('dependencies (DependsOn, start order)', () => {
  const CHECK = { Test: ['CMD', 'pg_isready'], Interval: 1e9, Timeout: 1e9, Retries: 3, StartPeriod: 0 };
  /** The cluster, plus db (with a health check), cache (without), migrate (a job) and queue (depending on cache). */
  function withDependencies(): Store {
    const store = cluster();
    const add = (id: string, docker: Record<string, unknown>): void => {
      const result = store.applyBatch([createService(store, docker, id, AT)], store.index + 1);
      if (!result.applied) throw result.error;
    };
    add('svc-db', { Name: 'db', TaskTemplate: { ContainerSpec: { Image: 'postgres:16', Healthcheck: CHECK } } });
    add('svc-cache', { Name: 'cache', TaskTemplate: { ContainerSpec: { Image: 'redis:7' } } });
    add('svc-migrate', { Name: 'migrate', TaskTemplate: { ContainerSpec: { Image: 'tool' } }, Mode: { ReplicatedJob: { TotalCompletions: 1 } } });
    add('svc-queue', { Name: 'queue', TaskTemplate: { ContainerSpec: { Image: 'q' } }, DependsOn: [{ Service: 'cache' }] });
    return store;
  }
  const web = (dependsOn: unknown): Record<string, unknown> => minimal({ DependsOn: dependsOn });

  test('read from Compose\'s spelling, the condition service_started when absent; none when absent or empty', () => {
    const store = withDependencies();
    const s = spec(web([
      { Service: 'db', Condition: 'service_healthy' }, { Service: 'migrate', Condition: 'service_completed_successfully' }, { Service: 'cache' },
      { Service: 'cache2', Condition: 'service_started' },
    ]), store);
    expect(s.dependsOn).toEqual([
      { service: 'db', condition: 'healthy' }, { service: 'migrate', condition: 'completedSuccessfully' }, { service: 'cache', condition: 'started' },
      { service: 'cache2', condition: 'started' },
    ]);
    expect(spec(minimal(), store).dependsOn).toEqual([]);
    expect(spec(web([]), store).dependsOn).toEqual([]);
    expect(spec(web(null), store).dependsOn).toEqual([]);
  });

  test('a dependency that does not exist yet is allowed, whatever its condition (a stack creates its services in any order)', () => {
    const s = spec(web([{ Service: 'later', Condition: 'service_healthy' }, { Service: 'later-job', Condition: 'service_completed_successfully' }]), withDependencies());
    expect(s.dependsOn.map((d) => d.service)).toEqual(['later', 'later-job']);
  });

  test('each malformed dependency is refused naming its field: the list, an entry, an unknown field or condition, an empty name, itself, twice', () => {
    const store = withDependencies();
    const cases: [unknown, string][] = [
      ['db', 'DependsOn'],
      [['db'], 'DependsOn[0]'],
      [[{ Service: 'db', Restart: true }], 'DependsOn[0].Restart'],
      [[{ Service: 'db', Condition: 'service_running' }], 'DependsOn[0].Condition'],
      [[{ Service: 'db', Condition: 'healthy' }], 'DependsOn[0].Condition'],
      [[{ Service: 7 }], 'DependsOn[0].Service'],
      [[{ Service: 'cache' }, { Service: '' }], 'DependsOn[1].Service'],
      [[{ Condition: 'service_started' }], 'DependsOn[0].Service'],
      [[{ Service: 'web' }], 'DependsOn[0].Service'],
      [[{ Service: 'cache' }, { Service: 'db', Condition: 'service_healthy' }, { Service: 'cache', Condition: 'service_healthy' }], 'DependsOn[2].Service'],
    ];
    for (const [dependsOn, field] of cases) expect([dependsOn, refusedField(web(dependsOn), store)]).toEqual([dependsOn, field]);
    expect(refusal(web([{ Service: 'db', Condition: 'service_running' }]), store).message).toBe(
      "DependsOn[0].Condition: must be service_started, service_healthy, service_completed_successfully; got 'service_running'",
    );
    expect(refusal(web([{ Service: 'web' }]), store).message).toBe("DependsOn[0].Service: 'web' cannot depend on itself");
    expect(refusal(web([{ Service: 'cache' }, { Service: 'cache' }]), store).message).toBe("DependsOn[1].Service: 'cache' is named twice (DependsOn[0] too)");
  });

  test('an existing dependency must suit its condition: service_healthy needs a health check, service_completed_successfully a job', () => {
    const store = withDependencies();
    expect(refusedField(web([{ Service: 'cache', Condition: 'service_healthy' }]), store)).toBe('DependsOn[0].Condition');
    expect(refusal(web([{ Service: 'cache', Condition: 'service_healthy' }]), store).message).toMatch(/^DependsOn\[0\]\.Condition: cache has no health check: service_healthy needs one/);
    expect(refusedField(web([{ Service: 'db' }, { Service: 'db2' }, { Service: 'cache', Condition: 'service_completed_successfully' }]), store)).toBe('DependsOn[2].Condition');
    expect(refusal(web([{ Service: 'db', Condition: 'service_completed_successfully' }]), store).message).toMatch(/^DependsOn\[0\]\.Condition: db is not a job \(mode replicated\)/);
    // Either condition on a service that suits it, and service_started on anything.
    expect(spec(web([{ Service: 'db', Condition: 'service_healthy' }, { Service: 'migrate', Condition: 'service_completed_successfully' }, { Service: 'cache' }]), store).dependsOn).toHaveLength(3);
  });

  test('a cycle among the existing services and this one is refused, naming the cycle; an update is checked with its new spec', () => {
    const store = withDependencies();
    // cache -> web would close web -> queue -> cache -> web once web depends on queue: create web first.
    store.applyBatch([createService(store, web([{ Service: 'queue' }]), 'svc-web', AT)], store.index + 1);
    const cacheVersion = store.get('service', 'svc-cache')!.meta.version;
    const update = (dependsOn: unknown): unknown => {
      try {
        return updateService(store, 'cache', cacheVersion, { Name: 'cache', TaskTemplate: { ContainerSpec: { Image: 'redis:7' } }, DependsOn: dependsOn }, AT);
      } catch (error) {
        return error;
      }
    };
    const error = update([{ Service: 'db' }, { Service: 'web' }]) as SpecInvalidError;
    expect(error).toBeInstanceOf(SpecInvalidError);
    expect(error.field).toBe('DependsOn[1].Service');
    expect(error.message).toBe('DependsOn[1].Service: a dependency cycle: cache -> web -> queue -> cache; its services would wait for each other for ever');
    // Without the edge that closes it, the update goes through.
    expect(update([{ Service: 'db' }])).toMatchObject({ type: 'service.updated', spec: { dependsOn: [{ service: 'db', condition: 'started' }] } });
    // A create: an existing service waits for `ring`, not there yet; `ring` may not wait for it.
    store.applyBatch([createService(store, minimal({ Name: 'user', DependsOn: [{ Service: 'ring' }] }), 'svc-user', AT)], store.index + 1);
    expect(refusedField(minimal({ Name: 'ring', DependsOn: [{ Service: 'db' }, { Service: 'user' }] }), store)).toBe('DependsOn[1].Service');
    expect(refusal(minimal({ Name: 'ring', DependsOn: [{ Service: 'user' }] }), store).message).toBe('DependsOn[0].Service: a dependency cycle: ring -> user -> ring; its services would wait for each other for ever');
    expect(createService(store, minimal({ Name: 'ring', DependsOn: [{ Service: 'db' }] }), 'svc-ring', AT).spec.dependsOn).toHaveLength(1);
  });
});

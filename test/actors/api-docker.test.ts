// The Docker Engine API's shapes (actors/api/docker.ts): our ServiceSpec survives a round trip
// through Docker's JSON (property-based), Docker's JSON survives a round trip through ours, what
// the docker CLI sends reads as it should, and Service and Task objects go out in Docker's shape.
// Also the filters of GET /services and GET /tasks on a real store.
import fc from 'fast-check';
import {
  DEFAULT_ROLLBACK_CONFIG, DEFAULT_UPDATE_CONFIG, SpecInvalidError, filterBlobs, filterServices, filterTasks, parseFilters, rfc3339,
  serviceSpecFromDocker, serviceSpecToDocker, serviceStatus, serviceToDocker, taskToDocker, type DockerServiceSpec,
} from '../../actors/index.js';
import { CONTAINER_SPEC_DEFAULTS, Store, type JournalEvent, type Service, type ServiceSpec, type Task, type UpdateConfig } from '../../journal/index.js';

// ---- arbitraries ---------------------------------------------------------------------------------

const word = fc.stringMatching(/^[a-z][a-z0-9._-]{0,11}$/);
const labels = fc.dictionary(word, fc.string({ maxLength: 12 }), { maxKeys: 3 });
const ms = fc.integer({ min: 0, max: 90 * 24 * 3_600_000 });
const small = fc.nat({ max: 1_000 });
const updateConfig: fc.Arbitrary<UpdateConfig> = fc.record({
  parallelism: small,
  delayMs: ms,
  failureAction: fc.constantFrom('pause', 'continue', 'rollback'),
  monitorMs: ms,
  maxFailureRatio: fc.double({ min: 0, max: 1, noNaN: true }),
  order: fc.constantFrom('stopFirst', 'startFirst'),
});
const reference = fc.record({ id: word, name: word, target: fc.string({ minLength: 1, maxLength: 20 }) });

const serviceSpecArb: fc.Arbitrary<ServiceSpec> = fc.record({
  annotations: fc.record({ name: word, labels }),
  task: fc.record({
    container: fc.record({
      image: word, command: fc.array(fc.string(), { maxLength: 3 }), args: fc.array(fc.string(), { maxLength: 3 }), env: fc.array(fc.string(), { maxLength: 3 }), labels,
      // null, or a check that is not all zero values (which Docker's wire cannot tell from none).
      healthcheck: fc.option(fc.record({
        test: fc.constantFrom(['NONE'], ['CMD', 'curl', '-f', 'http://localhost/'], ['CMD-SHELL', 'pg_isready']),
        intervalMs: ms, timeoutMs: ms, retries: small, startPeriodMs: ms,
      }), { nil: null }),
      mounts: fc.array(fc.record({ type: fc.constantFrom('bind', 'volume', 'tmpfs'), source: fc.string({ maxLength: 8 }), target: fc.string({ maxLength: 8 }), readOnly: fc.boolean() }), { maxLength: 2 }),
      dir: fc.string({ maxLength: 8 }), user: fc.string({ maxLength: 8 }), stopSignal: fc.string({ maxLength: 8 }), stopGracePeriodMs: ms, hostname: fc.string({ maxLength: 8 }),
    }),
    resources: fc.record({ limits: fc.record({ nanoCpus: fc.nat(), memoryBytes: fc.nat() }), reservations: fc.record({ nanoCpus: fc.nat(), memoryBytes: fc.nat() }) }),
    restartPolicy: fc.record({ condition: fc.constantFrom('none', 'onFailure', 'any'), delayMs: ms, maxAttempts: small, windowMs: ms }),
    placement: fc.record({
      constraints: fc.array(fc.string(), { maxLength: 3 }),
      maxReplicasPerNode: small,
      preferences: fc.array(fc.record({ spread: fc.string() }), { maxLength: 2 }),
      platforms: fc.array(fc.record({ os: word, architecture: word }), { maxLength: 2 }),
    }),
    networks: fc.array(word, { maxLength: 2 }),
    secrets: fc.array(reference, { maxLength: 2 }),
    configs: fc.array(reference, { maxLength: 2 }),
    forceUpdate: small,
    runtime: fc.constantFrom('container', 'process'),
  }),
  mode: fc.oneof(
    fc.record({ kind: fc.constant('replicated' as const), replicas: small }),
    fc.record({ kind: fc.constant('global' as const) }),
    fc.record({ kind: fc.constant('replicatedJob' as const), maxConcurrent: small, totalCompletions: small }),
    fc.record({ kind: fc.constant('globalJob' as const) }),
  ),
  update: updateConfig,
  rollback: updateConfig,
  endpoint: fc.record({
    ports: fc.array(fc.record({
      name: fc.string({ maxLength: 5 }),
      protocol: fc.constantFrom('tcp', 'udp', 'sctp'),
      targetPort: fc.integer({ min: 1, max: 65535 }),
      publishedPort: fc.integer({ min: 0, max: 65535 }),
      publishMode: fc.constantFrom('ingress', 'host'),
    }), { maxLength: 3 }),
  }),
  rebalance: fc.boolean(),
  dependsOn: fc.array(fc.record({ service: word, condition: fc.constantFrom('started', 'healthy', 'completedSuccessfully') }), { maxLength: 3 }),
}).map((spec) => (spec.mode.kind === 'replicatedJob' || spec.mode.kind === 'globalJob'
  // A job has no update policy on Docker's wire (SwarmKit's rule): it keeps the defaults.
  ? { ...spec, update: DEFAULT_UPDATE_CONFIG, rollback: DEFAULT_ROLLBACK_CONFIG }
  : spec));

/** Through the wire: JSON text, as a request body or a reply is. */
const wire = <T>(value: T): unknown => JSON.parse(JSON.stringify(value));

// ---- round trips ----------------------------------------------------------------------------------

describe('round trips', () => {
  test('ours -> Docker JSON -> ours is the identity (property)', () => {
    fc.assert(fc.property(serviceSpecArb, (spec) => {
      expect(serviceSpecFromDocker(wire(serviceSpecToDocker(spec)))).toEqual(spec);
    }), { numRuns: 300 });
  });

  test('a whole Docker spec -> ours -> Docker JSON is the identity', () => {
    const docker: DockerServiceSpec = {
      Name: 'web',
      Labels: { 'com.example.tier': 'web' },
      TaskTemplate: {
        ContainerSpec: {
          Image: 'nginx:1.27', Labels: { a: 'b' }, Command: ['nginx'], Args: ['-g', 'daemon off;'], Env: ['A=1'], Dir: '/srv', User: 'www-data', Hostname: 'web-1',
          Secrets: [{ File: { Name: '/run/secrets/db', UID: '0', GID: '0', Mode: 0o444 }, SecretID: 'sec1', SecretName: 'db_pass' }],
          Configs: [{ File: { Name: '/etc/app.conf', UID: '0', GID: '0', Mode: 0o444 }, ConfigID: 'cfg1', ConfigName: 'app.conf' }],
          Mounts: [{ Type: 'volume', Source: 'cache', Target: '/var/cache/nginx', ReadOnly: false }, { Type: 'bind', Source: '/etc/ssl', Target: '/etc/ssl', ReadOnly: true }],
          StopSignal: 'SIGQUIT', StopGracePeriod: 30e9,
          Healthcheck: { Test: ['CMD', 'curl', '-f', 'http://localhost/'], Interval: 5e9, Timeout: 2e9, Retries: 3, StartPeriod: 10e9 },
        },
        Resources: { Limits: { NanoCPUs: 5e8, MemoryBytes: 64 * 2 ** 20 }, Reservations: { NanoCPUs: 1e8, MemoryBytes: 16 * 2 ** 20 } },
        RestartPolicy: { Condition: 'on-failure', Delay: 5e9, MaxAttempts: 3, Window: 120e9 },
        Placement: {
          Constraints: ['node.role==worker'], Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }], MaxReplicas: 2,
          Platforms: [{ Architecture: 'amd64', OS: 'linux' }],
        },
        Networks: [{ Target: 'net1' }],
        ForceUpdate: 2,
        Runtime: 'container',
      },
      Mode: { Replicated: { Replicas: 3 } },
      UpdateConfig: { Parallelism: 2, Delay: 10e9, FailureAction: 'rollback', Monitor: 30e9, MaxFailureRatio: 0.25, Order: 'start-first' },
      RollbackConfig: { Parallelism: 0, Delay: 0, FailureAction: 'continue', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' },
      EndpointSpec: { Mode: 'vip', Ports: [{ Name: 'http', Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }] },
      Rebalance: true,
    };
    expect(wire(serviceSpecToDocker(serviceSpecFromDocker(wire(docker))))).toEqual(docker);
  });
});

describe('what Docker clients send', () => {
  test('the docker CLI\'s `service create --replicas 2 IMAGE CMD...` body (recorded)', () => {
    const body = JSON.parse('{"Name":"probe","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"swarmlab/busybox:latest","Args":["/bin/sleep","600"],"Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":2}},"EndpointSpec":{"Mode":"vip"}}');
    const spec = serviceSpecFromDocker(body);
    expect(spec.annotations).toEqual({ name: 'probe', labels: {} });
    expect(spec.task.container).toEqual({ image: 'swarmlab/busybox:latest', command: [], args: ['/bin/sleep', '600'], env: [], labels: {}, ...CONTAINER_SPEC_DEFAULTS });
    expect(spec.task.runtime).toBe('container');
    expect(spec.mode).toEqual({ kind: 'replicated', replicas: 2 });
    expect(spec.update).toEqual(DEFAULT_UPDATE_CONFIG);
  });

  test('a stack deploy\'s service (recorded, without its network aliases): durations in ns, enums in Docker\'s spelling', () => {
    const body = JSON.parse('{"Name":"probestk_web","Labels":{"com.docker.stack.namespace":"probestk"},"TaskTemplate":{"ContainerSpec":{"Image":"swarmlab/busybox:latest","Labels":{"com.docker.stack.namespace":"probestk"},"Args":["/bin/sleep","600"],"Env":["FOO=bar"],"Privileges":{"CredentialSpec":null,"SELinuxContext":null,"NoNewPrivileges":false},"Secrets":[{"File":{"Name":"probe_sec","UID":"0","GID":"0","Mode":292},"SecretID":"yg99","SecretName":"probestk_probe_sec"}]},"Resources":{"Limits":{"NanoCPUs":500000000,"MemoryBytes":67108864},"Reservations":{"NanoCPUs":100000000,"MemoryBytes":16777216}},"RestartPolicy":{"Condition":"on-failure","Delay":5000000000,"MaxAttempts":3,"Window":120000000000},"Placement":{"Constraints":["node.role == manager"],"Preferences":[{"Spread":{"SpreadDescriptor":"node.labels.zone"}}],"MaxReplicas":2},"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":2}},"UpdateConfig":{"Parallelism":1,"Delay":2000000000,"FailureAction":"rollback","Monitor":5000000000,"MaxFailureRatio":0.1,"Order":"start-first"},"RollbackConfig":{"Parallelism":0,"MaxFailureRatio":0,"Order":"stop-first"},"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":18080,"PublishMode":"ingress"}]}}');
    const spec = serviceSpecFromDocker(body);
    expect(spec.task.restartPolicy).toEqual({ condition: 'onFailure', delayMs: 5_000, maxAttempts: 3, windowMs: 120_000 });
    expect(spec.task.resources).toEqual({ limits: { nanoCpus: 5e8, memoryBytes: 64 * 2 ** 20 }, reservations: { nanoCpus: 1e8, memoryBytes: 16 * 2 ** 20 } });
    expect(spec.task.placement).toEqual({ constraints: ['node.role == manager'], maxReplicasPerNode: 2, preferences: [{ spread: 'node.labels.zone' }], platforms: [] });
    expect(spec.task.secrets).toEqual([{ id: 'yg99', name: 'probestk_probe_sec', target: 'probe_sec' }]);
    expect(spec.update).toEqual({ parallelism: 1, delayMs: 2_000, failureAction: 'rollback', monitorMs: 5_000, maxFailureRatio: 0.1, order: 'startFirst' });
    // Left out: the defaults (monitor 5 s, pause); given: parallelism 0 stays 0.
    expect(spec.rollback).toEqual({ parallelism: 0, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stopFirst' });
    expect(spec.endpoint.ports).toEqual([{ name: '', protocol: 'tcp', targetPort: 80, publishedPort: 18080, publishMode: 'ingress' }]);
  });

  test('the fields of a real executor: health check in ns, mounts, dir, user, stop signal and grace period, hostname; absent ones at Docker\'s defaults', () => {
    const spec = serviceSpecFromDocker({
      Name: 'db',
      TaskTemplate: {
        ContainerSpec: {
          Image: 'postgres:16', Dir: '/var/lib/postgresql', User: '999:999', Hostname: 'db', StopSignal: 'SIGINT', StopGracePeriod: 60e9,
          Healthcheck: { Test: ['CMD-SHELL', 'pg_isready -U postgres'], Interval: 10e9, Timeout: 5e9, Retries: 5, StartPeriod: 30e9, StartInterval: 0 },
          Mounts: [{ Type: 'volume', Source: 'pgdata', Target: '/var/lib/postgresql/data', VolumeOptions: {} }, { Type: 'tmpfs', Target: '/run/postgresql', ReadOnly: false }],
        },
      },
    });
    expect(spec.task.container).toMatchObject({
      healthcheck: { test: ['CMD-SHELL', 'pg_isready -U postgres'], intervalMs: 10_000, timeoutMs: 5_000, retries: 5, startPeriodMs: 30_000 },
      mounts: [{ type: 'volume', source: 'pgdata', target: '/var/lib/postgresql/data', readOnly: false }, { type: 'tmpfs', source: '', target: '/run/postgresql', readOnly: false }],
      dir: '/var/lib/postgresql', user: '999:999', stopSignal: 'SIGINT', stopGracePeriodMs: 60_000, hostname: 'db',
    });
    expect(spec.task.runtime).toBe('container');
    // Inspect renders them back in Docker's shape.
    const out = serviceSpecToDocker(spec).TaskTemplate;
    expect(out.ContainerSpec).toMatchObject({
      Dir: '/var/lib/postgresql', User: '999:999', Hostname: 'db', StopSignal: 'SIGINT', StopGracePeriod: 60e9,
      Healthcheck: { Test: ['CMD-SHELL', 'pg_isready -U postgres'], Interval: 10e9, Timeout: 5e9, Retries: 5, StartPeriod: 30e9 },
      Mounts: [{ Type: 'volume', Source: 'pgdata', Target: '/var/lib/postgresql/data', ReadOnly: false }, { Type: 'tmpfs', Source: '', Target: '/run/postgresql', ReadOnly: false }],
    });
    expect(out.Runtime).toBe('container');
    // Left out: no health check of its own (and none rendered), Docker's 10 s grace period; an all-zero Healthcheck is none.
    const plain = serviceSpecFromDocker({ Name: 'p', TaskTemplate: { ContainerSpec: { Image: 'x', Healthcheck: { Test: [], Interval: 0 } } } });
    expect(plain.task.container).toMatchObject({ healthcheck: null, mounts: [], stopGracePeriodMs: 10_000, dir: '', user: '', stopSignal: '', hostname: '' });
    expect(serviceSpecToDocker(plain).TaskTemplate.ContainerSpec).not.toHaveProperty('Healthcheck');
    expect(serviceSpecToDocker(plain).TaskTemplate.ContainerSpec.StopGracePeriod).toBe(10e9);
  });

  test('TaskTemplate.Runtime: container (Docker\'s default, also as \'\') or process (ours); anything else is refused by name', () => {
    const spec = (Runtime: unknown): ServiceSpec => serviceSpecFromDocker({ Name: 'w', TaskTemplate: { ContainerSpec: { Command: ['/usr/bin/worker'] }, Runtime } });
    expect(spec('process').task.runtime).toBe('process');
    expect(spec('container').task.runtime).toBe('container');
    expect(spec('').task.runtime).toBe('container');
    expect(spec(undefined).task.runtime).toBe('container');
    expect(serviceSpecToDocker(spec('process')).TaskTemplate.Runtime).toBe('process');
    expect(() => spec('plugin')).toThrow("TaskTemplate.Runtime: must be container or process (a host process, our extension); got 'plugin'");
    expect(() => spec(7)).toThrow('TaskTemplate.Runtime: must be a string, got number');
  });

  test('wrong types are refused by path', () => {
    const refused = (body: unknown): string => {
      try {
        serviceSpecFromDocker(body);
      } catch (error) {
        expect(error).toBeInstanceOf(SpecInvalidError);
        return (error as SpecInvalidError).message;
      }
      throw new Error('not refused');
    };
    expect(refused([])).toBe('spec: must be an object, got an array');
    expect(refused({ Name: 3 })).toBe('Name: must be a string, got number');
    expect(refused({ Labels: { a: 1 } })).toBe('Labels.a: must be a string, got number');
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x', Env: 'A=1' } } })).toBe('TaskTemplate.ContainerSpec.Env: must be an array, got string');
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x', Args: ['a', 2] } } })).toBe('TaskTemplate.ContainerSpec.Args[1]: must be a string, got number');
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x' } }, Rebalance: 'yes' })).toBe('Rebalance: must be true or false, got string');
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x' }, RestartPolicy: { Condition: 'always' } } })).toMatch(/^TaskTemplate\.RestartPolicy\.Condition: must be none, on-failure, any/);
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x', Healthcheck: { Test: 'curl' } } } })).toBe('TaskTemplate.ContainerSpec.Healthcheck.Test: must be an array, got string');
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x', Healthcheck: { Interval: '5s' } } } })).toBe('TaskTemplate.ContainerSpec.Healthcheck.Interval: must be a number, got string');
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x', Healthcheck: { StartInterval: 1e9 } } } })).toBe('TaskTemplate.ContainerSpec.Healthcheck.StartInterval: is not supported here (only an empty value is accepted)');
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x', Mounts: [{ Target: '/data' }] } } })).toBe('TaskTemplate.ContainerSpec.Mounts[0].Type: is required (bind, volume, tmpfs)');
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x', Mounts: [{ Type: 'npipe', Target: '/data' }] } } })).toMatch(/^TaskTemplate\.ContainerSpec\.Mounts\[0\]\.Type: must be bind, volume, tmpfs/);
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x', Mounts: [{ Type: 'bind', Source: '/a', Target: '/b', BindOptions: { Propagation: 'rshared' } }] } } }))
      .toBe('TaskTemplate.ContainerSpec.Mounts[0].BindOptions: is not supported here (only an empty value is accepted)');
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x', Mounts: [{ Type: 'bind', ReadOnly: 'yes' }] } } })).toBe('TaskTemplate.ContainerSpec.Mounts[0].ReadOnly: must be true or false, got string');
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x', StopGracePeriod: '10s' } } })).toBe('TaskTemplate.ContainerSpec.StopGracePeriod: must be a number, got string');
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x', Dir: 1 } } })).toBe('TaskTemplate.ContainerSpec.Dir: must be a string, got number');
    expect(refused({ TaskTemplate: { ContainerSpec: { Image: 'x', Privileges: { NoNewPrivileges: true } } } })).toBe('TaskTemplate.ContainerSpec.Privileges: is not supported here (only an empty value is accepted)');
  });
});

// ---- objects out ------------------------------------------------------------------------------------

const baseSpec = serviceSpecFromDocker({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'nginx' } }, EndpointSpec: { Ports: [{ TargetPort: 80 }] } });

function service(over: Partial<Service> = {}): Service {
  return {
    id: 'svc1', meta: { version: 12, createdAt: 1_000, updatedAt: 2_500 }, spec: baseSpec, previousSpec: null, specVersion: 12,
    updateStatus: null, endpoint: null, ...over,
  };
}

function task(over: Partial<Task> = {}): Task {
  return {
    id: 't1', meta: { version: 13, createdAt: 3_000, updatedAt: 4_000 }, serviceId: 'svc1', slot: 2, nodeId: 'n1', spec: baseSpec.task,
    serviceVersion: 12, desiredState: 'running', status: { state: 'running', message: 'started', timestamp: 4_000, err: '' }, restarts: [],
    addresses: [{ networkId: 'net1', addr: '10.0.1.5/24' }, { networkId: 'net1', addr: '10.0.1.6/24' }], ...over,
  };
}

describe('Service and Task objects out', () => {
  test('a service: version, RFC 3339 times, spec, no PreviousSpec or UpdateStatus before an update, its status', () => {
    const out = serviceToDocker(service(), { running: 1, desired: 3, completed: 0, held: null });
    // No dependencies: no DependsOn on the wire (nor Held in the status).
    expect(out.Spec).not.toHaveProperty('DependsOn');
    expect(out.ID).toBe('svc1');
    expect(out.Version).toEqual({ Index: 12 });
    expect(out.CreatedAt).toBe('1970-01-01T00:00:01.000Z');
    expect(out.UpdatedAt).toBe(rfc3339(2_500));
    expect(out.Spec.Name).toBe('web');
    expect(out.Spec.Mode).toEqual({ Replicated: { Replicas: 1 } });
    expect(out.Spec.TaskTemplate.ContainerSpec.Image).toBe('nginx');
    expect(out.Spec.UpdateConfig).toEqual({ Parallelism: 1, Delay: 0, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' });
    expect(out.Endpoint).toEqual({ Spec: { Mode: 'vip', Ports: [{ Name: '', Protocol: 'tcp', TargetPort: 80, PublishedPort: 0, PublishMode: 'ingress' }] } });
    expect(out).not.toHaveProperty('PreviousSpec');
    expect(out).not.toHaveProperty('UpdateStatus');
    expect(out).not.toHaveProperty('JobStatus');
    expect(out.ServiceStatus).toEqual({ RunningTasks: 1, DesiredTasks: 3, CompletedTasks: 0 });
  });

  test('after an update and a manual rollback: PreviousSpec, UpdateStatus in Docker\'s spelling, the allocated endpoint', () => {
    const out = serviceToDocker(service({
      previousSpec: { ...baseSpec, mode: { kind: 'replicated', replicas: 2 } },
      updateStatus: { state: 'rollbackStarted', startedAt: 5_000, completedAt: 0, message: 'manually requested rollback' },
      endpoint: { ports: [{ name: '', protocol: 'tcp', targetPort: 80, publishedPort: 30000, publishMode: 'ingress' }], virtualIps: [{ networkId: 'ingress', addr: '10.0.0.2/24' }] },
    }), { running: 0, desired: 1, completed: 0, held: null });
    expect(out.PreviousSpec?.Mode).toEqual({ Replicated: { Replicas: 2 } });
    expect(out.UpdateStatus).toEqual({ State: 'rollback_started', StartedAt: rfc3339(5_000), Message: 'manually requested rollback' });
    expect(out.Endpoint.Ports).toEqual([{ Name: '', Protocol: 'tcp', TargetPort: 80, PublishedPort: 30000, PublishMode: 'ingress' }]);
    expect(out.Endpoint.VirtualIPs).toEqual([{ NetworkID: 'ingress', Addr: '10.0.0.2/24' }]);
    const completed = serviceToDocker(service({ updateStatus: { state: 'rollbackCompleted', startedAt: 5_000, completedAt: 9_000, message: 'rollback completed' } }), { running: 0, desired: 1, completed: 0, held: null });
    expect(completed.UpdateStatus).toEqual({ State: 'rollback_completed', StartedAt: rfc3339(5_000), CompletedAt: rfc3339(9_000), Message: 'rollback completed' });
  });

  test('a job: no update config on the wire, its iteration is its spec version', () => {
    const job = serviceSpecFromDocker({ Name: 'migrate', TaskTemplate: { ContainerSpec: { Image: 'tool' } }, Mode: { ReplicatedJob: { MaxConcurrent: 2, TotalCompletions: 6 } } });
    const out = serviceToDocker(service({ spec: job, specVersion: 40 }), { running: 2, desired: 2, completed: 1, held: null });
    expect(out.Spec.Mode).toEqual({ ReplicatedJob: { MaxConcurrent: 2, TotalCompletions: 6 } });
    expect(out.Spec).not.toHaveProperty('UpdateConfig');
    expect(out.Spec).not.toHaveProperty('RollbackConfig');
    expect(out.JobStatus).toEqual({ JobIteration: { Index: 40 }, LastExecution: rfc3339(2_500) });
  });

  test('a task: slot, node, spec with its ContainerSpec, status, network attachments', () => {
    const out = taskToDocker(task({ status: { state: 'failed', message: 'starting', timestamp: 4_000, err: 'exit code 1' }, desiredState: 'shutdown' }), false);
    expect(out).toMatchObject({
      ID: 't1', Version: { Index: 13 }, ServiceID: 'svc1', Slot: 2, NodeID: 'n1', DesiredState: 'shutdown',
      CreatedAt: rfc3339(3_000), Status: { Timestamp: rfc3339(4_000), State: 'failed', Message: 'starting', Err: 'exit code 1', PortStatus: {} },
      ServiceVersion: 12,
    });
    expect(out.Spec.ContainerSpec.Image).toBe('nginx');
    expect(out.NetworksAttachments).toEqual([{ Network: { ID: 'net1' }, Addresses: ['10.0.1.5/24', '10.0.1.6/24'] }]);
    expect(out).not.toHaveProperty('JobIteration');
    expect(taskToDocker(task(), true).JobIteration).toEqual({ Index: 12 });
    expect(taskToDocker(task(), false).Status).not.toHaveProperty('Err');
  });
});

// ---- filters on a real store --------------------------------------------------------------------------

describe('filters', () => {
  test('both wire forms parse; unknown filters are refused', () => {
    expect(parseFilters('{"name":{"web":true,"api":true},"id":["ab"]}', ['name', 'id'])).toEqual(new Map([['name', ['web', 'api']], ['id', ['ab']]]));
    expect(parseFilters(null, ['name'])).toEqual(new Map());
    expect(() => parseFilters('{"colour":{"red":true}}', ['name'])).toThrow("filters: invalid filter 'colour' (accepted: name)");
    expect(() => parseFilters('{nope', ['name'])).toThrow(/^filters: is not JSON/);
  });

  function store(): Store {
    const s = new Store();
    const spec = (name: string, extra: Record<string, unknown> = {}): ServiceSpec => serviceSpecFromDocker({ Name: name, TaskTemplate: { ContainerSpec: { Image: 'img' } }, ...extra });
    const events: JournalEvent[] = [
      { type: 'node.registered', v: 1, at: 1, id: 'node-a', spec: { annotations: { name: 'alpha', labels: {} }, role: 'worker', availability: 'active' }, description: { hostname: 'host-a', platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 1e9, memoryBytes: 2 ** 30 }, engineLabels: {} }, status: { state: 'ready', message: '', addr: '' } },
      { type: 'service.created', v: 1, at: 1, id: 'svc-web', spec: spec('web', { Labels: { tier: 'front', team: 'a' } }) },
      { type: 'service.created', v: 1, at: 1, id: 'svc-worker', spec: spec('worker', { Mode: { Global: {} }, Labels: { tier: 'back' } }) },
    ];
    events.forEach((e, i) => expect(s.applyBatch([e], i + 1).applied).toBe(true));
    const web = s.get('service', 'svc-web')!;
    // Up to date means the task runs the service's task spec: task-2 runs an older image.
    const older = { ...web.spec.task, container: { ...web.spec.task.container, image: 'old:1' } };
    const newTask = (id: string, serviceId: string, slot: number, nodeId: string, serviceVersion: number, desiredState: Task['desiredState']): JournalEvent => ({
      type: 'task.created', v: 1, at: 2, id, serviceId, slot, nodeId, spec: serviceVersion < web.specVersion ? older : serviceId === 'svc-web' ? web.spec.task : s.get('service', serviceId)!.spec.task, serviceVersion, desiredState,
      status: { state: 'new', message: '', timestamp: 2, err: '' }, restarts: [], addresses: [],
    });
    const more: JournalEvent[] = [
      newTask('task-1', 'svc-web', 1, 'node-a', web.specVersion, 'running'),
      newTask('task-2', 'svc-web', 2, '', web.specVersion - 1, 'shutdown'),
      newTask('task-3', 'svc-worker', 0, 'node-a', s.get('service', 'svc-worker')!.specVersion, 'running'),
    ];
    more.forEach((e) => expect(s.applyBatch([e], s.index + 1).applied).toBe(true));
    return s;
  }

  test('services by id prefix, name prefix, label (key or key=value, all of them) and mode', () => {
    const s = store();
    const names = (filters: string): string[] => filterServices(s.list('service'), parseFilters(filters, ['id', 'name', 'label', 'mode'])).map((x) => x.spec.annotations.name);
    expect(names('{"name":{"we":true}}')).toEqual(['web']);
    expect(names('{"id":{"svc-w":true}}')).toEqual(['web', 'worker']);
    expect(names('{"label":{"tier":true}}')).toEqual(['web', 'worker']);
    expect(names('{"label":{"tier=back":true}}')).toEqual(['worker']);
    expect(names('{"label":{"tier=front":true,"team=b":true}}')).toEqual([]);
    expect(names('{"mode":{"global":true}}')).toEqual(['worker']);
    expect(() => names('{"mode":{"daemon":true}}')).toThrow(/filters\.mode/);
  });

  test('tasks by service (a name resolves), node (by name), desired state, and up-to-date', () => {
    const s = store();
    const ids = (filters: string): string[] => filterTasks(s.list('task'), parseFilters(filters, ['service', 'node', 'desired-state', 'up-to-date', '_up-to-date', 'name', 'label', 'id']), s).map((t) => t.id);
    expect(ids('{"service":{"web":true}}')).toEqual(['task-1', 'task-2']);
    expect(ids('{"node":{"alpha":true}}')).toEqual(['task-1', 'task-3']);
    expect(ids('{"desired-state":{"shutdown":true}}')).toEqual(['task-2']);
    expect(ids('{"_up-to-date":{"true":true},"service":{"svc-web":true}}')).toEqual(['task-1']);
    expect(ids('{"up-to-date":{"false":true}}')).toEqual(['task-2']);
    expect(ids('{"name":{"web.2":true}}')).toEqual(['task-2']);
    expect(ids('{"label":{"tier=back":true}}')).toEqual(['task-3']);
    expect(() => ids('{"service":{"nope":true}}')).toThrow('service nope not found');
  });

  test('secrets and configs by id prefix, exact name and label (as the docker CLI resolves --secret)', () => {
    const s = new Store();
    const blob = (name: string, labels: Record<string, string>) => ({ annotations: { name, labels }, data: new Uint8Array(1) });
    expect(s.applyBatch([
      { type: 'secret.created', v: 1, at: 1, id: 'sec-a', spec: blob('db_pass', { env: 'prod' }) },
      { type: 'secret.created', v: 1, at: 1, id: 'sec-b', spec: blob('db_pass_old', {}) },
    ], 1).applied).toBe(true);
    const names = (filters: string): string[] => filterBlobs(s.list('secret'), parseFilters(filters, ['id', 'name', 'label'])).map((b) => b.spec.annotations.name);
    expect(names('{"name":{"db_pass":true}}')).toEqual(['db_pass']);
    expect(names('{"id":{"sec-":true}}')).toEqual(['db_pass', 'db_pass_old']);
    expect(names('{"label":{"env=prod":true}}')).toEqual(['db_pass']);
  });

  test('a service\'s status counts its running tasks against its replicas', () => {
    const s = store();
    expect(serviceStatus(s.get('service', 'svc-web')!, s)).toEqual({ running: 0, desired: 1, completed: 0, held: null });
    expect(serviceStatus(s.get('service', 'svc-worker')!, s)).toEqual({ running: 0, desired: 1, completed: 0, held: null });
  });

  test('a service held by its dependencies says what it waits for, as ServiceStatus.Held; a free one has no Held', () => {
    const s = store();
    const held = serviceSpecFromDocker({ Name: 'api', TaskTemplate: { ContainerSpec: { Image: 'img' } }, DependsOn: [{ Service: 'web' }, { Service: 'db', Condition: 'service_healthy' }] });
    expect(s.applyBatch([{ type: 'service.created', v: 1, at: 1, id: 'svc-api', spec: held }], s.index + 1).applied).toBe(true);
    const status = serviceStatus(s.get('service', 'svc-api')!, s);
    expect(status.held).toBe('waiting for web (service_started): 0/1 running');
    const out = serviceToDocker(s.get('service', 'svc-api')!, status);
    expect(out.ServiceStatus).toEqual({ RunningTasks: 0, DesiredTasks: 1, CompletedTasks: 0, Held: 'waiting for web (service_started): 0/1 running' });
    expect(out.Spec.DependsOn).toEqual([{ Service: 'web', Condition: 'service_started' }, { Service: 'db', Condition: 'service_healthy' }]);
    expect(serviceToDocker(s.get('service', 'svc-web')!, serviceStatus(s.get('service', 'svc-web')!, s)).ServiceStatus).not.toHaveProperty('Held');
  });
});

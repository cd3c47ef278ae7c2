// The executor flags of `swarm service create` (cli/service-commands.ts), in the docker CLI's
// names: each becomes its field of Docker's ContainerSpec, which the control API reads as ours.
import { serviceSpecFromDocker } from '../../actors/index.js';
import { containerFlags, dependsOnFlag, goDurationNs, mountFlag, replicasColumn, updateDependsOn } from '../../cli/index.js';

describe('service create: executor flags', () => {
  test('--mount in docker\'s forms: type defaults to volume, src/dst and ro spellings, readonly with or without a value', () => {
    expect(mountFlag('type=bind,source=/srv/html,target=/usr/share/nginx/html,readonly')).toEqual({ Type: 'bind', Source: '/srv/html', Target: '/usr/share/nginx/html', ReadOnly: true });
    expect(mountFlag('src=cache,dst=/var/cache')).toEqual({ Type: 'volume', Source: 'cache', Target: '/var/cache', ReadOnly: false });
    expect(mountFlag('type=tmpfs,destination=/tmp,ro=false')).toEqual({ Type: 'tmpfs', Source: '', Target: '/tmp', ReadOnly: false });
    expect(() => mountFlag('type=bind,source=/a')).toThrow('--mount: target= is required');
    expect(() => mountFlag('type=nfs,target=/a')).toThrow("--mount type must be bind, volume, tmpfs; got 'nfs'");
    expect(() => mountFlag('target=/a,size=1g')).toThrow("--mount: 'size=1g' is not one of type=, source=, target=, readonly");
    expect(() => mountFlag('target=/a,readonly=maybe')).toThrow('--mount: readonly must be true or false');
  });

  test('the health, user, dir, stop and hostname flags become Docker\'s ContainerSpec fields, which read as ours', () => {
    const fields = containerFlags({
      healthCmd: 'curl -f http://localhost/', healthInterval: goDurationNs('--health-interval')('5s'), healthRetries: 4,
      mount: [mountFlag('type=volume,source=data,target=/data')], workdir: '/srv', user: 'www-data', stopSignal: 'SIGQUIT',
      stopGracePeriod: goDurationNs('--stop-grace-period')('1m'), hostname: 'web',
    });
    expect(fields).toEqual({
      Healthcheck: { Test: ['CMD-SHELL', 'curl -f http://localhost/'], Interval: 5e9, Retries: 4 },
      Mounts: [{ Type: 'volume', Source: 'data', Target: '/data', ReadOnly: false }],
      Dir: '/srv', User: 'www-data', StopSignal: 'SIGQUIT', StopGracePeriod: 60e9, Hostname: 'web',
    });
    const spec = serviceSpecFromDocker({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'nginx', ...fields } } });
    expect(spec.task.container).toMatchObject({
      healthcheck: { test: ['CMD-SHELL', 'curl -f http://localhost/'], intervalMs: 5_000, timeoutMs: 0, retries: 4, startPeriodMs: 0 },
      mounts: [{ type: 'volume', source: 'data', target: '/data', readOnly: false }], dir: '/srv', user: 'www-data', stopSignal: 'SIGQUIT', stopGracePeriodMs: 60_000, hostname: 'web',
    });
    expect(containerFlags({})).toEqual({});
    expect(containerFlags({ healthcheck: false })).toEqual({ Healthcheck: { Test: ['NONE'] } });
    expect(containerFlags({ healthTimeout: 2e9 })).toEqual({ Healthcheck: { Test: [], Timeout: 2e9 } });
    expect(() => containerFlags({ healthcheck: false, healthCmd: 'true' })).toThrow('--no-healthcheck: conflicts with the --health-* flags');
  });
});

describe('service create|update: --depends-on (start order, our extension)', () => {
  const flag = dependsOnFlag('--depends-on');

  test('NAME[:CONDITION] in Compose\'s conditions, service_started by default; a bad one is refused naming the flag', () => {
    expect(flag('db')).toEqual({ Service: 'db', Condition: 'service_started' });
    expect(flag('db:service_healthy')).toEqual({ Service: 'db', Condition: 'service_healthy' });
    expect(flag('migrate:service_completed_successfully')).toEqual({ Service: 'migrate', Condition: 'service_completed_successfully' });
    expect(() => flag('db:healthy')).toThrow("--depends-on condition must be service_started, service_healthy, service_completed_successfully; got 'healthy'");
    expect(() => flag(':service_started')).toThrow('--depends-on needs a service name');
    expect(() => dependsOnFlag('--depends-on-add')('')).toThrow('--depends-on-add needs a service name');
    // What the control API reads.
    const spec = serviceSpecFromDocker({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'nginx' } }, DependsOn: [flag('db:service_healthy'), flag('cache')] });
    expect(spec.dependsOn).toEqual([{ service: 'db', condition: 'healthy' }, { service: 'cache', condition: 'started' }]);
  });

  test('update: --depends-on-rm drops by name, --depends-on(-add) adds or changes a condition; none left, no DependsOn', () => {
    const spec: Record<string, unknown> = { Name: 'web', DependsOn: [flag('db'), flag('cache')] };
    updateDependsOn(spec, [flag('db:service_healthy'), flag('migrate:service_completed_successfully')], ['cache']);
    expect(spec.DependsOn).toEqual([flag('db:service_healthy'), flag('migrate:service_completed_successfully')]);
    updateDependsOn(spec, [], []);
    expect(spec.DependsOn).toHaveLength(2);
    updateDependsOn(spec, [], ['db', 'migrate', 'absent']);
    expect(spec).not.toHaveProperty('DependsOn');
    const none: Record<string, unknown> = { Name: 'api' };
    updateDependsOn(none, [flag('db')], []);
    expect(none.DependsOn).toEqual([flag('db')]);
  });

  test('service ls shows what a held service waits for in its REPLICAS column', () => {
    const spec = { Mode: { Replicated: { Replicas: 2 } }, TaskTemplate: {} };
    expect(replicasColumn({ Spec: spec, ServiceStatus: { RunningTasks: 0, DesiredTasks: 2, CompletedTasks: 0, Held: 'waiting for db (service_healthy): 1/2 running' } }))
      .toBe('0/2 (waiting for db (service_healthy): 1/2 running)');
    expect(replicasColumn({ Spec: spec, ServiceStatus: { RunningTasks: 2, DesiredTasks: 2, CompletedTasks: 0 } })).toBe('2/2');
    const job = { Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 3 } }, TaskTemplate: {} };
    expect(replicasColumn({ Spec: job, ServiceStatus: { RunningTasks: 0, DesiredTasks: 1, CompletedTasks: 0, Held: 'waiting for db (service_started): not found' } }))
      .toBe('0/1 (0/3 completed) (waiting for db (service_started): not found)');
  });
});

// The executor flags of `swarm service create` (cli/service-commands.ts), in the docker CLI's
// names: each becomes its field of Docker's ContainerSpec, which the control API reads as ours.
import { serviceSpecFromDocker } from '../../actors/index.js';
import { containerFlags, goDurationNs, mountFlag } from '../../cli/index.js';

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

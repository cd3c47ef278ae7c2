// The stack file of `swarm up` (cli/stack): parseStack reads the Compose format and refuses what
// it cannot run with file:line:col: key.path messages, all of them at once, in file order.
import { parseStack, splitShellWords, StackError, type Stack } from '../../cli/index.js';

/** The lines of the StackError the text is refused with. */
function refusal(text: string, file = 'stack.yml'): string[] {
  try {
    parseStack(text, file);
  } catch (error) {
    expect(error).toBeInstanceOf(StackError);
    expect((error as StackError).code).toBe('STACK_INVALID');
    return (error as StackError).message.split('\n');
  }
  throw new Error('the file was accepted');
}

/** Lines joined with newlines: a YAML file written inline. */
const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

describe('parseStack: good files', () => {
  test('a full service: every supported key, in its short and long forms', () => {
    const stack = parseStack(yaml(
      'version: "3.8"',
      'name: shop',
      'services:',
      '  web:',
      '    image: nginx:1.27',
      '    command: nginx -g "daemon off;" \'a b\'',
      '    entrypoint: ["/docker-entrypoint.sh"]',
      '    environment:',
      '      A: 1',
      '      B: "two"',
      '      C: true',
      '      D:',
      '    env_file: web.env',
      '    labels: ["tier=front", "bare"]',
      '    ports:',
      '      - "8080:80"',
      '      - "8053:53/udp"',
      '      - 9000',
      '      - "443"',
      '      - { target: 8443, published: 443, protocol: tcp, mode: host, name: https }',
      '    secrets:',
      '      - db_pass',
      '      - { source: tls, target: server.pem, uid: "0", gid: 0, mode: 0440 }',
      '    configs: [{ source: conf, target: /etc/nginx.conf }]',
      '    healthcheck:',
      '      test: ["CMD", "curl", "-f", "http://localhost/"]',
      '      interval: 1m30s',
      '      timeout: 500ms',
      '      retries: 4',
      '      start_period: 10s',
      '    volumes:',
      '      - /srv/html:/usr/share/nginx/html:ro',
      '      - ./conf:/etc/conf',
      '      - cache:/var/cache',
      '      - /anon',
      '      - { type: tmpfs, target: /tmp }',
      '      - { type: bind, source: /var/log, target: /logs, read_only: true }',
      '    working_dir: /srv',
      '    user: 1000',
      '    hostname: web-host',
      '    stop_signal: SIGQUIT',
      '    stop_grace_period: 1m',
      '    deploy:',
      '      mode: replicated',
      '      replicas: 3',
      '      endpoint_mode: vip',
      '      placement:',
      '        constraints: ["node.role==worker"]',
      '        preferences: [{ spread: node.labels.zone }]',
      '        max_replicas_per_node: 2',
      '      resources:',
      '        limits: { cpus: "0.5", memory: 512M }',
      '        reservations: { cpus: 0.25, memory: 1G }',
      '      restart_policy: { condition: on-failure, delay: 5s, max_attempts: 3, window: 2m }',
      '      update_config: { parallelism: 2, delay: 10s, failure_action: rollback, monitor: 30s, max_failure_ratio: 0.5, order: start-first }',
      '      rollback_config: { parallelism: 0, failure_action: continue, order: stop-first }',
      '      labels: { owner: team-a }',
      'secrets:',
      '  db_pass: { file: ./db_pass.txt }',
      '  tls: { external: true, name: shared_tls }',
      'configs:',
      '  conf: { file: conf/nginx.conf }',
      'volumes:',
      '  cache:',
    ), 'deploy/stack.yml');
    expect(stack.file).toBe('deploy/stack.yml');
    expect(stack.dir).toBe('deploy');
    expect(stack.name).toBe('shop');
    const web = stack.services[0]!;
    expect(web).toMatchObject({
      name: 'web', at: { line: 4, col: 3 }, runtime: 'container', mode: 'replicated', image: 'nginx:1.27',
      command: ['nginx', '-g', 'daemon off;', 'a b'], entrypoint: ['/docker-entrypoint.sh'],
      environment: ['A=1', 'B=two', 'C=true', 'D'], envFiles: [{ path: 'web.env', at: { line: 13, col: 5 } }],
      labels: { tier: 'front', bare: '' },
      ports: [
        { target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' },
        { target: 53, published: 8053, protocol: 'udp', mode: 'ingress' },
        { target: 9000, published: 0, protocol: 'tcp', mode: 'ingress' },
        { target: 443, published: 0, protocol: 'tcp', mode: 'ingress' },
        { target: 8443, published: 443, protocol: 'tcp', mode: 'host', name: 'https' },
      ],
      secrets: [{ source: 'db_pass' }, { source: 'tls', target: 'server.pem', uid: '0', gid: '0', mode: 0o440 }],
      configs: [{ source: 'conf', target: '/etc/nginx.conf' }],
      healthcheck: { test: ['CMD', 'curl', '-f', 'http://localhost/'], intervalNs: 90e9, timeoutNs: 500e6, retries: 4, startPeriodNs: 10e9 },
      mounts: [
        { type: 'bind', source: '/srv/html', target: '/usr/share/nginx/html', readOnly: true },
        { type: 'bind', source: './conf', target: '/etc/conf', readOnly: false },
        { type: 'volume', source: 'cache', target: '/var/cache', readOnly: false },
        { type: 'volume', source: '', target: '/anon', readOnly: false },
        { type: 'tmpfs', source: '', target: '/tmp', readOnly: false },
        { type: 'bind', source: '/var/log', target: '/logs', readOnly: true },
      ],
      workingDir: '/srv', user: '1000', hostname: 'web-host', stopSignal: 'SIGQUIT', stopGracePeriodNs: 60e9, dependsOn: [],
    });
    expect(web.deploy).toEqual({
      mode: 'replicated', replicas: 3, endpoint_mode: 'vip',
      placement: { constraints: ['node.role==worker'], preferences: [{ spread: 'node.labels.zone' }], max_replicas_per_node: 2 },
      resources: { limits: { cpus: 0.5e9, memory: 512 * 1024 ** 2 }, reservations: { cpus: 0.25e9, memory: 1024 ** 3 } },
      restart_policy: { condition: 'on-failure', delay: 5e9, max_attempts: 3, window: 120e9 },
      update_config: { parallelism: 2, delay: 10e9, failure_action: 'rollback', monitor: 30e9, max_failure_ratio: 0.5, order: 'start-first' },
      rollback_config: { parallelism: 0, failure_action: 'continue', order: 'stop-first' },
      labels: { owner: 'team-a' },
    });
    expect(stack.secrets).toEqual([
      { key: 'db_pass', at: { line: 59, col: 3 }, name: undefined, external: false, file: './db_pass.txt' },
      { key: 'tls', at: { line: 60, col: 3 }, name: 'shared_tls', external: true, file: undefined },
    ]);
    expect(stack.configs.map((c) => c.file)).toEqual(['conf/nginx.conf']);
    expect(stack.volumes).toEqual([{ name: 'cache', driver: 'local' }]);
  });

  test('merge keys (<<) bring anchored maps in, own keys win; x-* extension keys are ignored, x-runtime is read', () => {
    const stack = parseStack(yaml(
      'x-defaults: &defaults',
      '  image: app:1',
      '  environment: { MODE: base }',
      '  deploy: { replicas: 2 }',
      'x-more: &more',
      '  labels: { from: more }',
      'services:',
      '  a:',
      '    <<: [*defaults, *more]',
      '    environment: { MODE: own }',
      '    x-notes: anything at all',
      '  b:',
      '    <<: *defaults',
      '  job:',
      '    x-runtime: process',
      '    command: ["/bin/echo", "hi"]',
      '    deploy: { mode: global-job }',
    ), 'stack.yml');
    const [a, b, job] = stack.services;
    expect(a).toMatchObject({ image: 'app:1', environment: ['MODE=own'], labels: { from: 'more' }, deploy: { replicas: 2 } });
    expect(b).toMatchObject({ image: 'app:1', environment: ['MODE=base'], deploy: { replicas: 2 } });
    expect(job).toMatchObject({ runtime: 'process', image: undefined, command: ['/bin/echo', 'hi'], mode: 'global-job' });
  });

  test('environment and labels as lists; healthcheck as a string, disabled, or timings only', () => {
    const stack = parseStack(yaml(
      'services:',
      '  a:',
      '    image: x',
      '    environment: ["A=1", "B"]',
      '    healthcheck: { test: curl -f http://localhost/ }',
      '  b:',
      '    image: x',
      '    healthcheck: { disable: true }',
      '  c:',
      '    image: x',
      '    healthcheck: { interval: 10s }',
    ), 'stack.yml');
    expect(stack.services.map((s) => s.healthcheck)).toEqual([
      { test: ['CMD-SHELL', 'curl -f http://localhost/'], intervalNs: undefined, timeoutNs: undefined, retries: undefined, startPeriodNs: undefined },
      { test: ['NONE'] },
      { test: [], intervalNs: 10e9, timeoutNs: undefined, retries: undefined, startPeriodNs: undefined },
    ]);
    expect(stack.services[0]!.environment).toEqual(['A=1', 'B']);
  });

  test('depends_on: the list form is service_started; the map form names its condition', () => {
    const stack = parseStack(yaml(
      'services:',
      '  db:',
      '    image: db',
      '    healthcheck: { test: ["CMD", "pg_isready"] }',
      '  migrate:',
      '    image: app',
      '    depends_on: [db]',
      '    deploy: { mode: replicated-job }',
      '  web:',
      '    image: app',
      '    depends_on:',
      '      db: { condition: service_healthy }',
      '      migrate: { condition: service_completed_successfully }',
      '      cache:',
      '  cache:',
      '    image: redis',
    ), 'stack.yml');
    expect(stack.services.find((s) => s.name === 'migrate')!.dependsOn).toEqual([{ service: 'db', condition: 'service_started', key: 0 }]);
    expect(stack.services.find((s) => s.name === 'web')!.dependsOn).toEqual([
      { service: 'db', condition: 'service_healthy', key: 'db' },
      { service: 'migrate', condition: 'service_completed_successfully', key: 'migrate' },
      { service: 'cache', condition: 'service_started', key: 'cache' },
    ]);
  });

  test('networks: an empty declaration is accepted', () => {
    const stack: Stack = parseStack(yaml('services:', '  a: { image: x }', 'networks: {}'), 'stack.yml');
    expect(stack.services).toHaveLength(1);
  });

  test('commands split as a shell would, without expanding anything', () => {
    expect(splitShellWords(`sh -c 'echo $HOME' "a \\"b\\"" c\\ d   `)).toEqual(['sh', '-c', 'echo $HOME', 'a "b"', 'c d']);
    expect(splitShellWords('')).toEqual([]);
    expect(splitShellWords('a "" b')).toEqual(['a', '', 'b']);
  });
});

describe('parseStack: every error names the file, line, column and key path', () => {
  test('the example of the issue: a replica count that is not a number', () => {
    expect(refusal(yaml(
      'services:',
      '  web:',
      '    image: nginx',
      '    deploy:',
      '      mode: replicated',
      '      placement: { constraints: [] }',
      '      replicas: three',
    ))).toEqual(['stack.yml:7:7: services.web.deploy.replicas: must be a non-negative integer, got "three"']);
  });

  test('several errors are all reported, one per line, in the order of the file', () => {
    expect(refusal(yaml(
      'services:',
      '  web:',
      '    image: nginx',
      '    ports: ["8080:80", "99999:80", { published: 80 }]',
      '    stop_grace_period: 10',
      '    deploy:',
      '      replicas: -1',
      '      resources: { limits: { memory: lots, cpus: many } }',
      '      restart_policy: { condition: always }',
      '      update_config: { max_failure_ratio: 2, order: first }',
      '  api:',
      '    image: api',
      '    healthcheck: { test: ["RUN", "x"], interval: soon }',
      '    environment: 5',
    ), 'files/app.yml')).toEqual([
      'files/app.yml:4:24: services.web.ports[1]: has no valid port in "99999:80" ("99999": ports are 1 to 65535)',
      'files/app.yml:4:36: services.web.ports[2].target: is required',
      'files/app.yml:5:5: services.web.stop_grace_period: must be a duration such as 10s, 1m30s or 500ms, got 10',
      'files/app.yml:7:7: services.web.deploy.replicas: must be a non-negative integer, got -1',
      'files/app.yml:8:30: services.web.deploy.resources.limits.memory: must be a size such as 512M or 1G, got "lots"',
      'files/app.yml:8:44: services.web.deploy.resources.limits.cpus: must be a number of CPUs such as 0.5 or "2", got "many"',
      'files/app.yml:9:25: services.web.deploy.restart_policy.condition: must be none, on-failure or any, got "always"',
      'files/app.yml:10:24: services.web.deploy.update_config.max_failure_ratio: must be a number from 0 to 1, got 2',
      'files/app.yml:10:46: services.web.deploy.update_config.order: must be stop-first or start-first, got "first"',
      'files/app.yml:13:20: services.api.healthcheck.test: a list must start with CMD, CMD-SHELL or NONE, got "RUN"',
      'files/app.yml:13:40: services.api.healthcheck.interval: must be a duration such as 10s, 1m30s or 500ms, got "soon"',
      'files/app.yml:14:5: services.api.environment: must be a map or a list of KEY=VALUE strings, got 5',
    ]);
  });

  test('keys we do not run are named as unsupported, each at its line; unknown keys too', () => {
    expect(refusal(yaml(
      'services:',
      '  web:',
      '    image: nginx',
      '    build: .',
      '    network_mode: host',
      '    privileged: true',
      '    cap_add: [NET_ADMIN]',
      '    devices: ["/dev/fuse"]',
      '    links: [db]',
      '    imagee: typo',
      '    ports: [{ target: 80, host_ip: 127.0.0.1 }]',
      '    deploy:',
      '      resources: { limits: { pids: 10 } }',
      '      endpoint_mode: dnsrr',
      '    healthcheck: { test: "true", start_interval: 1s }',
      '    depends_on: { db: { condition: service_started, restart: true } }',
      '  db: { image: db }',
      'include: [other.yml]',
    ))).toEqual([
      'stack.yml:4:5: services.web.build: is not supported by swarm up',
      'stack.yml:5:5: services.web.network_mode: is not supported by swarm up',
      'stack.yml:6:5: services.web.privileged: is not supported by swarm up',
      'stack.yml:7:5: services.web.cap_add: is not supported by swarm up',
      'stack.yml:8:5: services.web.devices: is not supported by swarm up',
      'stack.yml:9:5: services.web.links: is not supported by swarm up',
      'stack.yml:10:5: services.web.imagee: is not a known key (not supported by swarm up)',
      'stack.yml:11:27: services.web.ports[0].host_ip: is not supported by swarm up',
      'stack.yml:13:30: services.web.deploy.resources.limits.pids: is not supported by swarm up',
      'stack.yml:14:7: services.web.deploy.endpoint_mode: must be vip (dnsrr is not supported), got "dnsrr"',
      'stack.yml:15:34: services.web.healthcheck.start_interval: is not supported by swarm up',
      'stack.yml:16:53: services.web.depends_on.db.restart: is not supported by swarm up',
      'stack.yml:18:1: include: is not supported by swarm up',
    ]);
  });

  test('networks other than an empty declaration, volume drivers other than local, and service networks are refused', () => {
    expect(refusal(yaml(
      'services:',
      '  web:',
      '    image: nginx',
      '    networks: [front]',
      'volumes:',
      '  data: { driver: nfs }',
      '  logs: { external: true }',
      'networks:',
      '  front: {}',
    ))).toEqual([
      'stack.yml:4:5: services.web.networks: is not supported by swarm up',
      'stack.yml:6:11: volumes.data.driver: must be local (the only volume driver supported), got "nfs"',
      'stack.yml:7:11: volumes.logs.external: is not supported by swarm up',
      'stack.yml:8:1: networks: must be empty (networks are not supported: tasks use the host network or ingress ports), got a map',
    ]);
  });

  test('YAML syntax errors name their line; an empty file and a file without services are refused', () => {
    expect(refusal('services:\n  web:\n    image: [nginx\n')[0]).toMatch(/^stack\.yml:4:1: YAML: /);
    expect(refusal('services:\n  web: {image: a}\n  web: {image: b}\n')).toEqual(['stack.yml:3:3: YAML: Map keys must be unique']);
    expect(refusal('')).toEqual(['stack.yml:1:1: the file is empty: a stack needs services:']);
    expect(refusal('services: {}\n')).toEqual(['stack.yml:1:1: services: a stack needs at least one service']);
    expect(refusal('version: "3"\n')).toEqual(['stack.yml:1:1: services: is required']);
    expect(refusal('services: [web]\n')).toEqual(['stack.yml:1:1: services: must be a map, got a list']);
  });

  test('the cross-field rules: image or x-runtime: process, what a process cannot have, references, jobs, names', () => {
    expect(refusal(yaml(
      'services:',
      '  noimage:',
      '    command: run',
      '  proc:',
      '    x-runtime: process',
      '    image: nginx',
      '    hostname: h',
      '    volumes: ["/a:/b"]',
      '  proc2:',
      '    x-runtime: process',
      '  refs:',
      '    image: x',
      '    secrets: [nope]',
      '    configs: [{ source: gone }]',
      '    volumes: ["data:/data", { type: tmpfs, source: x, target: /t }]',
      '    working_dir: relative/dir',
      '  job:',
      '    image: x',
      '    deploy: { mode: replicated-job, replicas: 0, update_config: { parallelism: 1 }, rollback_config: {} }',
      '  glob:',
      '    image: x',
      '    deploy: { mode: global, replicas: 2 }',
      '  bad.name:',
      '    image: x',
      '  runtime:',
      '    image: x',
      '    x-runtime: vm',
      'secrets:',
      '  s1: {}',
      '  s2: { file: a, external: true }',
    ))).toEqual([
      'stack.yml:2:3: services.noimage: image is required (or x-runtime: process, to run the command as a host process)',
      'stack.yml:4:3: services.proc: x-runtime: process needs a command to run',
      'stack.yml:6:5: services.proc.image: x-runtime: process runs the command on the host and no image; remove image',
      'stack.yml:7:5: services.proc.hostname: x-runtime: process runs on the host: it has the host\'s name',
      'stack.yml:8:5: services.proc.volumes: x-runtime: process runs on the host: it has no volumes',
      'stack.yml:9:3: services.proc2: x-runtime: process needs a command to run',
      'stack.yml:13:15: services.refs.secrets[0]: secret \'nope\' is not declared under the top-level secrets:',
      'stack.yml:14:15: services.refs.configs[0]: config \'gone\' is not declared under the top-level configs:',
      'stack.yml:15:15: services.refs.volumes[0]: volume \'data\' is not declared under the top-level volumes:',
      'stack.yml:15:29: services.refs.volumes[1]: a tmpfs mount has no source',
      'stack.yml:16:5: services.refs.working_dir: must be an absolute path in the container, got "relative/dir" (a relative one is the stack file\'s directory only with x-runtime: process)',
      'stack.yml:19:37: services.job.deploy.replicas: a replicated job needs at least 1 completion',
      'stack.yml:19:50: services.job.deploy.update_config: a job (replicated-job) runs to completion and is never rolled: it has no update_config',
      'stack.yml:19:85: services.job.deploy.rollback_config: a job (replicated-job) runs to completion and is never rolled: it has no rollback_config',
      'stack.yml:22:29: services.glob.deploy.replicas: a global service runs one task per node: it has no replicas',
      'stack.yml:23:3: services["bad.name"]: \'bad.name\' is not a valid service name (letters and digits, with - or _ between them)',
      'stack.yml:27:5: services.runtime.x-runtime: must be container or process, got "vm"',
      'stack.yml:29:3: secrets.s1: needs file: (created by the stack) or external: true (one that exists)',
      'stack.yml:30:3: secrets.s2: has both file: and external: true; give one',
    ]);
  });

  test('short syntaxes: bad ports, mounts, secrets and command quoting are named precisely', () => {
    expect(refusal(yaml(
      'services:',
      '  web:',
      '    image: x',
      '    command: echo "unterminated',
      '    ports: ["127.0.0.1:80:80", "8000-8010:80", "80/quic", "a:b", 70000]',
      '    volumes: ["~/data:/data", "/a:/b:z", "relative", "/a:b"]',
      '    secrets: [""]',
      '    configs: [{ source: c, mode: 0999 }]',
      'configs:',
      '  c: { file: c.txt }',
    ))).toEqual([
      'stack.yml:4:5: services.web.command: has an unterminated " quote: "echo \\"unterminated"',
      'stack.yml:5:13: services.web.ports[0]: "127.0.0.1:80:80": a host address is not supported (a published port listens on every address)',
      'stack.yml:5:32: services.web.ports[1]: "8000-8010:80": port ranges are not supported; list each port',
      'stack.yml:5:48: services.web.ports[2]: "80/quic": the protocol must be tcp, udp or sctp',
      'stack.yml:5:59: services.web.ports[3]: must be "published:target[/protocol]" or "target[/protocol]" (e.g. "8080:80/udp"), got "a:b"',
      'stack.yml:5:66: services.web.ports[4]: has no valid port in "70000" ("70000": ports are 1 to 65535)',
      'stack.yml:6:15: services.web.volumes[0]: ~ is not expanded; give the host path in full ("~/data")',
      'stack.yml:6:31: services.web.volumes[1]: the mount option "z" is not supported (ro or rw) in "/a:/b:z"',
      'stack.yml:6:42: services.web.volumes[2]: an anonymous volume\'s target must be an absolute path, got "relative"',
      'stack.yml:6:54: services.web.volumes[3]: the target must be an absolute path, got "b"',
      'stack.yml:7:15: services.web.secrets[0]: must be a name or a map with source:, got ""',
      'stack.yml:8:28: services.web.configs[0].mode: must be a file mode from 0 to 0777 (octal, e.g. 0440), got 999',
    ]);
  });

  test('depends_on: unknown services, itself, conditions the dependency cannot meet', () => {
    expect(refusal(yaml(
      'services:',
      '  web:',
      '    image: x',
      '    depends_on:',
      '      ghost: { condition: service_started }',
      '      web: { condition: service_started }',
      '      api: { condition: service_healthy }',
      '      worker: { condition: service_completed_successfully }',
      '      off: { condition: service_healthy }',
      '  api: { image: x }',
      '  worker: { image: x, deploy: { mode: global } }',
      '  off: { image: x, healthcheck: { disable: true } }',
    ))).toEqual([
      'stack.yml:5:7: services.web.depends_on.ghost: \'ghost\' is not a service of this file',
      'stack.yml:6:7: services.web.depends_on.web: a service cannot depend on itself (web)',
      'stack.yml:7:7: services.web.depends_on.api: service_healthy: \'api\' has no healthcheck (give it a healthcheck with a test)',
      'stack.yml:8:7: services.web.depends_on.worker: service_completed_successfully: \'worker\' is a global service and never completes (give it deploy.mode: replicated-job or global-job)',
      'stack.yml:9:7: services.web.depends_on.off: service_healthy: \'off\' has no healthcheck (give it a healthcheck with a test)',
    ]);
  });

  test('depends_on cycles are refused, naming the cycle, once each', () => {
    expect(refusal(yaml(
      'services:',
      '  a: { image: x, depends_on: [b] }',
      '  b: { image: x, depends_on: [c] }',
      '  c: { image: x, depends_on: [a] }',
      '  d: { image: x, depends_on: [e] }',
      '  e: { image: x, depends_on: [d, a] }',
    ))).toEqual([
      'stack.yml:2:18: services.a.depends_on: a dependency cycle: a -> b -> c -> a',
      'stack.yml:5:18: services.d.depends_on: a dependency cycle: d -> e -> d',
    ]);
  });

  test('a dependency on a service with errors of its own is not reported twice', () => {
    expect(refusal(yaml(
      'services:',
      '  web: { image: x, depends_on: { api: { condition: service_healthy } } }',
      '  api: { image: x, replicas: 2 }',
    ))).toEqual(['stack.yml:3:20: services.api.replicas: is not a known key (not supported by swarm up)']);
  });

  test('an error inside a merged anchor points at the anchor, where the value is written', () => {
    expect(refusal(yaml(
      'x-base: &base',
      '  image: x',
      '  deploy: { replicas: many }',
      'services:',
      '  web:',
      '    <<: *base',
    ))).toEqual(['stack.yml:3:13: services.web.deploy.replicas: must be a non-negative integer, got "many"']);
  });
});

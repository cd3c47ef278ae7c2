// planStack (cli/stack): the stack's services against what the cluster holds, as `GET /services`
// answers. The current side is made the way the server makes it: each spec created through the
// API's own createService on a real store and answered through serviceToDocker, so every
// default the server fills in is there, and an unchanged file must still plan no update.
import { createService, serviceToDocker, updateService } from '../../actors/index.js';
import { formatPlan, parseStack, planStack, toServiceSpecs, type CurrentService, type DockerServiceSpecJson, type StackSpecs } from '../../cli/index.js';
import { Store, type JournalEvent } from '../../journal/index.js';

const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;
const AT = 1_000;

function specsOf(text: string, stackName = 'shop'): StackSpecs {
  return toServiceSpecs(parseStack(text, 'stack.yml'), { stackName, readFile: () => 'data' });
}

/** A cluster: a store the API writes to, with what `GET /services` answers from it. */
class Cluster {
  readonly store = new Store();
  private index = 0;
  private ids = 0;

  apply(event: JournalEvent): void {
    const result = this.store.applyBatch([event], ++this.index);
    if (!result.applied) throw result.error;
  }

  blob(kind: 'secret' | 'config', name: string): void {
    const spec = { annotations: { name, labels: {} }, data: new Uint8Array(4) };
    this.apply(kind === 'secret' ? { type: 'secret.created', v: 1, at: AT, id: `sec${++this.ids}`, spec } : { type: 'config.created', v: 1, at: AT, id: `cfg${++this.ids}`, spec });
  }

  /** A create through the API, as swarm up sends it (DependsOn is not the API's yet). */
  create(spec: DockerServiceSpecJson | Record<string, unknown>): void {
    const { DependsOn: _dependsOn, ...body } = spec as DockerServiceSpecJson;
    this.apply(createService(this.store, body, `svc${++this.ids}`, AT));
  }

  update(id: string, spec: Record<string, unknown>): void {
    this.apply(updateService(this.store, id, this.store.get('service', id)!.meta.version, spec, AT));
  }

  services(): CurrentService[] {
    return this.store.list('service').map((s) => serviceToDocker(s, { running: 0, desired: 0, completed: 0, held: null }) as unknown as CurrentService);
  }
}

const FULL = yaml(
  'services:',
  '  web:',
  '    image: nginx:1.27',
  '    command: nginx -g "daemon off;"',
  '    environment: { A: 1 }',
  '    labels: { tier: front }',
  '    ports: ["8080:80"]',
  '    secrets: [db_pass]',
  '    configs: [conf]',
  '    healthcheck: { test: curl -f http://localhost/, interval: 10s }',
  '    volumes: ["/srv:/srv:ro"]',
  '    stop_grace_period: 3s',
  '    deploy:',
  '      replicas: 3',
  '      placement: { constraints: ["node.role==worker"] }',
  '      resources: { limits: { memory: 128M } }',
  '      restart_policy: { condition: on-failure }',
  '      update_config: { parallelism: 2, order: start-first }',
  '  migrate:',
  '    image: app:1',
  '    deploy: { mode: replicated-job }',
  '  agent:',
  '    x-runtime: process',
  '    command: /usr/bin/env true',
  '    deploy: { mode: global }',
  'secrets:',
  '  db_pass: { file: pass.txt }',
  'configs:',
  '  conf: { file: conf.txt }',
);

describe('planStack', () => {
  test('against an empty cluster: every service is created, in the file\'s order', () => {
    const specs = specsOf(FULL);
    const plan = planStack(specs, []);
    expect(plan.create.map((c) => [c.name, c.fullName])).toEqual([['web', 'shop_web'], ['migrate', 'shop_migrate'], ['agent', 'shop_agent']]);
    expect(plan.create[0]!.spec).toBe(specs.services[0]);
    expect(plan.update).toEqual([]);
    expect(plan.unchanged).toEqual([]);
    expect(plan.remove).toEqual([]);
    expect(formatPlan(plan)).toEqual(['create web (3 replicas)', 'create migrate (job, 1 completion)', 'create agent (global, process)']);
  });

  test('an unchanged file plans no update, though the server holds every default and resolved ids', () => {
    const cluster = new Cluster();
    cluster.blob('secret', 'shop_db_pass');
    cluster.blob('config', 'shop_conf');
    const specs = specsOf(FULL);
    for (const spec of specs.services) cluster.create(spec);
    // The server's copy has what the file left out (update defaults, rollback config, restart delay, secret ids).
    const current = cluster.services();
    expect(current[0]!.Spec).toMatchObject({ RollbackConfig: { Parallelism: 1, Monitor: 5e9 }, TaskTemplate: { ContainerSpec: { Secrets: [{ SecretID: 'sec1' }] } } });
    const plan = planStack(specs, current);
    expect(plan.create).toEqual([]);
    expect(plan.update).toEqual([]);
    expect(plan.unchanged.map((u) => u.name)).toEqual(['web', 'migrate', 'agent']);
    expect(formatPlan(plan)).toEqual(['unchanged web', 'unchanged migrate', 'unchanged agent']);
  });

  test('a changed file plans an update with each changed field, old and new, and the version it is made against', () => {
    const cluster = new Cluster();
    cluster.blob('secret', 'shop_db_pass');
    cluster.blob('config', 'shop_conf');
    for (const spec of specsOf(FULL).services) cluster.create(spec);
    const changed = specsOf(FULL
      .replace('environment: { A: 1 }', 'environment: { A: 2, B: x }')
      .replace('replicas: 3', 'replicas: 5')
      .replace('labels: { tier: front }', 'labels: { tier: back, zone: a }')
      .replace('update_config: { parallelism: 2, order: start-first }', 'update_config: { parallelism: 2, order: start-first, delay: 1m30s }')
      .replace('stop_grace_period: 3s', 'stop_grace_period: 500ms'));
    const current = cluster.services();
    const plan = planStack(changed, current);
    expect(plan.update).toHaveLength(1);
    const web = plan.update[0]!;
    expect(web).toMatchObject({ name: 'web', fullName: 'shop_web', id: current.find((s) => s.Spec.Name === 'shop_web')!.ID, version: current.find((s) => s.Spec.Name === 'shop_web')!.Version.Index });
    expect(web.spec).toBe(changed.services[0]);
    expect(web.changes).toEqual([
      { path: 'TaskTemplate.ContainerSpec.Labels.tier', old: 'front', new: 'back' },
      { path: 'TaskTemplate.ContainerSpec.Labels.zone', old: undefined, new: 'a' },
      { path: 'TaskTemplate.ContainerSpec.Env', old: ['A=1'], new: ['A=2', 'B=x'] },
      { path: 'TaskTemplate.ContainerSpec.StopGracePeriod', old: 3e9, new: 5e8 },
      { path: 'Mode.Replicated.Replicas', old: 3, new: 5 },
      { path: 'UpdateConfig.Delay', old: 0, new: 90e9 },
    ]);
    expect(plan.unchanged.map((u) => u.name)).toEqual(['migrate', 'agent']);
    expect(formatPlan(plan)).toEqual([
      'update web: TaskTemplate.ContainerSpec.Labels.tier: "front" -> "back"',
      'update web: TaskTemplate.ContainerSpec.Labels.zone: (none) -> "a"',
      'update web: TaskTemplate.ContainerSpec.Env: ["A=1"] -> ["A=2","B=x"]',
      'update web: TaskTemplate.ContainerSpec.StopGracePeriod: 3s -> 500ms',
      'update web: Mode.Replicated.Replicas: 3 -> 5',
      'update web: UpdateConfig.Delay: 0s -> 1m30s',
      'unchanged migrate',
      'unchanged agent',
    ]);
    // The planned body is one the API takes as an update.
    const { DependsOn: _dependsOn, ...body } = web.spec;
    expect(() => cluster.update(web.id, body)).not.toThrow();
    expect(planStack(changed, cluster.services()).update).toEqual([]);
  });

  test('a field the file drops goes back to the server\'s default, and shows so', () => {
    const cluster = new Cluster();
    for (const spec of specsOf(yaml('services:', '  a:', '    image: x', '    deploy: { restart_policy: { condition: none, delay: 1s } }')).services) cluster.create(spec);
    const plan = planStack(specsOf(yaml('services:', '  a:', '    image: x')), cluster.services());
    expect(formatPlan(plan)).toEqual([
      'update a: TaskTemplate.RestartPolicy.Condition: "none" -> "any"',
      'update a: TaskTemplate.RestartPolicy.Delay: 1s -> 5s',
    ]);
  });

  test('prune: the stack\'s services the file no longer has are removed; others\' services are never touched', () => {
    const cluster = new Cluster();
    for (const spec of specsOf(yaml('services:', '  web: { image: x }', '  old: { image: x }', '  older: { image: x }')).services) cluster.create(spec);
    for (const spec of specsOf(yaml('services:', '  old: { image: x }'), 'other').services) cluster.create(spec);
    cluster.create({ Name: 'handmade', TaskTemplate: { ContainerSpec: { Image: 'x' } } });
    const specs = specsOf(yaml('services:', '  web: { image: x }'));
    const current = cluster.services();
    expect(planStack(specs, current).remove).toEqual([]);
    const plan = planStack(specs, current, { prune: true });
    expect(plan.remove.map((r) => [r.name, r.fullName])).toEqual([['old', 'shop_old'], ['older', 'shop_older']]);
    expect(plan.remove[0]!.id).toBe(current.find((s) => s.Spec.Name === 'shop_old')!.ID);
    expect(formatPlan(plan)).toEqual(['unchanged web', 'remove old', 'remove older']);
  });

  test('ForceUpdate is not a change, and an update keeps the server\'s, as docker stack deploy does', () => {
    const cluster = new Cluster();
    const [spec] = specsOf(yaml('services:', '  web: { image: x:1 }')).services;
    cluster.create(spec!);
    const id = cluster.services()[0]!.ID;
    cluster.update(id, { ...spec, TaskTemplate: { ...spec!.TaskTemplate, ForceUpdate: 2 } });
    expect(planStack(specsOf(yaml('services:', '  web: { image: x:1 }')), cluster.services()).update).toEqual([]);
    const plan = planStack(specsOf(yaml('services:', '  web: { image: x:2 }')), cluster.services());
    expect(plan.update[0]!.changes).toEqual([{ path: 'TaskTemplate.ContainerSpec.Image', old: 'x:1', new: 'x:2' }]);
    expect(plan.update[0]!.spec.TaskTemplate.ForceUpdate).toBe(2);
  });

  test('DependsOn is compared on its own: a server that keeps it sees no change; one that does not shows it', () => {
    const text = yaml('services:', '  web: { image: x, depends_on: { db: { condition: service_healthy } } }', '  db: { image: x, healthcheck: { test: "true" } }');
    const specs = specsOf(text);
    const cluster = new Cluster();
    for (const spec of specs.services) cluster.create(spec);
    const withoutIt = cluster.services();
    expect(formatPlan(planStack(specs, withoutIt))).toEqual([
      'update web: DependsOn: (none) -> [{"Service":"shop_db","Condition":"service_healthy"}]',
      'unchanged db',
    ]);
    const keptIt = withoutIt.map((s) => (s.Spec.Name === 'shop_web' ? { ...s, Spec: { ...s.Spec, DependsOn: [{ Service: 'shop_db', Condition: 'service_healthy' }] } } : s));
    expect(planStack(specs, keptIt).update).toEqual([]);
  });

  test('a service of the same name made by hand is updated into the stack: the namespace label shows as a change', () => {
    const cluster = new Cluster();
    cluster.create({ Name: 'shop_web', TaskTemplate: { ContainerSpec: { Image: 'x' } } });
    const plan = planStack(specsOf(yaml('services:', '  web: { image: x }')), cluster.services());
    expect(formatPlan(plan)).toEqual([
      'update web: Labels["com.docker.stack.namespace"]: (none) -> "shop"',
      'update web: TaskTemplate.ContainerSpec.Labels["com.docker.stack.namespace"]: (none) -> "shop"',
    ]);
  });
});

// Start order (beyond SwarmKit; Compose's `depends_on` with conditions, which `docker stack
// deploy` ignores, moby/moby#31333): a service that names dependencies gets no task until each of
// them meets its condition. Start order only, as in Compose: the hold applies while the service
// has no task in the store, in any state; once it has had one, a dependency that fails later does
// not stop it, and a new leader (which reads the same store) does not hold it again.
//
// This module is the pure core, read by the service actor's plan (service.ts) and by the control
// API's service status. Convergence is by messages: the orchestration supervisor keeps an index of
// held services by the names of their dependencies and tells them when one of those changes.
import type { DependencyCondition, Service, ServiceDependency, StoreReader, Task } from '../../journal/index.js';
import { isCurrent, isLive } from './reconcile.js';

/** Compose's spelling of each condition (the control API's too). */
export const COMPOSE_CONDITIONS: { readonly [C in DependencyCondition]: string } = {
  started: 'service_started',
  healthy: 'service_healthy',
  completedSuccessfully: 'service_completed_successfully',
};

/** A health check the engine runs: given, and not Docker's ['NONE'] (checks off). */
export function hasHealthCheck(service: Service): boolean {
  const check = service.spec.task.container.healthcheck;
  return check !== null && check.test.length > 0 && check.test[0] !== 'NONE';
}

function isJobMode(service: Service): boolean {
  return service.spec.mode.kind === 'replicatedJob' || service.spec.mode.kind === 'globalJob';
}

/** Why `started` is not met yet (every desired task of the dependency running), or null when it is. */
function startedShortfall(dependency: Service, tasks: readonly Task[]): string | null {
  const mode = dependency.spec.mode;
  switch (mode.kind) {
    case 'replicated': {
      // One running task per slot counts (an update's start-first pair is one slot).
      const slots = new Set<number>();
      for (const task of tasks) if (task.desiredState === 'running' && task.status.state === 'running' && task.slot >= 1 && task.slot <= mode.replicas) slots.add(task.slot);
      return slots.size >= mode.replicas ? null : `${slots.size}/${mode.replicas} running`;
    }
    case 'global': {
      let live = 0;
      let running = 0;
      for (const task of tasks) {
        if (!isLive(task)) continue;
        live++;
        if (task.status.state === 'running') running++;
      }
      if (live === 0) return '0/0 running (no task yet)';
      return running === live ? null : `${running}/${live} running`;
    }
    case 'replicatedJob':
    case 'globalJob':
      // A job's task may finish before anyone sees it running: complete counts as started.
      return tasks.some((t) => t.status.state === 'running' || t.status.state === 'complete') ? null : 'no task running or completed yet';
  }
}

/** Why `completedSuccessfully` is not met yet, or null when it is. */
function completedShortfall(dependency: Service, tasks: readonly Task[]): string | null {
  const mode = dependency.spec.mode;
  switch (mode.kind) {
    case 'replicated':
    case 'global':
      return `${dependency.spec.annotations.name} is not a job`;
    case 'replicatedJob': {
      // As the reconciler counts: a slot is done with a success of the current spec (complete is exit 0).
      const done = new Set<number>();
      for (const task of tasks) if (task.status.state === 'complete' && task.slot >= 1 && task.slot <= mode.totalCompletions && isCurrent(task, dependency)) done.add(task.slot);
      return done.size >= mode.totalCompletions ? null : `${done.size}/${mode.totalCompletions} completed`;
    }
    case 'globalJob': {
      // Every node's newest task of the current spec completed; a task the orchestrator retired
      // without completing (its node drained or gone) does not count against it.
      const newest = new Map<string, Task>();
      for (const task of tasks) {
        if (!isCurrent(task, dependency)) continue;
        const seen = newest.get(task.nodeId);
        if (seen === undefined || task.meta.createdAt > seen.meta.createdAt || (task.meta.createdAt === seen.meta.createdAt && task.meta.version > seen.meta.version)) newest.set(task.nodeId, task);
      }
      let considered = 0;
      let done = 0;
      for (const task of newest.values()) {
        const retired = (task.desiredState === 'shutdown' || task.desiredState === 'remove') && task.status.state !== 'complete';
        if (retired) continue;
        considered++;
        if (task.status.state === 'complete') done++;
      }
      if (considered === 0) return '0/0 completed (no task yet)';
      return done === considered ? null : `${done}/${considered} completed`;
    }
  }
}

/**
 * Why this one dependency does not meet its condition in the store, or null when it does. The
 * text follows the condition: `1/2 running`, `not found`, `db has no health check`.
 */
export function dependencyShortfall(dependency: ServiceDependency, reader: StoreReader): string | null {
  const service = reader.byName('service', dependency.service);
  if (service === undefined) return 'not found';
  const tasks = reader.tasksByServiceInStoreOrder(service.id);
  switch (dependency.condition) {
    case 'started':
      return startedShortfall(service, tasks);
    case 'healthy':
      // A task of ours is running only once its health check passed (the agent reports running
      // after the first healthy probe), so healthy is started, of a service that has a check.
      if (!hasHealthCheck(service)) return `${dependency.service} has no health check`;
      return startedShortfall(service, tasks);
    case 'completedSuccessfully':
      return completedShortfall(service, tasks);
  }
}

/**
 * Whether the service is held by its dependencies: null when it is free (no dependencies, each
 * met, or it has had a task already), else what it waits for, e.g.
 * `waiting for db (service_healthy): 1/2 running`. The first unmet dependency in declared order.
 */
export function dependencyHold(service: Service, reader: StoreReader): string | null {
  if (service.spec.dependsOn.length === 0) return null;
  if (reader.tasksByServiceInStoreOrder(service.id).length > 0) return null;
  for (const dependency of service.spec.dependsOn) {
    const shortfall = dependencyShortfall(dependency, reader);
    if (shortfall !== null) return `waiting for ${dependency.service} (${COMPOSE_CONDITIONS[dependency.condition]}): ${shortfall}`;
  }
  return null;
}

/** Whether a condition makes sense for an existing dependency (the control API refuses the rest). */
export function conditionRefusal(dependency: ServiceDependency, target: Service): string | null {
  if (dependency.condition === 'healthy' && !hasHealthCheck(target)) {
    return `${dependency.service} has no health check: service_healthy needs one (use service_started, or give ${dependency.service} a health check)`;
  }
  if (dependency.condition === 'completedSuccessfully' && !isJobMode(target)) {
    return `${dependency.service} is not a job (mode ${target.spec.mode.kind}): service_completed_successfully needs a replicated or global job`;
  }
  return null;
}

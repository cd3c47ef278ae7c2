// The start-order checker of the orchestration simulation (services' dependsOn). It keeps its own
// replica of a manager's store, applying each committed Raft entry as the manager does (the same
// entries, at their indexes, duplicates skipped by command id), and checks the journal itself:
//
//   no first task of a service with dependencies is created (task.created) unless each dependency
//   met its condition at some entry between the service's creation and that task's entry.
//
// "At some entry", not "at that entry": a service actor plans on the committed store at index k
// and its task.created commits later, at j > k; a dependency's task may fail in between. Start
// order only (Compose's semantics): what the check holds the orchestrator to is that the decision
// was made on a store where the conditions held, which is all a journal can show.
//
// The conditions are restated here from their definition (not imported from the orchestrator), so
// that the check does not share a mistake with what it checks. A service that a snapshot brought
// in, still waiting, is not checked (its history before the snapshot is not known here).
import type { DependencyCondition, Service, ServiceDependency, StoreReader, Task } from '../journal/index.js';
import { Store, decodeBatch, sameValue } from '../journal/index.js';
import { decodeMessage } from '../runtime/index.js';

interface Pending {
  /** Pairs `name/condition` seen met since the service was created. */
  readonly met: Set<string>;
  /** Seen unmet at some entry: it was held. */
  held: boolean;
  /** Brought in by a snapshot: not checked. */
  readonly unknown: boolean;
}

export interface DependencyCheckStats {
  /** Services with dependencies whose first task was checked. */
  readonly checked: Set<string>;
  /** Of those, ones that were held first (a dependency unmet at some entry), then released. */
  readonly released: Set<string>;
}

const key = (d: ServiceDependency): string => `${d.service}/${d.condition}`;

function hasCheck(service: Service): boolean {
  const check = service.spec.task.container.healthcheck;
  return check !== null && check.test.length > 0 && check.test[0] !== 'NONE';
}

const current = (task: Task, service: Service): boolean => task.spec === service.spec.task || sameValue(task.spec, service.spec.task);
const wanted = (task: Task): boolean => (task.desiredState === 'running' || task.desiredState === 'ready' || task.desiredState === 'complete') && task.status.state !== 'complete'
  && !['shutdown', 'failed', 'rejected', 'remove', 'orphaned'].includes(task.status.state);

/** Whether `condition` holds of the service named `name` in the store (the definition, restated). */
export function conditionMet(reader: StoreReader, name: string, condition: DependencyCondition): boolean {
  const service = reader.byName('service', name);
  if (service === undefined) return false;
  const tasks = reader.tasksByService(service.id);
  const mode = service.spec.mode;
  const started = (): boolean => {
    switch (mode.kind) {
      case 'replicated': {
        const slots = new Set(tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running' && t.slot >= 1 && t.slot <= mode.replicas).map((t) => t.slot));
        return slots.size >= mode.replicas;
      }
      case 'global': {
        const live = tasks.filter(wanted);
        return live.length > 0 && live.every((t) => t.status.state === 'running');
      }
      default:
        return tasks.some((t) => t.status.state === 'running' || t.status.state === 'complete');
    }
  };
  switch (condition) {
    case 'started':
      return started();
    case 'healthy':
      return hasCheck(service) && started();
    case 'completedSuccessfully': {
      if (mode.kind === 'replicatedJob') {
        const done = new Set(tasks.filter((t) => t.status.state === 'complete' && current(t, service) && t.slot >= 1 && t.slot <= mode.totalCompletions).map((t) => t.slot));
        return done.size >= mode.totalCompletions;
      }
      if (mode.kind !== 'globalJob') return false;
      // Per node, the newest task of the current spec: complete (one retired unfinished aside).
      const newest = new Map<string, Task>();
      for (const t of tasks) {
        if (!current(t, service)) continue;
        const seen = newest.get(t.nodeId);
        if (seen === undefined || t.meta.createdAt > seen.meta.createdAt || (t.meta.createdAt === seen.meta.createdAt && t.meta.version > seen.meta.version)) newest.set(t.nodeId, t);
      }
      const counted = [...newest.values()].filter((t) => t.status.state === 'complete' || (t.desiredState !== 'shutdown' && t.desiredState !== 'remove'));
      return counted.length > 0 && counted.every((t) => t.status.state === 'complete');
    }
  }
}

interface Entry {
  readonly index: number;
  readonly type: string;
  readonly data: Uint8Array;
}

export class DependencyChecker {
  private store: Store;
  private appliedIds: Set<string>;
  private index: number;
  private readonly pending = new Map<string, Pending>();

  constructor(snapshotData: Uint8Array, snapshotIndex: number, private readonly stats: DependencyCheckStats) {
    ({ store: this.store, applied: this.appliedIds } = readSnapshot(snapshotData));
    this.index = snapshotIndex;
    this.adopt();
  }

  /** A raft.apply to the manager: its snapshot (if any), then its entries. Returns a violation, or undefined. */
  apply(snapshot: { data: Uint8Array; meta: { index: number } } | undefined, entries: readonly Entry[]): string | undefined {
    if (snapshot !== undefined) {
      ({ store: this.store, applied: this.appliedIds } = readSnapshot(snapshot.data));
      this.index = snapshot.meta.index;
      this.pending.clear();
      this.adopt();
    }
    for (const entry of entries) {
      if (entry.index <= this.index) continue;
      this.index = entry.index;
      const command = entry.type === 'confChange' || entry.data.byteLength === 0 ? undefined : decodeMessage(entry.data) as { op: string; opId: string; batch?: Uint8Array };
      if (command === undefined || this.appliedIds.has(command.opId) || command.op !== 'events' || command.batch === undefined) {
        if (command !== undefined) this.appliedIds.add(command.opId);
        this.store.applyBatch([], entry.index);
        continue;
      }
      this.appliedIds.add(command.opId);
      const events = decodeBatch(command.batch).events;
      if (!this.store.applyBatch(events, entry.index).applied) continue;
      for (const e of events) {
        if (e.type === 'service.created' && e.spec.dependsOn.length > 0) this.pending.set(e.id, { met: new Set(), held: false, unknown: false });
        else if (e.type === 'service.removed') this.pending.delete(e.id);
        else if (e.type === 'task.created') {
          const waiting = this.pending.get(e.serviceId);
          if (waiting === undefined) continue;
          this.pending.delete(e.serviceId);
          if (waiting.unknown) continue;
          const service = this.store.get('service', e.serviceId);
          if (service === undefined) continue;
          const unmet = service.spec.dependsOn.find((d) => !waiting.met.has(key(d)));
          if (unmet !== undefined) {
            return `task ${e.id} of service ${service.spec.annotations.name} (${e.serviceId}) was created at index ${entry.index} though its dependency ${unmet.service} (${unmet.condition}) had not met its condition at any entry since the service was created`;
          }
          this.stats.checked.add(e.serviceId);
          if (waiting.held) this.stats.released.add(e.serviceId);
        }
      }
      this.evaluate();
    }
    return undefined;
  }

  /** After each entry: the conditions of every waiting service, each pair latched once met. */
  private evaluate(): void {
    for (const [id, waiting] of this.pending) {
      const service = this.store.get('service', id);
      if (service === undefined) continue;
      for (const d of service.spec.dependsOn) {
        if (waiting.met.has(key(d))) continue;
        if (conditionMet(this.store, d.service, d.condition)) waiting.met.add(key(d));
        else waiting.held = true;
      }
    }
  }

  /** Services a snapshot brought in that still wait: not checked. */
  private adopt(): void {
    for (const service of this.store.list('service')) {
      if (service.spec.dependsOn.length > 0 && this.store.tasksByService(service.id).length === 0) this.pending.set(service.id, { met: new Set(), held: false, unknown: true });
    }
  }
}

/** The manager's snapshot data (actors/cluster/manager.ts): its store and the command ids applied. */
function readSnapshot(data: Uint8Array): { store: Store; applied: Set<string> } {
  if (data.byteLength === 0) return { store: new Store(), applied: new Set() };
  const snapshot = decodeMessage(data) as { v: number; store: Uint8Array; applied: string[] };
  return { store: Store.restore(snapshot.store), applied: new Set(snapshot.applied) };
}

// The committed journal events as the control API's `GET /events` shows them: Docker's event
// message shape (Type, Action, Actor { ID, Attributes }, scope, time, timeNano) plus `Version`,
// the Raft index of the entry (resume with `since=Version`). Docker's swarm events cover nodes,
// services, secrets, configs and networks; tasks are ours too, since convergence is their story.
// Secret and config data never appear: only names and labels.
import type { JournalEvent, StoreReader } from '../../journal/index.js';

export interface EventMessage {
  readonly Version: number;
  readonly Type: string;
  readonly Action: string;
  readonly Actor: { readonly ID: string; readonly Attributes: Readonly<Record<string, string>> };
  readonly scope: 'swarm';
  readonly time: number;
  readonly timeNano: number;
}

/** The object kinds a client may filter on (`filters={"type":[...]}`). */
export const EVENT_TYPES = ['cluster', 'node', 'service', 'task', 'network', 'secret', 'config'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

const ACTIONS: Readonly<Record<string, string>> = {
  created: 'create', registered: 'create', removed: 'remove', rolledBack: 'rollback',
};

/**
 * One event as a message. `store` is the manager's state now (at or after the event): it names a
 * task's service (which never changes), since status events carry only the task's id.
 */
export function eventMessage(event: JournalEvent, version: number, store: StoreReader | undefined): EventMessage {
  const dot = event.type.indexOf('.');
  const type = event.type.slice(0, dot);
  const verb = event.type.slice(dot + 1);
  const attributes: Record<string, string> = {};
  const put = (key: string, value: string | number | undefined | null): void => {
    if (value !== undefined && value !== null && value !== '') attributes[key] = String(value);
  };
  switch (event.type) {
    case 'cluster.created':
    case 'cluster.updated':
    case 'service.created':
    case 'service.updated':
    case 'network.created':
    case 'secret.created':
    case 'config.created':
      put('name', event.spec.annotations.name);
      break;
    case 'node.registered':
      put('name', event.spec.annotations.name);
      put('role', event.spec.role);
      put('state', event.status.state);
      break;
    case 'node.updated':
      put('name', event.spec.annotations.name);
      put('availability', event.spec.availability);
      put('role', event.spec.role);
      break;
    case 'node.statusChanged':
      put('state', event.status.state);
      put('message', event.status.message);
      break;
    case 'service.updateStatusChanged':
    case 'service.rolledBack':
      put('updatestate', event.updateStatus?.state);
      put('message', event.updateStatus?.message);
      break;
    case 'task.created':
      put('service', event.serviceId);
      put('slot', event.slot === 0 ? undefined : event.slot);
      put('node', event.nodeId);
      put('state', event.status.state);
      put('desiredState', event.desiredState);
      break;
    case 'task.assigned':
    case 'task.statusChanged':
    case 'task.allocated':
      put('node', event.type === 'task.assigned' ? event.nodeId : undefined);
      put('state', event.status.state);
      put('message', event.status.message);
      put('err', event.status.err);
      break;
    case 'task.desiredStateChanged':
      put('desiredState', event.desiredState);
      break;
    default:
      break;
  }
  if (type === 'task' && attributes['service'] === undefined) put('service', store?.get('task', event.id)?.serviceId);
  if ((type === 'service' || type === 'node' || type === 'secret' || type === 'config' || type === 'network') && attributes['name'] === undefined) {
    const named = store?.get(type, event.id) as { spec?: { annotations?: { name?: string } } } | undefined;
    put('name', named?.spec?.annotations?.name);
  }
  return {
    Version: version,
    Type: type,
    Action: ACTIONS[verb] ?? 'update',
    Actor: { ID: event.id, Attributes: attributes },
    scope: 'swarm',
    time: Math.floor(event.at / 1000),
    timeNano: event.at * 1_000_000,
  };
}

// The control API's writes as pure functions: a request (in Docker's shape) and the store as the
// request read it, to the events to propose, or a typed refusal (errors.ts) with nothing written.
// The node's HTTP server (cli/node/control.ts) only reads the store, calls these, and writes.
import {
  EVENT_VERSIONS, type JournalEvent, type ServiceCreated, type ServiceRemoved, type ServiceRolledBack, type ServiceUpdated, type StoreReader,
} from '../../journal/index.js';
import { serviceSpecFromDocker } from './docker.js';
import { BadRequestError, NoPreviousSpecError, SpecInvalidError, StaleVersionError } from './errors.js';
import { resolveBlob, resolveService } from './resolve.js';
import { checkBlobRemovable, validateServiceSpec } from './validate.js';

/** `POST /services/create`: the service's events, with the id the caller drew. */
export function createService(reader: StoreReader, body: unknown, id: string, now: number): ServiceCreated {
  const spec = validateServiceSpec(serviceSpecFromDocker(body), reader, null);
  return { type: 'service.created', v: EVENT_VERSIONS['service.created'], at: now, id, spec };
}

function requireVersion(version: number | null, kind: string, id: string, current: number): number {
  if (version === null) throw new BadRequestError(`version: the ${kind}'s current version is required (read it with inspect)`);
  if (version !== current) throw new StaleVersionError(kind, id, version, current);
  return version;
}

/** `POST /services/{ref}/update?version=N`: the whole new spec, made against version N. */
export function updateService(reader: StoreReader, ref: string, version: number | null, body: unknown, now: number): ServiceUpdated {
  const service = resolveService(reader, ref);
  const expectedVersion = requireVersion(version, 'service', service.id, service.meta.version);
  const spec = validateServiceSpec(serviceSpecFromDocker(body), reader, service.id);
  return { type: 'service.updated', v: EVENT_VERSIONS['service.updated'], at: now, id: service.id, spec, expectedVersion };
}

/**
 * `POST /services/{ref}/update?version=N&rollback=previous`: back to the previous spec (the
 * request's body, the current spec in Docker's client, is not used). The previous spec is checked
 * again against today's store (a port taken since, a secret gone), so a rollback cannot bring back
 * what a create would refuse.
 */
export function rollbackService(reader: StoreReader, ref: string, version: number | null, now: number): ServiceRolledBack {
  const service = resolveService(reader, ref);
  const expectedVersion = requireVersion(version, 'service', service.id, service.meta.version);
  if (service.previousSpec === null) throw new NoPreviousSpecError(service.spec.annotations.name);
  try {
    validateServiceSpec(service.previousSpec, reader, service.id);
  } catch (error) {
    if (!(error instanceof SpecInvalidError)) throw error;
    throw new SpecInvalidError(`PreviousSpec.${error.field}`, `cannot roll back: ${error.reason}`, { cause: error });
  }
  return {
    type: 'service.rolledBack', v: 1, at: now, id: service.id, expectedVersion,
    updateStatus: { state: 'rollbackStarted', startedAt: now, completedAt: 0, message: 'manually requested rollback' },
  };
}

/** `DELETE /services/{ref}`. */
export function removeService(reader: StoreReader, ref: string, now: number): ServiceRemoved {
  const service = resolveService(reader, ref);
  return { type: 'service.removed', v: 1, at: now, id: service.id, expectedVersion: null };
}

/** `DELETE /secrets/{ref}`, `DELETE /configs/{ref}`: refused while a service refers to it. */
export function removeBlob(reader: StoreReader, kind: 'secret' | 'config', ref: string, now: number): JournalEvent {
  const found = resolveBlob(reader, kind, ref);
  checkBlobRemovable(kind, found.id, reader);
  return kind === 'secret'
    ? { type: 'secret.removed', v: 1, at: now, id: found.id, expectedVersion: null }
    : { type: 'config.removed', v: 1, at: now, id: found.id, expectedVersion: null };
}

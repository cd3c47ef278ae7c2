// Typed errors of the store: a change the store refuses. The same refusal happens on every
// manager, because the store applies committed events deterministically.
import { RuntimeError } from '../../runtime/index.js';
import type { ObjectKind } from '../events/index.js';

/** The family of refusals of a proposed or committed change. */
export abstract class StoreConflictError extends RuntimeError {}

/** The change was made against a version of the object that is no longer current. */
export class VersionConflictError extends StoreConflictError {
  readonly code = 'VERSION_CONFLICT';
  constructor(readonly kind: ObjectKind, readonly id: string, readonly expectedVersion: number, readonly actualVersion: number) {
    super(`${kind} ${id} is at version ${actualVersion}, the change expected ${expectedVersion}`);
  }
}

/** Another object of the same kind already has this name. */
export class NameConflictError extends StoreConflictError {
  readonly code = 'NAME_CONFLICT';
  constructor(readonly kind: ObjectKind, readonly objectName: string, readonly existingId: string) {
    super(`${kind} name '${objectName}' is taken by ${existingId}`);
  }
}

export class ObjectNotFoundError extends StoreConflictError {
  readonly code = 'OBJECT_NOT_FOUND';
  constructor(readonly kind: ObjectKind, readonly id: string) {
    super(`${kind} ${id} does not exist`);
  }
}

export class ObjectExistsError extends StoreConflictError {
  readonly code = 'OBJECT_EXISTS';
  constructor(readonly kind: ObjectKind, readonly id: string) {
    super(`${kind} ${id} already exists`);
  }
}

/** A change the object's rules forbid: a task state going backwards, a node binding changing. */
export class InvalidTransitionError extends StoreConflictError {
  readonly code = 'INVALID_TRANSITION';
  constructor(readonly kind: ObjectKind, readonly id: string, readonly reason: string) {
    super(`${kind} ${id}: ${reason}`);
  }
}

/** Snapshot bytes that do not hold a store (corrupt, or written by an unknown format). */
export class StoreSnapshotInvalidError extends RuntimeError {
  readonly code = 'STORE_SNAPSHOT_INVALID';
  constructor(readonly field: string, reason: string, options?: { cause?: unknown }) {
    super(`invalid store snapshot: ${field} ${reason}`, options);
  }
}

/** A watcher asked to resume from a version the feed no longer holds. */
export class WatchCompactedError extends RuntimeError {
  readonly code = 'WATCH_COMPACTED';
  constructor(readonly requestedVersion: number, readonly oldestVersion: number) {
    super(`watch from version ${requestedVersion} is no longer available: the feed resumes from version ${oldestVersion} or later`);
  }
}

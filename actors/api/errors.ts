// Typed refusals of the control API's pure core: each names what is wrong (the field path, in the
// Docker Engine API's spelling, since that is the shape a request arrives in) and carries the HTTP
// status a server answers with, as Docker does: 400 for a bad request, 404 for a missing object,
// 409 for a conflict with the current state (a taken name, a stale version).
import { RuntimeError } from '../../runtime/index.js';

export abstract class ApiError extends RuntimeError {
  abstract readonly status: 400 | 404 | 409;
}

/** A spec field with a bad value: `field` is its path, e.g. `TaskTemplate.Placement.Constraints[0]`. */
export class SpecInvalidError extends ApiError {
  readonly code = 'SPEC_INVALID';
  readonly status = 400;
  constructor(readonly field: string, readonly reason: string, options?: { cause?: unknown }) {
    super(`${field}: ${reason}`, options);
  }
}

/** Another object of the kind holds the name (SwarmKit answers AlreadyExists, Docker 409). */
export class NameTakenError extends ApiError {
  readonly code = 'NAME_CONFLICT';
  readonly status = 409;
  constructor(readonly kind: string, readonly objectName: string, readonly holderId: string) {
    super(`Name: a ${kind} named '${objectName}' exists already (${holderId})`);
  }
}

/** A change made against a version of the object that is no longer current. */
export class StaleVersionError extends ApiError {
  readonly code = 'VERSION_CONFLICT';
  readonly status = 409;
  constructor(readonly kind: string, readonly id: string, readonly requestedVersion: number, readonly currentVersion: number) {
    super(`update out of sequence: ${kind} ${id} is at version ${currentVersion}, the request was made against version ${requestedVersion}; read it again`);
  }
}

/** A secret or config that a service still refers to (SwarmKit's rule: remove the reference first). */
export class ObjectInUseError extends ApiError {
  readonly code = 'IN_USE';
  readonly status = 400;
  constructor(readonly kind: 'secret' | 'config', readonly objectName: string, readonly serviceNames: readonly string[]) {
    super(`${kind} ${objectName} is in use by service${serviceNames.length > 1 ? 's' : ''} ${serviceNames.join(', ')}`);
  }
}

/** A secret or config whose data is over SwarmKit's limit. */
export class BlobTooLargeError extends ApiError {
  readonly code = 'TOO_LARGE';
  readonly status = 400;
  constructor(readonly kind: 'secret' | 'config', readonly sizeBytes: number, readonly sizeBytesMax: number) {
    super(`Data: a ${kind} of ${sizeBytes} bytes is over the limit of ${sizeBytesMax / 1024} KiB (${sizeBytesMax} bytes)`);
  }
}

/** No object answers to the reference (id, name or unique id prefix). */
export class ObjectNotFoundApiError extends ApiError {
  readonly code = 'NOT_FOUND';
  readonly status = 404;
  constructor(readonly kind: string, readonly ref: string) {
    super(`${kind} ${ref} not found`);
  }
}

/** More than one object answers to the reference. */
export class AmbiguousRefError extends ApiError {
  readonly code = 'AMBIGUOUS';
  readonly status = 400;
  constructor(readonly kind: string, readonly ref: string, readonly matches: number) {
    super(`${kind} ${ref} is ambiguous (${matches} matches)`);
  }
}

/** A rollback of a service that was never updated. */
export class NoPreviousSpecError extends ApiError {
  readonly code = 'NO_PREVIOUS_SPEC';
  readonly status = 400;
  constructor(readonly serviceName: string) {
    super(`service ${serviceName} does not have a previous spec to roll back to`);
  }
}

/** A request that lacks something it needs, or holds a value of the wrong form (not a spec field). */
export class BadRequestError extends ApiError {
  readonly code = 'BAD_REQUEST';
  readonly status = 400;
}

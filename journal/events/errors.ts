// Typed errors of the event schema: a decoded event or batch that we refuse, naming what is wrong.
import { RuntimeError } from '../../runtime/index.js';

/** A field of a decoded event (or batch) is missing, has the wrong type or an out-of-range value. */
export class EventInvalidError extends RuntimeError {
  readonly code = 'EVENT_INVALID';
  constructor(readonly field: string, readonly reason: string) {
    super(`invalid event: ${field} ${reason}`);
  }
}

/** The event's `type` is not one this version of the schema knows. */
export class EventTypeUnknownError extends RuntimeError {
  readonly code = 'EVENT_TYPE_UNKNOWN';
  readonly field = 'type';
  constructor(readonly type: string) {
    super(`unknown event type '${type}' (field type)`);
  }
}

/** The event's `v` is newer than this build understands, or older than any upgrade we have. */
export class EventVersionUnsupportedError extends RuntimeError {
  readonly code = 'EVENT_VERSION_UNSUPPORTED';
  readonly field = 'v';
  constructor(readonly type: string, readonly version: number, readonly currentVersion: number) {
    super(`unsupported version ${version} of event '${type}' (field v; this build reads up to ${currentVersion})`);
  }
}

/** One event alone encodes to more bytes than a batch may hold: it can never be committed. */
export class EventTooLargeError extends RuntimeError {
  readonly code = 'EVENT_TOO_LARGE';
  constructor(readonly type: string, readonly position: number, readonly bytes: number, readonly bytesMax: number) {
    super(`event ${position} ('${type}') encodes to ${bytes} bytes, more than a batch holds (${bytesMax})`);
  }
}

// Typed errors of the journal: conditions a caller can meet, each with a stable code.
import { RuntimeError } from '../runtime/index.js';

/** The requested index is at or below the log's first index: it was compacted into a snapshot. */
export class LogCompactedError extends RuntimeError {
  readonly code = 'LOG_COMPACTED';
  constructor(readonly index: number, readonly firstIndex: number) {
    super(`log index ${index} was compacted (the log starts at ${firstIndex})`);
  }
}

/** The requested index is beyond the log's last index. */
export class LogUnavailableError extends RuntimeError {
  readonly code = 'LOG_UNAVAILABLE';
  constructor(readonly index: number, readonly lastIndex: number) {
    super(`log index ${index} is not available (the log ends at ${lastIndex})`);
  }
}

/** A stored record failed its checksum or could not be decoded. */
export class LogCorruptError extends RuntimeError {
  readonly code = 'LOG_CORRUPT';
  constructor(readonly key: string, reason: string) {
    super(`log record ${key} is corrupt: ${reason}`);
  }
}

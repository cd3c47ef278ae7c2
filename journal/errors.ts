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

/**
 * A sealed record could not be opened: its authentication tag failed (tampered bytes, or sealed
 * with another key of the same id), its key id is not in the keyring, or it is not a sealed
 * record at all. Never answered with garbage: AES-GCM authenticates before it decrypts.
 */
export class DecryptionError extends RuntimeError {
  readonly code = 'DECRYPTION_FAILED';
  constructor(readonly subject: string, readonly keyId: number | undefined, reason: string, options?: { cause?: unknown }) {
    super(`cannot decrypt ${subject}${keyId === undefined ? '' : ` (key ${keyId})`}: ${reason}`, options);
  }
}

/** The unlock key is well formed but does not open the key file; nothing on disk was changed. */
export class WrongUnlockKeyError extends RuntimeError {
  readonly code = 'WRONG_UNLOCK_KEY';
  constructor() {
    super('the unlock key does not open the key file (wrong or outdated unlock key)');
  }
}

/** The unlock key is not of the form SWMKEY-1-<base64 of 32 bytes>; the reason says what is off. */
export class MalformedUnlockKeyError extends RuntimeError {
  readonly code = 'MALFORMED_UNLOCK_KEY';
  constructor(reason: string) {
    super(`malformed unlock key: ${reason} (expected SWMKEY-1- followed by the base64 of 32 bytes)`);
  }
}

/** The key file is auto-locked: the manager stays locked until it is given the unlock key. */
export class KeyStoreLockedError extends RuntimeError {
  readonly code = 'KEY_STORE_LOCKED';
  constructor() {
    super('the key file is locked: an unlock key is required (swarm unlock)');
  }
}

/** The key file is missing, undecodable or not of a known version. */
export class KeyFileCorruptError extends RuntimeError {
  readonly code = 'KEY_FILE_CORRUPT';
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`the key file is corrupt: ${reason}`, options);
  }
}

/** An unlock key was asked of a key store that is not auto-locked (turn auto-lock on first). */
export class NotAutoLockedError extends RuntimeError {
  readonly code = 'NOT_AUTO_LOCKED';
  constructor() {
    super('the key file is not auto-locked: there is no unlock key to rotate (turn auto-lock on)');
  }
}

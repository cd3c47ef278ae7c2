// The unlock key of an auto-locked manager, in SwarmKit's human-readable form:
// `SWMKEY-1-` + the base64 (standard alphabet, no padding) of a 32-byte secret. The key
// encryption key (KEK) is derived from the secret with HKDF-SHA-256 and a salt kept in the key
// file; the secret is already 256 random bits, so a slow password hash would buy nothing.
import { hkdfSync } from 'node:crypto';
import { MalformedUnlockKeyError } from '../errors.js';
import type { RandomBytes } from './cipher.js';

export const UNLOCK_KEY_PREFIX = 'SWMKEY-1-';
export const UNLOCK_SECRET_BYTES = 32;
export const KEK_BYTES = 32;
const KEK_INFO = 'swarm key encryption key v1';
/** 32 bytes in unpadded base64: 43 characters. */
const SECRET_BASE64_CHARS = Math.ceil((UNLOCK_SECRET_BYTES * 8) / 6);

export function newUnlockKey(randomBytes: RandomBytes): string {
  return formatUnlockKey(randomBytes(UNLOCK_SECRET_BYTES));
}

export function formatUnlockKey(secret: Uint8Array): string {
  return UNLOCK_KEY_PREFIX + Buffer.from(secret).toString('base64').replace(/=+$/, '');
}

/** The secret of an unlock key; a MalformedUnlockKeyError says what is wrong with the string. */
export function parseUnlockKey(unlockKey: string): Uint8Array {
  const key = unlockKey.trim();
  if (!key.startsWith(UNLOCK_KEY_PREFIX)) {
    const dashed = /^SWMKEY-(\d+)-/.exec(key);
    throw new MalformedUnlockKeyError(dashed !== null ? `unknown unlock key version ${dashed[1]}` : `it does not start with ${UNLOCK_KEY_PREFIX}`);
  }
  const body = key.slice(UNLOCK_KEY_PREFIX.length);
  const bad = /[^A-Za-z0-9+/]/.exec(body);
  if (bad !== null) throw new MalformedUnlockKeyError(`character '${bad[0]}' at position ${UNLOCK_KEY_PREFIX.length + bad.index} is not base64`);
  if (body.length !== SECRET_BASE64_CHARS) throw new MalformedUnlockKeyError(`the secret has ${body.length} characters, not ${SECRET_BASE64_CHARS}`);
  const secret = Buffer.from(body, 'base64');
  if (secret.byteLength !== UNLOCK_SECRET_BYTES) throw new MalformedUnlockKeyError(`the secret decodes to ${secret.byteLength} bytes, not ${UNLOCK_SECRET_BYTES}`);
  return new Uint8Array(secret);
}

export function deriveKek(secret: Uint8Array, salt: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, salt, KEK_INFO, KEK_BYTES));
}

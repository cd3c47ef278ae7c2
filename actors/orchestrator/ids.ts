// Object ids as SwarmKit makes them: 25 characters of [0-9a-z], from the Env's randomness (so a
// simulated run makes the same ids every time).
import type { Random } from '../../runtime/index.js';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
export const OBJECT_ID_LENGTH = 25;

export function objectId(random: Random): string {
  let out = '';
  for (let i = 0; i < OBJECT_ID_LENGTH; i++) out += ALPHABET[random.uint32() % ALPHABET.length];
  return out;
}

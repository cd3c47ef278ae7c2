// Structural equality of decoded values, for the store (is a task's spec its service's?) and for
// the batch decoder (is an event's spec the one the batch's previous event carried?).

/**
 * Structural equality of checked values (plain objects, arrays, strings, finite numbers, booleans,
 * null, bytes), key order included: two values it calls equal serialize to the same bytes.
 * Deep equality of decoded values (plain objects, arrays, bytes, primitives; Object.is on leaves).
 */
export function sameValue(a: unknown, b: unknown): boolean {
  // Object.is: 0 and -0 are different values to CBOR.
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  return sameObject(a as Record<string, unknown>, b as Record<string, unknown>);
}

/**
 * The own keys of the objects being compared, a frame per nesting level: what Object.keys would
 * give, without an array per object (the store compares every created task's spec with its
 * service's, a few dozen objects each: at a million tasks, Object.keys was 14% of what the
 * placement allocated). `keysTop` is the first free slot; a frame is popped by lowering it.
 */
const keyStack: string[] = [];
let keysTop = 0;

/** Same own enumerable keys in the same order (as Object.keys lists them), and same values under them. */
function sameObject(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const base = keysTop;
  // for-in lists own enumerable string keys in Object.keys' order, then inherited enumerable ones:
  // none for a plain object (Object.prototype has none), so only others pay for the own-key test.
  const plainB = Object.getPrototypeOf(b) === Object.prototype;
  for (const key in b) if (plainB || Object.hasOwn(b, key)) keyStack[keysTop++] = key;
  const count = keysTop - base;
  const plainA = Object.getPrototypeOf(a) === Object.prototype;
  let i = 0;
  let same = true;
  for (const key in a) {
    if (!plainA && !Object.hasOwn(a, key)) continue;
    // Values are compared as keys are matched; a nested comparison uses the stack above this frame.
    if (i === count || keyStack[base + i] !== key || !sameValue(a[key], b[key])) {
      same = false;
      break;
    }
    i++;
  }
  keysTop = base;
  return same && i === count;
}

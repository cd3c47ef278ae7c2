// A small validating schema: each Check turns an unknown decoded value into a typed one, or throws
// EventInvalidError naming the field path. Objects come out with only the declared keys, in
// declaration order, and labels with their keys sorted, so a decoded value has one shape however
// it was encoded.
//
// Two paths, one set of accepted values. Every Check also has `accepts(value)`: a predicate with
// no field paths and no copies that answers true only when the check would return a value equal
// to `value` itself (exactly the declared keys, in declaration order, labels already sorted, every
// leaf valid). Then the check returns `value` as it is; otherwise it takes the slow path, which
// rebuilds the value or throws the error naming the field. Returning the value itself is safe
// because a decoded value is fresh (cbor-x builds new plain objects per decode, and renames a
// `__proto__` key; within one decoded batch, a task spec may be one object that several events
// reference, see batch.ts, and no one changes decoded values). Events whose keys follow the schema's order (as every builder in
// this repo writes them) are encoded in that order, so decoding them takes the fast path; any
// other order still decodes, by the slow path. `accepts` is never looser than the slow path: a
// property test (test/journal/schema.test.ts) holds both paths to the same verdicts and bytes.
import { EventInvalidError } from './errors.js';

export interface Check<T> {
  /** Checks `value`: itself when `accepts` says so, else the slow path's copy or its error. */
  (value: unknown, field: string): T;
  /** True only if the check accepts `value` and would return it unchanged. */
  readonly accepts: (value: unknown) => boolean;
  /** The slow path alone, all the way down (never `accepts`): the reference the fast path is tested against. */
  readonly strict: (value: unknown, field: string) => T;
}

/**
 * A check from its slow path and its predicate. `slow` checks its children with `child(...)`, or
 * with `child.strict(...)` when `strict` is set; `use` picks the one.
 */
export function check<T>(slow: (value: unknown, field: string, strict: boolean) => T, accepts: (value: unknown) => boolean): Check<T> {
  const fn = ((value: unknown, field: string): T => (accepts(value) ? (value as T) : slow(value, field, false))) as Check<T> & {
    accepts: (value: unknown) => boolean;
    strict: (value: unknown, field: string) => T;
  };
  fn.accepts = accepts;
  fn.strict = (value, field) => slow(value, field, true);
  return fn;
}

/** `child` on the fast path or on the strict one. */
export function use<T>(child: Check<T>, strict: boolean): (value: unknown, field: string) => T {
  return strict ? child.strict : child;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value;
}

export const str: Check<string> = check((value, field) => {
  if (typeof value !== 'string') throw new EventInvalidError(field, `must be a string, got ${describe(value)}`);
  return value;
}, (value) => typeof value === 'string');

/** A non-empty string: ids and names. */
export const id: Check<string> = check((value, field) => {
  if (typeof value !== 'string') throw new EventInvalidError(field, `must be a string, got ${describe(value)}`);
  const text = value;
  if (text.length === 0) throw new EventInvalidError(field, 'must not be empty');
  return text;
}, (value) => typeof value === 'string' && value.length > 0);

export const bool: Check<boolean> = check((value, field) => {
  if (typeof value !== 'boolean') throw new EventInvalidError(field, `must be a boolean, got ${describe(value)}`);
  return value;
}, (value) => typeof value === 'boolean');

/** A safe integer at or above `min` (0 unless told). */
export function int(min = 0): Check<number> {
  return check((value, field) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new EventInvalidError(field, `must be an integer, got ${describe(value)}`);
    if (value < min) throw new EventInvalidError(field, `must be at least ${min}, got ${value}`);
    return value;
  }, (value) => typeof value === 'number' && Number.isSafeInteger(value) && value >= min);
}

export const num: Check<number> = check((value, field) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new EventInvalidError(field, `must be a finite number, got ${describe(value)}`);
  return value;
}, (value) => typeof value === 'number' && Number.isFinite(value));

export const bytes: Check<Uint8Array> = check((value, field) => {
  if (!(value instanceof Uint8Array)) throw new EventInvalidError(field, `must be bytes, got ${describe(value)}`);
  return value;
}, (value) => value instanceof Uint8Array);

export function oneOf<const T extends string>(values: readonly T[]): Check<T> {
  const allowed = new Set<string>(values);
  const only = values.length === 1 ? values[0] : undefined;
  return check((value, field) => {
    if (typeof value !== 'string' || !allowed.has(value)) {
      throw new EventInvalidError(field, `must be one of ${values.join(', ')}, got ${typeof value === 'string' ? `'${value}'` : describe(value)}`);
    }
    return value as T;
  }, only !== undefined ? (value) => value === only : (value) => typeof value === 'string' && allowed.has(value));
}

export function nullable<T>(inner: Check<T>): Check<T | null> {
  const accepts = inner.accepts;
  return check((value, field, strict) => (value === null ? null : use(inner, strict)(value, field)), (value) => value === null || accepts(value));
}

export function arr<T>(item: Check<T>, lengthMax = 100_000): Check<readonly T[]> {
  const accepts = item.accepts;
  return check((value, field, strict) => {
    if (!Array.isArray(value)) throw new EventInvalidError(field, `must be an array, got ${describe(value)}`);
    if (value.length > lengthMax) throw new EventInvalidError(field, `holds ${value.length} items, more than ${lengthMax}`);
    const checkItem = use(item, strict);
    return value.map((each, i) => checkItem(each, `${field}[${i}]`));
  }, (value) => {
    if (!Array.isArray(value) || value.length > lengthMax) return false;
    for (let i = 0; i < value.length; i++) if (!accepts(value[i])) return false;
    return true;
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** A string -> string map (labels). */
export const labels: Check<Readonly<Record<string, string>>> = check((value, field) => {
  if (!isPlainObject(value)) throw new EventInvalidError(field, `must be a map, got ${describe(value)}`);
  const out: Record<string, string> = {};
  for (const key of Object.keys(value).sort()) out[key] = str.strict(value[key], `${field}.${key}`);
  return out;
}, (value) => {
  if (!isPlainObject(value)) return false;
  // for-in lists own keys in the order Object.keys does (then inherited ones, which a fresh
  // decoded object has none of); sorted already means the slow path's copy would be equal.
  let previous: string | undefined;
  for (const key in value) {
    if (!Object.hasOwn(value, key) || typeof value[key] !== 'string' || (previous !== undefined && !(previous < key))) return false;
    previous = key;
  }
  return true;
});

export type Shape<T> = { readonly [K in keyof T]-?: Check<T[K]> };

/** An object with exactly these keys: a missing key or an unknown one is refused. */
export function obj<T>(shape: Shape<T>): Check<T> {
  const keys = Object.keys(shape) as (keyof T & string)[];
  const known = new Set<string>(keys);
  const checks = keys.map((key) => (shape[key] as Check<unknown>).accepts);
  const count = keys.length;
  return check((value, field, strict) => {
    if (!isPlainObject(value)) throw new EventInvalidError(field, `must be an object, got ${describe(value)}`);
    for (const key of Object.keys(value)) {
      if (!known.has(key)) throw new EventInvalidError(`${field}.${key}`, 'is not a known field');
    }
    const out = {} as T;
    for (const key of keys) {
      if (!(key in value)) throw new EventInvalidError(`${field}.${key}`, 'is missing');
      out[key] = use(shape[key], strict)(value[key], `${field}.${key}`);
    }
    return out;
  }, (value) => {
    if (!isPlainObject(value)) return false;
    // Exactly the declared keys, in declaration order, each own and valid: the slow path would
    // build an equal object with the same key order.
    let i = 0;
    for (const key in value) {
      if (i === count || key !== keys[i] || !Object.hasOwn(value, key) || !checks[i]!(value[key])) return false;
      i++;
    }
    return i === count;
  });
}

/** A union discriminated by `kind`. */
export function byKind<T extends { kind: string }>(cases: { [K in T['kind']]: Check<Extract<T, { kind: K }>> }): Check<T> {
  const table = cases as Record<string, Check<T>>;
  return check((value, field, strict) => {
    if (!isPlainObject(value)) throw new EventInvalidError(field, `must be an object, got ${describe(value)}`);
    const kind = value.kind;
    if (typeof kind !== 'string' || !Object.hasOwn(table, kind)) {
      throw new EventInvalidError(`${field}.kind`, `must be one of ${Object.keys(table).join(', ')}`);
    }
    return use(table[kind]!, strict)(value, field);
  }, (value) => {
    if (!isPlainObject(value)) return false;
    const kind = value.kind;
    return typeof kind === 'string' && Object.hasOwn(table, kind) && table[kind]!.accepts(value);
  });
}

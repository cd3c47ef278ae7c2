// A small validating schema: each Check turns an unknown decoded value into a typed one, or throws
// EventInvalidError naming the field path. Objects are rebuilt with only the declared keys, in
// declaration order, so a decoded value has one shape however it was encoded.
import { EventInvalidError } from './errors.js';

export type Check<T> = (value: unknown, field: string) => T;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value;
}

export const str: Check<string> = (value, field) => {
  if (typeof value !== 'string') throw new EventInvalidError(field, `must be a string, got ${describe(value)}`);
  return value;
};

/** A non-empty string: ids and names. */
export const id: Check<string> = (value, field) => {
  const text = str(value, field);
  if (text.length === 0) throw new EventInvalidError(field, 'must not be empty');
  return text;
};

export const bool: Check<boolean> = (value, field) => {
  if (typeof value !== 'boolean') throw new EventInvalidError(field, `must be a boolean, got ${describe(value)}`);
  return value;
};

/** A safe integer at or above `min` (0 unless told). */
export function int(min = 0): Check<number> {
  return (value, field) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new EventInvalidError(field, `must be an integer, got ${describe(value)}`);
    if (value < min) throw new EventInvalidError(field, `must be at least ${min}, got ${value}`);
    return value;
  };
}

export const num: Check<number> = (value, field) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new EventInvalidError(field, `must be a finite number, got ${describe(value)}`);
  return value;
};

export const bytes: Check<Uint8Array> = (value, field) => {
  if (!(value instanceof Uint8Array)) throw new EventInvalidError(field, `must be bytes, got ${describe(value)}`);
  return value;
};

export function oneOf<const T extends string>(values: readonly T[]): Check<T> {
  const allowed = new Set<string>(values);
  return (value, field) => {
    if (typeof value !== 'string' || !allowed.has(value)) {
      throw new EventInvalidError(field, `must be one of ${values.join(', ')}, got ${typeof value === 'string' ? `'${value}'` : describe(value)}`);
    }
    return value as T;
  };
}

export function nullable<T>(check: Check<T>): Check<T | null> {
  return (value, field) => (value === null ? null : check(value, field));
}

export function arr<T>(check: Check<T>, lengthMax = 100_000): Check<readonly T[]> {
  return (value, field) => {
    if (!Array.isArray(value)) throw new EventInvalidError(field, `must be an array, got ${describe(value)}`);
    if (value.length > lengthMax) throw new EventInvalidError(field, `holds ${value.length} items, more than ${lengthMax}`);
    return value.map((item, i) => check(item, `${field}[${i}]`));
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** A string -> string map (labels). */
export const labels: Check<Readonly<Record<string, string>>> = (value, field) => {
  if (!isPlainObject(value)) throw new EventInvalidError(field, `must be a map, got ${describe(value)}`);
  const out: Record<string, string> = {};
  for (const key of Object.keys(value).sort()) out[key] = str(value[key], `${field}.${key}`);
  return out;
};

export type Shape<T> = { readonly [K in keyof T]-?: Check<T[K]> };

/** An object with exactly these keys: a missing key or an unknown one is refused. */
export function obj<T>(shape: Shape<T>): Check<T> {
  const keys = Object.keys(shape) as (keyof T & string)[];
  const known = new Set<string>(keys);
  return (value, field) => {
    if (!isPlainObject(value)) throw new EventInvalidError(field, `must be an object, got ${describe(value)}`);
    for (const key of Object.keys(value)) {
      if (!known.has(key)) throw new EventInvalidError(`${field}.${key}`, 'is not a known field');
    }
    const out = {} as T;
    for (const key of keys) {
      if (!(key in value)) throw new EventInvalidError(`${field}.${key}`, 'is missing');
      out[key] = shape[key](value[key], `${field}.${key}`);
    }
    return out;
  };
}

/** A union discriminated by `kind`. */
export function byKind<T extends { kind: string }>(cases: { [K in T['kind']]: Check<Extract<T, { kind: K }>> }): Check<T> {
  const table = cases as Record<string, Check<T>>;
  return (value, field) => {
    if (!isPlainObject(value)) throw new EventInvalidError(field, `must be an object, got ${describe(value)}`);
    const kind = value.kind;
    if (typeof kind !== 'string' || !Object.hasOwn(table, kind)) {
      throw new EventInvalidError(`${field}.kind`, `must be one of ${Object.keys(table).join(', ')}`);
    }
    return table[kind]!(value, field);
  };
}

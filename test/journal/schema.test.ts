// The schema's two paths: `accepts` (the fast path, which returns a decoded value as it is) must
// never accept what the strict path refuses, and whenever it accepts, the strict path must build
// a value with the same keys in the same order (same CBOR bytes). Every check, fast or strict,
// gives the same verdict, error field and reason, and the same bytes.
import fc from 'fast-check';
import { EVENT_SCHEMAS, EventInvalidError, Store, objectSchemas, parseEvent, type Check, type EventType, type JournalEvent } from '../../journal/index.js';
import { decodeMessage, encodeMessage } from '../../runtime/index.js';
import { eventArb, oneOfEach } from './journal-fixtures.js';
import { thrown } from './helpers.js';

type Outcome = { readonly ok: true; readonly bytes: Uint8Array; readonly same: boolean } | { readonly ok: false; readonly field: string; readonly reason: string };

function outcome(fn: () => unknown, input: unknown): Outcome {
  try {
    const value = fn();
    return { ok: true, bytes: encodeMessage(value), same: value === input };
  } catch (error) {
    if (!(error instanceof EventInvalidError)) throw error;
    return { ok: false, field: error.field, reason: error.reason };
  }
}

/** Holds the fast and the strict path of `schema` to the same answer on `value`. */
function agree<T>(schema: Check<T>, value: unknown): void {
  const fast = outcome(() => schema(value, 'x'), value);
  const strict = outcome(() => schema.strict(value, 'x'), value);
  const accepted = schema.accepts(value);
  if (accepted) {
    // The fast path returns the value itself, and the strict path builds the same bytes.
    expect(strict.ok).toBe(true);
    expect(fast).toMatchObject({ ok: true, same: true });
    if (strict.ok) expect(strict.bytes).toEqual(encodeMessage(value));
  }
  expect(fast.ok).toBe(strict.ok);
  if (fast.ok && strict.ok) expect(fast.bytes).toEqual(strict.bytes);
  else expect(fast).toEqual(strict);
}

const schemaOf = (event: { type: string }): Check<JournalEvent> => EVENT_SCHEMAS[event.type as EventType] as Check<JournalEvent>;

/** Replaces, deletes, adds or reorders something at a random path inside `value` (a copy). */
function mangle(value: unknown, path: readonly number[], junk: unknown, how: 'replace' | 'delete' | 'add' | 'reverse'): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  let node: Record<string, unknown> = copy;
  for (const step of path.slice(1)) {
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    const child = node[keys[step % keys.length]!];
    if (typeof child !== 'object' || child === null || child instanceof Uint8Array) break;
    node = child as Record<string, unknown>;
  }
  const keys = Object.keys(node);
  const key = keys.length === 0 ? 'extra' : keys[(path[0] ?? 0) % keys.length]!;
  switch (how) {
    case 'replace': node[key] = junk; break;
    case 'delete': delete node[key]; break;
    case 'add': node[`${key}_`] = junk; break;
    case 'reverse':
      // The same keys and values in the opposite order.
      for (const k of keys.reverse()) {
        const v = node[k];
        delete node[k];
        node[k] = v;
      }
      break;
  }
  return copy;
}

describe('schema: fast and strict paths', () => {
  test('our own encoding of every event type decodes on the fast path, returned as it is', () => {
    for (const event of oneOfEach()) {
      const decoded = decodeMessage(encodeMessage(event));
      expect(schemaOf(event).accepts(decoded)).toBe(true);
      expect(parseEvent(decoded)).toBe(decoded);
      agree(schemaOf(event), decoded);
    }
  });

  test('keys in another order, or labels unsorted, take the slow path and come out in declaration order', () => {
    const task = oneOfEach().find((e) => e.type === 'task.created')!;
    const reordered = decodeMessage(encodeMessage(mangle(task, [0, 0], null, 'reverse'))) as Record<string, unknown>;
    expect(Object.keys(reordered)[0]).toBe('addresses');
    expect(schemaOf(task).accepts(reordered)).toBe(false);
    const parsed = parseEvent(reordered);
    expect(parsed).not.toBe(reordered);
    expect(Object.keys(parsed)).toEqual(Object.keys(task));
    expect(encodeMessage(parsed)).toEqual(encodeMessage(task));

    const secret = { type: 'secret.updated', v: 1, at: 1, id: 's', labels: { b: '2', a: '1' }, expectedVersion: null };
    expect(schemaOf(secret).accepts(secret)).toBe(false);
    expect(Object.keys((parseEvent(secret) as { labels: object }).labels)).toEqual(['a', 'b']);
    expect(schemaOf(secret).accepts({ ...secret, labels: { a: '1', b: '2' } })).toBe(true);
  });

  test('the fast path refuses what is not a plain own-keyed record', () => {
    const status = objectSchemas.task;
    const task = decodeMessage(encodeMessage({ ...oneOfEach().find((e) => e.type === 'task.created')!, meta: { version: 1, createdAt: 0, updatedAt: 0 } }));
    // An inherited key is not an own one: the strict path copies it, the fast path defers to it.
    const inherited = Object.create({ id: 't1' }) as Record<string, unknown>;
    Object.assign(inherited, task);
    delete inherited.id;
    expect(status.accepts(inherited)).toBe(false);
    agree(status, inherited);
    // Labels: an array, bytes, a non-string value.
    for (const labels of [[], new Uint8Array(0), { a: 1 }, null]) {
      const secret = { type: 'secret.updated', v: 1, at: 1, id: 's', labels, expectedVersion: null };
      expect(schemaOf(secret).accepts(secret)).toBe(false);
      expect(thrown(() => parseEvent(secret))).toBeInstanceOf(EventInvalidError);
      agree(schemaOf(secret), secret);
    }
  });

  const junk = fc.oneof(fc.constant(null), fc.constant(''), fc.integer({ min: -2, max: 2 }), fc.string({ maxLength: 2 }), fc.double(), fc.boolean(),
    fc.array(fc.string({ maxLength: 1 }), { maxLength: 2 }), fc.uint8Array({ maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 1 }), fc.string({ maxLength: 1 }), { maxKeys: 2 }));
  const how = fc.constantFrom('replace', 'delete', 'add', 'reverse') as fc.Arbitrary<'replace' | 'delete' | 'add' | 'reverse'>;

  test('property: on mangled events the two paths agree, and the fast path never accepts what the strict one refuses', () => {
    fc.assert(fc.property(eventArb, fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), junk, how, (event, path, value, change) => {
      const mangled = decodeMessage(encodeMessage(mangle(event, path, value, change)));
      agree(schemaOf(event), mangled);
      agree(objectSchemas.task, mangled);
    }), { numRuns: 2000 });
  });

  test('property: on mangled services and tasks (the orchestration\'s fields set and unset) the two paths agree', () => {
    const store = new Store();
    oneOfEach().slice(0, 19).forEach((event, i) => store.applyBatch([event], i + 1)); // s1 rolled back and allocated, t1 allocated
    store.applyBatch([{ type: 'service.created', v: 2, at: 1, id: 's2', spec: { ...store.get('service', 's1')!.spec, annotations: { name: 'api', labels: {} } } }], 20);
    const objects: ['service' | 'task', unknown][] = [['service', store.get('service', 's1')], ['service', store.get('service', 's2')], ['task', store.get('task', 't1')]];
    expect(objects.map(([, o]) => o)).not.toContain(undefined);
    expect(store.get('service', 's1')).toMatchObject({ updateStatus: { state: 'rollbackStarted' }, endpoint: { virtualIps: [{ networkId: 'net1' }] } });
    expect(store.get('service', 's2')).toMatchObject({ previousSpec: null, updateStatus: null, endpoint: null });
    for (const [kind, object] of objects) {
      // As the store holds them: the fast path takes them as they are.
      const decoded = decodeMessage(encodeMessage(object));
      expect(objectSchemas[kind].accepts(decoded)).toBe(true);
      agree(objectSchemas[kind] as Check<unknown>, decoded);
    }
    fc.assert(fc.property(fc.nat(objects.length - 1), fc.array(fc.nat(), { minLength: 1, maxLength: 7 }), junk, how, (which, path, value, change) => {
      const [kind, object] = objects[which]!;
      agree(objectSchemas[kind] as Check<unknown>, decodeMessage(encodeMessage(mangle(object, path, value, change))));
    }), { numRuns: 1000 });
  });
});

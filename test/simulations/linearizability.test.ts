import fc from 'fast-check';
import { checkLinearizable, formatHistoryOp } from '../../simulations/index.js';
import type { HistoryOp } from '../../simulations/index.js';

// Builders: w/r/cas make completed ops; pass `completedAt: undefined` through `info` for
// indeterminate ones and `failed` for definite failures.
let nextId = 1;
function w(client: string, key: string, value: string, invokedAt: number, completedAt: number): HistoryOp {
  return { id: nextId++, client, op: { kind: 'write', key, value }, invokedAt, completedAt };
}
function r(client: string, key: string, output: string | null, invokedAt: number, completedAt: number): HistoryOp {
  return { id: nextId++, client, op: { kind: 'read', key }, invokedAt, completedAt, output };
}
function cas(client: string, key: string, expected: string | null, value: string, output: boolean, invokedAt: number, completedAt: number): HistoryOp {
  return { id: nextId++, client, op: { kind: 'cas', key, expected, value }, invokedAt, completedAt, output };
}
function info(entry: HistoryOp): HistoryOp {
  const { completedAt: _completedAt, output: _output, ...rest } = entry;
  return rest;
}
function failed(entry: HistoryOp): HistoryOp {
  const { output: _output, ...rest } = entry;
  return { ...rest, failed: true };
}

describe('checkLinearizable: classic histories', () => {
  test('an empty history and a sequential one are linearizable', () => {
    expect(checkLinearizable([])).toMatchObject({ ok: true, keysChecked: 0, opsChecked: 0 });
    const result = checkLinearizable([
      r('a', 'x', null, 0, 1),
      w('a', 'x', '1', 2, 3),
      r('b', 'x', '1', 4, 5),
      cas('b', 'x', '1', '2', true, 6, 7),
      cas('a', 'x', '1', '3', false, 8, 9),
      r('a', 'x', '2', 10, 11),
    ]);
    expect(result).toEqual({ ok: true, keysChecked: 1, opsChecked: 6, steps: expect.any(Number), failures: [], timedOutKeys: [] });
  });

  test('a stale read after a completed write is not linearizable, and the report names the read and the write', () => {
    const first = w('a', 'x', '1', 0, 10);
    const second = w('a', 'x', '2', 20, 30);
    const stale = r('b', 'x', '1', 40, 50);
    const result = checkLinearizable([first, second, stale]);
    expect(result.ok).toBe(false);
    expect(result.failure?.key).toBe('x');
    expect(result.failure?.ops).toEqual([second, stale]);
    expect(result.failure?.message).toContain('key "x" is not linearizable');
    expect(result.failure?.message).toContain(`${formatHistoryOp(stale)} cannot take effect`);
    expect(result.failure?.message).toContain(`leaving the register at "2" (as written by ${formatHistoryOp(second)})`);
    expect(result.failure?.message).toContain('it read "1", not "2"');
    // The same read overlapping the second write is fine.
    expect(checkLinearizable([first, second, r('b', 'x', '1', 25, 50)]).ok).toBe(true);
  });

  test('a read of a value never written fails without a search', () => {
    const bogus = r('b', 'x', 'ghost', 5, 6);
    const result = checkLinearizable([w('a', 'x', '1', 0, 10), bogus]);
    expect(result.ok).toBe(false);
    expect(result.steps).toBe(0);
    expect(result.failure?.ops).toEqual([bogus]);
    expect(result.failure?.message).toContain(`${formatHistoryOp(bogus)} observed "ghost", which no write or cas of this key ever wrote`);
  });

  test('two concurrent writes that two readers see in opposite orders', () => {
    const writes = [w('w1', 'x', '1', 0, 100), w('w2', 'x', '2', 0, 100)];
    const opposite = [r('a', 'x', '1', 10, 20), r('a', 'x', '2', 30, 40), r('b', 'x', '2', 10, 20), r('b', 'x', '1', 30, 40)];
    const result = checkLinearizable([...writes, ...opposite]);
    expect(result.ok).toBe(false);
    expect(result.failure?.key).toBe('x');
    const agreeing = [r('a', 'x', '1', 10, 20), r('a', 'x', '2', 30, 40), r('b', 'x', '1', 10, 20), r('b', 'x', '2', 30, 40)];
    expect(checkLinearizable([...writes, ...agreeing]).ok).toBe(true);
  });

  test('a lost update: two concurrent compare-and-swaps from the same value cannot both succeed', () => {
    const init = w('a', 'x', '0', 0, 1);
    const lost = checkLinearizable([init, cas('a', 'x', '0', '1', true, 10, 20), cas('b', 'x', '0', '2', true, 12, 22), r('c', 'x', '2', 30, 31)]);
    expect(lost.ok).toBe(false);
    expect(lost.failure?.message).toContain('it needs "0", not');
    const oneWins = checkLinearizable([init, cas('a', 'x', '0', '1', true, 10, 20), cas('b', 'x', '0', '2', false, 12, 22), r('c', 'x', '1', 30, 31)]);
    expect(oneWins.ok).toBe(true);
  });

  test('a compare-and-swap that fails while the register holds its expected value', () => {
    const result = checkLinearizable([w('a', 'x', '0', 0, 1), cas('b', 'x', '0', '1', false, 5, 6)]);
    expect(result.ok).toBe(false);
    expect(result.failure?.message).toContain('it failed, yet the register holds its expected "0"');
    // ...unless a concurrent write may have moved it first.
    expect(checkLinearizable([w('a', 'x', '0', 0, 1), w('c', 'x', '9', 4, 7), cas('b', 'x', '0', '1', false, 5, 6)]).ok).toBe(true);
  });

  test('equal times count as concurrent', () => {
    expect(checkLinearizable([w('a', 'x', '1', 0, 10), r('b', 'x', null, 10, 12)]).ok).toBe(true);
    expect(checkLinearizable([w('a', 'x', '1', 0, 10), r('b', 'x', null, 11, 12)]).ok).toBe(false);
  });
});

describe('checkLinearizable: indeterminate and failed ops', () => {
  test('an indeterminate write may take effect late, long after the client gave up', () => {
    const late = info(w('a', 'x', '1', 0, 0));
    expect(checkLinearizable([late, r('b', 'x', null, 100, 110), r('b', 'x', '1', 200, 210)]).ok).toBe(true);
  });

  test('an indeterminate write may never take effect', () => {
    const never = info(w('a', 'x', '1', 0, 0));
    expect(checkLinearizable([never, r('b', 'x', null, 100, 110), r('b', 'x', null, 200, 210)]).ok).toBe(true);
    expect(checkLinearizable([never, w('c', 'x', '2', 5, 6), r('b', 'x', '2', 100, 110)]).ok).toBe(true);
  });

  test('but it takes effect at most once, and never before its invocation', () => {
    const once = info(w('a', 'x', '1', 0, 0));
    expect(checkLinearizable([once, r('b', 'x', '1', 100, 110), r('b', 'x', null, 200, 210)]).ok).toBe(false);
    expect(checkLinearizable([once, r('b', 'x', '1', 10, 20), w('c', 'x', '2', 30, 40), r('b', 'x', '1', 50, 60)]).ok).toBe(false);
    const early = r('b', 'x', '1', 0, 10);
    const result = checkLinearizable([early, info(w('a', 'x', '1', 20, 20))]);
    expect(result.ok).toBe(false);
    expect(result.failure?.ops).toContainEqual(early);
  });

  test('an indeterminate compare-and-swap swaps or does nothing', () => {
    const maybe = info(cas('a', 'x', null, '1', true, 0, 0));
    expect(checkLinearizable([maybe, r('b', 'x', '1', 10, 20)]).ok).toBe(true);
    expect(checkLinearizable([maybe, r('b', 'x', null, 10, 20)]).ok).toBe(true);
    expect(checkLinearizable([w('c', 'x', '0', 0, 1), { ...maybe, invokedAt: 2 }, r('b', 'x', '1', 10, 20)]).ok).toBe(false);
  });

  test('indeterminate reads constrain nothing and are not searched', () => {
    const result = checkLinearizable([w('a', 'x', '1', 0, 1), info(r('b', 'x', 'whatever', 2, 3))]);
    expect(result).toMatchObject({ ok: true, opsChecked: 1 });
  });

  test('failed ops are excluded: their values cannot be read', () => {
    const nope = failed(w('a', 'x', '1', 0, 10));
    expect(checkLinearizable([nope, r('b', 'x', null, 20, 30)])).toMatchObject({ ok: true, opsChecked: 1 });
    expect(checkLinearizable([nope, r('b', 'x', '1', 20, 30)]).ok).toBe(false);
    const failedCas = failed(cas('a', 'x', null, '1', true, 0, 10));
    expect(checkLinearizable([failedCas, r('b', 'x', null, 20, 30)]).ok).toBe(true);
  });
});

describe('checkLinearizable: keys, bounds and malformed histories', () => {
  test('keys are checked independently', () => {
    const history = [
      w('a', 'x', '1', 0, 10),
      w('a', 'y', '1', 0, 10),
      r('b', 'x', '1', 20, 30),
      r('b', 'y', null, 20, 30), // stale on y only
      w('c', 'z', '1', 0, 10),
    ];
    const result = checkLinearizable(history);
    expect(result).toMatchObject({ ok: false, keysChecked: 3, opsChecked: 5 });
    expect(result.failures.map((f) => f.key)).toEqual(['y']);
    expect(result.failure?.message).toContain('key "y"');
    // A read of x is not explained by a write of y.
    expect(checkLinearizable([w('a', 'y', '1', 0, 10), r('b', 'x', '1', 20, 30)]).failure?.key).toBe('x');
  });

  test('the step bound turns an exponential search into timedOut, which is not a failure', () => {
    // Twenty concurrent writes of distinct values, then two reads that cannot both be right:
    // proving it means trying every order of the writes (memoized: 20 * 2^19 states).
    const history: HistoryOp[] = [];
    for (let i = 0; i < 20; i++) history.push(w(`c${i}`, 'x', `v${i}`, 0, 100));
    history.push(r('a', 'x', 'v0', 200, 210), r('a', 'x', 'v1', 220, 230));
    history.push(w('a', 'other', '1', 0, 1), r('b', 'other', null, 5, 6));
    const result = checkLinearizable(history, { stepsMax: 20_000 });
    expect(result).toMatchObject({ ok: false, timedOut: true, timedOutKeys: ['x'] });
    expect(result.failures.map((f) => f.key)).toEqual(['other']);
    const bounded = checkLinearizable(history.slice(0, 22), { stepsMax: 20_000 });
    expect(bounded).toMatchObject({ ok: true, timedOut: true, timedOutKeys: ['x'], steps: 20_000 });
    // With few enough writes the search finishes and finds the contradiction.
    const small = [...history.slice(0, 6), ...history.slice(20, 22)];
    expect(checkLinearizable(small)).toMatchObject({ ok: false, timedOutKeys: [] });
  });

  test('malformed histories are refused', () => {
    expect(() => checkLinearizable([w('a', 'x', '1', 10, 5)])).toThrow(/completes \(5\) before it is invoked \(10\)/);
    expect(() => checkLinearizable([{ ...r('a', 'x', null, 0, 1), output: true }])).toThrow(/completed read whose output is boolean/);
    expect(() => checkLinearizable([{ ...cas('a', 'x', null, '1', true, 0, 1), output: undefined }])).toThrow(/completed cas whose output is missing/);
  });
});

// ---------------------------------------------------------------------------------------------
// Histories produced by a real register: each op takes effect atomically at a random instant of
// its [invoke, complete] interval; some become indeterminate (applied or not), some fail.

interface Spec {
  client: number;
  key: string;
  kind: 'write' | 'read' | 'cas';
  value: string;
  expected: string | null;
  start: number;
  duration: number;
  at: number;
  fate: 'ok' | 'info-applied' | 'info-lost' | 'failed';
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  client: fc.integer({ min: 0, max: 4 }),
  key: fc.constantFrom('k0', 'k1'),
  kind: fc.constantFrom<Spec['kind']>('write', 'read', 'read', 'cas'),
  value: fc.constantFrom('a', 'b', 'c'),
  expected: fc.constantFrom(null, 'a', 'b', 'c'),
  start: fc.integer({ min: 0, max: 300 }),
  duration: fc.integer({ min: 0, max: 30 }),
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  fate: fc.constantFrom<Spec['fate']>('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'info-applied', 'info-lost', 'failed'),
});

/** Runs the specs against a real register; `uniqueValues` makes every write's value distinct. */
function simulate(specs: readonly Spec[], uniqueValues: boolean): HistoryOp[] {
  const history: HistoryOp[] = specs.map((s, i) => {
    const value = uniqueValues ? `${s.value}${i}` : s.value;
    const op =
      s.kind === 'write' ? { kind: 'write' as const, key: s.key, value }
      : s.kind === 'read' ? { kind: 'read' as const, key: s.key }
      : { kind: 'cas' as const, key: s.key, expected: s.expected, value };
    return { id: i, client: `c${s.client}`, op, invokedAt: s.start, completedAt: s.start + s.duration };
  });
  const applied = specs.map((s, i) => ({ i, point: s.start + s.at * s.duration })).filter(({ i }) => specs[i].fate === 'ok' || specs[i].fate === 'info-applied');
  applied.sort((a, b) => a.point - b.point || a.i - b.i);
  const register = new Map<string, string>();
  for (const { i } of applied) {
    const { op } = history[i];
    const current = register.get(op.key) ?? null;
    if (op.kind === 'write') register.set(op.key, op.value);
    else if (op.kind === 'read') history[i].output = current;
    else {
      const swapped = current === op.expected;
      if (swapped) register.set(op.key, op.value);
      history[i].output = swapped;
    }
  }
  specs.forEach((s, i) => {
    if (s.fate === 'failed') history[i] = failed(history[i]);
    else if (s.fate !== 'ok') history[i] = info(history[i]);
  });
  // A final write after everything, for the "read from the future" mutation.
  const end = Math.max(0, ...history.map((h) => h.completedAt ?? h.invokedAt)) + 1;
  history.push({ id: specs.length, client: 'late', op: { kind: 'write', key: 'k0', value: 'late' }, invokedAt: end, completedAt: end + 1 });
  return history;
}

function firstCompletedRead(history: readonly HistoryOp[], key?: string): number {
  return history.findIndex((h) => h.op.kind === 'read' && h.completedAt !== undefined && h.failed !== true && (key === undefined || h.op.key === key));
}

describe('checkLinearizable: properties', () => {
  const specsArb = fc.array(specArb, { minLength: 1, maxLength: 40 });

  test('histories of a real register are linearizable', () => {
    fc.assert(
      fc.property(specsArb, fc.boolean(), (specs, unique) => {
        const result = checkLinearizable(simulate(specs, unique));
        expect(result.failure?.message).toBeUndefined();
        expect(result).toMatchObject({ ok: true, timedOutKeys: [] });
      }),
      { numRuns: 300 },
    );
  });

  test('a read changed to a value never written is caught', () => {
    fc.assert(
      fc.property(specsArb, fc.boolean(), (specs, unique) => {
        const history = simulate(specs, unique);
        const at = firstCompletedRead(history);
        fc.pre(at >= 0);
        history[at] = { ...history[at], output: 'never-written' };
        const result = checkLinearizable(history);
        expect(result.ok).toBe(false);
        expect(result.failure?.key).toBe(history[at].op.key);
        expect(result.failure?.ops).toContainEqual(history[at]);
      }),
      { numRuns: 200 },
    );
  });

  test('a read changed to a value only written after it completed is caught by the search', () => {
    fc.assert(
      fc.property(specsArb, (specs) => {
        const history = simulate(specs, true);
        const at = firstCompletedRead(history, 'k0');
        fc.pre(at >= 0);
        history[at] = { ...history[at], output: 'late' };
        const result = checkLinearizable(history);
        expect(result.ok).toBe(false);
        expect(result.failure?.key).toBe('k0');
        expect(result.failure?.message).toContain('cannot take effect anywhere in its interval');
      }),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Against a brute-force checker on small arbitrary histories (mostly not linearizable): try every
// order that respects real time, with each indeterminate op placed anywhere or left out.

function bruteForce(history: readonly HistoryOp[]): boolean {
  const ops = history.filter((h) => h.failed !== true);
  const keys = [...new Set(ops.map((h) => h.op.key))];
  return keys.every((key) => {
    const own = ops.filter((h) => h.op.key === key);
    const search = (left: readonly HistoryOp[], value: string | null): boolean => {
      if (left.every((h) => h.completedAt === undefined)) return true;
      return left.some((x, at) => {
        const blocked = left.some((y) => y.completedAt !== undefined && y.completedAt < x.invokedAt);
        if (blocked) return false;
        const rest = left.filter((_, j) => j !== at);
        if (x.completedAt === undefined && search(rest, value)) return true; // never takes effect
        const { op } = x;
        if (op.kind === 'write') return search(rest, op.value);
        if (op.kind === 'read') return (x.completedAt === undefined || x.output === value) && search(rest, value);
        const swapped = value === op.expected;
        if (x.completedAt !== undefined && x.output !== swapped) return false;
        return search(rest, swapped ? op.value : value);
      });
    };
    return search(own, null);
  });
}

const arbitraryOpArb: fc.Arbitrary<HistoryOp> = fc
  .record({
    client: fc.constantFrom('a', 'b', 'c'),
    key: fc.constantFrom('k0', 'k0', 'k1'),
    kind: fc.constantFrom<Spec['kind']>('write', 'read', 'cas'),
    value: fc.constantFrom('a', 'b'),
    read: fc.constantFrom(null, 'a', 'b'),
    expected: fc.constantFrom(null, 'a', 'b'),
    swapped: fc.boolean(),
    start: fc.integer({ min: 0, max: 12 }),
    duration: fc.integer({ min: 0, max: 6 }),
    fate: fc.constantFrom<Spec['fate']>('ok', 'ok', 'ok', 'info-applied', 'failed'),
  })
  .map((x) => {
    const op =
      x.kind === 'write' ? { kind: 'write' as const, key: x.key, value: x.value }
      : x.kind === 'read' ? { kind: 'read' as const, key: x.key }
      : { kind: 'cas' as const, key: x.key, expected: x.expected, value: x.value };
    const entry: HistoryOp = { id: 0, client: x.client, op, invokedAt: x.start, completedAt: x.start + x.duration };
    if (x.kind === 'read') entry.output = x.read;
    if (x.kind === 'cas') entry.output = x.swapped;
    return x.fate === 'failed' ? failed(entry) : x.fate === 'ok' ? entry : info(entry);
  });

describe('checkLinearizable: against brute force', () => {
  test('agrees with an exhaustive search on small arbitrary histories', () => {
    let linearizable = 0;
    fc.assert(
      fc.property(fc.array(arbitraryOpArb, { minLength: 1, maxLength: 7 }), (drawn) => {
        const history = drawn.map((h, id) => ({ ...h, id }));
        const expected = bruteForce(history);
        if (expected) linearizable++;
        const result = checkLinearizable(history);
        expect(result.timedOutKeys).toEqual([]);
        expect(result.ok).toBe(expected);
      }),
      { numRuns: 1500 },
    );
    expect(linearizable).toBeGreaterThan(150); // both verdicts are well represented
  });
});

// ---------------------------------------------------------------------------------------------
// A long single-key history: five clients issuing ops back to back against one register.

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function longHistory(opsCount: number, clients: number, seed: number, indeterminateRate = 0): HistoryOp[] {
  const random = mulberry32(seed);
  const values = ['a', 'b', 'c', 'd'];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const clocks = new Array<number>(clients).fill(0);
  const planned: { entry: HistoryOp; point: number; applied: boolean }[] = [];
  for (let id = 0; id < opsCount; id++) {
    const client = id % clients;
    const invokedAt = clocks[client] + Math.floor(random() * 3);
    const completedAt = invokedAt + 1 + Math.floor(random() * 20);
    clocks[client] = completedAt;
    const roll = random();
    const op =
      roll < 0.4 ? { kind: 'write' as const, key: 'k', value: pick(values) }
      : roll < 0.8 ? { kind: 'read' as const, key: 'k' }
      : { kind: 'cas' as const, key: 'k', expected: pick([null, ...values]), value: pick(values) };
    const indeterminate = random() < indeterminateRate;
    planned.push({
      entry: { id, client: `c${client}`, op, invokedAt, completedAt },
      point: invokedAt + random() * (completedAt - invokedAt),
      applied: !indeterminate || random() < 0.5,
    });
    if (indeterminate) planned[id].entry.completedAt = undefined;
  }
  let register: string | null = null;
  for (const p of [...planned].filter((x) => x.applied).sort((a, b) => a.point - b.point)) {
    const { op } = p.entry;
    if (op.kind === 'write') register = op.value;
    else if (op.kind === 'read') p.entry.output = register;
    else {
      p.entry.output = register === op.expected;
      if (register === op.expected) register = op.value;
    }
  }
  for (const p of planned) if (p.entry.completedAt === undefined) delete p.entry.output;
  return planned.map((p) => p.entry);
}

describe('checkLinearizable: long histories', () => {
  test('2,000 ops on one key with five concurrent clients take a near-linear search', () => {
    const history = longHistory(2000, 5, 7);
    const result = checkLinearizable(history);
    expect(result).toMatchObject({ ok: true, opsChecked: 2000, timedOutKeys: [] });
    expect(result.steps).toBeLessThan(50_000);
  });

  test('with 2% indeterminate ops it still finishes', () => {
    const result = checkLinearizable(longHistory(2000, 5, 11, 0.02));
    expect(result).toMatchObject({ ok: true, timedOutKeys: [] });
  });

  test('one read from the future, deep in a long history, is found', () => {
    const history = longHistory(2000, 5, 7);
    const end = Math.max(...history.map((h) => h.completedAt ?? h.invokedAt)) + 1;
    history.push({ id: 2000, client: 'late', op: { kind: 'write', key: 'k', value: 'late' }, invokedAt: end, completedAt: end + 1 });
    expect(checkLinearizable(history).ok).toBe(true);
    const at = history.findIndex((h, i) => i > 1500 && h.op.kind === 'read');
    history[at] = { ...history[at], output: 'late' };
    const result = checkLinearizable(history);
    expect(result).toMatchObject({ ok: false, timedOutKeys: [] });
    expect(result.failure?.ops).toContainEqual(history[at]);
  });
});

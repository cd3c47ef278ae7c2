// A linearizability checker for key-value register histories (the Raft simulator's client
// histories). It is the Wing & Gong search with Lowe's memoization, as in Porcupine
// (https://github.com/anishathalye/porcupine), and it uses P-compositionality: a history of
// independent registers is linearizable iff each key's sub-history is, so every key is checked on
// its own.
//
// Semantics of a history entry:
//  - completed (completedAt set, not failed): took effect atomically at one instant in
//    [invokedAt, completedAt] and produced `output`;
//  - indeterminate (completedAt undefined, the Jepsen `info`): either never took effect, or took
//    effect at some instant after invokedAt, with an output nobody saw;
//  - failed: definitely did not take effect; dropped.
// Equal times count as concurrent (an op completing at t and another invoked at t may be ordered
// either way), which can only make the checker more permissive, never raise a false alarm.
//
// The search walks a time-ordered list of call and return entries. It linearizes a pending call
// whenever the register model accepts it and the resulting (set of linearized ops, register value)
// has not been seen before; reaching a return entry whose op is still unlinearized is a dead end
// and it backtracks. Indeterminate ops have no return entry, so they may be linearized arbitrarily
// late, and the search succeeds once every completed op is linearized (an indeterminate op left
// out is one that never took effect). The number of search steps per key is bounded: past the
// bound the key is reported as timed out, which is not a failure.

export type RegisterOp =
  | { kind: 'write'; key: string; value: string }
  /** Output: the value read, or null when the key is absent. */
  | { kind: 'read'; key: string }
  /** Output: whether the swap happened (the key held `expected`; null means absent). */
  | { kind: 'cas'; key: string; expected: string | null; value: string };

export interface HistoryOp {
  id: number;
  client: string;
  op: RegisterOp;
  /** Virtual time of the invocation. */
  invokedAt: number;
  /** Virtual time of the response; undefined when the client never learned the outcome. */
  completedAt?: number;
  /** The response, for an op completed ok: the value read (reads), success (cas); ignored for writes. */
  output?: string | null | boolean;
  /** Completed with a definite failure: it did not take effect. */
  failed?: boolean;
}

export interface LinearizabilityFailure {
  key: string;
  message: string;
  /** The ops that explain the failure: the op that could not be linearized first, with its context. */
  ops: HistoryOp[];
}

export interface LinearizabilityResult {
  /** No key is known to be non-linearizable (a timed-out key does not make this false). */
  ok: boolean;
  keysChecked: number;
  /** Ops that took part in the search (failed ops and indeterminate reads are left out). */
  opsChecked: number;
  /** Search steps over all keys. */
  steps: number;
  /** The first failing key, in order of first appearance in the history. */
  failure?: LinearizabilityFailure;
  /** Every failing key. */
  failures: LinearizabilityFailure[];
  /** Some key hit the step bound before a verdict. */
  timedOut?: boolean;
  timedOutKeys: string[];
}

export interface LinearizabilityOptions {
  /** Search steps allowed per key before giving up on it (default 1,000,000). */
  stepsMax?: number;
}

export const LINEARIZABILITY_STEPS_MAX_DEFAULT = 1_000_000;

/** Checks a key-value register history, key by key. Throws on a malformed history. */
export function checkLinearizable(history: readonly HistoryOp[], options: LinearizabilityOptions = {}): LinearizabilityResult {
  const stepsMax = options.stepsMax ?? LINEARIZABILITY_STEPS_MAX_DEFAULT;
  const byKey = new Map<string, HistoryOp[]>();
  for (const entry of history) {
    validate(entry);
    let ops = byKey.get(entry.op.key);
    if (ops === undefined) byKey.set(entry.op.key, (ops = []));
    ops.push(entry);
  }
  const failures: LinearizabilityFailure[] = [];
  const timedOutKeys: string[] = [];
  let opsChecked = 0;
  let steps = 0;
  for (const [key, ops] of byKey) {
    const verdict = checkKey(key, ops, stepsMax);
    opsChecked += verdict.opsChecked;
    steps += verdict.steps;
    if (verdict.failure !== undefined) failures.push(verdict.failure);
    if (verdict.timedOut) timedOutKeys.push(key);
  }
  const result: LinearizabilityResult = { ok: failures.length === 0, keysChecked: byKey.size, opsChecked, steps, failures, timedOutKeys };
  if (failures.length > 0) result.failure = failures[0];
  if (timedOutKeys.length > 0) result.timedOut = true;
  return result;
}

/** One line describing an op, as used in failure messages. */
export function formatHistoryOp(entry: HistoryOp): string {
  const { op } = entry;
  let call: string;
  switch (op.kind) {
    case 'write':
      call = `write(${show(op.value)})`;
      break;
    case 'read':
      call = 'read()';
      break;
    case 'cas':
      call = `cas(${show(op.expected)} -> ${show(op.value)})`;
      break;
  }
  let outcome: string;
  if (entry.failed === true) outcome = ' failed';
  else if (entry.completedAt === undefined) outcome = ' indeterminate';
  else if (op.kind === 'write') outcome = ' ok';
  else outcome = ` -> ${show(entry.output ?? null)}`;
  const interval = `[${entry.invokedAt}, ${entry.completedAt ?? '?'}]`;
  return `#${entry.id} ${entry.client} ${call}${outcome} ${interval}`;
}

function show(value: string | null | boolean): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function validate(entry: HistoryOp): void {
  const where = `linearizability: op #${entry.id}`;
  if (!Number.isFinite(entry.invokedAt)) throw new Error(`${where} has no finite invokedAt`);
  if (entry.completedAt !== undefined) {
    if (!Number.isFinite(entry.completedAt)) throw new Error(`${where} has a non-finite completedAt`);
    if (entry.completedAt < entry.invokedAt) throw new Error(`${where} completes (${entry.completedAt}) before it is invoked (${entry.invokedAt})`);
  }
  if (entry.failed === true || entry.completedAt === undefined) return;
  const { output } = entry;
  if (entry.op.kind === 'read' && output !== null && typeof output !== 'string') {
    throw new Error(`${where} is a completed read whose output is ${output === undefined ? 'missing' : typeof output}, not a string or null`);
  }
  if (entry.op.kind === 'cas' && typeof output !== 'boolean') {
    throw new Error(`${where} is a completed cas whose output is ${output === undefined ? 'missing' : typeof output}, not a boolean`);
  }
}

const WRITE = 0;
const READ = 1;
const CAS = 2;
const UNKNOWN = -1;
const REJECT = -1;

/** A bitset whose key() encodes only the window between its all-ones prefix and its all-zeros tail. */
class WindowBitset {
  private readonly words: Uint32Array;
  /** Words below `low` are all ones. */
  private low = 0;
  /** Words from `high` on are all zeros. */
  private high = 0;

  constructor(bits: number) {
    this.words = new Uint32Array(Math.max(1, (bits + 31) >>> 5));
  }

  set(bit: number): void {
    const w = bit >>> 5;
    this.words[w] |= 1 << (bit & 31);
    if (w >= this.high) this.high = w + 1;
    if (w === this.low) while (this.low < this.high && this.words[this.low] === 0xffffffff) this.low++;
  }

  clear(bit: number): void {
    const w = bit >>> 5;
    this.words[w] &= ~(1 << (bit & 31));
    if (w < this.low) this.low = w;
    if (w === this.high - 1) while (this.high > this.low && this.words[this.high - 1] === 0) this.high--;
  }

  /** Two UTF-16 code units per 32-bit number: low, window length, then the window's words. */
  key(): string {
    const { low, high, words } = this;
    const length = high - low;
    let s = String.fromCharCode(low & 0xffff, low >>> 16, length & 0xffff, length >>> 16);
    for (let w = low; w < high; w++) {
      const x = words[w];
      s += String.fromCharCode(x & 0xffff, x >>> 16);
    }
    return s;
  }
}

interface KeyVerdict {
  opsChecked: number;
  steps: number;
  timedOut: boolean;
  failure?: LinearizabilityFailure;
}

function checkKey(key: string, all: readonly HistoryOp[], stepsMax: number): KeyVerdict {
  // Failed ops never took effect; an indeterminate read neither changes the register nor reports
  // anything. Neither constrains the search.
  const ops = all
    .filter((e) => e.failed !== true && !(e.completedAt === undefined && e.op.kind === 'read'))
    .sort((a, b) => a.invokedAt - b.invokedAt);
  const n = ops.length;

  // The register's values, interned: 0 is null (absent).
  const valueIds = new Map<string, number>();
  const valueNames: (string | null)[] = [null];
  const intern = (value: string | null): number => {
    if (value === null) return 0;
    let id = valueIds.get(value);
    if (id === undefined) {
      id = valueNames.length;
      valueIds.set(value, id);
      valueNames.push(value);
    }
    return id;
  };

  const kind = new Int8Array(n);
  const arg = new Int32Array(n); // the value written (write, cas)
  const expected = new Int32Array(n); // read: the value read; cas: the expected value
  const outcome = new Int8Array(n); // cas: 1 swapped, 0 not swapped, UNKNOWN indeterminate
  const determinate = new Uint8Array(n);
  const bit = new Int32Array(n); // the op's bit in its region
  const written = new Set<number>([0]);
  let determinateCount = 0;
  let indeterminateCount = 0;
  for (let i = 0; i < n; i++) {
    const e = ops[i];
    const op = e.op;
    const done = e.completedAt !== undefined;
    determinate[i] = done ? 1 : 0;
    bit[i] = done ? determinateCount++ : indeterminateCount++;
    switch (op.kind) {
      case 'write':
        kind[i] = WRITE;
        arg[i] = intern(op.value);
        written.add(arg[i]);
        break;
      case 'read':
        kind[i] = READ;
        expected[i] = intern(e.output as string | null);
        break;
      case 'cas':
        kind[i] = CAS;
        arg[i] = intern(op.value);
        expected[i] = intern(op.expected);
        outcome[i] = done ? (e.output === true ? 1 : 0) : UNKNOWN;
        if (outcome[i] !== 0) written.add(arg[i]);
        break;
    }
  }

  // A completed op that observed a value no op of this key ever wrote cannot be linearized
  // anywhere: say so directly rather than through the search.
  for (let i = 0; i < n; i++) {
    if (determinate[i] === 0) continue;
    const observed = kind[i] === READ ? expected[i] : kind[i] === CAS && outcome[i] === 1 ? expected[i] : -1;
    if (observed > 0 && !written.has(observed)) {
      return {
        opsChecked: n,
        steps: 0,
        timedOut: false,
        failure: {
          key,
          message:
            `key ${JSON.stringify(key)} is not linearizable: ${formatHistoryOp(ops[i])} observed ${show(valueNames[observed])}, ` +
            'which no write or cas of this key ever wrote (failed ones excluded)',
          ops: [ops[i]],
        },
      };
    }
  }

  const step = (state: number, i: number): number => {
    switch (kind[i]) {
      case WRITE:
        return arg[i];
      case READ:
        return state === expected[i] ? state : REJECT;
      default:
        if (outcome[i] === 0) return state !== expected[i] ? state : REJECT;
        // Swapped, or indeterminate: an indeterminate cas that does not swap has no effect at all,
        // which is the same as leaving it out of the linearization.
        return state === expected[i] ? arg[i] : REJECT;
    }
  };

  // Entries: 0 is the head, 1..m the calls and returns in time order (calls first at equal
  // times), m + 1 the tail.
  interface Event { time: number; isReturn: boolean; op: number }
  const events: Event[] = [];
  for (let i = 0; i < n; i++) {
    events.push({ time: ops[i].invokedAt, isReturn: false, op: i });
    const completedAt = ops[i].completedAt;
    if (completedAt !== undefined) events.push({ time: completedAt, isReturn: true, op: i });
  }
  events.sort((a, b) => a.time - b.time || Number(a.isReturn) - Number(b.isReturn) || a.op - b.op);
  const m = events.length;
  const HEAD = 0;
  const TAIL = m + 1;
  const next = new Int32Array(m + 2);
  const prev = new Int32Array(m + 2);
  const entryOp = new Int32Array(m + 2).fill(-1);
  const isCall = new Uint8Array(m + 2);
  const callEntry = new Int32Array(n);
  const returnEntry = new Int32Array(n).fill(-1);
  for (let k = 0; k < m; k++) {
    const entry = k + 1;
    const event = events[k];
    entryOp[entry] = event.op;
    if (event.isReturn) returnEntry[event.op] = entry;
    else {
      isCall[entry] = 1;
      callEntry[event.op] = entry;
    }
  }
  for (let entry = 0; entry <= m + 1; entry++) {
    next[entry] = entry + 1;
    prev[entry] = entry - 1;
  }
  const unlink = (entry: number): void => {
    next[prev[entry]] = next[entry];
    prev[next[entry]] = prev[entry];
  };
  const relink = (entry: number): void => {
    next[prev[entry]] = entry;
    prev[next[entry]] = entry;
  };

  const detBits = new WindowBitset(determinateCount);
  const indetBits = new WindowBitset(indeterminateCount);
  const setBit = (i: number): void => (determinate[i] === 1 ? detBits.set(bit[i]) : indetBits.set(bit[i]));
  const clearBit = (i: number): void => (determinate[i] === 1 ? detBits.clear(bit[i]) : indetBits.clear(bit[i]));
  const seen = new Set<string>();

  const stackOp = new Int32Array(n);
  const stackState = new Int32Array(n);
  // stackWriter[d]: the last op in stackOp[0..d] that set the register (a write or a swapping cas).
  const stackWriter = new Int32Array(n);
  let depth = 0;
  let state = 0;
  let remaining = determinateCount;
  let steps = 0;

  // The dead end with the most completed ops linearized, for the failure report.
  const deadEnd: DeadEnd = { linearized: -1, depth: 0, blocked: -1, state: 0, lastWriter: -1, tail: [], pending: [], pendingCount: 0 };

  let entry = next[HEAD];
  while (remaining > 0) {
    if (++steps > stepsMax) return { opsChecked: n, steps: steps - 1, timedOut: true };
    if (isCall[entry] === 1) {
      const i = entryOp[entry];
      const after = step(state, i);
      if (after !== REJECT) {
        setBit(i);
        const memoKey = String.fromCharCode(after & 0xffff, after >>> 16) + detBits.key() + indetBits.key();
        if (!seen.has(memoKey)) {
          seen.add(memoKey);
          stackOp[depth] = i;
          stackState[depth] = state;
          stackWriter[depth] = kind[i] === WRITE || (kind[i] === CAS && outcome[i] !== 0) ? i : depth > 0 ? stackWriter[depth - 1] : -1;
          depth++;
          state = after;
          unlink(entry);
          if (returnEntry[i] !== -1) unlink(returnEntry[i]);
          remaining -= determinate[i];
          entry = next[HEAD];
          continue;
        }
        clearBit(i);
      }
      entry = next[entry];
      continue;
    }
    // A return entry (or, defensively, the tail): the op must have been linearized by now.
    const linearized = determinateCount - remaining;
    if (linearized > deadEnd.linearized) {
      deadEnd.linearized = linearized;
      deadEnd.depth = depth;
      deadEnd.blocked = entryOp[entry];
      deadEnd.state = state;
      deadEnd.lastWriter = depth > 0 ? stackWriter[depth - 1] : -1;
      deadEnd.tail = Array.from(stackOp.subarray(Math.max(0, depth - 5), depth));
      deadEnd.pending = [];
      deadEnd.pendingCount = 0;
      for (let e = next[HEAD]; e !== entry && e !== TAIL; e = next[e]) {
        if (isCall[e] === 0) continue;
        deadEnd.pendingCount++;
        if (deadEnd.pending.length < PENDING_SHOWN) deadEnd.pending.push(entryOp[e]);
      }
    }
    if (depth === 0) break;
    depth--;
    const i = stackOp[depth];
    state = stackState[depth];
    clearBit(i);
    remaining += determinate[i];
    if (returnEntry[i] !== -1) relink(returnEntry[i]);
    relink(callEntry[i]);
    entry = next[callEntry[i]];
  }
  if (remaining === 0) return { opsChecked: n, steps, timedOut: false };
  return { opsChecked: n, steps, timedOut: false, failure: explain(key, ops, valueNames, determinateCount, deadEnd, step, kind, expected, outcome) };
}

const PENDING_SHOWN = 8;

interface DeadEnd {
  /** Completed ops linearized when the search got stuck. */
  linearized: number;
  /** Ops linearized in all (indeterminate ones included). */
  depth: number;
  /** The op whose return was reached before it could be linearized. */
  blocked: number;
  state: number;
  lastWriter: number;
  /** The last few ops of the linearization. */
  tail: number[];
  /** The first few ops that could have gone next, and how many there were. */
  pending: number[];
  pendingCount: number;
}

function explain(
  key: string,
  ops: readonly HistoryOp[],
  valueNames: readonly (string | null)[],
  determinateCount: number,
  deadEnd: DeadEnd,
  step: (state: number, i: number) => number,
  kind: Int8Array,
  expected: Int32Array,
  outcome: Int8Array,
): LinearizabilityFailure {
  const { state, blocked, lastWriter } = deadEnd;
  const value = (id: number): string => show(valueNames[id]);
  const why = (i: number): string => {
    if (step(state, i) !== REJECT) return 'it could take effect, but nothing consistent follows';
    if (kind[i] === READ) return `it read ${value(expected[i])}, not ${value(state)}`;
    if (outcome[i] === 0) return `it failed, yet the register holds its expected ${value(expected[i])}`;
    return `it needs ${value(expected[i])}, not ${value(state)}`;
  };
  const holder = lastWriter === -1 ? 'initially' : `as written by ${formatHistoryOp(ops[lastWriter])}`;
  const ending = deadEnd.depth > 0 ? `, ending ${deadEnd.tail.map((i) => `#${ops[i].id}`).join(', ')}` : '';
  const lines = [
    `key ${JSON.stringify(key)} is not linearizable: ${formatHistoryOp(ops[blocked])} cannot take effect anywhere in its interval.`,
    `The longest linearizable prefix orders ${deadEnd.linearized} of the ${determinateCount} completed ops` +
      ` (${deadEnd.depth} ops in all${ending}), leaving the register at ${value(state)} (${holder}).`,
  ];
  // The blocked op first, then the others that were pending with it.
  const pending = [blocked, ...deadEnd.pending.filter((i) => i !== blocked)].slice(0, PENDING_SHOWN);
  lines.push('From there, none of the pending ops can go next:');
  for (const i of pending) lines.push(`  ${formatHistoryOp(ops[i])}: ${why(i)}`);
  if (deadEnd.pendingCount > pending.length) lines.push(`  ... and ${deadEnd.pendingCount - pending.length} more`);
  const involved = [...new Set([blocked, ...(lastWriter === -1 ? [] : [lastWriter]), ...pending])].sort((a, b) => a - b);
  return { key, message: lines.join('\n'), ops: involved.map((i) => ops[i]) };
}

// The store's snapshot format: what `Store.serialize` writes and `Store.restore` reads.
//
// Version 3 (written now) is one CBOR map, framed here by hand so that it can be written in
// slices across turns of the event loop:
//
//   { format: 'swarm.store', v: 3, index, objects: { <kind>: [chunk...] for each kind in
//     OBJECT_KINDS order }, taskSpecs: [TaskSpec...] }
//
// Objects of each kind are sorted by id and cut into chunks of OBJECTS_PER_CHUNK; a chunk is a
// byte string holding the CBOR array of its objects. A reader decodes one chunk at a time, so
// what it decodes dies young instead of living (and being copied by the GC) until the whole
// snapshot is decoded; a writer encodes one chunk per step. Every kind but task is the object as a
// canonical map (keys sorted, recursively), as in version 1. A task is a tuple (TASK_TUPLE_LENGTH
// fields, see taskTuple), its spec an index into `taskSpecs`: the tasks of one service carry equal
// specs, so a spec is stored once, and restored once, as one object that those tasks share (less
// to decode, to check and to hold in memory). Specs are numbered in order of first use, tasks in
// id order, and interned by their canonical bytes, not by object identity: equal stores give
// equal bytes whatever objects they happen to share.
//
// Version 2 is version 3 before the orchestration's fields: the same framing, a task tuple of 14
// fields (without restarts and addresses), task specs without placement preferences and
// platforms or forceUpdate, services without specVersion, updateStatus and endpoint and their
// specs without rebalance. Its reader stays (fills those fields as the event upgrades do, see
// journal/events/defaults.ts; a service's specVersion is its meta.version); its writer is gone.
//
// Version 3 did not move for event schema v3 (container specs gained healthcheck, mounts, dir,
// user, stopSignal, stopGracePeriodMs and hostname, task specs their runtime): specs are canonical
// maps, so the new fields need no new framing. A version-3 snapshot written before them lacks them,
// and its reader fills the absent ones as the event upgrades do (as version 1's reader does); one
// written now holds them all, and the reader's fill finds nothing to add.
//
// Nor did it for event schema v4 (service specs gained dependsOn), for the same reason: a
// version-3 snapshot written before it lacks the field, and its reader fills it as the event
// upgrades do (no dependencies).
//
// Version 1 is `{ format, v: 1, index, objects: { <kind>: [canonical object...] } }`, as one
// cbor-x message. Its reader stays (snapshots written before version 2 must restore, filled as
// version 2's) and so does its writer: it is the store's fingerprint in the golden journals. It
// writes every field the objects have now, so its reader fills only the fields that are absent.
import { assert, cborHead, concatBytes, decodeMessage, encodeMessage, encodeMessageOwned } from '../../runtime/index.js';
import {
  DESIRED_STATES, EventInvalidError, OBJECT_KINDS, TASK_STATES, networkAddressesSchema, objectSchemas, restartsSchema, taskSpecSchema, withServiceDefaults,
  withTaskDefaults, withTaskSpecDefaults,
  type DesiredState, type Meta, type NetworkAddress, type ObjectKind, type ObjectOfKind, type Task, type TaskSpec, type TaskState, type TaskStatus,
} from '../events/index.js';
import { orEmpty } from './empty.js';
import { StoreSnapshotInvalidError } from './errors.js';

export const STORE_SNAPSHOT_FORMAT = 'swarm.store';
/** The version `serialize` writes; `restore` reads it and every one before it. */
export const STORE_SNAPSHOT_VERSION = 3;
/** The versions `serialize` can write (`restore` also reads 2). */
export type StoreSnapshotVersion = 1 | 3;

type AnyObject = ObjectOfKind[ObjectKind];

/**
 * The store at one index: each kind's objects, in any order. Objects are immutable (a change
 * replaces the object), so arrays of references are a consistent view for as long as one keeps
 * them, while the store moves on.
 */
export interface StoreView {
  readonly index: number;
  readonly objects: { readonly [K in ObjectKind]: readonly ObjectOfKind[K][] };
  /**
   * Told a kind's objects in id order once the writer has sorted them (a kind the view gave
   * unsorted), so that the store can keep that order for its next view.
   */
  readonly sorted?: (kind: ObjectKind, objects: readonly AnyObject[]) => void;
}

/** What a snapshot decodes to: each kind's objects, checked against the schema, in stored order. */
export interface DecodedSnapshot {
  readonly index: number;
  readonly objects: { readonly [K in ObjectKind]: readonly ObjectOfKind[K][] };
}

/** Plain objects with their keys sorted, recursively: one encoding per value. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record).sort()) {
    if (record[key] !== undefined) out[key] = canonical(record[key]);
  }
  return out;
}

const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

// ---- version 1 ----------------------------------------------------------------------------------

/** The version-1 snapshot of `view`, in one call. */
export function serializeV1(view: StoreView): Uint8Array {
  const objects: Record<string, unknown[]> = {};
  for (const kind of OBJECT_KINDS) objects[kind] = [...view.objects[kind]].sort(byId).map(canonical);
  return encodeMessage({ format: STORE_SNAPSHOT_FORMAT, v: 1, index: view.index, objects });
}

// ---- version 3: the writer ----------------------------------------------------------------------------

/**
 * A task as a tuple, in this order. The records below fail to type-check when Task, Meta or
 * TaskStatus gains or loses a field, so that the tuple cannot silently drop one.
 */
const TASK_FIELDS: { readonly [K in keyof Task]: true } = {
  id: true, meta: true, serviceId: true, slot: true, nodeId: true, spec: true, serviceVersion: true, desiredState: true, status: true, restarts: true, addresses: true,
};
const META_FIELDS: { readonly [K in keyof Meta]: true } = { version: true, createdAt: true, updatedAt: true };
const STATUS_FIELDS: { readonly [K in keyof TaskStatus]: true } = { state: true, message: true, timestamp: true, err: true };
const ADDRESS_FIELDS: { readonly [K in keyof NetworkAddress]: true } = { networkId: true, addr: true };
/**
 * id, meta (3), serviceId, slot, nodeId, spec (an index into taskSpecs), serviceVersion,
 * desiredState, status (4), restarts (an array of integers), addresses (an array of
 * [networkId, addr] pairs).
 */
const TASK_TUPLE_LENGTH = 16;
/** Version 2's tuple: the first 14 fields of version 3's. */
const TASK_TUPLE_LENGTH_V2 = 14;
assert(Object.keys(TASK_FIELDS).length - 2 + Object.keys(META_FIELDS).length + Object.keys(STATUS_FIELDS).length === TASK_TUPLE_LENGTH, 'the task tuple covers every field');
assert(Object.keys(ADDRESS_FIELDS).length === 2, 'an address pair covers every field');

function taskTuple(task: Task, specRef: number): unknown[] {
  const { meta, status } = task;
  return [
    task.id, meta.version, meta.createdAt, meta.updatedAt, task.serviceId, task.slot, task.nodeId, specRef, task.serviceVersion, task.desiredState,
    status.state, status.message, status.timestamp, status.err, task.restarts, task.addresses.map((address) => [address.networkId, address.addr]),
  ];
}

/** Objects per chunk: part of the format (it shapes the bytes), and a writer's step when their bytes are known. */
const OBJECTS_PER_CHUNK = 1024;
/**
 * Objects encoded afresh per step (their bytes not yet cached, or tasks): encoding one took 12
 * microseconds on an idle machine and up to about 100 on a busy manager, so a step is about a
 * millisecond at most. With 128 a step, three managers snapshotting at once (they do: every one
 * at the same index) kept the two cores of the machine busy for most of a second, and the writes
 * of that second took a median 6-7 ms and up to 65-218 ms at 1 client (bench/README.md).
 */
const FRESH_OBJECTS_PER_STEP = 32;
/** Element moves of the merge sort per step. */
const SORT_MOVES_PER_STEP = 8192;
/** Bytes copied into the snapshot's buffer per step. */
const COPY_BYTES_PER_STEP = 2 ** 19;

const CBOR_BYTES = 2;
const CBOR_ARRAY = 4;
const CBOR_MAP = 5;

/**
 * Bytes to write around the snapshot, given its length: so that a caller that embeds the snapshot
 * in a record of its own (the manager's snapshot data) gets that record from the writer's one
 * buffer, instead of copying the snapshot into another.
 */
export type SnapshotFrame = (snapshotBytes: number) => { readonly before: Uint8Array; readonly after: Uint8Array };

/**
 * Writes the version-3 snapshot of a view in steps of bounded work: `step()` does one and says
 * whether the snapshot is done, `bytes()` then returns it. `Store.serialize` runs every step at
 * once; `Store.serializeIncrementally` yields a turn between steps. Both run this same code over
 * the same view, so they give the same bytes.
 */
export class StoreSnapshotWriter {
  private readonly steps: Generator<void, Uint8Array, void>;
  private result: Uint8Array | undefined;

  constructor(view: StoreView, frame?: SnapshotFrame) {
    this.steps = writeV3(view, frame);
  }

  /** Does one step; true once the snapshot is complete. */
  step(): boolean {
    if (this.result !== undefined) return true;
    const next = this.steps.next();
    if (next.done !== true) return false;
    this.result = next.value;
    return true;
  }

  /** The snapshot (inside its frame, when the writer was given one). */
  bytes(): Uint8Array {
    assert(this.result !== undefined, 'the snapshot is not written yet');
    return this.result;
  }
}

function* writeV3(view: StoreView, frame?: SnapshotFrame): Generator<void, Uint8Array, void> {
  const parts: Uint8Array[] = [cborHead(CBOR_MAP, 5)];
  parts.push(encodeMessage('format'), encodeMessage(STORE_SNAPSHOT_FORMAT), encodeMessage('v'), encodeMessage(3), encodeMessage('index'), encodeMessage(view.index));
  parts.push(encodeMessage('objects'), cborHead(CBOR_MAP, OBJECT_KINDS.length));
  // Task specs interned by their canonical bytes (latin1 as a Map key); the identity map spares
  // encoding a spec object again, which tasks of one service usually share.
  const specRefsByBytes = new Map<string, number>();
  const specRefsByObject = new Map<TaskSpec, number>();
  const specs: Uint8Array[] = [];
  const internSpec = (spec: TaskSpec): number => {
    let ref = specRefsByObject.get(spec);
    if (ref !== undefined) return ref;
    const bytes = encodeMessage(canonical(spec));
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    ref = specRefsByBytes.get(key);
    if (ref === undefined) {
      ref = specs.length;
      specs.push(bytes);
      specRefsByBytes.set(key, ref);
    }
    specRefsByObject.set(spec, ref);
    return ref;
  };
  for (const kind of OBJECT_KINDS) {
    const objects = view.objects[kind];
    let sorted: readonly AnyObject[] = objects;
    if (!isSortedById(objects)) {
      sorted = yield* sortById([...objects]);
      view.sorted?.(kind, sorted);
    }
    parts.push(encodeMessage(kind), cborHead(CBOR_ARRAY, Math.ceil(sorted.length / OBJECTS_PER_CHUNK)));
    for (let from = 0; from < sorted.length; from += OBJECTS_PER_CHUNK) {
      const slice = sorted.slice(from, from + OBJECTS_PER_CHUNK);
      const chunk = kind === 'task' ? yield* encodeTasks(slice as Task[], internSpec) : yield* encodeObjects(slice);
      parts.push(cborHead(CBOR_BYTES, chunk.byteLength), chunk);
      yield;
    }
  }
  parts.push(encodeMessage('taskSpecs'), cborHead(CBOR_ARRAY, specs.length), ...specs);
  let length = 0;
  for (const part of parts) length += part.byteLength;
  if (frame !== undefined) {
    const { before, after } = frame(length);
    parts.unshift(before);
    parts.push(after);
    length += before.byteLength + after.byteLength;
  }
  // Copied in steps too: the first write to each page of a fresh buffer faults it in, which on a
  // VM cost 40 ms for 8 MiB at once.
  const out = new Uint8Array(length);
  let at = 0;
  let copied = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
    copied += part.byteLength;
    if (copied >= COPY_BYTES_PER_STEP) {
      copied = 0;
      yield;
    }
  }
  return out;
}

/**
 * Each object's canonical CBOR bytes, kept while the object lives (objects are immutable: a change
 * replaces the object), for every kind but task (whose tuple refers to a spec by a number of this
 * snapshot's). So a snapshot encodes only the objects that changed since the last one and copies
 * the rest: its cost follows the change, not the store's size. Objects whose bytes are over
 * ENCODED_CACHE_BYTES_MAX are encoded each time (their cost is the copy of their data either way,
 * and keeping their bytes would double what they hold).
 */
const encodedObjects = new WeakMap<object, Uint8Array>();
const ENCODED_CACHE_BYTES_MAX = 16 * 1024;

/** The object's canonical bytes, encoded now and kept in encodedObjects (the caller found none there). */
function encodeObject(object: AnyObject): Uint8Array {
  // Its own buffer: a view into the codec's would keep that whole buffer alive with the object.
  const bytes = encodeMessageOwned(canonical(object));
  if (bytes.byteLength <= ENCODED_CACHE_BYTES_MAX) encodedObjects.set(object, bytes);
  return bytes;
}

/**
 * The CBOR array of `objects` as canonical maps: its head, then each object's bytes (what encoding
 * the array gives). Yields after every FRESH_OBJECTS_PER_STEP objects it had to encode.
 */
function* encodeObjects(objects: readonly AnyObject[]): Generator<void, Uint8Array, void> {
  const parts: Uint8Array[] = [cborHead(CBOR_ARRAY, objects.length)];
  let fresh = 0;
  for (const object of objects) {
    const cached = encodedObjects.get(object);
    if (cached !== undefined) {
      parts.push(cached);
      continue;
    }
    parts.push(encodeObject(object));
    if (++fresh === FRESH_OBJECTS_PER_STEP) {
      fresh = 0;
      yield;
    }
  }
  return concatBytes(parts);
}

/** The CBOR array of the tasks' tuples, built FRESH_OBJECTS_PER_STEP tasks a step. */
function* encodeTasks(tasks: readonly Task[], internSpec: (spec: TaskSpec) => number): Generator<void, Uint8Array, void> {
  const tuples: unknown[][] = [];
  for (const task of tasks) {
    tuples.push(taskTuple(task, internSpec(task.spec)));
    if (tuples.length % FRESH_OBJECTS_PER_STEP === 0) yield;
  }
  return encodeMessage(tuples);
}

function isSortedById(items: readonly { id: string }[]): boolean {
  for (let i = 1; i < items.length; i++) if (!((items[i - 1] as { id: string }).id < (items[i] as { id: string }).id)) return false;
  return true;
}

/**
 * `items` sorted by id, in steps: runs of OBJECTS_PER_CHUNK sorted natively, then merged pairwise,
 * yielding every SORT_MOVES_PER_STEP moves. Ids are unique within a kind, so the order is the
 * one total order however the steps fall. Sorts `items` in place or returns another array.
 */
function* sortById<T extends { id: string }>(items: T[]): Generator<void, T[], void> {
  const n = items.length;
  const run = OBJECTS_PER_CHUNK;
  for (let lo = 0; lo < n; lo += run) {
    const sorted = items.slice(lo, lo + run).sort(byId);
    for (let i = 0; i < sorted.length; i++) items[lo + i] = sorted[i] as T;
    yield;
  }
  if (n <= run) return items;
  let source = items;
  let target = new Array<T>(n);
  let moves = 0;
  for (let width = run; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      for (let k = lo; k < hi; k++) {
        if (i < mid && (j >= hi || (source[i] as T).id < (source[j] as T).id)) target[k] = source[i++] as T;
        else target[k] = source[j++] as T;
        if (++moves === SORT_MOVES_PER_STEP) {
          moves = 0;
          yield;
        }
      }
    }
    [source, target] = [target, source];
  }
  return source;
}

// ---- reading any version ---------------------------------------------------------------------------

const invalid = (field: string, reason: string, cause?: unknown): StoreSnapshotInvalidError =>
  new StoreSnapshotInvalidError(field, reason, cause === undefined ? undefined : { cause });

/**
 * Decodes snapshot bytes of any version (1, 2 or 3) and checks each object's shape; StoreSnapshotInvalidError
 * (naming the field) for anything else. What needs the whole store (ids that repeat, versions after
 * the index, names held twice) is the caller's to check, as it builds the indexes.
 */
export function decodeStoreSnapshot(bytes: Uint8Array): DecodedSnapshot {
  let value: unknown;
  try {
    value = decodeMessage(bytes);
  } catch (error) {
    throw invalid('snapshot', 'is not valid CBOR', error);
  }
  if (typeof value !== 'object' || value === null) throw invalid('snapshot', 'must be an object');
  const record = value as Record<string, unknown>;
  if (record.format !== STORE_SNAPSHOT_FORMAT) throw invalid('format', `must be '${STORE_SNAPSHOT_FORMAT}'`);
  if (record.v !== 1 && record.v !== 2 && record.v !== 3) throw invalid('v', `must be 1, 2 or ${STORE_SNAPSHOT_VERSION}, got ${String(record.v)}`);
  const version = record.v;
  const index = record.index;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) throw invalid('index', 'must be a non-negative integer');
  const stored = record.objects as Record<string, unknown> | undefined;
  if (typeof stored !== 'object' || stored === null) throw invalid('objects', 'must be an object');
  const objects = {} as { [K in ObjectKind]: ObjectOfKind[K][] };
  if (version === 1) {
    for (const kind of OBJECT_KINDS) {
      const list = stored[kind];
      if (!Array.isArray(list)) throw invalid(`objects.${kind}`, 'must be an array');
      (objects as Record<ObjectKind, AnyObject[]>)[kind] = list.map((raw, i) => checkObject(kind, withDefaults(kind, raw), `objects.${kind}[${i}]`));
    }
    return { index, objects };
  }
  const tasks = new TaskReader(decodeTaskSpecs(record.taskSpecs), version);
  for (const kind of OBJECT_KINDS) {
    const chunks = stored[kind];
    if (!Array.isArray(chunks)) throw invalid(`objects.${kind}`, 'must be an array of chunks');
    const out: AnyObject[] = [];
    for (let c = 0; c < chunks.length; c++) {
      const chunk = chunks[c] as unknown;
      if (!(chunk instanceof Uint8Array)) throw invalid(`objects.${kind}`, `chunk ${c} must be bytes`);
      let list: unknown;
      try {
        list = decodeMessage(chunk);
      } catch (error) {
        throw invalid(`objects.${kind}`, `chunk ${c} is not valid CBOR`, error);
      }
      if (!Array.isArray(list)) throw invalid(`objects.${kind}`, `chunk ${c} must hold an array`);
      for (let i = 0; i < list.length; i++) {
        const field = `objects.${kind}[${out.length}]`;
        out.push(kind === 'task' ? tasks.read(list[i], field) : checkObject(kind, withDefaults(kind, list[i]), field));
      }
    }
    (objects as Record<ObjectKind, AnyObject[]>)[kind] = out;
  }
  return { index, objects };
}

/** `schema(raw)`, its error as the snapshot's, naming the field the schema named. */
function checkField<T>(schema: (value: unknown, field: string) => T, raw: unknown, field: string): T {
  try {
    return schema(raw, field);
  } catch (error) {
    if (error instanceof EventInvalidError) throw invalid(error.field, error.reason, error);
    throw error;
  }
}

function checkObject(kind: ObjectKind, raw: unknown, field: string): AnyObject {
  try {
    return objectSchemas[kind](raw, field);
  } catch (error) {
    throw invalid(field, error instanceof Error ? error.message : String(error), error);
  }
}

/**
 * A service or task of any version, with the fields added since filled where absent (version 1
 * is written with the objects' fields as they are now, version 3 with or without the fields of
 * event schema v3: each may hold them).
 */
function withDefaults(kind: ObjectKind, raw: unknown): unknown {
  return kind === 'service' ? withServiceDefaults(raw) : kind === 'task' ? withTaskDefaults(raw) : raw;
}

function decodeTaskSpecs(raw: unknown): TaskSpec[] {
  if (!Array.isArray(raw)) throw invalid('taskSpecs', 'must be an array');
  return raw.map((spec, i) => {
    try {
      // Version 2 lacks the fields of event schemas 2 and 3; a version 3 written before schema 3, those of 3.
      return taskSpecSchema(withTaskSpecDefaults(spec), `taskSpecs[${i}]`);
    } catch (error) {
      throw invalid(`taskSpecs[${i}]`, error instanceof Error ? error.message : String(error), error);
    }
  });
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isId = (value: unknown): value is string => typeof value === 'string' && value !== '';

/**
 * Reads tasks from their tuples, checked field by field as the schema would (the same rules: ids
 * not empty, counts safe non-negative integers, states from their lists) but without the schema's
 * generic walk, which cost as much as decoding. The spec was checked once, in the table, and tasks
 * share it. A snapshot is checksummed (or sealed) on disk, so what reaches here is what a
 * serialize wrote: these checks are for a bug or a format skew, and still name the field.
 *
 * Strings that many tasks repeat (service and node ids, states, messages) are interned: the task
 * keeps one shared string instead of its own copy from the decoder, which then dies young.
 */
class TaskReader {
  private readonly strings = new Map<string, string>();
  private readonly desiredStates = new Map<string, DesiredState>(DESIRED_STATES.map((s) => [s, s]));
  private readonly taskStates = new Map<string, TaskState>(TASK_STATES.map((s) => [s, s]));

  private readonly tupleLength: number;

  constructor(private readonly specs: readonly TaskSpec[], version: 2 | 3) {
    this.tupleLength = version === 2 ? TASK_TUPLE_LENGTH_V2 : TASK_TUPLE_LENGTH;
  }

  read(raw: unknown, field: string): Task {
    if (!Array.isArray(raw) || raw.length !== this.tupleLength) throw invalid(field, `must be a task tuple of ${this.tupleLength} fields`);
    const tuple = raw as unknown[];
    const id = tuple[0];
    const version = tuple[1];
    const createdAt = tuple[2];
    const updatedAt = tuple[3];
    const serviceId = tuple[4];
    const slot = tuple[5];
    const nodeId = tuple[6];
    const specRef = tuple[7];
    const serviceVersion = tuple[8];
    const desiredState = typeof tuple[9] === 'string' ? this.desiredStates.get(tuple[9]) : undefined;
    const state = typeof tuple[10] === 'string' ? this.taskStates.get(tuple[10]) : undefined;
    const message = tuple[11];
    const timestamp = tuple[12];
    const err = tuple[13];
    if (!isId(id)) throw invalid(`${field}.id`, 'must be a non-empty string');
    if (!isCount(version) || version < 1) throw invalid(`${field}.meta.version`, 'must be an integer of at least 1');
    if (!isCount(createdAt)) throw invalid(`${field}.meta.createdAt`, 'must be a non-negative integer');
    if (!isCount(updatedAt)) throw invalid(`${field}.meta.updatedAt`, 'must be a non-negative integer');
    if (!isId(serviceId)) throw invalid(`${field}.serviceId`, 'must be a non-empty string');
    if (!isCount(slot)) throw invalid(`${field}.slot`, 'must be a non-negative integer');
    if (typeof nodeId !== 'string') throw invalid(`${field}.nodeId`, 'must be a string');
    if (!isCount(specRef) || specRef >= this.specs.length) throw invalid(`${field}.spec`, `must index taskSpecs (${this.specs.length})`);
    if (!isCount(serviceVersion)) throw invalid(`${field}.serviceVersion`, 'must be a non-negative integer');
    if (desiredState === undefined) throw invalid(`${field}.desiredState`, `must be one of ${DESIRED_STATES.join(', ')}`);
    if (state === undefined) throw invalid(`${field}.status.state`, `must be one of ${TASK_STATES.join(', ')}`);
    if (typeof message !== 'string') throw invalid(`${field}.status.message`, 'must be a string');
    if (!isCount(timestamp)) throw invalid(`${field}.status.timestamp`, 'must be a non-negative integer');
    if (typeof err !== 'string') throw invalid(`${field}.status.err`, 'must be a string');
    const restarts = this.tupleLength === TASK_TUPLE_LENGTH_V2 ? [] : this.restarts(tuple[14], `${field}.restarts`);
    const addresses = this.tupleLength === TASK_TUPLE_LENGTH_V2 ? [] : this.addresses(tuple[15], `${field}.addresses`);
    // Keys in the schema's order, as apply builds them.
    return {
      id,
      meta: { version, createdAt, updatedAt },
      serviceId: this.intern(serviceId),
      slot,
      nodeId: this.intern(nodeId),
      spec: this.specs[specRef] as TaskSpec,
      serviceVersion,
      desiredState,
      status: { state, message: this.intern(message), timestamp, err: this.intern(err) },
      restarts: orEmpty(restarts),
      addresses: orEmpty(addresses),
    };
  }

  private restarts(raw: unknown, field: string): readonly number[] {
    if (Array.isArray(raw) && raw.length === 0) return raw as never[];
    return checkField(restartsSchema, raw, field);
  }

  /** Pairs [networkId, addr], checked as the schema checks {networkId, addr}. */
  private addresses(raw: unknown, field: string): readonly NetworkAddress[] {
    if (!Array.isArray(raw)) throw invalid(field, 'must be an array');
    if (raw.length === 0) return raw as never[];
    const objects = raw.map((pair: unknown, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) throw invalid(`${field}[${i}]`, 'must be a pair [networkId, addr]');
      return { networkId: pair[0] as unknown, addr: pair[1] as unknown };
    });
    const addresses = checkField(networkAddressesSchema, objects, field);
    return addresses.map((address) => ({ networkId: this.intern(address.networkId), addr: address.addr }));
  }

  private intern(value: string): string {
    const known = this.strings.get(value);
    if (known !== undefined) return known;
    this.strings.set(value, value);
    return value;
  }
}

// The journal's own CBOR codec (event encoding v2): plain CBOR, except that an object whose own
// keys are exactly, in order, one of the key lists in EVENT_RECORD_STRUCTURES is written as a
// cbor-x record: tag 0xe000 + its index in the table, then an array of its values (3 bytes of
// tag instead of every key, and cbor-x decodes it with a compiled object literal). Any other
// object (labels, an empty map, a shape the table lacks) is a plain map, exactly as
// runtime/codec's encodeMessage writes it, so a version-1 entry (plain maps throughout) and a v2
// one decode with the same decoder to the same values.
//
// Deliberately NOT cbor-x's own `useRecords`: with it, an object whose shape is not in the table
// gets a record id at encode time, and below `maxSharedStructures` cbor-x appends that shape to
// the shared table (and writes no definition), or extends a table entry it is a prefix of: state
// learned at runtime, bytes that depend on what was encoded before, and entries no fresh decoder
// reads. Here the encoder is stateless: a record is a cbor-x Tag we build, each event's bytes are
// a pure function of the event, and separately encoded events concatenate into a valid batch.
//
// The decoder is cbor-x's, given the table as its `structures`. Input could carry an inline record
// definition (tag 0xdfff), which cbor-x would store into that table for every later decode; this
// encoder never writes one, and decodeEventCbor refuses any input that changed the table.
import { Decoder, Encoder, Tag } from 'cbor-x';

/**
 * Record structures by id (the tag is 0xe000 + id). APPEND-ONLY: committed journal entries name
 * these by position, so an entry may never be changed, removed or reordered; a new shape (a new
 * event type, a new field order) is appended at the end. test/journal/codec.test.ts pins the list.
 */
export const EVENT_RECORD_STRUCTURES: readonly (readonly string[])[] = [
  // 0: the batch
  ['v', 'events'],
  // 1-10: events, keys in their schema's order (events.ts); several types share a key list
  ['type', 'v', 'at', 'id', 'spec'], // cluster/service/network.created, secret/config.created
  ['type', 'v', 'at', 'id', 'spec', 'expectedVersion'], // cluster/node/service.updated
  ['type', 'v', 'at', 'id', 'spec', 'description', 'status'], // node.registered
  ['type', 'v', 'at', 'id', 'status', 'expectedVersion'], // node/task.statusChanged
  ['type', 'v', 'at', 'id', 'expectedVersion'], // *.removed
  ['type', 'v', 'at', 'id', 'serviceId', 'slot', 'nodeId', 'spec', 'serviceVersion', 'desiredState', 'status'], // task.created
  ['type', 'v', 'at', 'id', 'nodeId', 'status', 'expectedVersion'], // task.assigned
  ['type', 'v', 'at', 'id', 'desiredState', 'expectedVersion'], // task.desiredStateChanged
  ['type', 'v', 'at', 'id', 'labels', 'expectedVersion'], // secret.updated
  // 10-: objects (objects.ts)
  ['state', 'message', 'timestamp', 'err'], // TaskStatus
  ['state', 'message', 'addr'], // NodeStatus
  ['name', 'labels'], // Annotations
  ['version', 'createdAt', 'updatedAt'], // Meta
  ['annotations', 'orchestration', 'dispatcher', 'raft', 'caConfig', 'encryption'], // ClusterSpec
  ['taskHistoryRetentionLimit'],
  ['heartbeatPeriodMs'],
  ['snapshotIntervalEntries', 'logEntriesForSlowFollowers', 'electionTicks', 'heartbeatTicks'],
  ['nodeCertExpiryMs'],
  ['autoLockManagers'],
  ['annotations', 'role', 'availability'], // NodeSpec
  ['nanoCpus', 'memoryBytes'], // Resources
  ['hostname', 'platform', 'resources', 'engineLabels'], // NodeDescription
  ['os', 'architecture'],
  ['kind', 'replicas'], // ServiceMode
  ['kind'],
  ['kind', 'maxConcurrent', 'totalCompletions'],
  ['id', 'name', 'target'], // FileReference
  ['container', 'resources', 'restartPolicy', 'placement', 'networks', 'secrets', 'configs'], // TaskSpec
  ['image', 'command', 'args', 'env', 'labels'], // ContainerSpec
  ['limits', 'reservations'],
  ['condition', 'delayMs', 'maxAttempts', 'windowMs'], // RestartPolicy
  ['constraints', 'maxReplicasPerNode'], // Placement
  ['parallelism', 'delayMs', 'failureAction', 'monitorMs', 'maxFailureRatio', 'order'], // UpdateConfig
  ['name', 'protocol', 'targetPort', 'publishedPort', 'publishMode'], // PortConfig
  ['annotations', 'task', 'mode', 'update', 'rollback', 'endpoint'], // ServiceSpec
  ['ports'],
  ['annotations', 'driver', 'ipam', 'internal', 'attachable', 'ingress'], // NetworkSpec
  ['driver', 'subnets'],
  ['subnet', 'gateway'],
  ['annotations', 'data'], // BlobSpec
  // 41-: event versions 2 and the orchestration's objects (Platform shares ['os', 'architecture'], 23)
  ['container', 'resources', 'restartPolicy', 'placement', 'networks', 'secrets', 'configs', 'forceUpdate'], // TaskSpec
  ['constraints', 'maxReplicasPerNode', 'preferences', 'platforms'], // Placement
  ['spread'], // PlacementPreference
  ['annotations', 'task', 'mode', 'update', 'rollback', 'endpoint', 'rebalance'], // ServiceSpec
  ['state', 'startedAt', 'completedAt', 'message'], // UpdateStatus
  ['ports', 'virtualIps'], // ServiceEndpoint
  ['networkId', 'addr'], // VirtualIp, NetworkAddress
  ['type', 'v', 'at', 'id', 'serviceId', 'slot', 'nodeId', 'spec', 'serviceVersion', 'desiredState', 'status', 'restarts', 'addresses'], // task.created v2
  ['type', 'v', 'at', 'id', 'updateStatus', 'expectedVersion'], // service.updateStatusChanged, service.rolledBack
  ['type', 'v', 'at', 'id', 'endpoint', 'expectedVersion'], // service.endpointAllocated
  ['type', 'v', 'at', 'id', 'addresses', 'status', 'expectedVersion'], // task.allocated
  ['type', 'v', 'at', 'id', 'description', 'expectedVersion'], // node.descriptionChanged
  // 54-: event versions 3 (the events' key lists are version 2's)
  ['image', 'command', 'args', 'env', 'labels', 'healthcheck', 'mounts', 'dir', 'user', 'stopSignal', 'stopGracePeriodMs', 'hostname'], // ContainerSpec
  ['container', 'resources', 'restartPolicy', 'placement', 'networks', 'secrets', 'configs', 'forceUpdate', 'runtime'], // TaskSpec
  ['test', 'intervalMs', 'timeoutMs', 'retries', 'startPeriodMs'], // HealthCheck
  ['type', 'source', 'target', 'readOnly'], // Mount
  // 58-: event versions 4 of service.created and service.updated (their key lists are version 1's)
  ['annotations', 'task', 'mode', 'update', 'rollback', 'endpoint', 'rebalance', 'dependsOn'], // ServiceSpec
  ['service', 'condition'], // ServiceDependency
];

/** The first record tag; a structure's tag is RECORD_TAG_BASE + its id. */
export const RECORD_TAG_BASE = 0xe000;

// A trie of the table's key lists: walking an object's own keys through it finds its record id
// without building a string per object.
interface TrieNode {
  id: number;
  readonly next: Map<string, TrieNode>;
}
const trie: TrieNode = { id: -1, next: new Map() };
EVENT_RECORD_STRUCTURES.forEach((keys, id) => {
  let node = trie;
  for (const key of keys) {
    let child = node.next.get(key);
    if (child === undefined) node.next.set(key, (child = { id: -1, next: new Map() }));
    node = child;
  }
  if (node.id !== -1) throw new Error(`EVENT_RECORD_STRUCTURES: ${id} repeats ${node.id}`);
  node.id = id;
});

function recordId(object: Record<string, unknown>): number {
  let node = trie;
  let any = false;
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    const child = node.next.get(key);
    if (child === undefined) return -1;
    node = child;
    any = true;
  }
  return any ? node.id : -1;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  return Object.getPrototypeOf(value) === Object.prototype;
}

/** `value` with every object of a known shape replaced by its record Tag; unchanged parts are shared. */
function toRecords(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const converted = toRecords(item);
      if (converted !== item) (out ??= value.slice())[i] = converted;
    }
    return out ?? value;
  }
  if (!isPlainObject(value)) return value;
  const id = recordId(value);
  if (id !== -1) {
    const values: unknown[] = [];
    for (const key in value) if (Object.hasOwn(value, key)) values.push(toRecords(value[key]));
    return new Tag(values, RECORD_TAG_BASE + id);
  }
  let out: Record<string, unknown> | undefined;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const item = value[key];
    const converted = toRecords(item);
    if (converted !== item) {
      out ??= { ...value };
      Object.defineProperty(out, key, { value: converted, enumerable: true, writable: true, configurable: true });
    }
  }
  return out ?? value;
}

// Plain maps as runtime/codec writes them (map16 heads, tagged Uint8Arrays): the records are Tags.
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: true });

/** The v2 encoding of one value (an event, or a batch): deterministic, standalone. */
export function encodeEventCbor(value: unknown): Uint8Array {
  return encoder.encode(toRecords(value));
}

/** The decoder's own copies of the table (cbor-x hangs its compiled readers on them), and the decoder. */
let structures: string[][] = [];
let references: readonly string[][] = [];
let decoder = freshDecoder();
function freshDecoder(): Decoder {
  structures = EVENT_RECORD_STRUCTURES.map((keys) => [...keys]);
  references = structures.slice();
  // Byte strings (a secret's or config's data) are copied out of the entry: a view would keep the
  // whole entry, or the network frame it came in, alive for as long as the store holds the object.
  return new Decoder({ mapsAsObjects: true, structures, copyBuffers: true } as never);
}

/** True while the decoder's table is the one we gave it, entry for entry. */
function tableIntact(): boolean {
  if ((decoder as unknown as { structures: unknown }).structures !== structures || structures.length !== references.length) return false;
  for (let i = 0; i < references.length; i++) if (structures[i] !== references[i]) return false;
  return true;
}

/** Decodes v1 (plain maps) and v2 (records) entries alike. Throws on input that is not CBOR or that defines records. */
export function decodeEventCbor(bytes: Uint8Array): unknown {
  let value: unknown;
  let failure: unknown;
  let failed = false;
  try {
    value = decoder.decode(bytes);
  } catch (error) {
    failed = true;
    failure = error;
  }
  if (!tableIntact()) {
    decoder = freshDecoder();
    throw new Error('inline record definitions are not allowed');
  }
  if (failed) throw failure;
  return value;
}

// ---- a direct writer for the commonest events ---------------------------------------------------
//
// The writer encodes every event of the leader's entries: toRecords builds a Tag and an array per
// object, and cbor-x walks them, a few microseconds per event (12% of the leader's placement CPU
// at 300,000 tasks). The task events that orchestration proposes by the million (task.created,
// task.assigned, task.allocated, task.statusChanged) are written here byte by byte instead, as
// exactly the bytes of encodeEventCbor (a test compares the two on random and typical events):
// their record tag and array head, ASCII strings, integers up to 2^32 - 1, null, the status record,
// empty arrays; a task.created's spec, shared by a service's tasks and immutable, is the generic
// encoding of that object, kept per object. Anything else (another type or shape, a non-ASCII
// string, a larger or negative number, a non-empty restarts or addresses) falls back to the generic
// path for the whole event.

/** A record's id by its key list. */
function recordIdOf(keys: readonly string[]): number {
  const id = EVENT_RECORD_STRUCTURES.findIndex((each) => each.length === keys.length && each.every((key, i) => key === keys[i]));
  if (id < 0) throw new Error(`no record structure for ${keys.join(',')}`);
  return id;
}

const TASK_STATUS_KEYS = ['state', 'message', 'timestamp', 'err'] as const;
const TASK_STATUS_RECORD = recordIdOf(TASK_STATUS_KEYS);

/** The field kinds of the events written directly. */
type FieldKind = 'string' | 'uint' | 'uintOrNull' | 'status' | 'empty' | 'spec';
interface DirectShape {
  readonly record: number;
  readonly keys: readonly string[];
  readonly kinds: readonly FieldKind[];
}

function directShape(fields: ReadonlyArray<readonly [string, FieldKind]>): DirectShape {
  const keys = fields.map(([key]) => key);
  return { record: recordIdOf(keys), keys, kinds: fields.map(([, kind]) => kind) };
}

const DIRECT_SHAPES = new Map<string, DirectShape>([
  ['task.assigned', directShape([['type', 'string'], ['v', 'uint'], ['at', 'uint'], ['id', 'string'], ['nodeId', 'string'], ['status', 'status'], ['expectedVersion', 'uintOrNull']])],
  ['task.statusChanged', directShape([['type', 'string'], ['v', 'uint'], ['at', 'uint'], ['id', 'string'], ['status', 'status'], ['expectedVersion', 'uintOrNull']])],
  ['task.allocated', directShape([['type', 'string'], ['v', 'uint'], ['at', 'uint'], ['id', 'string'], ['addresses', 'empty'], ['status', 'status'], ['expectedVersion', 'uintOrNull']])],
  ['task.created', directShape([
    ['type', 'string'], ['v', 'uint'], ['at', 'uint'], ['id', 'string'], ['serviceId', 'string'], ['slot', 'uint'], ['nodeId', 'string'], ['spec', 'spec'],
    ['serviceVersion', 'uint'], ['desiredState', 'string'], ['status', 'status'], ['restarts', 'empty'], ['addresses', 'empty'],
  ])],
]);

/** The generic encoding of each task spec written so far (specs are immutable; a service's tasks share one). */
const specBytes = new WeakMap<object, Uint8Array>();

function specEncoding(spec: object): Uint8Array {
  let bytes = specBytes.get(spec);
  if (bytes === undefined) {
    // A copy: the encoder's result is a view into its shared buffer.
    bytes = encodeEventCbor(spec).slice();
    specBytes.set(spec, bytes);
  }
  return bytes;
}

/** CBOR value sharing (the registry's tags 28 and 29), which cbor-x's decoder always reads. */
const SHAREABLE_TAG = 28;
const SHARED_REF_TAG = 29;

/** A growable output: what the direct writer writes into, one event or a whole batch. */
export class CborOutput {
  bytes = new Uint8Array(1 << 16);
  length = 0;
  /**
   * While a batch is written: the task specs written so far, by object, with their value-sharing
   * ids (CBOR tags 28 and 29); null writes every spec whole.
   */
  shared: Map<object, number> | null = null;

  reset(): void {
    this.length = 0;
    this.shared = null;
  }

  /** Room for `n` more bytes. */
  room(n: number): void {
    const need = this.length + n;
    if (need <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < need) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  append(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** A CBOR head, shortest form (the argument below 2^32). */
  head(major: number, n: number): void {
    this.room(5);
    const out = this.bytes;
    const type = major << 5;
    if (n < 0x18) out[this.length++] = type | n;
    else if (n < 0x100) {
      out[this.length++] = type | 0x18;
      out[this.length++] = n;
    } else if (n < 0x10000) {
      out[this.length++] = type | 0x19;
      out[this.length++] = n >> 8;
      out[this.length++] = n & 0xff;
    } else {
      out[this.length++] = type | 0x1a;
      out[this.length++] = n >>> 24;
      out[this.length++] = (n >> 16) & 0xff;
      out[this.length++] = (n >> 8) & 0xff;
      out[this.length++] = n & 0xff;
    }
  }

  /** An ASCII string; false (and nothing kept) when it is not ASCII. */
  ascii(value: string): boolean {
    const n = value.length;
    const at = this.length;
    this.head(3, n);
    this.room(n);
    const out = this.bytes;
    let to = this.length;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) {
        this.length = at;
        return false;
      }
      out[to++] = c;
    }
    this.length = to;
    return true;
  }
}

function isUint32(value: unknown): value is number {
  return typeof value === 'number' && value >>> 0 === value;
}

/** Are the object's own enumerable keys exactly `keys`, in order? */
function hasKeys(object: object, keys: readonly string[]): boolean {
  if (Object.getPrototypeOf(object) !== Object.prototype) return false;
  let i = 0;
  for (const key in object) {
    if (i === keys.length || key !== keys[i]) return false;
    i++;
  }
  return i === keys.length;
}

function writeStatus(out: CborOutput, status: unknown): boolean {
  if (typeof status !== 'object' || status === null || !hasKeys(status, TASK_STATUS_KEYS)) return false;
  const { state, message, timestamp, err } = status as Record<string, unknown>;
  if (typeof state !== 'string' || typeof message !== 'string' || !isUint32(timestamp) || typeof err !== 'string') return false;
  out.head(6, RECORD_TAG_BASE + TASK_STATUS_RECORD);
  out.head(4, 4);
  if (!out.ascii(state) || !out.ascii(message)) return false;
  out.head(0, timestamp);
  return out.ascii(err);
}

/**
 * Writes the event's bytes (exactly encodeEventCbor's) to `out` and returns true, or leaves `out`
 * as it was and returns false when the event is not one the direct writer takes.
 */
export function writeEventDirect(out: CborOutput, event: unknown): boolean {
  if (typeof event !== 'object' || event === null) return false;
  const shape = DIRECT_SHAPES.get((event as { type?: unknown }).type as string);
  if (shape === undefined || !hasKeys(event, shape.keys)) return false;
  const start = out.length;
  let sharedNow: object | undefined;
  out.head(6, RECORD_TAG_BASE + shape.record);
  out.head(4, shape.keys.length);
  const record = event as Record<string, unknown>;
  for (let i = 0; i < shape.keys.length; i++) {
    const value = record[shape.keys[i]!];
    let ok: boolean;
    switch (shape.kinds[i]!) {
      case 'string':
        ok = typeof value === 'string' && out.ascii(value);
        break;
      case 'uint':
        ok = isUint32(value);
        if (ok) out.head(0, value as number);
        break;
      case 'uintOrNull':
        ok = value === null || isUint32(value);
        if (value === null) {
          out.room(1);
          out.bytes[out.length++] = 0xf6;
        } else if (ok) out.head(0, value as number);
        break;
      case 'status':
        ok = writeStatus(out, value);
        break;
      case 'empty':
        ok = Array.isArray(value) && value.length === 0 && Object.getPrototypeOf(value) === Array.prototype;
        if (ok) out.head(4, 0);
        break;
      case 'spec':
        ok = typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
        if (ok) {
          const shared = out.shared;
          const id = shared?.get(value as object);
          if (shared === null) out.append(specEncoding(value as object));
          else if (id !== undefined) {
            out.head(6, SHARED_REF_TAG);
            out.head(0, id);
          } else {
            sharedNow = value as object;
            shared.set(sharedNow, shared.size);
            out.head(6, SHAREABLE_TAG);
            out.append(specEncoding(sharedNow));
          }
        }
        break;
    }
    if (!ok) {
      if (sharedNow !== undefined) out.shared!.delete(sharedNow);
      out.length = start;
      return false;
    }
  }
  return true;
}

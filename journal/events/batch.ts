// A committed Raft entry's data: one batch of events, `{ v, events }` in CBOR. A batch is the unit
// of atomicity: the store applies all of its events or none (see journal/store).
//
// Two encodings, one decoder (codec.ts): v1 entries are plain CBOR maps (runtime/codec's
// encodeMessage); v2 entries, written since, use the journal's static record table for the batch,
// the events and their known nested objects. Both decode to the same values. Since 2026-12-03 a
// v2 batch writes a task spec that several of its events carry once, as a CBOR shareable value
// (tag 28), and refers to it after (tag 29); the decoder has always read these tags, so entries
// written either way decode everywhere, to equal values.
import { CborOutput, decodeEventCbor, encodeEventCbor, writeEventDirect } from './codec.js';
import { EventInvalidError, EventTooLargeError } from './errors.js';
import { sameValue } from './equal.js';
import { EVENT_VERSIONS, parseEvent, vouchForTaskSpec, type EventSchemaOptions, type JournalEvent } from './events.js';

export const BATCH_VERSION = 1;
/** Events per batch: bounds the work of one apply and one watch delivery. */
export const BATCH_EVENTS_MAX = 1_000;
/** Encoded bytes per batch: SwarmKit's MaxTransactionBytes (1.5 MiB), below gRPC's 4 MiB message limit. */
export const BATCH_BYTES_MAX = 1.5 * 1024 * 1024;

export interface EventBatch {
  readonly v: number;
  readonly events: readonly JournalEvent[];
}

// CBOR head for a batch of n events, matching what encodeEventCbor writes for { v, events }:
// record 0 of the table (tag 0xe000), array(2), 1, array(n). Written by hand so that the splitter
// can size a batch by adding up its events' encodings, and build its bytes by concatenating them
// (each event's encoding is standalone: the codec keeps no state between values; a test checks
// the head against the codec for every array-length form).
const BATCH_PREFIX = Uint8Array.of(0xd9, 0xe0, 0x00, 0x82, BATCH_VERSION);

function arrayHead(length: number): Uint8Array {
  if (length < 24) return Uint8Array.of(0x80 + length);
  if (length < 0x100) return Uint8Array.of(0x98, length);
  if (length < 0x10000) return Uint8Array.of(0x99, length >> 8, length & 0xff);
  return Uint8Array.of(0x9a, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff);
}

/** The most bytes a batch adds around its events. */
export const BATCH_OVERHEAD_BYTES_MAX = BATCH_PREFIX.length + 5;

/** Where encodeEvent and encodeBatch write the events the direct writer takes (codec.ts). */
const output = new CborOutput();

export function encodeEvent(event: JournalEvent): Uint8Array {
  output.reset();
  if (writeEventDirect(output, event)) return output.bytes.slice(0, output.length);
  return encodeEventCbor(event);
}

/** An event's bytes after what `out` holds: the direct writer's, or the codec's. */
function writeEvent(out: CborOutput, event: JournalEvent): void {
  if (!writeEventDirect(out, event)) out.append(encodeEventCbor(event));
}

/** A batch's bytes from its events' bytes in `out`, in one buffer of its size. */
function batchBytes(out: CborOutput, count: number): Uint8Array {
  const head = arrayHead(count);
  const bytes = new Uint8Array(BATCH_PREFIX.length + head.length + out.length);
  bytes.set(BATCH_PREFIX, 0);
  bytes.set(head, BATCH_PREFIX.length);
  bytes.set(out.bytes.subarray(0, out.length), BATCH_PREFIX.length + head.length);
  return bytes;
}

/**
 * A batch's bytes. A task spec object that several of its events carry (a service's tasks) is
 * written once, as a CBOR shareable value (tag 28), and referenced after (tag 29 and its number):
 * a task.created of a typical service is a quarter of its size, and the batch decodes to events
 * whose specs are one object (cbor-x's decoder reads these tags whatever its options). Events are
 * otherwise written exactly as the codec writes them.
 */
export function encodeBatch(events: readonly JournalEvent[]): Uint8Array {
  output.reset();
  output.shared = new Map();
  for (const event of events) writeEvent(output, event);
  output.shared = null;
  return batchBytes(output, events.length);
}

/** `batch.events[i]`, made once per position: a field path is only read when a check fails. */
const eventFields: string[] = [];
function eventField(i: number): string {
  return (eventFields[i] ??= `batch.events[${i}]`);
}

const NO_OPTIONS: EventSchemaOptions = {};
const TASK_CREATED_VERSION = EVENT_VERSIONS['task.created'];

/** Decodes and validates a batch; throws EventInvalidError (field `batch...`) and the event errors. */
export function decodeBatch(bytes: Uint8Array, options: EventSchemaOptions = NO_OPTIONS): EventBatch {
  let value: unknown;
  try {
    value = decodeEventCbor(bytes);
  } catch (error) {
    throw new EventInvalidError('batch', `is not valid CBOR (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new EventInvalidError('batch', 'must be an object');
  const record = value as Record<string, unknown>;
  if (record.v !== BATCH_VERSION) throw new EventInvalidError('batch.v', `must be ${BATCH_VERSION}, got ${String(record.v)}`);
  const events = record.events;
  if (!Array.isArray(events)) throw new EventInvalidError('batch.events', 'must be an array');
  if (events.length > BATCH_EVENTS_MAX) throw new EventInvalidError('batch.events', `holds ${events.length} events, more than ${BATCH_EVENTS_MAX}`);
  for (const key in record) {
    if (key !== 'v' && key !== 'events') throw new EventInvalidError(`batch.${key}`, 'is not a known field');
  }
  // In place: the decoded array is fresh and ours (see schema.ts on returning decoded values).
  if (options !== NO_OPTIONS) {
    for (let i = 0; i < events.length; i++) events[i] = parseEvent(events[i], eventField(i), options);
    return { v: BATCH_VERSION, events: events as JournalEvent[] };
  }
  // The task.created events of a batch nearly always carry equal specs (a service's tasks): an
  // event whose spec equals the one the previous task.created's was accepted as (by the schema's
  // fast path, unchanged) holds that object instead, and the schema is told it was checked. The
  // batch decodes to equal values, its tasks' specs one object: each spec is walked once
  // (sameValue) where it was walked twice (the schema, then the store comparing it with its
  // service's, which now sees the same object again), and the decoded copies die at once.
  let sharedSpec: object | undefined;
  try {
    for (let i = 0; i < events.length; i++) {
      const raw = events[i] as { type?: unknown; v?: unknown; spec?: unknown } | null;
      const created = typeof raw === 'object' && raw !== null && raw.type === 'task.created' && raw.v === TASK_CREATED_VERSION;
      if (created && sharedSpec !== undefined && (raw.spec === sharedSpec || sameValue(raw.spec, sharedSpec))) {
        raw.spec = sharedSpec;
        vouchForTaskSpec(sharedSpec);
      }
      const spec = created ? raw.spec : undefined;
      const event = parseEvent(raw, eventField(i), options);
      vouchForTaskSpec(undefined);
      events[i] = event;
      // Only a spec the fast path took as it was (an object) is shared onwards.
      if (created) sharedSpec = event.type === 'task.created' && event.spec === spec && typeof spec === 'object' && spec !== null ? spec : undefined;
    }
  } finally {
    vouchForTaskSpec(undefined);
  }
  return { v: BATCH_VERSION, events: events as JournalEvent[] };
}

export interface SplitLimits {
  readonly eventsMax?: number;
  readonly bytesMax?: number;
}

export interface SplitBatch {
  readonly events: readonly JournalEvent[];
  /** The batch's encoding: exactly encodeBatch(events). */
  readonly bytes: Uint8Array;
}

/**
 * Writes batches as encodeBatch does (specs shared within each), a unit of events at a time: a
 * unit that would take the batch over a limit is taken back, with the specs it was the first to
 * write, so that it can begin the next batch. A unit is never cut.
 */
class BatchPacker {
  /**
   * Grown as batches need and kept: one packer serves every call (see `packer`), so a flush of
   * the node's write batching does not allocate a fresh output each time (64 KiB, zeroed, and
   * garbage after: 2% of a leader's CPU at one client before).
   */
  private readonly out = new CborOutput();
  private readonly shared = new Map<object, number>();
  /** Events in the batch being written. */
  private count = 0;
  private eventsMax = BATCH_EVENTS_MAX;
  private bytesMax = BATCH_BYTES_MAX;

  /** Starts packing under these limits; whatever an earlier use left (a throw midway) is dropped. */
  start(eventsMax: number, bytesMax: number): void {
    this.eventsMax = eventsMax;
    this.bytesMax = bytesMax;
    this.begin();
  }

  /** The bytes the batch's events take so far. */
  get size(): number {
    return this.out.length;
  }

  /**
   * Adds the unit's events to the batch; false, with nothing added, when the batch holds events
   * already and would then be over a limit. A unit added to an empty batch always goes in.
   */
  add(events: readonly JournalEvent[]): boolean {
    const at = this.out.length;
    const sharedBefore = this.shared.size;
    for (const event of events) writeEvent(this.out, event);
    if (this.count === 0 || (this.count + events.length <= this.eventsMax && this.out.length + BATCH_OVERHEAD_BYTES_MAX <= this.bytesMax)) {
      this.count += events.length;
      return true;
    }
    this.out.length = at;
    for (const [spec, id] of this.shared) if (id >= sharedBefore) this.shared.delete(spec);
    return false;
  }

  /** The batch's bytes; the packer starts the next batch. */
  take(): Uint8Array {
    const bytes = batchBytes(this.out, this.count);
    this.begin();
    return bytes;
  }

  private begin(): void {
    this.out.reset();
    this.shared.clear();
    this.out.shared = this.shared;
    this.count = 0;
  }
}

/** The packer of splitIntoBatches and packBatches: both run to completion, so one is enough. */
const packer = new BatchPacker();

function checkLimits(limits: SplitLimits): { eventsMax: number; bytesMax: number } {
  const eventsMax = limits.eventsMax ?? BATCH_EVENTS_MAX;
  const bytesMax = limits.bytesMax ?? BATCH_BYTES_MAX;
  if (!(eventsMax >= 1 && eventsMax <= BATCH_EVENTS_MAX)) throw new RangeError(`eventsMax must be 1..${BATCH_EVENTS_MAX}`);
  if (!(bytesMax > BATCH_OVERHEAD_BYTES_MAX)) throw new RangeError(`bytesMax must exceed ${BATCH_OVERHEAD_BYTES_MAX}`);
  return { eventsMax, bytesMax };
}

/**
 * Cuts events, in order, into batches of at most `eventsMax` events and `bytesMax` encoded bytes
 * each. Batches are independent transactions: a change that must be atomic has to fit in one.
 * An event that alone exceeds the byte limit is an EventTooLargeError (it can never commit).
 */
export function splitIntoBatches(events: readonly JournalEvent[], limits: SplitLimits = {}): SplitBatch[] {
  const { eventsMax, bytesMax } = checkLimits(limits);
  packer.start(eventsMax, bytesMax);
  const out: SplitBatch[] = [];
  let from = 0;
  const flush = (to: number): void => {
    if (to > from) out.push({ events: events.slice(from, to), bytes: packer.take() });
    from = to;
  };
  events.forEach((event, position) => {
    if (!packer.add([event])) {
      flush(position);
      packer.add([event]);
    }
    if (packer.size + BATCH_OVERHEAD_BYTES_MAX > bytesMax) throw new EventTooLargeError(event.type, position, packer.size, bytesMax - BATCH_OVERHEAD_BYTES_MAX);
  });
  flush(events.length);
  return out;
}

/** Consecutive units (`units` of them, from the one after the previous batch's) in one batch. */
export interface PackedBatch {
  readonly units: number;
  readonly bytes: Uint8Array;
}

/**
 * Packs units of events, in order, into as few batches as the limits allow, never cutting a unit
 * (each is a change that must apply whole: a write of the control API). A unit over a limit on its
 * own is a batch of its own.
 */
export function packBatches(units: ReadonlyArray<readonly JournalEvent[]>, limits: SplitLimits = {}): PackedBatch[] {
  const { eventsMax, bytesMax } = checkLimits(limits);
  packer.start(eventsMax, bytesMax);
  const out: PackedBatch[] = [];
  let inBatch = 0;
  for (const unit of units) {
    if (!packer.add(unit)) {
      out.push({ units: inBatch, bytes: packer.take() });
      inBatch = 0;
      packer.add(unit);
    }
    inBatch++;
  }
  if (inBatch > 0) out.push({ units: inBatch, bytes: packer.take() });
  return out;
}

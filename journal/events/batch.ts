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
 * Cuts events, in order, into batches of at most `eventsMax` events and `bytesMax` encoded bytes
 * each. Batches are independent transactions: a change that must be atomic has to fit in one.
 * An event that alone exceeds the byte limit is an EventTooLargeError (it can never commit).
 */
export function splitIntoBatches(events: readonly JournalEvent[], limits: SplitLimits = {}): SplitBatch[] {
  const eventsMax = limits.eventsMax ?? BATCH_EVENTS_MAX;
  const bytesMax = limits.bytesMax ?? BATCH_BYTES_MAX;
  if (!(eventsMax >= 1 && eventsMax <= BATCH_EVENTS_MAX)) throw new RangeError(`eventsMax must be 1..${BATCH_EVENTS_MAX}`);
  if (!(bytesMax > BATCH_OVERHEAD_BYTES_MAX)) throw new RangeError(`bytesMax must exceed ${BATCH_OVERHEAD_BYTES_MAX}`);
  // Each batch is written as encodeBatch writes it (specs shared within it), an event at a time:
  // one that does not fit is taken back, with the specs it was the first to write, and begins
  // the next batch.
  const out: SplitBatch[] = [];
  const writer = new CborOutput();
  const shared = new Map<object, number>();
  let pending: JournalEvent[] = [];
  const begin = (): void => {
    writer.reset();
    shared.clear();
    writer.shared = shared;
  };
  const flush = (): void => {
    if (pending.length === 0) return;
    out.push({ events: pending, bytes: batchBytes(writer, pending.length) });
    pending = [];
    begin();
  };
  begin();
  events.forEach((event, position) => {
    if (pending.length === eventsMax) flush();
    const at = writer.length;
    const sharedBefore = shared.size;
    writeEvent(writer, event);
    if (writer.length + BATCH_OVERHEAD_BYTES_MAX > bytesMax && pending.length > 0) {
      writer.length = at;
      for (const [spec, id] of shared) if (id >= sharedBefore) shared.delete(spec);
      flush();
      writeEvent(writer, event);
    }
    if (writer.length + BATCH_OVERHEAD_BYTES_MAX > bytesMax) throw new EventTooLargeError(event.type, position, writer.length, bytesMax - BATCH_OVERHEAD_BYTES_MAX);
    pending.push(event);
  });
  flush();
  return out;
}

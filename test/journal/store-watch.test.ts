// The watch feed: committed events in order with their index, resumable from a version, a bounded
// history of whole batches, and WatchCompactedError (naming the oldest version) instead of a gap.
import fc from 'fast-check';
import { WatchCompactedError, WatchFeed, type JournalEvent, type WatchBatch } from '../../journal/index.js';
import { InvariantViolation } from '../../runtime/index.js';
import { thrown } from './helpers.js';

const event = (n: number): JournalEvent => ({ type: 'node.removed', v: 1, at: n, id: `n${n}`, expectedVersion: null });
const batchOf = (index: number, size: number): JournalEvent[] => Array.from({ length: size }, (_, i) => event(index * 100 + i));


describe('watch feed', () => {
  test('a subscriber gets the backlog after its version, then live batches, in order, until it unsubscribes', () => {
    const feed = new WatchFeed({ historyEventsMax: 100 });
    feed.publish(1, batchOf(1, 2));
    feed.publish(3, batchOf(3, 1));
    const seen: WatchBatch[] = [];
    const sub = feed.subscribe(1, (batch) => seen.push(batch));
    expect(seen.map((b) => b.index)).toEqual([3]);
    feed.publish(4, batchOf(4, 3));
    expect(seen.map((b) => b.index)).toEqual([3, 4]);
    expect(seen[1]!.events).toEqual(batchOf(4, 3));
    sub.unsubscribe();
    feed.publish(5, batchOf(5, 1));
    expect(seen).toHaveLength(2);
    expect(feed.version).toBe(5);
  });

  test('the history is bounded; an older version is WatchCompactedError naming the oldest one, never a gap', () => {
    const feed = new WatchFeed({ historyEventsMax: 5 });
    for (let index = 1; index <= 5; index++) feed.publish(index, batchOf(index, 2));
    // 10 events published, at most 5 held: batches 1-3 are dropped whole, 4 and 5 (4 events) held.
    expect(feed.oldestVersion).toBe(3);
    const error = thrown(() => feed.subscribe(2, () => undefined));
    expect(error).toBeInstanceOf(WatchCompactedError);
    expect(error).toMatchObject({ code: 'WATCH_COMPACTED', requestedVersion: 2, oldestVersion: 3 });
    expect(thrown(() => feed.read(0))).toBeInstanceOf(WatchCompactedError);
    const seen: number[] = [];
    feed.subscribe(3, (batch) => seen.push(batch.index));
    expect(seen).toEqual([4, 5]);
  });

  test('read pages by whole batches and returns the version to resume from', () => {
    const feed = new WatchFeed({ historyEventsMax: 1_000 });
    feed.publish(2, batchOf(2, 3));
    feed.publish(3, batchOf(3, 3));
    feed.publish(7, batchOf(7, 1));
    const first = feed.read(0, 4);
    expect(first.batches.map((b) => b.index)).toEqual([2]);
    expect(first.version).toBe(2);
    const second = feed.read(first.version, 4);
    expect(second.batches.map((b) => b.index)).toEqual([3, 7]);
    expect(feed.read(second.version, 4)).toEqual({ batches: [], version: 7 });
    // A batch bigger than the page still comes whole (a version never splits).
    expect(feed.read(0, 1).batches.map((b) => b.events.length)).toEqual([3]);
    // Between two indexes that had no entry: resumes after.
    expect(feed.read(5).batches.map((b) => b.index)).toEqual([7]);
  });

  test('a feed started from a snapshot serves only what follows it', () => {
    const feed = new WatchFeed({ historyEventsMax: 10, startVersion: 40 });
    expect(thrown(() => feed.subscribe(39, () => undefined))).toMatchObject({ oldestVersion: 40 });
    const seen: number[] = [];
    feed.subscribe(40, (b) => seen.push(b.index));
    feed.publish(41, batchOf(41, 1));
    expect(seen).toEqual([41]);
    expect(thrown(() => feed.publish(41, []))).toBeInstanceOf(InvariantViolation);
  });

  test('a failing listener does not starve the others', () => {
    const feed = new WatchFeed({ historyEventsMax: 10 });
    const seen: number[] = [];
    feed.subscribe(0, () => {
      throw new Error('boom');
    });
    feed.subscribe(0, (b) => seen.push(b.index));
    expect(thrown(() => feed.publish(1, batchOf(1, 1)))).toMatchObject({ message: 'boom' });
    expect(seen).toEqual([1]);
  });

  test('property: resuming from any held version yields exactly the later batches; older versions throw', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 4 })), { maxLength: 60 }),
      fc.integer({ min: 0, max: 20 }),
      fc.nat(200),
      fc.integer({ min: 1, max: 6 }),
      (steps, historyEventsMax, since, pageEventsMax) => {
        const feed = new WatchFeed({ historyEventsMax });
        const all: WatchBatch[] = [];
        let index = 0;
        for (const [gap, size] of steps) {
          index += gap;
          const events = batchOf(index, size);
          feed.publish(index, events);
          all.push({ index, events });
        }
        const held = all.filter((b) => b.index > feed.oldestVersion);
        expect(held.reduce((n, b) => n + b.events.length, 0)).toBeLessThanOrEqual(historyEventsMax);
        if (since < feed.oldestVersion) {
          expect(thrown(() => feed.subscribe(since, () => undefined))).toMatchObject({ oldestVersion: feed.oldestVersion });
          return;
        }
        const seen: WatchBatch[] = [];
        feed.subscribe(since, (b) => seen.push(b));
        const expected = all.filter((b) => b.index > since);
        expect(seen).toEqual(expected);
        // Paging with read reaches the same batches.
        const paged: WatchBatch[] = [];
        let version = since;
        for (;;) {
          const page = feed.read(version, pageEventsMax);
          if (page.batches.length === 0) break;
          paged.push(...page.batches);
          version = page.version;
        }
        expect(paged).toEqual(expected);
      },
    ), { numRuns: 300 });
  });
});

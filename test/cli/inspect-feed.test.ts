// The inspection stream's server half without a process: jsonSafe (bytes, bigints, cycles,
// functions, class instances, hostile objects, limits), secret and config data redacted in the
// shapes they travel in between actors, and InspectFeed's batching (one write per deferred turn),
// bounding (a stalled sink: the queue stops at its limit, the rest are counted and reported by one
// `dropped` line once it drains), kind filter and close; and the client half's line splitter.
import { InspectFeed, NdjsonSplitter, jsonSafe, type InspectSink } from '../../cli/index.js';
import type { InspectionEvent } from '../../runtime/index.js';

/** A clock whose deferred calls run only when the test says. */
class ManualClock {
  time = 1000;
  deferred: Array<() => void> = [];
  now(): number {
    return this.time;
  }
  defer(fn: () => void): void {
    this.deferred.push(fn);
  }
  /** Runs the deferred calls queued so far (and any they queue). */
  run(): void {
    while (this.deferred.length > 0) {
      const batch = this.deferred;
      this.deferred = [];
      for (const fn of batch) fn();
    }
  }
}

/** A sink that takes writes until `stalled`, and then reports itself full. */
class FakeSink implements InspectSink {
  writes: string[] = [];
  stalled = false;
  write(text: string): boolean {
    this.writes.push(text);
    return !this.stalled;
  }
  lines(): Record<string, unknown>[] {
    return this.writes.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

const delivered = (i: number, message: unknown = { type: 'ping', i }): InspectionEvent => ({ type: 'message.delivered', at: i, from: 'n1/a', to: 'n1/b', message, depth: 0 });
const started = (i: number): InspectionEvent => ({ type: 'actor.started', at: i, address: `n1/a${i}`, kind: 'x', incarnation: 0, activated: false });

describe('jsonSafe', () => {
  test('bytes become their length, never their content', () => {
    expect(jsonSafe(new Uint8Array([1, 2, 3]))).toEqual({ bytes: 3 });
    expect(jsonSafe(Buffer.from('hunter2'))).toEqual({ bytes: 7 });
    expect(jsonSafe({ a: new Uint16Array(4), b: new ArrayBuffer(5), c: new DataView(new ArrayBuffer(6)) })).toEqual({ a: { bytes: 8 }, b: { bytes: 5 }, c: { bytes: 6 } });
  });

  test('bigints, non-finite numbers, undefined, symbols and functions', () => {
    expect(jsonSafe({ n: 12345678901234567890n, nan: NaN, inf: -Infinity, u: undefined, s: Symbol('x'), f: function named() {} })).toEqual({ n: '12345678901234567890', nan: 'NaN', inf: '-Infinity', s: 'Symbol(x)', f: '[function named]' });
    expect(jsonSafe([undefined, 1])).toEqual([null, 1]);
  });

  test('cycles are cut; an object shared by two branches is not a cycle', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a['self'] = a;
    const shared = { x: 1 };
    expect(jsonSafe({ a, l: shared, r: shared })).toEqual({ a: { name: 'a', self: '[cycle]' }, l: { x: 1 }, r: { x: 1 } });
    const list: unknown[] = [];
    list.push(list);
    expect(jsonSafe(list)).toEqual(['[cycle]']);
  });

  test('class instances show their class only; maps, sets, dates and errors are data', () => {
    class KeyHolder {
      readonly key = 'do-not-show';
      toJSON(): never {
        throw new Error('must not be called');
      }
    }
    const text = JSON.stringify(jsonSafe({ holder: new KeyHolder() }));
    expect(text).toBe('{"holder":{"instance":"KeyHolder"}}');
    expect(jsonSafe(new Map([['k', new Set([1, 2])]]))).toEqual({ map: [['k', { set: [1, 2] }]] });
    expect(jsonSafe(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
    expect(jsonSafe(new Date(Number.NaN))).toBe('Invalid Date');
    expect(jsonSafe(new RangeError('bad'))).toEqual({ error: 'RangeError', message: 'bad' });
    expect(jsonSafe(Object.assign(Object.create(null) as object, { a: 1 }))).toEqual({ a: 1 });
  });

  test('hostile objects do not throw: getters that throw, proxies that refuse, a __proto__ key', () => {
    const getter = { ok: 1, get bad(): number { throw new Error('no'); } };
    expect(jsonSafe(getter)).toEqual({ ok: 1, bad: '[unreadable]' });
    const proxy = new Proxy({}, { ownKeys: () => { throw new Error('no'); }, getPrototypeOf: () => { throw new Error('no'); } });
    expect(jsonSafe({ p: proxy })).toEqual({ p: '[unreadable]' });
    const protoKey = JSON.parse('{"__proto__": {"polluted": true}}') as object;
    const safe = jsonSafe(protoKey) as Record<string, unknown>;
    expect(JSON.stringify(safe)).toBe('{"__proto__":{"polluted":true}}');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  test('limits: depth, items, string length and values visited', () => {
    const limits = { depthMax: 3, valuesMax: 50, itemsMax: 4, stringCharsMax: 5 };
    expect(jsonSafe({ a: { b: { c: { d: 1 } } } }, limits)).toEqual({ a: { b: { c: '[depth]' } } });
    expect(jsonSafe([1, 2, 3, 4, 5, 6], limits)).toEqual([1, 2, 3, 4, '[2 more]']);
    expect(jsonSafe({ a: 1, b: 2, c: 3, d: 4, e: 5 }, limits)).toEqual({ a: 1, b: 2, c: 3, d: 4, '...': '[1 more keys]' });
    expect(jsonSafe('abcdefgh', limits)).toBe('abcde...[3 more chars]');
    const wide = Array.from({ length: 20 }, () => [1, 2, 3]);
    const text = JSON.stringify(jsonSafe(wide, { ...limits, itemsMax: 100, valuesMax: 10 }));
    // Ten values visited, then every container stops with a count of what it left out.
    expect(text).toBe('[[1,2,3],[1,2,3],["[3 more]"],"[17 more]"]');
  });

  test('secret and config data never show, in the shapes they travel in between actors', () => {
    const secret = new TextEncoder().encode('TOP-SECRET-VALUE-4711');
    const config = Buffer.from('CONFIG-CONTENT-0815');
    const spec = { annotations: { name: 'db-password', labels: {} }, data: secret };
    const messages = [
      // A journal event proposed to the writer, and the encoded batch proposed to Raft.
      { type: 'writer.propose', token: 't', events: [{ type: 'secret.created', v: 1, at: 1, id: 's1', spec }, { type: 'config.created', v: 1, at: 1, id: 'c1', spec: { ...spec, data: config } }], replyTo: 'n1/x' },
      { type: 'raft.propose', data: Buffer.concat([Buffer.from(secret), config]), requestId: 'r' },
      // A dispatcher's assignments to an agent.
      { type: 'dispatcher.assignments', full: true, tasks: [], removedTasks: [], secrets: [{ id: 's1', meta: { version: 1 }, spec }], removedSecrets: [], configs: [{ id: 'c1', spec: { ...spec, data: config } }], removedConfigs: [] },
      // A task's files on their way to the executor.
      { type: 'executor.prepare', spec: { id: 'task', files: [{ target: '/run/secrets/db-password', data: secret, mode: 0o444 }, { target: '/app.conf', data: config, mode: 0o444 }] }, replyTo: 'n1/x' },
    ];
    const clock = new ManualClock();
    const sink = new FakeSink();
    const feed = new InspectFeed(sink, { node: 'n1', clock });
    feed.start([{ address: 'n1/agent', kind: 'agent', status: 'running', mailboxDepth: 0, restarts: 0, state: { secrets: new Map([['s1', spec]]) }, children: [] }]);
    messages.forEach((m, i) => feed.listener(delivered(i, m)));
    feed.listener({ type: 'snapshot.changed', at: 9, address: 'n1/agent', state: { held: spec } });
    clock.run();
    const raw = sink.writes.join('');
    expect(raw).not.toContain('TOP-SECRET-VALUE-4711');
    expect(raw).not.toContain('CONFIG-CONTENT-0815');
    expect(raw).not.toContain(Buffer.from(secret).toString('base64'));
    expect(raw).not.toContain(config.toString('base64'));
    expect(raw).not.toContain(`${[...secret].join(',')}`);
    expect(raw).toContain('"data":{"bytes":21}');
    expect(raw).toContain('"data":{"bytes":19}');
    expect(sink.lines()).toHaveLength(1 + messages.length + 1);
  });
});

describe('InspectFeed', () => {
  test('the tree line first, then the records of one turn in one write', () => {
    const clock = new ManualClock();
    const sink = new FakeSink();
    const feed = new InspectFeed(sink, { node: 'n1', clock });
    feed.start([{ address: 'n1/raft', kind: 'raft', status: 'running', mailboxDepth: 0, restarts: 0, state: undefined, children: [{ address: 'n1/raft/peer', kind: 'raft-peer', status: 'running', mailboxDepth: 2, restarts: 1, state: 'follower', children: [] }] }]);
    expect(sink.writes).toHaveLength(1);
    for (let i = 0; i < 100; i++) feed.listener(delivered(i));
    expect(sink.writes).toHaveLength(1);
    clock.run();
    expect(sink.writes).toHaveLength(2);
    const lines = sink.lines();
    expect(lines[0]).toEqual({ kind: 'tree', t: 1000, node: 'n1', actors: [{ address: 'n1/raft', kind: 'raft', status: 'running', mailboxDepth: 0, restarts: 0, state: null, children: [{ address: 'n1/raft/peer', kind: 'raft-peer', status: 'running', mailboxDepth: 2, restarts: 1, state: 'follower', children: [] }] }] });
    expect(lines.slice(1).map((l) => l['t'])).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(lines[1]).toEqual({ t: 0, node: 'n1', kind: 'message.delivered', from: 'n1/a', to: 'n1/b', message: { type: 'ping', i: 0 }, depth: 0 });
    expect(feed.stats).toEqual({ queued: 100, dropped: 0, writes: 2 });
  });

  test('each actor kind that runs a machine is described once: after the tree, or before its first actor.started', () => {
    const clock = new ManualClock();
    const sink = new FakeSink();
    const charts: Record<string, unknown> = { 'n1/raft/peer': { machineId: 'peer' }, 'n1/a1': { machineId: 'x' }, 'n1/a2': { machineId: 'x, again' } };
    const asked: string[] = [];
    const feed = new InspectFeed(sink, { node: 'n1', clock, describe: (address) => { asked.push(address); return charts[address]; } });
    feed.start([{ address: 'n1/raft', kind: 'raft', status: 'running', mailboxDepth: 0, restarts: 0, state: undefined, children: [{ address: 'n1/raft/peer', kind: 'raft-peer', status: 'running', mailboxDepth: 0, restarts: 0, state: 'follower', children: [] }] }]);
    feed.listener(started(1));
    feed.listener(started(2));
    clock.run();
    expect(sink.lines().map((l) => [l['kind'], (l['kind'] === 'machine' ? l['actorKind'] : l['address']) ?? null])).toEqual([
      ['tree', null], ['machine', 'raft-peer'], ['machine', 'x'], ['actor.started', 'n1/a1'], ['actor.started', 'n1/a2'],
    ]);
    expect(sink.lines()[1]).toEqual({ t: 1000, node: 'n1', kind: 'machine', actorKind: 'raft-peer', chart: { machineId: 'peer' } });
    // Asked once per kind (raft has no machine: asked, and not again).
    expect(asked).toEqual(['n1/raft', 'n1/raft/peer', 'n1/a1']);
  });

  test('a stalled sink: the queue stops at its limit, the overflow is counted and reported once it drains', () => {
    const clock = new ManualClock();
    const sink = new FakeSink();
    const feed = new InspectFeed(sink, { node: 'n1', clock, queuedRecordsMax: 50 });
    feed.start([]);
    sink.stalled = true;
    feed.listener(delivered(0));
    clock.run();
    // That write filled the sink: what comes now waits, up to 50 records.
    expect(sink.writes).toHaveLength(2);
    for (let i = 1; i <= 1000; i++) {
      clock.time = 1000 + i;
      feed.listener(delivered(i));
      clock.run();
    }
    expect(sink.writes).toHaveLength(2);
    expect(feed.stats).toEqual({ queued: 51, dropped: 950, writes: 2 });
    expect(clock.deferred).toHaveLength(0);

    sink.stalled = false;
    feed.drained();
    clock.run();
    expect(sink.writes).toHaveLength(3);
    const lines = sink.lines();
    expect(lines.slice(2, 52).map((l) => l['t'])).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(lines[52]).toEqual({ kind: 'dropped', t: 2000, node: 'n1', count: 950 });
    expect(lines).toHaveLength(53);

    // Flowing again: records pass, and no second dropped line.
    feed.listener(delivered(2001));
    clock.run();
    expect(sink.lines().slice(53)).toEqual([expect.objectContaining({ t: 2001, kind: 'message.delivered' })]);
  });

  test('the queue is bounded in characters too', () => {
    const clock = new ManualClock();
    const sink = new FakeSink();
    const feed = new InspectFeed(sink, { node: 'n1', clock, queuedCharsMax: 10_000 });
    sink.stalled = true;
    feed.start([]);
    const big = 'x'.repeat(1000);
    for (let i = 0; i < 100; i++) feed.listener(delivered(i, { type: 'log', text: big }));
    clock.run();
    expect(feed.stats.queued).toBeLessThanOrEqual(10);
    expect(feed.stats.queued + feed.stats.dropped).toBe(100);
    sink.stalled = false;
    feed.drained();
    clock.run();
    expect(sink.lines().at(-1)).toEqual({ kind: 'dropped', t: 1000, node: 'n1', count: feed.stats.dropped });
  });

  test('kinds filter records; close stops everything; a hostile record does not throw', () => {
    const clock = new ManualClock();
    const sink = new FakeSink();
    const feed = new InspectFeed(sink, { node: 'n1', clock, kinds: new Set(['actor.started']) });
    feed.start([]);
    feed.listener(delivered(1));
    feed.listener(started(2));
    const hostile = new Proxy({}, { get: () => { throw new Error('no'); }, ownKeys: () => { throw new Error('no'); } });
    feed.listener(delivered(3));
    clock.run();
    expect(sink.lines().slice(1)).toEqual([{ t: 2, node: 'n1', kind: 'actor.started', address: 'n1/a2', actorKind: 'x', incarnation: 0, activated: false }]);

    const all = new InspectFeed(sink, { node: 'n1', clock });
    expect(() => all.listener({ type: 'snapshot.changed', at: 4, address: 'n1/a', state: hostile })).not.toThrow();
    expect(() => all.listener(delivered(5, hostile))).not.toThrow();
    clock.run();
    expect(sink.lines().slice(2)).toEqual([
      { t: 4, node: 'n1', kind: 'snapshot.changed', address: 'n1/a', state: '[unreadable]' },
      { t: 5, node: 'n1', kind: 'message.delivered', from: 'n1/a', to: 'n1/b', message: '[unreadable]', depth: 0 },
    ]);

    const writes = sink.writes.length;
    feed.listener(started(6));
    feed.close();
    feed.listener(started(7));
    clock.run();
    expect(sink.writes).toHaveLength(writes);
  });

  test('a sink that throws closes the feed instead of throwing into the runtime', () => {
    const clock = new ManualClock();
    const feed = new InspectFeed({ write: () => { throw new Error('socket gone'); } }, { node: 'n1', clock });
    expect(() => feed.start([])).not.toThrow();
    feed.listener(started(1));
    expect(() => clock.run()).not.toThrow();
    expect(clock.deferred).toHaveLength(0);
  });
});

describe('NdjsonSplitter', () => {
  const text = `${JSON.stringify({ kind: 'tree', actors: [] })}\n${JSON.stringify({ kind: 'a', s: 'é ✓ 😀' })}\n\n${JSON.stringify({ kind: 'b' })}\n`;

  test('every cut of the stream into two chunks gives the same records', () => {
    const whole = new NdjsonSplitter().push(text);
    expect(whole.map((r) => r['kind'])).toEqual(['tree', 'a', 'b']);
    for (let cut = 0; cut <= text.length; cut++) {
      const splitter = new NdjsonSplitter();
      const records = [...splitter.push(text.slice(0, cut)), ...splitter.push(text.slice(cut)), ...splitter.end()];
      expect(records).toEqual(whole);
    }
  });

  test('one character at a time, and a last line without a newline', () => {
    const splitter = new NdjsonSplitter();
    const records: Record<string, unknown>[] = [];
    for (const ch of `${text}{"kind":"last"}`) records.push(...splitter.push(ch));
    expect(records.map((r) => r['kind'])).toEqual(['tree', 'a', 'b']);
    expect(splitter.end()).toEqual([{ kind: 'last' }]);
  });

  test('a line that is not a JSON record, or too long, is an error', () => {
    expect(() => new NdjsonSplitter().push('{"a":\n')).toThrow(/not JSON/);
    expect(() => new NdjsonSplitter().push('[1]\n')).toThrow(/not a record/);
    const splitter = new NdjsonSplitter(10);
    expect(() => splitter.push('{"a":"0123456789')).toThrow(/over 10 characters/);
  });
});

// The journal's event codec (encoding v2, journal/events/codec.ts): a static, append-only table of
// record structures; deterministic, stateless encoding; v1 entries (plain maps) and v2 entries
// decode to the same events; input that would teach the decoder a structure is refused.
import { createHash } from 'node:crypto';
import { Decoder, Encoder } from 'cbor-x';
import fc from 'fast-check';
import {
  EVENT_RECORD_STRUCTURES, EVENT_SCHEMAS, decodeBatch, decodeEventCbor, encodeBatch, encodeEvent, encodeEventCbor,
  type JournalEvent, type ServiceSpec, type TaskStatus,
} from '../../journal/index.js';
import { encodeMessage } from '../../runtime/index.js';
import { batchesArb, eventArb, oneOfEach, serviceSpec } from './journal-fixtures.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const freshDecoder = (): Decoder => new Decoder({ mapsAsObjects: true, structures: EVENT_RECORD_STRUCTURES.map((keys) => [...keys]) } as never);

describe('the record table', () => {
  test('is pinned: entries may only be APPENDED, never changed, removed or reordered', () => {
    // Committed journal entries name these structures by position (tag 0xe000 + id): changing,
    // removing or reordering one makes old entries decode to wrong objects. To add a shape,
    // append it to EVENT_RECORD_STRUCTURES and append the same line here; the digest then covers
    // the longer table, and the first entries must stay exactly as below.
    const pinned = [
      'v,events',
      'type,v,at,id,spec',
      'type,v,at,id,spec,expectedVersion',
      'type,v,at,id,spec,description,status',
      'type,v,at,id,status,expectedVersion',
      'type,v,at,id,expectedVersion',
      'type,v,at,id,serviceId,slot,nodeId,spec,serviceVersion,desiredState,status',
      'type,v,at,id,nodeId,status,expectedVersion',
      'type,v,at,id,desiredState,expectedVersion',
      'type,v,at,id,labels,expectedVersion',
      'state,message,timestamp,err',
      'state,message,addr',
      'name,labels',
      'version,createdAt,updatedAt',
      'annotations,orchestration,dispatcher,raft,caConfig,encryption',
      'taskHistoryRetentionLimit',
      'heartbeatPeriodMs',
      'snapshotIntervalEntries,logEntriesForSlowFollowers,electionTicks,heartbeatTicks',
      'nodeCertExpiryMs',
      'autoLockManagers',
      'annotations,role,availability',
      'nanoCpus,memoryBytes',
      'hostname,platform,resources,engineLabels',
      'os,architecture',
      'kind,replicas',
      'kind',
      'kind,maxConcurrent,totalCompletions',
      'id,name,target',
      'container,resources,restartPolicy,placement,networks,secrets,configs',
      'image,command,args,env,labels',
      'limits,reservations',
      'condition,delayMs,maxAttempts,windowMs',
      'constraints,maxReplicasPerNode',
      'parallelism,delayMs,failureAction,monitorMs,maxFailureRatio,order',
      'name,protocol,targetPort,publishedPort,publishMode',
      'annotations,task,mode,update,rollback,endpoint',
      'ports',
      'annotations,driver,ipam,internal,attachable,ingress',
      'driver,subnets',
      'subnet,gateway',
      'annotations,data',
      'container,resources,restartPolicy,placement,networks,secrets,configs,forceUpdate',
      'constraints,maxReplicasPerNode,preferences,platforms',
      'spread',
      'annotations,task,mode,update,rollback,endpoint,rebalance',
      'state,startedAt,completedAt,message',
      'ports,virtualIps',
      'networkId,addr',
      'type,v,at,id,serviceId,slot,nodeId,spec,serviceVersion,desiredState,status,restarts,addresses',
      'type,v,at,id,updateStatus,expectedVersion',
      'type,v,at,id,endpoint,expectedVersion',
      'type,v,at,id,addresses,status,expectedVersion',
      'type,v,at,id,description,expectedVersion',
      'image,command,args,env,labels,healthcheck,mounts,dir,user,stopSignal,stopGracePeriodMs,hostname',
      'container,resources,restartPolicy,placement,networks,secrets,configs,forceUpdate,runtime',
      'test,intervalMs,timeoutMs,retries,startPeriodMs',
      'type,source,target,readOnly',
      'annotations,task,mode,update,rollback,endpoint,rebalance,dependsOn',
      'service,condition',
    ];
    expect(EVENT_RECORD_STRUCTURES.map((keys) => keys.join(','))).toEqual(pinned);
    expect(createHash('sha256').update(JSON.stringify(EVENT_RECORD_STRUCTURES)).digest('hex')).toBe(
      'd356243e5c94dfe31c561090ad26326098e1d1f638b1fed6ec4ca2612efebe02',
    );
  });

  test('covers every event type and every nested object of the fixtures (all but labels maps)', () => {
    const table = new Set(EVENT_RECORD_STRUCTURES.map((keys) => keys.join(',')));
    const missing = new Set<string>();
    const walk = (value: unknown, parentKey: string): void => {
      if (Array.isArray(value)) for (const item of value) walk(item, parentKey);
      else if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) {
        if (parentKey !== 'labels' && parentKey !== 'engineLabels' && !table.has(Object.keys(value).join(','))) missing.add(Object.keys(value).join(','));
        for (const [key, item] of Object.entries(value)) walk(item, key);
      }
    };
    const modes: ServiceSpec['mode'][] = [{ kind: 'global' }, { kind: 'replicatedJob', maxConcurrent: 1, totalCompletions: 2 }, { kind: 'globalJob' }];
    const meta = { version: 1, createdAt: 2, updatedAt: 3 };
    walk([...oneOfEach(), ...modes.map((mode) => ({ ...serviceSpec('x'), mode })), meta], '');
    expect([...missing]).toEqual([]);
  });
});

describe('encoding v2', () => {
  test('v1 (plain maps) and v2 entries of the same events decode to the same events, key order included', () => {
    const events = oneOfEach();
    const v1 = encodeMessage({ v: 1, events });
    const v2 = encodeBatch(events);
    expect(v2.length).toBeLessThan(v1.length / 2);
    const fromV1 = decodeBatch(v1);
    const fromV2 = decodeBatch(v2);
    expect(fromV2).toEqual(fromV1);
    expect(fromV2).toEqual({ v: 1, events });
    fromV2.events.forEach((event, i) => expect(JSON.stringify(event)).toBe(JSON.stringify(fromV1.events[i])));
    fc.assert(fc.property(fc.array(eventArb, { minLength: 1, maxLength: 5 }), (batch) => {
      const a = decodeBatch(encodeMessage({ v: 1, events: batch }));
      const b = decodeBatch(encodeBatch(batch));
      expect(b).toEqual(a);
      expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    }), { numRuns: 200 });
  });

  test('decoded v2 events take the schema fast path (keys exactly in declared order)', () => {
    for (const event of oneOfEach()) {
      const decoded = (decodeEventCbor(encodeBatch([event])) as { events: unknown[] }).events[0];
      expect(EVENT_SCHEMAS[event.type].accepts(decoded)).toBe(true);
    }
  });

  test('a batch head is record 0 and the batch equals the codec encoding {v, events} whole, for every array-length form', () => {
    const event = oneOfEach()[0]!;
    for (const n of [0, 1, 23, 24, 255, 256, 1_000]) {
      const events = Array.from({ length: n }, () => event);
      const bytes = encodeBatch(events);
      expect(hex(bytes.subarray(0, 5))).toBe('d9e0008201');
      expect(hex(bytes)).toBe(hex(encodeEventCbor({ v: 1, events })));
    }
  });

  test('is deterministic and stateless: an event encodes the same alone, after anything, and decodes with a fresh decoder', () => {
    const events = oneOfEach();
    const alone = events.map((event) => hex(encodeEvent(event)));
    // Shapes the table lacks, prefixes and extensions of its entries, in between: with cbor-x's own
    // useRecords these would be learned (or overwrite an entry) and change later encodings.
    const odd = [{ x: 1 }, { state: 'a', message: 'b' }, { state: 'a', message: 'b', timestamp: 1, err: '', extra: 1 }, { v: 1 }, {}, { kind: 'k', other: 2 }];
    for (const value of odd) {
      const bytes = encodeEventCbor(value);
      expect(hex(bytes)).toBe(hex(encodeMessage(value)));
      expect(freshDecoder().decode(bytes)).toEqual(value);
    }
    expect(events.map((event) => hex(encodeEvent(event)))).toEqual(alone);
    for (const event of events) {
      const bytes = encodeEvent(event);
      const decoded = freshDecoder().decode(bytes) as JournalEvent;
      expect(decoded).toEqual(event);
      expect(JSON.stringify(decoded)).toBe(JSON.stringify(event));
    }
    fc.assert(fc.property(batchesArb, (batches) => {
      for (const batch of batches) {
        const bytes = encodeBatch(batch);
        expect(hex(encodeBatch(batch))).toBe(hex(bytes));
        expect(decodeBatch(bytes).events).toEqual(batch);
        expect(freshDecoder().decode(bytes)).toEqual({ v: 1, events: batch });
      }
    }), { numRuns: 100 });
  });

  test('labels whose keys match a table entry still round-trip unchanged', () => {
    const event: JournalEvent = { type: 'secret.updated', v: 1, at: 1, id: 's', labels: { state: 'a', message: 'b', timestamp: 'c', err: 'd' }, expectedVersion: null };
    expect(decodeBatch(encodeBatch([event])).events).toEqual([event]);
    const proto = JSON.parse('{"__proto__": "x", "a": "b"}') as Record<string, string>;
    expect(Object.keys(decodeEventCbor(encodeEventCbor({ ...proto, nested: { kind: 'k' } })) as object)).toEqual(Object.keys(decodeEventCbor(encodeMessage({ ...proto, nested: { kind: 'k' } })) as object));
  });

  test('input defining records inline is refused, and leaves the decoder as it was', () => {
    const inline = new Encoder({ useRecords: true, mapsAsObjects: true } as never).encode({ a: 1, b: { c: 2 } });
    expect(hex(inline.subarray(0, 3))).toBe('d9dfff');
    expect(() => decodeEventCbor(inline)).toThrow(/inline record/);
    // A definition over a table id, then its use.
    const overwrite = Uint8Array.of(0xd9, 0xdf, 0xff, 0x83, 0x19, 0xe0, 0x0a, 0x81, 0x61, 0x7a, 0x01);
    expect(() => decodeEventCbor(overwrite)).toThrow();
    const events = oneOfEach();
    expect(decodeBatch(encodeBatch(events)).events).toEqual(events);
    expect(() => decodeBatch(inline)).toThrow(/not valid CBOR/);
  });
});

describe('the direct writer of the commonest task events', () => {
  const spec = serviceSpec('web').task;
  const status = (message = 'scheduler assigned task to node', timestamp = 1_234): TaskStatus => ({ state: 'assigned', message, timestamp, err: '' });
  const typical: JournalEvent[] = [
    {
      type: 'task.created', v: 3, at: 1_000, id: 'abcdefghijklmnopqrstuvwxy', serviceId: 'svc00001', slot: 7, nodeId: '', spec, serviceVersion: 12,
      desiredState: 'running', status: { state: 'new', message: 'created', timestamp: 1_000, err: '' }, restarts: [], addresses: [],
    },
    { type: 'task.assigned', v: 1, at: 70_000, id: 'abcdefghijklmnopqrstuvwxy', nodeId: 'node00042', status: status(), expectedVersion: 123_456 },
    { type: 'task.allocated', v: 1, at: 2 ** 32 - 1, id: 't1', addresses: [], status: { state: 'pending', message: 'allocated', timestamp: 5, err: '' }, expectedVersion: null },
    { type: 'task.statusChanged', v: 1, at: 0, id: 't2', status: { state: 'running', message: 'x'.repeat(300), timestamp: 65_536, err: 'e'.repeat(24) }, expectedVersion: 23 },
  ];
  // Each falls back to the generic path somewhere (and must still give its bytes).
  const unusual: JournalEvent[] = [
    { ...typical[1]!, status: status('déjà vu') } as JournalEvent,
    { ...typical[1]!, at: 2 ** 32 } as JournalEvent,
    { ...typical[1]!, expectedVersion: 0.5 } as unknown as JournalEvent,
    { ...typical[0]!, restarts: [400, 900] } as JournalEvent,
    { ...typical[2]!, addresses: [{ networkId: 'net1', addr: '10.0.0.2/24' }] } as JournalEvent,
    { id: 't2', type: 'task.statusChanged', v: 1, at: 0, status: status(), expectedVersion: 23 } as JournalEvent,
    { ...typical[3]!, status: { message: 'm', state: 'running', timestamp: 1, err: '' } } as JournalEvent,
    { ...typical[1]!, extra: 1 } as unknown as JournalEvent,
    { ...typical[1]!, id: 'ü'.repeat(30) } as JournalEvent,
  ];
  /**
   * What encodeBatch must write: the codec's bytes of the batch, but where the direct writer took a
   * task.created (known from its batch alone: the codec's bytes with d81c before the spec), the
   * first event carrying each spec object has it tagged shareable and the later ones a reference.
   */
  const sharedCodecBytes = (events: readonly JournalEvent[]): string => {
    const ids = new Map<object, number>();
    const parts: string[] = [];
    const marked = events.map((event, i) => {
      const codec = hex(encodeEventCbor({ v: 1, events: [event] }));
      const alone = hex(encodeBatch([event]));
      if (alone === codec) return event;
      const spec = (event as { spec: object }).spec;
      expect(alone).toBe(codec.replace(hex(encodeEventCbor(spec)), `d81c${hex(encodeEventCbor(spec))}`));
      const id = ids.get(spec);
      if (id === undefined) ids.set(spec, ids.size);
      parts[i] = id === undefined ? `d81c${hex(encodeEventCbor(spec))}` : `d81d${hex(encodeEventCbor(id))}`;
      return { ...event, spec: `@spec${i}@` };
    });
    let expected = hex(encodeEventCbor({ v: 1, events: marked }));
    parts.forEach((bytes, i) => {
      const marker = hex(encodeEventCbor(`@spec${i}@`));
      expect(expected.split(marker)).toHaveLength(2);
      expected = expected.replace(marker, bytes);
    });
    return expected;
  };
  const same = (event: JournalEvent): void => expect(hex(encodeEvent(event))).toBe(hex(encodeEventCbor(event)));

  test('typical events, and events it leaves to the generic path, encode to exactly the codec bytes', () => {
    for (const event of [...typical, ...unusual, ...oneOfEach()]) same(event);
    // The spec's bytes are kept per object: a second event with the same spec, and another spec.
    same({ ...typical[0]!, id: 'another' } as JournalEvent);
    same({ ...typical[0]!, spec: serviceSpec('api', 2, 'redis:7').task } as JournalEvent);
  });

  test('property: random events and batches encode to exactly the codec bytes', () => {
    fc.assert(fc.property(eventArb, (event) => same(event)), { numRuns: 500 });
    fc.assert(fc.property(fc.array(eventArb, { maxLength: 20 }), (events) => {
      expect(hex(encodeBatch(events))).toBe(sharedCodecBytes(events));
    }), { numRuns: 200 });
    // Specs repeated: the same events again, with the specs they carry.
    fc.assert(fc.property(fc.array(eventArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 12 }), (events, picks) => {
      const again = picks.map((p) => events[p % Math.max(events.length, 1)]).filter((e): e is JournalEvent => e !== undefined);
      const all = [...events, ...again.map((e, i) => ({ ...e, id: `again${i}` }) as JournalEvent)];
      expect(hex(encodeBatch(all))).toBe(sharedCodecBytes(all));
    }), { numRuns: 200 });
    const mixed = [...typical, ...unusual, ...typical];
    expect(hex(encodeBatch(mixed))).toBe(sharedCodecBytes(mixed));
    // Without a task.created the direct writer takes, exactly the codec's bytes.
    const noSpec = [...typical.slice(1), ...unusual, ...typical.slice(1)];
    expect(hex(encodeBatch(noSpec))).toBe(hex(encodeEventCbor({ v: 1, events: noSpec })));
    expect(decodeBatch(encodeBatch(typical)).events).toEqual(typical);
  });

  test('a spec object that several events of a batch carry is written whole once (tag 28) and referenced after (tag 29)', () => {
    const other = serviceSpec('api', 2, 'redis:7').task;
    // unusual[3] is a task.created the direct writer leaves to the codec: its spec is written whole, and not shared.
    const events = [
      typical[0]!, typical[1]!, { ...typical[0]!, id: 'b' }, unusual[3]!, { ...typical[0]!, id: 'c', spec: other }, { ...typical[0]!, id: 'd' },
      { ...typical[0]!, id: 'e', spec: other },
    ] as JournalEvent[];
    // The codec's bytes, each direct task.created's spec standing in for what the writer puts there.
    const marked = events.map((event, i) => (i === 3 || !('spec' in event) ? event : { ...event, spec: `@spec${i}@` }));
    let expected = hex(encodeEventCbor({ v: 1, events: marked }));
    const put = (i: number, bytes: string): void => {
      const marker = hex(encodeEventCbor(`@spec${i}@`));
      expect(expected.split(marker)).toHaveLength(2);
      expected = expected.replace(marker, bytes);
    };
    put(0, `d81c${hex(encodeEventCbor(spec))}`);
    put(2, 'd81d00');
    put(4, `d81c${hex(encodeEventCbor(other))}`);
    put(5, 'd81d00');
    put(6, 'd81d01');
    const bytes = encodeBatch(events);
    expect(hex(bytes)).toBe(expected);
    // Decoded: the same values; the referenced specs are the one decoded object.
    const decoded = decodeEventCbor(bytes) as { events: Array<{ spec?: unknown }> };
    expect(decoded.events).toEqual(events);
    expect(decoded.events[2]!.spec).toBe(decoded.events[0]!.spec);
    expect(decoded.events[5]!.spec).toBe(decoded.events[0]!.spec);
    expect(decoded.events[6]!.spec).toBe(decoded.events[4]!.spec);
    expect(decoded.events[3]!.spec).not.toBe(decoded.events[0]!.spec);
    expect(decodeBatch(bytes).events).toEqual(events);
    // A reference to a value never made shareable is refused as bad CBOR, not a crash.
    const dangling = Uint8Array.from(Buffer.from(expected.replace('d81d01', 'd81d05'), 'hex'));
    expect(() => decodeBatch(dangling)).toThrow(/not valid CBOR/);
  });
});

// The event schema: every event type round-trips through CBOR, decoding refuses unknown types,
// unsupported versions and malformed fields with typed errors naming the field, older versions
// are upgraded, and batches encode, decode and split within their limits.
import fc from 'fast-check';
import {
  BATCH_BYTES_MAX, BATCH_EVENTS_MAX, EVENT_SCHEMAS, EVENT_TYPES, EVENT_UPGRADES, EVENT_VERSIONS, EventInvalidError, EventTooLargeError, EventTypeUnknownError,
  BATCH_OVERHEAD_BYTES_MAX, EventVersionUnsupportedError, decodeBatch, decodeEventCbor, encodeBatch, encodeEvent, encodeEventCbor, kindOfEvent, packBatches, parseEvent, splitIntoBatches,
  CONTAINER_SPEC_DEFAULTS, type ContainerSpec, type EventType, type EventUpgrades, type JournalEvent, type RawEvent, type ServiceSpec, type TaskSpec,
} from '../../journal/index.js';
import { decodeMessage, encodeMessage } from '../../runtime/index.js';
import { blob, eventArb, oneOfEach, serviceSpec, status } from './journal-fixtures.js';
import { thrown } from './helpers.js';


const roundTrip = (event: JournalEvent): JournalEvent => parseEvent(decodeEventCbor(encodeEvent(event)));

describe('events', () => {
  test('the fixture covers every event type, and each round-trips through CBOR unchanged', () => {
    const events = oneOfEach();
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(EVENT_TYPES));
    expect(EVENT_TYPES).toHaveLength(26);
    for (const event of events) expect(roundTrip(event)).toEqual(event);
  });

  test('every kind has its facts', () => {
    const kinds = new Set(oneOfEach().map(kindOfEvent));
    expect([...kinds].sort()).toEqual(['cluster', 'config', 'network', 'node', 'secret', 'service', 'task']);
  });

  test('an unknown type is refused naming the field type', () => {
    const error = thrown(() => parseEvent({ type: 'task.exploded', v: 1, at: 0, id: 't1' }));
    expect(error).toBeInstanceOf(EventTypeUnknownError);
    expect(error).toMatchObject({ code: 'EVENT_TYPE_UNKNOWN', field: 'type', type: 'task.exploded' });
    // Not a property of Object.prototype either.
    expect(thrown(() => parseEvent({ type: 'constructor', v: 1 }))).toBeInstanceOf(EventTypeUnknownError);
  });

  test('a newer version, or an older one without an upgrade, is refused naming the field v', () => {
    const event = { ...oneOfEach()[0]!, v: 2 };
    const newer = thrown(() => parseEvent(event));
    expect(newer).toBeInstanceOf(EventVersionUnsupportedError);
    expect(newer).toMatchObject({ field: 'v', version: 2, currentVersion: 1, type: 'cluster.created' });
    expect(thrown(() => parseEvent({ ...event, v: 0 }))).toMatchObject({ code: 'EVENT_VERSION_UNSUPPORTED', version: 0 });
    expect(thrown(() => parseEvent({ ...event, v: '1' }))).toMatchObject({ code: 'EVENT_INVALID', field: 'event.v' });
  });

  test('malformed fields are refused with the path of the field', () => {
    const task = oneOfEach().find((e) => e.type === 'task.created')!;
    const cases: [unknown, string, RegExp][] = [
      [{ ...task, status: { state: 'running', message: '', timestamp: 1 } }, 'event.status.err', /missing/],
      [{ ...task, status: { ...status('running'), state: 'exploded' } }, 'event.status.state', /one of/],
      [{ ...task, slot: -1 }, 'event.slot', /at least 0/],
      [{ ...task, slot: 1.5 }, 'event.slot', /integer/],
      [{ ...task, id: '' }, 'event.id', /empty/],
      [{ ...task, extra: 1 }, 'event.extra', /not a known field/],
      [{ ...task, spec: { ...task.spec, container: { ...task.spec.container, args: ['ok', 7] } } }, 'event.spec.container.args[1]', /string/],
      [{ ...task, spec: { ...task.spec, container: { ...task.spec.container, labels: { a: 1 } } } }, 'event.spec.container.labels.a', /string/],
      [{ ...oneOfEach().find((e) => e.type === 'secret.created')!, spec: { ...blob('s'), data: 'text' } }, 'event.spec.data', /bytes/],
      [{ ...oneOfEach().find((e) => e.type === 'service.created')!, spec: { ...oneOfEach().find((e) => e.type === 'service.created')!.spec, mode: { kind: 'daemon' } } }, 'event.spec.mode.kind', /one of/],
      [[task], 'event', /object/],
      [null, 'event', /object/],
    ];
    for (const [value, field, reason] of cases) {
      const error = thrown(() => parseEvent(value));
      expect(error).toBeInstanceOf(EventInvalidError);
      expect((error as EventInvalidError).field).toBe(field);
      expect((error as EventInvalidError).reason).toMatch(reason);
    }
  });

  test('a fabricated v0 of task.statusChanged is upgraded to v1 on decode', () => {
    // v0 (fabricated): the status had no err, and the state was upper case, as in SwarmKit's enum.
    const upgrades: EventUpgrades = {
      'task.statusChanged': {
        0: (raw: RawEvent): RawEvent => {
          const old = raw.status as { state: string; message: string; timestamp: number };
          return { ...raw, v: 1, status: { state: old.state.toLowerCase(), message: old.message, timestamp: old.timestamp, err: '' } };
        },
      },
    };
    const v0 = { type: 'task.statusChanged', v: 0, at: 5, id: 't1', status: { state: 'RUNNING', message: 'started', timestamp: 4 }, expectedVersion: null };
    const bytes = encodeMessage({ v: 1, events: [v0] });
    expect(decodeBatch(bytes, { upgrades }).events).toEqual([
      { type: 'task.statusChanged', v: 1, at: 5, id: 't1', status: { state: 'running', message: 'started', timestamp: 4, err: '' }, expectedVersion: null },
    ]);
    // Without the upgrade the same bytes are refused, not misread.
    expect(thrown(() => decodeBatch(bytes))).toBeInstanceOf(EventVersionUnsupportedError);
    // An upgrade that forgets to raise v is caught.
    const broken: EventUpgrades = { 'task.statusChanged': { 0: (raw) => raw } };
    expect(thrown(() => decodeBatch(bytes, { upgrades: broken }))).toMatchObject({ code: 'EVENT_INVALID', field: 'batch.events[0].v' });
  });

  test('a chain of upgrades runs in order (v0 -> v1 -> v2)', () => {
    const seen: number[] = [];
    const upgrades: EventUpgrades = {
      'node.removed': {
        0: (raw) => (seen.push(0), { ...raw, v: 1, expectedVersion: null }),
        1: (raw) => (seen.push(1), { ...raw, v: 2 }),
      },
    };
    const event = parseEvent({ type: 'node.removed', v: 0, at: 1, id: 'n1' }, 'event', { upgrades, versions: { 'node.removed': 2 } });
    expect(seen).toEqual([0, 1]);
    expect(event).toEqual({ type: 'node.removed', v: 2, at: 1, id: 'n1', expectedVersion: null });
  });

  test('property: a mangled event is refused with a typed error or decoded as valid; it never crashes', () => {
    const garbage = fc.oneof(fc.constant(null), fc.constant(undefined), fc.integer(), fc.string(), fc.double(), fc.boolean(), fc.array(fc.nat(), { maxLength: 2 }), fc.uint8Array({ maxLength: 2 }), fc.object({ maxDepth: 1 }));
    fc.assert(fc.property(eventArb, fc.array(fc.nat()), garbage, fc.boolean(), (event, path, junk, remove) => {
      // Walk a random path into the event and replace (or delete) what is there.
      const copy = structuredClone(event) as unknown as Record<string, unknown>;
      let node: Record<string, unknown> = copy;
      for (const step of path) {
        const keys = Object.keys(node);
        if (keys.length === 0) break;
        const key = keys[step % keys.length]!;
        const child = node[key];
        if (typeof child !== 'object' || child === null || child instanceof Uint8Array) break;
        node = child as Record<string, unknown>;
      }
      const keys = Object.keys(node);
      if (keys.length === 0) return;
      const key = keys[(path[0] ?? 0) % keys.length]!;
      if (remove) delete node[key];
      else node[key] = junk;
      try {
        const parsed = parseEvent(decodeMessage(encodeMessage(copy)));
        // Accepted: then it must be a valid event (it re-parses to itself).
        expect(parseEvent(parsed)).toEqual(parsed);
      } catch (error) {
        expect(error instanceof EventInvalidError || error instanceof EventTypeUnknownError || error instanceof EventVersionUnsupportedError).toBe(true);
      }
    }), { numRuns: 500 });
  });
});

/** A container spec as versions 1 and 2 of the schema had it: none of the fields of version 3. */
function containerSpecV1(spec: ContainerSpec): RawEvent {
  return { image: spec.image, command: spec.command, args: spec.args, env: spec.env, labels: spec.labels };
}

/** A task spec as version 1 of the schema had it: no placement preferences or platforms, no forceUpdate (keys in its order). */
function taskSpecV1(spec: TaskSpec): RawEvent {
  return {
    container: containerSpecV1(spec.container), resources: spec.resources, restartPolicy: spec.restartPolicy,
    placement: { constraints: spec.placement.constraints, maxReplicasPerNode: spec.placement.maxReplicasPerNode },
    networks: spec.networks, secrets: spec.secrets, configs: spec.configs,
  };
}

/** A service spec of version 1: its task spec as above, no rebalance. */
function serviceSpecV1(spec: ServiceSpec): RawEvent {
  return { annotations: spec.annotations, task: taskSpecV1(spec.task), mode: spec.mode, update: spec.update, rollback: spec.rollback, endpoint: spec.endpoint };
}

/** A task spec as version 2 of the schema had it: its container spec as version 1's, no runtime. */
function taskSpecV2(spec: TaskSpec): RawEvent {
  const { runtime: _runtime, ...rest } = spec;
  return { ...rest, container: containerSpecV1(spec.container) };
}

/** A service spec of version 2: its task spec as above, no dependencies. */
function serviceSpecV2(spec: ServiceSpec): RawEvent {
  return { ...serviceSpecV3(spec), task: taskSpecV2(spec.task) };
}

/** A service spec of version 3: no dependencies (keys in its order). */
function serviceSpecV3(spec: ServiceSpec): RawEvent {
  const { dependsOn: _dependsOn, ...rest } = spec;
  return rest;
}

/** The task spec with the fields of version 3 at their defaults, as an upgrade from 2 makes it. */
function withV3Defaults(spec: TaskSpec): TaskSpec {
  return { ...spec, container: { ...spec.container, ...CONTAINER_SPEC_DEFAULTS }, runtime: 'container' };
}

/** The same spec with the later fields at their defaults, as an upgrade from 1 makes it. */
function withDefaults(spec: ServiceSpec): ServiceSpec {
  return { ...spec, task: { ...withV3Defaults(spec.task), placement: { ...spec.task.placement, preferences: [], platforms: [] }, forceUpdate: 0 }, rebalance: false, dependsOn: [] };
}

describe('upgrades of version 1', () => {
  const at = 9;
  const spec = serviceSpec('web', 4);
  const v1: RawEvent[] = [
    { type: 'service.created', v: 1, at, id: 's1', spec: serviceSpecV1(spec) },
    { type: 'service.updated', v: 1, at, id: 's1', spec: serviceSpecV1(spec), expectedVersion: 3 },
    { type: 'task.created', v: 1, at, id: 't1', serviceId: 's1', slot: 2, nodeId: '', spec: taskSpecV1(spec.task), serviceVersion: 3, desiredState: 'running', status: status('new') },
  ];
  const current: JournalEvent[] = [
    { type: 'service.created', v: 4, at, id: 's1', spec: withDefaults(spec) },
    { type: 'service.updated', v: 4, at, id: 's1', spec: withDefaults(spec), expectedVersion: 3 },
    {
      type: 'task.created', v: 3, at, id: 't1', serviceId: 's1', slot: 2, nodeId: '', spec: withDefaults(spec).task, serviceVersion: 3, desiredState: 'running',
      status: status('new'), restarts: [], addresses: [],
    },
  ];

  test('service.created and service.updated are at version 4, with upgrades from 1, 2 and 3; task.created at 3, with upgrades from 1 and 2', () => {
    for (const type of ['service.created', 'service.updated'] as const) {
      expect(EVENT_VERSIONS[type]).toBe(4);
      for (const from of [1, 2, 3]) expect(typeof EVENT_UPGRADES[type]?.[from]).toBe('function');
    }
    expect(EVENT_VERSIONS['task.created']).toBe(3);
    for (const from of [1, 2]) expect(typeof EVENT_UPGRADES['task.created']?.[from]).toBe('function');
    expect(EVENT_UPGRADES['task.created']?.[3]).toBeUndefined();
    // Every other type is still at 1, and the new ones start there.
    for (const type of EVENT_TYPES.filter((t) => !['service.created', 'service.updated', 'task.created'].includes(t))) expect(EVENT_VERSIONS[type]).toBe(1);
  });

  test('v1 events decode from either entry encoding to the current versions with the defaults: no preferences, any platform, forceUpdate 0, no rebalance, no restarts, no addresses, the container fields of v3, the container runtime, no dependencies', () => {
    // Encoding v1 (plain maps) and encoding v2 (records: the v1 shapes use the table's first entries).
    for (const bytes of [encodeMessage({ v: 1, events: v1 }), encodeEventCbor({ v: 1, events: v1 })]) {
      const decoded = decodeBatch(bytes).events;
      expect(decoded).toEqual(current);
      // Key order too: the defaults are appended where the schema declares them.
      decoded.forEach((event, i) => expect(JSON.stringify(event)).toBe(JSON.stringify(current[i])));
    }
  });

  test('an upgraded v1 event is in the schema\'s key order: it takes the fast path', () => {
    for (const event of v1) {
      const type = event.type as EventType;
      const decoded = (decodeEventCbor(encodeEventCbor({ v: 1, events: [event] })) as { events: RawEvent[] }).events[0]!;
      const upgraded = EVENT_UPGRADES[type]![2]!(EVENT_UPGRADES[type]![1]!(decoded));
      expect(EVENT_SCHEMAS[type].accepts(upgraded)).toBe(true);
      // The upgrade is pure: the decoded value is not changed.
      expect(decoded.v).toBe(1);
    }
  });

  test('a v1 event that is malformed is refused naming the field, as a v2 one is', () => {
    const [created, , task] = v1 as [RawEvent, RawEvent, RawEvent];
    const cases: [unknown, string][] = [
      [{ ...created, spec: 'web' }, 'event.spec'],
      [{ ...created, spec: { ...(created.spec as RawEvent), task: 7 } }, 'event.spec.task'],
      [{ ...task, spec: { ...(task.spec as RawEvent), placement: null } }, 'event.spec.placement'],
      [{ ...task, spec: { ...(task.spec as RawEvent), placement: { constraints: [] } } }, 'event.spec.placement.maxReplicasPerNode'],
      [{ ...task, slot: -1 }, 'event.slot'],
    ];
    for (const [value, field] of cases) {
      const error = thrown(() => parseEvent(value));
      expect(error).toBeInstanceOf(EventInvalidError);
      expect((error as EventInvalidError).field).toBe(field);
    }
    // A v1 task.created without its spec: the upgrade adds nothing in its place.
    const { spec: _spec, ...noSpec } = task;
    expect(thrown(() => parseEvent(noSpec))).toMatchObject({ field: 'event.spec', reason: 'is missing' });
  });
});

describe('upgrades of version 2', () => {
  const at = 11;
  const spec = serviceSpec('web', 2);
  const v2: RawEvent[] = [
    { type: 'service.created', v: 2, at, id: 's1', spec: serviceSpecV2(spec) },
    { type: 'service.updated', v: 2, at, id: 's1', spec: serviceSpecV2(spec), expectedVersion: 4 },
    {
      type: 'task.created', v: 2, at, id: 't1', serviceId: 's1', slot: 1, nodeId: 'n1', spec: taskSpecV2(spec.task), serviceVersion: 4, desiredState: 'running',
      status: status('new'), restarts: [7], addresses: [{ networkId: 'net1', addr: '10.1.0.3/24' }],
    },
  ];
  const v3: JournalEvent[] = [
    { type: 'service.created', v: 4, at, id: 's1', spec: { ...spec, task: withV3Defaults(spec.task), dependsOn: [] } },
    { type: 'service.updated', v: 4, at, id: 's1', spec: { ...spec, task: withV3Defaults(spec.task), dependsOn: [] }, expectedVersion: 4 },
    {
      type: 'task.created', v: 3, at, id: 't1', serviceId: 's1', slot: 1, nodeId: 'n1', spec: withV3Defaults(spec.task), serviceVersion: 4, desiredState: 'running',
      status: status('new'), restarts: [7], addresses: [{ networkId: 'net1', addr: '10.1.0.3/24' }],
    },
  ];

  test('v2 events decode to the current versions with the defaults: no dependencies, no health check of their own, no mounts, the image\'s dir and user, the engine\'s stop signal and hostname, a 10 s grace period, the container runtime', () => {
    expect(v3[2]).toMatchObject({
      spec: { container: { healthcheck: null, mounts: [], dir: '', user: '', stopSignal: '', stopGracePeriodMs: 10_000, hostname: '' }, runtime: 'container' },
    });
    for (const bytes of [encodeMessage({ v: 1, events: v2 }), encodeEventCbor({ v: 1, events: v2 })]) {
      const decoded = decodeBatch(bytes).events;
      expect(decoded).toEqual(v3);
      decoded.forEach((event, i) => expect(JSON.stringify(event)).toBe(JSON.stringify(v3[i])));
    }
  });

  test('an upgraded v2 event is in the schema\'s key order, and the upgrade is pure', () => {
    for (const event of v2) {
      const type = event.type as EventType;
      const decoded = (decodeEventCbor(encodeEventCbor({ v: 1, events: [event] })) as { events: RawEvent[] }).events[0]!;
      const upgraded = EVENT_UPGRADES[type]![2]!(decoded);
      expect(upgraded.v).toBe(3);
      expect(EVENT_SCHEMAS[type].accepts(upgraded)).toBe(true);
      expect(decoded).toEqual(event);
    }
  });

  test('a v2 event that holds a v3 field already keeps it (the upgrade fills only what is absent), and a malformed one is refused naming the field', () => {
    const [, , task] = v2 as [RawEvent, RawEvent, RawEvent];
    const withUser = { ...task, spec: { ...(task.spec as RawEvent), container: { ...((task.spec as RawEvent).container as RawEvent), user: 'nobody' } } };
    expect(parseEvent(withUser)).toMatchObject({ v: 3, spec: { container: { user: 'nobody', dir: '' } } });
    const cases: [unknown, string][] = [
      [{ ...task, spec: { ...(task.spec as RawEvent), container: 'nginx' } }, 'event.spec.container'],
      [{ ...task, spec: { ...(task.spec as RawEvent), runtime: 'vm' } }, 'event.spec.runtime'],
      [{ ...task, spec: { ...(task.spec as RawEvent), container: { ...((task.spec as RawEvent).container as RawEvent), mounts: [{ type: 'nfs', source: '', target: '/x', readOnly: false }] } } }, 'event.spec.container.mounts[0].type'],
    ];
    for (const [value, field] of cases) {
      const error = thrown(() => parseEvent(value));
      expect(error).toBeInstanceOf(EventInvalidError);
      expect((error as EventInvalidError).field).toBe(field);
    }
  });
});

describe('upgrades of version 3', () => {
  const at = 13;
  const spec = serviceSpec('web', 2);
  const v3: RawEvent[] = [
    { type: 'service.created', v: 3, at, id: 's1', spec: serviceSpecV3(spec) },
    { type: 'service.updated', v: 3, at, id: 's1', spec: serviceSpecV3(spec), expectedVersion: 5 },
  ];
  const v4: JournalEvent[] = [
    { type: 'service.created', v: 4, at, id: 's1', spec: { ...spec, dependsOn: [] } },
    { type: 'service.updated', v: 4, at, id: 's1', spec: { ...spec, dependsOn: [] }, expectedVersion: 5 },
  ];

  test('the fixture\'s spec has dependencies, which version 3 lacks', () => {
    expect(spec.dependsOn.length).toBeGreaterThan(0);
    expect(Object.hasOwn(v3[0]!.spec as RawEvent, 'dependsOn')).toBe(false);
  });

  test('v3 service events decode from either entry encoding to v4 with no dependencies, in the schema\'s key order', () => {
    for (const bytes of [encodeMessage({ v: 1, events: v3 }), encodeEventCbor({ v: 1, events: v3 })]) {
      const decoded = decodeBatch(bytes).events;
      expect(decoded).toEqual(v4);
      decoded.forEach((event, i) => expect(JSON.stringify(event)).toBe(JSON.stringify(v4[i])));
    }
  });

  test('the upgrade from 3 is pure and takes the fast path', () => {
    for (const event of v3) {
      const type = event.type as EventType;
      const decoded = (decodeEventCbor(encodeEventCbor({ v: 1, events: [event] })) as { events: RawEvent[] }).events[0]!;
      const upgraded = EVENT_UPGRADES[type]![3]!(decoded);
      expect(upgraded.v).toBe(4);
      expect(EVENT_SCHEMAS[type].accepts(upgraded)).toBe(true);
      expect(decoded).toEqual(event);
    }
  });

  test('v4 events keep their dependencies through either encoding (the record table has their shapes)', () => {
    const v4With: JournalEvent[] = [{ type: 'service.created', v: 4, at, id: 's1', spec }];
    for (const bytes of [encodeMessage({ v: 1, events: v4With }), encodeBatch(v4With)]) expect(decodeBatch(bytes).events).toEqual(v4With);
    // The record encoding is smaller than plain maps: the spec and each dependency are records.
    expect(encodeBatch(v4With).length).toBeLessThan(encodeMessage({ v: 1, events: v4With }).length);
  });

  test('a v3 event that holds dependsOn already keeps it; a malformed dependency is refused naming the field', () => {
    const [created] = v3 as [RawEvent];
    const dependsOn = [{ service: 'db', condition: 'started' }];
    expect(parseEvent({ ...created, spec: { ...(created.spec as RawEvent), dependsOn } })).toMatchObject({ v: 4, spec: { dependsOn } });
    const cases: [unknown, string][] = [
      [{ ...created, spec: { ...(created.spec as RawEvent), dependsOn: 'db' } }, 'event.spec.dependsOn'],
      [{ ...created, spec: { ...(created.spec as RawEvent), dependsOn: [{ service: 'db', condition: 'service_healthy' }] } }, 'event.spec.dependsOn[0].condition'],
      [{ ...created, spec: { ...(created.spec as RawEvent), dependsOn: [{ service: '', condition: 'started' }] } }, 'event.spec.dependsOn[0].service'],
      [{ ...created, spec: { ...(created.spec as RawEvent), dependsOn: [{ condition: 'started' }] } }, 'event.spec.dependsOn[0].service'],
    ];
    for (const [value, field] of cases) {
      const error = thrown(() => parseEvent(value));
      expect(error).toBeInstanceOf(EventInvalidError);
      expect((error as EventInvalidError).field).toBe(field);
    }
  });
});

describe('batches', () => {
  test('the hand-written batch head matches the journal codec for every array-length form', () => {
    const event = oneOfEach()[0]!;
    for (const n of [0, 1, 23, 24, 255, 256, BATCH_EVENTS_MAX]) {
      const events = Array.from({ length: n }, () => event);
      expect(Buffer.from(encodeBatch(events)).equals(Buffer.from(encodeEventCbor({ v: 1, events })))).toBe(true);
    }
  });

  test('a batch round-trips and its errors name the event', () => {
    const events = oneOfEach();
    expect(decodeBatch(encodeBatch(events))).toEqual({ v: 1, events });
    const bad = encodeMessage({ v: 1, events: [events[0], { ...events[1], id: 7 }] });
    expect(thrown(() => decodeBatch(bad))).toMatchObject({ code: 'EVENT_INVALID', field: 'batch.events[1].id' });
    // The same in encoding v2 (records): the schema checks are the same.
    const badV2 = encodeEventCbor({ v: 1, events: [events[0], { ...events[1], id: 7 }] });
    expect(thrown(() => decodeBatch(badV2))).toMatchObject({ code: 'EVENT_INVALID', field: 'batch.events[1].id' });
    expect(thrown(() => decodeBatch(encodeEventCbor({ v: 2, events: [] })))).toMatchObject({ field: 'batch.v' });
    expect(thrown(() => decodeBatch(encodeMessage({ v: 2, events: [] })))).toMatchObject({ field: 'batch.v' });
    expect(thrown(() => decodeBatch(encodeMessage({ v: 1, events: {} })))).toMatchObject({ field: 'batch.events' });
    expect(thrown(() => decodeBatch(encodeMessage({ v: 1, events: [], more: 1 })))).toMatchObject({ field: 'batch.more' });
    expect(thrown(() => decodeBatch(Uint8Array.of(0xff, 0x00, 0x13)))).toBeInstanceOf(EventInvalidError);
    expect(thrown(() => decodeBatch(encodeMessage({ v: 1, events: Array.from({ length: BATCH_EVENTS_MAX + 1 }, () => events[0]) })))).toMatchObject({ field: 'batch.events' });
  });

  test('the task.created events of a batch with equal specs decode to one spec object, values unchanged; errors as before', () => {
    const created = (i: number, spec: TaskSpec): JournalEvent => ({
      type: 'task.created', v: EVENT_VERSIONS['task.created'], at: 5, id: `t${i}`, serviceId: 's1', slot: i, nodeId: '', spec, serviceVersion: 1,
      desiredState: 'running', status: status('new'), restarts: [], addresses: [],
    });
    const a = serviceSpec('web').task;
    const b = serviceSpec('web', 3, 'nginx:1.28').task;
    // Equal to a, another object: written whole, as another writer (or an older one) would.
    const a2 = { ...a, container: { ...a.container } };
    const events = [created(1, a), created(2, a), oneOfEach()[12]!, created(3, a), created(4, b), created(5, a), created(6, a2), created(7, b)];
    const bytes = encodeBatch(events);
    const shared = decodeBatch(bytes).events as Array<JournalEvent & { spec?: TaskSpec }>;
    // The same as decoding without sharing (explicit options take the plain path), and as the events.
    expect(shared).toEqual(decodeBatch(bytes, {}).events);
    expect(shared).toEqual(events);
    // One spec object is written once, tagged shareable (2 bytes: d8 1c), and referenced after
    // (3 bytes: d8 1d and its number): a, b and a2 (another object) are written whole once each.
    const whole = (spec: TaskSpec): number => encodeEventCbor(spec).length;
    expect(bytes.length).toBe(encodeEventCbor({ v: 1, events }).length + 3 * 2 - 3 * (whole(a) - 3) - (whole(b) - 3));
    // Every event with a decodes to one object (a by reference, a2 by the run of equal specs);
    // a different spec breaks the run, and b's two events share theirs.
    for (const i of [1, 3, 5]) expect(shared[i]!.spec).toBe(shared[0]!.spec);
    expect(shared[4]!.spec).not.toBe(shared[0]!.spec);
    expect(shared[6]!.spec).toBe(shared[0]!.spec);
    expect(shared[7]!.spec).toBe(shared[4]!.spec);
    // A bad spec after a good one is refused as it would be alone, naming the field.
    const badSpec = { ...a, forceUpdate: -1 };
    const bad = encodeBatch([created(1, a), created(2, badSpec)]);
    expect(thrown(() => decodeBatch(bad))).toMatchObject({ code: 'EVENT_INVALID', field: 'batch.events[1].spec.forceUpdate' });
    expect(thrown(() => decodeBatch(bad))).toEqual(thrown(() => decodeBatch(bad, {})));
    // The vouching ends with the call: the same spec object alone is checked in full.
    expect(thrown(() => parseEvent({ ...created(9, a), spec: badSpec }))).toMatchObject({ field: 'event.spec.forceUpdate' });
  });

  test('property: random batches decode to the same values with and without spec sharing', () => {
    fc.assert(fc.property(fc.array(eventArb, { maxLength: 30 }), (events) => {
      const bytes = encodeBatch(events);
      const plain = (): unknown => {
        try {
          return decodeBatch(bytes, {});
        } catch (error) {
          return error;
        }
      };
      const sharing = (): unknown => {
        try {
          return decodeBatch(bytes);
        } catch (error) {
          return error;
        }
      };
      expect(sharing()).toEqual(plain());
    }), { numRuns: 300 });
  });

  test('property: packBatches keeps order, never cuts a unit, respects both limits unless a unit alone is over, and starts a batch only when the next unit would not fit', () => {
    fc.assert(fc.property(fc.array(fc.array(eventArb, { minLength: 1, maxLength: 4 }), { maxLength: 30 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1_200, max: 6_000 }), (units, eventsMax, bytesMax) => {
      const batches = packBatches(units, { eventsMax, bytesMax });
      expect(batches.reduce((n, b) => n + b.units, 0)).toBe(units.length);
      let from = 0;
      batches.forEach((batch, i) => {
        expect(batch.units).toBeGreaterThan(0);
        const mine = units.slice(from, from + batch.units);
        from += batch.units;
        const events = mine.flat();
        // Exactly the batch of its units' events, decoding to them.
        expect(Buffer.from(batch.bytes).equals(Buffer.from(encodeBatch(events)))).toBe(true);
        expect(decodeEventCbor(batch.bytes)).toEqual({ v: 1, events });
        if (batch.units > 1) {
          expect(events.length).toBeLessThanOrEqual(eventsMax);
          expect(batch.bytes.length).toBeLessThanOrEqual(bytesMax);
        }
        const next = units[from];
        if (i < batches.length - 1 && next !== undefined) {
          const grown = [...events, ...next];
          expect(grown.length > eventsMax || encodeBatch(grown).length + 5 > bytesMax).toBe(true);
        }
      });
    }), { numRuns: 300 });
    // A unit over the limits alone is a batch of its own, between the others.
    const small = [oneOfEach()[12]!];
    const big = Array.from({ length: 5 }, () => oneOfEach()[12]!);
    expect(packBatches([small, big, small, small], { eventsMax: 3 }).map((b) => b.units)).toEqual([1, 1, 2]);
  });

  test('one packer serves every call: a spec shared in one call is written whole in the next, and a throw midway leaves nothing behind', () => {
    const spec = serviceSpec('web').task;
    const created = (i: number): JournalEvent => ({
      type: 'task.created', v: EVENT_VERSIONS['task.created'], at: 5, id: `t${i}`, serviceId: 's1', slot: i, nodeId: '', spec, serviceVersion: 1,
      desiredState: 'running', status: status('new'), restarts: [], addresses: [],
    });
    const first = packBatches([[created(1), created(2)]]);
    // The second call's batch must not refer (tag 29) to the spec the first one wrote.
    const second = packBatches([[created(3)]]);
    expect(Buffer.from(second[0]!.bytes).equals(Buffer.from(encodeBatch([created(3)])))).toBe(true);
    expect(decodeBatch(second[0]!.bytes).events).toEqual([created(3)]);
    expect(decodeBatch(first[0]!.bytes).events).toEqual([created(1), created(2)]);
    // A splitter that throws after writing events (and sharing a spec) leaves the next call clean.
    const huge: JournalEvent = { type: 'config.created', v: 1, at: 0, id: 'big', spec: { ...blob('big'), data: new Uint8Array(BATCH_BYTES_MAX) } };
    expect(() => splitIntoBatches([created(4), created(5), huge])).toThrow(EventTooLargeError);
    const after = splitIntoBatches([created(6), oneOfEach()[12]!]);
    expect(after).toHaveLength(1);
    expect(Buffer.from(after[0]!.bytes).equals(Buffer.from(encodeBatch([created(6), oneOfEach()[12]!])))).toBe(true);
  });

  test('property: the splitter keeps order, respects both limits, and cuts only when the next event would not fit', () => {
    fc.assert(fc.property(fc.array(eventArb, { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1_200, max: 6_000 }), (events, eventsMax, bytesMax) => {
      let batches;
      try {
        batches = splitIntoBatches(events, { eventsMax, bytesMax });
      } catch (error) {
        // Only if some event alone cannot fit.
        expect(error).toBeInstanceOf(EventTooLargeError);
        // Its bytes as a batch of its own writes them (BATCH_PREFIX and a one-byte array head around).
        const { position, bytes } = error as EventTooLargeError;
        expect(encodeBatch([events[position]!]).length - 6).toBe(bytes);
        expect(bytes + BATCH_OVERHEAD_BYTES_MAX).toBeGreaterThan(bytesMax);
        return;
      }
      expect(batches.flatMap((b) => b.events)).toEqual(events);
      batches.forEach((batch, i) => {
        expect(batch.events.length).toBeGreaterThan(0);
        expect(batch.events.length).toBeLessThanOrEqual(eventsMax);
        expect(batch.bytes.length).toBeLessThanOrEqual(bytesMax);
        expect(Buffer.from(batch.bytes).equals(Buffer.from(encodeBatch(batch.events)))).toBe(true);
        const next = batches[i + 1];
        if (next) {
          const grown = [...batch.events, next.events[0]!];
          expect(grown.length > eventsMax || encodeBatch(grown).length + 5 > bytesMax).toBe(true);
        }
      });
    }), { numRuns: 300 });
  });

  test('defaults: 1,000 events or 1.5 MiB per batch', () => {
    expect(BATCH_BYTES_MAX).toBe(1_572_864);
    const small = Array.from({ length: 2_500 }, () => oneOfEach()[20]!);
    expect(splitIntoBatches(small).map((b) => b.events.length)).toEqual([1_000, 1_000, 500]);
    const big = Array.from({ length: 5 }, (_, i): JournalEvent => ({ type: 'secret.created', v: 1, at: 0, id: `s${i}`, spec: { ...blob(`s${i}`), data: new Uint8Array(400 * 1024) } }));
    expect(splitIntoBatches(big).map((b) => b.events.length)).toEqual([3, 2]);
  });

  test('an event larger than a batch alone is a typed error naming its position', () => {
    const huge: JournalEvent = { type: 'config.created', v: 1, at: 0, id: 'big', spec: { ...blob('big'), data: new Uint8Array(BATCH_BYTES_MAX) } };
    const error = thrown(() => splitIntoBatches([oneOfEach()[0]!, huge]));
    expect(error).toBeInstanceOf(EventTooLargeError);
    expect(error).toMatchObject({ code: 'EVENT_TOO_LARGE', position: 1, type: 'config.created' });
  });
});

// The writer on a real ActorSystem (virtual time), with a manager that records each entry the
// writer hands it and applies an entry only when the test says so: proposals are batched into
// entries, the first lane (proposals that move tasks on) goes before services' plans, and plans
// are never held back for more than ADVANCE_RUN_MAX entries in a row.
import { ADVANCE_RUN_MAX, writerActor, type ManagerInput, type WriterDone, type WriterPropose } from '../../actors/index.js';
import { EVENT_VERSIONS, decodeBatch, type JournalEvent } from '../../journal/index.js';
import type { ActorContext, Props } from '../../runtime/index.js';
import { Bench } from '../runtime/harness.js';

/** `count` task.removed events whose ids say which proposal they came from. */
const events = (name: string, count: number): JournalEvent[] =>
  Array.from({ length: count }, (_, i): JournalEvent => ({ type: 'task.removed', v: EVENT_VERSIONS['task.removed'], at: 1, id: `${name}.${i}`, expectedVersion: null }));

function setup(inflightMax: number) {
  const bench = new Bench();
  const system = bench.system('m1');
  /** Per entry the writer wrote: the names of the proposals in it, in order. */
  const entries: string[][] = [];
  const opIds: string[] = [];
  const done: WriterDone[] = [];
  const manager: Props<ManagerInput> = {
    kind: 'test-manager',
    create: () => ({
      receive: (m: ManagerInput) => {
        if (m.type !== 'manager.write' || m.command.op !== 'events') return;
        const names = decodeBatch(m.command.batch).events.map((e) => (e as { id: string }).id.split('.')[0]!);
        entries.push(names.filter((name, i) => names[i - 1] !== name));
        opIds.push(m.command.opId);
      },
    }),
  };
  system.spawn('manager', manager);
  system.spawn('sink', { kind: 'test-sink', create: (_ctx: ActorContext) => ({ receive: (m: WriterDone) => void done.push(m) }) });
  system.spawn('writer', writerActor({ manager: 'm1/manager', inflightMax }));
  const propose = (name: string, count: number, plan: boolean): void =>
    system.send('m1/writer', { type: 'writer.propose', token: name, events: events(name, count), replyTo: 'm1/sink', ...(plan ? { plan } : {}) } satisfies WriterPropose);
  /** The manager applies the oldest entry it has not applied yet. */
  let applied = 0;
  const applyNext = (): void => {
    const opId = opIds[applied]!;
    applied++;
    system.send('m1/writer', { type: 'manager.applied', opId, index: applied, refused: null }, 'm1/manager');
  };
  return { bench, entries, done, propose, applyNext };
}

describe('writer', () => {
  test('proposals that move tasks on go before services\' plans; within a lane, first in first out, batched', async () => {
    const { bench, entries, done, propose, applyNext } = setup(1);
    propose('plan1', 10, true);
    propose('alloc1', 10, false);
    propose('plan2', 10, true);
    propose('sched1', 10, false);
    await bench.advance(10);
    // One entry in flight: the first lane's two proposals, in arrival order.
    expect(entries).toEqual([['alloc1', 'sched1']]);
    applyNext();
    await bench.advance(10);
    expect(entries).toEqual([['alloc1', 'sched1'], ['plan1', 'plan2']]);
    expect(done.map((d) => [d.token, d.ok, d.index])).toEqual([['alloc1', true, 1], ['sched1', true, 1]]);
    // A proposal that moves tasks on, arriving while plans wait, still goes first.
    propose('plan3', 10, true);
    propose('alloc2', 10, false);
    applyNext();
    await bench.advance(10);
    expect(entries.at(-1)).toEqual(['alloc2']);
    applyNext();
    await bench.advance(10);
    expect(entries.at(-1)).toEqual(['plan3']);
    applyNext();
    await bench.advance(10);
    expect(done.map((d) => d.token)).toEqual(['alloc1', 'sched1', 'plan1', 'plan2', 'alloc2', 'plan3']);
  });

  test(`a plan waits for at most ${ADVANCE_RUN_MAX} entries of the first lane in a row`, async () => {
    const { bench, entries, propose, applyNext } = setup(1);
    // Each proposal a whole entry (1,000 events), so nothing merges.
    propose('plan1', 1_000, true);
    propose('plan2', 1_000, true);
    for (let i = 0; i < 12; i++) propose(`alloc${i}`, 1_000, false);
    await bench.advance(10);
    for (let i = 0; i < 13; i++) {
      applyNext();
      await bench.advance(10);
    }
    expect(entries.map((e) => e.join())).toEqual([
      'alloc0', 'alloc1', 'alloc2', 'alloc3', 'plan1', 'alloc4', 'alloc5', 'alloc6', 'alloc7', 'plan2', 'alloc8', 'alloc9', 'alloc10', 'alloc11',
    ]);
  });
});

// The visualizer's charts: read off xstate machines, written as Mermaid text and as SVG laid out
// by elkjs (deterministic to the byte), and snapshot values mapped to active chart states.
import { not, setup } from 'xstate';
import { peerMachine } from '../../raft/index.js';
// The chart is not on cli/index.ts yet (this change adds only cli/viz): the page's server will
// export it from there.
import { MACHINES, activeStates, chartFor, chartMermaid, chartSvg, machineChart, type Chart, type ChartState } from '../../cli/index.js';

/** Nested and parallel states, guards (named, not(), with params), a delay, targetless and onDone. */
function demoMachine() {
  return setup({ guards: { ready: () => true, busy: () => false } }).createMachine({
    id: 'demo',
    initial: 'idle',
    on: { reset: { target: '.idle' } },
    states: {
      idle: { on: { start: { guard: 'ready', target: 'work' }, poke: { actions: [] } } },
      work: {
        type: 'parallel',
        onDone: 'idle',
        states: {
          fetch: { initial: 'waiting', states: { waiting: { after: { 500: 'done' } }, done: { type: 'final' } } },
          log: {
            initial: 'quiet',
            states: {
              quiet: { always: { guard: not('busy'), target: 'loud' } },
              loud: { on: { 'log.mute': { guard: { type: 'busy' }, target: 'quiet' } } },
            },
          },
        },
      },
    },
  });
}

function stateIds(chart: Chart): string[] {
  const out: string[] = [];
  const visit = (s: ChartState): void => {
    out.push(s.id);
    s.children.forEach(visit);
  };
  visit(chart.root);
  return out;
}

/** Well-formedness, roughly: every tag closes in order, attributes are quoted, entities known. */
function assertBalancedXml(text: string): void {
  const stack: string[] = [];
  const body = text.replace(/<style>[^<]*<\/style>/, '');
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const [, closing, name, , selfClosing] = m;
    if (selfClosing === '/') continue;
    if (closing === '/') expect(stack.pop()).toBe(name);
    else stack.push(name!);
  }
  expect(stack).toEqual([]);
  // Nothing that looks like a tag was left unmatched by the pattern above.
  const tags = body.match(/<[^>]*>/g) ?? [];
  const matched = [...body.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)];
  expect(matched.length).toBe(tags.length);
  for (const entity of body.match(/&[^;\s]*;?/g) ?? []) expect(['&amp;', '&lt;', '&gt;', '&quot;', '&apos;']).toContain(entity);
}

describe('machineChart', () => {
  it("reads the raft peer's regions, guards and tick", () => {
    const chart = machineChart(peerMachine);
    expect(chart.machineId).toBe('raftPeer');
    expect(chart.root.type).toBe('parallel');
    expect(chart.root.children.map((s) => s.id)).toEqual(['role', 'cycle', 'clock']);
    const role = chart.root.children[0]!;
    expect(role.initial).toBe('role.follower');
    expect(role.children.map((s) => s.id)).toEqual(['role.follower', 'role.preCandidate', 'role.candidate', 'role.leader', 'role.learner', 'role.removed']);
    expect(chart.root.children[1]!.children.map((s) => s.id)).toEqual(['cycle.idle', 'cycle.persisting']);
    expect(chart.root.children[2]!.children.map((s) => s.id)).toEqual(['clock.ticking']);

    const followerToLeader = chart.transitions.find((t) => t.source === 'role.follower' && t.targets[0] === 'role.leader');
    expect(followerToLeader).toEqual({ id: 'role.follower:4', source: 'role.follower', targets: ['role.leader'], event: 'raft.roleChanged', guard: 'roleIsLeader', label: 'raft.roleChanged [roleIsLeader]' });
    // The cycle region raises that event when the core's role is not the one shown.
    expect(chart.transitions.find((t) => t.source === 'cycle.idle' && t.guard === 'roleShownStale')).toMatchObject({ event: 'always', targets: [] });
    const tick = chart.transitions.find((t) => t.source === 'clock.ticking');
    expect(tick).toEqual({ id: 'clock.ticking:0', source: 'clock.ticking', targets: ['clock.ticking'], event: 'after tick', delay: 'tick', label: 'after tick' });
    // The root's handlers run actions only: targetless.
    const message = chart.transitions.find((t) => t.event === 'raft.message');
    expect(message).toEqual({ id: ':0', source: '', targets: [], event: 'raft.message', label: 'raft.message' });
    // An action-only eventless transition keeps its guard.
    expect(chart.transitions.filter((t) => t.source === 'cycle.idle').map((t) => t.label)).toEqual(['always [roleShownStale]', 'always [canTakeReady]', 'always [hasInflight]']);
    expect(new Set(chart.transitions.map((t) => t.id)).size).toBe(chart.transitions.length);
  });

  it('reads a nested and parallel machine exactly', () => {
    const chart = machineChart(demoMachine());
    expect(chart).toEqual({
      machineId: 'demo',
      root: {
        id: '', key: 'demo', type: 'compound', initial: 'idle', children: [
          { id: 'idle', key: 'idle', type: 'atomic', children: [] },
          {
            id: 'work', key: 'work', type: 'parallel', children: [
              {
                id: 'work.fetch', key: 'fetch', type: 'compound', initial: 'work.fetch.waiting', children: [
                  { id: 'work.fetch.waiting', key: 'waiting', type: 'atomic', children: [] },
                  { id: 'work.fetch.done', key: 'done', type: 'final', children: [] },
                ],
              },
              {
                id: 'work.log', key: 'log', type: 'compound', initial: 'work.log.quiet', children: [
                  { id: 'work.log.quiet', key: 'quiet', type: 'atomic', children: [] },
                  { id: 'work.log.loud', key: 'loud', type: 'atomic', children: [] },
                ],
              },
            ],
          },
        ],
      },
      transitions: [
        { id: ':0', source: '', targets: ['idle'], event: 'reset', label: 'reset' },
        { id: 'idle:0', source: 'idle', targets: ['work'], event: 'start', guard: 'ready', label: 'start [ready]' },
        { id: 'idle:1', source: 'idle', targets: [], event: 'poke', label: 'poke' },
        { id: 'work:0', source: 'work', targets: ['idle'], event: 'onDone', label: 'onDone' },
        { id: 'work.fetch.waiting:0', source: 'work.fetch.waiting', targets: ['work.fetch.done'], event: 'after 500ms', delay: '500', label: 'after 500ms' },
        { id: 'work.log.quiet:0', source: 'work.log.quiet', targets: ['work.log.loud'], event: 'always', guard: 'not(busy)', label: 'always [not(busy)]' },
        { id: 'work.log.loud:0', source: 'work.log.loud', targets: ['work.log.quiet'], event: 'log.mute', guard: 'busy', label: 'log.mute [busy]' },
      ],
    });
  });

  it('names guards with params and inline guards', () => {
    const chart = chartFor('task')!;
    expect(chart.transitions.filter((t) => t.source === 'loading').map((t) => t.label)).toEqual(['always [in(ended)]', 'always [in(running)]', 'always [in(starting)]', 'always']);
    const runner = chartFor('taskRunner')!;
    expect(runner.transitions.some((t) => t.source === 'init' && t.guard === 'inline')).toBe(true);
  });
});

describe('chartMermaid', () => {
  it('writes nested, parallel and guarded states as stateDiagram-v2', () => {
    expect(chartMermaid(machineChart(demoMachine()))).toBe([
      'stateDiagram-v2',
      '  [*] --> demo',
      '  state demo {',
      '    [*] --> idle',
      '    idle',
      '    state work {',
      '      state "fetch" as work_fetch',
      '      state work_fetch {',
      '        [*] --> work_fetch_waiting',
      '        state "waiting" as work_fetch_waiting',
      '        state "done" as work_fetch_done',
      '        work_fetch_done --> [*]',
      '        work_fetch_waiting --> work_fetch_done : after 500ms',
      '      }',
      '      --',
      '      state "log" as work_log',
      '      state work_log {',
      '        [*] --> work_log_quiet',
      '        state "quiet" as work_log_quiet',
      '        state "loud" as work_log_loud',
      '        work_log_quiet --> work_log_loud : always [not(busy)]',
      '        work_log_loud --> work_log_quiet : log.mute [busy]',
      '      }',
      '    }',
      '    idle --> work : start [ready]',
      '    idle --> idle : poke',
      '    work --> idle : onDone',
      '  }',
      '  demo --> idle : reset',
      '',
    ].join('\n'));
  });
});

describe('chartSvg', () => {
  it('is byte-identical across runs and rebuilt machines', async () => {
    const chart = machineChart(demoMachine());
    const first = await chartSvg(chart);
    expect(await chartSvg(chart)).toBe(first);
    expect(await chartSvg(machineChart(demoMachine()))).toBe(first);
    // No number carries more than one decimal.
    expect(first).not.toMatch(/\d\.\d\d/);
  });

  it('draws every state and transition, well-formed, in a positive viewBox', async () => {
    const chart = machineChart(demoMachine());
    const svg = await chartSvg(chart);
    const drawnStates = [...svg.matchAll(/<g class="state[^"]*" data-state="([^"]*)">/g)].map((m) => m[1]);
    expect(drawnStates).toEqual(stateIds(chart));
    const drawnTransitions = [...svg.matchAll(/<g class="transition[^"]*" data-transition="([^"]*)" data-event="([^"]*)">/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(drawnTransitions).toEqual(chart.transitions.map((t) => `${t.id} ${t.event}`));
    const viewBox = /viewBox="0 0 (\d+(?:\.\d)?) (\d+(?:\.\d)?)"/.exec(svg);
    expect(viewBox).not.toBeNull();
    expect(Number(viewBox![1])).toBeGreaterThan(0);
    expect(Number(viewBox![2])).toBeGreaterThan(0);
    expect(svg).toContain('.state.active');
    expect(svg).toContain('.transition.recent');
    assertBalancedXml(svg);
  });

  it('escapes text', async () => {
    const machine = setup({}).createMachine({ id: 'a<b>&"c"', initial: 'x', states: { x: { on: { "e<'>": 'y' } }, y: {} } });
    const svg = await chartSvg(machineChart(machine));
    expect(svg).toContain('data-event="e&lt;&apos;&gt;"');
    expect(svg).toContain('a&lt;b&gt;&amp;&quot;c&quot;');
    assertBalancedXml(svg);
  });
});

describe('activeStates', () => {
  it('maps an object value to its states, parents first, keys in order', () => {
    expect(activeStates({ role: 'leader', clock: 'ticking', cycle: 'idle' })).toEqual(['', 'clock', 'clock.ticking', 'cycle', 'cycle.idle', 'role', 'role.leader']);
    expect(activeStates({ work: { log: 'quiet', fetch: 'waiting' } })).toEqual(['', 'work', 'work.fetch', 'work.fetch.waiting', 'work.log', 'work.log.quiet']);
  });

  it('maps a string value to the root and that state', () => {
    expect(activeStates('follower')).toEqual(['', 'follower']);
  });

  it('gives nothing for what is not a state value', () => {
    expect(activeStates(undefined)).toEqual([]);
    expect(activeStates(null)).toEqual([]);
    expect(activeStates(3)).toEqual([]);
  });
});

describe('MACHINES', () => {
  it('holds the machine actors by kind', () => {
    expect(Object.keys(MACHINES).sort()).toEqual(['node', 'raft-peer', 'service', 'task', 'taskRunner']);
    expect(MACHINES['raft-peer']).toBe(peerMachine);
    expect(chartFor('raft-peer')).toBe(chartFor('raft-peer'));
    expect(chartFor('no-such-kind')).toBeUndefined();
    expect(chartFor('toString')).toBeUndefined();
  });

  it.each(Object.keys(MACHINES))('charts and draws %s', async (kind) => {
    const chart = chartFor(kind)!;
    const svg = await chartSvg(chart);
    const drawn = [...svg.matchAll(/ data-transition="([^"]*)"/g)].map((m) => m[1]);
    expect(drawn).toEqual(chart.transitions.map((t) => t.id));
    expect([...svg.matchAll(/ data-state="([^"]*)"/g)].map((m) => m[1])).toEqual(stateIds(chart));
    assertBalancedXml(svg);
    expect(chartMermaid(chart)).toMatch(/^stateDiagram-v2\n/);
  });
});

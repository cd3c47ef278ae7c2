import { SimClock, SimLoop } from '../../simulations/index.js';

describe('SimClock', () => {
  it('reads the loop time plus its own skew, and fires timers on the shared time', async () => {
    const loop = new SimLoop();
    const straight = new SimClock(loop);
    const skewed = new SimClock(loop, { skewMs: 250 });
    const fired: string[] = [];
    straight.setTimeout(() => fired.push(`straight at ${loop.now()}`), 100);
    skewed.setTimeout(() => fired.push(`skewed at ${loop.now()} reads ${skewed.now()}`), 100);
    await loop.run();
    expect(fired).toEqual(['straight at 100', 'skewed at 100 reads 350']);
    skewed.skewMs = -40;
    expect(skewed.now()).toBe(60);
    expect(straight.now()).toBe(100);
  });

  it('clears a timer, and defer runs after work already due at this instant', async () => {
    const loop = new SimLoop();
    const clock = new SimClock(loop);
    const fired: string[] = [];
    const id = clock.setTimeout(() => fired.push('cleared'), 5);
    clock.setTimeout(() => fired.push('timer at 0'), 0);
    clock.defer(() => fired.push('deferred'));
    clock.clearTimeout(id);
    clock.clearTimeout(id);
    clock.clearTimeout({});
    expect(clock.pendingTimers()).toBe(2);
    await loop.run();
    expect(fired).toEqual(['timer at 0', 'deferred']);
    expect(clock.pendingTimers()).toBe(0);
  });

  it("cancelAll takes down this node's timers only, and disables scheduling until enable()", async () => {
    const loop = new SimLoop();
    const crashed = new SimClock(loop);
    const other = new SimClock(loop);
    const fired: string[] = [];
    crashed.setTimeout(() => fired.push('crashed timer'), 10);
    crashed.defer(() => fired.push('crashed defer'));
    other.setTimeout(() => fired.push('other timer'), 10);
    crashed.cancelAll();
    expect(crashed.disabled).toBe(true);
    const late = crashed.setTimeout(() => fired.push('scheduled after crash'), 1);
    crashed.defer(() => fired.push('deferred after crash'));
    crashed.clearTimeout(late);
    expect(loop.pending()).toBe(1);
    await loop.run();
    expect(fired).toEqual(['other timer']);
    crashed.enable();
    crashed.defer(() => fired.push('after enable'));
    await loop.run();
    expect(fired).toEqual(['other timer', 'after enable']);
  });
});

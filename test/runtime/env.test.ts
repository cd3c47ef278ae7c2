import { SeededRandom } from '../../runtime/index.js';
import { RealClock, realEnv, secureRandomBytes, yieldToMacrotask } from '../../runtime/env/real/index.js';
import { MemoryTransport } from '../../runtime/index.js';
import * as jose from 'jose';

describe('SeededRandom', () => {
  test('one seed gives one sequence; another seed another', () => {
    const draw = (seed: string) => { const r = new SeededRandom(seed); return [...Array(8)].map(() => r.uint32()); };
    expect(draw('42')).toEqual(draw('42'));
    expect(draw('42')).not.toEqual(draw('43'));
  });

  test('a forked stream does not depend on how much the parent drew', () => {
    const a = new SeededRandom('s');
    const b = new SeededRandom('s');
    for (let i = 0; i < 100; i++) b.uint32();
    const fa = a.fork('network');
    const fb = b.fork('network');
    expect([fa.uint32(), fa.uint32()]).toEqual([fb.uint32(), fb.uint32()]);
    expect(a.fork('disk').uint32()).not.toBe(a.fork('network').uint32());
    expect(fa.seed).toBe('s/network');
  });

  test('draws stay within their ranges and are roughly uniform', () => {
    const r = new SeededRandom(7);
    const buckets = [0, 0, 0, 0, 0, 0];
    for (let i = 0; i < 60_000; i++) buckets[r.int(1, 6) - 1]! += 1;
    for (const count of buckets) expect(count).toBeGreaterThan(9_000);
    for (let i = 0; i < 1000; i++) {
      const f = r.float();
      expect(f >= 0 && f < 1).toBe(true);
    }
    expect(() => r.int(3, 2)).toThrow(RangeError);
    expect(r.bytes(7)).toHaveLength(7);
  });
});

describe('the real Env', () => {
  test('its clock runs timers on wall time and defers after the current work', async () => {
    const clock = new RealClock();
    const order: string[] = [];
    const start = clock.now();
    await new Promise<void>((resolve) => {
      clock.setTimeout(() => { order.push('timer'); resolve(); }, 20);
      clock.defer(() => order.push('deferred'));
      order.push('sync');
    });
    expect(order).toEqual(['sync', 'deferred', 'timer']);
    expect(clock.now() - start).toBeGreaterThanOrEqual(19);
    await yieldToMacrotask();
  });

  test('realEnv assembles a working Env', () => {
    const clock = new RealClock();
    const env = realEnv({ transport: new MemoryTransport({ defer: (fn) => clock.defer(fn) }) });
    expect(env.random.seed).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('secureRandomBytes', () => {
  test('nonces drawn across many refills of its pool are all different, of the length asked, and each its own copy', () => {
    const seen = new Set<string>();
    // 12-byte nonces, 5,000 of them: about 15 refills of the 4 KiB pool, and draws that straddle one.
    for (let i = 0; i < 5_000; i++) {
      const nonce = secureRandomBytes(i % 7 === 0 ? 13 : 12);
      expect(nonce.byteLength).toBe(i % 7 === 0 ? 13 : 12);
      seen.add(Buffer.from(nonce).toString('hex'));
    }
    expect(seen.size).toBe(5_000);
    // A caller may change what it got: the next draw is not affected, nor is any earlier one.
    const a = secureRandomBytes(16);
    const kept = Buffer.from(a).toString('hex');
    a.fill(0);
    const b = secureRandomBytes(16);
    expect(Buffer.from(b).toString('hex')).not.toBe('0'.repeat(32));
    expect(seen.has(kept)).toBe(false);
    // Large requests (key material) come straight from the OS.
    const key = secureRandomBytes(4_096 + 1);
    expect(key.byteLength).toBe(4_097);
    expect(new Set(key).size).toBeGreaterThan(200);
    expect(secureRandomBytes(0).byteLength).toBe(0);
  });
});

describe('ES module dependencies', () => {
  test('jose 6 (ESM only) loads under jest', async () => {
    const secret = new TextEncoder().encode('0123456789abcdef0123456789abcdef');
    const jwt = await new jose.SignJWT({ role: 'swarm-manager' }).setProtectedHeader({ alg: 'HS256' }).sign(secret);
    const { payload } = await jose.jwtVerify(jwt, secret);
    expect(payload.role).toBe('swarm-manager');
  });
});

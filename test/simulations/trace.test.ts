import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Trace, canonicalJson } from '../../simulations/index.js';

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined properties', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined, x: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"x":2,"z":1}]},"b":1}');
  });

  it('writes bytes as base64 and bigints as strings', () => {
    expect(canonicalJson({ bytes: new Uint8Array([1, 2, 3]), n: 10n })).toBe('{"bytes":"AQID","n":"10"}');
  });

  it('refuses what would make the digest depend on more than data', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => canonicalJson(cycle)).toThrow(/cycle/);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(TypeError);
    expect(() => canonicalJson({ m: new Map() })).toThrow(/class instance/);
  });
});

describe('Trace', () => {
  it('gives the same digest for the same records whatever their key order', () => {
    const a = new Trace({ keepLines: true });
    const b = new Trace();
    a.record({ t: 1, kind: 'deliver', from: 'm1', to: 'm2' });
    b.record({ to: 'm2', from: 'm1', kind: 'deliver', t: 1 });
    expect(a.digest()).toBe(b.digest());
    expect(a.lines).toEqual(['{"from":"m1","kind":"deliver","t":1,"to":"m2"}']);
    expect(b.lines).toEqual([]);
    a.record({ t: 2 });
    expect(a.digest()).not.toBe(b.digest());
    expect(a.count).toBe(2);
    const expected = createHash('sha256').update('{"from":"m1","kind":"deliver","t":1,"to":"m2"}\n{"t":2}\n').digest('hex');
    expect(a.digest()).toBe(expected);
  });

  it('streams the lines to a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trace-'));
    try {
      const path = join(dir, 'run.trace.jsonl');
      const trace = new Trace({ filePath: path });
      trace.record({ b: 2, a: 1 });
      trace.record({ c: [1] });
      await trace.close();
      expect(readFileSync(path, 'utf8')).toBe('{"a":1,"b":2}\n{"c":[1]}\n');
      expect(() => trace.record({})).toThrow(/closed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a file it could not write when closed', async () => {
    const trace = new Trace({ filePath: join(tmpdir(), 'no-such-dir-for-trace', 'x', 'run.jsonl') });
    trace.record({ a: 1 });
    await expect(trace.close()).rejects.toThrow(/ENOENT/);
  });
});

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { KeyStore, KvLogStorage, encodeBatch } from '../../journal/index.js';
import { blob, networkSpec } from '../journal/journal-fixtures.js';
import { encodeConfChange } from '../../raft/index.js';
import { LevelStorage, secureRandomBytes } from '../../runtime/env/real/index.js';

// `swarm journal dump|check` as a user runs it: a second process (tsx cli/main.ts) on a real
// classic-level journal in a temp state directory.

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');

async function swarm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(tsx, [path.join(root, 'cli', 'main.ts'), ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A state directory whose journal holds a leader's empty entry, a conf change and three commands. */
async function stateDir(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'swarm-cli-journal-'));
  dirs.push(dir);
  const kv = await new LevelStorage(path.join(dir, 'raft')).openKv('log');
  const log = await KvLogStorage.open(kv, { initialConfState: { voters: ['m1'], learners: [] } });
  await log.save({ hardState: { term: 2, vote: 'm1', commit: 0 }, entries: [{ index: 1, term: 2, type: 'normal', data: new Uint8Array(0) }] });
  await log.save({ entries: [{ index: 2, term: 2, type: 'confChange', data: encodeConfChange({ type: 'addLearner', peer: 'm2' }) }] });
  await log.save({
    hardState: { term: 2, vote: 'm1', commit: 4 },
    entries: [
      { index: 3, term: 2, type: 'normal', data: new Uint8Array(30) },
      { index: 4, term: 2, type: 'normal', data: encodeBatch([{ type: 'network.created', v: 1, at: 7, id: 'net1', spec: networkSpec('backend') }, { type: 'secret.created', v: 1, at: 7, id: 'sec1', spec: blob('db-password', 'hunter2') }]) },
      { index: 5, term: 2, type: 'normal', data: new Uint8Array(50) },
    ],
  });
  await log.close();
  return dir;
}

describe('swarm journal', () => {
  test('dump prints the hard state, the snapshot and every entry, readably', async () => {
    const dir = await stateDir();
    const { code, stdout, stderr } = await swarm('journal', 'dump', '--state-dir', dir);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('hard state: term 2, vote m1, commit 4');
    expect(lines[1]).toBe('snapshot: index 0, term 0, 0 bytes; voters [m1], learners []');
    expect(lines[2]).toBe('entries: 5 (1..5)');
    const body = lines.slice(3).map((l) => l.trim().replace(/\s+/g, ' '));
    expect(body[0]).toBe("1 term 2 normal (empty: a new leader's first entry)");
    expect(body[1]).toBe('2 term 2 confChange {"type":"addLearner","peer":"m2"}');
    expect(body[2]).toMatch(/^3 term 2 normal 30 bytes \(not an event batch: .+\)$/);
    expect(body[3]).toMatch(/^4 term 2 normal 2 events, \d+ bytes$/);
    expect(body[4]).toMatch(/^network\.created net1 v1 \{"at":7,"spec":\{"annotations":\{"name":"backend",/);
    // A secret's data is never printed, only its size.
    expect(body[5]).toMatch(/^secret\.created sec1 v1 .*"data":"<7 bytes>"/);
    expect(stdout).not.toContain('hunter2');
    expect(body[6]).toMatch(/^5 term 2 normal 50 bytes \(not an event batch/);
    expect(body).toHaveLength(7);
    const tail = await swarm('journal', 'dump', '--state-dir', dir, '--tail', '2');
    expect(tail.stdout.trimEnd().split('\n').slice(3).filter((l) => /^ *\d+ +term/.test(l)).map((l) => l.trim().split(/\s+/)[0])).toEqual(['4', '5']);
  }, 60_000);

  test('check passes a sound journal and names the key of a damaged record, changing nothing', async () => {
    const dir = await stateDir();
    expect(await swarm('journal', 'check', '--state-dir', dir)).toMatchObject({ code: 0, stdout: 'ok: 5 entries after the snapshot at 0; every checksum verified\n' });
    // Damage one byte inside the first segment (not the last, so it is corruption, not a torn tail).
    const kv = await new LevelStorage(path.join(dir, 'raft')).openKv('log');
    const [[key, value]] = (await kv.range({ gte: 'e/', lt: 'e0', limit: 1 })) as [[string, Uint8Array]];
    const damaged = value.slice();
    damaged[damaged.length - 1] = (damaged[damaged.length - 1] as number) ^ 0xff;
    await kv.batch([{ type: 'put', key, value: damaged }], { sync: true });
    await kv.close();
    const result = await swarm('journal', 'check', '--state-dir', dir);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`corrupt:`);
    expect(result.stdout).toContain(key);
    // Nothing was repaired or rewritten.
    const after = await new LevelStorage(path.join(dir, 'raft')).openKv('log');
    expect(await after.get(key)).toEqual(damaged);
    await after.close();
  }, 60_000);

  test('bad input is one clear line and exit 1: a missing directory, a directory with no journal, a bad flag', async () => {
    const missing = await swarm('journal', 'dump', '--state-dir', '/nonexistent/swarm-state');
    expect(missing).toMatchObject({ code: 1, stderr: 'swarm: --state-dir /nonexistent/swarm-state: no such directory\n' });
    const empty = mkdtempSync(path.join(tmpdir(), 'swarm-cli-empty-'));
    dirs.push(empty);
    const none = await swarm('journal', 'check', '--state-dir', empty);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/holds no journal/);
    const badTail = await swarm('journal', 'dump', '--state-dir', empty, '--tail', 'x');
    expect(badTail.code).toBe(1);
    expect(badTail.stderr).toMatch(/--tail must be a positive integer, got 'x'/);
    const noDir = await swarm('journal', 'dump');
    expect(noDir.code).toBe(1);
    expect(noDir.stderr).toMatch(/required option '--state-dir <dir>' not specified/);
  }, 60_000);

  test('an auto-locked journal is read only with its unlock key; without it or with a wrong one, one clear line', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swarm-cli-locked-'));
    dirs.push(dir);
    const storage = new LevelStorage(path.join(dir, 'raft'));
    const { keyStore, unlockKey } = await KeyStore.init(await storage.openKv('keys'), { randomBytes: secureRandomBytes, autoLock: true });
    const log = await KvLogStorage.open(await storage.openKv('log'), { initialConfState: { voters: ['m1'], learners: [] }, cipher: keyStore.cipher });
    await log.save({ hardState: { term: 1, vote: 'm1', commit: 1 }, entries: [{ index: 1, term: 1, type: 'normal', data: encodeBatch([{ type: 'network.created', v: 1, at: 7, id: 'net9', spec: networkSpec('sealed-net') }]) }] });
    await log.close();
    await keyStore.close();
    expect(unlockKey).toMatch(/^SWMKEY-1-/);

    const locked = await swarm('journal', 'dump', '--state-dir', dir);
    expect(locked.code).toBe(1);
    expect(locked.stderr).toMatch(/the journal is locked \(auto-lock is on\): give its unlock key with --unlock-key/);
    const other = (await KeyStore.init(await new LevelStorage(path.join(dir, 'other')).openKv('keys'), { randomBytes: secureRandomBytes, autoLock: true })).unlockKey as string;
    const wrong = await swarm('journal', 'dump', '--state-dir', dir, '--unlock-key', other);
    expect(wrong).toMatchObject({ code: 1, stderr: "swarm: --unlock-key: not this journal's unlock key\n" });
    const malformed = await swarm('journal', 'check', '--state-dir', dir, '--unlock-key', 'SWMKEY-2-abc');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/^swarm: --unlock-key: /);

    const open = await swarm('journal', 'dump', '--state-dir', dir, '--unlock-key', unlockKey as string);
    expect(open.code).toBe(0);
    expect(open.stdout).toMatch(/network\.created net9 v1 .*"sealed-net"/);
    expect((await swarm('journal', 'check', '--state-dir', dir, '--unlock-key', unlockKey as string)).code).toBe(0);
  }, 60_000);
});

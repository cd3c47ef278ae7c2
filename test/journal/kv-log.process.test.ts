// The classic-level log across a real process death: what a save resolved is on disk after
// kill -9 of the process that wrote it (a power cut would also need the fsync, which the batch's
// `sync: true` asks for; kill -9 cannot show that part).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KvLogStorage } from '../../journal/index.js';
import { LevelStorage } from '../../runtime/env/real/index.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('entries and hard state saved through KvLogStorage on LevelStorage survive SIGKILL of the writer', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'swarm-log-process-'));
  dirs.push(dir);
  const script = `
    import { KvLogStorage } from './journal/index.ts';
    import { LevelStorage } from './runtime/env/real/index.ts';
    const log = await KvLogStorage.open(await new LevelStorage(${JSON.stringify(dir)}).openKv('raft-log'), { initialConfState: { voters: ['m1', 'm2', 'm3'], learners: [] } });
    const entry = (index, term) => ({ index, term, type: 'normal', data: new TextEncoder().encode('event ' + index) });
    await log.save({ hardState: { term: 1, vote: 'm1', commit: 0 }, entries: [entry(1, 1), entry(2, 1), entry(3, 1)] });
    await log.save({ hardState: { term: 2, vote: 'm2', commit: 2 }, entries: [entry(3, 2), entry(4, 2)] });
    process.stdout.write('saved\\n');
    await new Promise(() => {});
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('saved')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
  });
  const exited = new Promise((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');

  const log = await KvLogStorage.open(await new LevelStorage(dir).openKv('raft-log'));
  expect(log.recovery).toEqual({ tornTailDropped: 0, entriesBelowSnapshotDropped: 0 });
  expect(log.initialState()).toEqual({ hardState: { term: 2, vote: 'm2', commit: 2 }, confState: { voters: ['m1', 'm2', 'm3'], learners: [] } });
  expect([log.firstIndex(), log.lastIndex()]).toEqual([1, 4]);
  const entries = log.entries(1, 5).map((e) => ({ index: e.index, term: e.term, text: new TextDecoder().decode(e.data) }));
  expect(entries).toEqual([
    { index: 1, term: 1, text: 'event 1' },
    { index: 2, term: 1, text: 'event 2' },
    { index: 3, term: 2, text: 'event 3' },
    { index: 4, term: 2, text: 'event 4' },
  ]);
  await log.close();
});

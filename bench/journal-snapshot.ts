// A large snapshot written while the log goes on, measured: how long the log's other writes wait
// while KvLogStorage stores a snapshot of tens of megabytes (a large cluster's store), with the
// snapshot in chunks (the default) beside the same snapshot in one record (the baseline: the log
// opened with a chunk size above the snapshot's), in one process run. A benchmark, not a test: it
// prints the figures and exits 0.
//
//   node --import tsx bench/journal-snapshot.ts        (MB=40 ROUNDS=3 by default)
//
// Method: per round and way, a fresh KvLogStorage on LevelDB in a new temp directory, with the
// AES-256-GCM cipher of a KeyStore, as managers run it. A probe saves one 256-byte entry at a time,
// each a synced write, back to back, as a leader's appends keep coming; after 300 ms of probing,
// createSnapshot stores MB MiB of random data, then compacts. Printed per way: the longest probe
// save from the snapshot's start until 1.5 s after it was durable (the stall a leader's writes
// see), the probe's p50 before the snapshot, the saves completed in that span, and the time
// createSnapshot took. The two ways alternate within each round; the median round is printed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KeyStore, KvLogStorage, SNAPSHOT_CHUNK_BYTES, type Entry } from '../journal/index.js';
import { MemoryStorage } from '../runtime/index.js';
import { LevelStorage, monotonicMs, secureRandomBytes } from '../runtime/env/real/index.js';

const MIB = 1024 * 1024;
const MB = Number(process.env.MB ?? 40);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const PROBE_BEFORE_MS = 300;
const PROBE_AFTER_MS = 1500;

interface Figures {
  readonly longestSaveMs: number;
  readonly p50BeforeMs: number;
  readonly savesDuring: number;
  readonly snapshotMs: number;
  readonly spanMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function round(chunked: boolean, data: Uint8Array): Promise<Figures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-snapshot-'));
  try {
    const { keyStore } = await KeyStore.init(await new MemoryStorage().openKv('keys'), { randomBytes: secureRandomBytes });
    const log = await KvLogStorage.open(await new LevelStorage(dir).openKv('log'), { cipher: keyStore.cipher, initialConfState: { voters: ['m1'], learners: [] }, ...(chunked ? {} : { snapshotChunkBytes: data.byteLength + 1 }) });
    let index = 0;
    const next = (): Entry => ({ index: ++index, term: 1, type: 'normal', data: secureRandomBytes(256) });
    await log.save({ hardState: { term: 1, vote: 'm1', commit: 0 }, entries: Array.from({ length: 100 }, next) });
    const saves: Array<{ at: number; ms: number }> = [];
    let probing = true;
    const probe = (async () => {
      while (probing) {
        const at = monotonicMs();
        await log.save({ hardState: { term: 1, vote: 'm1', commit: index }, entries: [next()] });
        saves.push({ at, ms: monotonicMs() - at });
      }
    })();
    await sleep(PROBE_BEFORE_MS);
    const start = monotonicMs();
    const at = index;
    await log.createSnapshot(at, { voters: ['m1'], learners: [] }, data);
    const snapshotMs = monotonicMs() - start;
    await log.compact(at - 10);
    await sleep(PROBE_AFTER_MS);
    probing = false;
    await probe;
    const end = start + snapshotMs + PROBE_AFTER_MS;
    const before = saves.filter((s) => s.at + s.ms < start).map((s) => s.ms).sort((a, b) => a - b);
    const during = saves.filter((s) => s.at + s.ms >= start && s.at <= end);
    await log.close();
    await keyStore.close();
    return {
      longestSaveMs: Math.max(...during.map((s) => s.ms)),
      p50BeforeMs: before[before.length >> 1] ?? NaN,
      savesDuring: during.length,
      snapshotMs,
      spanMs: end - start,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function median(figures: Figures[]): Figures {
  const sorted = [...figures].sort((a, b) => a.longestSaveMs - b.longestSaveMs);
  return sorted[sorted.length >> 1] as Figures;
}

async function main(): Promise<void> {
  console.log(`a ${MB} MiB snapshot stored while a probe keeps saving one entry at a time (synced, AES-256-GCM at rest, LevelDB); ${ROUNDS} rounds, the two ways alternating; the median round by longest save`);
  const data = secureRandomBytes(MB * MIB);
  const chunked: Figures[] = [];
  const whole: Figures[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const first = r % 2 === 0;
    if (first) chunked.push(await round(true, data));
    whole.push(await round(false, data));
    if (!first) chunked.push(await round(true, data));
    const [c, w] = [chunked.at(-1) as Figures, whole.at(-1) as Figures];
    console.log(`  round ${r + 1}: longest save ${c.longestSaveMs.toFixed(0)} ms in chunks, ${w.longestSaveMs.toFixed(0)} ms in one record`);
  }
  const c = median(chunked);
  const w = median(whole);
  const rows: Array<[string, string, string]> = [
    ['longest probe save while the snapshot is stored', `${c.longestSaveMs.toFixed(1)} ms`, `${w.longestSaveMs.toFixed(1)} ms`],
    ['probe save p50 before the snapshot', `${c.p50BeforeMs.toFixed(2)} ms`, `${w.p50BeforeMs.toFixed(2)} ms`],
    ['probe saves completed from its start to 1.5 s after', `${c.savesDuring} in ${(c.spanMs / 1000).toFixed(2)} s`, `${w.savesDuring} in ${(w.spanMs / 1000).toFixed(2)} s`],
    ['createSnapshot until durable', `${c.snapshotMs.toFixed(0)} ms`, `${w.snapshotMs.toFixed(0)} ms`],
  ];
  const widths = [0, 1, 2].map((i) => Math.max(...[['figure', `in chunks of ${SNAPSHOT_CHUNK_BYTES / MIB} MiB`, 'in one record (baseline)'], ...rows].map((row) => (row[i] as string).length)));
  const line = (row: readonly string[]): string => row.map((cell, i) => cell.padEnd(widths[i] as number)).join(' | ');
  console.log();
  console.log(line(['figure', `in chunks of ${SNAPSHOT_CHUNK_BYTES / MIB} MiB`, 'in one record (baseline)']));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(row));
  console.log(`\nlongest save ratio (one record / chunks): ${(w.longestSaveMs / c.longestSaveMs).toFixed(1)}x; load average ${os.loadavg()[0]?.toFixed(2)}`);
}

await main();

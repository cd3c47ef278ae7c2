// Encryption at rest, measured: append throughput of KvLogStorage on the real LevelStorage with
// and without the AES-256-GCM cipher, in one process run. A benchmark, not a test: it prints the
// figures and whether the goal (encryption costs at most 15% of append throughput) is met, and
// exits 0 either way.
//
//   node --import tsx bench/journal-crypto.ts
//
// Method: each round opens two fresh KvLogStorages on LevelDB, plain and encrypted, each in a new
// temp directory, and saves BATCHES writes of ENTRIES_PER_BATCH entries of ENTRY_BYTES random
// bytes each to both, each one synced batch (as the Raft shell does per Ready). The two saves of
// a batch run back to back, the order alternating, so that drift of the disk (cache, other load)
// hits both alike; the figure is the median round. Further figures isolate the CPU: the same
// saves on MemoryStorage, and seal and open of one segment-sized record.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KeyStore, KvLogStorage, type Entry, type LogCipher } from '../journal/index.js';
import { MemoryStorage } from '../runtime/index.js';
import { LevelStorage, monotonicMs, secureRandomBytes } from '../runtime/env/real/index.js';

const ENTRIES_PER_BATCH = 256;
const ENTRY_BYTES = 256;
const BATCHES = Number(process.env.BATCHES ?? 200);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const OVERHEAD_GOAL = 0.15;

function batchOf(first: number): Entry[] {
  return Array.from({ length: ENTRIES_PER_BATCH }, (_, i) => ({ index: first + i, term: 1, type: 'normal' as const, data: secureRandomBytes(ENTRY_BYTES) }));
}

/** The same saves on MemoryStorage: the CPU cost of the log path alone, without the disk. */
async function memoryRound(cipher: LogCipher | undefined, batches: Entry[][]): Promise<number> {
  const log = await KvLogStorage.open(await new MemoryStorage().openKv('log'), cipher === undefined ? {} : { cipher });
  const start = monotonicMs();
  for (const entries of batches) await log.save({ entries });
  const elapsedMs = monotonicMs() - start;
  await log.close();
  return (batches.length * ENTRIES_PER_BATCH) / (elapsedMs / 1000);
}

/**
 * One round on LevelDB: a plain and an encrypted log, each in a new temp directory, open side by
 * side; every batch is saved to both, one after the other, the order alternating from batch to
 * batch, and each save is timed on its own. Disk drift (the page cache filling, the filesystem's
 * journal, other load) then hits both logs within milliseconds of each other, instead of a whole
 * round apart: with rounds run one after the other, the spread between rounds of the same kind
 * was larger than the cost being measured.
 */
async function pairedRound(cipher: LogCipher, batches: Entry[][]): Promise<{ plain: number; sealed: number }> {
  const dirs = [fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-crypto-')), fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-crypto-'))] as const;
  try {
    const plainLog = await KvLogStorage.open(await new LevelStorage(dirs[0]).openKv('log'));
    const sealedLog = await KvLogStorage.open(await new LevelStorage(dirs[1]).openKv('log'), { cipher });
    let plainMs = 0;
    let sealedMs = 0;
    const timedSave = async (log: KvLogStorage, entries: Entry[]): Promise<number> => {
      const start = monotonicMs();
      await log.save({ entries });
      return monotonicMs() - start;
    };
    for (const [b, entries] of batches.entries()) {
      if (b % 2 === 0) {
        plainMs += await timedSave(plainLog, entries);
        sealedMs += await timedSave(sealedLog, entries);
      } else {
        sealedMs += await timedSave(sealedLog, entries);
        plainMs += await timedSave(plainLog, entries);
      }
    }
    await plainLog.close();
    await sealedLog.close();
    const entries = batches.length * ENTRIES_PER_BATCH;
    return { plain: entries / (plainMs / 1000), sealed: entries / (sealedMs / 1000) };
  } finally {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** The cipher alone, in memory: seal and open of one segment-sized record (what one save seals). */
function sealRate(cipher: LogCipher): { sealMBps: number; openMBps: number; sealUs: number } {
  const record = secureRandomBytes(ENTRIES_PER_BATCH * (ENTRY_BYTES + 26));
  const context = new Uint8Array(9);
  const count = 2000;
  let start = monotonicMs();
  let sealed = record;
  for (let i = 0; i < count; i++) sealed = cipher.seal(record, context);
  const sealMs = monotonicMs() - start;
  start = monotonicMs();
  for (let i = 0; i < count; i++) cipher.open(sealed, context, 'bench');
  const openMs = monotonicMs() - start;
  const mb = (count * record.byteLength) / 1e6;
  return { sealMBps: mb / (sealMs / 1000), openMBps: mb / (openMs / 1000), sealUs: (sealMs * 1000) / count };
}

async function main(): Promise<void> {
  const { keyStore } = await KeyStore.init(await new MemoryStorage().openKv('keys'), { randomBytes: secureRandomBytes });
  const batches = Array.from({ length: BATCHES }, (_, b) => batchOf(1 + b * ENTRIES_PER_BATCH));
  console.log(`KvLogStorage.save on LevelStorage (synced): ${BATCHES} batches x ${ENTRIES_PER_BATCH} entries x ${ENTRY_BYTES} B, ${ROUNDS} rounds; each round saves every batch to a plain and an encrypted log side by side, alternating which goes first`);
  // One warm-up round, not counted.
  await pairedRound(keyStore.cipher, batches.slice(0, 20));
  const plain: number[] = [];
  const sealed: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const rates = await pairedRound(keyStore.cipher, batches);
    plain.push(rates.plain);
    sealed.push(rates.sealed);
  }
  const plainRate = median(plain);
  const sealedRate = median(sealed);
  const overhead = 1 - sealedRate / plainRate;
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  console.log(`  rounds plain     : ${plain.map(fmt).join(', ')} entries/s`);
  console.log(`  rounds encrypted : ${sealed.map(fmt).join(', ')} entries/s`);
  console.log(`  cost per round   : ${sealed.map((rate, i) => `${((1 - rate / (plain[i] as number)) * 100).toFixed(1)}%`).join(', ')}`);
  console.log('');
  console.log('figure                      | encrypted      | baseline (plain) | ratio | goal            | met?');
  console.log(`append entries/s (median)   | ${fmt(sealedRate).padStart(14)} | ${fmt(plainRate).padStart(16)} | ${(sealedRate / plainRate).toFixed(3)} | cost <= ${OVERHEAD_GOAL * 100}%     | ${overhead <= OVERHEAD_GOAL ? 'yes' : 'no'} (cost ${(overhead * 100).toFixed(1)}%)`);
  const memoryPlain: number[] = [];
  const memorySealed: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    memoryPlain.push(await memoryRound(undefined, batches));
    memorySealed.push(await memoryRound(keyStore.cipher, batches));
  }
  const memPlainRate = median(memoryPlain);
  const memSealedRate = median(memorySealed);
  const usPerBatch = (rate: number): number => (ENTRIES_PER_BATCH / rate) * 1e6;
  console.log(`same, on MemoryStorage      | ${fmt(memSealedRate).padStart(14)} | ${fmt(memPlainRate).padStart(16)} | ${(memSealedRate / memPlainRate).toFixed(3)} | (CPU alone)     | +${(usPerBatch(memSealedRate) - usPerBatch(memPlainRate)).toFixed(0)} us per save`);
  const rates = sealRate(keyStore.cipher);
  console.log(`cipher alone, in memory     | AES-256-GCM seal ${fmt(rates.sealMBps)} MB/s (${rates.sealUs.toFixed(0)} us per segment), open ${fmt(rates.openMBps)} MB/s`);
}

await main();

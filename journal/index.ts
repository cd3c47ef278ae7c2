// The journal's face.
export * from './log/types.js';
export * from './errors.js';
export { MemoryLogStorage, type MemoryLogInit, type LogBase, type AppliedWrite } from './log/memory.js';
export { KvLogStorage, type KvLogStorageOptions, type KvLogRecovery } from './log/kv.js';
export { crc32 } from './log/crc32.js';
export * from './events/index.js';
export * from './store/index.js';

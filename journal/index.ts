// The journal's face.
export * from './log/types.js';
export * from './errors.js';
export { MemoryLogStorage, type MemoryLogInit, type LogBase, type AppliedWrite } from './log/memory.js';
export { KvLogStorage, SNAPSHOT_CHUNK_BYTES, type KvLogStorageOptions, type KvLogRecovery } from './log/kv.js';
export { crc32 } from './log/crc32.js';
export * from './events/index.js';
export * from './store/index.js';
export { AesGcmCipher, Keyring, SEALED_OVERHEAD_BYTES, type RandomBytes } from './crypto/cipher.js';
export { KeyStore, KEY_FILE_KEY, type KeyStoreOptions, type KeyStoreInitOptions, type KeyStoreOpenOptions } from './crypto/key-store.js';
export { UNLOCK_KEY_PREFIX, formatUnlockKey, parseUnlockKey } from './crypto/unlock-key.js';

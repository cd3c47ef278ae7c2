// The journal's events: objects, event types, their versioned schema and batches.
export * from './errors.js';
export * from './objects.js';
export * from './events.js';
export * from './batch.js';
export * from './defaults.js';
export { sameValue } from './equal.js';
export { EVENT_RECORD_STRUCTURES, decodeEventCbor, encodeEventCbor } from './codec.js';
export { type Check } from './schema.js';

// The consensus part's face: the pure Raft core and its types.
export * from './types.js';
export * from './errors.js';
export { RaftCore, validateMessage, encodeConfChange, decodeConfChange, nextConfState, type RaftBug, type RaftStatus, type RaftCounters } from './core.js';
export { RaftLog } from './log.js';
export { Progress, type ProgressState } from './progress.js';
export * from './peer.js';

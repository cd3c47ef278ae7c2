// actors/: the orchestrator's actors, above raft/, journal/ and runtime/ (DESIGN.md section 2).
export * from './allocator/index.js';
export * from './ca/index.js';
export * from './cluster/index.js';
export * from './scheduler/index.js';
export * from './orchestrator/index.js';
export * from './agent/index.js';
export * from './api/index.js';
export * from './logs/index.js';

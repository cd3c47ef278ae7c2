// The per-node cluster actors: the manager's state actor (applier and API door) and the security
// state it replicates (DESIGN.md sections 5 and 7).
export * from './security.js';
export * from './manager.js';

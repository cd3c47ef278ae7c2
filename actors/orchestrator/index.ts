// The leader's orchestration (DESIGN.md sections 5 and 6): the supervisor that spawns it from the
// store on leadership, the writer that batches proposals, the service, node and scheduler actors,
// the pure reconciler and update planner, the dispatcher, and the messages between them.
export * from './protocol.js';
export * from './ids.js';
export * from './writer.js';
export * from './reconcile.js';
export * from './dependencies.js';
export * from './update.js';
export * from './service.js';
export * from './node.js';
export * from './task.js';
export * from './scheduler.js';
export * from './dispatcher.js';
export * from './supervisor.js';

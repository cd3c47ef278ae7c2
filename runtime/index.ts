// The runtime's face: the actor system, its Env seam and transports. Other parts import from here.
export * from './env/types.js';
export * from './env/random.js';
export * from './env/memory-storage.js';
export * from './env/runtime-executor.js';
export * from './errors.js';
export * from './address.js';
export * from './mailbox.js';
export * from './supervision.js';
export * from './inspection.js';
export * from './actor.js';
export { ActorSystem, type SystemOptions, type ActorInfo, type DeadLetterStats, type RootFailure } from './system.js';
export * from './xstate.js';
export * from './codec.js';
export * from './transport/memory.js';
export * from './machine-chart.js';

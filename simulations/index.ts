export * from './loop.js';
export * from './clock.js';
export * from './network.js';
export * from './disk.js';
export * from './trace.js';
export * from './demo.js';
export * from './cluster.js';
export * from './linearizability.js';

// The control API's boundary (DESIGN.md section 2): service specs in the Docker Engine API's
// shapes read into ours and back, their validation and defaults, filters, and the writes the API
// makes, as pure functions of a request and a store reader. The HTTP server is cli/node/control.ts.
export * from './errors.js';
export * from './defaults.js';
export * from './docker.js';
export * from './validate.js';
export * from './resolve.js';
export * from './filters.js';
export * from './operations.js';
export * from './cluster.js';

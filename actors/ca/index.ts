// The cluster CA (DESIGN.md section 7): its pure core. The actor that serves certificate and
// join requests builds on these.
export * from './errors.js';
export * from './certificates.js';
export * from './join-token.js';
export * from './rotation.js';

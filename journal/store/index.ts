// The store: the projection of committed events, its snapshot, and the watch feed.
export * from './errors.js';
export * from './store.js';
export * from './watch.js';

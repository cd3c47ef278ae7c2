// Small helpers shared by the journal's tests.
import type { LogStorage } from '../../journal/index.js';

/** The error a function throws (the test fails if it returns). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** The error a promise rejects with (the test fails if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Everything a reader of a log can observe, for comparing two logs (or one with its reopened self). */
export function observeLog(log: LogStorage) {
  const first = log.firstIndex();
  const last = log.lastIndex();
  return {
    first,
    last,
    baseTerm: log.term(first - 1),
    entries: log.entries(first, last + 1).map((e) => ({ ...e, data: [...e.data] })),
    initialState: log.initialState(),
    snapshot: { meta: log.snapshot().meta, data: [...log.snapshot().data] },
  };
}

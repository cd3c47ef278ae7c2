// One empty array for every task without restarts or addresses (most tasks), whether applied or
// restored: objects in the store are immutable, so sharing it is safe, and a store of 100,000
// tasks holds one array instead of 200,000.
const EMPTY: readonly never[] = Object.freeze([]);

/** `list`, or the shared empty array when it is empty. */
export function orEmpty<T>(list: readonly T[]): readonly T[] {
  return list.length === 0 ? EMPTY : list;
}

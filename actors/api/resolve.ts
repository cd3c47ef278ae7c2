// How the API finds the object a request names: the full id, then the exact name, then a unique
// id prefix (moby's daemon/cluster/helpers.go), so `swarm service inspect web` and
// `swarm service inspect 3x7` both work. Pure functions of a store reader.
import type { Config, Node, Secret, Service, StoreReader, Task } from '../../journal/index.js';
import { AmbiguousRefError, ObjectNotFoundApiError } from './errors.js';

export function resolveService(reader: StoreReader, ref: string): Service {
  if (ref === '') throw new ObjectNotFoundApiError('service', "''");
  const exact = reader.get('service', ref) ?? reader.byName('service', ref);
  if (exact !== undefined) return exact;
  const prefixed = reader.list('service').filter((s) => s.id.startsWith(ref));
  if (prefixed.length === 1) return prefixed[0]!;
  if (prefixed.length > 1) throw new AmbiguousRefError('service', ref, prefixed.length);
  throw new ObjectNotFoundApiError('service', ref);
}

export function resolveTask(reader: StoreReader, ref: string): Task {
  if (ref === '') throw new ObjectNotFoundApiError('task', "''");
  const exact = reader.get('task', ref);
  if (exact !== undefined) return exact;
  const prefixed = reader.list('task').filter((t) => t.id.startsWith(ref));
  if (prefixed.length === 1) return prefixed[0]!;
  if (prefixed.length > 1) throw new AmbiguousRefError('task', ref, prefixed.length);
  throw new ObjectNotFoundApiError('task', ref);
}

/** A secret or config by id or name (the existing endpoints' rule: no prefixes). */
export function resolveBlob(reader: StoreReader, kind: 'secret' | 'config', ref: string): Secret | Config {
  const found = reader.get(kind, ref) ?? reader.byName(kind, ref);
  if (found === undefined) throw new ObjectNotFoundApiError(kind, ref);
  return found;
}

/** A node by id, then name (or hostname), then unique id prefix. */
export function resolveNode(reader: StoreReader, ref: string): Node {
  if (ref === '') throw new ObjectNotFoundApiError('node', "''");
  const exact = reader.get('node', ref);
  if (exact !== undefined) return exact;
  const named = reader.list('node').filter((n) => n.spec.annotations.name === ref || n.description.hostname === ref);
  if (named.length === 1) return named[0]!;
  const prefixed = reader.list('node').filter((n) => n.id.startsWith(ref));
  if (named.length === 0 && prefixed.length === 1) return prefixed[0]!;
  if (named.length + prefixed.length > 1) throw new AmbiguousRefError('node', ref, named.length + prefixed.length);
  throw new ObjectNotFoundApiError('node', ref);
}

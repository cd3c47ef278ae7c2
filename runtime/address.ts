import { InvalidAddressError } from './errors.js';

/**
 * An actor's address: `nodeId/path`, e.g. `m1/raft`, `m1/service/3f2a`, `w3/agent`. The path
 * mirrors the supervision tree: a child's path is its parent's path plus its name. Addresses are
 * plain strings so that they cost nothing to compare, hash or send.
 */
export type Address = string;

const SEGMENT = /^[A-Za-z0-9_.:@$+=-]+$/;
export const ASK_PATH_PREFIX = '$ask/';

export function isValidSegment(segment: string): boolean {
  return segment.length > 0 && segment.length <= 256 && SEGMENT.test(segment);
}

export function assertValidSegment(segment: string, what: string): void {
  if (!isValidSegment(segment)) {
    throw new InvalidAddressError(segment, `${what} must be 1-256 characters of A-Z a-z 0-9 _ . : @ $ + = -`);
  }
}

export function address(nodeId: string, path: string): Address {
  assertValidSegment(nodeId, 'node id');
  for (const segment of path.split('/')) assertValidSegment(segment, 'path segment');
  return `${nodeId}/${path}`;
}

export function nodeOf(addr: Address): string {
  const slash = addr.indexOf('/');
  return slash < 0 ? addr : addr.slice(0, slash);
}

export function parseAddress(addr: Address): { nodeId: string; path: string } {
  const slash = addr.indexOf('/');
  if (slash <= 0 || slash === addr.length - 1) throw new InvalidAddressError(addr, 'expected nodeId/path');
  return { nodeId: addr.slice(0, slash), path: addr.slice(slash + 1) };
}

/** The parent's address, or undefined for a top-level actor. */
export function parentOf(addr: Address): Address | undefined {
  const { nodeId, path } = parseAddress(addr);
  const slash = path.lastIndexOf('/');
  return slash < 0 ? undefined : `${nodeId}/${path.slice(0, slash)}`;
}

// Ingress published ports: unique across the cluster per protocol (tcp/30000 and udp/30000 are two
// ports), since every node forwards them (the routing mesh). A port the spec leaves at 0 gets the
// lowest free one of the ingress range (30000-32767, SwarmKit's). Host-mode ports bind on one node
// only: the scheduler keeps them apart per node, and nothing here holds them.
import type { PortConfig, StoreReader } from '../../journal/index.js';
import { Bitmap } from './bitmap.js';

export const INGRESS_PORT_MIN = 30_000;
export const INGRESS_PORT_MAX = 32_767;

export interface PortRange {
  readonly min: number;
  readonly max: number;
}

export type Protocol = PortConfig['protocol'];

/** `8080/tcp`: how ports are named in keys and messages. */
export function portKey(protocol: Protocol, port: number): string {
  return `${port}/${protocol}`;
}

/** Who holds each ingress port: a bitmap per protocol over the range, and the owner of every port. */
export class IngressPorts {
  private readonly free = new Map<Protocol, Bitmap>();
  /** `port/protocol` -> service id, ports outside the range included. */
  private readonly owners = new Map<string, string>();

  constructor(readonly range: PortRange) {
    if (!Number.isInteger(range.min) || !Number.isInteger(range.max) || range.min < 1 || range.max > 65_535 || range.min > range.max) {
      throw new RangeError(`ingress port range ${range.min}-${range.max} is not a range of ports`);
    }
  }

  owner(protocol: Protocol, port: number): string | undefined {
    return this.owners.get(portKey(protocol, port));
  }

  /** Takes a given port for `serviceId`: 'taken' if another service holds it, 'held' if this one already did. */
  claim(protocol: Protocol, port: number, serviceId: string): 'claimed' | 'held' | 'taken' {
    const key = portKey(protocol, port);
    const owner = this.owners.get(key);
    if (owner !== undefined) return owner === serviceId ? 'held' : 'taken';
    this.owners.set(key, serviceId);
    if (this.inRange(port)) this.bitmap(protocol).set(port - this.range.min);
    return 'claimed';
  }

  /** The lowest free port of the range, taken for `serviceId`; undefined when the range is full. */
  takeLowest(protocol: Protocol, serviceId: string): number | undefined {
    const i = this.bitmap(protocol).takeLowest();
    if (i < 0) return undefined;
    const port = this.range.min + i;
    this.owners.set(portKey(protocol, port), serviceId);
    return port;
  }

  /** Frees a port if `serviceId` holds it. */
  release(protocol: Protocol, port: number, serviceId: string): boolean {
    const key = portKey(protocol, port);
    if (this.owners.get(key) !== serviceId) return false;
    this.owners.delete(key);
    if (this.inRange(port)) this.bitmap(protocol).clear(port - this.range.min);
    return true;
  }

  /** `port/protocol` -> service id, in key order (for tests and inspection). */
  holdings(): Record<string, string> {
    return Object.fromEntries([...this.owners].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  private inRange(port: number): boolean {
    return port >= this.range.min && port <= this.range.max;
  }

  private bitmap(protocol: Protocol): Bitmap {
    let bits = this.free.get(protocol);
    if (bits === undefined) this.free.set(protocol, (bits = new Bitmap(this.range.max - this.range.min + 1)));
    return bits;
  }
}

/**
 * For the control API, before it accepts a service's ports: a message naming the first published
 * port that conflicts, and the service holding it, or null. Two published ports conflict when they
 * share number and protocol and at least one of them is ingress (an ingress port binds on every
 * node; two host-mode ports are the scheduler's concern). Other services' ports are read from their
 * specs and from their allocated endpoints (where ports the spec left at 0 got their number);
 * `selfServiceId` (an update) is skipped. Reads every service: O(services).
 */
export function publishedPortConflicts(reader: StoreReader, ports: readonly PortConfig[], selfServiceId: string | null): string | null {
  const asked = new Map<string, PortConfig['publishMode']>();
  for (const p of ports) {
    if (p.publishedPort === 0) continue;
    const key = portKey(p.protocol, p.publishedPort);
    const before = asked.get(key);
    if (before !== undefined && (before === 'ingress' || p.publishMode === 'ingress')) return `published port ${key} is given twice`;
    if (before === undefined) asked.set(key, p.publishMode);
  }
  if (asked.size === 0) return null;
  for (const service of reader.list('service')) {
    if (service.id === selfServiceId) continue;
    const held = [...service.spec.endpoint.ports, ...(service.endpoint?.ports ?? [])];
    for (const p of held) {
      if (p.publishedPort === 0) continue;
      const key = portKey(p.protocol, p.publishedPort);
      const mode = asked.get(key);
      if (mode === undefined || (mode === 'host' && p.publishMode === 'host')) continue;
      return `published port ${key} is already in use by service ${service.spec.annotations.name} (${service.id})`;
    }
  }
  return null;
}

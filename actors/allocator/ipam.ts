// IP address management for overlay networks (IPv4): each network's subnets and the addresses
// handed out in them, lowest first, never the network address, the gateway or the broadcast.
//
// A network that declares no subnet gets one from the default pool (10.0.0.0/8 in /24s, as in
// SwarmKit), the lowest that overlaps no subnet any network declares and no subnet carved for
// another network. That subnet is not in the journal (no event records it), so it must follow from
// what the journal does hold, or a new leader would carve differently than the old one did. It is
// carved when the network's first address is handed out and given back when its last address is
// released; a network that holds addresses has its subnet written in them (CIDR notation), so a
// rebuild from the store reads it back from those addresses. Incremental and rebuilt states agree.
//
// A subnet declared after another network was carved an overlapping one is tolerated (both keep
// theirs); the control API may refuse declared subnets that overlap others.
import type { NetworkSpec } from '../../journal/index.js';
import { Bitmap } from './bitmap.js';
import { AllocationFailedError } from './errors.js';

/** Subnets wider than this would cost more than 2 MiB of bitmap each. */
export const SUBNET_PREFIX_MIN = 8;
/** A /31 or /32 has no address left once the network address, gateway and broadcast are out. */
export const SUBNET_PREFIX_MAX = 30;
export const DEFAULT_ADDRESS_POOL = '10.0.0.0/8';
export const DEFAULT_SUBNET_PREFIX = 24;

export interface Cidr {
  /** The network address, as an unsigned 32-bit integer. */
  readonly base: number;
  readonly prefix: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** An IPv4 address as an unsigned 32-bit integer, or undefined if `text` is not one. */
export function parseIpv4(text: string): number | undefined {
  const m = IPV4.exec(text);
  if (m === null) return undefined;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return `${(value >>> 24) & 255}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

function sizeOf(prefix: number): number {
  return 2 ** (32 - prefix);
}

/** `a.b.c.d/n`, with the host bits masked off; undefined if `text` is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIpv4(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (addr === undefined || !/^\d{1,2}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > 32) return undefined;
  return { base: addr - (addr % sizeOf(prefix)), prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.base)}/${cidr.prefix}`;
}

function lastOf(cidr: Cidr): number {
  return cidr.base + sizeOf(cidr.prefix) - 1;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.base <= lastOf(b) && b.base <= lastOf(a);
}

/** One subnet's addresses: a bit per address, the network address, gateway and broadcast taken from the start. */
class SubnetPool {
  private readonly bits: Bitmap;
  readonly text: string;

  constructor(readonly cidr: Cidr, readonly gateway: number) {
    const size = sizeOf(cidr.prefix);
    this.bits = new Bitmap(size);
    this.bits.set(0);
    this.bits.set(size - 1);
    this.bits.set(gateway - cidr.base);
    this.text = formatCidr(cidr);
  }

  /** Addresses handed out (not counting the three reserved ones). */
  get count(): number {
    return this.bits.count - 3;
  }

  contains(addr: number): boolean {
    return addr >= this.cidr.base && addr <= lastOf(this.cidr);
  }

  take(): number | undefined {
    const i = this.bits.takeLowest();
    return i < 0 ? undefined : this.cidr.base + i;
  }

  private usable(addr: number): boolean {
    return this.contains(addr) && addr !== this.cidr.base && addr !== lastOf(this.cidr) && addr !== this.gateway;
  }

  /** Takes a given address; false if it is not usable here or taken. */
  reserve(addr: number): boolean {
    return this.usable(addr) && this.bits.set(addr - this.cidr.base);
  }

  release(addr: number): boolean {
    return this.usable(addr) && this.bits.clear(addr - this.cidr.base);
  }

  /** Every address handed out, lowest first (O(size): for tests and inspection). */
  list(): string[] {
    const out: string[] = [];
    const size = sizeOf(this.cidr.prefix);
    for (let i = 1; i < size - 1; i++) {
      const addr = this.cidr.base + i;
      if (addr !== this.gateway && this.bits.has(i)) out.push(`${formatIpv4(addr)}/${this.cidr.prefix}`);
    }
    return out;
  }
}

interface NetworkPools {
  readonly id: string;
  readonly name: string;
  readonly ingress: boolean;
  /** True when the spec declares subnets (fixed for the network's life); else the one carved subnet, or none. */
  readonly declared: boolean;
  subnets: SubnetPool[];
  /** Why the spec's IPAM cannot be used ('' when it can). */
  readonly invalid: string;
}

export interface IpamOptions {
  /** The pool that networks declaring no subnet are carved from. Default 10.0.0.0/8. */
  readonly defaultPool?: string;
  /** The size of each carved subnet. Default 24. */
  readonly defaultSubnetPrefix?: number;
}

/** A network's state for tests and inspection. */
export interface NetworkHoldings {
  readonly subnets: readonly string[];
  readonly addresses: readonly string[];
}

/** `10.0.3.7/24` -> the address and its subnet; undefined if malformed. */
function parseAddress(text: string): { addr: number; subnet: Cidr } | undefined {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? undefined : parseIpv4(text.slice(0, slash));
  const subnet = parseCidr(text);
  return addr === undefined || subnet === undefined ? undefined : { addr, subnet };
}

function poolsOf(spec: NetworkSpec): { subnets: SubnetPool[]; invalid: string } {
  const subnets: SubnetPool[] = [];
  const name = spec.annotations.name;
  for (const declared of spec.ipam.subnets) {
    const cidr = parseCidr(declared.subnet);
    if (cidr === undefined || cidr.prefix < SUBNET_PREFIX_MIN || cidr.prefix > SUBNET_PREFIX_MAX) {
      return { subnets: [], invalid: `network ${name} declares subnet '${declared.subnet}', not an IPv4 CIDR from /${SUBNET_PREFIX_MIN} to /${SUBNET_PREFIX_MAX}` };
    }
    const gateway = declared.gateway === '' ? cidr.base + 1 : parseIpv4(declared.gateway);
    if (gateway === undefined || gateway <= cidr.base || gateway >= lastOf(cidr)) {
      return { subnets: [], invalid: `network ${name} declares gateway '${declared.gateway}', not a host address of ${formatCidr(cidr)}` };
    }
    subnets.push(new SubnetPool(cidr, gateway));
  }
  return { subnets, invalid: '' };
}

export class Ipam {
  private readonly networks = new Map<string, NetworkPools>();
  private readonly pool: Cidr;
  private readonly subnetPrefix: number;
  private ingress: string | undefined;

  constructor(options: IpamOptions = {}) {
    const pool = parseCidr(options.defaultPool ?? DEFAULT_ADDRESS_POOL);
    const prefix = options.defaultSubnetPrefix ?? DEFAULT_SUBNET_PREFIX;
    if (pool === undefined || prefix < Math.max(pool.prefix, SUBNET_PREFIX_MIN) || prefix > SUBNET_PREFIX_MAX) {
      throw new RangeError(`default address pool ${options.defaultPool ?? DEFAULT_ADDRESS_POOL} with /${prefix} subnets is not usable`);
    }
    this.pool = pool;
    this.subnetPrefix = prefix;
  }

  has(networkId: string): boolean {
    return this.networks.has(networkId);
  }

  /** The ingress network (the lowest id among networks created with `ingress`), if any. */
  ingressNetworkId(): string | undefined {
    return this.ingress;
  }

  addNetwork(id: string, spec: NetworkSpec): void {
    if (this.networks.has(id)) return;
    const declared = spec.ipam.subnets.length > 0;
    const { subnets, invalid } = poolsOf(spec);
    this.networks.set(id, { id, name: spec.annotations.name, ingress: spec.ingress, declared, subnets, invalid });
    if (spec.ingress && (this.ingress === undefined || id < this.ingress)) this.ingress = id;
  }

  /** Forgets a network and everything held in it (the control API refuses to remove one in use). */
  removeNetwork(networkId: string): void {
    if (!this.networks.delete(networkId) || this.ingress !== networkId) return;
    this.ingress = undefined;
    for (const n of this.networks.values()) if (n.ingress && (this.ingress === undefined || n.id < this.ingress)) this.ingress = n.id;
  }

  /** Hands out the lowest free address of the network, in CIDR notation. Throws AllocationFailedError. */
  allocate(networkId: string): string {
    const network = this.networks.get(networkId);
    if (network === undefined) throw new AllocationFailedError('networkNotFound', `network ${networkId} does not exist`);
    if (network.invalid !== '') throw new AllocationFailedError('subnetInvalid', network.invalid);
    if (network.subnets.length === 0) {
      if (network.declared) throw new AllocationFailedError('subnetInvalid', `network ${network.name} has no usable subnet`);
      // A carved subnet's gateway is its first host address.
      const cidr = this.carve(network);
      network.subnets = [new SubnetPool(cidr, cidr.base + 1)];
    }
    for (const subnet of network.subnets) {
      const addr = subnet.take();
      if (addr !== undefined) return `${formatIpv4(addr)}/${subnet.cidr.prefix}`;
    }
    this.maybeGiveBack(network);
    throw new AllocationFailedError('addressesExhausted', `no free address in network ${network.name} (${network.subnets.map((s) => s.text).join(', ')})`);
  }

  /**
   * Takes an address handed out earlier (read from the store or a committed event). False when it
   * cannot be held: unknown network, malformed, outside the network's subnets, or taken.
   */
  reserve(networkId: string, address: string): boolean {
    const network = this.networks.get(networkId);
    const parsed = parseAddress(address);
    if (network === undefined || network.invalid !== '' || parsed === undefined) return false;
    if (network.subnets.length === 0 && !network.declared) {
      // The carved subnet, read back from the address (see the file's comment).
      const { subnet } = parsed;
      if (subnet.prefix < SUBNET_PREFIX_MIN || subnet.prefix > SUBNET_PREFIX_MAX) return false;
      network.subnets = [new SubnetPool(subnet, subnet.base + 1)];
    }
    const pool = network.subnets.find((s) => s.contains(parsed.addr));
    const reserved = pool !== undefined && pool.reserve(parsed.addr);
    this.maybeGiveBack(network);
    return reserved;
  }

  /** Frees an address; false if it was not held. A carved subnet goes back with its last address. */
  release(networkId: string, address: string): boolean {
    const network = this.networks.get(networkId);
    const parsed = parseAddress(address);
    if (network === undefined || parsed === undefined) return false;
    const pool = network.subnets.find((s) => s.contains(parsed.addr));
    const released = pool !== undefined && pool.release(parsed.addr);
    this.maybeGiveBack(network);
    return released;
  }

  /** Every network's subnets and addresses handed out, by network id in order (O(addresses in all subnets)). */
  holdings(): Record<string, NetworkHoldings> {
    const out: Record<string, NetworkHoldings> = {};
    for (const id of [...this.networks.keys()].sort()) {
      const n = this.networks.get(id)!;
      out[id] = { subnets: n.subnets.map((s) => s.text), addresses: n.subnets.flatMap((s) => s.list()) };
    }
    return out;
  }

  private maybeGiveBack(network: NetworkPools): void {
    if (!network.declared && network.subnets.length > 0 && network.subnets[0]!.count === 0) network.subnets = [];
  }

  /** The lowest subnet of the default pool that overlaps no declared subnet and no carved one. */
  private carve(network: NetworkPools): Cidr {
    const taken: Cidr[] = [];
    for (const n of this.networks.values()) for (const s of n.subnets) taken.push(s.cidr);
    taken.sort((a, b) => a.base - b.base);
    const step = sizeOf(this.subnetPrefix);
    const end = lastOf(this.pool);
    let candidate = this.pool.base;
    for (const t of taken) {
      if (candidate + step - 1 > end) break;
      if (lastOf(t) < candidate) continue;
      if (t.base > candidate + step - 1) break;
      // Overlaps: the next candidate starts at the first aligned address past `t`.
      candidate = Math.ceil((lastOf(t) + 1) / step) * step;
    }
    if (candidate + step - 1 > end) {
      throw new AllocationFailedError('poolExhausted', `default address pool ${formatCidr(this.pool)} has no free /${this.subnetPrefix} for network ${network.name}`);
    }
    return { base: candidate, prefix: this.subnetPrefix };
  }
}

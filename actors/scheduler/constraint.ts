// Placement constraints (DESIGN.md section 6, step 3), SwarmKit's grammar: `key==value` or
// `key!=value`, where key is node.id, node.hostname, node.ip (an address or a CIDR), node.role,
// node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>. Keys are
// case-insensitive (label names are not); values are compared exactly, except node.ip. Parsing is
// separate from matching so that a bad constraint is refused when the service is declared, with
// a message that names it, rather than leaving its tasks pending forever (a known SwarmKit pain).
import type { Node } from '../../journal/index.js';

export type ConstraintKey =
  | { readonly kind: 'id' } | { readonly kind: 'hostname' } | { readonly kind: 'ip' } | { readonly kind: 'role' }
  | { readonly kind: 'os' } | { readonly kind: 'arch' }
  | { readonly kind: 'nodeLabel'; readonly name: string } | { readonly kind: 'engineLabel'; readonly name: string };

export interface Constraint {
  /** The constraint as written, for messages. */
  readonly text: string;
  readonly key: ConstraintKey;
  readonly equal: boolean;
  readonly value: string;
}

/** A constraint that does not parse; `constraint` is the text, `reason` what is wrong with it. */
export class ConstraintSyntaxError extends Error {
  readonly code = 'CONSTRAINT_SYNTAX';
  constructor(readonly constraint: string, readonly reason: string) {
    super(`invalid placement constraint ${JSON.stringify(constraint)}: ${reason}`);
    this.name = 'ConstraintSyntaxError';
  }
}

const FIXED_KEYS: Readonly<Record<string, ConstraintKey>> = {
  'node.id': { kind: 'id' },
  'node.hostname': { kind: 'hostname' },
  'node.ip': { kind: 'ip' },
  'node.role': { kind: 'role' },
  'node.platform.os': { kind: 'os' },
  'node.platform.arch': { kind: 'arch' },
};

export function parseConstraint(text: string): Constraint {
  const match = /^\s*([^=!\s]+)\s*(==|!=)\s*(.*?)\s*$/.exec(text);
  if (match === null) throw new ConstraintSyntaxError(text, 'expected key==value or key!=value');
  const [, rawKey, operator, value] = match as unknown as [string, string, string, string];
  if (value === '') throw new ConstraintSyntaxError(text, 'the value is empty');
  if (/[=!]=/.test(value)) throw new ConstraintSyntaxError(text, 'more than one operator');
  const lower = rawKey.toLowerCase();
  let key = FIXED_KEYS[lower];
  if (key === undefined) {
    const label = /^(node|engine)\.labels\.(.+)$/i.exec(rawKey);
    if (label === null) {
      throw new ConstraintSyntaxError(text, `unknown key ${JSON.stringify(rawKey)} (node.id, node.hostname, node.ip, node.role, node.platform.os, node.platform.arch, node.labels.<name>, engine.labels.<name>)`);
    }
    key = label[1]!.toLowerCase() === 'node' ? { kind: 'nodeLabel', name: label[2]! } : { kind: 'engineLabel', name: label[2]! };
  }
  if (key.kind === 'role' && value !== 'manager' && value !== 'worker') throw new ConstraintSyntaxError(text, 'node.role is manager or worker');
  if (key.kind === 'ip' && parseCidr(value) === undefined) throw new ConstraintSyntaxError(text, `${JSON.stringify(value)} is not an IPv4 address or CIDR`);
  return { text, key, equal: operator === '==', value };
}

/** Parses every constraint of a placement; the first bad one throws. */
export function parseConstraints(texts: readonly string[]): Constraint[] {
  return texts.map(parseConstraint);
}

function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    n = n * 256 + Number(part);
  }
  return n;
}

function parseCidr(text: string): { base: number; bits: number } | undefined {
  const [address, bitsText] = text.split('/');
  const base = parseIpv4(address ?? '');
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  if (base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return undefined;
  return { base, bits };
}

function ipMatches(addr: string, cidrText: string): boolean {
  const host = addr.replace(/:\d+$/, '');
  const ip = parseIpv4(host);
  const cidr = parseCidr(cidrText);
  if (ip === undefined || cidr === undefined) return false;
  const size = 2 ** (32 - cidr.bits);
  return Math.floor(ip / size) === Math.floor(cidr.base / size);
}

/** The node's value for a key, or undefined when it has none (a missing label). */
function valueOf(node: Node, key: ConstraintKey): string | undefined {
  switch (key.kind) {
    case 'id': return node.id;
    case 'hostname': return node.description.hostname;
    case 'ip': return node.status.addr;
    case 'role': return node.spec.role;
    case 'os': return node.description.platform.os;
    case 'arch': return node.description.platform.architecture;
    case 'nodeLabel': return node.spec.annotations.labels[key.name];
    case 'engineLabel': return node.description.engineLabels[key.name];
  }
}

/**
 * Whether `node` meets the constraint. A node without the key (a missing label) fails `==` and
 * meets `!=`, as in SwarmKit.
 */
export function constraintMet(constraint: Constraint, node: Node): boolean {
  const actual = valueOf(node, constraint.key);
  if (actual === undefined) return !constraint.equal;
  const same = constraint.key.kind === 'ip' ? ipMatches(actual, constraint.value) : actual === constraint.value;
  return same === constraint.equal;
}

// Typed failures of the allocator's core: a service or task could not get what it asked for. They
// are conditions, not bugs: the allocator keeps the object waiting (with this message as its
// reason) and retries when something is freed.
import { RuntimeError } from '../../runtime/index.js';

/** What could not be allocated. */
export type AllocationProblem =
  /** Every port of the ingress range is taken (for that protocol). */
  | 'portsExhausted'
  /** The published port the spec asks for belongs to another service, or is asked for twice. */
  | 'portInUse'
  /** A network has no free address left. */
  | 'addressesExhausted'
  /** The default address pool has no free subnet left for a network that declares none. */
  | 'poolExhausted'
  /** A network the spec names does not exist. */
  | 'networkNotFound'
  /** A network declares a subnet or gateway that is not an IPv4 CIDR within bounds. */
  | 'subnetInvalid';

export class AllocationFailedError extends RuntimeError {
  readonly code = 'ALLOCATION_FAILED';
  constructor(readonly problem: AllocationProblem, message: string) {
    super(message);
  }
}

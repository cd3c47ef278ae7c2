// The allocator (DESIGN.md section 6, step 2): ingress published ports, virtual IPs and network
// addresses. A pure core (Allocator, with its IPAM and port maps) and the actor that runs it on the
// leader; publishedPortConflicts is the control API's check before it accepts a service's ports.
export { AllocationFailedError, type AllocationProblem } from './errors.js';
export {
  DEFAULT_ADDRESS_POOL, DEFAULT_SUBNET_PREFIX, SUBNET_PREFIX_MAX, SUBNET_PREFIX_MIN,
  cidrsOverlap, formatCidr, formatIpv4, parseCidr, parseIpv4,
  type Cidr, type IpamOptions, type NetworkHoldings,
} from './ipam.js';
export { INGRESS_PORT_MAX, INGRESS_PORT_MIN, publishedPortConflicts, type PortRange } from './ports.js';
export {
  Allocator,
  type AllocationPlan, type AllocatorHoldings, type AllocatorOptions, type ServiceAllocation, type TaskAllocation,
} from './allocator.js';
export { allocationEvents, allocatorActor, type AllocatorActorOptions, type AllocatorInput, type AllocatorTimer } from './actor.js';

// The stack file of `swarm up` (a pure part of cli): parseStack reads a Compose file into a
// checked Stack, toServiceSpecs turns it into the control API's request bodies, planStack
// compares them with the cluster's services, formatPlan prints the plan. No network, no daemon:
// the `swarm up` command calls these.
export { StackError, formatIssue, type StackIssue } from './errors.js';
export {
  parseStack,
  type DependencyCondition, type Stack, type StackBlob, type StackDependency, type StackDeploy, type StackFileRef, type StackHealthcheck, type StackMount,
  type StackPort, type StackRuntime, type StackService, type StackVolume,
} from './parse.js';
export { splitShellWords } from './schema.js';
export {
  STACK_NAMESPACE_LABEL, toServiceSpecs,
  type DockerBlobSpecJson, type DockerServiceSpecJson, type StackDependencyJson, type StackSpecs, type ToServiceSpecsOptions,
} from './convert.js';
export {
  formatPlan, planStack,
  type CurrentService, type PlanOptions, type PlannedCreate, type PlannedKeep, type PlannedUpdate, type SpecChange, type StackPlan,
} from './plan.js';
export type { KeyPath, Position } from './yaml.js';

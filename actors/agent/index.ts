// The worker side (DESIGN.md section 6, step 5): the agent, its task runners and its executor actor.
export { agentActor, AGENT_TASKS_STORE, type AgentOptions, type AgentMessage, type AgentPhase } from './agent.js';
export { runnerActor, runnerMachine, runnerStart, executorSpecOf, taskFiles, TASK_LOST_MESSAGE, UNHEALTHY_MESSAGE, type RunnerInput, type RunnerStart, type TaskBlobs } from './runner.js';
export { executorActor } from './executor-actor.js';
export type { ExecutorReply, ExecutorRequest, RunnerRemove, RunnerStatus, RunnerTask, RunnerUpdate } from './messages.js';

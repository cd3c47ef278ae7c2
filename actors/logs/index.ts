// Service and task logs (`swarm service logs`, `swarm task logs`): the node's log server, a
// manager's log stream per request, and the messages between them.
export * from './protocol.js';
export { nodeLogsActor, type NodeLogsOptions, type NodeLogsInput } from './node-logs.js';
export {
  logStreamActor, logStreamsHome, logContext, formatLogLine, incompleteText,
  type LogEntry, type LogSink, type LogTask, type LogTarget, type LogStreamOptions, type LogStreamControl, type LogStreamInput, type LogStreamsOpen, type LogStreamsTell, type LogStreamsInput,
} from './stream.js';

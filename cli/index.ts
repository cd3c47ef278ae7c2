// The cli part's face, for tests and tools: the control API client and the node process.
export { controlRequest, controlStream, ControlError } from './node/client.js';
export { SwarmNode, NodeError, type NodeRpc } from './node/daemon.js';
export { StateDir, splitPem } from './node/state-dir.js';
// The control API's writes, coalesced into few Raft entries.
export { WriteCoalescer, WRITE_ENTRIES_IN_FLIGHT_MAX, WRITE_ENTRY_PLACE_MS, type CoalescedEntryReply, type WriteCoalescerOptions, type WriteCoalescerStats } from './node/write-coalescer.js';
// The node's inspection stream (GET /inspect) and the visualizer's live source that reads it.
export { InspectFeed, jsonSafe, actorTreeJson, JSON_SAFE_LIMITS, INSPECT_QUEUED_RECORDS_MAX, INSPECT_QUEUED_CHARS_MAX, type InspectSink, type InspectFeedOptions, type JsonSafeLimits } from './node/inspect.js';
export { openLiveSource, NdjsonSplitter, LIVE_LINE_CHARS_MAX, type LiveStream, type LiveSourceOptions } from './viz/live-source.js';
// The service commands' flag readers.
export { containerFlags, dependsOnFlag, goDurationNs, mountFlag, replicasColumn, updateDependsOn, type DependsOnFlag } from './service-commands.js';
// The stack file of `swarm up`: parse, convert to API bodies, plan against the cluster.
export * from './stack/index.js';
// The cluster commands' flag readers.
export { CLUSTER_LIMITS, duration, formatDuration, DEFAULT_CERT_EXPIRY } from './cluster-commands.js';
// The command tree (what cli/main.ts parses argv with), for the test that walks it.
export { program } from './program.js';
// The visualizer (`swarm viz`): its statecharts, history model, sources and server.
export * from './viz/chart.js';
export { MACHINES, chartFor } from './viz/machines.js';
export { History, messageLabel, type ActorView, type MessageRow, type NodeView, type StateChange, type TraceRecord } from './viz/history.js';
export { LiveSource, TraceFileSource, parseRecordLine, type Source } from './viz/sources.js';
export { startVizServer, transitionsTaken } from './viz/server.js';
export { openBrowser, CHROMIUM, ARTIFACTS, type Browser } from './viz/chromium.js';

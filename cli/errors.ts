// The CLI's errors, in a module of their own: the short-lived commands (`swarm node ls`, the
// detached parent of `swarm init -d`) and the top-level handler name them without loading the
// journal's or the node process's code.

/** A problem the user can fix (a missing directory, a locked store): printed as one line, exit 1. */
export class CliError extends Error {}

/** A refusal a remote caller receives as `{ code, message }`. */
export class NodeError extends Error {
  constructor(readonly code: string, message: string, readonly status = 400) {
    super(message);
    this.name = 'NodeError';
  }
}

// The stack file's refusals. Every problem is a StackIssue naming the file, the line and column
// where it is (when it has one), and the key path in the file (`services.web.deploy.replicas`);
// all problems found in one pass are reported together, one per line, in the order of the file.
import { RuntimeError } from '../../runtime/index.js';

export interface StackIssue {
  readonly file: string;
  /** 1-based; absent for a problem with no place in the file (a missing stack name). */
  readonly line?: number;
  readonly col?: number;
  /** The key path in the file, e.g. `services.web.ports[1]`; '' for the file as a whole. */
  readonly path: string;
  readonly message: string;
}

/** `stack.yml:7:5: services.web.deploy.replicas: must be a non-negative integer, got "three"`. */
export function formatIssue(issue: StackIssue): string {
  const place = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}${issue.col === undefined ? '' : `:${issue.col}`}`;
  return `${place}: ${issue.path === '' ? '' : `${issue.path}: `}${issue.message}`;
}

/** By file (in the order the files first appear), then line and column; problems without a place last, in the order found. */
export function sortIssues(issues: readonly StackIssue[]): StackIssue[] {
  const files = [...new Set(issues.map((issue) => issue.file))];
  return issues
    .map((issue, i) => ({ issue, i }))
    .sort((a, b) => files.indexOf(a.issue.file) - files.indexOf(b.issue.file)
      || (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) || (a.issue.col ?? 0) - (b.issue.col ?? 0) || a.i - b.i)
    .map(({ issue }) => issue);
}

/** A stack file that cannot be read, validated or converted; `issues` holds every problem found. */
export class StackError extends RuntimeError {
  readonly code = 'STACK_INVALID';
  readonly issues: readonly StackIssue[];
  constructor(issues: readonly StackIssue[], options?: { cause?: unknown }) {
    const sorted = sortIssues(issues);
    super(sorted.map(formatIssue).join('\n'), options);
    this.issues = sorted;
  }
}

// One Executor over a node's executors by runtime: a container engine (Docker) and plain host
// processes. A workload goes to the executor its spec's `runtime` names (a container by default);
// every later call by id goes to the executor that holds it, learnt at prepare or from a listing
// (workloads outlive the agent: after a restart, the listing says who holds what).
//
// A node without a container engine still runs process tasks: a container task is REJECTED there
// with the reason, and the listing carries on with what the other executors hold. A container
// engine that is configured but not answering fails only what needs it.
import { ExecutorError, type Executor, type ExecutorExit, type ExecutorHealth, type ExecutorLogLine, type ExecutorLogsOptions, type ExecutorRuntime, type ExecutorSpec, type ExecutorWorkload } from './types.js';

export interface RuntimeExecutorOptions {
  /** The container engine's executor, or why this node has none (a container task is rejected with it). */
  readonly container: Executor | { readonly missing: string };
  readonly process: Executor;
}

export class RuntimeExecutor implements Executor {
  private readonly holders = new Map<string, Executor>();
  private readonly executors: ReadonlyMap<ExecutorRuntime, Executor>;
  private readonly containerMissing: string | undefined;

  constructor(options: RuntimeExecutorOptions) {
    const executors = new Map<ExecutorRuntime, Executor>([['process', options.process]]);
    if ('missing' in options.container) this.containerMissing = options.container.missing;
    else executors.set('container', options.container);
    this.executors = executors;
  }

  async prepare(spec: ExecutorSpec): Promise<void> {
    const runtime = spec.runtime ?? 'container';
    const executor = this.executors.get(runtime);
    if (executor === undefined) throw new ExecutorError('REJECTED', `this node runs no ${runtime} tasks: ${this.containerMissing ?? 'no executor for them'}`);
    this.holders.set(spec.id, executor);
    await executor.prepare(spec);
  }

  start(id: string): Promise<void> {
    return this.holder(id).start(id);
  }

  wait(id: string): Promise<ExecutorExit> {
    return this.holder(id).wait(id);
  }

  stop(id: string, graceMs: number): Promise<void> {
    return this.holder(id).stop(id, graceMs);
  }

  async remove(id: string): Promise<void> {
    const executor = this.holders.get(id);
    // Unknown here: no executor holds it (removing an absent workload succeeds).
    if (executor === undefined) return;
    await executor.remove(id);
    this.holders.delete(id);
  }

  async health(id: string): Promise<ExecutorHealth> {
    const executor = this.holder(id);
    return executor.health === undefined ? 'none' : executor.health(id);
  }

  logs(id: string, options: ExecutorLogsOptions): AsyncIterable<ExecutorLogLine> {
    const executor = this.holder(id);
    if (executor.logs === undefined) throw new ExecutorError('FAILED', `the ${this.runtimeOf(executor)} executor keeps no logs`);
    return executor.logs(id, options);
  }

  /**
   * What every executor holds, in id order. An executor that cannot be listed (an engine that does
   * not answer) fails the listing: the agent retries it, rather than take the node's containers
   * for gone and start them again elsewhere.
   */
  async list(): Promise<ExecutorWorkload[]> {
    const all: ExecutorWorkload[] = [];
    for (const executor of this.executors.values()) {
      for (const workload of await executor.list()) {
        this.holders.set(workload.id, executor);
        all.push(workload);
      }
    }
    return all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private holder(id: string): Executor {
    const executor = this.holders.get(id);
    if (executor === undefined) throw new ExecutorError('FAILED', `no executor holds workload ${id}`);
    return executor;
  }

  private runtimeOf(executor: Executor): string {
    for (const [runtime, e] of this.executors) if (e === executor) return runtime;
    return 'unknown';
  }
}

// Real node processes on loopback for the cluster tests: each node is `swarm init|join|start` in
// its own OS process with its own state directory; the tests talk to them through their control
// sockets, as the `swarm` command does, and kill them with real signals.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { controlRequest } from '../../cli/index.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const MAIN = path.join(ROOT, 'cli/main.ts');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `swarm ARGS` to completion; resolves with its exit code and output. */
export function swarmCli(args: readonly string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.end(input ?? '');
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

export interface NodeProcess {
  readonly name: string;
  readonly stateDir: string;
  readonly addr: string;
  child: ChildProcess;
  output: string;
  exited: Promise<number>;
}

export class Cluster {
  readonly baseDir: string;
  readonly nodes = new Map<string, NodeProcess>();

  constructor(label: string) {
    this.baseDir = mkdtempSync(path.join(os.tmpdir(), `swarm-${label}-`));
  }

  /**
   * Starts `swarm <verb> ...` in the foreground as a child process and waits for its control socket.
   * `env` is added to this process's environment (e.g. DOCKER_HOST: the node's container engine).
   */
  async start(name: string, verbArgs: readonly string[], options: { addr?: string; extra?: readonly string[]; waitReady?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<NodeProcess> {
    const stateDir = path.join(this.baseDir, name);
    const addr = options.addr ?? `127.0.0.1:${await freePort()}`;
    const isStart = verbArgs[0] === 'start';
    const args = [...verbArgs, '--state-dir', stateDir, ...(isStart ? [] : ['--listen-addr', addr, '--name', name]), ...(options.extra ?? [])];
    const env = options.env === undefined ? process.env : { ...process.env, ...options.env };
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const node: NodeProcess = { name, stateDir, addr, child, output: '', exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)))) };
    child.stdout!.on('data', (c: Buffer) => (node.output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (node.output += c.toString()));
    this.nodes.set(name, node);
    if (options.waitReady !== false) await this.waitReady(node);
    return node;
  }

  async waitReady(node: NodeProcess, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exitCode: number | undefined;
    void node.exited.then((code) => (exitCode = code));
    while (Date.now() < deadline) {
      if (exitCode !== undefined) throw new Error(`node ${node.name} exited with ${exitCode}:\n${node.output}`);
      try {
        await controlRequest(node.stateDir, 'GET', '/_ping', undefined, 1000);
        if (/joined a swarm|Swarm initialized|started as a/.test(node.output)) return;
      } catch {
        // not yet
      }
      await sleep(100);
    }
    throw new Error(`node ${node.name} not ready within ${timeoutMs} ms:\n${node.output}`);
  }

  node(name: string): NodeProcess {
    const node = this.nodes.get(name);
    if (node === undefined) throw new Error(`no node ${name}`);
    return node;
  }

  request<T = unknown>(name: string, method: string, urlPath: string, body?: unknown, timeoutMs = 15_000): Promise<T> {
    return controlRequest<T>(this.node(name).stateDir, method, urlPath, body, timeoutMs);
  }

  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const node = this.node(name);
    node.child.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await node.exited;
  }

  tls(name: string): { key: string; cert: string; ca: string } {
    const dir = path.join(this.node(name).stateDir, 'certs');
    return { key: readFileSync(path.join(dir, 'node.key'), 'utf8'), cert: readFileSync(path.join(dir, 'node.crt'), 'utf8'), ca: readFileSync(path.join(dir, 'ca.crt'), 'utf8') };
  }

  async leader(names: readonly string[], timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const name of names) {
        try {
          const status = await this.request<{ role: string; id: string }>(name, 'GET', '/debug/raft', undefined, 2000);
          if (status.role === 'leader') return name;
        } catch {
          // down or no quorum
        }
      }
      await sleep(100);
    }
    throw new Error(`no leader among ${names.join(', ')} within ${timeoutMs} ms`);
  }

  async stopAll(): Promise<void> {
    for (const node of this.nodes.values()) {
      if (node.child.exitCode === null && node.child.signalCode === null) {
        node.child.kill('SIGCONT');
        node.child.kill('SIGKILL');
        await node.exited;
      }
    }
    // Task processes outlive their node process, as containers outlive an agent: end them too.
    killTaskProcesses(this.baseDir);
    rmSync(this.baseDir, { recursive: true, force: true });
  }
}

/** Kills the process group of every task recorded under `<dir>/<node>/tasks/<task>/workload.json`. */
export function killTaskProcesses(dir: string): void {
  let nodes: string[];
  try {
    nodes = readdirSync(dir);
  } catch {
    return;
  }
  for (const node of nodes) {
    const tasks = path.join(dir, node, 'tasks');
    let entries: string[];
    try {
      entries = readdirSync(tasks);
    } catch {
      continue;
    }
    for (const entry of entries) {
      try {
        const { pid } = JSON.parse(readFileSync(path.join(tasks, entry, 'workload.json'), 'utf8')) as { pid: number | null };
        if (pid !== null && pid > 0) process.kill(-pid, 'SIGKILL');
      } catch {
        // No record, or the group is gone already.
      }
    }
  }
}

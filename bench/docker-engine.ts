// A real Docker engine for the benchmarks that compare with Docker (bench/agent.ts, bench/cli.ts):
// the one SWARM_TEST_DOCKER_HOST names (unix://...), or a private dockerd that .ci/dockerd.sh
// starts under a temp directory (its own socket, data and exec roots; no bridge, no iptables) and
// stops. Measurement code, not product code.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Runs a command to its end; resolves with its stdout, rejects with its stderr. */
export function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${cmd} ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** A free TCP port on 127.0.0.1 (released before it is returned). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export interface Engine {
  /** unix:///path/docker.sock */
  readonly dockerHost: string;
  /** process.env with DOCKER_HOST set to the engine, for the docker CLI. */
  readonly env: NodeJS.ProcessEnv;
  /** True when this process started the engine (and stop() stops it). */
  readonly private: boolean;
  stop(): Promise<void>;
}

/** The engine SWARM_TEST_DOCKER_HOST names, or a private one started now. */
export async function startEngine(): Promise<Engine> {
  const named = process.env['SWARM_TEST_DOCKER_HOST'];
  if (named !== undefined && named !== '') {
    return { dockerHost: named, env: { ...process.env, DOCKER_HOST: named }, private: false, stop: async () => undefined };
  }
  const dir = mkdtempSync('/tmp/swarm-bench-docker-');
  try {
    await run(path.join(ROOT, '.ci/dockerd.sh'), ['start', dir]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const dockerHost = `unix://${dir}/docker.sock`;
  return {
    dockerHost, env: { ...process.env, DOCKER_HOST: dockerHost }, private: true,
    stop: async () => {
      await run(path.join(ROOT, '.ci/dockerd.sh'), ['stop', dir]).catch((error: unknown) => console.error(String(error)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

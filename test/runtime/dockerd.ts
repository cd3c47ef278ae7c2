// The Docker engine of the tests that need a real one (test/runtime/docker-executor.test.ts,
// test/cluster/docker.test.ts): the one named by SWARM_TEST_DOCKER_HOST (unix:///..., CI sets it),
// or else a private one that .ci/dockerd.sh starts (installing docker.io and busybox-static with
// apt-get when they are missing) and `release` stops. No engine is never a skip: starting one
// that fails fails the test file.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';

/** Imported by .ci/dockerd.sh from the local busybox: nothing is pulled. */
export const TEST_IMAGE = 'swarm-test/busybox:1';
/** Bounds the engine's start, with an apt-get install on a fresh machine. */
export const ENGINE_START_MS_MAX = 280_000;
/** Bounds the engine's stop (the script itself waits at most 30 s, then kills it). */
export const ENGINE_STOP_MS_MAX = 60_000;

const SCRIPT = path.join(import.meta.dirname, '..', '..', '.ci', 'dockerd.sh');

export interface TestEngine {
  /** The engine's socket path. */
  readonly socket: string;
  /** The same as a DOCKER_HOST value: unix://<socket>. */
  readonly host: string;
  /** The engine's log file, when it is known (beside the socket, as the script writes it). */
  readonly log: string | undefined;
  /** Stops the engine if this process started it (an engine given by SWARM_TEST_DOCKER_HOST stays). */
  release(): Promise<void>;
}

function runScript(command: 'start' | 'stop', dir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timeout = command === 'start' ? ENGINE_START_MS_MAX : ENGINE_STOP_MS_MAX;
    execFile('bash', [SCRIPT, command, dir], { timeout, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`.ci/dockerd.sh ${command} ${dir} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The engine named by SWARM_TEST_DOCKER_HOST, or a private one started now. */
export async function acquireTestEngine(): Promise<TestEngine> {
  const given = process.env['SWARM_TEST_DOCKER_HOST'];
  if (given !== undefined && given !== '') {
    if (!given.startsWith('unix://')) throw new Error(`SWARM_TEST_DOCKER_HOST must be unix:///path/to/docker.sock, got '${given}'`);
    const socket = given.slice('unix://'.length);
    const beside = path.join(path.dirname(socket), 'dockerd.log');
    return { socket, host: given, log: existsSync(beside) ? beside : undefined, release: () => Promise.resolve() };
  }
  // Short: the engine's sockets live below it and a unix socket path has at most 107 bytes.
  const dir = mkdtempSync('/tmp/swarm-dockerd-');
  try {
    await runScript('start', dir);
  } catch (error) {
    await runScript('stop', dir).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const socket = path.join(dir, 'docker.sock');
  return {
    socket,
    host: `unix://${socket}`,
    log: path.join(dir, 'dockerd.log'),
    release: async () => {
      await runScript('stop', dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

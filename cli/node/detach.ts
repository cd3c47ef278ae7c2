// Running a node detached (`-d`): the parent starts the same command without `-d` in a new
// session, its output going to node.log in the state directory, waits until the control socket
// answers (or the child exits), prints what the child printed first and returns. The child is
// `process.execPath` with the parent's `process.execArgv` and script: a parent run from the build
// (bin/swarm.js) starts a child from the build, one run through tsx (`--import tsx cli/main.ts`)
// a child from the sources. This module loads none of the node's own code, so the parent starts
// as fast as `swarm node ls`.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, openSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { RealClock } from '../../runtime/env/real/clock.js';
import { NodeError } from '../errors.js';
import { StateDir, LOG_FILE } from './state-dir.js';
import { controlRequest } from './client.js';

export type Out = (line: string) => void;

/** Starts the same command without -d, detached; resolves once its control socket answers. */
export async function runDetached(stateDir: string, argv: readonly string[], out: Out): Promise<number> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const logFile = path.join(stateDir, LOG_FILE);
  const bannerFile = path.join(stateDir, 'banner.txt');
  writeFileSync(bannerFile, '');
  appendFileSync(logFile, '');
  const args = argv.filter((a) => a !== '-d' && a !== '--detach');
  const logFd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    detached: true,
    stdio: ['ignore', openSync(bannerFile, 'a'), logFd],
    env: { ...process.env, SWARM_DETACHED: '1' },
  });
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  child.unref();
  const clock = new RealClock();
  const deadline = clock.now() + 60_000;
  const socket = new StateDir(stateDir).controlSocket;
  while (clock.now() < deadline) {
    if (exited !== null) {
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-5).join('\n');
      throw new NodeError('START_FAILED', `the node exited with code ${exited} before it was ready:\n${tail}`);
    }
    if (existsSync(socket)) {
      try {
        await controlRequest(stateDir, 'GET', '/_ping');
        for (const line of readFileSync(bannerFile, 'utf8').split('\n')) if (line !== '') out(line);
        out(`(running in the background as pid ${child.pid}; its log is ${logFile})`);
        return 0;
      } catch {
        // not yet
      }
    }
    await new Promise<void>((resolve) => clock.setTimeout(resolve, 100));
  }
  throw new NodeError('START_TIMEOUT', `the node did not answer on ${socket} within 60 s; see ${logFile}`);
}

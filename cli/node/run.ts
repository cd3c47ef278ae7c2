// Running a node process in the foreground (the detached parent of `-d` is in detach.ts, which
// loads none of the node's code).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RealClock } from '../../runtime/env/real/clock.js';
import { ControlApi } from './control.js';
import type { SwarmNode } from './daemon.js';
import { PID_FILE } from './state-dir.js';
import type { Out } from './detach.js';

export type { Out } from './detach.js';

/** Runs the node until it is stopped (SIGINT, SIGTERM) or leaves the swarm. */
export async function runForeground(stateDir: string, start: (log: (line: string) => void) => Promise<{ node: SwarmNode; banner: string[] }>, out: Out): Promise<number> {
  const clock = new RealClock();
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const log = (line: string): void => {
    process.stderr.write(`${new Date(clock.now()).toISOString()} ${line}\n`);
  };
  const { node, banner } = await start(log);
  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));
  const api = new ControlApi(node, () => {
    // Answer the leave request first, then go.
    clock.setTimeout(() => done(0), 50);
  });
  await api.listen();
  writeFileSync(path.join(stateDir, PID_FILE), `${process.pid}\n`);
  for (const line of banner) out(line);
  node.onExit((code) => done(code));
  const stop = (): void => done(0);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const code = await finished;
  await api.close().catch(() => undefined);
  await node.stop().catch(() => undefined);
  return code;
}

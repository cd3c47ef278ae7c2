// `swarm viz` as a user runs it: the built executable (bin/swarm.js) in a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const SWARM = path.join(ROOT, 'bin/swarm.js');

export class VizProcesses {
  private readonly children: ChildProcess[] = [];

  /** Starts `swarm viz ARGS`; resolves with the URL it prints (within 20 s). */
  start(args: readonly string[], cwd = ROOT): Promise<string> {
    const child = spawn(process.execPath, [SWARM, 'viz', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    return new Promise((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`swarm viz printed no URL within 20 s:\n${output}`)), 20_000);
      const take = (c: Buffer): void => {
        output += c.toString();
        const url = /open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output);
        if (url !== null) {
          clearTimeout(timer);
          resolve(url[1]!);
        }
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`swarm viz exited (${code}):\n${output}`));
      });
    });
  }

  /** Stops every one started (SIGINT, as Ctrl-C) and waits for them to exit. */
  async stopAll(): Promise<void> {
    await Promise.all(this.children.splice(0).map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGINT');
    })));
  }
}

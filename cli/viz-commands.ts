// `swarm viz`: the state-machine visualizer's web server, on 127.0.0.1. Its work is in cli/viz/,
// loaded when the command runs.
import { InvalidArgumentError, type Command } from 'commander';
import type { Out } from './cluster-commands.js';

export interface VizFlags {
  trace?: string;
  stateDir?: string[];
  port?: number;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError(`--port must be a port number from 0 to 65535, got '${value}'`);
  return n;
}

export function registerVizCommands(swarm: Command, out: Out): void {
  swarm.command('viz').description('serve the state-machine visualizer (actor tree, statecharts, messages, time travel) on 127.0.0.1')
    .option('--trace <file>', 'show a recorded simulator trace (npm run sim… -- --seed N --trace FILE)')
    .option('--state-dir <dir>', 'show a running node live (repeatable: several nodes; default ./.swarm)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--port <port>', 'the port to listen on (default: a free one)', port)
    .action(async (opts: VizFlags) => (await import('./viz/main.js')).viz(opts, out));
}

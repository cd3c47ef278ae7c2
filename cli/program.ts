// The `swarm` command tree, built without running it: cli/main.ts parses argv with it, and a test
// walks it (every command's --help and flags).
//
// Start-up time is part of the interface (`swarm node ls` within 1.5x of `docker node ls`): this
// module and the registration modules import only commander, the control socket's client and the
// real clock. Each action imports what it needs (the journal tool, the node process) when it runs.
import { Command, InvalidArgumentError } from 'commander';
import { registerClusterCommands } from './cluster-commands.js';
import { registerServiceCommands } from './service-commands.js';
import { registerStackCommands } from './stack-commands.js';
import { registerVizCommands } from './viz-commands.js';

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a positive integer, got '${value}'`);
    return n;
  };
}

export function program(): Command {
  // After a refusal, a pointer to the usage rather than all of it: the error stays in view.
  const swarm = new Command('swarm').description('an event-sourced container orchestrator').showHelpAfterError('(add --help for the usage)');
  const journal = swarm.command('journal').description("read a manager's journal (its Raft log) without changing it");
  journal
    .command('dump')
    .description('print the hard state, the snapshot and every entry')
    .requiredOption('--state-dir <dir>', "the manager's state directory")
    .option('--tail <n>', 'only the last N entries', positiveInt('--tail'))
    .option('--unlock-key <key>', 'the unlock key of an auto-locked journal (SWMKEY-1-...)')
    .action(async (opts: { stateDir: string; tail?: number; unlockKey?: string }) => {
      const { journalDump } = await import('./journal.js');
      await journalDump({ stateDir: opts.stateDir, ...(opts.tail === undefined ? {} : { tail: opts.tail }), ...(opts.unlockKey === undefined ? {} : { unlockKey: opts.unlockKey }) }, out);
    });
  journal
    .command('check')
    .description('verify every checksum and the order of the log; exit 1 on a problem')
    .requiredOption('--state-dir <dir>', "the manager's state directory")
    .option('--unlock-key <key>', 'the unlock key of an auto-locked journal (SWMKEY-1-...)')
    .action(async (opts: { stateDir: string; unlockKey?: string }) => {
      const { journalCheck } = await import('./journal.js');
      if ((await journalCheck({ stateDir: opts.stateDir, ...(opts.unlockKey === undefined ? {} : { unlockKey: opts.unlockKey }) }, out)) > 0) process.exitCode = 1;
    });
  registerClusterCommands(swarm, out);
  registerServiceCommands(swarm, out);
  registerStackCommands(swarm, out);
  registerVizCommands(swarm, out);
  return swarm;
}

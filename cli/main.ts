// The `swarm` command: the command tree (cli/program.ts), then the chosen command's action.
import { CliError } from './errors.js';
import { isUserError } from './cluster-commands.js';
import { program } from './program.js';

try {
  await program().parseAsync(process.argv);
} catch (error) {
  // The journal's LogCorruptError is a user error by its code (LOG_CORRUPT), as isUserError reads it.
  if (!(error instanceof CliError) && !isUserError(error)) throw error;
  process.stderr.write(`swarm: ${error.message}\n`);
  process.exitCode = 1;
}

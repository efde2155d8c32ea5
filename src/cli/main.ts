/**
 * The `instance-manager` program: parses argv, runs one command, turns errors into exit codes
 * (2 for bad usage or input with one line naming it, 1 for a runtime failure).
 */
import { Command, CommanderError } from 'commander';
import { errorMessage, UsageError } from '../errors.js';
import { runInstance } from '../instance/index.js';
import { backupCommand } from './backup.js';
import { certificateCommand } from './certificate.js';
import { logsCommand } from './logs.js';
import { operatorCommands } from './operator.js';
import { runCommand } from './run.js';
import { statusCommand } from './status.js';
import { versionCommand } from './version.js';

export const EXIT_RUNTIME_FAILURE = 1;
export const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command('instance-manager')
    .description('PID 1 for PostgreSQL containers')
    // Handled as the `version` command (see main): commander's own prints a fixed string.
    .option('-V, --version', 'print the version (the same as the version command)')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
  program.addCommand(runCommand(runInstance));
  program.addCommand(statusCommand());
  program.addCommand(backupCommand());
  program.addCommand(logsCommand());
  program.addCommand(certificateCommand());
  for (const command of operatorCommands()) program.addCommand(command);
  program.addCommand(versionCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  for (const command of program.commands) command.exitOverride().configureOutput({ outputError: () => undefined });
  const [node = 'node', script = 'instance-manager', first, ...rest] = argv;
  const args = first === '--version' || first === '-V' ? [node, script, 'version', ...rest] : argv;
  try {
    await program.parseAsync(args);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return; // --help, --version
      // A command group called without its subcommand: commander already printed the help.
      if (error.code === 'commander.help') process.exitCode = EXIT_USAGE;
      else fail(EXIT_USAGE, error.message.replace(/^error: /, ''));
    } else if (error instanceof UsageError) {
      fail(EXIT_USAGE, error.message);
    } else {
      fail(EXIT_RUNTIME_FAILURE, errorMessage(error));
    }
  }
}

function fail(code: number, message: string): void {
  process.stderr.write(`instance-manager: ${message.split('\n')[0]}\n`);
  process.exitCode = code;
}

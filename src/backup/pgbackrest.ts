/**
 * Runs pgBackRest as the PostgreSQL user with the rendered config, turning every line it prints into
 * a JSON log line under logger `pgbackrest` with pgBackRest's own level.
 */
import type { Logger } from '../log.js';
import { spawnProgram, type RunAs } from '../process/index.js';
import { parseConsoleLine } from './info.js';

export interface PgBackRestContext {
  runAs: RunAs;
  logger: Logger;
  /** The rendered pgbackrest.conf under the run dir. */
  configFile: string;
}

export interface PgBackRestRun {
  stanza: string;
  /** Options after the stanza, before the command (`--type=full`, `--target=...`). */
  args?: readonly string[];
  /** Its stdout is data (`info --output=json`): returned, not logged. */
  data?: boolean;
  /** Aborting sends SIGTERM: pgBackRest stops and leaves the repository consistent. */
  signal?: AbortSignal;
  /** Each console line after it was logged (progress, the new backup's label). */
  onLine?: (msg: string) => void;
}

export class PgBackRestFailed extends Error {
  override readonly name = 'PgBackRestFailed';
  constructor(
    message: string,
    readonly exitCode: number | null,
  ) {
    super(message);
  }
}

/** Runs one pgBackRest command to its end; resolves with its stdout when `data`, rejects with its last error. */
export async function runPgBackRest(context: PgBackRestContext, command: string, run: PgBackRestRun): Promise<string> {
  const logger = context.logger.named('pgbackrest');
  const errors: string[] = [];
  const data: string[] = [];
  const report = (line: string, pipe: 'stdout' | 'stderr') => {
    const parsed = parseConsoleLine(line);
    if (parsed.level === 'error') errors.push(parsed.msg);
    const processField = parsed.process ? { process: parsed.process } : {};
    logger[parsed.level](parsed.msg, { command, stanza: run.stanza, ...processField, pipe });
    run.onLine?.(parsed.msg);
  };
  // Console at info for the manager's own commands; for data, messages go to stderr only.
  const console = run.data
    ? ['--log-level-console=off', '--log-level-stderr=warn']
    : ['--log-level-console=info', '--log-level-stderr=off'];
  const args = [`--config=${context.configFile}`, `--stanza=${run.stanza}`, ...console, ...(run.args ?? []), command];
  const program = spawnProgram('pgbackrest', args, {
    runAs: context.runAs,
    logger: context.logger,
    stdoutIsData: true,
    onStdoutLine: (line) => (run.data ? data.push(line) : report(line, 'stdout')),
    consumeStderrLine: (line) => {
      report(line, 'stderr');
      return true;
    },
    signal: run.signal,
  });
  // Not `exited`: the JSON of `info` may still be in the pipe when pgBackRest has exited.
  const exit = await program.finished;
  if (exit.code !== 0) {
    const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
    const why = errors.length > 0 ? `: ${errors.at(-1)}` : '';
    throw new PgBackRestFailed(`pgbackrest ${command} failed (${how})${why}`, exit.code);
  }
  // One JSON line; a very long one arrives in pieces, which join back without a separator.
  return data.join('');
}

import type { Logger } from '../log.js';
import { ProgramFailed, runProgram, type RunAs } from '../process/index.js';
import type { PgBinaries } from './binaries.js';
import type { Postmaster } from './postmaster.js';

export type ShutdownMode = 'smart' | 'fast' | 'immediate';

export interface ShutdownOptions {
  bin: PgBinaries;
  pgdata: string;
  runAs: RunAs;
  logger: Logger;
  smartTimeoutSeconds: number;
  fastTimeoutSeconds: number;
  /** Skip the modes before this one: a fence or a demotion stops fast, at once. */
  from?: ShutdownMode;
}

/** How long `pg_ctl stop -m immediate` may take before the process group is killed outright. */
const IMMEDIATE_TIMEOUT_SECONDS = 30;

/**
 * Smart, then fast, then immediate, each through `pg_ctl stop` with an explicit `-t` (pg_ctl's own
 * default gives up after 60 s, which disagrees with any grace period the pod was given).
 * Returns the mode that stopped it; `killed` when even immediate did not.
 */
export async function stopPostmaster(
  postmaster: Postmaster,
  options: ShutdownOptions,
): Promise<ShutdownMode | 'killed'> {
  const all: [ShutdownMode, number][] = [
    ['smart', options.smartTimeoutSeconds],
    ['fast', options.fastTimeoutSeconds],
    ['immediate', IMMEDIATE_TIMEOUT_SECONDS],
  ];
  const steps = all.slice(all.findIndex(([mode]) => mode === (options.from ?? 'smart')));
  // A stop right after the spawn (the status port taken at a warm start) would otherwise see pg_ctl
  // fail at once for want of postmaster.pid, and the stop skip to the next mode.
  await postmaster.waitForPidFile(steps[0]![1] * 1000);
  for (const [mode, timeoutSeconds] of steps) {
    if (!postmaster.isRunning) return mode;
    const began = Date.now();
    options.logger.info('stopping PostgreSQL', { mode, timeoutSeconds });
    try {
      await runProgram(
        options.bin.path('pg_ctl'),
        ['stop', '-D', options.pgdata, '-m', mode, '-t', String(timeoutSeconds), '-w'],
        {
          runAs: options.runAs,
          logger: options.logger,
        },
      );
    } catch (error) {
      if (!(error instanceof ProgramFailed)) throw error;
      if (postmaster.isRunning) {
        options.logger.warning(`${mode} shutdown did not finish in ${timeoutSeconds} s`, {
          mode,
          elapsedMs: Date.now() - began,
        });
        continue;
      }
    }
    await postmaster.exited;
    options.logger.info('PostgreSQL stopped', { mode, elapsedMs: Date.now() - began });
    return mode;
  }
  postmaster.signal('SIGKILL');
  await postmaster.exited;
  options.logger.error('PostgreSQL did not stop in immediate mode and was killed', { signal: 'SIGKILL' });
  return 'killed';
}

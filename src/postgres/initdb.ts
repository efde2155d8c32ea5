import type { Logger } from '../log.js';
import { runProgram, type RunAs } from '../process/index.js';
import type { PgBinaries } from './binaries.js';

/** The bootstrap superuser; local connections map the manager's OS user to it. */
export const SUPERUSER = 'postgres';

export async function initdb(bin: PgBinaries, pgdata: string, runAs: RunAs, logger: Logger): Promise<void> {
  await runProgram(
    bin.path('initdb'),
    [
      '--pgdata',
      pgdata,
      '--username',
      SUPERUSER,
      '--encoding',
      'UTF8',
      // C collation: byte order, stable across glibc upgrades (no silent index corruption).
      '--locale',
      'C',
      '--data-checksums',
      '--auth-local',
      'peer',
      '--auth-host',
      'scram-sha-256',
      // PostgreSQL 14 added it; 13 prints its pg_ctl hint, which is only noise in the log.
      ...(bin.major >= 14 ? ['--no-instructions'] : []),
    ],
    { runAs, logger },
  );
}

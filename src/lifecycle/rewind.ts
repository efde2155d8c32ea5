/**
 * pg_rewind from the new primary, as streaming_replica over verified TLS: the role holds EXECUTE
 * on exactly the four functions pg_rewind calls (REWIND_FUNCTIONS, granted with the role), never superuser.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AUTO_CONF } from '../config/index.js';
import { runProgram } from '../process/index.js';
import { primaryConninfo, type CloneOptions, type PrimaryConnection } from '../replication/index.js';

export type RewindOutcome = 'rewound' | 'not-needed';

export function rewindArgs(pgdata: string, connection: PrimaryConnection): string[] {
  return ['--target-pgdata', pgdata, '--source-server', primaryConninfo(connection), '--progress'];
}

/** What pg_rewind said it did; it exits 0 both when it rewound and when there was nothing to do. */
export function rewindOutcome(lines: readonly string[]): RewindOutcome {
  return lines.some((line) => /no rewind required/.test(line)) ? 'not-needed' : 'rewound';
}

/** What a clone needs, but its retry and progress tuning. */
export type RewindOptions = Pick<CloneOptions, 'bin' | 'pgdata' | 'runAs' | 'logger' | 'connection' | 'signal'>;

/** Rejects with pg_rewind's last lines when it fails (no common history, WAL missing, ...). */
export async function rewind(options: RewindOptions): Promise<RewindOutcome> {
  const { bin, pgdata, runAs, logger, connection, signal } = options;
  const said: string[] = [];
  // pg_rewind rewrites every file the source has, and the manager keeps postgresql.auto.conf
  // read-only against ALTER SYSTEM; the next configuration write closes it again.
  try {
    fs.chmodSync(path.join(pgdata, AUTO_CONF), 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await runProgram(bin.path('pg_rewind'), rewindArgs(pgdata, connection), {
    runAs,
    logger,
    signal,
    env: { LC_ALL: 'C' },
    onStderrLine: (line) => said.push(line),
    onStdoutLine: (line) => said.push(line),
  });
  return rewindOutcome(said);
}

/**
 * Restore of an empty data directory from the repository: the pgbackrest restore arguments (pure)
 * and the run. PostgreSQL then replays the archive up to the target and promotes onto a new
 * timeline; a target the archive does not reach ends recovery with a FATAL instead of promoting
 * early (PostgreSQL 13 and later).
 */
import fs from 'node:fs';
import path from 'node:path';
import { runPgBackRest, type PgBackRestContext } from './pgbackrest.js';

export type RecoveryTarget = { kind: 'time' | 'lsn' | 'name'; value: string };

export interface RestoreRequest {
  /** The stanza the backup and the WAL are read from (another cluster's with --restore-from-cluster). */
  sourceStanza: string;
  /** A backup label; undefined: the latest. */
  set: string | undefined;
  target: RecoveryTarget | undefined;
}

/**
 * The restore_command pgBackRest writes into postgresql.auto.conf has no effect (the manager gives
 * its own on the postmaster's command line) and is removed with the other fixed settings there.
 */
export function restoreArgs(request: RestoreRequest): string[] {
  const args: string[] = [];
  if (request.set !== undefined) args.push(`--set=${request.set}`);
  if (request.target === undefined) {
    // To the end of the archive, then PostgreSQL promotes by itself.
    args.push('--type=default');
  } else {
    args.push(`--type=${request.target.kind}`, `--target=${request.target.value}`, '--target-action=promote');
  }
  return args;
}

export async function restoreFromRepository(context: PgBackRestContext, request: RestoreRequest, signal?: AbortSignal): Promise<void> {
  await runPgBackRest(context, 'restore', { stanza: request.sourceStanza, args: restoreArgs(request), signal });
}

/** recovery.signal is removed at promotion: while it is there, the restore's recovery has not ended. */
export function recoveryPending(pgdata: string): boolean {
  return fs.existsSync(path.join(pgdata, 'recovery.signal'));
}

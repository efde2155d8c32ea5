/**
 * Restore of an empty data directory from the repository: the pgbackrest restore arguments (pure)
 * and the run. PostgreSQL then replays the archive up to the target and promotes onto a new
 * timeline; a target the archive does not reach ends recovery with a FATAL instead of promoting
 * early (PostgreSQL 13 and later).
 */
import fs from 'node:fs';
import path from 'node:path';
import { AUTO_CONF, quoteValue } from '../config/index.js';
import { writeFileAtomically, type RunAs } from '../process/index.js';
import { runPgBackRest, type PgBackRestContext } from './pgbackrest.js';

export type RecoveryTarget = { kind: 'time' | 'lsn' | 'name'; value: string };

export interface RestoreRequest {
  /** The stanza the backup and the WAL are read from (another cluster's with --restore-from-cluster). */
  sourceStanza: string;
  /** A backup label; undefined: the latest. */
  set: string | undefined;
}

/**
 * `--type=preserve`: pgBackRest restores the files and leaves the recovery settings to the manager.
 * It could not write them itself: the backup's postgresql.auto.conf is read-only (the ALTER SYSTEM
 * guard), and its restore_command would be the wrong one anyway (the manager gives its own on the
 * postmaster's command line).
 */
export function restoreArgs(request: RestoreRequest): string[] {
  return ['--type=preserve', ...(request.set === undefined ? [] : [`--set=${request.set}`])];
}

const TARGET_MARK = '# recovery target of the restore, written by instance-manager and removed at promotion';
const TARGET_LINE = /^\s*recovery_target(_[a-z]+)?\s*=/;

/** postgresql.auto.conf with the recovery target appended: replay up to it, then promote. */
export function withRecoveryTarget(autoConf: string, target: RecoveryTarget): string {
  const kept = withoutRecoveryTarget(autoConf).replace(/\n*$/, '\n');
  const lines = [
    TARGET_MARK,
    `recovery_target_${target.kind} = ${quoteValue(target.value)}`,
    "recovery_target_action = 'promote'",
  ];
  return `${kept}${lines.join('\n')}\n`;
}

/** Without any recovery target: on a primary it is a trap for whoever makes it a standby later. */
export function withoutRecoveryTarget(autoConf: string): string {
  return autoConf
    .split('\n')
    .filter((line) => line !== TARGET_MARK && !TARGET_LINE.test(line))
    .join('\n');
}

export async function restoreFromRepository(
  context: PgBackRestContext,
  request: RestoreRequest,
  signal?: AbortSignal,
): Promise<void> {
  await runPgBackRest(context, 'restore', { stanza: request.sourceStanza, args: restoreArgs(request), signal });
}

/** recovery.signal, and the target when there is one: PostgreSQL replays the archive at its next start. */
export function prepareRecovery(pgdata: string, target: RecoveryTarget | undefined, runAs: RunAs): void {
  if (target !== undefined) {
    const file = path.join(pgdata, AUTO_CONF);
    writeFileAtomically(file, withRecoveryTarget(readIfThere(file), target), runAs);
  }
  writeFileAtomically(path.join(pgdata, 'recovery.signal'), '', runAs);
}

/** After promotion: the restore's target leaves postgresql.auto.conf, its mode stays. */
export function clearRecoveryTarget(pgdata: string, runAs: RunAs): void {
  const file = path.join(pgdata, AUTO_CONF);
  const text = readIfThere(file);
  const cleaned = withoutRecoveryTarget(text);
  if (cleaned !== text) writeFileAtomically(file, cleaned, runAs, fs.statSync(file).mode & 0o777);
}

function readIfThere(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** recovery.signal is removed at promotion: while it is there, the restore's recovery has not ended. */
export function recoveryPending(pgdata: string): boolean {
  return fs.existsSync(path.join(pgdata, 'recovery.signal'));
}

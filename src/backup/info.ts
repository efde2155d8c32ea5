/**
 * What pgBackRest says, read into values: `pgbackrest info --output=json` and its console lines.
 * Pure, so every shape is a table row in the tests.
 */
import type { Level } from '../log.js';

export type BackupType = 'full' | 'diff' | 'incr';
export const BACKUP_TYPES: readonly BackupType[] = ['full', 'diff', 'incr'];

/** One backup as the status API reports it (running, finished or failed). */
export interface BackupRecord {
  /**
   * Names the backup from the moment it is asked for: the time of the request for a backup this
   * manager ran, the label for one it found in the repository.
   */
  id: string;
  /** pgBackRest's label (`20261130-145000F_20261130-150000I`); null until it is known. */
  label: string | null;
  type: BackupType;
  /** RFC 3339. */
  startedAt: string;
  stoppedAt: string | null;
  /** Size of the database the backup covers (bytes); null while unknown. */
  sizeBytes: number | null;
  /** Bytes the backup added to the repository (compressed, without what it references). */
  repositorySizeBytes: number | null;
  walStart: string | null;
  walStop: string | null;
  /** Null when it succeeded (or still runs). */
  error: string | null;
}

export interface StanzaInfo {
  /** pgBackRest's status code: 0 ok, 1 missing stanza, 2 no valid backups, ... */
  statusCode: number;
  statusMessage: string;
  backups: BackupRecord[];
  /** Oldest and newest WAL segment in the archive of the current database. */
  archiveMin: string | null;
  archiveMax: string | null;
}

/** Reads the one stanza of `pgbackrest --stanza=S info --output=json`; throws on another shape. */
export function parseInfo(json: string): StanzaInfo {
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed) || parsed.length === 0) throw new Error('pgbackrest info: expected a non-empty array');
  const stanza = record(parsed[0], 'stanza');
  const status = record(stanza.status, 'status');
  const entries: unknown[] = Array.isArray(stanza.backup) ? stanza.backup : [];
  const backups = entries.map((entry) => backupRecord(record(entry, 'backup')));
  const archives = Array.isArray(stanza.archive) ? stanza.archive.map((entry) => record(entry, 'archive')) : [];
  const current = archives.at(-1);
  return {
    statusCode: Number(status.code),
    statusMessage: String(status.message ?? ''),
    backups,
    archiveMin: stringOrNull(current?.min),
    archiveMax: stringOrNull(current?.max),
  };
}

function backupRecord(entry: Record<string, unknown>): BackupRecord {
  const timestamp = record(entry.timestamp, 'timestamp');
  const info = record(entry.info ?? {}, 'info');
  const repository = record(info.repository ?? {}, 'info.repository');
  const archive = record(entry.archive ?? {}, 'archive');
  const type = String(entry.type);
  if (!isBackupType(type)) throw new Error(`pgbackrest info: unknown backup type "${type}"`);
  const label = String(entry.label);
  return {
    id: label,
    label,
    type,
    startedAt: unixToIso(timestamp.start),
    stoppedAt: timestamp.stop === undefined ? null : unixToIso(timestamp.stop),
    sizeBytes: numberOrNull(info.size),
    repositorySizeBytes: numberOrNull(repository.delta),
    walStart: stringOrNull(archive.start),
    walStop: stringOrNull(archive.stop),
    error: entry.error === true ? 'pgBackRest found checksum errors in this backup (see pgbackrest info --set)' : null,
  };
}

export function isBackupType(value: string): value is BackupType {
  return (BACKUP_TYPES as readonly string[]).includes(value);
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`pgbackrest info: "${what}" is not an object`);
  }
  return value as Record<string, unknown>;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function unixToIso(value: unknown): string {
  return new Date(Number(value) * 1000).toISOString();
}

export interface ConsoleLine {
  level: Level;
  /** The process number pgBackRest prints (`P00` is the main process). */
  process: string | undefined;
  msg: string;
}

const CONSOLE_LEVELS: Record<string, Level> = {
  ERROR: 'error',
  WARN: 'warning',
  INFO: 'info',
  DETAIL: 'info',
  DEBUG: 'debug',
  TRACE: 'debug',
};

/**
 * A console line (`P00   INFO: backup command begin 2.45: ...`, printed with log-timestamp=n).
 * A line in another shape (a continuation of a multi-line message) is an info line as it is.
 */
export function parseConsoleLine(line: string): ConsoleLine {
  return consoleLine(line) ?? { level: 'info', process: undefined, msg: line };
}

function consoleLine(line: string): ConsoleLine | undefined {
  const match = /^(P\d+)\s+(ERROR|WARN|INFO|DETAIL|DEBUG|TRACE):\s?(.*)$/.exec(line);
  return match ? { level: CONSOLE_LEVELS[match[2]!]!, process: match[1]!, msg: match[3]! } : undefined;
}

/** A line of PostgreSQL's stderr that pgBackRest printed, as the log pipe logs it. */
export interface ArchiveCommandLine {
  logger: 'pgbackrest';
  level: Level;
  msg: string;
  fields: { process?: string };
}

/**
 * Picks pgBackRest's lines out of PostgreSQL's stderr: archive-push and archive-get run as
 * archive_command and restore_command, so what they print reaches the logging collector, not the
 * manager. A console line is pgBackRest's; so is an indented line right after one (the rest of a
 * multi-line error, such as each repository's reason). Anything else is PostgreSQL's own.
 */
export function archiveCommandLines(): (line: string) => ArchiveCommandLine | undefined {
  let previous: ArchiveCommandLine | undefined;
  return (line) => {
    const parsed = consoleLine(line);
    if (parsed) {
      const fields = parsed.process === undefined ? {} : { process: parsed.process };
      previous = { logger: 'pgbackrest', level: parsed.level, msg: parsed.msg, fields };
      return previous;
    }
    if (previous && /^\s/.test(line)) return { ...previous, msg: line.trim() };
    previous = undefined;
    return undefined;
  };
}

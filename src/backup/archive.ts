/**
 * WAL archiving as PostgreSQL reports it (pg_stat_archiver), and when the manager should say it is
 * failing: once a minute while it fails, not at every attempt. Pure.
 */

export interface ArchiverStats {
  archivedCount: number;
  lastArchivedWal: string | null;
  lastArchivedAt: Date | null;
  failedCount: number;
  lastFailedWal: string | null;
  lastFailedAt: Date | null;
}

/** As /pg/status reports it (times RFC 3339). */
export interface ArchiveStatus {
  archivedCount: number;
  lastArchivedWal: string | null;
  lastArchivedAt: string | null;
  failedCount: number;
  lastFailedWal: string | null;
  lastFailedAt: string | null;
  /** The last attempt failed: the WAL waits in pg_wal until the repository takes it. */
  failing: boolean;
}

export const ARCHIVE_WARNING_INTERVAL_MS = 60_000;

/** Failing when the last failure is newer than the last success. */
export function isArchiveFailing(stats: ArchiverStats): boolean {
  if (stats.lastFailedAt === null) return false;
  return stats.lastArchivedAt === null || stats.lastFailedAt > stats.lastArchivedAt;
}

export function archiveStatus(stats: ArchiverStats): ArchiveStatus {
  return {
    archivedCount: stats.archivedCount,
    lastArchivedWal: stats.lastArchivedWal,
    lastArchivedAt: stats.lastArchivedAt?.toISOString() ?? null,
    failedCount: stats.failedCount,
    lastFailedWal: stats.lastFailedWal,
    lastFailedAt: stats.lastFailedAt?.toISOString() ?? null,
    failing: isArchiveFailing(stats),
  };
}

export type ArchiveNotice = { kind: 'failing' } | { kind: 'recovered' } | { kind: 'none' };

/**
 * What to log after a reading: a warning when archiving fails and none was given for a minute,
 * one line when it works again after a warning.
 */
export function archiveNotice(failing: boolean, lastWarningAt: number | undefined, now: number): ArchiveNotice {
  if (failing) {
    const due = lastWarningAt === undefined || now - lastWarningAt >= ARCHIVE_WARNING_INTERVAL_MS;
    return due ? { kind: 'failing' } : { kind: 'none' };
  }
  return lastWarningAt === undefined ? { kind: 'none' } : { kind: 'recovered' };
}

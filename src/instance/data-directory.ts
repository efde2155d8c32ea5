/**
 * Where a start's data directory comes from: the one already there, a clone of the primary, a
 * restore from the backup repository, or initdb. Throws UsageError on what must not be started.
 */
import type { Logger } from '../log.js';
import { clearStalePostmasterPid, initdb, type DataDirState, type PgBinaries } from '../postgres/index.js';
import type { RunAs } from '../process/index.js';
import { cloneFromPrimary, type PrimaryConnection, type Role } from '../replication/index.js';
import type { InstanceBackups } from './backups.js';

export interface DataDirectorySource {
  pgdata: string;
  state: DataDirState;
  role: Role;
  bin: PgBinaries;
  runAs: RunAs;
  logger: Logger;
  /** How a replica reaches its primary to clone it. */
  primaryConnection: () => PrimaryConnection;
  backups: InstanceBackups | undefined;
  /** Awaited before the steps that take seconds to minutes (the status API starts first). */
  beforeLongStep?: () => Promise<void>;
  /** Aborted when a stop is asked for: a clone in progress is abandoned. */
  stopping: AbortSignal;
}

/** Resolves to 'abandoned' when a stop cut a clone short, else to how the directory came to be. */
export async function provideDataDirectory(
  source: DataDirectorySource,
): Promise<'reused' | 'cloned' | 'restored' | 'initialized' | 'abandoned'> {
  const { pgdata, logger, backups, stopping } = source;
  if (source.state === 'cluster') {
    const { livePid, removedStalePid } = clearStalePostmasterPid(pgdata);
    if (livePid !== undefined)
      throw new Error(`a postmaster (pid ${livePid}) is already running on ${pgdata}; not starting a second one`);
    if (removedStalePid !== undefined)
      logger.info('removed a stale postmaster.pid left by a previous run', { stalePid: removedStalePid });
    logger.info('reusing the existing data directory', { pgdata });
    return 'reused';
  }
  await source.beforeLongStep?.();
  if (source.role === 'replica') {
    try {
      await cloneFromPrimary({ ...source, connection: source.primaryConnection(), signal: stopping });
      return 'cloned';
    } catch (error) {
      if (!stopping.aborted) throw error;
      logger.info('clone abandoned: stop requested');
      return 'abandoned';
    }
  }
  if (backups?.restoreRequested) {
    await backups.restore(stopping);
    return 'restored';
  }
  logger.info('initializing a new data directory', { pgdata });
  await initdb(source.bin, pgdata, source.runAs, logger);
  return 'initialized';
}

/**
 * Backups and WAL archiving of one instance through pgBackRest: one backup at a time, run in the
 * background and reported (running, last, failed with why), the stanza created and checked, and
 * pg_stat_archiver watched so a failing repository is reported once a minute.
 */
import { errorMessage } from '../errors.js';
import { withConnection, type SocketAddress } from '../postgres/index.js';
import { archiveNotice, archiveStatus, type ArchiverStats, type ArchiveStatus } from './archive.js';
import { parseInfo, type BackupRecord, type BackupType } from './info.js';
import { runPgBackRest, type PgBackRestContext } from './pgbackrest.js';

export interface BackupStatus {
  /** The stanza this instance archives to: the cluster name. */
  stanza: string;
  running: BackupRecord | null;
  last: BackupRecord | null;
  /** pg_stat_archiver as last read; null before PostgreSQL could be asked. */
  archive: ArchiveStatus | null;
}

export interface BackupServiceDeps extends PgBackRestContext {
  stanza: string;
  socketAddress: SocketAddress;
}

const ARCHIVE_POLL_MS = 10_000;

export class BackupService {
  private current: { record: BackupRecord; abort: AbortController; done: Promise<void> } | undefined;
  private last: BackupRecord | null = null;
  private archive: ArchiveStatus | null = null;
  private lastArchiveWarningAt: number | undefined;
  private poller: NodeJS.Timeout | undefined;
  /**
   * The stanza check and a backup run one after the other: stanza-create takes the lock a backup
   * needs, and a backup asked for while a restart's check ran failed with "unable to acquire lock".
   */
  private lane: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: BackupServiceDeps) {}

  private inLane<T>(work: () => Promise<T>): Promise<T> {
    const run = this.lane.then(work);
    this.lane = run.catch(() => undefined);
    return run;
  }

  /** How to run pgBackRest for this instance (a restore runs it before the service has work). */
  get context(): PgBackRestContext {
    const { runAs, logger, configFile } = this.deps;
    return { runAs, logger, configFile };
  }

  status(): BackupStatus {
    return { stanza: this.deps.stanza, running: this.current?.record ?? null, last: this.last, archive: this.archive };
  }

  get isRunning(): boolean {
    return this.current !== undefined;
  }

  /** Starts a backup in the background; undefined when one runs already. */
  start(type: BackupType): BackupRecord | undefined {
    if (this.current) return undefined;
    const startedAt = new Date().toISOString();
    const record: BackupRecord = {
      id: startedAt,
      label: null,
      type,
      startedAt,
      stoppedAt: null,
      sizeBytes: null,
      repositorySizeBytes: null,
      walStart: null,
      walStop: null,
      error: null,
    };
    const abort = new AbortController();
    this.deps.logger.info('backup started', { type, stanza: this.deps.stanza });
    const done = this.runBackup(record, abort.signal).finally(() => (this.current = undefined));
    this.current = { record, abort, done };
    return record;
  }

  /** Stops a running backup (SIGTERM to pgBackRest) and waits until it is reported. */
  async interrupt(reason: string): Promise<void> {
    const current = this.current;
    if (!current) return;
    this.deps.logger.warning('interrupting the running backup', { reason });
    current.abort.abort(new Error(reason));
    await current.done;
  }

  private async runBackup(record: BackupRecord, signal: AbortSignal): Promise<void> {
    const { logger, stanza } = this.deps;
    let label: string | undefined;
    try {
      await this.inLane(() =>
        runPgBackRest(this.deps, 'backup', {
          stanza,
          args: [`--type=${record.type}`],
          signal,
          onLine: (msg) => (label = /^new backup label = (\S+)/.exec(msg)?.[1] ?? label),
        }),
      );
      const finished = (await this.readInfo()).backups.find((backup) => backup.label === label);
      // pgBackRest's own times and sizes, under the id the request was answered with.
      this.last = finished
        ? { ...finished, id: record.id }
        : { ...record, label: label ?? null, stoppedAt: new Date().toISOString() };
      logger.info('backup finished', { label: this.last.label, type: this.last.type, sizeBytes: this.last.sizeBytes });
    } catch (error) {
      const why = signal.aborted ? `interrupted: ${errorMessage(signal.reason)}` : errorMessage(error);
      this.last = { ...record, label: label ?? null, stoppedAt: new Date().toISOString(), error: why };
      logger.error('backup failed', { type: record.type, err: why });
    }
  }

  /** The newest backup in the repository becomes `last` when none ran here yet (a restarted pod). */
  async refreshLast(): Promise<void> {
    try {
      const newest = (await this.readInfo()).backups.at(-1);
      if (newest && (this.last === null || newest.startedAt > this.last.startedAt)) this.last = newest;
    } catch (error) {
      this.deps.logger.warning('could not read the backups in the repository', { err: errorMessage(error) });
    }
  }

  private async readInfo() {
    const { stanza } = this.deps;
    const json = await runPgBackRest(this.deps, 'info', { stanza, args: ['--output=json'], data: true });
    return parseInfo(json);
  }

  /**
   * On a primary at every start: creates the stanza (nothing to do when it exists and matches this
   * database), then checks that a WAL segment reaches the repository. Failures are named, not fatal:
   * PostgreSQL keeps its WAL until archiving works.
   */
  async ensureStanza(): Promise<boolean> {
    const { logger, stanza } = this.deps;
    try {
      await this.inLane(async () => {
        await runPgBackRest(this.deps, 'stanza-create', { stanza });
        await runPgBackRest(this.deps, 'check', { stanza });
      });
      logger.info('backup repository checked: the stanza exists and WAL reaches it', { stanza });
      await this.refreshLast();
      return true;
    } catch (error) {
      const err = errorMessage(error);
      logger.error('backup repository check failed: WAL is kept in pg_wal until archiving works', { stanza, err });
      return false;
    }
  }

  /** Reads pg_stat_archiver every few seconds while PostgreSQL runs. */
  watchArchiving(): void {
    if (this.poller) return;
    this.poller = setInterval(() => void this.readArchiver(), ARCHIVE_POLL_MS);
    this.poller.unref();
    void this.readArchiver();
  }

  stopWatching(): void {
    clearInterval(this.poller);
    this.poller = undefined;
  }

  private async readArchiver(): Promise<void> {
    let stats: ArchiverStats;
    try {
      stats = await withConnection(this.deps.socketAddress, async (client) => {
        const result = await client.query<{
          archived_count: string;
          last_archived_wal: string | null;
          last_archived_time: Date | null;
          failed_count: string;
          last_failed_wal: string | null;
          last_failed_time: Date | null;
        }>(`SELECT archived_count, last_archived_wal, last_archived_time,
                   failed_count, last_failed_wal, last_failed_time
            FROM pg_stat_archiver`);
        const row = result.rows[0]!;
        return {
          archivedCount: Number(row.archived_count),
          lastArchivedWal: row.last_archived_wal,
          lastArchivedAt: row.last_archived_time,
          failedCount: Number(row.failed_count),
          lastFailedWal: row.last_failed_wal,
          lastFailedAt: row.last_failed_time,
        };
      });
    } catch {
      return; // PostgreSQL is down or restarting: the last reading stays.
    }
    this.archive = archiveStatus(stats);
    const notice = archiveNotice(this.archive.failing, this.lastArchiveWarningAt, Date.now());
    if (notice.kind === 'failing') {
      this.lastArchiveWarningAt = Date.now();
      this.deps.logger.warning('WAL archiving fails: PostgreSQL keeps the WAL in pg_wal and retries', {
        lastFailedWal: stats.lastFailedWal,
        failedCount: stats.failedCount,
        lastArchivedWal: stats.lastArchivedWal,
      });
    } else if (notice.kind === 'recovered') {
      this.lastArchiveWarningAt = undefined;
      this.deps.logger.info('WAL archiving works again', { lastArchivedWal: stats.lastArchivedWal });
    }
  }
}

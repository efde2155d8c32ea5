/**
 * Backups in the order of things: the pgBackRest config rendered into the run dir before anything
 * else, a restore in place of initdb, the archive settings PostgreSQL gets, the stanza created and
 * checked once PostgreSQL runs as a primary, and a restore that cannot reach its target named as such.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  archiveCommands,
  BackupService,
  clearRecoveryTarget,
  parseRepoOptions,
  prepareRecovery,
  recoveryPending,
  renderPgBackRestConf,
  restoreFromRepository,
} from '../backup/index.js';
import type { Parameters } from '../config/index.js';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { SUPERUSER, withConnection, type DataDirState, type SocketAddress } from '../postgres/index.js';
import { ensureOwnedDirectory, writeFileAtomically, type RunAs } from '../process/index.js';
import { readInputFile } from './configuration.js';
import type { BackupOptions } from './options.js';

export interface InstanceBackupsDeps {
  options: BackupOptions;
  runDir: string;
  pgdata: string;
  socketAddress: SocketAddress;
  runAs: RunAs;
  logger: Logger;
}

const PROMOTION_POLL_MS = 2_000;

export class InstanceBackups {
  readonly service: BackupService;
  private readonly dir: string;
  /** A restore ran in this manager's life and its instance was not seen promoted yet. */
  private restored = false;

  constructor(private readonly deps: InstanceBackupsDeps) {
    this.dir = path.join(deps.runDir, 'pgbackrest');
    const { runAs, logger, options, socketAddress } = deps;
    const stanza = options.clusterName;
    this.service = new BackupService({ runAs, logger, configFile: this.configFile, stanza, socketAddress });
  }

  get configFile(): string {
    return path.join(this.dir, 'pgbackrest.conf');
  }

  get restoreRequested(): boolean {
    return this.deps.options.restore !== undefined;
  }

  /** pgbackrest.conf from the --backup-repo file; throws UsageError naming the line and key. */
  render(): string {
    const { options, pgdata, socketAddress } = this.deps;
    const repo = parseRepoOptions(readInputFile(options.repoFile, '--backup-repo')!.text, options.repoFile);
    return renderPgBackRestConf({
      repo,
      stanza: options.clusterName,
      sourceStanza: options.restore?.sourceStanza,
      pgdata,
      socketDir: socketAddress.socketDir,
      port: socketAddress.port,
      pgUser: SUPERUSER,
      lockPath: path.join(this.dir, 'lock'),
      spoolPath: path.join(this.dir, 'spool'),
    });
  }

  /** Writes pgbackrest.conf 0600 for the PostgreSQL user, with its lock and spool directories; true when it changed. */
  writeConfig(): boolean {
    const text = this.render();
    for (const dir of [this.dir, path.join(this.dir, 'lock'), path.join(this.dir, 'spool')]) {
      ensureOwnedDirectory(dir, this.deps.runAs);
    }
    return writeFileAtomically(this.configFile, text, this.deps.runAs);
  }

  /**
   * Fixed settings: PostgreSQL archives through pgBackRest, and any instance can read the archive.
   * While a restore's recovery runs, WAL comes from the stanza the backup came from (another
   * cluster's with --restore-from-cluster); they are given at each postmaster start.
   */
  settings(): Parameters {
    const { options, pgdata } = this.deps;
    const { archiveCommand } = archiveCommands(this.configFile, options.clusterName);
    const recovering = options.restore !== undefined && recoveryPending(pgdata);
    const readFrom = recovering ? options.restore!.sourceStanza : options.clusterName;
    return new Map([
      ['archive_mode', 'on'],
      ['archive_command', archiveCommand],
      ['restore_command', archiveCommands(this.configFile, readFrom).restoreCommand],
    ]);
  }

  /** A restore goes into an empty PGDATA only: what is there might be the only copy of something. */
  refuseNonEmpty(state: DataDirState): void {
    if (this.restoreRequested && state === 'cluster') {
      const pgdata = this.deps.pgdata;
      const why = 'already holds a data directory; a restore needs an empty PGDATA';
      throw new UsageError(`--restore-from-backup: ${pgdata} ${why}`);
    }
  }

  async restore(signal: AbortSignal): Promise<void> {
    const { options, logger } = this.deps;
    const restore = options.restore!;
    logger.info('restoring the data directory from the backup repository', {
      stanza: restore.sourceStanza,
      set: restore.set ?? 'latest',
      target: restore.target ?? 'end of the archive',
    });
    const began = Date.now();
    await restoreFromRepository(this.service.context, { sourceStanza: restore.sourceStanza, set: restore.set }, signal);
    prepareRecovery(this.deps.pgdata, restore.target, this.deps.runAs);
    this.restored = true;
    logger.info('restore finished; PostgreSQL replays the archive next', { elapsedMs: Date.now() - began });
  }

  /**
   * Asked when the postmaster exited unexpectedly: after a restore, an exit while recovery.signal is
   * still there means recovery ended before its target (PostgreSQL's FATAL says which). Starting
   * again would fail the same way, and promoting early would lose what the target asked for.
   */
  reasonToGiveUp(): string | undefined {
    if (!this.restoreRequested || !recoveryPending(this.deps.pgdata)) return undefined;
    return (
      'recovery of the restored backup ended before its target was reached ' +
      "(see PostgreSQL's FATAL above); not promoting"
    );
  }

  /** The manager stops: a running backup is interrupted (reported failed), the archive watch ends. */
  stop(): void {
    this.service.stopWatching();
    void this.service.interrupt('the manager is stopping');
  }

  /** PostgreSQL was promoted (it runs as a primary): create or check the stanza, then watch archiving. */
  onPrimary(): void {
    this.service.watchArchiving();
    void this.service.ensureStanza();
  }

  /**
   * PostgreSQL accepts connections. In the primary role that may still be a restored instance
   * replaying the archive (a hot standby reports itself ready too): the stanza is created once it
   * was promoted. A replica needs nothing more.
   */
  onAcceptingConnections(isPrimaryRole: boolean, stopping: AbortSignal): void {
    if (isPrimaryRole) void this.whenPromoted(stopping);
  }

  private async whenPromoted(stopping: AbortSignal): Promise<void> {
    for (let first = true; !stopping.aborted; first = false) {
      if (!first) await sleep(PROMOTION_POLL_MS);
      try {
        const inRecovery = await withConnection(this.deps.socketAddress, async (client) => {
          return (await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r;
        });
        if (inRecovery) continue;
        if (this.restored) {
          this.restored = false;
          clearRecoveryTarget(this.deps.pgdata, this.deps.runAs);
          const stanza = this.deps.options.clusterName;
          this.deps.logger.info('the restored instance was promoted: it archives to its own stanza now', { stanza });
        }
        this.onPrimary();
        return;
      } catch {
        // Down or restarting: the supervisor reports it, and calls again once PostgreSQL is back.
        return;
      }
    }
  }
}

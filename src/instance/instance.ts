/**
 * The `run` orchestration, and the only place that knows the order of things: directories, data
 * directory, configuration, then the postmaster (supervised by Supervisor) until a stop is asked for
 * or crashes come too often. It tracks the phase and the role the status API reports.
 */
import path from 'node:path';
import { archiveCommandLines } from '../backup/index.js';
import { managedSettings, postmasterOptions, type RenderContext } from '../config/index.js';
import { errorMessage, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { LogPipe, type LogPipeStatus, type PipeSink } from '../logpipe/index.js';
import {
  ensureWritableDataDir,
  inspectDataDir,
  SUPERUSER,
  type PgBinaries,
  type Postmaster,
  type SocketAddress,
} from '../postgres/index.js';
import { chownTreeToRunAs, ensureOwnedDirectory, type RunAs } from '../process/index.js';
import {
  ensureSlotOnPrimary,
  hasStandbySignal,
  standbySettings,
  writeStandbySignal,
  type PrimaryAddress,
  type PrimaryConnection,
  type Role,
} from '../replication/index.js';
import { CERTIFICATE_FILES, CertificateStore, RENEWAL_CHECK_INTERVAL_MS } from '../secrets/index.js';
import { watchInputs } from '../watch/index.js';
import { Access } from './access.js';
import { InstanceBackups } from './backups.js';
import { ConfigurationWriter } from './config-writer.js';
import { provideDataDirectory } from './data-directory.js';
import { reportConfiguration } from './configuration.js';
import { renderContext } from './render-context.js';
import { Lifecycle } from './lifecycle.js';
import { Backoff } from './retry.js';
import { connectionTo, setUpRole } from './role-setup.js';
import type { RunOptions } from './options.js';
import { Supervisor, type Phase } from './supervisor.js';

export type { Phase } from './supervisor.js';

export interface InstanceDeps {
  options: RunOptions;
  logger: Logger;
  bin: PgBinaries;
  runAs: RunAs;
  /** stdout, shared with the logger: PostgreSQL's records go there too. */
  sink: PipeSink;
  /** Told when the certificates under run-dir/certificates/ were (re)written: the status API serves them too. */
  onCertificatesChanged?: () => void;
}

export class Instance {
  phase: Phase = 'initializing';
  /** A replica until promoted; set by --replica-of, or by the state file (see Lifecycle). */
  role: Role;
  /** The primary a replica follows. */
  primary: PrimaryAddress | undefined;
  /** Demotion, fencing and the state file. */
  readonly lifecycle: Lifecycle;
  private everAcceptedConnections = false;
  private logPipe: LogPipe | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private readonly supervisor: Supervisor;
  /** The certificates PostgreSQL serves; the status API reads `certificates.status()`. */
  readonly certificates: CertificateStore;
  /** The application database, roles and passwords, and the extensions settings switch on. */
  readonly access: Access;
  /** Backups and WAL archiving; undefined without --backup-repo. */
  readonly backups: InstanceBackups | undefined;
  /** Aborted when a stop is asked for: a clone in progress is abandoned. */
  private readonly stopping = new AbortController();
  /** Aborted at a stop or a promotion: work that follows the primary (the slot check) ends. */
  private readonly following = new AbortController();
  /** PostgreSQL's files, rendered, checked and written. */
  private readonly configuration: ConfigurationWriter;
  private readonly certificateRetry = new Backoff(() => void this.reload('retry of a failed certificate refresh'));

  constructor(private readonly deps: InstanceDeps) {
    const { options, runAs, logger, bin } = deps;
    this.certificates = new CertificateStore({
      secretsDir: options.secretsDir,
      runDir: options.runDir,
      runAs,
      serverNames: options.serverNames,
      operatorName: options.operatorNames[0],
      logger,
    });
    this.role = options.replicaOf ? 'replica' : 'primary';
    this.primary = options.replicaOf;
    const serverCaFile = this.certificates.path(CERTIFICATE_FILES.serverCa);
    this.access = new Access({ options, logger, socketAddress: this.socketAddress, serverCaFile });
    const { backup } = options;
    const socketAddress = this.socketAddress;
    this.backups = backup && new InstanceBackups({ ...options, options: backup, socketAddress, runAs, logger });
    this.configuration = new ConfigurationWriter({
      ...deps,
      scratchDir: this.runDirs.socket,
      settings: () => this.settingsContext(),
      superuserOverTcp: () => this.access.superuserOverTcp,
      backups: this.backups,
    });
    this.supervisor = new Supervisor({
      bin,
      pgdata: options.pgdata,
      runAs,
      logger,
      socketAddress: this.socketAddress,
      smartShutdownTimeoutSeconds: options.smartShutdownTimeoutSeconds,
      stopTimeoutSeconds: options.stopTimeoutSeconds,
      logPipe: () => this.logPipe,
      postmasterOptions: () => postmasterOptions(managedSettings(this.settingsContext())),
      onPhase: (phase) => (this.phase = phase),
      onAcceptingConnections: (status) => this.onAcceptingConnections(status),
      reasonToGiveUp: () => this.backups?.reasonToGiveUp(),
    });
    this.lifecycle = new Lifecycle(deps, this, this.supervisor, this.stopping.signal);
  }

  get runDirs() {
    const { runDir } = this.deps.options;
    return {
      log: path.join(runDir, 'log'),
      socket: path.join(runDir, 'run'),
      certificates: this.certificates.certificatesDir,
    };
  }

  get socketAddress(): SocketAddress {
    return { socketDir: this.runDirs.socket, port: this.deps.options.port };
  }

  get currentPostmaster(): Postmaster | undefined {
    return this.supervisor.current;
  }

  /** Since when PostgreSQL has accepted connections; undefined while it does not. */
  get acceptingConnectionsSince(): Date | undefined {
    return this.supervisor.acceptingConnectionsSince;
  }

  /** PostgreSQL accepted connections at least once since the manager started. */
  get hasStarted(): boolean {
    return this.everAcceptedConnections;
  }

  /** Why supervision ended with exit code 1, for the one line on stderr. */
  get failure(): string | undefined {
    return this.supervisor.failure;
  }

  /** Postmaster starts after the first, whether after a crash or asked for. */
  get restarts(): number {
    return this.supervisor.restarts;
  }

  /** Resolves when the first postmaster is spawned (never, when none is). */
  get firstSpawn(): Promise<void> {
    return this.supervisor.firstSpawn;
  }

  /** Counters and buffer level of the log pipe; undefined before it started. */
  get logs(): LogPipeStatus | undefined {
    return this.logPipe?.status;
  }

  /**
   * Everything before the first postmaster start; throws UsageError on bad input. `beforeLongStep`
   * is awaited before initdb or a clone, the steps that take seconds to minutes.
   */
  async prepare(beforeLongStep?: () => Promise<void>): Promise<void> {
    const { options, runAs, logger } = this.deps;
    // Read and render once before touching anything, so bad input is refused before initdb runs.
    await this.access.prepare();
    this.configuration.render();
    this.backups?.render();
    try {
      for (const dir of [options.runDir, this.runDirs.socket, this.runDirs.log]) ensureOwnedDirectory(dir, runAs);
    } catch (error) {
      throw new UsageError(`--run-dir ${options.runDir}: not writable (${(error as NodeJS.ErrnoException).code})`);
    }
    await this.configuration.checked();
    if (this.role === 'primary') this.access.generateAppPasswordIfMissing();
    this.logPipe = new LogPipe({
      dir: this.runDirs.log,
      runAs,
      sink: this.deps.sink,
      pod: options.podName,
      // With a repository, PostgreSQL runs pgBackRest as its archive and restore command.
      programLine: this.backups ? archiveCommandLines() : undefined,
    });
    this.backups?.writeConfig();
    await this.certificates.prepare();
    this.deps.onCertificatesChanged?.();
    ensureWritableDataDir(options.pgdata);
    const state = inspectDataDir(options.pgdata);
    this.backups?.refuseNonEmpty(state);
    chownTreeToRunAs(options.pgdata, runAs);
    const decision = this.lifecycle.decideStart(state === 'cluster');
    this.role = decision.role;
    this.primary = decision.primary;
    const provided = await provideDataDirectory({
      ...this.deps,
      pgdata: options.pgdata,
      state,
      role: this.role,
      primaryConnection: () => this.primaryConnection()!,
      backups: this.backups,
      beforeLongStep,
      stopping: this.stopping.signal,
    });
    if (provided === 'abandoned') return;
    if (provided === 'cloned') this.lifecycle.cloned();
    if (this.role === 'replica') {
      if (state === 'cluster' && !hasStandbySignal(options.pgdata))
        logger.warning('this data directory was a primary; --replica-of makes it a standby again', {
          pgdata: options.pgdata,
        });
      writeStandbySignal(options.pgdata, runAs);
      // In the background: a replica serves reads while its primary is away.
      if (!decision.rejoin)
        void ensureSlotOnPrimary({
          ...this.deps,
          connection: this.primaryConnection()!,
          signal: this.following.signal,
        });
    }
    await this.configuration.write();
    if (decision.fenced || (decision.rejoin && state === 'cluster')) {
      await this.supervisor.holdStopped(decision.fenced ? 'fenced' : 'a demotion to finish');
      this.lifecycle.resume();
    }
  }

  /** From the next start on, a replica of `primary`: standby.signal and the standby settings. */
  async follow(primary: PrimaryAddress): Promise<void> {
    this.role = 'replica';
    this.primary = primary;
    writeStandbySignal(this.deps.options.pgdata, this.deps.runAs);
    await this.configuration.write();
  }

  /**
   * Supervises the postmaster until a stop is asked for (resolves 0 when PostgreSQL stopped
   * cleanly) or it crashed too often (resolves 1).
   */
  async supervise(): Promise<number> {
    try {
      return await this.supervisor.run();
    } finally {
      this.logPipe?.close();
    }
  }

  requestStop(signal: string): void {
    if (!this.supervisor.requestStop()) {
      this.deps.logger.info('stop already in progress', { signal });
      return;
    }
    this.deps.logger.info('stop requested', { signal });
    this.stopping.abort();
    this.following.abort();
    this.certificateRetry.cancel();
    this.backups?.stop();
  }

  /**
   * Re-reads secrets, configuration and hba rules and reloads PostgreSQL when a file changed (or
   * always, when asked by SIGHUP or the operator). Bad configuration keeps the old files in force;
   * bad certificates keep the old ones serving; each side applies on its own. Resolves false when
   * something was refused.
   */
  reload(reason: string, always = false): Promise<boolean> {
    // One at a time: a Secret change and the renewal tick must not issue the same leaf twice.
    const next = this.reloading
      .then(() => this.reloadNow(reason, always))
      .catch((error: unknown) => {
        this.deps.logger.error('reload failed', { reason, err: errorMessage(error) });
        return false;
      });
    this.reloading = next.then(() => undefined);
    return next;
  }

  private async reloadNow(reason: string, always: boolean): Promise<boolean> {
    const { logger } = this.deps;
    let accepted = true;
    const changed: string[] = [];
    this.access.refresh();
    try {
      changed.push(...(await this.certificates.refresh()));
      if (changed.length > 0) this.deps.onCertificatesChanged?.();
      this.certificateRetry.succeeded();
    } catch (error) {
      accepted = false;
      const retryInMs = this.certificateRetry.failed();
      logger.error('certificate refresh failed; the previous certificates keep serving', {
        reason,
        err: errorMessage(error),
        retryInMs,
      });
    }
    try {
      changed.push(...(await this.configuration.write()));
    } catch (error) {
      accepted = false;
      logger.error('reload refused; the previous configuration stays in force', { reason, err: errorMessage(error) });
    }
    const postmaster = this.currentPostmaster;
    // A refused configuration with no new certificate leaves PostgreSQL nothing new to read.
    if (postmaster && (changed.length > 0 || (always && accepted))) {
      postmaster.signal('SIGHUP');
      logger.info('configuration reloaded', { reason, changedFiles: changed });
      await reportConfiguration(this.socketAddress, logger);
    }
    // Passwords and roles apply without a restart, whether or not a file changed.
    if (this.role === 'primary' && this.acceptingConnectionsSince !== undefined) await this.access.apply(reason);
    return accepted;
  }

  /**
   * Watches the mounted Secrets and the --config and --hba files, and checks renewals every hour;
   * each change is applied by a reload. Returns what stops it.
   */
  watchInputs(): () => Promise<void> {
    const { options, logger } = this.deps;
    const files = [options.configFile, options.hbaFile, options.rolesFile, options.backup?.repoFile].filter(
      (file) => file !== undefined,
    );
    const watcher = watchInputs(
      { trees: [options.secretsDir], files },
      () => void this.reload('an input changed'),
      logger,
    );
    const renewal = setInterval(() => void this.reload('certificate renewal check'), RENEWAL_CHECK_INTERVAL_MS);
    renewal.unref();
    return async () => {
      clearInterval(renewal);
      await watcher.close();
    };
  }

  /** Restarts PostgreSQL (smart, then fast); resolves once the next postmaster is spawned. */
  restart(reason: string): Promise<void> {
    return this.supervisor.restart(reason);
  }

  /** Before pg_promote: the state file says primary, so no restart with --replica-of goes back to standby. */
  recordPromotion(): void {
    this.lifecycle.recordPromotion();
  }

  /** After promotion: the standby settings leave the configuration, so no restart goes back to standby. */
  async becomePrimary(): Promise<void> {
    this.role = 'primary';
    this.primary = undefined;
    this.following.abort();
    this.lifecycle.checkpointAfterPromotion();
    await this.reload('promoted');
    this.backups?.onPrimary();
  }

  /** How this replica reaches its primary. */
  private primaryConnection(): PrimaryConnection | undefined {
    return this.primary === undefined ? undefined : this.connectionTo(this.primary);
  }

  /** How this instance reaches another of the cluster. */
  connectionTo(primary: PrimaryAddress): PrimaryConnection {
    return connectionTo(primary, this.certificates, this.deps.options.podName);
  }

  private onAcceptingConnections(status: 'ready' | 'standby'): void {
    const { logger } = this.deps;
    if (!this.everAcceptedConnections) logger.info('connect locally with psql', { command: this.localPsqlCommand() });
    this.everAcceptedConnections = true;
    this.backups?.onAcceptingConnections(this.role === 'primary', this.stopping.signal);
    setUpRole(status, this.socketAddress, logger);
    if (status === 'ready') void this.access.apply('PostgreSQL accepts connections');
  }

  /** The manager's own OS user is mapped to the superuser (pg_ident.conf), so this works as is. */
  private localPsqlCommand(): string {
    return `psql -h ${this.runDirs.socket} -p ${this.deps.options.port} -U ${SUPERUSER} postgres`;
  }

  /** What the settings table's values come from now: a promotion takes the standby settings out. */
  private settingsContext(): RenderContext {
    const standby = this.role === 'replica' ? standbySettings(this.primaryConnection()!) : [];
    const supplied = new Map([...standby, ...(this.backups?.settings() ?? [])]);
    return renderContext({ ...this.deps, runDirs: this.runDirs, certificates: this.certificates, supplied });
  }
}

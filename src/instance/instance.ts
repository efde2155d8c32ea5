/**
 * The `run` orchestration, and the only place that knows the order of things: directories, data
 * directory, configuration, then the postmaster; supervision until a stop is asked for or crashes
 * come too often.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseHbaRules, parseUserParameters, renderCustomConf, renderHba, renderIdent, withCustomConfInclude, CUSTOM_CONF, type TlsFiles } from '../config/index.js';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { LogPipe, type LogPipeStatus, type PipeSink } from '../logpipe/index.js';
import {
  clearStalePostmasterPid,
  configurationErrors,
  describeExit,
  ensureWritableDataDir,
  initdb,
  inspectDataDir,
  Postmaster,
  stopPostmaster,
  SUPERUSER,
  withConnection,
  type PgBinaries,
  type ShutdownMode,
  type ShutdownOptions,
  type SocketAddress,
} from '../postgres/index.js';
import { chownTreeToRunAs, ensureOwnedDirectory, liveProcessesWorkingIn, readRegularFile, UnreadableFile, writeFileAtomically, type Exit, type RunAs } from '../process/index.js';
import {
  cloneFromPrimary,
  ensureReplicationRole,
  ensureSlotOnPrimary,
  hasStandbySignal,
  standbySettings,
  writeStandbySignal,
  type PrimaryConnection,
  type Role,
} from '../replication/index.js';
import { CERTIFICATE_FILES, CertificateStore, RENEWAL_CHECK_INTERVAL_MS } from '../secrets/index.js';
import { watchInputs } from '../watch/index.js';
import { CrashPolicy, DEFAULT_CRASH_LIMITS } from './crash-policy.js';
import { SettingsGate, type UserSettings } from './settings-gate.js';
import type { RunOptions } from './options.js';

/** How long the backends of a dead postmaster get to notice and exit before they are killed. */
const ORPHAN_GRACE_MS = 5_000;
/** How long the manager waits, on its way out, for stdout to take PostgreSQL's last records. */
const LOG_DRAIN_MS = 10_000;

export type Phase = 'initializing' | 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped';

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
  /** A replica until promoted; set by --replica-of. */
  role: Role;
  /** Postmaster starts after the first, whether after a crash or asked for. */
  restarts = 0;
  private postmaster: Postmaster | undefined;
  private readyAt: Date | undefined;
  private everAcceptedConnections = false;
  private readonly crashPolicy = new CrashPolicy();
  private readonly stopRequested: Promise<void>;
  private requestStopNow!: () => void;
  /** Resolves when the first postmaster is spawned (never, when none is). */
  readonly firstSpawn: Promise<void>;
  private announceFirstSpawn!: () => void;
  private stopAsked = false;
  /** Why supervision ended with exit code 1, for the one line on stderr. */
  failure: string | undefined;
  private plannedRestart: Promise<void> | undefined;
  private logPipe: LogPipe | undefined;
  private reloading: Promise<void> = Promise.resolve();
  /** The certificates PostgreSQL serves; the status API reads `certificates.status()`. */
  readonly certificates: CertificateStore;
  /** Aborted when a stop is asked for: a clone in progress is abandoned. */
  private readonly stopping = new AbortController();
  /** Aborted at a stop or a promotion: work that follows the primary (the slot check) ends. */
  private readonly following = new AbortController();
  private readonly settingsGate: SettingsGate;

  constructor(private readonly deps: InstanceDeps) {
    this.stopRequested = new Promise((resolve) => (this.requestStopNow = resolve));
    this.firstSpawn = new Promise((resolve) => (this.announceFirstSpawn = resolve));
    const { options, runAs, logger } = deps;
    this.certificates = new CertificateStore({ secretsDir: options.secretsDir, runDir: options.runDir, runAs, serverNames: options.serverNames, logger });
    this.role = options.replicaOf ? 'replica' : 'primary';
    this.settingsGate = new SettingsGate({ ...deps, runDir: options.runDir, scratchDir: this.runDirs.socket });
  }

  get runDirs() {
    const { runDir } = this.deps.options;
    return { log: path.join(runDir, 'log'), socket: path.join(runDir, 'run'), certificates: this.certificates.certificatesDir };
  }

  get socketAddress(): SocketAddress {
    return { socketDir: this.runDirs.socket, port: this.deps.options.port };
  }

  get currentPostmaster(): Postmaster | undefined {
    return this.postmaster?.isRunning ? this.postmaster : undefined;
  }

  /** Since when PostgreSQL has accepted connections; undefined while it does not. */
  get acceptingConnectionsSince(): Date | undefined {
    return this.currentPostmaster ? this.readyAt : undefined;
  }

  /** PostgreSQL accepted connections at least once since the manager started. */
  get hasStarted(): boolean {
    return this.everAcceptedConnections;
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
    // Render once before touching anything, so bad input is refused before initdb runs.
    this.renderConfiguration();
    try {
      for (const dir of [options.runDir, this.runDirs.socket, this.runDirs.log]) ensureOwnedDirectory(dir, runAs);
    } catch (error) {
      throw new UsageError(`--run-dir ${options.runDir}: not writable (${(error as NodeJS.ErrnoException).code})`);
    }
    await this.checkedConfiguration();
    this.logPipe = new LogPipe({ dir: this.runDirs.log, runAs, sink: this.deps.sink, pod: options.podName });
    await this.certificates.prepare();
    this.deps.onCertificatesChanged?.();
    ensureWritableDataDir(options.pgdata);
    const state = inspectDataDir(options.pgdata);
    chownTreeToRunAs(options.pgdata, runAs);
    if (state === 'cluster') {
      const { livePid, removedStalePid } = clearStalePostmasterPid(options.pgdata);
      if (livePid !== undefined) throw new Error(`a postmaster (pid ${livePid}) is already running on ${options.pgdata}; not starting a second one`);
      if (removedStalePid !== undefined) logger.info('removed a stale postmaster.pid left by a previous run', { stalePid: removedStalePid });
      logger.info('reusing the existing data directory', { pgdata: options.pgdata });
    } else if (this.role === 'replica') {
      await beforeLongStep?.();
      try {
        await cloneFromPrimary({ ...this.deps, pgdata: options.pgdata, connection: this.primaryConnection()!, signal: this.stopping.signal });
      } catch (error) {
        if (!this.stopAsked) throw error;
        logger.info('clone abandoned: stop requested');
        return;
      }
    } else {
      await beforeLongStep?.();
      logger.info('initializing a new data directory', { pgdata: options.pgdata });
      await initdb(this.deps.bin, options.pgdata, runAs, logger);
    }
    if (this.role === 'replica') {
      if (state === 'cluster' && !hasStandbySignal(options.pgdata)) logger.warning('this data directory was a primary; --replica-of makes it a standby again', { pgdata: options.pgdata });
      writeStandbySignal(options.pgdata, runAs);
      // In the background: a replica serves reads while its primary is away.
      void ensureSlotOnPrimary({ ...this.deps, connection: this.primaryConnection()!, signal: this.following.signal });
    }
    await this.writeConfiguration();
  }

  /**
   * Supervises the postmaster until a stop is asked for (resolves 0 when PostgreSQL stopped
   * cleanly) or it crashed too often (resolves 1).
   */
  async supervise(): Promise<number> {
    try {
      return await this.superviseLoop();
    } finally {
      await this.settleLogWriters(LOG_DRAIN_MS);
      this.logPipe?.close();
    }
  }

  private async superviseLoop(): Promise<number> {
    const { logger } = this.deps;
    for (let first = true; ; first = false) {
      if (this.stopAsked) return this.finishStopped('smart');
      // Counted here, not after the backoff: a stop during the backoff starts nothing.
      if (!first) this.restarts++;
      // Only a PostgreSQL this manager started can have written into the FIFOs it opened.
      if (!first) await this.settleLogWriters(0);
      const postmaster = this.startPostmaster();
      const outcome = await Promise.race([
        postmaster.exited.then((exit) => ({ kind: 'exited' as const, exit })),
        this.stopRequested.then(() => ({ kind: 'stop' as const })),
      ]);
      if (outcome.kind === 'stop') return this.shutdown(postmaster);
      if (this.plannedRestart) {
        await this.plannedRestart;
        continue;
      }
      if (this.stopAsked) return this.shutdown(postmaster);
      if (first && !this.everAcceptedConnections) return this.refusedToStart(postmaster, outcome.exit);
      const delayMs = await this.recoverFromCrash(postmaster, outcome.exit);
      if (delayMs === undefined) {
        this.failure = `PostgreSQL crashed ${DEFAULT_CRASH_LIMITS.maxCrashes} times within ${DEFAULT_CRASH_LIMITS.windowMs / 60_000} minutes; exiting so the container is restarted`;
        return 1;
      }
      logger.info('restarting PostgreSQL after a crash', { delayMs });
      await Promise.race([sleep(delayMs), this.stopRequested]);
    }
  }

  /**
   * A first start that fails is the input's fault (settings, libraries, certificates PostgreSQL
   * cannot use): restarting would fail the same way, so it is reported in PostgreSQL's own words.
   */
  private async refusedToStart(postmaster: Postmaster, exit: Exit): Promise<never> {
    this.phase = 'stopped';
    await this.clearOrphans();
    const why = postmaster.refusal ?? `it exited (${describeExit(exit)}) before accepting connections; its log above says why`;
    throw new UsageError(`PostgreSQL refused to start: ${why}`);
  }

  requestStop(signal: string): void {
    if (this.stopAsked) {
      this.deps.logger.info('stop already in progress', { signal });
      return;
    }
    this.deps.logger.info('stop requested', { signal });
    this.stopAsked = true;
    this.stopping.abort();
    this.following.abort();
    this.requestStopNow();
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
        this.deps.logger.error('reload failed', { reason, err: (error as Error).message });
        return false;
      });
    this.reloading = next.then(() => undefined);
    return next;
  }

  private async reloadNow(reason: string, always: boolean): Promise<boolean> {
    const { logger } = this.deps;
    let accepted = true;
    const changed: string[] = [];
    try {
      changed.push(...(await this.certificates.refresh()));
      if (changed.length > 0) this.deps.onCertificatesChanged?.();
    } catch (error) {
      accepted = false;
      logger.error('certificate refresh failed; the previous certificates keep serving', { reason, err: (error as Error).message });
    }
    try {
      changed.push(...(await this.writeConfiguration()));
    } catch (error) {
      accepted = false;
      logger.error('reload refused; the previous configuration stays in force', { reason, err: (error as Error).message });
    }
    const postmaster = this.currentPostmaster;
    // A refused configuration with no new certificate leaves PostgreSQL nothing new to read.
    if (!postmaster || (changed.length === 0 && !(always && accepted))) return accepted;
    postmaster.signal('SIGHUP');
    logger.info('configuration reloaded', { reason, changedFiles: changed });
    await this.reportConfigurationErrors();
    return accepted;
  }

  /**
   * Watches the mounted Secrets and the --config and --hba files, and checks renewals every hour;
   * each change is applied by a reload. Returns what stops it.
   */
  watchInputs(): () => Promise<void> {
    const { options, logger } = this.deps;
    const files = [options.configFile, options.hbaFile].filter((file) => file !== undefined);
    const watcher = watchInputs({ trees: [options.secretsDir], files }, () => void this.reload('an input changed'), logger);
    const renewal = setInterval(() => void this.reload('certificate renewal check'), RENEWAL_CHECK_INTERVAL_MS);
    renewal.unref();
    return async () => {
      clearInterval(renewal);
      await watcher.close();
    };
  }

  /** PostgreSQL skips the lines it cannot use on a reload and only says so in its own log. */
  private async reportConfigurationErrors(): Promise<void> {
    const { logger } = this.deps;
    try {
      const errors = await configurationErrors(this.socketAddress);
      for (const error of errors) logger.error('PostgreSQL found an error in its configuration', { error });
    } catch (error) {
      logger.warning('could not check the configuration after the reload', { err: (error as Error).message });
    }
  }

  /** Restarts PostgreSQL (smart, then fast); the supervision loop starts it again. */
  async restart(reason: string): Promise<void> {
    const postmaster = this.currentPostmaster;
    if (!postmaster || this.plannedRestart) return;
    this.deps.logger.info('restarting PostgreSQL', { reason });
    this.phase = 'restarting';
    this.plannedRestart = stopPostmaster(postmaster, this.shutdownOptions()).then(() => undefined);
    try {
      await this.plannedRestart;
      while (this.phase === 'restarting') await sleep(20);
    } finally {
      this.plannedRestart = undefined;
    }
  }

  /** After promotion: the standby settings leave the configuration, so no restart goes back to standby. */
  async becomePrimary(): Promise<void> {
    this.role = 'primary';
    this.following.abort();
    await this.reload('promoted');
  }

  /** How this replica reaches its primary, with the certificates under run-dir/certificates/. */
  private primaryConnection(): PrimaryConnection | undefined {
    const { options } = this.deps;
    if (options.replicaOf === undefined) return undefined;
    const store = this.certificates;
    return {
      primary: options.replicaOf,
      applicationName: options.podName,
      tls: {
        serverCaFile: store.path(CERTIFICATE_FILES.serverCa),
        certFile: store.path(CERTIFICATE_FILES.replicationCert),
        keyFile: store.path(CERTIFICATE_FILES.replicationKey),
      },
    };
  }

  private startPostmaster(): Postmaster {
    const { bin, options, runAs, logger } = this.deps;
    this.phase = 'starting';
    this.readyAt = undefined;
    const postmaster = Postmaster.start({ bin, pgdata: options.pgdata, runAs, logger });
    this.postmaster = postmaster;
    logger.info('PostgreSQL started', { postmasterPid: postmaster.pid, restarts: this.restarts });
    this.announceFirstSpawn();
    postmaster.waitUntilAcceptingConnections().then(
      (status) => {
        if (this.postmaster !== postmaster) return;
        this.readyAt = new Date();
        this.everAcceptedConnections = true;
        this.phase = 'running';
        logger.info('PostgreSQL accepts connections', { status, startupMs: this.readyAt.getTime() - postmaster.startedAt.getTime() });
        if (this.restarts === 0) logger.info('connect locally with psql', { command: this.localPsqlCommand() });
        if (status === 'ready') {
          ensureReplicationRole(this.socketAddress, logger).catch((error: Error) => logger.error('could not create the replication role', { err: error.message }));
        }
      },
      () => undefined, // an exit during start-up is handled as a crash by supervise()
    );
    return postmaster;
  }

  /** The manager's own OS user is mapped to the superuser (pg_ident.conf), so this works as is. */
  private localPsqlCommand(): string {
    return `psql -h ${this.runDirs.socket} -p ${this.deps.options.port} -U ${SUPERUSER} postgres`;
  }

  /** Returns how long to wait before the next start, or undefined to give up. */
  private async recoverFromCrash(postmaster: Postmaster, exit: Exit): Promise<number | undefined> {
    const { logger } = this.deps;
    this.phase = 'restarting';
    logger.error('PostgreSQL exited unexpectedly', { postmasterPid: postmaster.pid, exitCode: exit.code, signal: exit.signal, how: describeExit(exit) });
    await this.clearOrphans();
    const decision = this.crashPolicy.recordCrash(Date.now());
    if (decision.action === 'give-up') {
      logger.error('PostgreSQL crashed too often; exiting so the container is restarted', { crashesInWindow: decision.crashesInWindow });
      this.phase = 'stopped';
      return undefined;
    }
    return decision.delayMs;
  }

  /**
   * Backends outliving their postmaster keep the old shared memory attached, and PostgreSQL refuses
   * to start until it is released: wait for them to notice, then kill what is left.
   */
  private async clearOrphans(): Promise<void> {
    const { logger } = this.deps;
    const leftovers = () => this.postgresProcessesInDataDir();
    const deadline = Date.now() + ORPHAN_GRACE_MS;
    let orphans = leftovers();
    if (orphans.length === 0) return;
    logger.info('waiting for the processes of the dead postmaster to exit', { pids: orphans });
    while (orphans.length > 0 && Date.now() < deadline) {
      await sleep(100);
      orphans = leftovers();
    }
    if (orphans.length === 0) return;
    logger.warning('killing processes the dead postmaster left behind', { pids: orphans, graceMs: ORPHAN_GRACE_MS });
    for (const pid of orphans) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    while (leftovers().length > 0) await sleep(50);
  }

  /** Live PostgreSQL processes of this data directory (a DBA's shell working there is not one). */
  private postgresProcessesInDataDir(): number[] {
    return liveProcessesWorkingIn(this.deps.options.pgdata, this.deps.bin.path('postgres'));
  }

  /**
   * The logging collector outlives the postmaster by a moment to write the last records. Once no
   * PostgreSQL process is left, a boundary in the FIFOs ends whatever it was cut off in, and waiting
   * `drainMs` for the readers to reach it means those records reached stdout.
   */
  private async settleLogWriters(drainMs: number): Promise<void> {
    if (!this.logPipe) return;
    const deadline = Date.now() + ORPHAN_GRACE_MS;
    while (this.postgresProcessesInDataDir().length > 0 && Date.now() < deadline) await sleep(20);
    const drained = await this.logPipe.barrier(drainMs);
    if (!drained && drainMs > 0) this.deps.logger.warning("stdout did not take all of PostgreSQL's log before the deadline", { waitedMs: drainMs, ...this.logPipe.status });
  }

  private async shutdown(postmaster: Postmaster): Promise<number> {
    const { logger } = this.deps;
    this.phase = 'stopping';
    const began = Date.now();
    if (postmaster.isRunning && this.readyAt !== undefined) await this.checkpoint();
    const mode = postmaster.isRunning ? await stopPostmaster(postmaster, this.shutdownOptions()) : 'smart';
    logger.info('shutdown finished', { stoppedBy: mode, elapsedMs: Date.now() - began });
    return this.finishStopped(mode);
  }

  private finishStopped(mode: ShutdownMode | 'killed'): number {
    this.phase = 'stopped';
    if (mode === 'smart' || mode === 'fast') return 0;
    this.failure = `PostgreSQL did not stop cleanly (${mode === 'killed' ? 'it had to be killed' : 'immediate shutdown: crash recovery at the next start'})`;
    return 1;
  }

  /** A checkpoint before the shutdown makes the shutdown checkpoint, and so the stop, short. */
  private async checkpoint(): Promise<void> {
    const { logger, options } = this.deps;
    try {
      const inRecovery = await withConnection(
        this.socketAddress,
        async (client) => {
          const result = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
          if (!result.rows[0]!.recovery) await client.query('CHECKPOINT');
          return result.rows[0]!.recovery;
        },
        options.smartShutdownTimeoutSeconds * 1000,
      );
      if (!inRecovery) logger.info('checkpoint before shutdown done');
    } catch (error) {
      logger.warning('checkpoint before shutdown failed; stopping anyway', { err: (error as Error).message });
    }
  }

  private shutdownOptions(): ShutdownOptions {
    const { bin, options, runAs, logger } = this.deps;
    return {
      bin,
      pgdata: options.pgdata,
      runAs,
      logger,
      smartTimeoutSeconds: options.smartShutdownTimeoutSeconds,
      fastTimeoutSeconds: options.stopTimeoutSeconds,
    };
  }

  /** Every file PostgreSQL reads from the manager, rendered from the current inputs. */
  private renderConfiguration(user = this.readUserSettings().parameters): Map<string, string> {
    const { options, runAs } = this.deps;
    const hbaRules = options.hbaFile === undefined ? [] : parseHbaRules(readRequired(options.hbaFile, '--hba'), options.hbaFile);
    const custom = renderCustomConf({
      port: options.port,
      listen: options.listen,
      socketDir: this.runDirs.socket,
      logDirectory: this.runDirs.log,
      tls: this.tlsFiles(),
      extra: this.role === 'replica' ? standbySettings(this.primaryConnection()!) : new Map(),
      user,
    });
    const managerUser = process.getuid?.() === 0 ? 'root' : runAs.name;
    return new Map([
      [CUSTOM_CONF, custom],
      ['pg_hba.conf', renderHba(hbaRules)],
      ['pg_ident.conf', renderIdent([runAs.name, managerUser], SUPERUSER)],
    ]);
  }

  private tlsFiles(): TlsFiles {
    const store = this.certificates;
    return { certFile: store.path(CERTIFICATE_FILES.serverCert), keyFile: store.path(CERTIFICATE_FILES.serverKey), clientCaFile: store.path(CERTIFICATE_FILES.clientCa) };
  }

  private readUserSettings(): UserSettings {
    const { configFile } = this.deps.options;
    if (configFile === undefined) return { text: '', source: '--config', parameters: new Map() };
    const text = readRequired(configFile, '--config');
    return { text, source: configFile, parameters: parseUserParameters(text, configFile) };
  }

  /** The rendered files, once PostgreSQL's own parser accepted the user's settings in them. */
  private async checkedConfiguration(): Promise<Map<string, string>> {
    const user = this.readUserSettings();
    const files = this.renderConfiguration(user.parameters);
    await this.settingsGate.check(user, files.get(CUSTOM_CONF)!);
    return files;
  }

  /** Writes what changed; returns the names of the files that did. */
  private async writeConfiguration(): Promise<string[]> {
    const { options, runAs } = this.deps;
    const files = await this.checkedConfiguration();
    const postgresqlConf = path.join(options.pgdata, 'postgresql.conf');
    files.set('postgresql.conf', withCustomConfInclude(fs.readFileSync(postgresqlConf, 'utf8')));
    return [...files].filter(([name, content]) => writeFileAtomically(path.join(options.pgdata, name), content, runAs)).map(([name]) => name);
  }
}

function readRequired(file: string, flag: string): string {
  try {
    return readRegularFile(file).toString('utf8');
  } catch (error) {
    const why = error instanceof UnreadableFile ? error.message : `cannot be read (${(error as NodeJS.ErrnoException).code})`;
    throw new UsageError(`${flag} ${file}: ${why}`);
  }
}

/**
 * Supervision of the postmaster: start it, follow it until it exits, recover from a crash (clear
 * what the dead postmaster left, back off, start again or give up), restart it when asked and stop
 * it in order. It knows nothing of configuration or roles; the instance tells it what to run.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import type { LogPipe } from '../logpipe/index.js';
import {
  describeExit,
  Postmaster,
  stopPostmaster,
  withConnection,
  type PgBinaries,
  type ShutdownMode,
  type ShutdownOptions,
  type SocketAddress,
} from '../postgres/index.js';
import { liveProcessesWorkingIn, type Exit, type RunAs } from '../process/index.js';
import { CrashPolicy, DEFAULT_CRASH_LIMITS } from './crash-policy.js';

/** How long the backends of a dead postmaster get to notice and exit before they are killed. */
const ORPHAN_GRACE_MS = 5_000;
/** How long the manager waits, on its way out, for stdout to take PostgreSQL's last records. */
const LOG_DRAIN_MS = 10_000;

/** `held`: PostgreSQL is stopped on purpose (fenced, or demoted and not yet rejoined) and stays so. */
export type Phase = 'initializing' | 'starting' | 'running' | 'restarting' | 'stopping' | 'held' | 'stopped';

export interface SupervisorDeps {
  bin: PgBinaries;
  pgdata: string;
  runAs: RunAs;
  logger: Logger;
  socketAddress: SocketAddress;
  smartShutdownTimeoutSeconds: number;
  stopTimeoutSeconds: number;
  /** The log pipe whose FIFOs the postmaster writes into; undefined before it exists. */
  logPipe: () => LogPipe | undefined;
  /** The postmaster's options after `-D`, asked for at every start (the fixed settings, as `-c`). */
  postmasterOptions: () => string[];
  /** Told at every change of phase. */
  onPhase: (phase: Phase) => void;
  /** Told once a postmaster accepts connections (`ready` on a primary, `standby` on a replica). */
  onAcceptingConnections: (status: 'ready' | 'standby', postmaster: Postmaster) => void;
  /** Asked after an unexpected exit: a reason why starting again can only fail the same way. */
  reasonToGiveUp?: () => string | undefined;
}

export class Supervisor {
  /** Postmaster starts after the first, whether after a crash or asked for. */
  restarts = 0;
  private postmaster: Postmaster | undefined;
  private readyAt: Date | undefined;
  private readonly crashPolicy = new CrashPolicy();
  private readonly stopRequested: Promise<void>;
  private requestStopNow!: () => void;
  private stopAsked = false;
  /** Set while a restart that was asked for is under way; resolves once the next postmaster is spawned. */
  private plannedRestart: { stopped: Promise<unknown>; respawned: Promise<void>; announce: () => void } | undefined;
  /** Set while PostgreSQL is to stay stopped; release() starts it again. */
  private hold: { released: Promise<void>; release: () => void } | undefined;
  /** Resolves when the first postmaster is spawned or the supervisor first holds it stopped (never, when neither). */
  readonly firstSpawn: Promise<void>;
  private announceFirstSpawn!: () => void;
  /** Why supervision ended with exit code 1, for the one line on stderr. */
  failure: string | undefined;

  constructor(private readonly deps: SupervisorDeps) {
    this.stopRequested = new Promise((resolve) => (this.requestStopNow = resolve));
    this.firstSpawn = new Promise((resolve) => (this.announceFirstSpawn = resolve));
  }

  get current(): Postmaster | undefined {
    return this.postmaster?.isRunning ? this.postmaster : undefined;
  }

  /** Since when PostgreSQL has accepted connections; undefined while it does not. */
  get acceptingConnectionsSince(): Date | undefined {
    return this.current ? this.readyAt : undefined;
  }

  get stopping(): boolean {
    return this.stopAsked;
  }

  get held(): boolean {
    return this.hold !== undefined;
  }

  /**
   * Stops PostgreSQL (a checkpoint on a primary, then fast) and keeps it stopped, with no crash
   * restart, until release(). Resolves once no postmaster runs; the mode that stopped it, or
   * undefined when none was running.
   */
  async holdStopped(reason: string): Promise<ShutdownMode | 'killed' | undefined> {
    if (!this.hold) {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      this.hold = { released, release };
    }
    const postmaster = this.current;
    if (!postmaster) return undefined;
    this.deps.logger.info('stopping PostgreSQL and holding it stopped', { reason });
    this.setPhase('stopping');
    if (this.readyAt !== undefined) await this.checkpoint();
    const mode = await stopPostmaster(postmaster, { ...this.shutdownOptions(), from: 'fast' });
    await this.settleLogWriters(0);
    return mode;
  }

  /** Starts PostgreSQL again after holdStopped(); resolves once the next postmaster is spawned. */
  async release(): Promise<void> {
    const hold = this.hold;
    if (!hold) return;
    let announce!: () => void;
    const respawned = new Promise<void>((resolve) => (announce = resolve));
    this.plannedRestart = { stopped: Promise.resolve(), respawned, announce };
    hold.release();
    await Promise.race([respawned, this.stopRequested]);
  }

  /**
   * Supervises the postmaster until a stop is asked for (resolves 0 when PostgreSQL stopped
   * cleanly) or it crashed too often (resolves 1, `failure` says why). Throws a UsageError when the
   * first start fails before PostgreSQL accepted a connection.
   */
  async run(): Promise<number> {
    try {
      return await this.loop();
    } finally {
      await this.settleLogWriters(LOG_DRAIN_MS);
    }
  }

  /** Returns false when a stop was already under way. */
  requestStop(): boolean {
    if (this.stopAsked) return false;
    this.stopAsked = true;
    this.requestStopNow();
    return true;
  }

  /** Restarts PostgreSQL (smart, then fast); resolves once the next postmaster is spawned. */
  async restart(reason: string): Promise<void> {
    const postmaster = this.current;
    if (!postmaster || this.plannedRestart) return;
    this.deps.logger.info('restarting PostgreSQL', { reason });
    this.setPhase('restarting');
    let announce!: () => void;
    const respawned = new Promise<void>((resolve) => (announce = resolve));
    const stopped = stopPostmaster(postmaster, this.shutdownOptions());
    this.plannedRestart = { stopped, respawned, announce };
    // A stop asked for meanwhile spawns nothing: the restart is over then too.
    await Promise.race([respawned, this.stopRequested]);
  }

  private async loop(): Promise<number> {
    const { logger } = this.deps;
    for (;;) {
      if (this.stopAsked) return this.finishStopped('smart');
      if (this.hold) {
        await this.waitWhileHeld(this.hold);
        continue;
      }
      const first = this.postmaster === undefined;
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
      // holdStopped() stopped it; the top of the loop waits for release().
      if (this.hold) continue;
      if (this.plannedRestart) {
        await this.plannedRestart.stopped;
        continue;
      }
      if (this.stopAsked) return this.shutdown(postmaster);
      if (first && this.readyAt === undefined) return this.refusedToStart(postmaster, outcome.exit);
      const delayMs = await this.recoverFromCrash(postmaster, outcome.exit);
      if (delayMs === undefined) {
        const { maxCrashes, windowMs } = DEFAULT_CRASH_LIMITS;
        this.failure =
          `PostgreSQL crashed ${maxCrashes} times within ${windowMs / 60_000} minutes; ` +
          'exiting so the container is restarted';
        return 1;
      }
      logger.info('restarting PostgreSQL after a crash', { delayMs });
      await Promise.race([sleep(delayMs), this.stopRequested]);
    }
  }

  private async waitWhileHeld(hold: { released: Promise<void> }): Promise<void> {
    this.setPhase('held');
    this.announceFirstSpawn();
    await Promise.race([hold.released, this.stopRequested]);
    if (!this.stopAsked) this.hold = undefined;
  }

  private startPostmaster(): Postmaster {
    const { bin, pgdata, runAs, logger } = this.deps;
    this.setPhase('starting');
    this.readyAt = undefined;
    const postmaster = Postmaster.start({ bin, pgdata, runAs, logger, options: this.deps.postmasterOptions() });
    this.postmaster = postmaster;
    logger.info('PostgreSQL started', { postmasterPid: postmaster.pid, restarts: this.restarts });
    this.announceFirstSpawn();
    this.plannedRestart?.announce();
    this.plannedRestart = undefined;
    postmaster.waitUntilAcceptingConnections().then(
      (status) => {
        if (this.postmaster !== postmaster) return;
        this.readyAt = new Date();
        this.setPhase('running');
        logger.info('PostgreSQL accepts connections', {
          status,
          startupMs: this.readyAt.getTime() - postmaster.startedAt.getTime(),
        });
        this.deps.onAcceptingConnections(status, postmaster);
      },
      () => undefined, // an exit during start-up is handled as a crash by loop()
    );
    return postmaster;
  }

  /**
   * A first start that fails is the input's fault (settings, libraries, certificates PostgreSQL
   * cannot use): restarting would fail the same way, so it is reported in PostgreSQL's own words.
   */
  private async refusedToStart(postmaster: Postmaster, exit: Exit): Promise<never> {
    this.setPhase('stopped');
    await this.clearOrphans();
    const why =
      postmaster.refusal ?? `it exited (${describeExit(exit)}) before accepting connections; its log above says why`;
    throw new UsageError(`PostgreSQL refused to start: ${why}`);
  }

  /** Returns how long to wait before the next start, or undefined to give up. */
  private async recoverFromCrash(postmaster: Postmaster, exit: Exit): Promise<number | undefined> {
    const { logger } = this.deps;
    this.setPhase('restarting');
    logger.error('PostgreSQL exited unexpectedly', {
      postmasterPid: postmaster.pid,
      exitCode: exit.code,
      signal: exit.signal,
      how: describeExit(exit),
    });
    await this.clearOrphans();
    const hopeless = this.deps.reasonToGiveUp?.();
    if (hopeless !== undefined) {
      logger.error('PostgreSQL cannot start; exiting', { reason: hopeless });
      this.setPhase('stopped');
      return undefined;
    }
    const decision = this.crashPolicy.recordCrash(Date.now());
    if (decision.action === 'give-up') {
      logger.error('PostgreSQL crashed too often; exiting so the container is restarted', {
        crashesInWindow: decision.crashesInWindow,
      });
      this.setPhase('stopped');
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
    const deadline = Date.now() + ORPHAN_GRACE_MS;
    let orphans = this.postgresProcessesInDataDir();
    if (orphans.length === 0) return;
    logger.info('waiting for the processes of the dead postmaster to exit', { pids: orphans });
    while (orphans.length > 0 && Date.now() < deadline) {
      await sleep(100);
      orphans = this.postgresProcessesInDataDir();
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
    while (this.postgresProcessesInDataDir().length > 0) await sleep(50);
  }

  /** Live PostgreSQL processes of this data directory (a DBA's shell working there is not one). */
  private postgresProcessesInDataDir(): number[] {
    return liveProcessesWorkingIn(this.deps.pgdata, this.deps.bin.path('postgres'));
  }

  /**
   * The logging collector outlives the postmaster by a moment to write the last records. Once no
   * PostgreSQL process is left, a boundary in the FIFOs ends whatever it was cut off in, and waiting
   * `drainMs` for the readers to reach it means those records reached stdout.
   */
  private async settleLogWriters(drainMs: number): Promise<void> {
    const logPipe = this.deps.logPipe();
    if (!logPipe) return;
    const deadline = Date.now() + ORPHAN_GRACE_MS;
    while (this.postgresProcessesInDataDir().length > 0 && Date.now() < deadline) await sleep(20);
    const drained = await logPipe.barrier(drainMs);
    if (!drained && drainMs > 0) {
      this.deps.logger.warning("stdout did not take all of PostgreSQL's log before the deadline", {
        waitedMs: drainMs,
        ...logPipe.status,
      });
    }
  }

  private async shutdown(postmaster: Postmaster): Promise<number> {
    const { logger } = this.deps;
    this.setPhase('stopping');
    const began = Date.now();
    if (postmaster.isRunning && this.readyAt !== undefined) await this.checkpoint();
    const mode = postmaster.isRunning ? await stopPostmaster(postmaster, this.shutdownOptions()) : 'smart';
    logger.info('shutdown finished', { stoppedBy: mode, elapsedMs: Date.now() - began });
    return this.finishStopped(mode);
  }

  private finishStopped(mode: ShutdownMode | 'killed'): number {
    this.setPhase('stopped');
    if (mode === 'smart' || mode === 'fast') return 0;
    const how = mode === 'killed' ? 'it had to be killed' : 'immediate shutdown: crash recovery at the next start';
    this.failure = `PostgreSQL did not stop cleanly (${how})`;
    return 1;
  }

  /** A checkpoint before the shutdown makes the shutdown checkpoint, and so the stop, short. */
  private async checkpoint(): Promise<void> {
    const { logger, socketAddress, smartShutdownTimeoutSeconds } = this.deps;
    try {
      const inRecovery = await withConnection(
        socketAddress,
        async (client) => {
          const result = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
          if (!result.rows[0]!.recovery) await client.query('CHECKPOINT');
          return result.rows[0]!.recovery;
        },
        smartShutdownTimeoutSeconds * 1000,
      );
      if (!inRecovery) logger.info('checkpoint before shutdown done');
    } catch (error) {
      logger.warning('checkpoint before shutdown failed; stopping anyway', { err: errorMessage(error) });
    }
  }

  private shutdownOptions(): ShutdownOptions {
    const { bin, pgdata, runAs, logger, smartShutdownTimeoutSeconds, stopTimeoutSeconds } = this.deps;
    return {
      bin,
      pgdata,
      runAs,
      logger,
      smartTimeoutSeconds: smartShutdownTimeoutSeconds,
      fastTimeoutSeconds: stopTimeoutSeconds,
    };
  }

  private setPhase(phase: Phase): void {
    this.deps.onPhase(phase);
  }
}

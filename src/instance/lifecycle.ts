/**
 * The cluster's life as the operator drives it: demotion (with pg_rewind, or a fresh clone), fencing,
 * and the state file that makes each of them survive a restart of the manager. One operator action
 * runs at a time; what goes on after an answer (a rejoin) is visible in `/pg/status`.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import {
  checkDemotionTarget,
  ControlDataReader,
  decideStart,
  formatAddress,
  parseDemoteBody,
  probeTarget,
  readControlData,
  readState,
  rewind,
  writeState,
  type ControlData,
  type FenceRecord,
  type LifecycleState,
  type StartDecision,
} from '../lifecycle/index.js';
import { withConnection, type PgBinaries, type SocketAddress } from '../postgres/index.js';
import type { RunAs } from '../process/index.js';
import {
  cloneFromPrimary,
  ensureSlotOnPrimary,
  type PrimaryAddress,
  type PrimaryConnection,
  type Role,
} from '../replication/index.js';
import type { ActionOutcome, DemotionFacts } from '../status/index.js';
import type { RunOptions } from './options.js';
import type { Supervisor } from './supervisor.js';

/** Where PGDATA waits while a reclone runs, beside it; removed once the clone is complete. */
export function asideDirFor(pgdata: string): string {
  return `${pgdata}.before-reclone`;
}

/** What the lifecycle needs from the instance. */
export interface LifecycleHost {
  readonly role: Role;
  readonly primary: PrimaryAddress | undefined;
  readonly acceptingConnectionsSince: Date | undefined;
  readonly socketAddress: SocketAddress;
  connectionTo(primary: PrimaryAddress): PrimaryConnection;
  /** Becomes a replica of `primary`: standby.signal and the standby settings, for the next start. */
  follow(primary: PrimaryAddress): Promise<void>;
}

export interface LifecycleDeps {
  options: RunOptions;
  logger: Logger;
  bin: PgBinaries;
  runAs: RunAs;
}

const REJOIN_POLL_MS = { firstMs: 250, maxMs: 5_000 };
const START_WAIT_MS = 60_000;

export class Lifecycle {
  fence: FenceRecord | undefined;
  demotion: DemotionFacts | undefined;
  private pendingRejoin: { reclone: boolean } | undefined;
  private inFlight: string | undefined;
  private rejoining: AbortController | undefined;
  private readonly controlFile: ControlDataReader;

  constructor(
    private readonly deps: LifecycleDeps,
    private readonly host: LifecycleHost,
    /** Holds PostgreSQL stopped (fenced, demoted) and releases it. */
    private readonly supervisor: Pick<Supervisor, 'holdStopped' | 'release'>,
    /** Aborted when the manager stops. */
    private readonly stopping: AbortSignal,
  ) {
    const { bin, options, runAs, logger } = deps;
    this.controlFile = new ControlDataReader(options.pgdata, () => readControlData(bin, options.pgdata, runAs, logger));
  }

  /** Reads the state file (of PGDATA, or of a PGDATA set aside by an unfinished reclone) and decides. */
  decideStart(hasCluster: boolean): StartDecision {
    const { options, logger } = this.deps;
    const state = readState(options.pgdata) ?? (hasCluster ? undefined : readAside(options.pgdata));
    const decision = decideStart({ hasCluster, state, replicaOf: options.replicaOf, pod: options.podName });
    for (const note of decision.notes) logger.warning(note, { stateFile: 'PGDATA' });
    this.fence = decision.fenced;
    this.pendingRejoin = decision.rejoin;
    if (decision.fenced)
      logger.warning('this instance is fenced: PostgreSQL stays stopped until unfenced', { ...decision.fenced });
    return decision;
  }

  /** After the first start's clone: a reclone that was cut short is complete now. */
  cloned(): void {
    if (!this.pendingRejoin) return;
    this.pendingRejoin = undefined;
    this.record();
    fs.rmSync(asideDirFor(this.deps.options.pgdata), { recursive: true, force: true });
  }

  /** At start, with the supervisor holding PostgreSQL: finish a demotion the last run left. */
  resume(): void {
    if (this.pendingRejoin && !this.fence && this.host.primary)
      this.startRejoin(this.host.primary, this.pendingRejoin.reclone);
  }

  /** One operator action at a time; the others answer 409 meanwhile. */
  async exclusive(action: string, work: () => Promise<ActionOutcome>): Promise<ActionOutcome> {
    if (this.inFlight !== undefined)
      return {
        ok: false,
        status: 409,
        detail: `another operator action is in flight (${this.inFlight}); try again when it is done`,
      };
    this.inFlight = action;
    try {
      return await work();
    } finally {
      this.inFlight = undefined;
    }
  }

  /** Written before pg_promote: a manager restarted with --replica-of then keeps the primary role. */
  recordPromotion(): void {
    this.pendingRejoin = undefined;
    this.record({ role: 'primary', primary: undefined });
  }

  /**
   * PostgreSQL's checkpoint after a promotion is spread over minutes, and until it is done the
   * control file keeps the old timeline, which is what a demoted primary's pg_rewind compares.
   */
  checkpointAfterPromotion(): void {
    const { logger } = this.deps;
    withConnection(this.host.socketAddress, (client) => client.query('CHECKPOINT')).then(
      () => logger.info('checkpoint after promotion done'),
      (error: unknown) => logger.warning('checkpoint after promotion failed', { err: errorMessage(error) }),
    );
  }

  /** Refuses what a fenced or demoting instance must not do (promote, restart). */
  refusal(): ActionOutcome | undefined {
    if (this.fence)
      return { ok: false, status: 409, detail: `fenced by ${this.fence.by} at ${this.fence.at}: unfence first` };
    if (this.demotion)
      return {
        ok: false,
        status: 409,
        detail: `a demotion to ${this.demotion.primary} is under way (${this.demotion.step})`,
      };
    return undefined;
  }

  async fenceNow(by: string): Promise<ActionOutcome> {
    if (this.fence)
      return {
        ok: true,
        detail: `already fenced by ${this.fence.by} at ${this.fence.at}`,
        json: { fenced: true, ...this.fence },
      };
    this.rejoining?.abort();
    this.demotion = undefined;
    this.fence = { by, at: new Date().toISOString(), reason: 'fenced by an operator' };
    this.record();
    await this.supervisor.holdStopped(`fenced by ${by}`);
    return {
      ok: true,
      detail: 'fenced: PostgreSQL is stopped and stays stopped',
      json: { fenced: true, ...this.fence },
    };
  }

  async unfence(): Promise<ActionOutcome> {
    if (!this.fence) return { ok: false, status: 409, detail: 'not fenced' };
    this.fence = undefined;
    this.record();
    if (this.pendingRejoin && this.host.primary) {
      this.startRejoin(this.host.primary, this.pendingRejoin.reclone);
      return { ok: true, detail: `unfenced: rejoining ${formatAddress(this.host.primary)} (see /pg/status)` };
    }
    await this.supervisor.release();
    const deadline = Date.now() + START_WAIT_MS;
    while (this.host.acceptingConnectionsSince === undefined && Date.now() < deadline && !this.stopping.aborted)
      await sleep(100);
    return this.host.acceptingConnectionsSince === undefined
      ? { ok: true, detail: 'unfenced: PostgreSQL started but does not accept connections yet (see the log)' }
      : { ok: true, detail: 'unfenced: PostgreSQL accepts connections' };
  }

  /**
   * `POST /pg/demote`: checks the target, records the demotion, stops PostgreSQL after a checkpoint
   * (a fast shutdown lets the walsenders send all WAL to the standbys that are connected), and
   * answers with where it stopped; the rejoin goes on in the background.
   */
  async demote(body: unknown): Promise<ActionOutcome> {
    const request = parseDemoteBody(body);
    if (typeof request === 'string') return { ok: false, status: 400, detail: request };
    const { primary, reclone } = request;
    if (this.fence && this.fence.by !== 'demotion')
      return { ok: false, status: 409, detail: `fenced by ${this.fence.by}: unfence first` };
    if (this.host.role === 'replica') {
      if (this.fence?.by !== 'demotion')
        return {
          ok: false,
          status: 409,
          detail: this.demotion
            ? `a demotion to ${this.demotion.primary} is under way`
            : `already a replica of ${formatAddress(this.host.primary!)}`,
        };
      // The last rejoin failed: try again (a reclone this time, when asked).
      this.fence = undefined;
      this.record({ primary, rejoin: { reclone } });
      await this.host.follow(primary);
      this.startRejoin(primary, reclone);
      return {
        ok: true,
        status: 202,
        detail: `rejoining ${formatAddress(primary)}${reclone ? ' with a fresh clone' : ''} (see /pg/status)`,
      };
    }
    if (this.host.acceptingConnectionsSince === undefined)
      return { ok: false, status: 409, detail: 'PostgreSQL is not running; nothing to demote' };
    const { options, bin, runAs, logger } = this.deps;
    const refused = await checkDemotionTarget({
      bin,
      runAs,
      logger,
      primary,
      socketAddress: this.host.socketAddress,
      connection: this.host.connectionTo(primary),
      ownNames: [...options.serverNames, ...options.listen.split(',').map((name) => name.trim())],
      ownPort: options.port,
    });
    if (refused) return refused;
    this.record({ role: 'replica', primary, rejoin: { reclone } });
    this.pendingRejoin = { reclone };
    await this.host.follow(primary);
    this.demotion = { primary: formatAddress(primary), step: 'stopping', since: new Date().toISOString() };
    await this.supervisor.holdStopped(`demoted: ${formatAddress(primary)} is the new primary`);
    let control: ControlData;
    try {
      control = await this.controlData();
    } catch (error) {
      this.fail(`pg_controldata failed after the shutdown: ${errorMessage(error)}`);
      return { ok: false, status: 500, detail: `stopped, but pg_controldata failed: ${errorMessage(error)}` };
    }
    this.startRejoin(primary, reclone);
    const detail =
      `stopped at ${control.checkpointLsn} on timeline ${control.timeline}; ` +
      `rejoining ${formatAddress(primary)} once it is promoted`;
    return {
      ok: true,
      detail,
      json: {
        shutdownCheckpointLsn: control.checkpointLsn,
        timeline: control.timeline,
        primary: formatAddress(primary),
        clusterState: control.clusterState,
      },
    };
  }

  /** pg_controldata's fields, read again only when pg_control changed. */
  controlData(): Promise<ControlData> {
    return this.controlFile.read();
  }

  private startRejoin(primary: PrimaryAddress, reclone: boolean): void {
    this.rejoining?.abort();
    const controller = new AbortController();
    this.rejoining = controller;
    const signal = AbortSignal.any([controller.signal, this.stopping]);
    this.rejoin(primary, reclone, signal).catch((error: unknown) => {
      if (signal.aborted) return;
      this.fail(errorMessage(error));
    });
  }

  /** Waits for the new primary, rewinds from it (or reclones), then starts as its replica. */
  private async rejoin(primary: PrimaryAddress, reclone: boolean, signal: AbortSignal): Promise<void> {
    const { logger } = this.deps;
    const connection = this.host.connectionTo(primary);
    const address = formatAddress(primary);
    const began = Date.now();
    this.demotion = { primary: address, step: 'waiting-for-primary', since: new Date().toISOString() };
    // pg_rewind compares the timelines of the last checkpoints: until the new primary's first
    // checkpoint after its promotion it would find nothing to rewind, diverged or not.
    const ownTimeline = reclone ? 0 : (await this.controlData()).timeline;
    logger.info('waiting for the new primary to be promoted and to checkpoint', {
      primary: address,
      timeline: ownTimeline,
    });
    for (let attempt = 1; ; attempt++) {
      const target = await probeTarget({ ...this.deps, connection, signal });
      signal.throwIfAborted();
      if (target.reachable && !target.inRecovery && target.checkpointTimeline > ownTimeline) break;
      await sleep(Math.min(REJOIN_POLL_MS.maxMs, REJOIN_POLL_MS.firstMs * attempt), undefined, { signal });
    }
    if (reclone) await this.reclone(connection, signal);
    else await this.rewind(connection, signal);
    this.demotion = { primary: address, step: 'starting', since: new Date().toISOString() };
    await this.host.follow(primary);
    this.pendingRejoin = undefined;
    this.record({ role: 'replica', primary, rejoin: undefined });
    await ensureSlotOnPrimary({ ...this.deps, connection, signal });
    signal.throwIfAborted();
    await this.supervisor.release();
    this.demotion = undefined;
    logger.info('rejoined: PostgreSQL starts as a replica of the new primary', {
      primary: address,
      elapsedMs: Date.now() - began,
    });
  }

  private async rewind(connection: PrimaryConnection, signal: AbortSignal): Promise<void> {
    const { logger, options } = this.deps;
    this.demotion = { ...this.demotion!, step: 'rewinding' };
    const began = Date.now();
    const outcome = await rewind({ ...this.deps, pgdata: options.pgdata, connection, signal });
    logger.info(
      outcome === 'rewound'
        ? "pg_rewind rewound PGDATA onto the new primary's timeline"
        : 'pg_rewind: no rewind required',
      { elapsedMs: Date.now() - began },
    );
  }

  /** A fresh clone; the old PGDATA waits aside until the clone is complete. */
  private async reclone(connection: PrimaryConnection, signal: AbortSignal): Promise<void> {
    const { options, logger } = this.deps;
    this.demotion = { ...this.demotion!, step: 'cloning' };
    const aside = asideDirFor(options.pgdata);
    if (fs.existsSync(options.pgdata) && !fs.existsSync(aside)) fs.renameSync(options.pgdata, aside);
    fs.rmSync(options.pgdata, { recursive: true, force: true });
    logger.info('recloning; the old PGDATA is kept aside until the clone is complete', { aside });
    await cloneFromPrimary({ ...this.deps, pgdata: options.pgdata, connection, signal });
    this.record();
    fs.rmSync(aside, { recursive: true, force: true });
  }

  /** A rejoin that cannot go on: the instance stays stopped, fenced, with the reason. */
  private fail(reason: string): void {
    this.deps.logger.error('the demoted instance cannot rejoin; it stays stopped (fenced)', {
      reason,
      primary: this.demotion?.primary,
    });
    this.fence = { by: 'demotion', at: new Date().toISOString(), reason };
    this.demotion = undefined;
    try {
      this.record();
    } catch (error) {
      this.deps.logger.error('could not write the state file', { err: errorMessage(error) });
    }
  }

  /** Writes the state file with `changes` applied to what the instance is now. */
  private record(changes: Partial<LifecycleState> = {}): void {
    const { options, runAs } = this.deps;
    const role = changes.role ?? this.host.role;
    const state: LifecycleState = {
      pod: options.podName,
      role,
      ...(role === 'replica' ? { primary: changes.primary ?? this.host.primary } : {}),
      ...('rejoin' in changes
        ? changes.rejoin
          ? { rejoin: changes.rejoin }
          : {}
        : this.pendingRejoin
          ? { rejoin: this.pendingRejoin }
          : {}),
      ...(this.fence ? { fenced: this.fence } : {}),
      updatedAt: new Date().toISOString(),
    };
    writeState(options.pgdata, state, runAs);
  }
}

function readAside(pgdata: string): LifecycleState | undefined {
  return fs.existsSync(asideDirFor(pgdata)) ? readState(asideDirFor(pgdata)) : undefined;
}

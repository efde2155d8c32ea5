/**
 * Reaping for PID 1. Orphans (a backend outliving a killed postmaster, what an archive_command left
 * in the background) are re-parented to PID 1, or to the nearest "child subreaper" above them, and
 * stay zombies until that process waits for them. Node only ever waits for the children libuv
 * spawned, so a small N-API addon (native/reaper.c) supplies the two calls it lacks.
 */
import { constants } from 'node:os';
import type { Logger } from '../log.js';
import { defaultNativeAddon, type NativeAddon } from '../native.js';
import { errorMessage } from '../errors.js';
import { listProcesses } from './procfs.js';
import { isSpawnedByManager } from './spawn.js';

/** A zombie is reaped once it has been one for this long (see scan()). */
const CONFIRM_DELAY_MS = 100;
/** Scans without a SIGCHLD too: reaping must not hinge on every signal being seen. */
const SAFETY_INTERVAL_MS = 30_000;
/**
 * The first scan, for zombies from before the manager (what a shell that exec'd into it left
 * behind), comes once the postmaster had time to be spawned: reading all of /proc would delay it.
 */
const FIRST_SCAN_DELAY_MS = 1_000;

const TINI_FALLBACK = 'run the manager under "tini -s --" so that orphaned processes are reaped';

/**
 * Starts reaping orphans and, unless the manager is PID 1, makes it their subreaper (so the same
 * code works in a container and on a developer's machine). Without the addon it warns, naming the
 * fallback, and returns undefined: PostgreSQL still runs, only zombies pile up.
 */
export function startOrphanReaper(logger: Logger): OrphanReaper | undefined {
  const loaded = defaultNativeAddon();
  if ('errors' in loaded) {
    logger.warning(`the reaper addon could not be loaded; ${TINI_FALLBACK}`, {
      pid: process.pid,
      tried: loaded.errors,
    });
    return undefined;
  }
  const subreaper = process.pid !== 1;
  if (subreaper) {
    try {
      loaded.addon.setChildSubreaper();
    } catch (error) {
      // No orphan will come to the manager then: there is nothing for it to reap.
      logger.warning('could not become the subreaper of PostgreSQL; its orphans go to PID 1', {
        err: errorMessage(error),
      });
      return undefined;
    }
  }
  logger.debug('reaping orphaned processes', { addon: loaded.file, pid: process.pid, subreaper });
  const reaper = new OrphanReaper(loaded.addon, logger);
  reaper.start();
  return reaper;
}

export class OrphanReaper {
  /** Zombies seen by the last scan, not yet reaped, and when each was first seen. */
  private suspects = new Map<number, number>();
  private scanQueued = false;
  private confirmTimer: NodeJS.Timeout | undefined;
  private safetyTimer: NodeJS.Timeout | undefined;
  private firstScanTimer: NodeJS.Timeout | undefined;
  private readonly onChildSignal = () => this.queueScan();

  constructor(
    private readonly addon: NativeAddon,
    private readonly logger: Logger,
  ) {}

  /** libuv keeps its own SIGCHLD watcher: a listener here is an extra one, not a replacement. */
  start(): void {
    process.on('SIGCHLD', this.onChildSignal);
    this.safetyTimer = setInterval(() => this.queueScan(), SAFETY_INTERVAL_MS).unref();
    this.firstScanTimer = setTimeout(() => this.queueScan(), FIRST_SCAN_DELAY_MS).unref();
  }

  stop(): void {
    process.off('SIGCHLD', this.onChildSignal);
    clearInterval(this.safetyTimer);
    clearTimeout(this.firstScanTimer);
    clearTimeout(this.confirmTimer);
  }

  private queueScan(): void {
    if (this.scanQueued) return;
    this.scanQueued = true;
    setImmediate(() => {
      this.scanQueued = false;
      this.scan();
    });
  }

  /**
   * Reaps the zombies whose parent is the manager and that libuv did not spawn. Not every child of
   * libuv goes through spawnProgram (whose pids `isSpawnedByManager` knows): execFile's do not. So a
   * zombie is taken only once it has been one for CONFIRM_DELAY_MS, and by a scan that runs in a
   * later turn of the event loop: by then libuv has read the SIGCHLD that zombie sent and collected
   * it if it was its own. Taking one of libuv's would lose its exit event and hang whoever awaits
   * it (the reaper test shows it happening without this delay).
   */
  private scan(): void {
    const now = Date.now();
    const zombies = listProcesses().filter(
      (stat) => stat.state === 'Z' && stat.ppid === process.pid && !isSpawnedByManager(stat.pid),
    );
    const unconfirmed = new Map<number, number>();
    for (const zombie of zombies) {
      const firstSeen = this.suspects.get(zombie.pid) ?? now;
      if (now - firstSeen < CONFIRM_DELAY_MS) {
        unconfirmed.set(zombie.pid, firstSeen);
        continue;
      }
      const exit = this.addon.reap(zombie.pid);
      if (exit === null) continue;
      this.logger.debug('reaped an orphaned process', {
        pid: zombie.pid,
        command: zombie.command,
        exitCode: exit.code,
        signal: exit.signal === null ? null : signalName(exit.signal),
      });
    }
    this.suspects = unconfirmed;
    if (unconfirmed.size > 0 && this.confirmTimer === undefined) {
      const due = Math.min(...unconfirmed.values()) + CONFIRM_DELAY_MS - now;
      this.confirmTimer = setTimeout(() => {
        this.confirmTimer = undefined;
        this.queueScan();
      }, due).unref();
    }
  }
}

function signalName(signal: number): string {
  const entry = Object.entries(constants.signals).find(([, number]) => number === signal);
  return entry?.[0] ?? String(signal);
}

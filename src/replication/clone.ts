/**
 * A replica's first start: copy the primary with pg_basebackup, retrying until it works.
 *
 * The copy is made in a sibling directory and renamed onto PGDATA only once pg_basebackup has
 * finished, so a clone cut short (a crash, a kill, a full disk) never leaves a PGDATA that looks
 * like a data directory: the next start sees it empty and clones again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { PgBinaries } from '../postgres/index.js';
import { chownToRunAs, runProgram, type RunAs } from '../process/index.js';
import { classifyFailure } from './failure.js';
import { ProgressReporter } from './progress.js';
import { primaryConninfo, slotNameFor, SSL_MODE, type PrimaryConnection } from './standby-settings.js';

export interface CloneOptions {
  bin: PgBinaries;
  pgdata: string;
  runAs: RunAs;
  logger: Logger;
  connection: PrimaryConnection;
  /** Aborted when the manager is asked to stop: the clone is abandoned and cleaned up. */
  signal: AbortSignal;
  retry?: RetryDelays;
  progressIntervalMs?: number;
}

export interface RetryDelays {
  firstMs: number;
  maxMs: number;
}

const DEFAULT_RETRY: RetryDelays = { firstMs: 1_000, maxMs: 30_000 };

/** Doubling from the first delay up to the maximum. */
export function retryDelayMs(failedAttempts: number, delays: RetryDelays = DEFAULT_RETRY): number {
  return Math.min(delays.maxMs, delays.firstMs * 2 ** Math.max(0, failedAttempts - 1));
}

/** Where the copy is made before it becomes PGDATA: beside it, so the rename stays on one file system. */
export function cloneDirFor(pgdata: string): string {
  return path.join(path.dirname(pgdata), `.${path.basename(pgdata)}.cloning`);
}

/** The pg_basebackup command line; `createSlot` is false once the slot is known to exist. */
export function basebackupArgs(targetDir: string, connection: PrimaryConnection, createSlot: boolean): string[] {
  return [
    '--pgdata',
    targetDir,
    '--dbname',
    primaryConninfo(connection),
    '--no-password',
    '--wal-method',
    'stream',
    '--checkpoint',
    'fast',
    ...(createSlot ? ['--create-slot'] : []),
    '--slot',
    slotNameFor(connection.applicationName),
    '--progress',
    '--verbose',
  ];
}

/** Clones the primary into PGDATA (empty or missing); resolves once PGDATA holds a complete copy. */
export async function cloneFromPrimary(options: CloneOptions): Promise<void> {
  const { bin, pgdata, runAs, logger, connection, signal } = options;
  const target = cloneDirFor(pgdata);
  const primary = `${connection.primary.host}:${connection.primary.port}`;
  const slot = slotNameFor(connection.applicationName);
  let createSlot = true;
  let failures = 0;
  for (let attempt = 1; ; attempt++) {
    signal.throwIfAborted();
    prepareEmptyDir(target, runAs);
    logger.info('cloning the primary with pg_basebackup', { attempt, primary, slot, sslmode: SSL_MODE });
    const began = Date.now();
    const progress = new ProgressReporter(
      (figures) => logger.info('clone progress', { ...figures }),
      options.progressIntervalMs,
    );
    try {
      await runProgram(bin.path('pg_basebackup'), basebackupArgs(target, connection, createSlot), {
        runAs,
        logger,
        signal,
        consumeStderrLine: (line) => progress.accept(line, Date.now()),
      });
      progress.finish();
      fs.renameSync(target, pgdata);
      syncDirectory(path.dirname(pgdata));
      logger.info('clone finished', { primary, slot, elapsedMs: Date.now() - began });
      return;
    } catch (error) {
      fs.rmSync(target, { recursive: true, force: true });
      if (signal.aborted) throw error;
      const verdict = classifyFailure(errorMessage(error));
      if (verdict.cause === 'slot-exists' && createSlot) {
        createSlot = false;
        logger.info('replication slot already exists on the primary; using it', { slot });
        continue;
      }
      failures++;
      const retryInMs = retryDelayMs(failures, options.retry);
      logger.warning('clone failed; retrying', {
        attempt,
        primary,
        cause: verdict.cause,
        explanation: verdict.explanation,
        err: errorMessage(error),
        retryInMs,
      });
      await sleep(retryInMs, undefined, { signal });
    }
  }
}

/** A fresh, empty directory owned by the PostgreSQL user (whatever an earlier attempt left). */
function prepareEmptyDir(dir: string, runAs: RunAs): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { mode: 0o700 });
  chownToRunAs(dir, runAs);
}

/** Makes a rename in `dir` survive a power loss (pg_basebackup synced the files themselves). */
function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

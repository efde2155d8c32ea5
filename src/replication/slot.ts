/**
 * A replica's slot on its primary, for a replica that starts on an existing PGDATA: after a
 * failover its new primary has never heard of it, and a walreceiver asking for a missing slot is
 * refused forever. The slot is created through the same verified TLS connection, as
 * streaming_replica (the REPLICATION attribute allows it; pg_hba admits it to `postgres`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { PgBinaries } from '../postgres/index.js';
import { runProgram, type RunAs } from '../process/index.js';
import { retryDelayMs, type RetryDelays } from './clone.js';
import { classifyFailure } from './failure.js';
import { primaryConninfo, slotNameFor, type PrimaryConnection } from './standby-settings.js';

export interface SlotOptions {
  bin: PgBinaries;
  runAs: RunAs;
  logger: Logger;
  connection: PrimaryConnection;
  signal: AbortSignal;
  retry?: RetryDelays;
}

/** The SQL that creates the slot when it is missing and prints whether it did. */
export function ensureSlotSql(slot: string): string {
  const literal = `'${slot}'`;
  return `SELECT count(pg_create_physical_replication_slot(${literal}, true)) FROM (SELECT 1) one
    WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = ${literal})`;
}

/** Retries (with backoff, a line per failure) until the slot exists on the primary or a stop is asked for. */
export async function ensureSlotOnPrimary(options: SlotOptions): Promise<void> {
  const { bin, runAs, logger, connection, signal } = options;
  const slot = slotNameFor(connection.applicationName);
  const primary = `${connection.primary.host}:${connection.primary.port}`;
  for (let failures = 0; !signal.aborted;) {
    try {
      const [created] = await runProgram(
        bin.path('psql'),
        ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', primaryConninfo(connection), '-c', ensureSlotSql(slot)],
        { runAs, logger, signal },
      );
      logger.info(
        created === '1' ? "created this replica's slot on the primary" : "this replica's slot exists on the primary",
        { slot, primary },
      );
      return;
    } catch (error) {
      if (signal.aborted) return;
      failures++;
      const verdict = classifyFailure(errorMessage(error));
      const retryInMs = retryDelayMs(failures, options.retry);
      logger.warning("could not check this replica's slot on the primary; retrying", {
        slot,
        primary,
        cause: verdict.cause,
        explanation: verdict.explanation,
        err: errorMessage(error),
        retryInMs,
      });
      await sleep(retryInMs, undefined, { signal }).catch(() => undefined);
    }
  }
}

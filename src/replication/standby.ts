/** The PostgreSQL side of replication: the replication role, standby.signal, promotion. */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { REPLICATION_USER } from '../config/index.js';
import type { Logger } from '../log.js';
import { withConnection, type SocketAddress } from '../postgres/index.js';
import { chownToRunAs, type RunAs } from '../process/index.js';

export type Role = 'primary' | 'replica';

export const STANDBY_SIGNAL = 'standby.signal';

/** Makes the next start of PostgreSQL a standby (an empty file is all PostgreSQL looks for). */
export function writeStandbySignal(pgdata: string, runAs: RunAs): void {
  const file = path.join(pgdata, STANDBY_SIGNAL);
  if (fs.existsSync(file)) return;
  fs.writeFileSync(file, '', { mode: 0o600 });
  chownToRunAs(file, runAs);
}

export function hasStandbySignal(pgdata: string): boolean {
  return fs.existsSync(path.join(pgdata, STANDBY_SIGNAL));
}

/**
 * The functions pg_rewind calls on its source server, as PostgreSQL's documentation lists them: a
 * demoted primary rewinds from the new one as streaming_replica, which needs these and nothing more.
 */
export const REWIND_FUNCTIONS = [
  'pg_catalog.pg_ls_dir(text, boolean, boolean)',
  'pg_catalog.pg_stat_file(text, boolean)',
  'pg_catalog.pg_read_binary_file(text)',
  'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)',
];

/**
 * The role replicas authenticate as: a certificate only (no password), and only over TLS, which
 * the fixed pg_hba.conf rules enforce. Created when missing, so a primary whose first start was
 * cut short still gets it; an existing role is left as the DBA made it, but for the grants pg_rewind
 * needs (granting twice changes nothing).
 */
export async function ensureReplicationRole(address: SocketAddress, logger: Logger): Promise<void> {
  const created = await withConnection(address, async (client) => {
    const inRecovery = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
    if (inRecovery.rows[0]!.recovery) return false;
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [REPLICATION_USER]);
    if (exists.rowCount === 0) await client.query(`CREATE ROLE ${REPLICATION_USER} LOGIN REPLICATION PASSWORD NULL`);
    const missing = await client.query<{ fn: string }>(
      `SELECT fn FROM unnest($1::text[]) fn WHERE NOT has_function_privilege($2, fn, 'EXECUTE')`,
      [REWIND_FUNCTIONS, REPLICATION_USER],
    );
    for (const { fn } of missing.rows) await client.query(`GRANT EXECUTE ON FUNCTION ${fn} TO ${REPLICATION_USER}`);
    return exists.rowCount === 0;
  });
  if (created) logger.info('created the replication role', { role: REPLICATION_USER, authentication: 'certificate' });
}

/**
 * A standby keeps the slots it had as a primary (pg_rewind leaves pg_replslot alone), and a slot
 * nobody streams from holds WAL back for ever: this manager does not cascade, so a standby drops them.
 * The replicas ask for their slots again on whichever instance is promoted.
 */
export async function dropStandbySlots(address: SocketAddress, logger: Logger): Promise<void> {
  const dropped = await withConnection(address, async (client) => {
    const result = await client.query<{ slot: string }>(
      `SELECT slot_name AS slot FROM pg_replication_slots
        WHERE NOT active AND slot_type = 'physical' AND pg_is_in_recovery()`,
    );
    for (const { slot } of result.rows) await client.query('SELECT pg_drop_replication_slot($1)', [slot]);
    return result.rows.map((row) => row.slot);
  });
  if (dropped.length > 0)
    logger.info('dropped the replication slots this standby kept from its time as a primary', { slots: dropped });
}

/** What promotion needs from the running instance (the Instance class provides it). */
export interface Promotable {
  readonly role: Role;
  readonly socketAddress: SocketAddress;
  /** Records the promotion (the state file) before it is acted on. */
  recordPromotion(): void;
  /** Drops the standby settings from the managed configuration and records the new role. */
  becomePrimary(): Promise<void>;
}

export class NotAReplicaError extends Error {
  override readonly name = 'NotAReplicaError';
}

export interface PromotionResult {
  timeline: number;
  elapsedMs: number;
}

/**
 * Promotes a replica: `pg_promote` waits until PostgreSQL left recovery, which is then checked
 * independently before the instance takes the primary role. Throws NotAReplicaError on a primary.
 */
export async function promote(target: Promotable, logger: Logger, waitSeconds = 60): Promise<PromotionResult> {
  if (target.role !== 'replica') throw new NotAReplicaError('this instance is already a primary');
  const began = Date.now();
  logger.info('promoting this replica', { waitSeconds });
  target.recordPromotion();
  const timeline = await withConnection(
    target.socketAddress,
    async (client) => {
      const promoted = await client.query<{ promoted: boolean }>('SELECT pg_promote(true, $1) AS promoted', [
        waitSeconds,
      ]);
      if (!promoted.rows[0]!.promoted) throw new Error(`PostgreSQL did not finish promotion within ${waitSeconds} s`);
      await waitUntilOutOfRecovery(client, waitSeconds * 1000);
      // The checkpoint after promotion may still be running; the WAL file name already carries the new timeline.
      const result = await client.query<{ walfile: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS walfile');
      return parseInt(result.rows[0]!.walfile.slice(0, 8), 16);
    },
    (waitSeconds + 10) * 1000,
  );
  await target.becomePrimary();
  const result = { timeline, elapsedMs: Date.now() - began };
  logger.info('promoted: this instance is now the primary', { ...result });
  return result;
}

async function waitUntilOutOfRecovery(client: pg.Client, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
    if (!result.rows[0]!.recovery) return;
    if (Date.now() > deadline) throw new Error('PostgreSQL is still in recovery after pg_promote');
    await sleep(50);
  }
}

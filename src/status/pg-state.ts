/**
 * What PostgreSQL says about itself, read over the unix socket in one statement so that a status
 * answer costs one round trip, and shared by every request that arrives while it runs.
 */
import type pg from 'pg';
import { createSocketPool, type SocketAddress } from '../postgres/index.js';
import { errorMessage } from '../errors.js';

export interface StandbyStatus {
  applicationName: string;
  state: string;
  sentLsn: string | null;
  replayLsn: string | null;
  /** Seconds (pg_stat_replication.replay_lag); null when the standby is idle or not yet known. */
  replayLag: number | null;
  /** WAL bytes the standby has still to replay; null when not known. */
  replayLagBytes: number | null;
  syncState: string;
}

export interface PgSnapshot {
  inRecovery: boolean;
  pgVersion: string;
  systemId: string;
  timeline: number | null;
  currentLsn: string | null;
  receivedLsn: string | null;
  replayLsn: string | null;
  walReceiverActive: boolean;
  pendingRestart: boolean;
  postmasterStartTime: Date;
  replication: StandbyStatus[];
}

export type PgReading = { ok: true; snapshot: PgSnapshot } | { ok: false; error: string };

// On a standby pg_walfile_name() is refused, so its timeline comes from the WAL receiver (or, with
// none, from the last restartpoint); replay_lag in seconds keeps the JSON free of interval strings.
const STATUS_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
       current_setting('server_version') AS pg_version,
       (SELECT system_identifier::text FROM pg_control_system()) AS system_id,
       CASE WHEN pg_is_in_recovery()
            THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),
                          (SELECT timeline_id FROM pg_control_checkpoint()))
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
       END AS timeline,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
       pg_last_wal_receive_lsn()::text AS received_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS wal_receiver_active,
       EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart) AS pending_restart,
       pg_postmaster_start_time() AS postmaster_start_time,
       (SELECT coalesce(json_agg(json_build_object(
                 'applicationName', application_name,
                 'state', state,
                 'sentLsn', sent_lsn::text,
                 'replayLsn', replay_lsn::text,
                 'replayLag', extract(epoch FROM replay_lag)::float8,
                 'replayLagBytes', CASE WHEN pg_is_in_recovery() THEN NULL
                                   ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 END,
                 'syncState', sync_state) ORDER BY application_name), '[]'::json)
          FROM pg_stat_replication) AS replication`;

interface StatusRow {
  in_recovery: boolean;
  pg_version: string;
  system_id: string;
  timeline: number | null;
  current_lsn: string | null;
  received_lsn: string | null;
  replay_lsn: string | null;
  wal_receiver_active: boolean;
  pending_restart: boolean;
  postmaster_start_time: Date;
  replication: StandbyStatus[];
}

export interface PgStateReaderOptions {
  statementTimeoutMs: number;
}

export class PgStateReader {
  /** Made at the first query: pg loads then, off the manager's start-up path. */
  private pool: Promise<pg.Pool> | undefined;
  private inFlight: Promise<PgReading> | undefined;

  constructor(
    private readonly address: SocketAddress,
    private readonly options: PgStateReaderOptions,
  ) {}

  /** Concurrent callers share one query: a burst of requests costs PostgreSQL one statement. */
  read(): Promise<PgReading> {
    this.inFlight ??= this.query().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  async close(): Promise<void> {
    await (await this.pool)?.end();
  }

  private connections(): Promise<pg.Pool> {
    // Two connections: one for the shared status query, one spare so a slow query does not hold up
    // the next; idle ones go after a second so a smart shutdown is not kept waiting.
    this.pool ??= createSocketPool(this.address, {
      max: 2,
      statementTimeoutMs: this.options.statementTimeoutMs,
      connectTimeoutMs: this.options.statementTimeoutMs,
      idleTimeoutMs: 1_000,
    });
    return this.pool;
  }

  private async query(): Promise<PgReading> {
    try {
      const { rows } = await (await this.connections()).query<StatusRow>(STATUS_SQL);
      const row = rows[0]!;
      return {
        ok: true,
        snapshot: {
          inRecovery: row.in_recovery,
          pgVersion: row.pg_version,
          systemId: row.system_id,
          timeline: row.timeline,
          currentLsn: row.current_lsn,
          receivedLsn: row.received_lsn,
          replayLsn: row.replay_lsn,
          walReceiverActive: row.wal_receiver_active,
          pendingRestart: row.pending_restart,
          postmasterStartTime: row.postmaster_start_time,
          replication: row.replication,
        },
      };
    } catch (error) {
      return { ok: false, error: errorMessage(error) };
    }
  }
}

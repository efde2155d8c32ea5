/**
 * The metrics served without any configuration: postgres_exporter's default set under its own
 * names and labels (the names the Debian package, 0.11, exports, so its dashboards and alerts
 * work), plus what it lacks (transaction ID age, WAL generated, per-standby lag in bytes and
 * seconds, a replica's own positions, archiver timestamps), named with their unit. Where
 * postgres_exporter's name breaks Prometheus' naming rules for its type (a gauge ending in
 * `_count`, a counter without `_total`) the name is kept and the type is `untyped`, which those
 * rules exempt: renaming would break the dashboards. Pure: a major version in, queries out.
 */
import type { ColumnSpec, MetricQuery } from './query.js';
import { settingsFamilies, SETTINGS_SQL } from './settings.js';

const label = (column: string): ColumnSpec => ({ column, usage: 'LABEL', description: '' });
const gauge = (column: string, description: string, metricName?: string): ColumnSpec => ({
  column,
  usage: 'GAUGE',
  description,
  metricName,
});
const counter = (column: string, description: string): ColumnSpec => ({ column, usage: 'COUNTER', description });
/** postgres_exporter's name kept as is, outside the naming rules: see the module comment. */
const legacy = (column: string, description: string): ColumnSpec => ({
  column,
  usage: 'GAUGE',
  description,
  type: 'untyped',
});

function query(name: string, sql: string, columns: ColumnSpec[], primaryOnly = false): MetricQuery {
  return {
    name,
    sql,
    columns,
    primaryOnly,
    targetDatabases: undefined,
    serverVersion: undefined,
    predicateSql: undefined,
  };
}

/** The states postgres_exporter lists, each exported (0 when none) so that series never vanish. */
const BACKEND_STATES = [
  'active',
  'idle',
  'idle in transaction',
  'idle in transaction (aborted)',
  'fastpath function call',
  'disabled',
];
const LOCK_MODES = [
  'accesssharelock',
  'rowsharelock',
  'rowexclusivelock',
  'shareupdateexclusivelock',
  'sharelock',
  'sharerowexclusivelock',
  'exclusivelock',
  'accessexclusivelock',
  'sireadlock',
];
const values = (list: readonly string[]) => list.map((item) => `('${item}')`).join(', ');

/** Where this instance's WAL is: written here on a primary, received on a replica. */
const HERE_LSN = 'CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END';

export function defaultQueries(major: number): MetricQuery[] {
  return [
    // First: the slowest (pg_database_size stats every file of every database), so that the
    // collector's second lane runs all the others beside it.
    query(
      'pg_database',
      `SELECT datname, pg_database_size(oid)::float8 AS size_bytes, age(datfrozenxid)::float8 AS xid_age,
              mxid_age(datminmxid)::float8 AS mxid_age
       FROM pg_database WHERE datconnlimit <> -2 ORDER BY 1`,
      [
        label('datname'),
        gauge('size_bytes', 'Disk space used by each database'),
        gauge('xid_age', 'Transactions since datfrozenxid: VACUUM must freeze before about 2 billion (wraparound)'),
        gauge('mxid_age', 'Multixacts since datminmxid: VACUUM must freeze before this reaches about 2 billion'),
      ],
    ),
    query('pg_postmaster', 'SELECT extract(epoch FROM pg_postmaster_start_time())::float8 AS start_time_seconds', [
      gauge('start_time_seconds', 'Time at which the postmaster started, as Unix seconds'),
    ]),
    query(
      'pg_stat_activity',
      `SELECT d.datname, s.state, coalesce(a.count, 0) AS count, coalesce(a.max_tx_duration, 0) AS max_tx_duration
       FROM pg_database d CROSS JOIN (VALUES ${values(BACKEND_STATES)}) AS s(state)
       LEFT JOIN (SELECT datname, state, count(*) AS count,
                         max(extract(epoch FROM clock_timestamp() - xact_start))::float8 AS max_tx_duration
                  FROM pg_stat_activity GROUP BY datname, state) a ON a.datname = d.datname AND a.state = s.state
       ORDER BY 1, 2`,
      [
        label('datname'),
        label('state'),
        legacy('count', 'Backends connected to each database, per state'),
        gauge('max_tx_duration', 'Seconds the oldest open transaction has run, per database and state (0: none)'),
      ],
    ),
    query(
      'pg_locks',
      `SELECT d.datname, m.mode, coalesce(l.count, 0) AS count
       FROM pg_database d CROSS JOIN (VALUES ${values(LOCK_MODES)}) AS m(mode)
       LEFT JOIN (SELECT database, lower(mode) AS mode, count(*) AS count FROM pg_locks
                  WHERE database IS NOT NULL GROUP BY 1, 2) l ON l.database = d.oid AND l.mode = m.mode
       ORDER BY 1, 2`,
      [label('datname'), label('mode'), legacy('count', 'Locks held or awaited in each database, per lock mode')],
    ),
    bgwriterQuery(major),
    statDatabaseQuery(major),
    query(
      'pg_stat_database_conflicts',
      `SELECT datid::text, datname, confl_tablespace, confl_lock, confl_snapshot, confl_bufferpin, confl_deadlock
       FROM pg_stat_database_conflicts ORDER BY 2`,
      [
        label('datid'),
        label('datname'),
        legacy('confl_tablespace', 'Queries canceled on this standby because of dropped tablespaces'),
        legacy('confl_lock', 'Queries canceled on this standby because of lock timeouts'),
        legacy('confl_snapshot', 'Queries canceled on this standby because of old snapshots'),
        legacy('confl_bufferpin', 'Queries canceled on this standby because of pinned buffers'),
        legacy('confl_deadlock', 'Queries canceled on this standby because of deadlocks'),
      ],
    ),
    query(
      'pg_stat_archiver',
      `SELECT archived_count, failed_count,
              extract(epoch FROM now() - last_archived_time)::float8 AS last_archive_age,
              coalesce(extract(epoch FROM last_archived_time), 0)::float8 AS last_archived_timestamp_seconds,
              coalesce(extract(epoch FROM last_failed_time), 0)::float8 AS last_failed_timestamp_seconds
       FROM pg_stat_archiver`,
      [
        legacy('archived_count', 'WAL files archived successfully (a counter)'),
        legacy('failed_count', 'Failed attempts to archive a WAL file (a counter)'),
        gauge('last_archive_age', 'Seconds since the last WAL file was archived (NaN: never)'),
        gauge('last_archived_timestamp_seconds', 'Time of the last successful archiving, as Unix seconds (0: never)'),
        gauge('last_failed_timestamp_seconds', 'Time of the last failed archiving, as Unix seconds (0: never)'),
      ],
    ),
    query(
      'pg_wal',
      `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 AS generated_bytes_total
       WHERE NOT pg_is_in_recovery()`,
      [counter('generated_bytes_total', 'WAL generated since initdb (the WAL position in bytes); primary only')],
    ),
    ...(major >= 14 ? [statWalQuery()] : []),
    query(
      'pg_stat_replication',
      `SELECT application_name, coalesce(host(client_addr), '') AS client_addr, state,
              pg_wal_lsn_diff(here.lsn, '0/0')::float8 AS pg_current_wal_lsn_bytes,
              pg_wal_lsn_diff(here.lsn, replay_lsn)::float8 AS pg_wal_lsn_diff,
              pg_wal_lsn_diff(here.lsn, sent_lsn)::float8 AS sent_lag_bytes,
              pg_wal_lsn_diff(here.lsn, write_lsn)::float8 AS write_lag_bytes,
              pg_wal_lsn_diff(here.lsn, flush_lsn)::float8 AS flush_lag_bytes,
              pg_wal_lsn_diff(here.lsn, replay_lsn)::float8 AS replay_lag_bytes,
              coalesce(extract(epoch FROM write_lag), 0)::float8 AS write_lag_seconds,
              coalesce(extract(epoch FROM flush_lag), 0)::float8 AS flush_lag_seconds,
              coalesce(extract(epoch FROM replay_lag), 0)::float8 AS replay_lag_seconds
       FROM pg_stat_replication, (SELECT ${HERE_LSN} AS lsn) here ORDER BY 1`,
      [
        label('application_name'),
        label('client_addr'),
        label('state'),
        gauge('pg_current_wal_lsn_bytes', "This instance's WAL position in bytes, per standby streaming from it"),
        gauge('pg_wal_lsn_diff', "WAL bytes each standby has still to replay (postgres_exporter's replay_lag_bytes)"),
        gauge('sent_lag_bytes', 'WAL bytes not yet sent to each standby'),
        gauge('write_lag_bytes', 'WAL bytes each standby has not yet written'),
        gauge('flush_lag_bytes', 'WAL bytes each standby has not yet flushed to disk'),
        gauge('replay_lag_bytes', 'WAL bytes each standby has not yet replayed'),
        gauge('write_lag_seconds', 'Seconds until recent WAL was written by each standby (0 while idle and caught up)'),
        gauge('flush_lag_seconds', 'Seconds until recent WAL was flushed by each standby (0 while idle and caught up)'),
        gauge('replay_lag_seconds', 'Seconds until recent WAL was replayed by each standby (0 when idle, caught up)'),
      ],
    ),
    query(
      'pg_replication_slots',
      `SELECT slot_name, coalesce(database, '') AS database, slot_type, active,
              pg_wal_lsn_diff(${HERE_LSN}, restart_lsn)::float8 AS pg_wal_lsn_diff
       FROM pg_replication_slots ORDER BY 1`,
      [
        label('slot_name'),
        label('database'),
        label('slot_type'),
        gauge('active', 'Whether a consumer is connected to the slot (1) or not (0)'),
        gauge('pg_wal_lsn_diff', "WAL bytes the slot holds back from removal (behind this instance's position)"),
      ],
    ),
    query(
      'pg_replication',
      `SELECT pg_is_in_recovery() AS is_replica,
              CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                   ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))
              END::float8 AS lag_seconds`,
      [
        gauge('is_replica', 'Whether this instance is a replica, in recovery (1), or a primary (0)'),
        gauge(
          'lag_seconds',
          'On a replica, seconds since the last replayed transaction while received WAL waits ' +
            'to be replayed (0 when caught up, and on a primary)',
        ),
      ],
    ),
    query(
      'pg_replication_wal',
      `SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')::float8 AS receive_lsn_bytes,
              pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::float8 AS replay_lsn_bytes,
              pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8 AS replay_lag_bytes,
              EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS wal_receiver_up
       WHERE pg_is_in_recovery()`,
      [
        gauge(
          'receive_lsn_bytes',
          'On a replica, the last WAL position received and flushed, in bytes',
          'pg_replication_receive_lsn_bytes',
        ),
        gauge(
          'replay_lsn_bytes',
          'On a replica, the last WAL position replayed, in bytes',
          'pg_replication_replay_lsn_bytes',
        ),
        gauge(
          'replay_lag_bytes',
          'On a replica, WAL bytes received but not yet replayed',
          'pg_replication_replay_lag_bytes',
        ),
        gauge(
          'wal_receiver_up',
          'On a replica, whether a WAL receiver streams from the primary (1) or not (0)',
          'pg_replication_wal_receiver_up',
        ),
      ],
    ),
    { ...query('pg_settings', SETTINGS_SQL, []), familiesFromRows: settingsFamilies },
  ];
}

function bgwriterQuery(major: number): MetricQuery {
  const columns = [
    counter('checkpoints_timed_total', 'Scheduled checkpoints performed'),
    counter('checkpoints_req_total', 'Requested checkpoints performed'),
    counter('checkpoint_write_time_total', 'Milliseconds spent writing files during checkpoints'),
    counter('checkpoint_sync_time_total', 'Milliseconds spent synchronizing files to disk during checkpoints'),
    counter('buffers_checkpoint_total', 'Buffers written during checkpoints'),
    counter('buffers_clean_total', 'Buffers written by the background writer'),
    counter('maxwritten_clean_total', 'Cleaning scans the background writer stopped for writing too many buffers'),
    counter('buffers_alloc_total', 'Buffers allocated'),
  ];
  // PostgreSQL 17 moved the checkpoint counters to pg_stat_checkpointer and dropped the backends'
  // own writes (now in pg_stat_io): the names stay postgres_exporter's, for the dashboards.
  if (major >= 17) {
    return query(
      'pg_stat_bgwriter',
      `SELECT c.num_timed AS checkpoints_timed_total, c.num_requested AS checkpoints_req_total,
              c.write_time AS checkpoint_write_time_total, c.sync_time AS checkpoint_sync_time_total,
              c.buffers_written AS buffers_checkpoint_total, b.buffers_clean AS buffers_clean_total,
              b.maxwritten_clean AS maxwritten_clean_total, b.buffers_alloc AS buffers_alloc_total
       FROM pg_stat_checkpointer c, pg_stat_bgwriter b`,
      columns,
    );
  }
  return query(
    'pg_stat_bgwriter',
    `SELECT checkpoints_timed AS checkpoints_timed_total, checkpoints_req AS checkpoints_req_total,
            checkpoint_write_time AS checkpoint_write_time_total, checkpoint_sync_time AS checkpoint_sync_time_total,
            buffers_checkpoint AS buffers_checkpoint_total, buffers_clean AS buffers_clean_total,
            maxwritten_clean AS maxwritten_clean_total, buffers_alloc AS buffers_alloc_total,
            buffers_backend AS buffers_backend_total, buffers_backend_fsync AS buffers_backend_fsync_total
     FROM pg_stat_bgwriter`,
    [
      ...columns,
      counter('buffers_backend_total', 'Buffers written directly by a backend'),
      counter('buffers_backend_fsync_total', 'Times a backend had to execute its own fsync'),
    ],
  );
}

function statDatabaseQuery(major: number): MetricQuery {
  const counters: [string, string][] = [
    ['xact_commit', 'Transactions committed'],
    ['xact_rollback', 'Transactions rolled back'],
    ['blks_read', 'Disk blocks read'],
    ['blks_hit', 'Disk blocks found in the buffer cache'],
    ['tup_returned', 'Rows returned by queries'],
    ['tup_fetched', 'Rows fetched by queries'],
    ['tup_inserted', 'Rows inserted'],
    ['tup_updated', 'Rows updated'],
    ['tup_deleted', 'Rows deleted'],
    ['conflicts', 'Queries canceled by conflicts with recovery (standbys only)'],
    ['temp_files', 'Temporary files created'],
    ['temp_bytes', 'Bytes written to temporary files'],
    ['deadlocks', 'Deadlocks detected'],
    ['checksum_failures', 'Data page checksum failures'],
    ['blk_read_time', 'Milliseconds spent reading data file blocks'],
    ['blk_write_time', 'Milliseconds spent writing data file blocks'],
    ...(major >= 14
      ? ([
          ['session_time', 'Milliseconds spent by sessions'],
          ['active_time', 'Milliseconds spent executing statements'],
          ['idle_in_transaction_time', 'Milliseconds spent idle in a transaction'],
          ['sessions', 'Sessions established'],
          ['sessions_abandoned', 'Sessions ended because the client went away'],
          ['sessions_fatal', 'Sessions ended by fatal errors'],
          ['sessions_killed', 'Sessions terminated by an operator'],
        ] as [string, string][])
      : []),
  ];
  return query(
    'pg_stat_database',
    `SELECT datid::text, datname, numbackends, ${counters.map(([name]) => `coalesce(${name}, 0) AS ${name}`).join(', ')}
     FROM pg_stat_database WHERE datname IS NOT NULL ORDER BY datname`,
    [
      label('datid'),
      label('datname'),
      gauge('numbackends', 'Backends connected to each database'),
      ...counters.map(([column, description]) => legacy(column, `${description}, per database (a counter)`)),
    ],
  );
}

function statWalQuery(): MetricQuery {
  return query(
    'pg_stat_wal',
    `SELECT wal_records AS records_total, wal_fpi AS fpi_total, wal_bytes::float8 AS bytes_total,
            wal_buffers_full AS buffers_full_total FROM pg_stat_wal`,
    [
      counter('records_total', 'WAL records generated (since the statistics were reset)'),
      counter('fpi_total', 'WAL full page images generated (since the statistics were reset)'),
      counter('bytes_total', 'WAL bytes generated (since the statistics were reset)'),
      counter('buffers_full_total', 'Times WAL was written to disk because the WAL buffers were full'),
    ],
  );
}

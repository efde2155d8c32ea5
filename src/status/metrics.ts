/**
 * `/metrics` in Prometheus text format. Values are set from the same facts `/pg/status` answers
 * with, at scrape time, in a registry of our own (the process-wide default would mix in whatever
 * else registered there). prom-client's default collectors give the manager's RSS and event-loop lag.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { BackupStatus } from '../backup/index.js';
import { lsnToBytes, type ManagerFacts } from './document.js';
import type { PgReading } from './pg-state.js';
import type { LogCounters, Role } from './source.js';

const PREFIX = 'instance_manager_';
const EVENT_LOOP_SAMPLE_MS = 100;
const ROLES: readonly Role[] = ['primary', 'replica'];

export class StatusMetrics {
  private readonly registry = new Registry();
  private readonly up = this.gauge(
    'postgres_up',
    'PostgreSQL accepts connections and answered the status query (1) or not (0)',
  );
  private readonly role = this.gauge(
    'postgres_role',
    'The role PostgreSQL runs in: 1 for the current one, 0 for the other',
    ['role'],
  );
  // Timeline and pending restart keep their last value while PostgreSQL is down: postgres_up says so.
  private readonly timeline = this.gauge('postgres_timeline', 'Timeline PostgreSQL is on');
  private readonly lsn = this.gauge(
    'postgres_wal_lsn_bytes',
    'WAL positions as byte offsets: current (primary), received and replayed (replica)',
    ['position'],
  );
  private readonly lagSeconds = this.gauge(
    'replication_replay_lag_seconds',
    'replay_lag of each standby streaming from this instance',
    ['application_name'],
  );
  private readonly lagBytes = this.gauge('replication_replay_lag_bytes', 'WAL bytes each standby has still to replay', [
    'application_name',
  ]);
  private readonly pendingRestart = this.gauge(
    'postgres_pending_restart',
    'A changed setting needs a restart (1) or not (0)',
  );
  private readonly restarts = this.counter(
    'postmaster_restarts_total',
    'Postmaster restarts since the manager started (crashes and asked-for restarts)',
  );
  private readonly logRecords = this.counter('log_records_total', 'Log records written to stdout, per logger', [
    'logger',
  ]);
  private readonly unparsable = this.counter(
    'log_unparsable_records_total',
    'csvlog records that could not be parsed (written raw)',
  );
  private readonly blankLines = this.counter('log_blank_lines_total', 'Empty csvlog lines skipped (no record)');
  private readonly logBuffer = this.gauge(
    'log_buffer_bytes',
    'Log bytes accepted for stdout and not yet taken by the reader',
  );
  private readonly certificateExpiry = this.gauge(
    'certificate_expiry_timestamp_seconds',
    'When each certificate file expires (notAfter), as Unix seconds',
    ['file'],
  );
  private readonly statusConnections = this.gauge(
    'status_api_open_connections',
    'Connections open to the status API (after their TLS handshake)',
  );
  private readonly statusEvictions = this.counter(
    'status_api_closed_to_make_room_total',
    'Idle status API connections closed to make room for new ones',
  );
  private readonly backupRunning = this.gauge('backup_running', 'A pgBackRest backup runs now (1) or not (0)');
  private readonly backupLast = this.gauge(
    'backup_last_timestamp_seconds',
    'When the last backup started and stopped, as Unix seconds',
    ['type', 'event'],
  );
  private readonly backupLastSize = this.gauge(
    'backup_last_size_bytes',
    'Database size the last backup covers, and what it added to the repository',
    ['size'],
  );
  private readonly backupLastFailed = this.gauge('backup_last_failed', 'The last backup failed (1) or succeeded (0)');
  private readonly archived = this.gauge(
    'wal_archived_segments',
    'WAL segments archived since the statistics were reset (pg_stat_archiver)',
  );
  private readonly archiveFailed = this.gauge(
    'wal_archive_failed_attempts',
    'Failed archive_command runs since the statistics were reset (pg_stat_archiver)',
  );
  private readonly archiveTime = this.gauge(
    'wal_archive_last_timestamp_seconds',
    'When the last WAL segment was archived or failed to be, as Unix seconds',
    ['outcome'],
  );
  private readonly archiveFailing = this.gauge(
    'wal_archive_failing',
    'The last archive attempt failed and none succeeded since (1) or not (0)',
  );

  constructor() {
    // The event-loop lag is sampled by a timer: prom-client's 10 ms woke PID 1 a hundred times a
    // second while idle. 100 ms still catches every stall worth an alert (a probe waits seconds).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    // Gauges named like counters (promtool refuses them); nodejs_active_handles and the others
    // carry the same figures per type.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      this.registry.removeSingleMetric(name);
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The manager's own metric names (prom-client's process and Node collectors left out). */
  get ownNames(): string[] {
    return this.registry
      .getMetricsAsArray()
      .map((metric) => metric.name)
      .filter((name) => name.startsWith(PREFIX));
  }

  /** The status API's own connections: a flood shows here, and so would connections never let go. */
  recordConnections(open: number, closedToMakeRoom: number): void {
    this.statusConnections.set(open);
    setCounter(this.statusEvictions, closedToMakeRoom);
  }

  async render(facts: ManagerFacts, reading: PgReading, logs: LogCounters): Promise<string> {
    const snapshot = reading.ok ? reading.snapshot : undefined;
    this.up.set(snapshot ? 1 : 0);
    // Both roles always: a promotion flips the values, and no series vanishes for alerts to miss.
    const role = snapshot ? (snapshot.inRecovery ? 'replica' : 'primary') : facts.intendedRole;
    for (const each of ROLES) this.role.set({ role: each }, each === role ? 1 : 0);
    this.lsn.reset();
    this.lagSeconds.reset();
    this.lagBytes.reset();
    if (snapshot) {
      if (snapshot.timeline !== null) this.timeline.set(snapshot.timeline);
      this.pendingRestart.set(snapshot.pendingRestart ? 1 : 0);
      const positions = { current: snapshot.currentLsn, received: snapshot.receivedLsn, replayed: snapshot.replayLsn };
      for (const [position, lsn] of Object.entries(positions))
        if (lsn !== null) this.lsn.set({ position }, lsnToBytes(lsn));
      for (const standby of snapshot.replication) {
        const labels = { application_name: standby.applicationName };
        if (standby.replayLag !== null) this.lagSeconds.set(labels, standby.replayLag);
        if (standby.replayLagBytes !== null) this.lagBytes.set(labels, standby.replayLagBytes);
      }
    }
    setCounter(this.restarts, facts.restarts);
    this.logRecords.reset();
    for (const [logger, count] of Object.entries(logs.recordsByLogger)) this.logRecords.inc({ logger }, count);
    setCounter(this.unparsable, logs.unparsableRecords);
    setCounter(this.blankLines, logs.blankLines);
    this.logBuffer.set(logs.bufferedBytes);
    this.certificateExpiry.reset();
    for (const certificate of facts.certificates) {
      this.certificateExpiry.set({ file: certificate.name }, Date.parse(certificate.notAfter) / 1_000);
    }
    if (facts.backup) this.renderBackup(facts.backup);
    return this.registry.metrics();
  }

  private renderBackup(backup: BackupStatus): void {
    this.backupRunning.set(backup.running ? 1 : 0);
    this.backupLast.reset();
    this.backupLastSize.reset();
    const last = backup.last;
    if (last) {
      this.backupLast.set({ type: last.type, event: 'start' }, unixSeconds(last.startedAt));
      if (last.stoppedAt !== null) this.backupLast.set({ type: last.type, event: 'stop' }, unixSeconds(last.stoppedAt));
      if (last.sizeBytes !== null) this.backupLastSize.set({ size: 'database' }, last.sizeBytes);
      if (last.repositorySizeBytes !== null) this.backupLastSize.set({ size: 'repository' }, last.repositorySizeBytes);
      this.backupLastFailed.set(last.error === null ? 0 : 1);
    }
    const archive = backup.archive;
    if (!archive) return;
    this.archived.set(archive.archivedCount);
    this.archiveFailed.set(archive.failedCount);
    this.archiveTime.reset();
    if (archive.lastArchivedAt !== null)
      this.archiveTime.set({ outcome: 'archived' }, unixSeconds(archive.lastArchivedAt));
    if (archive.lastFailedAt !== null) this.archiveTime.set({ outcome: 'failed' }, unixSeconds(archive.lastFailedAt));
    this.archiveFailing.set(archive.failing ? 1 : 0);
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }
}

function unixSeconds(iso: string): number {
  return Date.parse(iso) / 1000;
}

/** The manager owns these counts; the metric mirrors them rather than counting twice. */
function setCounter(counter: Counter, value: number): void {
  counter.reset();
  counter.inc(value);
}

/**
 * `/metrics` in Prometheus text format. Values are set from the same facts `/pg/status` answers
 * with, at scrape time, in a registry of our own (the process-wide default would mix in whatever
 * else registered there). prom-client's default collectors give the manager's RSS and event-loop lag.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { lsnToBytes, type ManagerFacts } from './document.js';
import type { PgReading } from './pg-state.js';
import type { LogCounters, Role } from './source.js';

const PREFIX = 'instance_manager_';
const ROLES: readonly Role[] = ['primary', 'replica'];

export class StatusMetrics {
  private readonly registry = new Registry();
  private readonly up = this.gauge('postgres_up', 'PostgreSQL accepts connections and answered the status query (1) or not (0)');
  private readonly role = this.gauge('postgres_role', 'The role PostgreSQL runs in: 1 for the current one, 0 for the other', [
    'role',
  ]);
  // Timeline and pending restart keep their last value while PostgreSQL is down: postgres_up says so.
  private readonly timeline = this.gauge('postgres_timeline', 'Timeline PostgreSQL is on');
  private readonly lsn = this.gauge('postgres_wal_lsn_bytes', 'WAL positions as byte offsets: current (primary), received and replayed (replica)', ['position']);
  private readonly lagSeconds = this.gauge('replication_replay_lag_seconds', 'replay_lag of each standby streaming from this instance', ['application_name']);
  private readonly lagBytes = this.gauge('replication_replay_lag_bytes', 'WAL bytes each standby has still to replay', ['application_name']);
  private readonly pendingRestart = this.gauge('postgres_pending_restart', 'A changed setting needs a restart (1) or not (0)');
  private readonly restarts = this.counter('postmaster_restarts_total', 'Postmaster restarts since the manager started (crashes and asked-for restarts)');
  private readonly logRecords = this.counter('log_records_total', 'Log records written to stdout, per logger', ['logger']);
  private readonly unparsable = this.counter('log_unparsable_records_total', 'csvlog records that could not be parsed (written raw)');
  private readonly blankLines = this.counter('log_blank_lines_total', 'Empty csvlog lines skipped (no record)');
  private readonly logBuffer = this.gauge('log_buffer_bytes', 'Log bytes accepted for stdout and not yet taken by the reader');
  private readonly certificateExpiry = this.gauge('certificate_expiry_timestamp_seconds',
    'When each certificate file expires (notAfter), as Unix seconds', ['file']);

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters (promtool refuses them); nodejs_active_handles and the others
    // carry the same figures per type.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
  }

  get contentType(): string {
    return this.registry.contentType;
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
      for (const [position, lsn] of Object.entries(positions)) if (lsn !== null) this.lsn.set({ position }, lsnToBytes(lsn));
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
    return this.registry.metrics();
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }
}

/** The manager owns these counts; the metric mirrors them rather than counting twice. */
function setCounter(counter: Counter, value: number): void {
  counter.reset();
  counter.inc(value);
}

/**
 * PostgreSQL's metrics on /metrics against a real PostgreSQL: each default metric against the SQL
 * truth after a known change, postgres_exporter's example queries.yaml as Debian ships it (whose
 * pg_stat_statements query fails here: a broken query beside good ones), a CloudNativePG-style
 * file swapped in while running, the metrics role's privileges, concurrent scrapes, a frozen
 * PostgreSQL, and promtool's verdict on the output.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMetrics, promtoolCheck, scrape } from '../support/metrics.js';
import { postgresProcesses, scratchDir, startManager, type Manager } from '../support/manager.js';
import { FAST_STOP } from '../support/replication.js';
import { ask, waitForStatusApi } from '../support/status.js';

const DEBIAN_EXAMPLE = '/usr/share/doc/prometheus-postgres-exporter/examples/queries.yaml';

describe('/metrics: PostgreSQL', () => {
  let manager: Manager;
  let queriesFile: string;
  const sessions: ChildProcess[] = [];
  const truth = async (sql: string, database = 'postgres') => Number(await manager.psql(sql, ['-d', database]));

  beforeAll(async () => {
    const dir = scratchDir('metrics');
    queriesFile = path.join(dir, 'queries.yaml');
    fs.copyFileSync(DEBIAN_EXAMPLE, queriesFile);
    manager = await startManager({
      dir,
      status: 'http',
      args: ['--metrics-queries', queriesFile, '--metrics-query-timeout', '1', ...FAST_STOP],
    });
    await manager.waitUntilReady();
    await waitForStatusApi(manager.statusBase);
    await manager.waitForMessage('created the metrics role');
    await manager.psql('CREATE DATABASE metrics_db');
    await manager.psql('CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000)', ['-d', 'metrics_db']);
  }, 120_000);

  afterAll(async () => {
    for (const session of sessions) session.kill();
    await manager?.stop();
  });

  const openSession = (sql: string) => {
    const session = manager.openSession(sql, 'metrics_db');
    sessions.push(session);
    return session;
  };

  it('serves version, start time, database size and transaction ID age as PostgreSQL reports them', async () => {
    const metrics = await scrape(manager.statusBase);
    expect(metrics.value('pg_up')).toBe(1);
    const [version] = metrics.samples('pg_static');
    expect(version!.labels.version).toBe(await manager.psql('SELECT version()'));
    expect(version!.labels.short_version).toMatch(
      new RegExp(`^${await manager.psql("SELECT current_setting('server_version_num')::int / 10000")}\\.`),
    );
    // The Debian example's pg_postmaster replaces the default: a timestamp, read to the millisecond.
    expect(metrics.value('pg_postmaster_start_time_seconds')).toBeCloseTo(
      await truth('SELECT extract(epoch FROM pg_postmaster_start_time())::float8'),
      2,
    );
    expect(metrics.value('pg_database_size_bytes', { datname: 'metrics_db' })).toBe(
      await truth("SELECT pg_database_size('metrics_db')"),
    );
    expect(metrics.value('pg_database_xid_age', { datname: 'metrics_db' })).toBe(
      await truth("SELECT age(datfrozenxid) FROM pg_database WHERE datname = 'metrics_db'"),
    );
    expect(metrics.value('pg_settings_max_connections')).toBe(await truth('SHOW max_connections'));
    expect(metrics.value('pg_settings_shared_buffers_bytes')).toBe(
      await truth("SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'"),
    );
  });

  it('counts sessions per database and state, the oldest transaction, and locks per mode', async () => {
    const openedAt = Date.now();
    for (let i = 0; i < 3; i++) openSession('SELECT pg_sleep(600)');
    openSession('BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600)');
    const activeSql = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'metrics_db' AND state = 'active'";
    await expect.poll(() => truth(activeSql), { timeout: 20_000 }).toBe(4);
    const metrics = await scrape(manager.statusBase);
    expect(metrics.value('pg_stat_activity_count', { datname: 'metrics_db', state: 'active' })).toBe(4);
    expect(metrics.value('pg_stat_activity_count', { datname: 'metrics_db', state: 'idle in transaction' })).toBe(0);
    const oldest = metrics.value('pg_stat_activity_max_tx_duration', { datname: 'metrics_db', state: 'active' })!;
    expect(oldest).toBeGreaterThan(0);
    expect(oldest).toBeLessThan((Date.now() - openedAt) / 1_000 + 1);
    const lockSql =
      "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = 'metrics_db' AND l.mode = 'AccessExclusiveLock'";
    expect(metrics.value('pg_locks_count', { datname: 'metrics_db', mode: 'accessexclusivelock' })).toBe(
      await truth(lockSql),
    );
    expect(
      metrics.value('pg_locks_count', { datname: 'metrics_db', mode: 'accessexclusivelock' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metrics.value('pg_stat_database_numbackends', {
        datid: String(await truth("SELECT oid FROM pg_database WHERE datname = 'metrics_db'")),
        datname: 'metrics_db',
      }),
    ).toBe(await truth("SELECT numbackends FROM pg_stat_database WHERE datname = 'metrics_db'"));
    for (const session of sessions.splice(0)) session.kill();
    // A backend in pg_sleep does not notice its client is gone: end them, and the lock with them.
    await manager.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'metrics_db'");
  });

  // archive_mode belongs to the backup configuration (docs/settings.md), so the archiver stays idle
  // here: its figures are checked as they stand, and "never" reads 0.
  it('follows checkpoints and WAL generated, and reports the archiver', async () => {
    const walBefore = await truth("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')");
    await manager.psql('INSERT INTO t SELECT generate_series(1, 20000)', ['-d', 'metrics_db']);
    await manager.psql('CHECKPOINT');
    const requested = await truth('SELECT checkpoints_req FROM pg_stat_bgwriter');
    const metrics = await scrape(manager.statusBase);
    const walAfter = await truth("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')");
    const generated = metrics.value('pg_wal_generated_bytes_total')!;
    expect(generated).toBeGreaterThan(walBefore + 20_000 * 20);
    expect(generated).toBeLessThanOrEqual(walAfter);
    expect(metrics.value('pg_stat_bgwriter_checkpoints_req_total')).toBe(requested);
    expect(requested).toBeGreaterThan(0);
    expect(metrics.value('pg_stat_wal_records_total')).toBeGreaterThan(20_000);
    expect(metrics.value('pg_stat_archiver_archived_count')).toBe(
      await truth('SELECT archived_count FROM pg_stat_archiver'),
    );
    expect(metrics.value('pg_stat_archiver_failed_count')).toBe(
      await truth('SELECT failed_count FROM pg_stat_archiver'),
    );
    expect(metrics.value('pg_stat_archiver_last_archived_timestamp_seconds')).toBe(0);
    expect(metrics.value('pg_stat_archiver_last_failed_timestamp_seconds')).toBe(0);
    expect(metrics.value('pg_stat_archiver_last_archive_age')).toBeNaN();
  });

  it('serves the Debian example queries as postgres_exporter names them, and counts the one that fails without failing the scrape', async () => {
    const metrics = await scrape(manager.statusBase);
    // The example's pg_replication and pg_postmaster replace the defaults of those names.
    expect(metrics.value('pg_replication_lag')).toBe(0);
    expect(metrics.samples('pg_stat_user_tables_seq_scan')).toEqual([]); // no table in postgres
    expect(metrics.value('pg_exporter_query_errors_total', { query: 'pg_stat_statements' })).toBeGreaterThanOrEqual(1);
    expect(metrics.value('pg_exporter_query_errors_total', { query: 'pg_postmaster' })).toBe(0);
    expect(metrics.value('pg_exporter_last_scrape_error')).toBe(1);
    expect(metrics.value('pg_exporter_user_queries_load_error', { filename: queriesFile })).toBe(0);
    // Logged once, however many scrapes saw it fail.
    await scrape(manager.statusBase);
    expect(
      manager.lines.filter(
        (line) => line.msg.startsWith('metrics query failed') && line.query === 'pg_stat_statements',
      ),
    ).toHaveLength(1);
    expect(manager.lines.some((line) => line.msg === 'metrics query left out')).toBe(false);
  });

  it('takes up a changed file at the next scrape: target_databases, a query over its timeout, a broken file', async () => {
    fs.writeFileSync(
      `${queriesFile}.new`,
      `
app_tables:
  query: "SELECT count(*) AS count_tables FROM pg_tables WHERE schemaname = 'public'"
  target_databases: '*'
  metrics:
    - count_tables: {usage: GAUGE, description: Tables in public}
slow:
  query: SELECT pg_sleep(3) AS slept
  metrics:
    - slept: {usage: GAUGE, description: never seen}
only_primary:
  query: SELECT 1 AS one
  primary: true
  metrics:
    - one: {usage: GAUGE, description: one}
`,
    );
    // As the kubelet updates a ConfigMap: a new file renamed into place.
    fs.renameSync(`${queriesFile}.new`, queriesFile);
    const began = Date.now();
    const metrics = await scrape(manager.statusBase);
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(metrics.value('app_tables_count_tables', { datname: 'metrics_db' })).toBe(1);
    expect(metrics.value('app_tables_count_tables', { datname: 'postgres' })).toBe(0);
    expect(metrics.value('only_primary_one')).toBe(1);
    expect(metrics.samples('slow_slept')).toEqual([]);
    expect(metrics.value('pg_exporter_query_errors_total', { query: 'slow' })).toBe(1);
    expect(
      manager.lines.find((line) => line.msg.startsWith('metrics query failed') && line.query === 'slow')?.err,
    ).toMatch(/statement timeout/);
    // The defaults the old file replaced are back.
    expect(metrics.value('pg_replication_is_replica')).toBe(0);

    fs.writeFileSync(queriesFile, 'app_tables: [1\n');
    const broken = await scrape(manager.statusBase);
    expect(broken.value('pg_exporter_user_queries_load_error', { filename: queriesFile })).toBe(1);
    expect(broken.value('app_tables_count_tables', { datname: 'metrics_db' })).toBe(1);
    expect(manager.lines.find((line) => line.msg.startsWith('metrics queries file refused'))?.err).toMatch(
      /queries\.yaml:\d+: not valid YAML/,
    );
  });

  it('queries as metrics_monitor: a pg_monitor member, never a superuser, read-only with a statement timeout', async () => {
    expect(
      await manager.psql(
        "SELECT rolsuper, rolcanlogin, pg_has_role('metrics_monitor', 'pg_monitor', 'member') FROM pg_roles WHERE rolname = 'metrics_monitor'",
      ),
    ).toBe('f|t|t');
    fs.writeFileSync(
      queriesFile,
      `
who:
  query: "SELECT current_user AS name, current_setting('transaction_read_only') AS ro, current_setting('statement_timeout') AS timeout, 1 AS up"
  metrics:
    - name: {usage: LABEL, description: role}
    - ro: {usage: LABEL, description: read only}
    - timeout: {usage: LABEL, description: timeout}
    - up: {usage: GAUGE, description: one}
writer:
  query: "CREATE TABLE sneaky AS SELECT 1 AS one"
  metrics:
    - one: {usage: GAUGE, description: never}
`,
    );
    const metrics = await scrape(manager.statusBase);
    expect(metrics.samples('who_up')).toEqual([
      { labels: { name: 'metrics_monitor', ro: 'on', timeout: '1s' }, value: 1 },
    ]);
    expect(metrics.value('pg_exporter_query_errors_total', { query: 'writer' })).toBe(1);
    expect(await manager.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'sneaky'")).toBe('0');
  });

  it('shares one collection between concurrent scrapes', async () => {
    const before = (await scrape(manager.statusBase)).value('pg_exporter_scrapes_total')!;
    const answers = await Promise.all(Array.from({ length: 8 }, () => scrape(manager.statusBase)));
    const counts = answers.map((answer) => answer.value('pg_exporter_scrapes_total')!);
    // Eight scrapes at once cost fewer collections than eight (usually one).
    expect(Math.max(...counts) - before).toBeLessThan(8);
  });

  it('passes promtool check metrics', async () => {
    fs.writeFileSync(queriesFile, '');
    const metrics = await scrape(manager.statusBase);
    const { code, output } = await promtoolCheck(metrics.text);
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it("answers with pg_up 0 and the manager's metrics while PostgreSQL is frozen", async () => {
    const postmasterPid = Number(fs.readFileSync(path.join(manager.pgdata, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const frozen = postgresProcesses(postmasterPid);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      const answer = await ask(`${manager.statusBase}/metrics`, { timeoutMs: 20_000 });
      expect(answer.status).toBe(200);
      const metrics = parseMetrics(answer.body);
      expect(metrics.value('pg_up')).toBe(0);
      expect(metrics.value('instance_manager_postgres_up')).toBe(0);
      expect(metrics.value('pg_exporter_last_scrape_error')).toBe(1);
      expect((await promtoolCheck(answer.body)).code).toBe(0);
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
    await expect.poll(async () => (await scrape(manager.statusBase)).value('pg_up'), { timeout: 20_000 }).toBe(1);
  });
});

/**
 * The default metrics on every supported major, each with its own binaries: every default query
 * runs without error (their SQL differs by major: pg_stat_checkpointer from 17, pg_stat_wal and the
 * session counters from 14), and the output passes promtool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startManager, type Manager } from '../support/manager.js';
import { promtoolCheck, scrape } from '../support/metrics.js';
import { pgBinFor, SUPPORTED_MAJORS } from '../support/pg-majors.js';
import { waitForStatusApi } from '../support/status.js';

describe.each(SUPPORTED_MAJORS)('/metrics on PostgreSQL %i', (major) => {
  let manager: Manager;

  beforeAll(async () => {
    const args = ['--pg-bin', pgBinFor(major), '--smart-shutdown-timeout', '5', '--stop-timeout', '10'];
    manager = await startManager({ status: 'http', args });
    await manager.waitUntilReady();
    await waitForStatusApi(manager.statusBase);
    await manager.waitForMessage('created the metrics role');
  });

  afterAll(async () => {
    await manager?.stop('SIGKILL', 1_000);
  });

  it('runs every default query as metrics_monitor, and passes promtool', async () => {
    await manager.psql('CHECKPOINT');
    const requested =
      major >= 17 ? 'SELECT num_requested FROM pg_stat_checkpointer' : 'SELECT checkpoints_req FROM pg_stat_bgwriter';
    // Up to 14 the statistics travel through the collector and show up a moment later.
    await expect.poll(() => manager.psql(requested), { timeout: 10_000 }).not.toBe('0');
    const metrics = await scrape(manager.statusBase);
    expect(metrics.value('pg_up')).toBe(1);
    expect(metrics.samples('pg_exporter_query_errors_total').filter((sample) => sample.value > 0)).toEqual([]);
    expect(metrics.value('pg_exporter_last_scrape_error')).toBe(0);
    expect(metrics.samples('pg_static')[0]!.labels.short_version).toMatch(new RegExp(`^${major}\\.`));
    expect(metrics.value('pg_stat_bgwriter_checkpoints_req_total')).toBe(Number(await manager.psql(requested)));
    expect(metrics.samples('pg_stat_wal_records_total')).toHaveLength(major >= 14 ? 1 : 0);
    expect(metrics.samples('pg_stat_database_sessions').length > 0).toBe(major >= 14);
    expect(metrics.value('pg_database_size_bytes', { datname: 'postgres' })).toBe(
      Number(await manager.psql("SELECT pg_database_size('postgres')")),
    );
    expect(metrics.value('pg_settings_max_connections')).toBe(Number(await manager.psql('SHOW max_connections')));
    expect((await promtoolCheck(metrics.text)).output).toBe('');
  });
});

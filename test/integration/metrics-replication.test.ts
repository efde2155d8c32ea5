/**
 * Replication on /metrics, against the SQL truth: a primary's view of its standby (sent, write,
 * flush and replay lag in bytes and seconds, the standby's slot) and the replica's own positions,
 * while the replica's replay is paused so that it lags for certain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manager } from '../support/manager.js';
import { promtoolCheck, scrape } from '../support/metrics.js';
import { clusterDir, rowReachesReplica, startNode, waitUntil } from '../support/replication.js';
import { waitForStatusApi } from '../support/status.js';

describe('/metrics on a primary and its replica with replay paused', () => {
  let primary: Manager;
  let replica: Manager;
  const number = async (node: Manager, sql: string) => Number(await node.psql(sql));

  beforeAll(async () => {
    const { authorities } = clusterDir('metrics-replica');
    primary = await startNode({ authorities, serverNames: ['127.0.0.1'], podName: 'pg-1', status: 'http' });
    await primary.waitUntilReady();
    replica = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'pg-2',
      replicaOf: `127.0.0.1:${primary.port}`,
      status: 'http',
    });
    await waitForStatusApi(replica.statusBase);
    await replica.waitUntilReady(120_000);
    await rowReachesReplica(primary, replica, 'metrics');
    await replica.psql('SELECT pg_wal_replay_pause()');
    await primary.psql("CREATE TABLE behind AS SELECT repeat('x', 100) AS filler FROM generate_series(1, 20000)");
    // Written and flushed by the standby, not replayed.
    await waitUntil(
      'the standby flushed WAL it does not replay',
      async () =>
        (await number(
          primary,
          "SELECT pg_wal_lsn_diff(flush_lsn, replay_lsn) FROM pg_stat_replication WHERE application_name = 'pg-2'",
        )) > 1_000_000,
      30_000,
    );
  }, 240_000);

  afterAll(async () => {
    await replica?.stop();
    await primary?.stop();
  });

  it("shows the primary each standby's lag in bytes and seconds, as pg_stat_replication says", async () => {
    const standby = { application_name: 'pg-2', client_addr: '127.0.0.1', state: 'streaming' };
    const truthSql = `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn) || ',' || pg_wal_lsn_diff(pg_current_wal_lsn(), write_lsn) || ','
      || pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn) || ',' || pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) || ','
      || pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') FROM pg_stat_replication WHERE application_name = 'pg-2'`;
    // The standby reports its positions every few seconds: compare a scrape with the truth read right after it.
    await expect
      .poll(
        async () => {
          const metrics = await scrape(primary.statusBase);
          const seen = ['sent', 'write', 'flush', 'replay'].map((kind) =>
            metrics.value(`pg_stat_replication_${kind}_lag_bytes`, standby),
          );
          return (
            [...seen, metrics.value('pg_stat_replication_pg_current_wal_lsn_bytes', standby)].join(',') ===
            (await primary.psql(truthSql))
          );
        },
        { timeout: 30_000 },
      )
      .toBe(true);
    const metrics = await scrape(primary.statusBase);
    expect(metrics.value('pg_stat_replication_replay_lag_bytes', standby)).toBeGreaterThan(1_000_000);
    expect(metrics.value('pg_stat_replication_pg_wal_lsn_diff', standby)).toBe(
      metrics.value('pg_stat_replication_replay_lag_bytes', standby),
    );
    for (const kind of ['write', 'flush', 'replay'])
      expect(metrics.value(`pg_stat_replication_${kind}_lag_seconds`, standby)).toBeGreaterThanOrEqual(0);
    expect(metrics.value('pg_replication_is_replica')).toBe(0);
    expect(metrics.value('pg_replication_lag_seconds')).toBe(0);
    expect(metrics.samples('pg_replication_replay_lag_bytes')).toEqual([]);
    expect((await promtoolCheck(metrics.text)).output).toBe('');
  });

  it("shows the primary the standby's slot: active, and the WAL it holds back", async () => {
    const slot = await primary.psql('SELECT slot_name FROM pg_replication_slots');
    const labels = { slot_name: slot, database: '', slot_type: 'physical' };
    await expect
      .poll(
        async () => {
          const metrics = await scrape(primary.statusBase);
          const truth = await number(
            primary,
            'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots',
          );
          return (
            metrics.value('pg_replication_slots_active', labels) === 1 &&
            metrics.value('pg_replication_slots_pg_wal_lsn_diff', labels) === truth
          );
        },
        { timeout: 30_000 },
      )
      .toBe(true);
  });

  it('shows the replica its received and replayed positions and how far replay lags', async () => {
    // Replay is paused, so its position holds still; what is received still moves with the
    // primary's background WAL, so the scrape is bracketed by readings taken before and after it.
    const received = () => number(replica, "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')");
    const receivedBefore = await received();
    const metrics = await scrape(replica.statusBase);
    const receivedAfter = await received();
    const replayed = await number(replica, "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')");
    expect(metrics.value('pg_up')).toBe(1);
    expect(metrics.value('pg_replication_is_replica')).toBe(1);
    expect(metrics.value('pg_replication_wal_receiver_up')).toBe(1);
    const scrapedReceived = metrics.value('pg_replication_receive_lsn_bytes')!;
    expect(scrapedReceived).toBeGreaterThanOrEqual(receivedBefore);
    expect(scrapedReceived).toBeLessThanOrEqual(receivedAfter);
    expect(metrics.value('pg_replication_replay_lsn_bytes')).toBe(replayed);
    const lag = metrics.value('pg_replication_replay_lag_bytes')!;
    expect(lag).toBeGreaterThanOrEqual(receivedBefore - replayed);
    expect(lag).toBeLessThanOrEqual(receivedAfter - replayed);
    expect(metrics.value('pg_replication_replay_lag_bytes')).toBeGreaterThan(1_000_000);
    expect(metrics.value('pg_replication_lag_seconds')).toBeGreaterThan(0);
    // Primary-only figures are absent, not zero.
    expect(metrics.samples('pg_wal_generated_bytes_total')).toEqual([]);
    expect(metrics.samples('pg_stat_replication_replay_lag_bytes')).toEqual([]);
    expect(metrics.value('pg_exporter_last_scrape_error')).toBe(0);
    expect((await promtoolCheck(metrics.text)).output).toBe('');

    await replica.psql('SELECT pg_wal_replay_resume()');
    await expect
      .poll(async () => (await scrape(replica.statusBase)).value('pg_replication_replay_lag_bytes'), {
        timeout: 30_000,
      })
      .toBe(0);
    expect((await scrape(replica.statusBase)).value('pg_replication_lag_seconds')).toBe(0);
  });
});

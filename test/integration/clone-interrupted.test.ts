/**
 * SIGTERM during a replica's clone: pg_basebackup and the WAL-streaming child it forks are stopped as
 * one process group, the manager exits only after they are gone, and no walsender stays busy on the
 * primary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostProcesses, type Manager } from '../support/manager.js';
import { clusterDir, startNode, waitUntil, type Authorities } from '../support/replication.js';

describe('a clone interrupted by SIGTERM', () => {
  let authorities: Authorities;
  let primary: Manager;
  const stopped: number[] = [];

  beforeAll(async () => {
    ({ authorities } = clusterDir('clone-interrupted'));
    primary = await startNode({ authorities, serverNames: ['127.0.0.1'], podName: 'pg-1' });
    await primary.waitUntilReady();
    // Enough data that the copy is still running when the test holds it (a 10% fill factor: ~60 MB).
    await primary.psql(
      'CREATE TABLE padding (n int) WITH (fillfactor = 10); INSERT INTO padding SELECT generate_series(1, 150000)',
    );
  });

  afterAll(async () => {
    for (const pid of stopped) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Gone.
      }
    }
    await primary?.stop();
  });

  it('leaves no pg_basebackup process and no walsender behind', async () => {
    const replica = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'pg-2',
      replicaOf: `127.0.0.1:${primary.port}`,
    });
    // Hold the copy where the bug bit: the base backup's walsender stopped, its WAL streamer running.
    let backupSender = '';
    await waitUntil(
      'the base backup to start',
      async () => {
        backupSender = await primary.psql(
          "SELECT pid FROM pg_stat_progress_basebackup WHERE phase = 'streaming database files'",
        );
        return backupSender !== '';
      },
      60_000,
    );
    process.kill(Number(backupSender), 'SIGSTOP');
    stopped.push(Number(backupSender));
    const basebackups = () => hostProcesses().filter((entry) => entry.command === 'pg_basebackup');
    await waitUntil('pg_basebackup to fork its WAL streamer', async () => basebackups().length === 2, 30_000);
    await waitUntil(
      'the WAL streamer to stream',
      async () => (await primary.psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")) === '1',
      30_000,
    );

    const began = Date.now();
    expect(await replica.stop('SIGTERM', 60_000)).toBe(0);
    expect(Date.now() - began).toBeLessThan(20_000);
    expect(replica.lines.find((line) => line.msg === 'clone abandoned: stop requested')).toBeDefined();
    expect(basebackups()).toEqual([]);

    process.kill(Number(backupSender), 'SIGCONT');
    // Each walsender notices its client is gone (the one held, as soon as it runs again).
    await waitUntil(
      'no walsender on the primary',
      async () =>
        (await primary.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'")) === '0',
      30_000,
    );
  });
});

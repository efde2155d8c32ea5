/**
 * Switchover through `instance-manager switchover`, two instances in two network namespaces with
 * real TLS, under a write load that records every acknowledged commit; and the refused actions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, WriteLoad, type ClusterNode } from '../support/cluster.js';
import { waitUntil } from '../support/replication.js';

describe('switchover', () => {
  const cluster = new Cluster(['10.232.0.1', '10.232.0.2'], 'sw');
  let a: ClusterNode;
  let b: ClusterNode;

  beforeAll(async () => {
    await cluster.start();
    [a, b] = cluster.nodes as [ClusterNode, ClusterNode];
    await a.manager.psql('CREATE TABLE load (id int PRIMARY KEY)');
    await waitUntil('the replica is ready', async () => (await cluster.status(b)).isReady, 30_000);
  }, 240_000);

  afterAll(async () => {
    await cluster.stop();
  });

  it('refuses a demotion to itself, to an unreachable host, to a replica not streaming from it, of a replica, and concurrent actions', async () => {
    const self = await cluster.act(a, 'demote', { primary: a.pg });
    expect(self.status).toBe(422);
    expect(self.body).toMatch(/is this instance/);
    const unreachable = await cluster.act(a, 'demote', { primary: '10.232.0.9:5432' });
    expect(unreachable.status).toBe(422);
    expect(unreachable.body).toMatch(/cannot reach 10.232.0.9:5432/);
    expect((await cluster.act(b, 'demote', { primary: a.pg })).status).toBe(409);
    expect((await cluster.act(a, 'demote', { primary: 'not an address' })).status).toBe(400);
    // A replica whose walreceiver is frozen: the primary drops it after wal_sender_timeout (5 s).
    const walReceiver = Number(await b.manager.psql('SELECT pid FROM pg_stat_wal_receiver'));
    process.kill(walReceiver, 'SIGSTOP');
    try {
      await waitUntil(
        'a has no walsender',
        async () => (await a.manager.psql('SELECT count(*) FROM pg_stat_replication')) === '0',
        30_000,
      );
      const notStreaming = await cluster.act(a, 'demote', { primary: b.pg });
      expect(notStreaming.status).toBe(409);
      expect(notStreaming.body).toMatch(/neither a primary nor a replica streaming from this one/);
    } finally {
      process.kill(walReceiver, 'SIGCONT');
    }
    await waitUntil('b streams again', async () => (await cluster.status(b)).isReady, 30_000);
    expect(await cluster.status(a)).toMatchObject({ role: 'primary', isReady: true, fenced: false });

    const [fence, reload] = await Promise.all([cluster.act(b, 'fence'), cluster.act(b, 'reload')]);
    expect([fence.status, reload.status].sort()).toEqual([200, 409]);
    if (fence.status !== 200) expect((await cluster.act(b, 'fence')).status).toBe(200);
    expect(await cluster.status(b)).toMatchObject({
      fenced: true,
      fence: { by: 'instance-manager-operator' },
      phase: 'held',
      postmasterPid: null,
    });
    const promoteFenced = await cluster.cli(['promote', '--url', b.url]);
    expect(promoteFenced.code).toBe(1);
    expect(promoteFenced.stderr).toMatch(
      /^instance-manager: promote refused \(409\): fenced by instance-manager-operator/,
    );
    const unfenced = await cluster.cli(['unfence', '--url', b.url]);
    expect(unfenced).toMatchObject({ code: 0, stdout: 'unfenced: PostgreSQL accepts connections\n' });
    await waitUntil('the replica streams again', async () => (await cluster.status(b)).isReady, 30_000);
  });

  it('switches over 5 times back and forth under writes: no committed transaction lost, both streaming', async () => {
    const load = new WriteLoad([a, b]);
    await waitUntil('the load commits', async () => load.committed.length > 20, 10_000);
    const gaps: number[] = [];
    for (let round = 0; round < 5; round++) {
      const [from, to] = round % 2 === 0 ? [a, b] : [b, a];
      const before = load.longestGapMs;
      load.longestGapMs = 0;
      const result = await cluster.cli(['switchover', '--from', from.url, '--to', to.url]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(
        result.stdout
          .split('\n')
          .filter(Boolean)
          .map((line) => line.split(/[: ]/)[0]),
      ).toEqual(['check', 'demote', 'catch-up', 'promote', 'rejoin', 'switchover']);
      const after = load.committed.length;
      await waitUntil('the load commits on the new primary', async () => load.committed.length > after + 5, 30_000);
      gaps.push(Math.round(load.longestGapMs));
      load.longestGapMs = Math.max(before, load.longestGapMs);
    }
    const committed = await load.stop();
    console.log(`switchover write gaps (ms): ${gaps.join(', ')}; ${committed.length} commits`);
    // Five switchovers: b is the primary now, a streams from it.
    const onB = await cluster.status(b);
    expect(onB).toMatchObject({ role: 'primary', timeline: 6 });
    const ids = (await b.manager.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM load")).split(',').map(Number);
    const present = new Set(ids);
    expect(committed.filter((id) => !present.has(id))).toEqual([]);
    await waitUntil(
      'a streams from b',
      async () => {
        const onA = await cluster.status(a);
        return onA.role === 'replica' && onA.isWalReceiverActive === true && onA.following === b.pg;
      },
      30_000,
    );
    expect(await cluster.status(b)).toMatchObject({
      replication: [expect.objectContaining({ applicationName: 'pg-0', state: 'streaming' })],
    });
    expect(await cluster.status(a)).toMatchObject({
      fenced: false,
      timeline: 6,
      controlData: expect.objectContaining({ timeline: expect.any(Number), systemIdentifier: onB.systemID }),
    });

    // The wrong way round: a failed step is named, and nothing was changed.
    const wrong = await cluster.cli(['switchover', '--from', a.url, '--to', b.url]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /^instance-manager: switchover failed at step check: .* is not a ready primary .*; nothing was changed\n$/,
    );
  }, 600_000);
});

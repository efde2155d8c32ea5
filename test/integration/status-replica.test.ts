/**
 * The status API on a primary and its streaming replica (certificates by openssl, TLS between them):
 * the replica's fields and readiness, the primary's view of its standby, and a failover through
 * POST /pg/promote with the operator's certificate.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manager } from '../support/manager.js';
import type { OpensslPair } from '../support/openssl.js';
import { clusterDir, rowReachesReplica, startNode, waitUntil } from '../support/replication.js';
import { opensslLeaf } from '../support/secrets.js';
import { ask, waitForStatusApi } from '../support/status.js';

type Status = Record<string, unknown> & { replication: Record<string, unknown>[] };

describe('status API on a primary and its replica', () => {
  let primary: Manager;
  let replica: Manager;
  let ca: string;
  let operator: OpensslPair;

  const status = async (node: Manager): Promise<Status> =>
    JSON.parse((await ask(`${node.statusBase}/pg/status`, { ca })).body) as Status;
  const code = async (node: Manager, probe: string): Promise<number> =>
    (await ask(`${node.statusBase}/${probe}`, { ca })).status;
  const promote = (node: Manager, client?: OpensslPair) =>
    ask(`${node.statusBase}/pg/promote`, {
      method: 'POST',
      ca,
      timeoutMs: 90_000,
      ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
    });

  beforeAll(async () => {
    const { dir, authorities } = clusterDir('status-replica');
    ca = authorities.serverCa.certPem;
    operator = opensslLeaf(path.join(dir, 'operator'), authorities.clientCa, { cn: 'instance-manager-operator' });
    primary = await startNode({ authorities, serverNames: ['127.0.0.1'], podName: 'pg-1', status: 'https' });
    await primary.waitUntilReady();
    replica = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'pg-2',
      replicaOf: `127.0.0.1:${primary.port}`,
      status: 'https',
    });
    await waitForStatusApi(replica.statusBase, { ca });
    await replica.waitUntilReady(120_000);
    await rowReachesReplica(primary, replica, 'status');
  });

  afterAll(async () => {
    await replica?.stop();
    await primary?.stop();
  });

  it('reports a streaming replica as ready, with its received and replayed positions', async () => {
    await waitUntil('the replica is ready', async () => (await code(replica, 'readyz')) === 200, 20_000);
    const [onReplica, onPrimary] = [await status(replica), await status(primary)];
    expect(onReplica).toMatchObject({
      role: 'replica',
      isReady: true,
      timeline: 1,
      isWalReceiverActive: true,
      systemID: onPrimary.systemID,
      pgVersion: onPrimary.pgVersion,
      replication: [],
    });
    expect(onReplica).not.toHaveProperty('currentLsn');
    expect(onReplica.receivedLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(onReplica.replayLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(await code(replica, 'startupz')).toBe(200);
    const metrics = (await ask(`${replica.statusBase}/metrics`, { ca })).body;
    expect(metrics).toMatch(/^instance_manager_postgres_role\{role="replica"\} 1$/m);
    expect(metrics).toMatch(/^instance_manager_postgres_wal_lsn_bytes\{position="replayed"\} \d+$/m);
  });

  it('shows the primary its standby, with lag, in /pg/status and /metrics', async () => {
    await waitUntil(
      'the standby has a replay position',
      async () => (await status(primary)).replication[0]?.replayLsn != null,
      10_000,
    );
    const onPrimary = await status(primary);
    expect(onPrimary.role).toBe('primary');
    expect(onPrimary.replication).toEqual([
      {
        applicationName: 'pg-2',
        state: 'streaming',
        sentLsn: expect.stringMatching(/\//),
        replayLsn: expect.stringMatching(/\//),
        replayLag: expect.toSatisfy((lag) => lag === null || typeof lag === 'number'),
        syncState: 'async',
      },
    ]);
    const metrics = (await ask(`${primary.statusBase}/metrics`, { ca })).body;
    expect(metrics).toMatch(/^instance_manager_replication_replay_lag_bytes\{application_name="pg-2"\} \d+$/m);
  });

  it('refuses to promote a primary (409) and anyone without the operator certificate (401)', async () => {
    expect((await promote(primary, operator)).status).toBe(409);
    expect((await promote(replica)).status).toBe(401);
  });

  it('is not ready once its primary is gone, and is promoted through the API', async () => {
    await primary.stop();
    await waitUntil(
      'the replica notices its primary is gone',
      async () => (await code(replica, 'readyz')) === 503,
      30_000,
    );
    expect(await code(replica, 'healthz')).toBe(200);
    expect(await status(replica)).toMatchObject({ role: 'replica', isReady: false, isWalReceiverActive: false });

    const promoted = await promote(replica, operator);
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatch(/timeline 2/);
    expect(replica.lines.find((line) => line.msg === 'operator action' && line.action === 'promote')?.operator).toBe(
      'instance-manager-operator',
    );
    expect(await code(replica, 'readyz')).toBe(200);
    const after = await status(replica);
    expect(after).toMatchObject({ role: 'primary', isReady: true, timeline: 2 });
    expect(after.currentLsn).toMatch(/\//);
    expect((await promote(replica, operator)).status).toBe(409);
  });
});

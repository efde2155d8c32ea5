/**
 * A primary and its replicas under the manager on one machine: clone and streaming over verified
 * TLS, refusals that say why, restarts on either side, promotion.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manager } from '../support/manager.js';
import { opensslCa } from '../support/secrets.js';
import {
  clusterDir,
  nodeDir,
  rowReachesReplica,
  startNode,
  waitUntil,
  walSenders,
  type Authorities,
} from '../support/replication.js';

describe('replication on one machine', () => {
  let dir: string;
  let authorities: Authorities;
  let primary: Manager;
  let replica: Manager;
  const replicaOf = () => `127.0.0.1:${primary.port}`;

  beforeAll(async () => {
    ({ dir, authorities } = clusterDir('replication'));
    primary = await startNode({
      authorities,
      serverNames: ['127.0.0.1', 'localhost'],
      listen: '127.0.0.1,127.0.0.2',
      podName: 'pg-1',
    });
    await primary.waitUntilReady();
  });

  afterAll(async () => {
    await Promise.all([replica?.stop(), primary?.stop()]);
  });

  it('the primary has the streaming_replica role, certificate only', async () => {
    await waitUntil(
      'the replication role',
      async () =>
        (await primary.psql(
          "SELECT rolreplication AND rolcanlogin AND rolpassword IS NULL FROM pg_authid WHERE rolname = 'streaming_replica'",
        )) === 't',
      10_000,
    );
  });

  it('refuses a replica whose client certificate comes from another CA, and says why', async () => {
    const stranger = opensslCa(path.join(dir, 'stranger-ca'), 'another client CA');
    const refused = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'pg-stranger',
      replicaOf: replicaOf(),
      clientCa: stranger,
    });
    // Under TLS 1.3 the server judges the client certificate after the client's handshake is done:
    // libpq then usually reads the alert, but may see the connection close first. Every attempt is
    // reported, and the refusal is named as such once libpq saw the alert.
    const failure = await refused.waitForLine(
      (line) => line.msg === 'clone failed; retrying' && line.cause === 'client-certificate-refused',
      30_000,
    );
    expect(failure).toMatchObject({ level: 'warning' });
    expect(String(failure.explanation)).toMatch(/client certificate/);
    expect(String(failure.err)).toMatch(/alert unknown ca/);
    // Retried, never anything weaker, and nothing half-cloned left to start.
    await refused.waitForLine((line) => line.msg === 'clone failed; retrying' && Number(line.attempt) >= 2, 30_000);
    expect(refused.lines.some((line) => line.msg === 'PostgreSQL started')).toBe(false);
    expect(fs.readdirSync(refused.pgdata)).toEqual([]);
    expect(await refused.stop()).toBe(0);
    expect(await primary.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'im_pg_stranger'")).toBe(
      '0',
    );
  });

  it('refuses a primary whose certificate is not signed by the trusted server CA, or does not carry the host name', async () => {
    const otherServerCa = opensslCa(path.join(dir, 'other-server-ca'), 'another server CA');
    const untrusting = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'pg-untrusting',
      replicaOf: replicaOf(),
      trustedServerCa: otherServerCa,
    });
    const wrongName = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'pg-wrong-name',
      replicaOf: `127.0.0.2:${primary.port}`,
    });
    await expect(untrusting.waitForMessage('clone failed; retrying', 30_000)).resolves.toMatchObject({
      cause: 'primary-certificate-untrusted',
    });
    await expect(wrongName.waitForMessage('clone failed; retrying', 30_000)).resolves.toMatchObject({
      cause: 'primary-name-mismatch',
    });
    expect(await Promise.all([untrusting.stop(), wrongName.stop()])).toEqual([0, 0]);
  });

  it('clones over verified TLS, logs progress, and streams a row within 5 s', async () => {
    // What a clone killed halfway leaves behind: it must be thrown away, never started.
    const node = { authorities, serverNames: ['127.0.0.1'], podName: 'pg-2', replicaOf: replicaOf() };
    const { dir: replicaDir } = nodeDir(node);
    fs.mkdirSync(path.join(replicaDir, '.pgdata.cloning', 'global'), { recursive: true });
    fs.writeFileSync(path.join(replicaDir, '.pgdata.cloning', 'half-copied'), 'x');
    replica = await startNode({ ...node, dir: replicaDir });
    await replica.waitUntilReady();
    expect(fs.existsSync(path.join(replicaDir, '.pgdata.cloning'))).toBe(false);
    expect(fs.existsSync(path.join(replica.pgdata, 'half-copied'))).toBe(false);
    const progress = replica.lines.filter((line) => line.msg === 'clone progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ percent: 100 });
    expect(progress.at(-1)!.doneBytes).toBe(progress.at(-1)!.totalBytes);
    expect(await replica.psql('SELECT pg_is_in_recovery()')).toBe('t');

    await rowReachesReplica(primary, replica, 'first');
    expect(await walSenders(primary)).toEqual([
      expect.objectContaining({
        application_name: 'pg-2',
        state: 'streaming',
        ssl: true,
        client_dn: '/CN=streaming_replica',
        version: 'TLSv1.3',
      }),
    ]);
    expect(await primary.psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'im_pg_2'")).toBe('t');
  });

  it('a restarted replica streams again, following the primary under a new address, and gets its slot back', async () => {
    expect(await replica.stop()).toBe(0);
    // As after a failover: the primary has never heard of this replica's slot.
    await primary.psql("SELECT pg_drop_replication_slot('im_pg_2')");
    replica = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'pg-2',
      replicaOf: `localhost:${primary.port}`,
      dir: replica.dir,
      port: replica.port,
    });
    await replica.waitUntilReady();
    expect(replica.lines.some((line) => line.msg === 'cloning the primary with pg_basebackup')).toBe(false);
    await rowReachesReplica(primary, replica, 'after replica restart');
    expect(await replica.psql('SELECT sender_host FROM pg_stat_wal_receiver')).toBe('localhost');
    expect(replica.lines.some((line) => line.msg === "created this replica's slot on the primary")).toBe(true);
    expect(await primary.psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'im_pg_2'")).toBe('t');
  });

  it('the replica reconnects by itself after the primary restarts', async () => {
    expect(await primary.stop()).toBe(0);
    primary = await startNode({
      authorities,
      serverNames: ['127.0.0.1', 'localhost'],
      listen: '127.0.0.1,127.0.0.2',
      podName: 'pg-1',
      dir: primary.dir,
      port: primary.port,
    });
    await primary.waitUntilReady();
    await rowReachesReplica(primary, replica, 'after primary restart', 30_000);
    await waitUntil(
      'streaming again',
      async () => (await walSenders(primary)).some((sender) => sender.state === 'streaming' && sender.ssl),
      10_000,
    );
  });
});

/**
 * A replica crossing a real network: primary and replica in two network namespaces joined by a veth
 * pair, each with its own address, the primary's certificate naming its IP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manager } from '../support/manager.js';
import { clusterDir, NamespacePair, rowReachesReplica, startNode, walSenders } from '../support/replication.js';

describe('replication between two network namespaces', () => {
  const addresses: [string, string] = ['10.231.0.1', '10.231.0.2'];
  let namespaces: NamespacePair;
  let primary: Manager;
  let replica: Manager;

  beforeAll(async () => {
    namespaces = new NamespacePair(addresses, 'repl');
    const { authorities } = clusterDir('netns');
    primary = await startNode({
      authorities,
      serverNames: [addresses[0]],
      podName: 'pg-a',
      wrapper: namespaces.wrapper(0),
    });
    await primary.waitUntilReady();
    replica = await startNode({
      authorities,
      serverNames: [addresses[1]],
      podName: 'pg-b',
      wrapper: namespaces.wrapper(1),
      replicaOf: `${addresses[0]}:${primary.port}`,
    });
    await replica.waitUntilReady();
  });

  afterAll(async () => {
    await Promise.all([replica?.stop(), primary?.stop()]);
    namespaces?.remove();
  });

  it('streams over verified TLS from the other namespace', async () => {
    await rowReachesReplica(primary, replica, 'across the veth pair');
    expect(await walSenders(primary)).toEqual([
      expect.objectContaining({
        application_name: 'pg-b',
        state: 'streaming',
        ssl: true,
        client_dn: '/CN=streaming_replica',
        client_addr: addresses[1],
      }),
    ]);
    expect(await replica.psql('SELECT sender_host FROM pg_stat_wal_receiver')).toBe(addresses[0]);
  });
});

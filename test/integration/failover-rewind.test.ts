/**
 * Failover with divergence and the old primary's return through pg_rewind, then the state file at
 * work: a demoted primary restarted with its original flags stays a replica; a fence survives a
 * restart of the manager. Two instances in two network namespaces, real TLS.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type ClusterNode } from '../support/cluster.js';
import { rowReachesReplica, waitUntil } from '../support/replication.js';

/** The postmaster and every PostgreSQL process under it. */
function postgresProcesses(postmasterPid: number): number[] {
  const children = execFileSync('pgrep', ['-P', String(postmasterPid)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number);
  return [postmasterPid, ...children];
}

describe('failover, rewind and the state file', () => {
  const cluster = new Cluster(['10.233.0.1', '10.233.0.2'], 'fo');
  let a: ClusterNode;
  let b: ClusterNode;
  /** Waits, and on failure shows what the waiting node said. */
  const until = async (what: string, node: ClusterNode, check: () => Promise<boolean>, timeoutMs: number) => {
    try {
      await waitUntil(what, check, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${node.manager.tail(40)}`);
    }
  };
  const streamsFrom = async (node: ClusterNode, primary: ClusterNode) => {
    const status = await cluster.status(node);
    return status.role === 'replica' && status.isWalReceiverActive === true && status.following === primary.pg;
  };

  beforeAll(async () => {
    await cluster.start();
    [a, b] = cluster.nodes as [ClusterNode, ClusterNode];
    await rowReachesReplica(a.manager, b.manager, 'common history', 20_000);
  }, 240_000);

  afterAll(async () => {
    await cluster.stop();
  });

  it('rewinds a frozen-then-diverged old primary and makes it stream from the new one', async () => {
    const pids = postgresProcesses(Number((await cluster.status(a)).postmasterPid));
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      const promoted = await cluster.act(b, 'promote');
      expect(promoted.status).toBe(200);
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
    await a.manager.psql("INSERT INTO replicated VALUES ('diverged on the old primary')");
    await b.manager.psql("INSERT INTO replicated VALUES ('after the failover')");

    const demoted = await cluster.act(a, 'demote', { primary: b.pg });
    expect(demoted.status).toBe(200);
    expect(JSON.parse(demoted.body)).toMatchObject({
      shutdownCheckpointLsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/),
      timeline: 1,
      primary: b.pg,
    });
    await until('a streams from b', a, () => streamsFrom(a, b), 90_000);
    expect(
      a.manager.lines.map((line) => line.msg).filter((msg) => /rewind|rejoin|diverged|timeline/i.test(msg)),
    ).toContain("pg_rewind rewound PGDATA onto the new primary's timeline");
    expect(await a.manager.psql("SELECT count(*) FROM replicated WHERE value = 'diverged on the old primary'")).toBe(
      '0',
    );
    await rowReachesReplica(b.manager, a.manager, 'after the rewind', 20_000);
    expect(await cluster.status(a)).toMatchObject({ timeline: 2, fenced: false });
  });

  it('keeps a demoted primary a replica when restarted with its original flags', async () => {
    await a.manager.stop();
    a = await cluster.startNode(0);
    await until('a streams from b after its restart', a, () => streamsFrom(a, b), 90_000);
    expect(
      a.manager.lines.some((line) => /started without --replica-of, but this instance was demoted/.test(line.msg)),
    ).toBe(true);
  });

  it('keeps a fenced instance stopped across a restart of the manager; unfence brings it back', async () => {
    const fenced = await cluster.act(a, 'fence');
    expect(fenced.status).toBe(200);
    const check = async () => {
      expect(await cluster.status(a)).toMatchObject({
        fenced: true,
        fence: { by: 'instance-manager-operator' },
        postmasterPid: null,
        controlData: { clusterState: 'shut down in recovery' },
      });
      expect(await cluster.probe(a, 'healthz')).toBe(200);
      expect(await cluster.probe(a, 'readyz')).toBe(503);
      expect(await cluster.probe(a, 'startupz')).toBe(503);
      expect(await a.manager.acceptsConnections()).toBe(false);
    };
    await check();
    await a.manager.stop();
    a = await cluster.startNode(0);
    await a.manager.waitForMessage('this instance is fenced: PostgreSQL stays stopped until unfenced');
    await check();
    expect(a.manager.lines.some((line) => line.msg === 'PostgreSQL started')).toBe(false);

    expect((await cluster.act(a, 'unfence')).status).toBe(200);
    await until('a streams from b after the unfence', a, () => streamsFrom(a, b), 60_000);
    expect(await cluster.status(a)).toMatchObject({ fenced: false });
  });

  it('reclones a diverged old primary when asked, keeping its PGDATA aside until the clone is complete', async () => {
    const pids = postgresProcesses(Number((await cluster.status(b)).postmasterPid));
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      expect((await cluster.act(a, 'promote')).status).toBe(200);
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
    await b.manager.psql("INSERT INTO replicated VALUES ('diverged on b')");
    const demoted = await cluster.act(b, 'demote', { primary: a.pg, reclone: true });
    expect(demoted.status).toBe(200);
    await until('b streams from a after its reclone', b, () => streamsFrom(b, a), 120_000);
    expect(
      b.manager.lines.some(
        (line) => line.msg === 'recloning; the old PGDATA is kept aside until the clone is complete',
      ),
    ).toBe(true);
    expect(fs.existsSync(`${b.manager.pgdata}.before-reclone`)).toBe(false);
    expect(await b.manager.psql("SELECT count(*) FROM replicated WHERE value = 'diverged on b'")).toBe('0');
    await rowReachesReplica(a.manager, b.manager, 'after the reclone', 20_000);
  });
});

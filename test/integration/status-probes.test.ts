/**
 * The probes and /pg/status as a kubelet and an operator read them, over plain HTTP
 * (--status-insecure) against a real PostgreSQL: status codes through start-up, a crash, and a
 * PostgreSQL frozen with SIGSTOP.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresProcesses, startManager, type Manager } from '../support/manager.js';
import { ask, waitForStatusApi } from '../support/status.js';

interface Codes {
  healthz: number;
  readyz: number;
  startupz: number;
}

async function probe(base: string): Promise<Codes> {
  const [healthz, readyz, startupz] = await Promise.all(
    ['healthz', 'readyz', 'startupz'].map(async (name) => (await ask(`${base}/${name}`)).status),
  );
  return { healthz: healthz!, readyz: readyz!, startupz: startupz! };
}

async function statusDocument(manager: Manager): Promise<Record<string, unknown>> {
  const answer = await ask(`${manager.statusBase}/pg/status`);
  expect(answer.status).toBe(200);
  expect(answer.headers['content-type']).toBe('application/json');
  expect(answer.headers['cache-control']).toBe('no-store');
  return JSON.parse(answer.body) as Record<string, unknown>;
}

describe('status API probes and /pg/status on a primary', () => {
  let manager: Manager;
  const duringStart: Codes[] = [];

  beforeAll(async () => {
    // ALTER SYSTEM (of a default setting) makes a restart pending below.
    manager = await startManager({ status: 'http', args: ['--smart-shutdown-timeout', '2', '--allow-alter-system'] });
    await waitForStatusApi(manager.statusBase);
    // Sample the probes until PostgreSQL is up: the first answers come while initdb runs.
    while (!manager.lines.some((line) => line.msg === 'PostgreSQL accepts connections')) {
      duringStart.push(await probe(manager.statusBase));
    }
  });

  afterAll(async () => {
    expect(await manager.stop()).toBe(0);
  });

  it('answers the liveness probe before PostgreSQL is up, and the others with 503 until it is', () => {
    expect(duringStart.length).toBeGreaterThan(0);
    expect(duringStart[0]).toEqual({ healthz: 200, readyz: 503, startupz: 503 });
    for (const codes of duringStart) expect(codes.healthz).toBe(200);
  });

  it('is ready and started once PostgreSQL accepts connections', async () => {
    expect(await probe(manager.statusBase)).toEqual({ healthz: 200, readyz: 200, startupz: 200 });
  });

  it("answers a probe with Node's own headers only, and the other reads with their type and no-store", async () => {
    const health = await ask(`${manager.statusBase}/healthz`);
    expect(health.body).toBe('ok\n');
    expect(health.headers['content-length']).toBe('3');
    expect(health.headers['content-type']).toBeUndefined();
    expect(health.headers['cache-control']).toBeUndefined();
    const backups = await ask(`${manager.statusBase}/pg/backup`);
    expect(backups.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(backups.headers['cache-control']).toBe('no-store');
  });

  it('reports every contract field of a primary, as PostgreSQL itself reports them', async () => {
    const status = await statusDocument(manager);
    const [systemId, version, postmasterPid] = [
      await manager.psql('SELECT system_identifier FROM pg_control_system()'),
      await manager.psql('SHOW server_version'),
      fs.readFileSync(path.join(manager.pgdata, 'postmaster.pid'), 'utf8').split('\n')[0],
    ];
    expect(status).toMatchObject({
      role: 'primary',
      isReady: true,
      postmasterPid: Number(postmasterPid),
      pgVersion: version,
      systemID: systemId,
      timeline: 1,
      replication: [],
      pendingRestart: false,
      restarts: 0,
    });
    // No Secrets mounted: the automatic PKI issued the server certificate, good for 90 days.
    expect(status.certificates).toContainEqual({
      name: 'server.crt',
      notAfter: expect.any(String),
      daysLeft: 89,
      mode: 'automatic',
    });
    expect(status.currentLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(Date.parse(status.postmasterStartTime as string)).toBeLessThanOrEqual(Date.now());
    expect(status.instanceManagerVersion).toBe(JSON.parse(fs.readFileSync('package.json', 'utf8')).version);
    expect(status).not.toHaveProperty('receivedLsn');
  });

  it('follows the WAL position and a setting that waits for a restart', async () => {
    const before = (await statusDocument(manager)).currentLsn as string;
    await manager.psql("CREATE TABLE moved AS SELECT repeat('x', 1000) FROM generate_series(1, 2000)");
    await manager.psql('ALTER SYSTEM SET max_connections = 150');
    await manager.psql('SELECT pg_reload_conf()');
    await expect.poll(async () => (await statusDocument(manager)).pendingRestart, { timeout: 5_000 }).toBe(true);
    const after = (await statusDocument(manager)).currentLsn as string;
    const bytes = (lsn: string) => BigInt(`0x${lsn.split('/')[0]}`) * 2n ** 32n + BigInt(`0x${lsn.split('/')[1]}`);
    expect(bytes(after)).toBeGreaterThan(bytes(before) + 2_000_000n);
    await manager.psql('ALTER SYSTEM RESET max_connections');
    await manager.psql('SELECT pg_reload_conf()');
  });

  it('exposes the same facts as Prometheus metrics', async () => {
    // Blank lines in the csvlog stream are no records: skipped, and only counted.
    fs.writeFileSync(path.join(manager.runDir, 'log', 'postgres.csv'), '\n\n', { flag: 'a' });
    await expect
      .poll(async () => (await ask(`${manager.statusBase}/metrics`)).body, { timeout: 10_000 })
      .toMatch(/^instance_manager_log_blank_lines_total 2$/m);
    const answer = await ask(`${manager.statusBase}/metrics`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const value = (name: string) => {
      const match = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(answer.body);
      expect(match, `${name} in /metrics`).not.toBeNull();
      return Number(match![1]);
    };
    expect(value('instance_manager_postgres_up')).toBe(1);
    expect(value('instance_manager_postgres_role{role="primary"}')).toBe(1);
    expect(value('instance_manager_postgres_timeline')).toBe(1);
    expect(value('instance_manager_postgres_wal_lsn_bytes{position="current"}')).toBeGreaterThan(0);
    expect(value('instance_manager_postmaster_restarts_total')).toBe(0);
    expect(value('instance_manager_log_buffer_bytes')).toBeGreaterThanOrEqual(0);
    // PostgreSQL's own start-up lines went through the log pipe.
    expect(value('instance_manager_log_records_total{logger="postgres"}')).toBeGreaterThan(0);
    expect(value('instance_manager_log_records_total{logger="pgaudit"}')).toBe(0);
    expect(value('instance_manager_log_unparsable_records_total')).toBe(0);
    expect(value('instance_manager_log_blank_lines_total')).toBe(2);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(value('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('answers the liveness probe within 1 s while PostgreSQL is frozen, and is not ready', async () => {
    const postmasterPid = (await statusDocument(manager)).postmasterPid as number;
    const frozen = postgresProcesses(postmasterPid);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      const health = await ask(`${manager.statusBase}/healthz`);
      expect(health.status).toBe(200);
      expect(health.elapsedMs).toBeLessThan(1_000);
      // The status query times out (2 s) rather than hanging the probe.
      const ready = await ask(`${manager.statusBase}/readyz`, { timeoutMs: 10_000 });
      expect(ready.status).toBe(503);
      expect(ready.elapsedMs).toBeLessThan(5_000);
      expect((await ask(`${manager.statusBase}/healthz`)).elapsedMs).toBeLessThan(1_000);
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
    await expect.poll(async () => (await ask(`${manager.statusBase}/readyz`)).status, { timeout: 10_000 }).toBe(200);
  });

  it('while PostgreSQL is down after a crash: alive, started, not ready, and /pg/status still answers', async () => {
    const first = await statusDocument(manager);
    const after = manager.lines.length;
    process.kill(first.postmasterPid as number, 'SIGKILL');
    await manager.waitForMessage('PostgreSQL exited unexpectedly', 10_000, after);
    const health = await ask(`${manager.statusBase}/healthz`);
    expect(health.status).toBe(200);
    expect(health.elapsedMs).toBeLessThan(1_000);
    expect(await probe(manager.statusBase)).toEqual({ healthz: 200, readyz: 503, startupz: 200 });
    const down = await statusDocument(manager);
    expect(down).toMatchObject({
      role: 'primary',
      isReady: false,
      phase: 'restarting',
      postmasterPid: null,
      pgVersion: first.pgVersion,
      systemID: first.systemID,
      restarts: 0,
    });
    expect(down.error).toEqual(expect.any(String));

    await manager.waitUntilReady(30_000, after);
    await expect.poll(async () => (await probe(manager.statusBase)).readyz, { timeout: 10_000 }).toBe(200);
    const back = await statusDocument(manager);
    expect(back).toMatchObject({ isReady: true, phase: 'running', restarts: 1 });
    expect(back.postmasterPid).not.toBe(first.postmasterPid);
    expect((await ask(`${manager.statusBase}/metrics`)).body).toMatch(
      /^instance_manager_postmaster_restarts_total 1$/m,
    );
  });

  it('answers 404 for unknown paths, 405 with Allow for wrong methods, 413 for action bodies over 1 KiB, 401 for actions without a certificate', async () => {
    expect((await ask(`${manager.statusBase}/pg/switchover`, { method: 'POST' })).status).toBe(404);
    const wrong = await ask(`${manager.statusBase}/pg/status`, { method: 'POST' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('GET, HEAD');
    expect((await ask(`${manager.statusBase}/pg/reload`)).status).toBe(405);
    expect((await ask(`${manager.statusBase}/pg/reload`, { method: 'POST', body: 'x'.repeat(2_000) })).status).toBe(
      413,
    );
    // A read takes no body: answered without reading it, and the connection closed.
    const getWithBody = await ask(`${manager.statusBase}/healthz`, { body: 'x'.repeat(2_000) });
    expect(getWithBody.status).toBe(200);
    expect(getWithBody.headers.connection).toBe('close');
    expect((await ask(`${manager.statusBase}/healthz`, { body: 'small' })).status).toBe(200);
    // Plain HTTP carries no client certificate: nobody is the operator.
    expect((await ask(`${manager.statusBase}/pg/reload`, { method: 'POST' })).status).toBe(401);
  });
});

/**
 * The single-instance path on every supported major, with its own binaries (`--pg-bin`): initdb,
 * start, the log pipe with that major's csvlog columns, the fixed settings and the ALTER SYSTEM
 * guard, a crash restart, SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startManager, type LogLine, type Manager } from '../support/manager.js';
import { pgBinFor, SUPPORTED_MAJORS } from '../support/pg-majors.js';

const record = (line: LogLine) =>
  line.msg === 'record' && line.logger === 'postgres' ? (line.record as Record<string, string>) : undefined;

describe.each(SUPPORTED_MAJORS)('PostgreSQL %i', (major) => {
  let manager: Manager;
  const settingAndSource = (name: string) =>
    manager.psql(`SELECT setting || ' from ' || source FROM pg_settings WHERE name = '${name}'`);
  const logged = (marker: string, after = 0) =>
    manager.waitForLine((line) => record(line)?.message === marker, 30_000, after).then((line) => record(line)!);

  beforeAll(async () => {
    manager = await startManager({
      args: ['--pg-bin', pgBinFor(major), '--smart-shutdown-timeout', '5', '--stop-timeout', '10'],
    });
    await manager.waitUntilReady();
  });

  afterAll(async () => {
    await manager?.stop('SIGKILL', 1_000);
  });

  it('initializes, starts and sends csvlog records with its own columns through the log pipe', async () => {
    expect(await manager.psql('SHOW server_version_num')).toMatch(new RegExp(`^${major}\\d{4}$`));
    expect(manager.lines.find((line) => line.msg === 'instance-manager starting')).toMatchObject({ pgMajor: major });
    await manager.psql("DO $$ BEGIN RAISE LOG 'marker one'; END $$");
    const fields = await logged('marker one');
    expect(fields).toMatchObject({ error_severity: 'LOG', backend_type: 'client backend', user_name: 'postgres' });
    // query_id is the 26th column, from PostgreSQL 14 on (and never empty there).
    expect('query_id' in fields).toBe(major >= 14);
    expect(manager.strayStdout).toEqual([]);
  });

  it('holds the fixed settings on the command line and refuses ALTER SYSTEM', async () => {
    expect(await settingAndSource('log_destination')).toBe('csvlog from command line');
    expect(await settingAndSource('ssl_min_protocol_version')).toBe('TLSv1.3 from command line');
    expect(await settingAndSource('restart_after_crash')).toBe('off from command line');
    const refusal =
      major >= 17 ? /ALTER SYSTEM is not allowed/ : /could not open file "postgresql.auto.conf": Permission denied/;
    await expect(manager.psql("ALTER SYSTEM SET log_destination = 'stderr'")).rejects.toThrow(refusal);
    await expect(manager.psql("ALTER SYSTEM SET work_mem = '8MB'")).rejects.toThrow(refusal);
    await manager.psql('SELECT pg_reload_conf()');
    const before = manager.lines.length;
    await manager.psql("DO $$ BEGIN RAISE LOG 'marker after reload'; END $$");
    await logged('marker after reload', before);
    expect(await settingAndSource('log_destination')).toBe('csvlog from command line');
  });

  it('restarts after a kill -9 of the postmaster with the same settings', async () => {
    const started = manager.lines.filter((line) => line.msg === 'PostgreSQL started');
    const before = manager.lines.length;
    process.kill(Number(started.at(-1)!.postmasterPid), 'SIGKILL');
    await manager.waitForMessage('PostgreSQL exited unexpectedly', 30_000, before);
    await manager.waitUntilReady(60_000, before);
    expect(await settingAndSource('log_destination')).toBe('csvlog from command line');
    await manager.psql("DO $$ BEGIN RAISE LOG 'marker after crash'; END $$");
    await logged('marker after crash', before);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await manager.stop('SIGTERM')).toBe(0);
    expect(manager.lines.find((line) => line.msg === 'shutdown finished')).toMatchObject({ stoppedBy: 'smart' });
  });
});

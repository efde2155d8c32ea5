/**
 * The examples, against a real PostgreSQL: a fixed setting cannot be undone by `--config`,
 * by ALTER SYSTEM (even with --allow-alter-system), by a hand-edited postgresql.auto.conf, nor
 * across a crash restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runArgsIn, runCli, scratchDir, startManager, type LogLine, type Manager } from '../support/manager.js';

const FIXED_ATTEMPTS = [
  ['log_destination', 'stderr', 'csvlog'],
  ['restart_after_crash', 'on', 'off'],
  ['ssl_min_protocol_version', 'TLSv1', 'TLSv1.3'],
] as const;

const removal = (name: string) => (line: LogLine) =>
  line.msg === 'a fixed setting in postgresql.auto.conf has no effect; removed it' && line.setting === name;

describe('--config', () => {
  it.each([
    'restart_after_crash = on',
    "ssl_min_protocol_version = 'TLSv1'",
    "password_encryption = 'md5'",
    'allow_alter_system = on',
  ])('refuses %s with exit 2, naming the key, before initdb', async (line) => {
    const dir = scratchDir('fixed-config');
    const config = path.join(dir, 'extra.conf');
    fs.writeFileSync(config, `work_mem = 8MB\n${line}\n`);
    const result = await runCli(runArgsIn(dir, '--secrets-dir', path.join(dir, 'none'), '--config', config));
    const key = line.split(' ')[0]!;
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      `instance-manager: ${config}:2: parameter "${key}" is fixed by instance-manager and cannot be set in --config (see docs/settings.md)`,
    );
    expect(fs.existsSync(path.join(dir, 'pgdata', 'PG_VERSION'))).toBe(false);
  });
});

describe('ALTER SYSTEM with --allow-alter-system', () => {
  it('refuses an IM_ALLOW_ALTER_SYSTEM that is neither on nor off, with exit 2', async () => {
    const dir = scratchDir('alter-system-env');
    const result = await runCli(
      ['run', '--pgdata', path.join(dir, 'pgdata'), '--run-dir', path.join(dir, 'run'), '--status-port', '0'],
      { IM_ALLOW_ALTER_SYSTEM: 'sometimes' },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('IM_ALLOW_ALTER_SYSTEM: "sometimes" is not one of');
  });

  let manager: Manager;
  let dir: string;
  const setting = (name: string) => manager.psql(`SHOW ${name}`);
  const autoConf = () => path.join(manager.pgdata, 'postgresql.auto.conf');
  const reachesPipe = async (marker: string, after: number) => {
    await manager.psql(`DO $$ BEGIN RAISE LOG '${marker}'; END $$`);
    await manager.waitForLine(
      (line) => (line.record as { message?: string } | undefined)?.message === marker,
      30_000,
      after,
    );
  };

  beforeAll(async () => {
    dir = scratchDir('alter-system');
    manager = await startManager({
      dir,
      args: ['--smart-shutdown-timeout', '5'],
      env: { IM_ALLOW_ALTER_SYSTEM: 'true' },
    });
    await manager.waitUntilReady();
  });

  afterAll(async () => {
    await manager?.stop('SIGTERM', 60_000);
  });

  it('applies a default setting', async () => {
    await manager.psql("ALTER SYSTEM SET work_mem = '8MB'");
    await manager.psql('SELECT pg_reload_conf()');
    expect(await setting('work_mem')).toBe('8MB');
    expect(fs.statSync(autoConf()).mode & 0o777).toBe(0o600);
  });

  it('takes no effect on a fixed setting, after a reload nor after a crash restart', async () => {
    for (const [name, value] of FIXED_ATTEMPTS) await manager.psql(`ALTER SYSTEM SET ${name} = '${value}'`);
    await manager.psql('SELECT pg_reload_conf()');
    let before = manager.lines.length;
    await reachesPipe('after ALTER SYSTEM and reload', before);
    for (const [name, , kept] of FIXED_ATTEMPTS) expect(await setting(name)).toBe(kept);

    const postmasterPid = Number(
      manager.lines.filter((line) => line.msg === 'PostgreSQL started').at(-1)!.postmasterPid,
    );
    before = manager.lines.length;
    process.kill(postmasterPid, 'SIGKILL');
    await manager.waitForMessage('PostgreSQL exited unexpectedly', 30_000, before);
    await manager.waitUntilReady(60_000, before);
    for (const [name, , kept] of FIXED_ATTEMPTS) expect(await setting(name)).toBe(kept);
    await reachesPipe('after the crash restart', before);
    // A crash-restarted PostgreSQL is still the manager's to restart: restart_after_crash stayed off.
    expect(manager.lines.slice(before).filter((line) => line.msg === 'PostgreSQL started')).toHaveLength(1);
  });

  it('removes the fixed settings from postgresql.auto.conf at the next reload, logging each', async () => {
    for (const [name, value] of FIXED_ATTEMPTS) await manager.psql(`ALTER SYSTEM SET ${name} = '${value}'`);
    const before = manager.lines.length;
    manager.child.kill('SIGHUP');
    for (const [name] of FIXED_ATTEMPTS)
      expect(await manager.waitForLine(removal(name), 30_000, before)).toMatchObject({ level: 'warning' });
    const text = fs.readFileSync(autoConf(), 'utf8');
    expect(text).toContain("work_mem = '8MB'");
    for (const [name] of FIXED_ATTEMPTS) expect(text).not.toContain(name);
  });

  it('without the flag: a fixed setting written into postgresql.auto.conf by hand is logged at start and has no effect', async () => {
    expect(await manager.stop('SIGTERM', 60_000)).toBe(0);
    fs.appendFileSync(autoConf(), "log_destination = 'stderr'\nrestart_after_crash = on\n");
    // "false" means off (commander alone would turn a boolean flag on for any value of its variable).
    manager = await startManager({
      dir,
      args: ['--smart-shutdown-timeout', '5'],
      env: { IM_ALLOW_ALTER_SYSTEM: 'false' },
    });
    await manager.waitUntilReady();
    expect(await manager.waitForLine(removal('log_destination'), 1_000)).toMatchObject({
      level: 'warning',
      line: expect.any(Number),
    });
    expect(await manager.waitForLine(removal('restart_after_crash'), 1_000)).toMatchObject({ level: 'warning' });
    expect(await setting('log_destination')).toBe('csvlog');
    expect(await setting('restart_after_crash')).toBe('off');
    expect(await setting('work_mem')).toBe('8MB');
    expect(fs.statSync(autoConf()).mode & 0o777).toBe(0o400);
    await expect(manager.psql("ALTER SYSTEM SET work_mem = '16MB'")).rejects.toThrow(/Permission denied/);
  });
});

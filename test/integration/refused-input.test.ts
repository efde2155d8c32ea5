/**
 * Input PostgreSQL would refuse never reaches it: settings are judged by the binaries' own parser and
 * the manager's rules, hba rules by PostgreSQL's, before initdb (exit 2, one line naming file, line,
 * key) and at a reload (refused, the previous files kept). A first start that still fails is
 * reported in PostgreSQL's own words, exit 2, not a crash loop.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runArgsIn, runCli, scratchDir, startManager } from '../support/manager.js';

const runArgs = (dir: string, ...extra: string[]) =>
  runArgsIn(dir, '--port', '1', '--secrets-dir', path.join(dir, 'none'), ...extra);

function expectOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe('settings PostgreSQL would refuse: exit 2 before initdb, naming file, line and key', () => {
  it.each([
    ['foo_bar_baz = 1', /extra.conf:2: PostgreSQL refuses it: unrecognized configuration parameter "foo_bar_baz"$/],
    [
      'work_mem = 12GBX',
      /extra.conf:2: PostgreSQL refuses it: invalid value for parameter "work_mem": "12GBX" \(Valid units for this parameter are .*\)$/,
    ],
    [
      "wal_level = 'bogus'",
      /extra.conf:2: PostgreSQL refuses it: invalid value for parameter "wal_level": "bogus" \(Available values: minimal, replica, logical.\)$/,
    ],
    [
      'max_connections = 99999999',
      /extra.conf:2: PostgreSQL refuses it: 99999999 is outside the valid range for parameter "max_connections" \(1 .. \d+\)$/,
    ],
    [
      "shared_preload_libraries = '/tmp/evil.so'",
      /extra.conf:2: parameter "shared_preload_libraries": "\/tmp\/evil.so" is a path; name a library installed with PostgreSQL/,
    ],
    [
      "shared_preload_libraries = 'pg_stat_statements,no_such_lib'",
      /extra.conf:2: parameter "shared_preload_libraries": library "no_such_lib" is not installed/,
    ],
    [
      "ssl_max_protocol_version = 'TLSv1.2'",
      /extra.conf:2: parameter "ssl_max_protocol_version": "TLSv1.2" is below ssl_min_protocol_version TLSv1.3/,
    ],
  ])('%s', async (setting, pattern) => {
    const dir = scratchDir('refused');
    const config = path.join(dir, 'extra.conf');
    fs.writeFileSync(config, `shared_buffers = 32MB\n${setting}\n`);
    const result = await runCli(runArgs(dir, '--config', config));
    expect(result.code).toBe(2);
    expectOneLine(result.stderr, new RegExp(`^instance-manager: ${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expectOneLine(result.stderr, pattern);
    expect(fs.existsSync(path.join(dir, 'pgdata'))).toBe(false);
  });
});

describe('hba rules and --listen PostgreSQL would refuse, or that open the door: exit 2 before initdb', () => {
  it.each([
    ['host all all 999.0.0.0/99 md5', /hba:1: pg_hba rule .* refused: address "999.0.0.0\/99"/],
    ['hostssl all all all md5 bogus_option=1', /hba:1: .* option "bogus_option" is not valid for method md5/],
    ['host all all 0.0.0.0/0 cert', /hba:1: .* method cert needs a hostssl rule/],
    ['hostnossl all postgres all trust', /hba:1: .* trust on a TCP rule lets anyone who reaches the port in/],
  ])('%s', async (rule, pattern) => {
    const dir = scratchDir('refused');
    const hba = path.join(dir, 'hba');
    fs.writeFileSync(hba, `${rule}\n`);
    const result = await runCli(runArgs(dir, '--hba', hba));
    expect(result.code).toBe(2);
    expectOneLine(result.stderr, pattern);
    expect(fs.existsSync(path.join(dir, 'pgdata'))).toBe(false);
  });

  it('a --listen value with a quote', async () => {
    const result = await runCli(runArgs(scratchDir('refused'), '--listen', "127.0.0.1' ssl='off"));
    expect(result.code).toBe(2);
    expectOneLine(
      result.stderr,
      /^instance-manager: --listen: "127.0.0.1' ssl='off" is not a host name, an IP address or \*$/,
    );
  });
});

describe('a running instance', () => {
  it('accepts good settings, refuses bad ones at a reload and keeps the previous files', async () => {
    const dir = scratchDir('refused');
    const config = path.join(dir, 'extra.conf');
    const hba = path.join(dir, 'hba');
    fs.writeFileSync(config, "work_mem = '8MB'\npgaudit.log = 'ddl'\n");
    fs.writeFileSync(hba, 'hostssl all alice 10.0.0.0/8 scram-sha-256\n');
    const manager = await startManager({ dir, args: ['--config', config, '--hba', hba] });
    try {
      await manager.waitUntilReady();
      expect(await manager.psql('SHOW work_mem')).toBe('8MB');
      expect(manager.lines.find((line) => /custom settings are checked/.test(line.msg))).toMatchObject({
        settings: ['pgaudit.log'],
      });
      const customConf = fs.readFileSync(path.join(manager.pgdata, 'custom.conf'), 'utf8');
      const hbaConf = fs.readFileSync(path.join(manager.pgdata, 'pg_hba.conf'), 'utf8');

      const before = manager.lines.length;
      fs.writeFileSync(config, "work_mem = '12GBX'\n");
      const refused = await manager.waitForMessage(
        'reload refused; the previous configuration stays in force',
        30_000,
        before,
      );
      expect(refused.err).toMatch(
        /extra.conf:1: PostgreSQL refuses it: invalid value for parameter "work_mem": "12GBX"/,
      );
      fs.writeFileSync(config, "work_mem = '8MB'\n");
      fs.writeFileSync(hba, 'host all all 999.0.0.0/99 md5\n');
      const hbaRefused = await manager.waitForLine(
        (line) =>
          line.msg === 'reload refused; the previous configuration stays in force' && /999/.test(String(line.err)),
        30_000,
        before,
      );
      expect(hbaRefused.err).toMatch(/hba:1: pg_hba rule .* refused: address/);
      expect(fs.readFileSync(path.join(manager.pgdata, 'custom.conf'), 'utf8')).toBe(customConf);
      expect(fs.readFileSync(path.join(manager.pgdata, 'pg_hba.conf'), 'utf8')).toBe(hbaConf);
      expect(await manager.psql('SHOW work_mem')).toBe('8MB');
      expect(await manager.stop()).toBe(0);
    } finally {
      await manager.stop('SIGKILL', 5_000);
    }
  });

  it('a first start PostgreSQL refuses: its own error line on stderr, exit 2, no crash loop', async () => {
    const first = await startManager();
    await first.waitUntilReady();
    expect(await first.stop()).toBe(0);
    // What ALTER SYSTEM can leave behind, where no --config check reaches.
    fs.appendFileSync(
      path.join(first.pgdata, 'postgresql.auto.conf'),
      "shared_preload_libraries = 'im_test_no_such_library'\n",
    );
    // With --config watched: the watcher must not keep the manager alive after the refusal.
    const config = path.join(first.dir, 'extra.conf');
    fs.writeFileSync(config, "work_mem = '8MB'\n");
    const second = await startManager({ dir: first.dir, port: first.port, args: ['--config', config] });
    const { code } = await second.exited;
    expect(code).toBe(2);
    expectOneLine(
      second.stderr,
      /^instance-manager: PostgreSQL refused to start: FATAL: could not access file "im_test_no_such_library": No such file or directory$/,
    );
    expect(second.lines.filter((line) => line.msg === 'PostgreSQL started')).toHaveLength(1);
  });
});

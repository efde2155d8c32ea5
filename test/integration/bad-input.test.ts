/** Bad usage and bad input: exit 2 and one line on stderr that names what is wrong; nothing started. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, runArgsIn, runCli, scratchDir } from '../support/manager.js';

/** Port 1: nothing may ever listen, a start that got that far would fail loudly. */
const runArgs = (dir: string, ...extra: string[]) => runArgsIn(dir, '--port', '1', ...extra);

function expectOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe('instance-manager run refuses bad input with exit 2', () => {
  it('an unknown flag', async () => {
    const result = await runCli(['run', '--no-such-flag']);
    expect(result.code).toBe(2);
    expectOneLine(result.stderr, /^instance-manager: unknown option '--no-such-flag'$/);
    expect(result.stdout).toBe('');
  });

  it('an unknown command', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(2);
    expectOneLine(result.stderr, /unknown command 'frobnicate'/);
  });

  it("a command group without its subcommand: the group's help on stderr, nothing else", async () => {
    const result = await runCli(['certificate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^Usage: instance-manager certificate/);
    expect(result.stderr).not.toContain('outputHelp');
    expect(result.stdout).toBe('');
  });

  it.each([
    [['--port', 'abc'], /--port: "abc" is not a TCP port/],
    [['--log-level', 'loud'], /--log-level: "loud" is not one of error, warning, info, debug/],
    [['--stop-timeout', '0'], /--stop-timeout: "0" is not a whole number of seconds/],
    [['--replica-of', 'host:port'], /--replica-of: "host:port" is not HOST\[:PORT\]/],
    [['--user', 'nobody-here'], /--user: no such user "nobody-here"/],
    [['--user', 'root'], /--user: "root" is root; PostgreSQL never runs as root/],
  ])('a bad value: %j', async (flags, pattern) => {
    const dir = scratchDir('bad');
    const result = await runCli([...runArgs(dir), ...flags]);
    expect(result.code).toBe(2);
    expectOneLine(result.stderr, pattern);
  });

  it('a bad value from the environment, named by its flag', async () => {
    const result = await runCli(
      runArgs(scratchDir('bad')).filter((arg) => arg !== '--port' && arg !== '1'),
      { IM_PORT: 'x' },
    );
    expect(result.code).toBe(2);
    expectOneLine(result.stderr, /--port: "x" is not a TCP port/);
  });

  it('missing PostgreSQL binaries, with the command that installs them', async () => {
    const dir = scratchDir('bad');
    const result = await runCli(runArgs(dir, '--pg-bin', path.join(dir, 'nothing-here')));
    expect(result.code).toBe(2);
    expectOneLine(
      result.stderr,
      /PostgreSQL server binaries not found \(looked in --pg-bin .*nothing-here\): install them with "apt-get install -y postgresql-15"/,
    );
  });

  it('a data directory of another major version than the binaries, before any start', async () => {
    const dir = scratchDir('bad');
    fs.mkdirSync(path.join(dir, 'pgdata', 'global'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'pgdata', 'PG_VERSION'), '11\n');
    const result = await runCli(runArgs(dir));
    expect(result.code).toBe(2);
    expectOneLine(
      result.stderr,
      /--pgdata .*pgdata: a PostgreSQL 11 data directory, but \/usr\/lib\/postgresql\/\d+\/bin holds PostgreSQL \d+; pass --pg-bin/,
    );
    expect(fs.readdirSync(path.join(dir, 'pgdata')).sort()).toEqual(['PG_VERSION', 'global']);
  });

  it('a PGDATA that is not empty and not a data directory', async () => {
    const dir = scratchDir('bad');
    fs.mkdirSync(path.join(dir, 'pgdata'));
    fs.writeFileSync(path.join(dir, 'pgdata', 'important.txt'), 'do not initdb over me');
    const result = await runCli(runArgs(dir));
    expect(result.code).toBe(2);
    expectOneLine(
      result.stderr,
      /--pgdata .*pgdata: not empty and not a PostgreSQL data directory \(found important.txt\)/,
    );
    expect(fs.readdirSync(path.join(dir, 'pgdata'))).toEqual(['important.txt']);
  });

  it('a PGDATA that cannot be written (manager started as an unprivileged user)', () => {
    const dir = scratchDir('bad');
    const locked = path.join(dir, 'locked');
    fs.mkdirSync(locked, { mode: 0o755 });
    const runDir = path.join(dir, 'run-nobody');
    fs.mkdirSync(runDir);
    spawnSync('chown', ['nobody', runDir]);
    // nobody cannot create anything in a root-owned 0755 directory.
    const result = spawnSync(
      'setpriv',
      [
        '--reuid',
        'nobody',
        '--regid',
        'nogroup',
        '--clear-groups',
        process.execPath,
        BIN,
        'run',
        '--pgdata',
        path.join(locked, 'pgdata'),
        '--run-dir',
        runDir,
        '--status-port',
        '0',
      ],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH },
      },
    );
    expect(result.status).toBe(2);
    expectOneLine(result.stderr, /--pgdata .*locked\/pgdata: not writable \(EACCES\)/);
  });

  it('a run dir that cannot be written', () => {
    const dir = scratchDir('bad');
    const result = spawnSync(
      'setpriv',
      ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', process.execPath, BIN, ...runArgs(dir)],
      { encoding: 'utf8', env: { PATH: process.env.PATH } },
    );
    expect(result.status).toBe(2);
    expectOneLine(result.stderr, /--run-dir .*\/run: not writable \(EACCES\)/);
  });

  it('a --config that sets a parameter the manager owns, naming the key', async () => {
    const dir = scratchDir('bad');
    const config = path.join(dir, 'extra.conf');
    fs.writeFileSync(config, 'work_mem = 8MB\nssl = off\n');
    const result = await runCli(runArgs(dir, '--config', config));
    expect(result.code).toBe(2);
    expectOneLine(
      result.stderr,
      new RegExp(`${config}:2: parameter "ssl" is fixed by instance-manager and cannot be set in --config`),
    );
    expect(fs.existsSync(path.join(dir, 'pgdata'))).toBe(false);
  });

  it('a --config file that does not exist', async () => {
    const dir = scratchDir('bad');
    const result = await runCli(runArgs(dir, '--config', path.join(dir, 'missing.conf')));
    expect(result.code).toBe(2);
    expectOneLine(result.stderr, /--config .*missing.conf: cannot be read \(ENOENT\)/);
  });
});

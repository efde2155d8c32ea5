/**
 * What a new user gets without any Secret (as `npm start` runs): a generated password for the
 * application owner with a ready verify-full URI; and pgaudit / pg_stat_statements switched on by
 * their settings: a pending restart when added at a reload, then the extensions in every database,
 * and audit records for a database created after start. Bad access inputs stop a start with exit 2.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  psqlConninfo,
  runArgsIn,
  runCli,
  scratchDir,
  startManager,
  waitFor,
  type Manager,
} from '../support/manager.js';
import { writeKubeletVolume } from '../support/secrets.js';
import { ask } from '../support/status.js';

describe('access without Secrets, and extensions switched on by their settings', () => {
  let manager: Manager;
  let dir: string;
  const config = () => path.join(dir, 'pg.conf');
  const start = async () => {
    manager = await startManager({
      dir,
      status: 'http',
      args: ['--server-name', '127.0.0.1', '--config', config(), '--smart-shutdown-timeout', '2'],
    });
    await manager.waitUntilReady();
  };
  const generated = (name: string) => path.join(manager.runDir, 'app-user', name);

  beforeAll(async () => {
    dir = scratchDir('access-defaults');
    fs.writeFileSync(config(), "work_mem = '8MB'\n");
    await start();
    await manager.waitForMessage('created the application database', 30_000);
  });

  afterAll(async () => {
    expect(await manager?.stop()).toBe(0);
  });

  it("generates the owner's password once, with a pgpass line and a verify-full URI, and says where", async () => {
    const password = fs.readFileSync(generated('password'), 'utf8');
    expect(Buffer.from(password, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
    for (const name of ['username', 'password', 'pgpass', 'uri'])
      expect(fs.statSync(generated(name)).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(generated('pgpass'), 'utf8')).toBe(`127.0.0.1:${manager.port}:app:app:${password}\n`);
    const uri = fs.readFileSync(generated('uri'), 'utf8').trim();
    expect(uri).toContain('sslmode=verify-full');
    expect(
      await psqlConninfo(
        uri,
        "SELECT current_user || '@' || current_database() || ' ' || (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid())",
      ),
    ).toBe('app@app TLSv1.3');
    const said = await manager.waitForMessage(/generated a password for the application owner/);
    expect(said.passwordFile).toBe(generated('password'));
    expect(JSON.stringify(manager.lines)).not.toContain(password);
  });

  it('asks for a restart when the first pgaudit setting arrives at a reload, and says why', async () => {
    const mark = manager.lines.length;
    fs.appendFileSync(config(), "pgaudit.log = 'ddl, write'\npg_stat_statements.track = 'all'\n");
    const warned = await manager.waitForLine((line) => /needs a restart/.test(line.msg), 20_000, mark);
    expect(warned.settings).toEqual(['shared_preload_libraries']);
    const status = JSON.parse((await ask(`${manager.statusBase}/pg/status`)).body) as { pendingRestart: boolean };
    expect(status.pendingRestart).toBe(true);
    expect(
      manager.lines.slice(mark).some((line) => line.msg === 'PostgreSQL found an error in its configuration'),
    ).toBe(false);
  });

  it('after the restart: the extensions in every database and template1, audit records for a database made later', async () => {
    const password = fs.readFileSync(generated('password'), 'utf8');
    expect(await manager.stop()).toBe(0);
    await start();
    await waitFor(
      'the extensions',
      async () =>
        (await manager.psql(
          "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql'",
          ['-d', 'template1'],
        )) === 'pg_stat_statements,pgaudit',
      30_000,
    );
    expect(
      await manager.psql(
        "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql'",
        ['-d', 'app'],
      ),
    ).toBe('pg_stat_statements,pgaudit');
    expect(manager.lines.some((line) => /generated a password/.test(line.msg))).toBe(false);
    expect(fs.readFileSync(generated('password'), 'utf8')).toBe(password);
    await manager.psql('CREATE DATABASE late');
    expect(await manager.psql("SELECT count(*) FROM pg_extension WHERE extname = 'pgaudit'", ['-d', 'late'])).toBe('1');
    await manager.psql('CREATE TABLE audited (id int); INSERT INTO audited VALUES (1)', ['-d', 'late']);
    type Audited = { database_name?: string; audit?: { class: string; command: string } };
    const audited = (command: string) => (line: { logger: string; record?: unknown }) =>
      line.logger === 'pgaudit' &&
      (line.record as Audited).database_name === 'late' &&
      (line.record as Audited).audit?.command === command;
    expect(
      (await manager.waitForLine(audited('INSERT'), 20_000).then((line) => line.record as Audited)).audit?.class,
    ).toBe('WRITE');
    expect(
      (await manager.waitForLine(audited('CREATE TABLE'), 20_000).then((line) => line.record as Audited)).audit?.class,
    ).toBe('DDL');
    expect(await manager.psql('SELECT count(*) > 0 FROM pg_stat_statements')).toBe('t');
  });
});

describe('bad access inputs at start', () => {
  const run = async (prepare: (dir: string) => string[]) => {
    const dir = scratchDir('access-bad');
    const args = prepare(dir);
    return runCli(runArgsIn(dir, '--secrets-dir', path.join(dir, 'secrets'), ...args));
  };

  it.each([
    [
      'an app-user Secret for another user',
      (dir: string) => {
        writeKubeletVolume(path.join(dir, 'secrets', 'app-user'), { username: 'bob', password: 'x1234567' });
        return [];
      },
      /app-user\/username: is "bob", expected "app"/,
    ],
    [
      'an empty password',
      (dir: string) => {
        writeKubeletVolume(path.join(dir, 'secrets', 'superuser'), { username: 'postgres', password: '' });
        return [];
      },
      /superuser\/password: empty/,
    ],
    [
      'a declared role with an unknown key',
      (dir: string) => {
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, 'roles.yaml'), '- name: alice\n  logn: true\n');
        return ['--roles', path.join(dir, 'roles.yaml')];
      },
      /roles\.yaml: role 1 "alice": unknown key "logn"/,
    ],
    [
      'a passwordSecret that is not mounted',
      (dir: string) => {
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, 'roles.yaml'), '- name: alice\n  passwordSecret: alice-pw\n');
        return ['--roles', path.join(dir, 'roles.yaml')];
      },
      /alice-pw \(passwordSecret of "alice"\) is not mounted/,
    ],
    ['an app owner that is the superuser', () => ['--app-owner', 'postgres'], /--app-owner: "postgres" is reserved/],
  ])('%s: exit 2 with one line naming it, before initdb', async (_name, prepare, message) => {
    const result = await run(prepare);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  });
});

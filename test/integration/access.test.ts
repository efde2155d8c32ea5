/**
 * The way in, against a real PostgreSQL with libpq as the client: the application owner logs in
 * over verify-full with the mounted password, a kubelet-style swap rotates it without a restart
 * while a session stays open, the superuser stays off TCP until `superuser/` is mounted, declared
 * roles are created, altered and dropped while others are left alone, and no password (nor even
 * its verifier) reaches stdout or pg_stat_statements with log_statement = all and pgaudit.log = all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psqlConninfo, scratchDir, startManager, waitFor, type Manager } from '../support/manager.js';
import { writeKubeletVolume } from '../support/secrets.js';
import { ask } from '../support/status.js';

const PASSWORDS = {
  app: 'AppFirst0bbd5e3c',
  appRotated: 'AppSecond9a2f71d4',
  superuser: 'SuperC6e0f5a27b',
  alice: 'AliceD81c44e0a9',
};

describe('application database, passwords and declared roles', () => {
  let manager: Manager;
  let dir: string;
  let session: ChildProcess | undefined;
  const secrets = () => path.join(dir, 'secrets');
  const rolesFile = () => path.join(dir, 'roles.yaml');
  const conninfo = (user: string, password: string, database = 'app') =>
    `host=127.0.0.1 port=${manager.port} dbname=${database} user=${user} password=${password} sslmode=verify-full sslrootcert=${path.join(manager.runDir, 'certificates', 'server-ca.crt')}`;
  const login = (user: string, password: string, database = 'app') =>
    psqlConninfo(conninfo(user, password, database), "SELECT current_user || '@' || current_database()");
  const roleStatus = async () =>
    (
      JSON.parse((await ask(`${manager.statusBase}/pg/status`)).body) as {
        roles: { name: string; state: string; lastError: string | null }[];
      }
    ).roles;

  beforeAll(async () => {
    dir = scratchDir('access');
    writeKubeletVolume(path.join(secrets(), 'app-user'), { username: 'app', password: PASSWORDS.app });
    writeKubeletVolume(path.join(secrets(), 'alice-password'), { username: 'alice', password: PASSWORDS.alice });
    fs.writeFileSync(
      path.join(dir, 'pg.conf'),
      "log_statement = 'all'\npgaudit.log = 'all'\npg_stat_statements.track = 'all'\n",
    );
    fs.writeFileSync(
      rolesFile(),
      [
        '- name: readers',
        '- name: alice',
        '  login: true',
        '  createdb: true',
        '  connectionLimit: 3',
        '  validUntil: "2099-01-01T00:00:00Z"',
        '  inRoles: [readers]',
        '  comment: "the analyst\'s role"',
        '  passwordSecret: alice-password',
        '- name: carol',
        '  login: true',
        '',
      ].join('\n'),
    );
    manager = await startManager({
      dir,
      status: 'http',
      args: [
        '--secrets-dir',
        secrets(),
        '--server-name',
        '127.0.0.1',
        '--config',
        path.join(dir, 'pg.conf'),
        '--roles',
        rolesFile(),
        '--smart-shutdown-timeout',
        '2',
      ],
    });
    await manager.waitUntilReady();
    await manager.waitForMessage('created the application database', 30_000);
  });

  afterAll(async () => {
    session?.kill();
    expect(await manager?.stop()).toBe(0);
  });

  it('creates the application database owned by a plain LOGIN role that logs in over verify-full', async () => {
    expect(await login('app', PASSWORDS.app)).toBe('app@app');
    expect(
      await manager.psql(
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolreplication, rolcreatedb FROM pg_roles WHERE rolname = 'app'",
      ),
    ).toBe('t|f|f|f|f');
    expect(await manager.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'")).toBe('app');
    await expect(login('app', 'wrong')).rejects.toThrow(/password authentication failed/);
  });

  it('keeps the superuser off TCP by default', async () => {
    expect(await manager.psql("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'postgres'")).toBe('t');
    await expect(login('postgres', 'anything', 'postgres')).rejects.toThrow(
      /pg_hba.conf rejects connection .*user "postgres"/,
    );
  });

  it('creates the declared roles as declared', async () => {
    await waitFor(
      'the declared roles',
      async () => (await roleStatus()).every((role) => role.state === 'present'),
      30_000,
    );
    expect(
      await manager.psql(
        "SELECT rolcanlogin, rolcreatedb, rolconnlimit, rolvaliduntil = '2099-01-01Z', shobj_description(oid, 'pg_authid') FROM pg_authid WHERE rolname = 'alice'",
      ),
    ).toBe("t|t|3|t|the analyst's role");
    expect(
      await manager.psql(
        "SELECT pg_has_role('alice', 'readers', 'MEMBER'), (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'readers')",
      ),
    ).toBe('t|f');
    expect(await login('alice', PASSWORDS.alice, 'postgres')).toBe('alice@postgres');
    expect((await roleStatus()).map((role) => role.name)).toEqual(['app', 'readers', 'alice', 'carol']);
  });

  it("rotates the owner's password from a kubelet swap within 5 s, the open session surviving", async () => {
    session = spawn('psql', ['-X', '-At', '-d', conninfo('app', PASSWORDS.app), '-c', 'SELECT pg_sleep(600)'], {
      stdio: 'ignore',
    });
    await waitFor(
      'the app session',
      async () =>
        (await manager.psql(
          "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND query LIKE '%pg_sleep%'",
        )) === '1',
      10_000,
    );
    const sessionPid = await manager.psql(
      "SELECT pid FROM pg_stat_activity WHERE usename = 'app' AND query LIKE '%pg_sleep%'",
    );
    const swapped = Date.now();
    writeKubeletVolume(path.join(secrets(), 'app-user'), { username: 'app', password: PASSWORDS.appRotated });
    await waitFor(
      'the new password',
      () =>
        login('app', PASSWORDS.appRotated).then(
          () => true,
          () => false,
        ),
      5_000,
      100,
    );
    const elapsedMs = Date.now() - swapped;
    expect(elapsedMs).toBeLessThan(5_000);
    await expect(login('app', PASSWORDS.app)).rejects.toThrow(/password authentication failed/);
    expect(await manager.psql(`SELECT count(*) FROM pg_stat_activity WHERE pid = ${sessionPid}`)).toBe('1');
    expect(session.exitCode).toBeNull();
    expect(manager.lines.some((line) => line.msg === 'role brought to its declared state' && line.role === 'app')).toBe(
      true,
    );
    expect(manager.lines.filter((line) => line.msg === 'PostgreSQL accepts connections')).toHaveLength(1);
  });

  it("refuses a Secret whose username is not the role's, keeping the password in force", async () => {
    const mark = manager.lines.length;
    writeKubeletVolume(path.join(secrets(), 'app-user'), { username: 'someone-else', password: 'Ignored123456' });
    await manager.waitForLine(
      (line) => line.msg === 'refused a password Secret; the role keeps its password' && line.role === 'app',
      10_000,
      mark,
    );
    expect(await login('app', PASSWORDS.appRotated)).toBe('app@app');
    await waitFor(
      'the error in /pg/status',
      async () => (await roleStatus()).find((role) => role.name === 'app')?.lastError?.includes('someone-else'),
      10_000,
    );
    writeKubeletVolume(path.join(secrets(), 'app-user'), { username: 'app', password: PASSWORDS.appRotated });
  });

  it('lets the superuser in over TLS once superuser/ is mounted, and takes it back when it goes', async () => {
    writeKubeletVolume(path.join(secrets(), 'superuser'), { username: 'postgres', password: PASSWORDS.superuser });
    await waitFor(
      'the superuser over TCP',
      () =>
        login('postgres', PASSWORDS.superuser, 'postgres').then(
          () => true,
          () => false,
        ),
      10_000,
      200,
    );
    expect(await login('postgres', PASSWORDS.superuser, 'postgres')).toBe('postgres@postgres');
    // Unmounted again: the password goes and pg_hba closes TCP for the superuser.
    fs.rmSync(path.join(secrets(), 'superuser'), { recursive: true });
    await waitFor(
      'the superuser off TCP again',
      () =>
        login('postgres', PASSWORDS.superuser, 'postgres').then(
          () => false,
          (error: Error) => /rejects connection/.test(error.message),
        ),
      10_000,
      200,
    );
    await waitFor(
      'no superuser password',
      async () => (await manager.psql("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'postgres'")) === 't',
      10_000,
    );
  });

  it('alters and drops declared roles and leaves a role the file does not name alone', async () => {
    await manager.psql('CREATE ROLE bystander LOGIN CREATEDB CONNECTION LIMIT 7');
    fs.writeFileSync(
      rolesFile(),
      [
        '- name: readers',
        '- name: alice',
        '  login: true',
        '  passwordSecret: alice-password',
        '- name: carol',
        '  ensure: absent',
        '',
      ].join('\n'),
    );
    await waitFor(
      'carol dropped',
      async () => (await manager.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'carol'")) === '0',
      10_000,
    );
    await waitFor(
      'alice altered',
      async () => (await manager.psql("SELECT rolcreatedb FROM pg_roles WHERE rolname = 'alice'")) === 'f',
      10_000,
    );
    expect(
      await manager.psql(
        "SELECT rolconnlimit, rolvaliduntil IS NULL OR rolvaliduntil = 'infinity', shobj_description(oid, 'pg_authid') IS NULL, pg_has_role('alice', 'readers', 'MEMBER') FROM pg_authid WHERE rolname = 'alice'",
      ),
    ).toBe('-1|t|t|f');
    expect(
      await manager.psql("SELECT rolcanlogin, rolcreatedb, rolconnlimit FROM pg_roles WHERE rolname = 'bystander'"),
    ).toBe('t|t|7');
    await waitFor(
      'carol absent in /pg/status',
      async () => (await roleStatus()).find((role) => role.name === 'carol')?.state === 'absent',
      10_000,
    );
  });

  it('logs a bad roles file at a reload and keeps the roles as they were', async () => {
    const mark = manager.lines.length;
    fs.writeFileSync(rolesFile(), '- name: postgres\n  superuser: false\n');
    const refused = await manager.waitForLine(
      (line) => line.msg === 'refused an access input; what was in force stays',
      10_000,
      mark,
    );
    expect(String(refused.err)).toMatch(/role 1 "postgres": is managed by instance-manager/);
    expect((await roleStatus()).map((role) => role.name)).toEqual(['app', 'readers', 'alice', 'carol']);
  });

  it('never prints a password, nor its verifier, with log_statement = all, pgaudit and pg_stat_statements on', async () => {
    const tracked = await manager.psql('SELECT count(*) FROM pg_stat_statements');
    expect(Number(tracked)).toBeGreaterThan(0);
    expect(
      await manager.psql(
        "SELECT query FROM pg_stat_statements WHERE query LIKE '%SCRAM-SHA-' || '256$%' OR query ~* 'PASSWORD\\s+(E?''|\\$)'",
      ),
    ).toBe('');
    const stdout = [...manager.lines.map((line) => JSON.stringify(line)), ...manager.strayStdout].join('\n');
    // The statements themselves are logged: the check is not vacuous.
    expect(stdout).toContain('statement: SELECT current_user');
    expect(manager.lines.some((line) => line.logger === 'pgaudit')).toBe(true);
    for (const password of Object.values(PASSWORDS)) expect(stdout).not.toContain(password);
    expect(manager.lines.filter((line) => JSON.stringify(line).includes('SCRAM-SHA-256$'))).toEqual([]);
  });
});

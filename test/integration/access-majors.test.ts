/**
 * Roles and passwords on the majors whose catalogs differ most (13, the oldest; 16, which reworked
 * role membership; 17): the app owner over verify-full, a declared role created with its group
 * and password, then altered and its membership revoked, and a rotated password.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psqlConninfo, scratchDir, startManager, waitFor, type Manager } from '../support/manager.js';
import { pgBinFor } from '../support/pg-majors.js';
import { writeKubeletVolume } from '../support/secrets.js';

describe.each([13, 16, 17])('roles and passwords on PostgreSQL %i', (major) => {
  let manager: Manager;
  let dir: string;
  const secrets = () => path.join(dir, 'secrets');
  const rolesFile = () => path.join(dir, 'roles.yaml');
  const login = (user: string, password: string, database: string) =>
    psqlConninfo(
      `host=127.0.0.1 port=${manager.port} dbname=${database} user=${user} password=${password} sslmode=verify-full sslrootcert=${path.join(manager.runDir, 'certificates', 'server-ca.crt')}`,
      'SELECT current_user',
    );

  beforeAll(async () => {
    dir = scratchDir(`access-${major}`);
    writeKubeletVolume(path.join(secrets(), 'app-user'), { username: 'app', password: 'AppOne7f3a' });
    writeKubeletVolume(path.join(secrets(), 'bob-pw'), { username: 'bob', password: 'BobOne81c2' });
    fs.writeFileSync(
      rolesFile(),
      '- name: staff\n- name: bob\n  login: true\n  inRoles: [staff]\n  passwordSecret: bob-pw\n',
    );
    manager = await startManager({
      dir,
      args: [
        '--pg-bin',
        pgBinFor(major),
        '--secrets-dir',
        secrets(),
        '--server-name',
        '127.0.0.1',
        '--roles',
        rolesFile(),
        '--smart-shutdown-timeout',
        '5',
      ],
    });
    await manager.waitUntilReady();
    await manager.waitForMessage('created the application database', 30_000);
  });

  afterAll(async () => {
    expect(await manager?.stop()).toBe(0);
  });

  it('creates, alters and rotates as declared', async () => {
    expect(await login('app', 'AppOne7f3a', 'app')).toBe('app');
    await waitFor(
      'bob',
      () =>
        login('bob', 'BobOne81c2', 'postgres').then(
          () => true,
          () => false,
        ),
      15_000,
      200,
    );
    expect(await manager.psql("SELECT pg_has_role('bob', 'staff', 'MEMBER')")).toBe('t');
    fs.writeFileSync(
      rolesFile(),
      '- name: staff\n- name: bob\n  login: true\n  createdb: true\n  passwordSecret: bob-pw\n',
    );
    writeKubeletVolume(path.join(secrets(), 'app-user'), { username: 'app', password: 'AppTwo5d9e' });
    await waitFor(
      'bob altered',
      async () =>
        (await manager.psql(
          "SELECT rolcreatedb AND NOT pg_has_role('bob', 'staff', 'MEMBER') FROM pg_roles WHERE rolname = 'bob'",
        )) === 't',
      15_000,
    );
    await waitFor(
      'the rotated password',
      () =>
        login('app', 'AppTwo5d9e', 'app').then(
          () => true,
          () => false,
        ),
      15_000,
      200,
    );
    await expect(login('app', 'AppOne7f3a', 'app')).rejects.toThrow(/password authentication failed/);
    expect(manager.lines.filter((line) => line.msg === 'could not bring a role to its declared state')).toEqual([]);
  });
});

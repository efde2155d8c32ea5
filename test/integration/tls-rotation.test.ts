/**
 * Rotation the kubelet's way while a session is open, refused material, unchanged content, and
 * --hba changes at reload: all by reload, never a restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runArgsIn, runCli, scratchDir, startManager, type Manager } from '../support/manager.js';
import {
  opensslLeaf,
  opensslSecretsDir,
  servedCertificate,
  writeKubeletVolume,
  type SecretsMaterial,
} from '../support/secrets.js';

const SERVER_NAME = 'db.example.test';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('rotation and reloads', () => {
  let manager: Manager;
  let dir: string;
  let secrets: string;
  let material: SecretsMaterial;
  let hbaFile: string;
  let postmasterPid: number;
  let configDir: string;

  beforeAll(async () => {
    dir = scratchDir('tls-rotation');
    secrets = path.join(dir, 'secrets');
    material = opensslSecretsDir(secrets, path.join(dir, 'work'), [SERVER_NAME, '127.0.0.1'], 'rsa');
    hbaFile = path.join(dir, 'hba.conf');
    fs.writeFileSync(hbaFile, 'hostssl all alice all cert\n');
    // --config from a ConfigMap volume: the file is a symlink through ..data, like a Secret's.
    configDir = path.join(dir, 'config');
    writeKubeletVolume(configDir, { 'extra.conf': "work_mem = '4MB'\n" });
    const config = path.join(configDir, 'extra.conf');
    manager = await startManager({
      dir,
      args: [
        '--secrets-dir',
        secrets,
        '--server-name',
        SERVER_NAME,
        '--hba',
        hbaFile,
        '--config',
        config,
        '--smart-shutdown-timeout',
        '2',
      ],
    });
    const started = await manager.waitForMessage('PostgreSQL started');
    postmasterPid = started.postmasterPid as number;
    await manager.waitUntilReady();
    await manager.psql("CREATE ROLE bob LOGIN PASSWORD 'bob-secret'");
  });

  afterAll(async () => {
    expect(await manager?.stop()).toBe(0);
    // Never a restart: the postmaster of the first start served to the end.
    expect(manager.lines.filter((line) => line.msg === 'PostgreSQL started')).toHaveLength(1);
  });

  it('serves a certificate swapped in by the kubelet to new connections while an open session survives', async () => {
    const session = new pg.Client({
      host: '127.0.0.1',
      port: manager.port,
      user: 'bob',
      password: 'bob-secret',
      database: 'postgres',
      ssl: { ca: material.serverCa.certPem, servername: SERVER_NAME },
    });
    await session.connect();
    try {
      expect(await servedCertificate(manager.port)).toBe(material.server.certPem);
      const renewed = opensslLeaf(path.join(dir, 'work', 'server-2'), material.serverCa, {
        cn: SERVER_NAME,
        names: [SERVER_NAME, '127.0.0.1'],
        key: 'P-256',
      });
      const before = manager.lines.length;
      writeKubeletVolume(
        path.join(secrets, 'server-tls'),
        { 'tls.crt': renewed.certPem, 'tls.key': renewed.keyPem },
        0o644,
      );
      await waitFor('the new certificate', async () =>
        (await servedCertificate(manager.port)) === renewed.certPem ? true : undefined,
      );
      const reloaded = await manager.waitForMessage('configuration reloaded', 10_000, before);
      expect(reloaded.changedFiles).toEqual(['server.crt', 'server.key']);
      const { rows } = await session.query<{ ssl: boolean }>(
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
      );
      expect(rows[0]!.ssl).toBe(true);
    } finally {
      await session.end();
    }
    expect(fs.readFileSync(path.join(manager.pgdata, 'postmaster.pid'), 'utf8').split('\n')[0]).toBe(
      String(postmasterPid),
    );
  }, 60_000);

  it('refuses a broken certificate with an error line and keeps serving the previous one', async () => {
    const serving = await servedCertificate(manager.port);
    const other = opensslLeaf(path.join(dir, 'work', 'server-3'), material.serverCa, {
      cn: SERVER_NAME,
      names: [SERVER_NAME],
      key: 'ed25519',
    });
    const before = manager.lines.length;
    // The certificate of one key with another key: the kind of mistake a hand-made Secret has.
    writeKubeletVolume(path.join(secrets, 'server-tls'), {
      'tls.crt': other.certPem,
      'tls.key': material.replication.keyPem,
    });
    const refused = await manager.waitForMessage(
      'refused the mounted certificates; the previous ones keep serving',
      10_000,
      before,
    );
    expect(refused.level).toBe('error');
    expect(refused.err).toMatch(/server-tls\/tls.key: the key does not match server-tls\/tls.crt/);
    writeKubeletVolume(path.join(secrets, 'server-tls'), { 'tls.crt': 'not a certificate\n', 'tls.key': other.keyPem });
    const garbage = await manager.waitForLine(
      (line) =>
        line.msg === 'refused the mounted certificates; the previous ones keep serving' &&
        /not a PEM certificate/.test(String(line.err)),
      10_000,
      before,
    );
    expect(garbage.err).toMatch(/server-tls\/tls.crt: not a PEM certificate/);
    expect(await servedCertificate(manager.port)).toBe(serving);
    // A fixed Secret is taken again.
    writeKubeletVolume(path.join(secrets, 'server-tls'), { 'tls.crt': other.certPem, 'tls.key': other.keyPem });
    await waitFor('the fixed certificate', async () =>
      (await servedCertificate(manager.port)) === other.certPem ? true : undefined,
    );
  }, 60_000);

  it('does not reload when a swap brings the same content', async () => {
    const current = fs.readFileSync(path.join(manager.runDir, 'certificates', 'client-ca.crt'), 'utf8');
    const before = manager.lines.length;
    writeKubeletVolume(path.join(secrets, 'client-ca'), { 'ca.crt': current });
    fs.writeFileSync(hbaFile, fs.readFileSync(hbaFile));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(manager.lines.slice(before).filter((line) => line.msg === 'configuration reloaded')).toEqual([]);
  });

  it('applies a changed --hba file by reload, and keeps the old rules when the new ones are hostile', async () => {
    let before = manager.lines.length;
    fs.writeFileSync(hbaFile, 'hostssl all alice all cert\nhostssl app bob 10.0.0.0/8 scram-sha-256\n');
    await manager.waitForMessage('configuration reloaded', 10_000, before);
    const rules = () =>
      manager.psql(
        "SELECT string_agg(array_to_string(user_name, ','), ' ' ORDER BY line_number) FROM pg_hba_file_rules",
      );
    expect(await rules()).toContain('alice bob');

    before = manager.lines.length;
    fs.writeFileSync(hbaFile, 'hostssl all alice all cert\nhost all all 0.0.0.0/0 trust\n');
    const refused = await manager.waitForMessage(
      'reload refused; the previous configuration stays in force',
      10_000,
      before,
    );
    expect(refused.err).toMatch(
      /hba.conf:2: pg_hba rule "host all all 0.0.0.0\/0 trust" refused: trust on a TCP rule lets anyone who reaches the port in/,
    );
    expect(await rules()).toContain('alice bob');
    expect(await manager.psql("SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust'")).toBe('0');
    before = manager.lines.length;
    fs.writeFileSync(hbaFile, 'hostssl all alice all cert\n');
    await manager.waitForMessage('configuration reloaded', 10_000, before);
  }, 60_000);

  it('applies a --config file swapped in a ConfigMap volume, and reloads on SIGHUP', async () => {
    let before = manager.lines.length;
    writeKubeletVolume(configDir, { 'extra.conf': "work_mem = '8MB'\n" });
    const reloaded = await manager.waitForMessage('configuration reloaded', 10_000, before);
    expect(reloaded.changedFiles).toEqual(['custom.conf']);
    await waitFor(
      'work_mem 8MB',
      async () => ((await manager.psql('SHOW work_mem')) === '8MB' ? true : undefined),
      10_000,
    );

    before = manager.lines.length;
    manager.child.kill('SIGHUP');
    const hangup = await manager.waitForMessage('configuration reloaded', 10_000, before);
    expect(hangup).toMatchObject({ reason: 'SIGHUP', changedFiles: [] });
  }, 60_000);

  it('reports what PostgreSQL itself finds wrong after a reload', async () => {
    const before = manager.lines.length;
    // Valid for our checks, unknown to PostgreSQL 15: only pg_hba_file_rules can tell.
    fs.writeFileSync(hbaFile, 'hostssl all alice all cert\nhostssl all carol all ldap ldapserver=ldap.example\n');
    const found = await manager.waitForMessage('PostgreSQL found an error in its configuration', 10_000, before);
    expect(found.error).toMatch(/pg_hba.conf line \d+: .*"ldap" requires argument "ldapbasedn"/);
    fs.writeFileSync(hbaFile, 'hostssl all alice all cert\n');
    await manager.waitForMessage('configuration reloaded', 10_000, manager.lines.length);
  }, 60_000);
});

describe('hostile --hba rules at start', () => {
  it.each([
    ['include /etc/passwd', /pulls in other files/],
    ['hostssl all @/etc/users all scram-sha-256', /reads names from another file/],
    ['hostfoo all all all scram-sha-256', /unknown connection type/],
    ['hostssl all all all magic', /unknown authentication method/],
    ['host all all 0.0.0.0/0 trust', /trust on a TCP rule lets anyone/],
    [
      'host replication streaming_replica all scram-sha-256',
      /streaming_replica may only connect with a certificate over hostssl/,
    ],
    ['hostssl all alice all cert \\', /trailing backslash/],
  ])('%s: exit 2 with one line naming it', async (rule, why) => {
    const dir = scratchDir('tls-hostile');
    const hba = path.join(dir, 'hba.conf');
    fs.writeFileSync(hba, `hostssl all alice all cert\n${rule}\n`);
    const { code, stderr } = await runCli(runArgsIn(dir, '--secrets-dir', path.join(dir, 'none'), '--hba', hba));
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(`${hba}:2: pg_hba rule`);
    expect(stderr).toMatch(why);
    expect(fs.existsSync(path.join(dir, 'pgdata', 'PG_VERSION'))).toBe(false);
  });
});

/**
 * Provided mode end to end: certificates made by openssl, mounted the kubelet's way with group-
 * readable keys, judged by psql/libpq.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psqlConninfo, scratchDir, startManager, type Manager } from '../support/manager.js';
import type { OpensslPair } from '../support/openssl.js';
import { opensslCa, opensslLeaf, opensslSecretsDir, type SecretsMaterial } from '../support/secrets.js';

const SERVER_NAME = 'db.example.test';

describe('TLS with provided certificates', () => {
  let manager: Manager;
  let dir: string;
  let material: SecretsMaterial;
  const file = (name: string, content: string) => {
    const target = path.join(dir, 'client', name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content, { mode: 0o600 });
    return target;
  };
  const tcp = (options: string) =>
    `host=${SERVER_NAME} hostaddr=127.0.0.1 port=${manager.port} dbname=postgres ${options}`;

  beforeAll(async () => {
    dir = scratchDir('tls-provided');
    const secrets = path.join(dir, 'secrets');
    material = opensslSecretsDir(secrets, path.join(dir, 'work'), [SERVER_NAME, '127.0.0.1'], 'P-256');
    fs.writeFileSync(path.join(dir, 'hba.conf'), '# users with certificates\nhostssl all alice all cert\n');
    manager = await startManager({
      dir,
      args: [
        '--secrets-dir',
        secrets,
        '--server-name',
        SERVER_NAME,
        '--hba',
        path.join(dir, 'hba.conf'),
        '--smart-shutdown-timeout',
        '2',
      ],
    });
    await manager.waitUntilReady();
    await manager.psql('CREATE ROLE alice LOGIN');
    await manager.psql("CREATE ROLE bob LOGIN PASSWORD 'bob-secret'");
  });

  afterAll(async () => {
    expect(await manager?.stop()).toBe(0);
  });

  it('copies the material to run-dir/certificates, keys 0600 owned by the PostgreSQL user', () => {
    const certificates = path.join(manager.runDir, 'certificates');
    const postgresUid = fs.statSync(manager.pgdata).uid;
    for (const key of ['server.key', 'streaming_replica.key']) {
      const stat = fs.statSync(path.join(certificates, key));
      expect(stat.mode & 0o777, key).toBe(0o600);
      expect(stat.uid, key).toBe(postgresUid);
    }
    expect(fs.readFileSync(path.join(certificates, 'server.crt'), 'utf8')).toBe(material.server.certPem);
    expect(fs.readFileSync(path.join(certificates, 'client-ca.crt'), 'utf8')).toBe(material.clientCa.certPem);
  });

  it('serves TLS 1.3 that verify-full accepts for the server name, with scram-sha-256 passwords', async () => {
    const rootCert = file('server-ca.crt', material.serverCa.certPem);
    const out = await psqlConninfo(
      tcp(`user=bob password=bob-secret sslmode=verify-full sslrootcert=${rootCert}`),
      'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
    );
    expect(out).toBe('t|TLSv1.3');
    const wrongName = `host=wrong.example.test hostaddr=127.0.0.1 port=${manager.port} dbname=postgres user=bob password=bob-secret sslmode=verify-full sslrootcert=${rootCert}`;
    await expect(psqlConninfo(wrongName, 'SELECT 1')).rejects.toThrow(/does not match host name/);
  }, 30_000);

  it('refuses TCP without TLS', async () => {
    await expect(psqlConninfo(tcp('user=bob password=bob-secret sslmode=disable'), 'SELECT 1')).rejects.toThrow(
      /pg_hba.conf rejects connection/,
    );
  });

  it('logs in a user by a certificate from the client CA, and refuses one from another CA', async () => {
    const rootCert = file('server-ca.crt', material.serverCa.certPem);
    const alice = opensslLeaf(path.join(dir, 'work', 'alice'), material.clientCa, { cn: 'alice', key: 'rsa' });
    const options = (pem: OpensslPair, tag: string) =>
      `user=alice sslmode=verify-full sslrootcert=${rootCert} sslcert=${file(`${tag}.crt`, pem.certPem)} sslkey=${file(`${tag}.key`, pem.keyPem)}`;
    expect(await psqlConninfo(tcp(options(alice, 'alice')), 'SELECT current_user')).toBe('alice');

    const otherCa = opensslCa(path.join(dir, 'work', 'other-ca'), 'someone else', 'P-256');
    const mallory = opensslLeaf(path.join(dir, 'work', 'mallory'), otherCa, { cn: 'alice', key: 'P-256' });
    await expect(psqlConninfo(tcp(options(mallory, 'mallory')), 'SELECT current_user')).rejects.toThrow(
      /certificate|SSL/i,
    );
  }, 30_000);
});

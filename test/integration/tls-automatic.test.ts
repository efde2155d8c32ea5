/**
 * Automatic mode, as `npm start` runs it (no secrets dir): TLS out of the box, CAs created once
 * under run-dir/pki and reused by the next start; libpq is the judge.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueClientCertificate } from '../../src/pki/index.js';
import { psqlConninfo, scratchDir, startManager, type Manager } from '../support/manager.js';

describe('TLS in automatic mode', () => {
  let manager: Manager;
  let dir: string;
  const hba = () => path.join(dir, 'hba.conf');
  const args = () => ['--server-name', 'db.example.test', '--hba', hba(), '--smart-shutdown-timeout', '2'];
  const certificate = (name: string) => path.join(manager.runDir, 'certificates', name);

  beforeAll(async () => {
    dir = scratchDir('tls-automatic');
    fs.writeFileSync(hba(), 'hostssl all alice all cert\n');
    manager = await startManager({ dir, args: args() });
    await manager.waitUntilReady();
    await manager.psql('CREATE ROLE alice LOGIN');
  });

  afterAll(async () => {
    expect(await manager?.stop()).toBe(0);
  });

  it('serves a server certificate that verify-full accepts for --server-name and for localhost', async () => {
    const login = async (host: string) => {
      const pki = path.join(manager.runDir, 'pki');
      const alice = await issueClientCertificate(
        {
          certPem: fs.readFileSync(path.join(pki, 'client-ca.crt'), 'utf8'),
          keyPem: fs.readFileSync(path.join(pki, 'client-ca.key'), 'utf8'),
        },
        { user: 'alice', now: new Date() },
      );
      fs.writeFileSync(path.join(dir, 'alice.crt'), alice.certPem);
      fs.writeFileSync(path.join(dir, 'alice.key'), alice.keyPem, { mode: 0o600 });
      const conninfo = `host=${host} hostaddr=127.0.0.1 port=${manager.port} dbname=postgres user=alice sslmode=verify-full sslrootcert=${certificate('server-ca.crt')} sslcert=${path.join(dir, 'alice.crt')} sslkey=${path.join(dir, 'alice.key')}`;
      return psqlConninfo(conninfo, 'SELECT current_user, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    };
    expect(await login('db.example.test')).toBe('alice|TLSv1.3');
    expect(await login('localhost')).toBe('alice|TLSv1.3');
    await expect(
      psqlConninfo(`host=127.0.0.1 port=${manager.port} dbname=postgres user=alice sslmode=disable`, 'SELECT 1'),
    ).rejects.toThrow(/pg_hba.conf rejects connection/);
  }, 30_000);

  it('reuses its CAs and leaves on the next start', async () => {
    const before = ['server-ca.crt', 'client-ca.crt', 'server.crt'].map((name) =>
      fs.readFileSync(certificate(name), 'utf8'),
    );
    expect(manager.lines.filter((line) => line.msg === 'created a CA')).toHaveLength(2);
    expect(await manager.stop()).toBe(0);
    manager = await startManager({ dir, args: args() });
    await manager.waitUntilReady();
    expect(manager.lines.filter((line) => line.msg === 'created a CA' || line.msg === 'issued a certificate')).toEqual(
      [],
    );
    expect(
      ['server-ca.crt', 'client-ca.crt', 'server.crt'].map((name) => fs.readFileSync(certificate(name), 'utf8')),
    ).toEqual(before);
  }, 60_000);
});

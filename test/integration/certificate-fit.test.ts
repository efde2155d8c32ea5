/**
 * Provided certificates are checked against the instance: a server certificate clients would refuse
 * is reported (start and rotation), a replication certificate that would log in as another user is
 * refused. A refresh that fails for a full disk leaves no temporary file and is retried with backoff.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runArgsIn, runCli, scratchDir, startManager } from '../support/manager.js';
import { opensslLeaf, opensslSecretsDir, writeKubeletVolume } from '../support/secrets.js';

describe('provided certificates against the instance', () => {
  it('warns at start and at a rotation about a server certificate that names neither --server-name nor the host, or lacks serverAuth', async () => {
    const dir = scratchDir('certificate-fit');
    const secrets = path.join(dir, 'secrets');
    const material = opensslSecretsDir(secrets, path.join(dir, 'work'), ['other.example']);
    const manager = await startManager({ dir, args: ['--secrets-dir', secrets, '--server-name', 'db.example.test'] });
    try {
      await manager.waitUntilReady();
      const atStart = manager.lines.filter(
        (line) => line.msg === 'the mounted server certificate does not fit this instance',
      );
      expect(atStart).toHaveLength(1);
      expect(atStart[0]).toMatchObject({ level: 'warning', file: 'server-tls/tls.crt' });
      expect(atStart[0]!.concern).toMatch(
        /^it names other.example but none of db.example.test, .*: clients that verify the host name will refuse it$/,
      );

      const before = manager.lines.length;
      // A client certificate mounted as the server's: no serverAuth, and no host name either.
      const client = opensslLeaf(path.join(dir, 'work', 'client'), material.serverCa, { cn: 'db.example.test' });
      writeKubeletVolume(path.join(secrets, 'server-tls'), { 'tls.crt': client.certPem, 'tls.key': client.keyPem });
      await manager.waitForMessage('configuration reloaded', 30_000, before);
      const concerns = manager.lines
        .slice(before)
        .filter((line) => line.msg === 'the mounted server certificate does not fit this instance')
        .map((line) => line.concern);
      expect(concerns).toEqual([
        expect.stringMatching(/^it names no host but none of/),
        expect.stringMatching(/extended key usage \(clientAuth\) leaves out serverAuth/),
      ]);
    } finally {
      await manager.stop();
    }
  });

  it('refuses a replication certificate whose CN is not streaming_replica: exit 2 naming the file', async () => {
    const dir = scratchDir('certificate-fit');
    const secrets = path.join(dir, 'secrets');
    const material = opensslSecretsDir(secrets, path.join(dir, 'work'), ['127.0.0.1']);
    const app = opensslLeaf(path.join(dir, 'work', 'app'), material.clientCa, { cn: 'app' });
    writeKubeletVolume(path.join(secrets, 'replication-tls'), { 'tls.crt': app.certPem, 'tls.key': app.keyPem });
    const result = await runCli(runArgsIn(dir, '--secrets-dir', secrets));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^instance-manager: --secrets-dir .*: replication-tls\/tls.crt: its CN is "app", but replication logs in as streaming_replica: issue the certificate with CN=streaming_replica\n$/,
    );
    expect(fs.existsSync(path.join(dir, 'pgdata'))).toBe(false);
  });
});

describe('a certificate refresh on a full disk', () => {
  it('leaves no temporary file, keeps the old certificate, and succeeds by itself once there is room', async () => {
    const dir = scratchDir('certificate-fit');
    const secrets = path.join(dir, 'secrets');
    const material = opensslSecretsDir(secrets, path.join(dir, 'work'), ['127.0.0.1']);
    // A disk with room for the six certificate files and a little more.
    const certificates = path.join(dir, 'run', 'certificates');
    fs.mkdirSync(certificates, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32k,mode=0755', 'tmpfs', certificates]);
    const manager = await startManager({ dir, args: ['--secrets-dir', secrets] });
    try {
      await manager.waitUntilReady();
      const served = fs.readFileSync(path.join(certificates, 'server.crt'), 'utf8');
      const filler = path.join(certificates, 'filler');
      try {
        fs.writeFileSync(filler, Buffer.alloc(1024 * 1024));
      } catch {
        // ENOSPC: the disk is full now, which is the point.
      }
      const before = manager.lines.length;
      const renewed = opensslLeaf(path.join(dir, 'work', 'server-2'), material.serverCa, {
        cn: '127.0.0.1',
        names: ['127.0.0.1'],
      });
      writeKubeletVolume(path.join(secrets, 'server-tls'), { 'tls.crt': renewed.certPem, 'tls.key': renewed.keyPem });
      const failed = await manager.waitForMessage(
        'certificate refresh failed; the previous certificates keep serving',
        30_000,
        before,
      );
      expect(failed.err).toMatch(/ENOSPC/);
      expect(failed.retryInMs).toBe(1_000);
      expect(fs.readdirSync(certificates).filter((name) => name.endsWith('.tmp'))).toEqual([]);
      expect(fs.readFileSync(path.join(certificates, 'server.crt'), 'utf8')).toBe(served);

      fs.rmSync(filler);
      // Retries that came before the room was made failed again and doubled the delay (1, 2, 4 s...).
      await manager.waitForLine(
        (line) => line.msg === 'configuration reloaded' && line.reason === 'retry of a failed certificate refresh',
        60_000,
        before,
      );
      expect(fs.readFileSync(path.join(certificates, 'server.crt'), 'utf8')).toBe(renewed.certPem);
      expect(fs.readdirSync(certificates).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    } finally {
      await manager.stop();
      execFileSync('umount', ['-l', certificates]);
    }
  }, 150_000);
});

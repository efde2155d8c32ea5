/**
 * The status API over HTTPS with mounted Secrets (made by openssl): TLS 1.3 only, the operator's
 * client-certificate matrix, actions, the CLI, slowloris connections, and a certificate rotation
 * the kubelet's way while the listener stays up.
 */
import crypto from 'node:crypto';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, scratchDir, startManager, type Manager } from '../support/manager.js';
import type { OpensslPair } from '../support/openssl.js';
import {
  opensslCa,
  opensslLeaf,
  opensslSecretsDir,
  writeKubeletVolume,
  type SecretsMaterial,
} from '../support/secrets.js';
import { ask, waitForStatusApi, type Answer } from '../support/status.js';

const fingerprint = (pem: string) => new crypto.X509Certificate(pem).fingerprint256;

/** Opens a TLS connection and reports what was negotiated, or the handshake error. */
function handshake(
  port: number,
  options: tls.ConnectionOptions,
): Promise<{ protocol: string | null; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options }, () => {
      resolve({ protocol: socket.getProtocol(), fingerprint: socket.getPeerCertificate().fingerprint256 });
      socket.end();
    });
    socket.on('error', reject);
  });
}

describe('status API over HTTPS', () => {
  let manager: Manager;
  let dir: string;
  let secrets: string;
  let material: SecretsMaterial;
  const clients: Record<'operator' | 'dba' | 'app' | 'forged', OpensslPair> = {} as never;

  const post = (action: string, client?: OpensslPair): Promise<Answer> =>
    ask(`${manager.statusBase}/pg/${action}`, {
      method: 'POST',
      ca: material.serverCa.certPem,
      ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
    });
  const get = (what: string): Promise<Answer> => ask(`${manager.statusBase}${what}`, { ca: material.serverCa.certPem });

  beforeAll(async () => {
    dir = scratchDir('status-tls');
    secrets = path.join(dir, 'secrets');
    const work = path.join(dir, 'work');
    material = opensslSecretsDir(secrets, work, ['localhost', '127.0.0.1']);
    const otherCa = opensslCa(path.join(work, 'other-ca'), 'somebody else CA');
    clients.operator = opensslLeaf(path.join(work, 'operator'), material.clientCa, { cn: 'instance-manager-operator' });
    clients.dba = opensslLeaf(path.join(work, 'dba'), material.clientCa, { cn: 'dba' });
    clients.app = opensslLeaf(path.join(work, 'app'), material.clientCa, { cn: 'app' });
    clients.forged = opensslLeaf(path.join(work, 'forged'), otherCa, { cn: 'instance-manager-operator' });
    manager = await startManager({
      dir,
      status: 'https',
      args: [
        '--secrets-dir',
        secrets,
        '--operator-names',
        'instance-manager-operator,dba',
        '--smart-shutdown-timeout',
        '2',
      ],
    });
    await waitForStatusApi(manager.statusBase, { ca: material.serverCa.certPem });
    await manager.waitUntilReady();
  });

  afterAll(async () => {
    expect(await manager?.stop()).toBe(0);
  });

  it('serves the mounted server certificate over TLS 1.3 only', async () => {
    const port = Number(new URL(manager.statusBase).port);
    const negotiated = await handshake(port, { ca: material.serverCa.certPem });
    expect(negotiated).toEqual({ protocol: 'TLSv1.3', fingerprint: fingerprint(material.server.certPem) });
    await expect(handshake(port, { ca: material.serverCa.certPem, maxVersion: 'TLSv1.2' })).rejects.toThrow(
      /protocol version|alert/i,
    );
    expect((await get('/healthz')).status).toBe(200);
  });

  it('lets only a verified operator CN call the actions: none 401, other CA 401, other CN 403, operator 200', async () => {
    const before = manager.lines.length;
    const codes = {
      none: (await post('reload')).status,
      forged: (await post('reload', clients.forged)).status,
      app: (await post('reload', clients.app)).status,
      operator: (await post('reload', clients.operator)).status,
      secondOperatorName: (await post('reload', clients.dba)).status,
    };
    expect(codes).toEqual({ none: 401, forged: 401, app: 403, operator: 200, secondOperatorName: 200 });
    const refused = manager.lines.slice(before).filter((line) => line.msg === 'operator action refused');
    expect(refused.map((line) => [line.status, line.commonName])).toEqual([
      [401, undefined],
      [401, 'instance-manager-operator'],
      [403, 'app'],
    ]);
    expect(String(refused[1]!.reason)).toMatch(/not signed by the client CA/);
    const done = manager.lines.slice(before).filter((line) => line.msg === 'operator action');
    expect(done.map((line) => [line.action, line.operator])).toEqual([
      ['reload', 'instance-manager-operator'],
      ['reload', 'dba'],
    ]);
  });

  it('answers 409 to a promote on a primary, and checks the caller first', async () => {
    expect((await post('promote')).status).toBe(401);
    expect((await post('promote', clients.app)).status).toBe(403);
    const promote = await post('promote', clients.operator);
    expect(promote.status).toBe(409);
    expect(promote.body).toMatch(/already a primary/);
    expect(
      (
        await ask(`${manager.statusBase}/pg/promote`, {
          ca: material.serverCa.certPem,
          cert: clients.operator.certPem,
          key: clients.operator.keyPem,
        })
      ).status,
    ).toBe(405);
    expect((await get('/pg/failover')).status).toBe(404);
  });

  it('reports the certificates it serves in /pg/status and /metrics', async () => {
    const status = JSON.parse((await get('/pg/status')).body) as {
      certificates: { name: string; notAfter: string; daysLeft: number; mode: string }[];
    };
    const server = status.certificates.find((file) => file.name === 'server.crt');
    expect(server).toEqual({
      name: 'server.crt',
      notAfter: new Date(new crypto.X509Certificate(material.server.certPem).validTo).toISOString(),
      daysLeft: 89,
      mode: 'provided',
    });
    expect(status.certificates.map((file) => file.name).sort()).toEqual([
      'client-ca.crt',
      'server-ca.crt',
      'server.crt',
      'streaming_replica.crt',
    ]);
    const expiry = new Date(new crypto.X509Certificate(material.server.certPem).validTo).getTime() / 1000;
    expect((await get('/metrics')).body).toContain(
      `\ninstance_manager_certificate_expiry_timestamp_seconds{file="server.crt"} ${expiry}\n`,
    );
  });

  it('prints the status for a person with instance-manager status', async () => {
    const caFile = path.join(dir, 'work', 'server-ca', 'ca.crt');
    const shown = await runCli(['status', '--url', manager.statusBase, '--ca', caFile]);
    expect(shown.stderr).toBe('');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^role: +primary \(ready\)$/m);
    expect(shown.stdout).toMatch(/^(certificates:)? +server\.crt: provided, expires \S+ \(89 days left\)$/m);
    expect(shown.stdout).toMatch(/^(certificates:)? +client-ca\.crt: provided, expires \S+ \(364 days left\)$/m);
    // By name, as inside the pod: localhost is not checked against the certificate's names.
    const byName = await runCli([
      'status',
      '--url',
      manager.statusBase.replace('127.0.0.1', 'localhost'),
      '--ca',
      caFile,
    ]);
    expect(byName.code).toBe(0);
    // The wrong CA: the server is not trusted.
    const unverifiable = await runCli([
      'status',
      '--url',
      manager.statusBase,
      '--ca',
      path.join(dir, 'work', 'client-ca', 'ca.crt'),
    ]);
    expect(unverifiable.code).toBe(1);
    expect(unverifiable.stderr).toMatch(/certificate/);
    const missing = await runCli(['status', '--url', manager.statusBase, '--ca', path.join(dir, 'nope.crt')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--ca .*nope\.crt: cannot be read/);
  });

  it('answers /healthz within 1 s while 200 idle connections hold sockets open, and drops them after the header timeout', async () => {
    const port = Number(new URL(manager.statusBase).port);
    const closed: Promise<number>[] = [];
    const hold = (socket: net.Socket) => {
      const opened = performance.now();
      socket.on('error', () => undefined);
      socket.resume(); // read what the server sends (a 408) so its close reaches us
      closed.push(new Promise((resolve) => socket.once('close', () => resolve(performance.now() - opened))));
    };
    const tlsConnection = () =>
      new Promise<tls.TLSSocket>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port, ca: material.serverCa.certPem }, () => resolve(socket));
        hold(socket);
        socket.once('error', reject);
      });
    // Three kinds of idlers: no TLS handshake at all; a handshake and then silence; a handshake and
    // an unfinished request.
    for (let i = 0; i < 66; i++) hold(net.connect(port, '127.0.0.1'));
    await Promise.all(Array.from({ length: 67 }, tlsConnection));
    const dribblers = await Promise.all(Array.from({ length: 67 }, tlsConnection));
    for (const socket of dribblers) socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const answers = await Promise.all(Array.from({ length: 5 }, () => get('/healthz')));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.elapsedMs).toBeLessThan(1_000);
    }
    const lifetimes = await Promise.all(closed);
    expect(lifetimes).toHaveLength(200);
    // 3 s to finish the handshake or the request headers, checked every 0.5 s; the margin is for this
    // busy client noticing (Node's own defaults would keep them 60 to 120 s).
    expect(Math.max(...lifetimes)).toBeLessThan(8_000);
    expect(Math.min(...lifetimes)).toBeGreaterThan(2_900);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('restarts PostgreSQL for the operator and answers before the restart is done', async () => {
    const before = manager.lines.length;
    const restart = await post('restart', clients.operator);
    expect(restart.status).toBe(202);
    await manager.waitUntilReady(30_000, before);
    await expect.poll(async () => (await get('/readyz')).status, { timeout: 10_000 }).toBe(200);
    expect(JSON.parse((await get('/pg/status')).body)).toMatchObject({ restarts: 1, isReady: true });
    expect(manager.lines.slice(before).find((line) => line.msg === 'restarting PostgreSQL')?.reason).toBe(
      'restart asked by instance-manager-operator over the status API',
    );
  });

  it('swaps in a rotated certificate without closing the listener or open connections', async () => {
    const port = Number(new URL(manager.statusBase).port);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: material.serverCa.certPem });
    const reused: boolean[] = [];
    const failures: string[] = [];
    let polling = true;
    // One kept-alive connection and fresh ones, asking all through the rotation.
    const poller = (async () => {
      while (polling) {
        await new Promise<void>((resolve) => {
          const request = https.get(`${manager.statusBase}/healthz`, { agent }, (response) => {
            response.resume().on('end', () => resolve());
            if (response.statusCode !== 200) failures.push(`kept-alive: ${response.statusCode}`);
          });
          request.on('socket', () => undefined);
          request.on('finish', () => reused.push(request.reusedSocket));
          request.on('error', (error) => {
            failures.push(`kept-alive: ${error.message}`);
            resolve();
          });
        });
        await get('/healthz').then(
          (answer) => answer.status === 200 || failures.push(`fresh: ${answer.status}`),
          (error: Error) => failures.push(`fresh: ${error.message}`),
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    try {
      const renewed = opensslLeaf(path.join(dir, 'work', 'server-2'), material.serverCa, {
        cn: 'localhost',
        names: ['localhost', '127.0.0.1'],
      });
      const before = manager.lines.length;
      writeKubeletVolume(path.join(secrets, 'server-tls'), { 'tls.crt': renewed.certPem, 'tls.key': renewed.keyPem });
      await manager.waitForMessage('status API certificate replaced', 10_000, before);
      expect((await handshake(port, { ca: material.serverCa.certPem })).fingerprint).toBe(fingerprint(renewed.certPem));
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      polling = false;
      await poller;
      agent.destroy();
    }
    expect(failures).toEqual([]);
    expect(reused.length).toBeGreaterThan(3);
    // Only the first request opened the kept-alive connection: it lived through the swap.
    expect(reused.slice(1).every(Boolean)).toBe(true);
  });
});

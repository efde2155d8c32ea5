/**
 * The certificate lifecycle on real files under a fake clock: automatic CAs created once and
 * re-signed with the same key, leaves renewed under 7 days left, hybrid leaves signed by a mounted
 * CA, refused material keeping what served. openssl judges the chains.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log.js';
import { CertificateStore } from '../../src/secrets/index.js';
import { UsageError } from '../../src/errors.js';
import { scratchDir } from '../support/manager.js';
import { opensslVerify } from '../support/openssl.js';
import { opensslCa, writeKubeletVolume } from '../support/secrets.js';

const DAY = 86_400_000;

function recordingLogger(): Logger & { lines: { level: string; msg: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    void lines.push({ level, msg, fields });
  return { lines, error: at('error'), warning: at('warning'), info: at('info'), debug: at('debug') } as Logger & {
    lines: typeof lines;
  };
}

function setUp(secretsDir?: string) {
  const dir = scratchDir('store');
  let now = new Date('2026-12-01T00:00:00Z');
  const logger = recordingLogger();
  const store = new CertificateStore({
    secretsDir: secretsDir ?? path.join(dir, 'no-secrets'),
    runDir: path.join(dir, 'run'),
    runAs: { name: 'self', uid: undefined, gid: undefined, home: '/' },
    serverNames: ['db.example.test', '10.1.2.3'],
    logger,
    now: () => now,
  });
  const read = (name: string) => fs.readFileSync(store.path(name), 'utf8');
  return { dir, store, logger, read, advance: (days: number) => (now = new Date(now.getTime() + days * DAY)) };
}

describe('CertificateStore in automatic mode', () => {
  it('creates both CAs once, issues leaves that openssl verifies, and copies keys 0600', async () => {
    const { dir, store, read } = setUp();
    const changed = await store.prepare();
    expect(changed.sort()).toEqual([
      'client-ca.crt',
      'server-ca.crt',
      'server.crt',
      'server.key',
      'streaming_replica.crt',
      'streaming_replica.key',
    ]);
    for (const key of ['server.key', 'streaming_replica.key'])
      expect(fs.statSync(store.path(key)).mode & 0o777).toBe(0o600);
    for (const key of ['server-ca.key', 'client-ca.key'])
      expect(fs.statSync(path.join(dir, 'run', 'pki', key)).mode & 0o777).toBe(0o600);
    const at = new Date('2026-12-01T00:00:00Z');
    expect(opensslVerify(dir, read('server.crt'), read('server-ca.crt'), { purpose: 'sslserver', at })).toMatchObject({
      ok: true,
    });
    expect(
      opensslVerify(dir, read('streaming_replica.crt'), read('client-ca.crt'), { purpose: 'sslclient', at }),
    ).toMatchObject({ ok: true });
    expect(
      store
        .status()
        .map(({ name, mode, daysLeft }) => ({ name, mode, daysLeft }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    ).toEqual([
      { name: 'client-ca.crt', mode: 'automatic', daysLeft: 365 },
      { name: 'server-ca.crt', mode: 'automatic', daysLeft: 365 },
      { name: 'server.crt', mode: 'automatic', daysLeft: 90 },
      { name: 'streaming_replica.crt', mode: 'automatic', daysLeft: 90 },
    ]);
  });

  it('reuses everything on the next start and on refreshes while nothing is due', async () => {
    const { dir, store, read } = setUp();
    await store.prepare();
    const first = read('server.crt');
    const again = new CertificateStore({
      secretsDir: path.join(dir, 'none'),
      runDir: path.join(dir, 'run'),
      runAs: { name: 'self', uid: undefined, gid: undefined, home: '/' },
      serverNames: ['db.example.test', '10.1.2.3'],
      logger: recordingLogger(),
      now: () => new Date('2026-12-01T00:00:00Z'),
    });
    expect(await again.prepare()).toEqual([]);
    expect(read('server.crt')).toBe(first);
    expect(await store.refresh()).toEqual([]);
  });

  it('renews leaves with fewer than 7 days left, and re-signs the CAs with their own key 30 days before expiry', async () => {
    const { dir, store, read, advance, logger } = setUp();
    await store.prepare();
    const firstLeaf = read('server.crt');
    const firstCa = read('server-ca.crt');
    const caKey = fs.readFileSync(path.join(dir, 'run', 'pki', 'server-ca.key'), 'utf8');
    advance(82); // 8 days left: not yet
    expect(await store.refresh()).toEqual([]);
    advance(2); // 6 days left
    expect((await store.refresh()).sort()).toEqual([
      'server.crt',
      'server.key',
      'streaming_replica.crt',
      'streaming_replica.key',
    ]);
    expect(read('server.crt')).not.toBe(firstLeaf);
    expect(
      logger.lines.filter((line) => line.msg === 'issued a certificate').map((line) => String(line.fields?.reason)),
    ).toContain('6 days left (renewed below 7)');

    advance(250); // day 334 of the CA's 365: 31 days left
    await store.refresh();
    expect(read('server-ca.crt')).toBe(firstCa);
    advance(2); // 29 days left
    const changed = await store.refresh();
    expect(changed).toContain('server-ca.crt');
    expect(read('server-ca.crt')).not.toBe(firstCa);
    expect(fs.readFileSync(path.join(dir, 'run', 'pki', 'server-ca.key'), 'utf8')).toBe(caKey);
    // Leaves signed before still verify against the renewed CA: existing trust holds.
    const at = new Date(Date.parse('2026-12-01T00:00:00Z') + 336 * DAY);
    expect(opensslVerify(dir, read('server.crt'), read('server-ca.crt'), { at })).toMatchObject({ ok: true });
    expect(store.status().find((entry) => entry.name === 'server-ca.crt')!.daysLeft).toBeGreaterThan(360);
  });
});

describe('CertificateStore with mounted CAs (hybrid) and refused material', () => {
  it('signs the missing leaves with a mounted ECDSA CA, and keeps serving them when a broken CA is mounted', async () => {
    const work = scratchDir('store-hybrid');
    const secrets = path.join(work, 'secrets');
    const serverCa = opensslCa(path.join(work, 'server-ca'), 'mounted server CA', 'P-256');
    const clientCa = opensslCa(path.join(work, 'client-ca'), 'mounted client CA', 'ed25519');
    writeKubeletVolume(path.join(secrets, 'server-ca'), { 'ca.crt': serverCa.certPem, 'ca.key': serverCa.keyPem });
    writeKubeletVolume(path.join(secrets, 'client-ca'), { 'ca.crt': clientCa.certPem, 'ca.key': clientCa.keyPem });
    const { dir, store, read, logger } = setUp(secrets);
    await store.prepare();
    expect(new Set(store.status().map((entry) => entry.mode))).toEqual(new Set(['hybrid']));
    expect(read('server-ca.crt')).toBe(serverCa.certPem);
    const at = new Date('2026-12-01T00:00:00Z');
    expect(opensslVerify(dir, read('server.crt'), serverCa.certPem, { purpose: 'sslserver', at })).toMatchObject({
      ok: true,
    });
    expect(
      opensslVerify(dir, read('streaming_replica.crt'), clientCa.certPem, { purpose: 'sslclient', at }),
    ).toMatchObject({ ok: true });

    const served = read('server.crt');
    writeKubeletVolume(path.join(secrets, 'server-ca'), { 'ca.crt': serverCa.certPem, 'ca.key': clientCa.keyPem });
    expect(await store.refresh()).toEqual([]);
    const refused = logger.lines.find(
      (line) => line.msg === 'refused the mounted certificates; the previous ones keep serving',
    );
    expect(refused?.fields?.err).toMatch(/server-ca\/ca.crt: .*does not match/);
    expect(read('server.crt')).toBe(served);
    expect(store.status().find((entry) => entry.name === 'server.crt')?.mode).toBe('hybrid');
  });

  it('refuses a bad --server-name naming the flag', async () => {
    const dir = scratchDir('store-names');
    const store = new CertificateStore({
      secretsDir: path.join(dir, 'none'),
      runDir: path.join(dir, 'run'),
      runAs: { name: 'self', uid: undefined, gid: undefined, home: '/' },
      serverNames: ['not a name'],
      logger: recordingLogger(),
    });
    await expect(store.prepare()).rejects.toThrow(
      /^--server-name: "not a name" is neither a DNS name nor an IP address/,
    );
  });

  it('refuses bad mounted material at start with a UsageError naming the file', async () => {
    const work = scratchDir('store-bad');
    const secrets = path.join(work, 'secrets');
    const ca = opensslCa(path.join(work, 'ca'), 'server CA', 'P-256');
    writeKubeletVolume(path.join(secrets, 'server-ca'), { 'ca.crt': ca.certPem });
    writeKubeletVolume(path.join(secrets, 'server-tls'), { 'tls.crt': ca.certPem, 'tls.key': 'garbage' });
    const { store } = setUp(secrets);
    await expect(store.prepare()).rejects.toThrow(UsageError);
    await expect(store.prepare()).rejects.toThrow(/--secrets-dir .*: server-tls\/tls.key: /);
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueServerCertificate } from '../src/pki/index.js';
import { runCli, scratchDir } from './support/manager.js';
import { CA_EXTENSIONS, certificateText, opensslCertificate, opensslVerify } from './support/openssl.js';
import { psqlTcp, TlsPostgres } from './support/tls-postgres.js';

let dir: string;
const at = (...parts: string[]) => path.join(dir, ...parts);
const read = (...parts: string[]) => fs.readFileSync(at(...parts), 'utf8');
const mode = (...parts: string[]) => fs.statSync(at(...parts)).mode & 0o777;

async function cli(...args: string[]): Promise<string> {
  const result = await runCli(['certificate', ...args]);
  if (result.code !== 0) throw new Error(`certificate ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

beforeAll(async () => {
  dir = scratchDir('certificate');
  await Promise.all([
    cli('ca', '--out', at('server-ca'), '--cn', 'test server CA'),
    cli('ca', '--out', at('client-ca'), '--cn', 'test client CA', '--days', '30'),
  ]);
  await Promise.all([
    cli('server', '--ca', at('server-ca'), '--names', 'db.test,127.0.0.1', '--out', at('server')),
    cli('client', '--ca', at('client-ca'), '--user', 'app', '--out', at('app')),
    cli('client', '--ca', at('client-ca'), '--user', 'bob', '--out', at('bob')),
    cli('client', '--ca', at('server-ca'), '--user', 'app', '--out', at('app-wrong-ca')),
  ]);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('certificate ca|server|client', () => {
  it('writes PEM files, keys 0600, that openssl reads as asked', () => {
    expect([
      mode('server-ca', 'ca.key'),
      mode('server-ca', 'ca.crt'),
      mode('server', 'tls.key'),
      mode('app', 'tls.key'),
    ]).toEqual([0o600, 0o644, 0o600, 0o600]);
    expect(certificateText(read('server-ca', 'ca.crt'))).toMatch(
      /Subject: CN ?= ?test server CA[\s\S]*CA:TRUE[\s\S]*Certificate Sign, CRL Sign/,
    );
    const server = certificateText(read('server', 'tls.crt'));
    expect(server).toContain('DNS:db.test, IP Address:127.0.0.1');
    expect(server).toMatch(/TLS Web Server Authentication/);
    expect(certificateText(read('app', 'tls.crt'))).toMatch(/Subject: CN ?= ?app[\s\S]*TLS Web Client Authentication/);
    expect(
      opensslVerify(dir, read('server', 'tls.crt'), read('server-ca', 'ca.crt'), { purpose: 'sslserver' }),
    ).toMatchObject({ ok: true });
    expect(
      opensslVerify(dir, read('app', 'tls.crt'), read('client-ca', 'ca.crt'), { purpose: 'sslclient' }),
    ).toMatchObject({ ok: true });
    expect(opensslVerify(dir, read('app', 'tls.crt'), read('server-ca', 'ca.crt'))).toMatchObject({ ok: false });
  });

  it('prints a kubernetes.io/tls Secret for a client certificate', async () => {
    const yaml = await cli('client', '--ca', at('client-ca'), '--user', 'streaming_replica', '--format', 'k8s-secret');
    expect(yaml).toMatch(
      /^apiVersion: v1\nkind: Secret\ntype: kubernetes.io\/tls\nmetadata:\n {2}name: "streaming-replica-client-cert"\n/,
    );
    const field = (key: string) =>
      Buffer.from(new RegExp(`^  ${key.replace('.', '\\.')}: (\\S+)$`, 'm').exec(yaml)![1]!, 'base64').toString();
    expect(certificateText(field('tls.crt'))).toMatch(/Subject: CN ?= ?streaming_replica/);
    expect(field('tls.key')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(opensslVerify(dir, field('tls.crt'), read('client-ca', 'ca.crt'))).toMatchObject({ ok: true });
  });

  it('inspects any PEM certificate as JSON, with the days left', async () => {
    const server = JSON.parse(await cli('inspect', at('server', 'tls.crt'))) as Record<string, unknown>;
    expect(server).toMatchObject({
      subject: 'CN=db.test',
      issuer: 'CN=test server CA',
      dnsNames: ['db.test'],
      ipAddresses: ['127.0.0.1'],
      daysLeft: 89,
      isCa: false,
      keyAlgorithm: 'RSA 2048',
    });
    const ecdsa = opensslCertificate(dir, {
      name: 'inspect-ec',
      cn: 'ec.test',
      key: 'P-256',
      days: 10,
      extensions: ['subjectAltName=DNS:ec.test'],
    });
    fs.writeFileSync(at('ec.crt'), ecdsa.certPem);
    expect(JSON.parse(await cli('inspect', at('ec.crt')))).toMatchObject({
      commonName: 'ec.test',
      keyAlgorithm: 'ECDSA P-256',
      daysLeft: 9,
      selfSigned: true,
    });
  });
});

describe('bad input: one line naming it, exit 2', () => {
  beforeAll(async () => {
    fs.mkdirSync(at('no-key'));
    fs.copyFileSync(at('server-ca', 'ca.crt'), at('no-key', 'ca.crt'));
    fs.mkdirSync(at('mismatch'));
    fs.copyFileSync(at('server-ca', 'ca.crt'), at('mismatch', 'ca.crt'));
    fs.copyFileSync(at('client-ca', 'ca.key'), at('mismatch', 'ca.key'));
    fs.mkdirSync(at('not-ca'));
    fs.copyFileSync(at('app', 'tls.crt'), at('not-ca', 'ca.crt'));
    fs.copyFileSync(at('app', 'tls.key'), at('not-ca', 'ca.key'));
    const expired = await createCa({ commonName: 'old CA', days: 1, now: new Date(Date.now() - 3 * 86_400_000) });
    fs.mkdirSync(at('expired'));
    fs.writeFileSync(at('expired', 'ca.crt'), expired.certPem);
    fs.writeFileSync(at('expired', 'ca.key'), expired.keyPem);
    fs.mkdirSync(at('unreadable'));
    fs.mkdirSync(at('unreadable', 'ca.crt'));
    fs.writeFileSync(at('garbage.pem'), 'not a certificate\n');
  });

  it.each<[string, () => string[], RegExp]>([
    [
      'a CA without its key',
      () => ['server', '--ca', at('no-key'), '--names', 'x', '--out', at('o1')],
      /^--ca: .*no-key has ca.crt but no ca.key/,
    ],
    [
      'a key that does not match',
      () => ['server', '--ca', at('mismatch'), '--names', 'x', '--out', at('o2')],
      /^--ca .*mismatch: the private key does not match the certificate$/,
    ],
    [
      'a CA that is not a CA',
      () => ['client', '--ca', at('not-ca'), '--user', 'x', '--out', at('o3')],
      /^--ca .*not-ca: "CN=app" is not a CA certificate/,
    ],
    [
      'an expired CA',
      () => ['client', '--ca', at('expired'), '--user', 'x', '--out', at('o4')],
      /^--ca .*expired: "CN=old CA" expired on /,
    ],
    [
      'an unreadable file',
      () => ['server', '--ca', at('unreadable'), '--names', 'x', '--out', at('o5')],
      /^--ca: cannot read .*unreadable\/ca.crt \(EISDIR\)$/,
    ],
    [
      'a missing CA directory',
      () => ['server', '--ca', at('nowhere'), '--names', 'x', '--out', at('o6')],
      /^--ca: .*nowhere\/ca.crt does not exist$/,
    ],
    [
      'a key given to inspect',
      () => ['inspect', at('server', 'tls.key')],
      /^.*server\/tls.key: holds a private key, not a certificate \(are tls.crt and tls.key swapped\?\)$/,
    ],
    [
      'text given to inspect',
      () => ['inspect', at('garbage.pem')],
      /^.*garbage.pem: not a PEM certificate \(no "-----BEGIN CERTIFICATE-----" line\)$/,
    ],
    [
      'an existing CA key',
      () => ['ca', '--out', at('server-ca'), '--cn', 'again'],
      /^--out: .*server-ca\/ca.key already exists/,
    ],
    [
      'a bad name',
      () => ['server', '--ca', at('server-ca'), '--names', 'db,not a name', '--out', at('o7')],
      /^--names: "not a name" is neither a DNS name nor an IP address$/,
    ],
    [
      'bad days',
      () => ['ca', '--out', at('o8'), '--cn', 'x', '--days', '-3'],
      /^--days: "-3" is not a whole number of days/,
    ],
  ])('%s', async (_, args, message) => {
    const result = await runCli(['certificate', ...args()]);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.replace(/^instance-manager: /, '')).toMatch(message);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
  });

  it('leaves no files behind after a refusal', () => {
    for (const out of ['o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7', 'o8']) expect(fs.existsSync(at(out))).toBe(false);
    expect(read('server-ca', 'ca.crt')).toMatch(/BEGIN CERTIFICATE/);
  });
});

describe('libpq as the judge', () => {
  let postgres: TlsPostgres;
  const client = (who: string) => ({ sslcert: at(who, 'tls.crt'), sslkey: at(who, 'tls.key') });
  const connect = (options: Record<string, string>) =>
    psqlTcp({
      port: String(postgres.port),
      dbname: 'postgres',
      user: 'app',
      sslmode: 'verify-full',
      sslrootcert: at('server-ca', 'ca.crt'),
      ...client('app'),
      ...options,
    });

  /** PostgreSQL reads new TLS files on the reload signal, asynchronously: poll for the outcome. */
  async function eventually(attempt: () => { ok: boolean; output: string }): Promise<{ ok: boolean; output: string }> {
    let result = attempt();
    for (let tries = 0; !result.ok && tries < 50; tries++) {
      await sleep(100);
      result = attempt();
    }
    return result;
  }

  beforeAll(async () => {
    postgres = await TlsPostgres.start(at('pg'), {
      certPem: read('server', 'tls.crt'),
      keyPem: read('server', 'tls.key'),
      clientCaPem: read('client-ca', 'ca.crt'),
    });
    postgres.sql('CREATE ROLE app LOGIN');
  });

  afterAll(() => postgres?.stop());

  it('verify-full accepts the issued server certificate by name and by IP, and logs in with the client certificate', () => {
    expect(connect({ host: 'db.test', hostaddr: '127.0.0.1' })).toEqual({ ok: true, output: 'app' });
    expect(connect({ host: '127.0.0.1' })).toEqual({ ok: true, output: 'app' });
  });

  it('refuses a name the certificate does not carry', () => {
    const result = connect({ host: 'other.test', hostaddr: '127.0.0.1' });
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/does not match host name "other.test"/);
  });

  it('cert authentication refuses another user and another CA', () => {
    const otherUser = connect({ host: '127.0.0.1', ...client('bob') });
    expect(otherUser.ok).toBe(false);
    expect(otherUser.output).toMatch(/certificate authentication failed for user "app"/);
    const otherCa = connect({ host: '127.0.0.1', ...client('app-wrong-ca') });
    expect(otherCa.ok).toBe(false);
  });

  it('a leaf signed by a mounted ECDSA intermediate carries its chain: clients trusting only the root verify', async () => {
    const root = opensslCertificate(dir, {
      name: 'hybrid-root',
      cn: 'hybrid root',
      key: 'P-256',
      extensions: CA_EXTENSIONS,
    });
    const intermediate = opensslCertificate(dir, {
      name: 'hybrid-int',
      cn: 'hybrid intermediate',
      key: 'P-384',
      extensions: CA_EXTENSIONS,
      issuer: root,
    });
    fs.mkdirSync(at('hybrid-ca'));
    fs.writeFileSync(at('hybrid-ca', 'ca.crt'), intermediate.certPem + root.certPem);
    fs.writeFileSync(at('hybrid-ca', 'ca.key'), intermediate.keyPem, { mode: 0o600 });
    fs.writeFileSync(at('hybrid-root.pem'), root.certPem);
    await cli('server', '--ca', at('hybrid-ca'), '--names', 'db.test', '--out', at('hybrid-server'));
    postgres.install({
      certPem: read('hybrid-server', 'tls.crt'),
      keyPem: read('hybrid-server', 'tls.key'),
      clientCaPem: read('client-ca', 'ca.crt'),
    });
    postgres.reload();
    expect(
      await eventually(() => connect({ host: 'db.test', hostaddr: '127.0.0.1', sslrootcert: at('hybrid-root.pem') })),
    ).toEqual({ ok: true, output: 'app' });
  });

  it('a provided ECDSA server certificate made with openssl works end to end', async () => {
    const root = opensslCertificate(dir, {
      name: 'provided-root',
      cn: 'provided root',
      key: 'P-256',
      extensions: CA_EXTENSIONS,
    });
    const server = opensslCertificate(dir, {
      name: 'provided-server',
      cn: 'db.test',
      key: 'P-256',
      issuer: root,
      extensions: ['subjectAltName=DNS:db.test,IP:127.0.0.1', 'extendedKeyUsage=serverAuth'],
    });
    fs.writeFileSync(at('provided-root.pem'), root.certPem);
    postgres.install({ ...server, clientCaPem: read('client-ca', 'ca.crt') });
    postgres.reload();
    expect(await eventually(() => connect({ host: '127.0.0.1', sslrootcert: at('provided-root.pem') }))).toEqual({
      ok: true,
      output: 'app',
    });
  });

  it('still accepts a certificate issued by a renewed server CA (same key)', async () => {
    const { renewCa } = await import('../src/pki/index.js');
    const original = { certPem: read('server-ca', 'ca.crt'), keyPem: read('server-ca', 'ca.key') };
    const renewed = await renewCa(original, { now: new Date() });
    const leaf = await issueServerCertificate(renewed, { names: ['db.test'], now: new Date() });
    postgres.install({ ...leaf, clientCaPem: read('client-ca', 'ca.crt') });
    postgres.reload();
    // Clients still holding the CA certificate from before the renewal keep verifying.
    expect(await eventually(() => connect({ host: 'db.test', hostaddr: '127.0.0.1' }))).toEqual({
      ok: true,
      output: 'app',
    });
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CA_DAYS,
  certificateFile,
  CertificateError,
  checkCa,
  createCa,
  daysLeft,
  generateKey,
  inspectCertificate,
  issueClientCertificate,
  issueServerCertificate,
  keyMatchesCertificate,
  LEAF_DAYS,
  needsRenewal,
  reissueReason,
  renewCa,
  verifyChain,
  type CertificateMaterial,
} from '../../src/pki/index.js';
import { randomSerial } from '../../src/pki/issue.js';
import {
  CA_EXTENSIONS,
  certificateText,
  opensslCertificate,
  opensslVerify,
  type OpensslKeyType,
} from '../support/openssl.js';

const DAY = 24 * 60 * 60 * 1000;
/** A fixed clock: every test states its own time; nothing reads the real one. */
const NOW = new Date('2030-03-01T12:00:00Z');
const later = (days: number) => new Date(NOW.getTime() + days * DAY);

let dir: string;
let ca: CertificateMaterial;
let otherCa: CertificateMaterial;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-pki-unit-'));
  [ca, otherCa] = await Promise.all([
    createCa({ commonName: 'pg-server-ca', now: NOW }),
    createCa({ commonName: 'other-ca', now: NOW }),
  ]);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('createCa', () => {
  it('makes a self-signed RSA 2048 root that is a CA, backdated five minutes, for a year', () => {
    const info = inspectCertificate(ca.certPem);
    expect(info).toMatchObject({
      commonName: 'pg-server-ca',
      subject: 'CN=pg-server-ca',
      isCa: true,
      canSignCertificates: true,
      selfSigned: true,
      keyAlgorithm: 'RSA 2048',
    });
    expect(info.notBefore.getTime()).toBe(NOW.getTime() - 5 * 60 * 1000);
    expect(info.notAfter.getTime()).toBe(later(CA_DAYS).getTime());
    expect(keyMatchesCertificate(ca.certPem, ca.keyPem)).toBe(true);
    expect(ca.chainPem).toBeUndefined();
  });

  it('writes basicConstraints CA critical, keyCertSign and cRLSign critical, and a SHA-256 signature', () => {
    const text = certificateText(ca.certPem);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    expect(text).toMatch(/Signature Algorithm: sha256WithRSAEncryption/);
  });

  it('refuses a validity that is not a whole number of days', async () => {
    await expect(createCa({ commonName: 'x', days: 0, now: NOW })).rejects.toThrow(/whole number of days/);
  });
});

describe('randomSerial', () => {
  it.each([
    ['top bit set: a zero octet keeps it positive', Buffer.alloc(16, 0xff), `00${'ff'.repeat(16)}`],
    ['top bit clear: no padding', Buffer.from(`7f${'01'.repeat(15)}`, 'hex'), `7f${'01'.repeat(15)}`],
    [
      'leading zero octets dropped (DER is minimal)',
      Buffer.from(`0000${'80'.repeat(14)}`, 'hex'),
      `00${'80'.repeat(14)}`,
    ],
  ])('%s', (_, bytes, expected) => {
    expect(randomSerial(() => bytes)).toBe(expected);
  });

  it('draws again on an all-zero value', () => {
    const draws = [Buffer.alloc(16), Buffer.alloc(16, 1)];
    expect(randomSerial(() => draws.shift()!)).toBe('01'.repeat(16));
  });

  it('gives every certificate its own 128-bit serial', async () => {
    const serials = new Set([ca, otherCa].map((material) => inspectCertificate(material.certPem).serialNumber));
    expect(serials.size).toBe(2);
    for (const serial of serials) expect(serial.replace(/^00/, '').length).toBeGreaterThan(24);
  });
});

describe('issueServerCertificate', () => {
  it('puts every name and IP in the SANs, the first as CN, and serverAuth; openssl verifies it', async () => {
    const server = await issueServerCertificate(ca, {
      names: ['pg-rw.db.svc', 'pg-rw', '10.0.0.1', 'fd00::1'],
      now: NOW,
    });
    const info = inspectCertificate(server.certPem);
    expect(info).toMatchObject({
      commonName: 'pg-rw.db.svc',
      issuer: 'CN=pg-server-ca',
      isCa: false,
      dnsNames: ['pg-rw.db.svc', 'pg-rw'],
      ipAddresses: ['10.0.0.1', 'fd00::1'],
      extendedKeyUsage: ['serverAuth'],
    });
    expect(info.notAfter.getTime()).toBe(later(LEAF_DAYS).getTime());
    const text = certificateText(server.certPem);
    expect(text).toContain('DNS:pg-rw.db.svc, DNS:pg-rw, IP Address:10.0.0.1, IP Address:FD00:0:0:0:0:0:0:1');
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication\n/);
    expect(opensslVerify(dir, server.certPem, ca.certPem, { at: NOW, purpose: 'sslserver' })).toMatchObject({
      ok: true,
    });
    expect(keyMatchesCertificate(server.certPem, server.keyPem)).toBe(true);
    expect(() => verifyChain(server.certPem, ca.certPem)).not.toThrow();
  });

  it('adds localhost and 127.0.0.1 in automatic mode, once', async () => {
    const server = await issueServerCertificate(ca, { names: ['db', 'localhost'], now: NOW, includeLocalhost: true });
    expect(inspectCertificate(server.certPem)).toMatchObject({
      dnsNames: ['db', 'localhost'],
      ipAddresses: ['127.0.0.1'],
    });
  });

  it.each([['bad name!'], ['a..b'], ['']])('refuses the name %j', async (name) => {
    await expect(issueServerCertificate(ca, { names: [name], now: NOW })).rejects.toThrow(CertificateError);
  });
});

describe('issueClientCertificate', () => {
  it('names the PostgreSQL user in the CN, with clientAuth; openssl verifies it', async () => {
    const client = await issueClientCertificate(ca, { user: 'streaming_replica', now: NOW, days: 10 });
    const info = inspectCertificate(client.certPem);
    expect(info).toMatchObject({ commonName: 'streaming_replica', dnsNames: [], extendedKeyUsage: ['clientAuth'] });
    expect(info.notAfter.getTime()).toBe(later(10).getTime());
    expect(certificateText(client.certPem)).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication\n/);
    expect(opensslVerify(dir, client.certPem, ca.certPem, { at: NOW, purpose: 'sslclient' })).toMatchObject({
      ok: true,
    });
  });

  it('certifies a key made beforehand, so callers can make all their keys at once', async () => {
    const keyPem = await generateKey();
    const client = await issueClientCertificate(ca, { user: 'app', now: NOW, keyPem });
    expect(client.keyPem).toBe(keyPem);
    expect(keyMatchesCertificate(client.certPem, keyPem)).toBe(true);
    const ecKey = opensslCertificate(dir, { name: 'ec-subject', cn: 'x', key: 'P-256', extensions: [] }).keyPem;
    await expect(issueClientCertificate(ca, { user: 'app', now: NOW, keyPem: ecKey })).rejects.toThrow(
      /RSA keys only, not ECDSA P-256/,
    );
  });

  it('keeps a user name that is not ASCII', async () => {
    const client = await issueClientCertificate(ca, { user: 'zoë', now: NOW });
    expect(inspectCertificate(client.certPem).commonName).toBe('zoë');
  });
});

describe('CAs made elsewhere (hybrid mode)', () => {
  it.each<[OpensslKeyType, RegExp]>([
    ['P-256', /ecdsa-with-SHA256/],
    ['P-384', /ecdsa-with-SHA384/],
    ['ed25519', /ED25519/],
    ['rsa', /sha256WithRSAEncryption/],
  ])('signs leaves with a %s CA key, and openssl verifies them', async (key, algorithm) => {
    const root = opensslCertificate(dir, { name: `root-${key}`, cn: `root ${key}`, key, extensions: CA_EXTENSIONS });
    const server = await issueServerCertificate(root, { names: ['db.example'], now: new Date() });
    expect(certificateText(server.certPem)).toMatch(new RegExp(`Signature Algorithm: ${algorithm.source}`));
    expect(inspectCertificate(server.certPem).issuer).toBe(`CN=root ${key}`);
    expect(opensslVerify(dir, server.certPem, root.certPem, { purpose: 'sslserver' })).toMatchObject({ ok: true });
  });

  it('signs with an intermediate and hands the chain out, so clients trusting only the root verify', async () => {
    const root = opensslCertificate(dir, {
      name: 'chain-root',
      cn: 'chain root',
      key: 'P-256',
      extensions: CA_EXTENSIONS,
    });
    const intermediate = opensslCertificate(dir, {
      name: 'chain-int',
      cn: 'chain intermediate',
      key: 'P-256',
      extensions: CA_EXTENSIONS,
      issuer: root,
    });
    // The mounted ca.crt: the intermediate, then the root.
    const mounted = { certPem: intermediate.certPem + root.certPem, keyPem: intermediate.keyPem };
    const server = await issueServerCertificate(mounted, { names: ['db.example'], now: new Date() });
    expect(server.chainPem).toBe(intermediate.certPem.trim() + '\n');
    expect(opensslVerify(dir, server.certPem, root.certPem)).toMatchObject({ ok: false });
    expect(opensslVerify(dir, server.certPem, root.certPem, { untrusted: server.chainPem })).toMatchObject({
      ok: true,
    });
    expect(() => verifyChain(certificateFile(server), root.certPem)).not.toThrow();
    expect(() => verifyChain(server.certPem, root.certPem)).toThrow(/not signed by the CA/);
    expect(() => verifyChain(server.certPem, root.certPem, intermediate.certPem)).not.toThrow();
  });
});

describe('checkCa refuses what cannot sign', () => {
  let leaf: CertificateMaterial;
  let noCertSign: CertificateMaterial;
  beforeAll(async () => {
    leaf = await issueClientCertificate(ca, { user: 'app', now: NOW });
    noCertSign = opensslCertificate(dir, {
      name: 'no-cert-sign',
      cn: 'crl only',
      key: 'P-256',
      extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,cRLSign'],
    });
  });

  it.each<[string, () => [CertificateMaterial, Date], RegExp]>([
    ['a leaf', () => [leaf, NOW], /"CN=app" is not a CA certificate/],
    [
      'a key that does not match',
      () => [{ certPem: ca.certPem, keyPem: otherCa.keyPem }, NOW],
      /private key does not match/,
    ],
    ['an expired CA', () => [ca, later(CA_DAYS + 1)], /"CN=pg-server-ca" expired on 2031-03-01/],
    ['a CA not valid yet', () => [ca, later(-1)], /not valid before/],
    ['a CA without keyCertSign', () => [noCertSign, new Date()], /key usage does not allow signing certificates/],
    [
      'a key in place of the certificate',
      () => [{ certPem: ca.keyPem, keyPem: ca.keyPem }, NOW],
      /holds a private key, not a certificate \(are tls.crt and tls.key swapped\?\)/,
    ],
    [
      'a certificate cut off',
      () => [{ certPem: ca.certPem.slice(0, 200), keyPem: ca.keyPem }, NOW],
      /the certificate is cut off or damaged: "-----BEGIN CERTIFICATE-----" has no matching/,
    ],
    [
      'a certificate in place of the key',
      () => [{ certPem: ca.certPem, keyPem: ca.certPem }, NOW],
      /holds a certificate, not a private key \(are tls.crt and tls.key swapped\?\)/,
    ],
    [
      'an encrypted key',
      () => [
        {
          certPem: ca.certPem,
          keyPem: '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII=\n-----END ENCRYPTED PRIVATE KEY-----\n',
        },
        NOW,
      ],
      /encrypted/,
    ],
    ['text that is not PEM', () => [{ certPem: 'hello', keyPem: ca.keyPem }, NOW], /not a PEM certificate/],
    [
      'a broken PEM body',
      () => [{ certPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', keyPem: ca.keyPem }, NOW],
      /not a valid certificate/,
    ],
  ])('%s', (_, input, message) => {
    const [material, now] = input();
    expect(() => checkCa(material, now)).toThrow(CertificateError);
    expect(() => checkCa(material, now)).toThrow(message);
  });

  it('so issuing with it fails the same way', async () => {
    await expect(issueServerCertificate(leaf, { names: ['x'], now: NOW })).rejects.toThrow(/not a CA certificate/);
  });
});

describe('inspectCertificate', () => {
  it.each<[OpensslKeyType, string]>([
    ['P-256', 'ECDSA P-256'],
    ['P-384', 'ECDSA P-384'],
    ['ed25519', 'Ed25519'],
  ])('reads a provided %s certificate made with openssl', (key, algorithm) => {
    const root = opensslCertificate(dir, {
      name: `inspect-root-${key}`,
      cn: 'provided root',
      key,
      extensions: CA_EXTENSIONS,
    });
    const server = opensslCertificate(dir, {
      name: `inspect-leaf-${key}`,
      cn: 'db.example',
      key,
      issuer: root,
      days: 20,
      extensions: ['subjectAltName=DNS:db.example,DNS:db,IP:192.168.1.5', 'extendedKeyUsage=serverAuth,clientAuth'],
    });
    const info = inspectCertificate(server.certPem);
    expect(info).toMatchObject({
      commonName: 'db.example',
      issuer: 'CN=provided root',
      keyAlgorithm: algorithm,
      dnsNames: ['db.example', 'db'],
      ipAddresses: ['192.168.1.5'],
      extendedKeyUsage: ['serverAuth', 'clientAuth'],
      isCa: false,
      selfSigned: false,
    });
    expect(daysLeft(info, new Date())).toBe(19);
    expect(keyMatchesCertificate(server.certPem, server.keyPem)).toBe(true);
    expect(keyMatchesCertificate(server.certPem, root.keyPem)).toBe(false);
    expect(() => verifyChain(server.certPem, root.certPem)).not.toThrow();
    expect(() => verifyChain(server.certPem, ca.certPem)).toThrow(/not signed by the CA/);
  });

  it('reads the serial and fingerprint as openssl prints them', () => {
    const info = inspectCertificate(ca.certPem);
    const text = certificateText(ca.certPem);
    const serial = /Serial Number:\s*\n\s*([0-9a-f:]+)/.exec(text)![1]!.replaceAll(':', '').toUpperCase();
    expect(info.serialNumber).toBe(serial.replace(/^00/, ''));
  });
});

describe('renewal', () => {
  it.each<[string, number, 'leaf' | 'ca', boolean, number]>([
    ['leaf with 8 days left', 8, 'leaf', false, 8],
    ['leaf with exactly 7 days left', 7, 'leaf', false, 7],
    ['leaf with 6.5 days left', 6.5, 'leaf', true, 6],
    ['expired leaf', -2, 'leaf', true, -2],
    ['CA with 31 days left', 31, 'ca', false, 31],
    ['CA with 29 days left', 29, 'ca', true, 29],
  ])('%s', (_, left, kind, renew, days) => {
    const info = { notAfter: later(left) };
    expect(needsRenewal(info, NOW, kind)).toBe(renew);
    expect(daysLeft(info, NOW)).toBe(days);
  });

  it('walks a leaf to renewal with the clock, not with time', async () => {
    const leaf = inspectCertificate((await issueClientCertificate(ca, { user: 'app', now: NOW })).certPem);
    expect(needsRenewal(leaf, later(LEAF_DAYS - 8), 'leaf')).toBe(false);
    expect(needsRenewal(leaf, later(LEAF_DAYS - 6), 'leaf')).toBe(true);
  });

  it('re-signs a CA with its own key, so old and new leaves verify against either certificate', async () => {
    const renewedAt = later(CA_DAYS - 20);
    expect(needsRenewal(inspectCertificate(ca.certPem), renewedAt, 'ca')).toBe(true);
    const oldLeaf = await issueServerCertificate(ca, { names: ['db'], now: later(CA_DAYS - 60) });
    const renewed = await renewCa(ca, { now: renewedAt });
    expect(renewed.keyPem).toBe(ca.keyPem);
    const before = inspectCertificate(ca.certPem);
    const after = inspectCertificate(renewed.certPem);
    expect(after).toMatchObject({ subject: before.subject, isCa: true, selfSigned: true });
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(after.notAfter.getTime()).toBe(renewedAt.getTime() + CA_DAYS * DAY);
    expect(needsRenewal(after, renewedAt, 'ca')).toBe(false);
    const newLeaf = await issueServerCertificate(renewed, { names: ['db'], now: renewedAt });
    // After the old CA certificate expired, a leaf signed before renewal still verifies with the new one.
    expect(opensslVerify(dir, oldLeaf.certPem, renewed.certPem, { at: later(CA_DAYS + 1) })).toMatchObject({
      ok: true,
    });
    expect(opensslVerify(dir, newLeaf.certPem, ca.certPem, { at: renewedAt })).toMatchObject({ ok: true });
    expect(opensslVerify(dir, oldLeaf.certPem, ca.certPem, { at: later(CA_DAYS + 1) })).toMatchObject({ ok: false });
  });

  it('renews only the self-signed RSA CAs it creates', async () => {
    const ecRoot = opensslCertificate(dir, {
      name: 'renew-ec',
      cn: 'ec root',
      key: 'P-256',
      extensions: CA_EXTENSIONS,
    });
    await expect(renewCa(ecRoot, { now: NOW })).rejects.toThrow(
      /ECDSA P-256 key; only the RSA CAs created here are renewed/,
    );
  });
});

describe('reissueReason', () => {
  let server: CertificateMaterial;
  let client: CertificateMaterial;
  beforeAll(async () => {
    [server, client] = await Promise.all([
      issueServerCertificate(ca, { names: ['pg-1', 'FD00::0:1'], includeLocalhost: true, now: NOW }),
      issueClientCertificate(ca, { user: 'streaming_replica', now: NOW }),
    ]);
  });

  it.each<[string, () => Parameters<typeof reissueReason>, string | RegExp | undefined]>([
    [
      'a server leaf as wanted (names compared in one spelling)',
      () => [server, ca.certPem, { names: ['PG-1', 'fd00::1'], includeLocalhost: true }, NOW],
      undefined,
    ],
    ['a client leaf as wanted', () => [client, ca.certPem, { user: 'streaming_replica' }, NOW], undefined],
    ['renewal due', () => [client, ca.certPem, { user: 'streaming_replica' }, later(LEAF_DAYS - 6)], /^6 days left/],
    [
      'names changed',
      () => [server, ca.certPem, { names: ['pg-2'], includeLocalhost: true }, NOW],
      /differ from pg-2,localhost,127.0.0.1$/,
    ],
    ['a name dropped', () => [server, ca.certPem, { names: ['pg-1'], includeLocalhost: true }, NOW], /differ/],
    [
      'another user',
      () => [client, ca.certPem, { user: 'app' }, NOW],
      'issued for user "streaming_replica", not "app"',
    ],
    ['another CA', () => [client, otherCa.certPem, { user: 'streaming_replica' }, NOW], /not signed by the CA/],
    [
      'a foreign key',
      () => [{ ...client, keyPem: server.keyPem }, ca.certPem, { user: 'streaming_replica' }, NOW],
      'its private key does not match it',
    ],
    [
      'garbage',
      () => [{ certPem: 'x', keyPem: 'y' }, ca.certPem, { user: 'streaming_replica' }, NOW],
      'not a PEM certificate',
    ],
  ])('%s', (_, input, expected) => {
    const reason = reissueReason(...input());
    if (expected === undefined) expect(reason).toBeUndefined();
    else expect(reason).toMatch(expected);
  });

  it('keeps a leaf across a renewal of its CA (same key)', async () => {
    expect(
      reissueReason(
        client,
        (await renewCa(ca, { now: later(CA_DAYS - 10) })).certPem,
        { user: 'streaming_replica' },
        NOW,
      ),
    ).toBeUndefined();
  });
});

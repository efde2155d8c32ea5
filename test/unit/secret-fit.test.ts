import { describe, expect, it } from 'vitest';
import type { CertificateInfo } from '../../src/pki/index.js';
import { checkReplicationLeaf, InvalidSecret, serverLeafConcerns } from '../../src/secrets/validate.js';

function info(facts: Partial<CertificateInfo>): CertificateInfo {
  return {
    subject: 'CN=x',
    issuer: 'CN=ca',
    commonName: 'x',
    dnsNames: [],
    ipAddresses: [],
    notBefore: new Date(0),
    notAfter: new Date(0),
    isCa: false,
    canSignCertificates: false,
    selfSigned: false,
    extendedKeyUsage: ['serverAuth'],
    keyAlgorithm: 'ECDSA P-256',
    serialNumber: '01',
    fingerprint256: '00',
    ...facts,
  };
}

describe('serverLeafConcerns', () => {
  it.each<[Partial<CertificateInfo>, string[]]>([
    [{ dnsNames: ['db.example.test'] }, ['db.example.test']],
    [{ dnsNames: ['DB.Example.Test'] }, ['pod-0', 'db.example.test']],
    [{ dnsNames: ['*.pg.svc'] }, ['pg-1.pg.svc']],
    [{ ipAddresses: ['10.0.0.7'] }, ['10.0.0.7']],
    [{ dnsNames: ['db'], extendedKeyUsage: [] }, ['db']],
    [{ dnsNames: ['db'], extendedKeyUsage: ['clientAuth', 'serverAuth'] }, ['db']],
  ])('a certificate with %j fits %j', (facts, names) => {
    expect(serverLeafConcerns(info(facts), names)).toEqual([]);
  });

  it.each<[Partial<CertificateInfo>, string[], RegExp]>([
    [
      { dnsNames: ['other.example'] },
      ['db.example.test', 'pod-0'],
      /it names other.example but none of db.example.test, pod-0/,
    ],
    [{ dnsNames: ['*.pg.svc'] }, ['a.b.pg.svc'], /none of a.b.pg.svc/],
    [{ dnsNames: ['*.pg.svc'] }, ['pg.svc'], /none of pg.svc/],
    [{}, ['db'], /it names no host but none of db/],
    [
      { dnsNames: ['db'], extendedKeyUsage: ['clientAuth'] },
      ['db'],
      /extended key usage \(clientAuth\) leaves out serverAuth/,
    ],
  ])('a certificate with %j does not fit %j', (facts, names, concern) => {
    const concerns = serverLeafConcerns(info(facts), names);
    expect(concerns).toHaveLength(1);
    expect(concerns[0]).toMatch(concern);
  });
});

describe('checkReplicationLeaf', () => {
  it('accepts CN=streaming_replica and refuses any other, naming the file', () => {
    expect(() =>
      checkReplicationLeaf(info({ commonName: 'streaming_replica' }), 'replication-tls/tls.crt'),
    ).not.toThrow();
    const refuse = () => checkReplicationLeaf(info({ commonName: 'app' }), 'replication-tls/tls.crt');
    expect(refuse).toThrow(InvalidSecret);
    expect(refuse).toThrow(
      'replication-tls/tls.crt: its CN is "app", but replication logs in as streaming_replica: issue the certificate with CN=streaming_replica',
    );
  });
});

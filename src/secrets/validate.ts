/**
 * Checks on mounted material before PostgreSQL gets it: PEM, key matches certificate, within its
 * validity, chain verifies against its CA. Every refusal is one line naming the file.
 */
import {
  checkCa as checkSigningCa,
  checkTrustedCa,
  checkValidity,
  CertificateError,
  inspectCertificate,
  keyMatchesCertificate,
  verifyChain,
  type CertificateInfo,
} from '../pki/index.js';

export class InvalidSecret extends Error {
  override readonly name = 'InvalidSecret';
}

export interface LeafSource {
  certPem: string;
  keyPem: string;
  caPem: string;
  /** Names of the files, as the log line should show them. */
  certName: string;
  keyName: string;
}

/** Returns the leaf's facts; throws InvalidSecret naming the file at fault. */
export function checkLeaf(source: LeafSource, now: Date): CertificateInfo {
  const info = about(source.certName, () => valid(source.certPem, now));
  about(source.keyName, () => {
    if (!keyMatchesCertificate(source.certPem, source.keyPem))
      throw new CertificateError(`the key does not match ${source.certName}`);
  });
  about(source.certName, () => verifyChain(source.certPem, source.caPem));
  return info;
}

/** A CA PostgreSQL or its clients trust; with `keyPem`, one the manager signs leaves with. */
export function checkCa(caPem: string, caName: string, now: Date, keyPem?: string): CertificateInfo {
  if (keyPem !== undefined) return about(caName, () => checkSigningCa({ certPem: caPem, keyPem }, now).info);
  return about(caName, () => checkTrustedCa(caPem, now));
}

function valid(pem: string, now: Date): CertificateInfo {
  const info = inspectCertificate(pem);
  checkValidity(info, now);
  return info;
}

function about<T>(name: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof CertificateError) throw new InvalidSecret(`${name}: ${error.message}`);
    throw error;
  }
}

/** The CN PostgreSQL maps a replication client certificate to (the user the fixed hba rules let in). */
const REPLICATION_CN = 'streaming_replica';

/** A mounted replication certificate must log in as the replication user; throws InvalidSecret naming the file. */
export function checkReplicationLeaf(info: CertificateInfo, certName: string): void {
  if (info.commonName === REPLICATION_CN) return;
  throw new InvalidSecret(
    `${certName}: its CN is ${JSON.stringify(info.commonName ?? '')}, but replication logs in as ${REPLICATION_CN}: ` +
      `issue the certificate with CN=${REPLICATION_CN}`,
  );
}

/**
 * Why a mounted server certificate would fail clients that verify it (sslmode=verify-full, a replica,
 * the kubelet's HTTPS probe with a CA): it names none of `names` (--server-name, the host name), or
 * its extended key usage leaves out serverAuth. Empty when it fits.
 */
export function serverLeafConcerns(info: CertificateInfo, names: readonly string[]): string[] {
  const concerns: string[] = [];
  if (!names.some((name) => certificateNames(info, name))) {
    const carried = [...info.dnsNames, ...info.ipAddresses];
    concerns.push(
      `it names ${carried.length > 0 ? carried.join(', ') : 'no host'} but none of ${names.join(', ')}: ` +
        'clients that verify the host name will refuse it',
    );
  }
  if (info.extendedKeyUsage.length > 0 && !info.extendedKeyUsage.includes('serverAuth')) {
    concerns.push(
      `its extended key usage (${info.extendedKeyUsage.join(', ')}) leaves out serverAuth: ` +
        'TLS clients will refuse it as a server certificate',
    );
  }
  return concerns;
}

/** RFC 6125 in short: IPs exactly, DNS names case-insensitively, a wildcard for one leftmost label. */
function certificateNames(info: CertificateInfo, name: string): boolean {
  if (info.ipAddresses.includes(name)) return true;
  const host = name.toLowerCase();
  return info.dnsNames.some((dnsName) => {
    const pattern = dnsName.toLowerCase();
    if (!pattern.startsWith('*.')) return pattern === host;
    const dot = host.indexOf('.');
    return dot > 0 && host.slice(dot) === pattern.slice(1);
  });
}

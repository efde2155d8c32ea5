/**
 * Checks on mounted material before PostgreSQL gets it: PEM, key matches certificate, within its
 * validity, chain verifies against its CA. Every refusal is one line naming the file.
 */
import { checkCa as checkSigningCa, checkTrustedCa, checkValidity, CertificateError, inspectCertificate, keyMatchesCertificate, verifyChain, type CertificateInfo } from '../pki/index.js';

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
    if (!keyMatchesCertificate(source.certPem, source.keyPem)) throw new CertificateError(`the key does not match ${source.certName}`);
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

/** What the PKI hands out and reads back, and the lifetimes the contract fixes. */

/** PEM text of a certificate and its private key, as written to `tls.crt`/`tls.key` or `ca.crt`/`ca.key`. */
export interface CertificateMaterial {
  /** The certificate itself (one PEM block). */
  certPem: string;
  /** Its private key (PKCS#8 PEM for keys issued here). */
  keyPem: string;
  /**
   * Certificates between this one and a root, leaf side first. A leaf signed by an intermediate CA carries
   * the intermediate here, so clients that trust only the root still verify; a CA here is an intermediate
   * when this holds its parents. Roots themselves are never part of a chain.
   */
  chainPem?: string;
}

export type CertificateKind = 'leaf' | 'ca';

export interface CertificateInfo {
  /** Distinguished names as `CN=a, O=b`, in the order of the certificate. */
  subject: string;
  issuer: string;
  commonName: string | undefined;
  dnsNames: string[];
  ipAddresses: string[];
  notBefore: Date;
  notAfter: Date;
  /** basicConstraints cA. */
  isCa: boolean;
  /** A CA whose key usage (when it has one) allows signing certificates. */
  canSignCertificates: boolean;
  selfSigned: boolean;
  /** `serverAuth`, `clientAuth`, or the OID of any other extended key usage. */
  extendedKeyUsage: string[];
  /** `RSA 2048`, `ECDSA P-256`, `Ed25519`... */
  keyAlgorithm: string;
  /** Upper-case hex, no separators. */
  serialNumber: string;
  /** SHA-256 over the DER, upper-case hex pairs separated by colons (as openssl prints it). */
  fingerprint256: string;
}

/** A certificate or key that cannot be used; the message says why in one line (callers add the file name). */
export class CertificateError extends Error {
  override readonly name = 'CertificateError';
}

const DAY_MS = 24 * 60 * 60 * 1000;
export const daysToMs = (days: number): number => days * DAY_MS;

/** Issued leaves last 90 days and are renewed when fewer than 7 are left. */
export const LEAF_DAYS = 90;
export const LEAF_RENEW_DAYS = 7;
/** CAs created in automatic mode last a year and are re-signed 30 days before they expire. */
export const CA_DAYS = 365;
export const CA_RENEW_DAYS = 30;

/** Reading and checking certificates and keys of any algorithm, through Node's own X509Certificate. */
import crypto, { X509Certificate, type KeyObject } from 'node:crypto';
import {
  commonNameOf,
  extendedKeyUsage,
  isCaCertificate,
  KEY_USAGE,
  keyUsageBits,
  readCertificateStructure,
  subjectAltNames,
} from './der.js';
import { CertificateError, type CertificateInfo } from './types.js';
import { errorMessage } from '../errors.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The PEM blocks of a bundle, in order, each ending with a newline; a file without one is refused. */
export function splitCertificates(pem: string): string[] {
  const blocks = pem.match(PEM_CERTIFICATE)?.map((block) => `${block}\n`) ?? [];
  if (blocks.length === 0) {
    throw new CertificateError(notACertificate(pem));
  }
  return blocks;
}

/** Why a text holds no certificate, in words: the PEM label is named as a person would. */
function notACertificate(pem: string): string {
  const found = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1];
  if (found === undefined) return 'not a PEM certificate (no "-----BEGIN CERTIFICATE-----" line)';
  if (found === 'CERTIFICATE')
    return (
      'the certificate is cut off or damaged: ' +
      '"-----BEGIN CERTIFICATE-----" has no matching "-----END CERTIFICATE-----" line'
    );
  if (found.includes('PRIVATE KEY')) return 'holds a private key, not a certificate (are tls.crt and tls.key swapped?)';
  return `holds a PEM block of another kind ("${found}"), not a certificate`;
}

/**
 * The certificates parsed lately, by PEM: checking a kept leaf parses it and its CA several times
 * over (inspection, key match, chain, expiry), each parse a third of a millisecond at start-up.
 * An X509Certificate never changes, so sharing one is safe; a few dozen cover every file served.
 */
const parsed = new Map<string, X509Certificate>();
const PARSED_KEPT = 32;

export function parseCertificate(pem: string): X509Certificate {
  const block = splitCertificates(pem)[0]!;
  let certificate = parsed.get(block);
  if (certificate) return certificate;
  try {
    certificate = new X509Certificate(block);
  } catch (error) {
    throw new CertificateError(`not a valid certificate (${errorMessage(error)})`);
  }
  if (parsed.size >= PARSED_KEPT) parsed.delete(parsed.keys().next().value!);
  parsed.set(block, certificate);
  return certificate;
}

export function parsePrivateKey(pem: string): KeyObject {
  if (/ENCRYPTED/.test(pem)) throw new CertificateError('the private key is encrypted; mount it without a passphrase');
  try {
    return crypto.createPrivateKey(pem);
  } catch (error) {
    const found = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1];
    if (found === 'CERTIFICATE')
      throw new CertificateError('holds a certificate, not a private key (are tls.crt and tls.key swapped?)');
    throw new CertificateError(
      found && !found.includes('PRIVATE KEY')
        ? `holds a PEM block of another kind ("${found}"), not a private key`
        : `not a valid private key (${errorMessage(error)})`,
    );
  }
}

/** Reads the first certificate of a PEM bundle. */
export function inspectCertificate(pem: string): CertificateInfo {
  const certificate = parseCertificate(pem);
  const structure = readCertificateStructure(certificate.raw);
  const keyUsage = keyUsageBits(structure);
  const isCa = isCaCertificate(structure);
  return {
    subject: oneLineName(certificate.subject),
    issuer: oneLineName(certificate.issuer),
    commonName: commonNameOf(structure.subject),
    ...subjectAltNames(structure),
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
    isCa,
    canSignCertificates: isCa && (keyUsage === undefined || (keyUsage & KEY_USAGE.keyCertSign) !== 0),
    selfSigned: certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey),
    extendedKeyUsage: extendedKeyUsage(structure),
    keyAlgorithm: describeKey(certificate.publicKey),
    serialNumber: certificate.serialNumber.toUpperCase(),
    fingerprint256: certificate.fingerprint256,
  };
}

/** When the first certificate of a PEM bundle expires: all `inspectCertificate` reads, for a fraction of its cost. */
export function notAfterOf(pem: string): Date {
  return new Date(parseCertificate(pem).validTo);
}

/** Node prints one attribute per line; a single line reads like openssl's `-nameopt RFC2253` order reversed. */
function oneLineName(name: string): string {
  return name.split('\n').join(', ');
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

export function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return `RSA ${details.modulusLength ?? '?'}`;
    case 'ec':
      return `ECDSA ${CURVES[details.namedCurve ?? ''] ?? details.namedCurve ?? '?'}`;
    case 'ed25519':
      return 'Ed25519';
    case 'ed448':
      return 'Ed448';
    default:
      return key.asymmetricKeyType ?? 'unknown';
  }
}

export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  return parseCertificate(certPem).checkPrivateKey(parsePrivateKey(keyPem));
}

/**
 * Checks that `leafPem` chains, by names and signatures, to one of the certificates of `caPem` (all of
 * them trusted, as with `openssl verify -CAfile`), through the other certificates of the leaf's own
 * bundle and of `intermediatesPem`. Validity dates are not looked at here: see `checkValidity`.
 */
export function verifyChain(leafPem: string, caPem: string, intermediatesPem?: string): void {
  const [leafBlock, ...bundled] = splitCertificates(leafPem);
  const anchors = splitCertificates(caPem).map((pem) => parseCertificate(pem));
  const intermediates = [...bundled, ...(intermediatesPem ? splitCertificates(intermediatesPem) : [])].map((pem) =>
    parseCertificate(pem),
  );
  let current = parseCertificate(leafBlock!);
  const seen = new Set<string>();
  for (;;) {
    if (anchors.some((anchor) => signedBy(current, anchor))) return;
    seen.add(current.fingerprint256);
    const parent = intermediates.find(
      (candidate) =>
        !seen.has(candidate.fingerprint256) &&
        isCaCertificate(readCertificateStructure(candidate.raw)) &&
        signedBy(current, candidate),
    );
    if (!parent)
      throw new CertificateError(
        `"${oneLineName(current.subject)}" is not signed by the CA ` +
          `("${anchors.map((anchor) => oneLineName(anchor.subject)).join('", "')}")`,
      );
    current = parent;
  }
}

function signedBy(certificate: X509Certificate, issuer: X509Certificate): boolean {
  return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
}

/** Refuses a certificate that is expired or not valid yet at `now`. */
export function checkValidity(info: CertificateInfo, now: Date): void {
  if (now.getTime() > info.notAfter.getTime())
    throw new CertificateError(`"${info.subject}" expired on ${info.notAfter.toISOString()}`);
  if (now.getTime() < info.notBefore.getTime())
    throw new CertificateError(`"${info.subject}" is not valid before ${info.notBefore.toISOString()}`);
}

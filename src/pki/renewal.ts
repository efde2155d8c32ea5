/** When a certificate must be replaced: pure decisions on what was read, at an injected time. */
import { canonicalIp, isIpAddress } from './der.js';
import { inspectCertificate, keyMatchesCertificate, verifyChain } from './inspect.js';
import { certificateFile, serverNames } from './issue.js';
import {
  CA_RENEW_DAYS,
  CertificateError,
  daysToMs,
  LEAF_RENEW_DAYS,
  type CertificateInfo,
  type CertificateKind,
  type CertificateMaterial,
} from './types.js';

/** Whole days until `notAfter` (negative once expired), as the status API reports them. */
export function daysLeft(info: Pick<CertificateInfo, 'notAfter'>, now: Date): number {
  return Math.floor((info.notAfter.getTime() - now.getTime()) / daysToMs(1));
}

/** Leaves are renewed when fewer than 7 days are left, CAs when fewer than 30. */
export function needsRenewal(info: Pick<CertificateInfo, 'notAfter'>, now: Date, kind: CertificateKind): boolean {
  const margin = kind === 'ca' ? CA_RENEW_DAYS : LEAF_RENEW_DAYS;
  return info.notAfter.getTime() - now.getTime() < daysToMs(margin);
}

/** What an issued leaf should still be: a server certificate for these names, or a client one for this user. */
export type LeafExpectation = { names: string[]; includeLocalhost?: boolean } | { user: string };

/**
 * Why a leaf issued earlier (e.g. kept under run-dir/pki) must be issued again, or undefined when it
 * can stay: unreadable, a key that does not match, not signed by `caPem` (the CA was replaced),
 * renewal due, or other names or another user than wanted now.
 */
export function reissueReason(
  leaf: CertificateMaterial,
  caPem: string,
  expected: LeafExpectation,
  now: Date,
): string | undefined {
  let info: CertificateInfo;
  try {
    info = inspectCertificate(leaf.certPem);
    if (!keyMatchesCertificate(leaf.certPem, leaf.keyPem)) return 'its private key does not match it';
    verifyChain(certificateFile(leaf), caPem);
  } catch (error) {
    if (error instanceof CertificateError) return error.message;
    throw error;
  }
  if (needsRenewal(info, now, 'leaf')) return `${daysLeft(info, now)} days left (renewed below ${LEAF_RENEW_DAYS})`;
  if ('user' in expected)
    return info.commonName === expected.user
      ? undefined
      : `issued for user "${info.commonName ?? ''}", not "${expected.user}"`;
  const wanted = serverNames(expected.names, expected.includeLocalhost ?? false).map((name) =>
    isIpAddress(name) ? canonicalIp(name) : name.toLowerCase(),
  );
  const present = [...info.dnsNames.map((name) => name.toLowerCase()), ...info.ipAddresses];
  const same =
    info.commonName?.toLowerCase() === wanted[0] &&
    wanted.length === present.length &&
    wanted.every((name) => present.includes(name));
  return same ? undefined : `names ${present.join(',')} differ from ${wanted.join(',')}`;
}

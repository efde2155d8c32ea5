/** When a certificate must be replaced: pure decisions on what `inspectCertificate` read, at an injected time. */
import { CA_RENEW_DAYS, daysToMs, LEAF_RENEW_DAYS, type CertificateInfo, type CertificateKind } from './types.js';

/** Whole days until `notAfter` (negative once expired), as the status API reports them. */
export function daysLeft(info: Pick<CertificateInfo, 'notAfter'>, now: Date): number {
  return Math.floor((info.notAfter.getTime() - now.getTime()) / daysToMs(1));
}

/** Leaves are renewed when fewer than 7 days are left, CAs when fewer than 30. */
export function needsRenewal(info: Pick<CertificateInfo, 'notAfter'>, now: Date, kind: CertificateKind): boolean {
  const margin = kind === 'ca' ? CA_RENEW_DAYS : LEAF_RENEW_DAYS;
  return info.notAfter.getTime() - now.getTime() < daysToMs(margin);
}

/**
 * TEMPORARY: the few checks validate.ts needs until src/pki (branch `pki`) lands; replaced by its
 * inspectCertificate, keyMatchesCertificate and verifyChain at the merge, then deleted.
 */
import crypto from 'node:crypto';

export function pendingInspect(pem: string): { notAfter: Date; notBefore: Date; isCa: boolean } {
  const certificate = new crypto.X509Certificate(pem);
  return { notAfter: new Date(certificate.validTo), notBefore: new Date(certificate.validFrom), isCa: certificate.ca };
}

export function pendingKeyMatches(keyPem: string, certPem: string): boolean {
  return new crypto.X509Certificate(certPem).checkPrivateKey(crypto.createPrivateKey(keyPem));
}

export function pendingVerifyChain(chainPem: string, caPem: string): boolean {
  const split = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const chain = split(chainPem).map((one) => new crypto.X509Certificate(one));
  const anchors = split(caPem).map((one) => new crypto.X509Certificate(one));
  let current = chain[0];
  const pool = [...chain.slice(1), ...anchors];
  for (let depth = 0; current && depth < 8; depth++) {
    const issuer = pool.find((candidate) => current!.checkIssued(candidate) && current!.verify(candidate.publicKey));
    if (!issuer) return false;
    if (anchors.includes(issuer)) return true;
    current = issuer;
  }
  return false;
}

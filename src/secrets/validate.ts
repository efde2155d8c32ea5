/**
 * Checks on mounted material before PostgreSQL gets it: PEM, key matches certificate, within its
 * validity, chain verifies against its CA. Every refusal names the file.
 */
import { pendingInspect, pendingKeyMatches, pendingVerifyChain } from './pki-pending.js';

export class InvalidSecret extends Error {
  override readonly name = 'InvalidSecret';
}

export interface CheckedCertificate {
  pem: string;
  notAfter: Date;
}

export interface LeafSource {
  certPem: string;
  keyPem: string;
  caPem: string;
  /** Names of the files, as the log line should show them. */
  certName: string;
  keyName: string;
}

export function checkLeaf(source: LeafSource, now: Date): CheckedCertificate {
  const { notAfter } = inspect(source.certPem, source.certName, now);
  if (!attempt(() => pendingKeyMatches(source.keyPem, source.certPem), source.keyName)) {
    throw new InvalidSecret(`${source.keyName}: the key does not match ${source.certName}`);
  }
  if (!attempt(() => pendingVerifyChain(source.certPem, source.caPem), source.certName)) {
    throw new InvalidSecret(`${source.certName}: the chain does not verify against its CA`);
  }
  return { pem: source.certPem, notAfter };
}

export function checkCa(caPem: string, caName: string, keyPem: string | undefined, keyName: string, now: Date): CheckedCertificate {
  const { notAfter, isCa } = inspect(caPem, caName, now);
  if (!isCa) throw new InvalidSecret(`${caName}: not a CA certificate (basicConstraints CA:FALSE)`);
  if (keyPem !== undefined && !attempt(() => pendingKeyMatches(keyPem, caPem), keyName)) {
    throw new InvalidSecret(`${keyName}: the key does not match ${caName}`);
  }
  return { pem: caPem, notAfter };
}

function inspect(pem: string, name: string, now: Date): { notAfter: Date; isCa: boolean } {
  const facts = attempt(() => pendingInspect(pem), name);
  if (facts.notAfter.getTime() <= now.getTime()) throw new InvalidSecret(`${name}: expired on ${facts.notAfter.toISOString()}`);
  if (facts.notBefore.getTime() > now.getTime()) throw new InvalidSecret(`${name}: not valid before ${facts.notBefore.toISOString()}`);
  return facts;
}

/** Parsing errors from the crypto layer become one line naming the file. */
function attempt<T>(work: () => T, name: string): T {
  try {
    return work();
  } catch (error) {
    throw new InvalidSecret(`${name}: not a valid PEM certificate or key (${(error as Error).message})`);
  }
}

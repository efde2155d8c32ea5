/**
 * Which mode each pair of Secrets is in, from what is mounted. Pure: presence in, plan out.
 *
 * A pair is a leaf and the CA it chains to: the server certificate (`server-tls/`) with the server
 * CA (`server-ca/`), and the replication client certificate (`replication-tls/`) with the client
 * CA (`client-ca/`).
 */
import { UsageError } from '../errors.js';

/**
 * provided: the leaf is mounted and used as it is; hybrid: a mounted CA with its key, the manager
 * issues and renews the leaf; automatic: the manager's own CA under `run-dir/pki/` issues the leaf.
 */
export type Mode = 'provided' | 'hybrid' | 'automatic';

export interface PairPresence {
  /** Directory names, for messages. */
  leafDir: string;
  caDir: string;
  leafCert: boolean;
  leafKey: boolean;
  caCert: boolean;
  caKey: boolean;
  /** A pair whose leaf the manager can do without: only the CA is mounted, no leaf is made. */
  leafOptional: boolean;
}

export interface PairPlan {
  mode: Mode;
  /** mounted: copied from the Secret; issued: made by the manager; none: no leaf at all. */
  leaf: 'mounted' | 'issued' | 'none';
}

export function planPair(presence: PairPresence): PairPlan {
  const { leafDir, caDir } = presence;
  if (presence.leafCert !== presence.leafKey) {
    throw new UsageError(
      `${leafDir}/: ${presence.leafCert ? 'tls.crt is mounted without tls.key' : 'tls.key is mounted without tls.crt'}`,
    );
  }
  if (presence.caKey && !presence.caCert) throw new UsageError(`${caDir}/: ca.key is mounted without ca.crt`);
  if (presence.leafCert) {
    if (!presence.caCert)
      throw new UsageError(
        `${leafDir}/ is mounted without its CA: mount ${caDir}/ca.crt (or ca.crt in the same Secret)`,
      );
    return { mode: 'provided', leaf: 'mounted' };
  }
  if (presence.caKey) return { mode: 'hybrid', leaf: 'issued' };
  if (presence.caCert) {
    if (presence.leafOptional) return { mode: 'provided', leaf: 'none' };
    throw new UsageError(
      `${caDir}/ca.crt is mounted without ca.key and ${leafDir}/ is missing: ` +
        'mount the certificate (provided mode) or the CA key (hybrid mode)',
    );
  }
  return { mode: 'automatic', leaf: 'issued' };
}

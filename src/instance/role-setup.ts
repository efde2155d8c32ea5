/**
 * What goes with a role: the roles a primary creates once it accepts connections, the slots a
 * standby drops, and the connection this instance makes to another of the cluster.
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { ensureMetricsRole } from '../metrics/index.js';
import type { SocketAddress } from '../postgres/index.js';
import {
  dropStandbySlots,
  ensureReplicationRole,
  type PrimaryAddress,
  type PrimaryConnection,
} from '../replication/index.js';
import { CERTIFICATE_FILES, type CertificateStore } from '../secrets/index.js';

/** In the background, once PostgreSQL accepts connections (`ready` on a primary, `standby` on a replica). */
export function setUpRole(status: 'ready' | 'standby', address: SocketAddress, logger: Logger): void {
  const report = (what: string) => (error: unknown) => logger.error(`could not ${what}`, { err: errorMessage(error) });
  if (status === 'ready') {
    ensureReplicationRole(address, logger).catch(report('create the replication role'));
    ensureMetricsRole(address, logger).catch(report('create the metrics role'));
  } else {
    dropStandbySlots(address, logger).catch(report('drop the replication slots of this standby'));
  }
}

/** How this instance reaches another of the cluster, with the certificates under run-dir/certificates/. */
export function connectionTo(
  primary: PrimaryAddress,
  certificates: CertificateStore,
  podName: string,
): PrimaryConnection {
  return {
    primary,
    applicationName: podName,
    tls: {
      serverCaFile: certificates.path(CERTIFICATE_FILES.serverCa),
      certFile: certificates.path(CERTIFICATE_FILES.replicationCert),
      keyFile: certificates.path(CERTIFICATE_FILES.replicationKey),
    },
  };
}

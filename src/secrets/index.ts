/**
 * Mounted Secrets and the certificates PostgreSQL serves.
 *
 * What other folders use:
 * - `CertificateStore`: `prepare()` once before the postmaster starts (bad material: UsageError),
 *   `refresh()` on every Secret change, SIGHUP and renewal tick (returns the files that changed;
 *   bad material is logged and the previous files keep serving).
 * - `store.status()`: per certificate file `{ name, notAfter, daysLeft, mode }` for the status API
 *   (name is one of server.crt, server-ca.crt, client-ca.crt, streaming_replica.crt).
 * - `store.path(CERTIFICATE_FILES.x)`: where the copies are (`run-dir/certificates/`): server.crt,
 *   server.key, server-ca.crt, client-ca.crt, streaming_replica.crt, streaming_replica.key.
 * - `readBasicAuth(dir, expectedUser)`: a `kubernetes.io/basic-auth` Secret (username, password);
 *   undefined when not mounted, InvalidSecret naming the file when it cannot be used.
 */
export {
  CERTIFICATE_FILES,
  certificateCopyPath,
  CertificateStore,
  RENEWAL_CHECK_INTERVAL_MS,
  type CertificateStatus,
  type CertificateStoreOptions,
} from './store.js';
export { planPair, type Mode, type PairPlan, type PairPresence } from './modes.js';
export { SECRET_DIRS } from './layout.js';
export { readBasicAuth, type BasicAuth } from './basic-auth.js';
export { InvalidSecret } from './validate.js';
export { operatorCertificatePaths } from './issuer.js';

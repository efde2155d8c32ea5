/**
 * The PKI: issuing CAs and leaves, reading any certificate, checking key pairs and chains, deciding
 * renewals. Pure: PEM text in, PEM text out, the time passed in; no files, no clock.
 */
export {
  certificateFile,
  checkCa,
  checkTrustedCa,
  createCa,
  generateKey,
  issueClientCertificate,
  issueServerCertificate,
  renewCa,
  serverNames,
  type CaOptions,
  type CheckedCa,
  type ClientCertificateOptions,
  type ServerCertificateOptions,
} from './issue.js';
export {
  checkValidity,
  inspectCertificate,
  keyMatchesCertificate,
  notAfterOf,
  splitCertificates,
  verifyChain,
} from './inspect.js';
export { daysLeft, needsRenewal, reissueReason, type LeafExpectation } from './renewal.js';
export {
  CA_DAYS,
  CA_RENEW_DAYS,
  CertificateError,
  LEAF_DAYS,
  LEAF_RENEW_DAYS,
  type CertificateInfo,
  type CertificateKind,
  type CertificateMaterial,
} from './types.js';

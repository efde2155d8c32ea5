export { decideOperator, type OperatorDecision, type PeerCertificate } from './auth.js';
export type { StatusDocument } from './document.js';
export { DEFAULT_LIMITS, StatusServer, type StatusServerLimits, type StatusServerOptions } from './server.js';
export type { ActionOutcome, CertificateStatus, LogCounters, ManagerPhase, PostmasterFacts, Role, StatusSource, TlsMaterial } from './source.js';

export type { StatusDocument } from './document.js';
export { StatusServer, type StatusServerOptions } from './server.js';
export type { ActionOutcome, CertificateStatus, LogCounters, ManagerPhase, PostmasterFacts } from './source.js';
export type { Role, RoleStatus, StatusSource, TlsMaterial } from './source.js';

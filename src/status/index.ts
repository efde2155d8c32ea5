export type { StatusDocument } from './document.js';
export { StatusServer, type StatusServerOptions } from './server.js';
export type { ActionOutcome, ActionRequest, CertificateStatus, DemotionFacts, LifecycleFacts } from './source.js';
export type { LogCounters } from './source.js';
export type { ManagerPhase, PostmasterFacts, Role, RoleStatus, StatusSource, TlsMaterial } from './source.js';

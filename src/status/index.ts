export type { StatusDocument } from './document.js';
export { StatusServer, type StatusServerOptions } from './server.js';
export type { ActionOutcome, ActionRequest, CertificateStatus, DemotionFacts, LifecycleFacts, LogCounters, ManagerPhase, PostmasterFacts, Role, StatusSource, TlsMaterial } from './source.js';

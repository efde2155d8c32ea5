export {
  basebackupArgs,
  cloneDirFor,
  cloneFromPrimary,
  retryDelayMs,
  type CloneOptions,
  type RetryDelays,
} from './clone.js';
export { classifyFailure, type FailureCause, type FailureVerdict } from './failure.js';
export { parseProgressLine, ProgressReporter, type CloneProgress } from './progress.js';
export { ensureSlotOnPrimary, ensureSlotSql, type SlotOptions } from './slot.js';
export {
  dropStandbySlots,
  ensureReplicationRole,
  hasStandbySignal,
  NotAReplicaError,
  promote,
  REWIND_FUNCTIONS,
  writeStandbySignal,
  type Promotable,
  type PromotionResult,
  type Role,
} from './standby.js';
export {
  primaryConninfo,
  quoteConninfoValue,
  slotNameFor,
  SSL_MODE,
  standbySettings,
  type PrimaryAddress,
  type PrimaryConnection,
  type ReplicationTlsFiles,
} from './standby-settings.js';

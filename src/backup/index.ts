export {
  ARCHIVE_WARNING_INTERVAL_MS,
  archiveNotice,
  archiveStatus,
  isArchiveFailing,
  type ArchiverStats,
  type ArchiveStatus,
} from './archive.js';
export {
  archiveCommandLines,
  BACKUP_TYPES,
  isBackupType,
  parseConsoleLine,
  parseInfo,
  type BackupRecord,
  type BackupType,
  type StanzaInfo,
} from './info.js';
export {
  archiveCommands,
  checkStanzaName,
  clusterNameFromPod,
  isOwnedRepoOption,
  parseRepoOptions,
  renderPgBackRestConf,
  type ArchiveCommands,
  type PgBackRestConfInputs,
  type RepoOptions,
} from './options.js';
export { PgBackRestFailed, runPgBackRest, type PgBackRestContext, type PgBackRestRun } from './pgbackrest.js';
export { BackupService, type BackupServiceDeps, type BackupStatus } from './service.js';
export {
  clearRecoveryTarget,
  prepareRecovery,
  recoveryPending,
  restoreArgs,
  restoreFromRepository,
  withoutRecoveryTarget,
  withRecoveryTarget,
  type RecoveryTarget,
  type RestoreRequest,
} from './restore.js';

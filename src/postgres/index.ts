export { findBinaries, serverVersion, type PgBinaries } from './binaries.js';
export {
  createSocketPool,
  withConnection,
  type SocketAddress,
  type SocketPoolOptions,
  type SocketSession,
} from './client.js';
export {
  clearStalePostmasterPid,
  ensureWritableDataDir,
  inspectDataDir,
  readPostmasterPid,
  type DataDirState,
} from './datadir.js';
export { initdb, SUPERUSER } from './initdb.js';
export { describeExit, Postmaster, type PostmasterOptions } from './postmaster.js';
export { stopPostmaster, type ShutdownMode, type ShutdownOptions } from './shutdown.js';
export { configurationErrors, installedLibraries, settingsRefusal, type SettingsFileCheck } from './settings-check.js';
export { ensureExtensions, pendingRestartSettings, type ExtensionsResult } from './extensions.js';

export { LineSplitter } from './lines.js';
export { liveProcessesWorkingIn, listProcesses, parseStat, type ProcessStat } from './procfs.js';
export {
  isSpawnedByManager,
  ProgramFailed,
  runProgram,
  spawnProgram,
  stopAllPrograms,
  type Exit,
  type Program,
  type SpawnOptions,
} from './spawn.js';
export { chownToRunAs, chownTreeToRunAs, parsePasswd, resolveRunAs, type PasswdEntry, type RunAs } from './user.js';
export {
  ensureOwnedDirectory,
  MAX_INPUT_BYTES,
  readRegularFile,
  UnreadableFile,
  writeFileAtomically,
} from './files.js';
export { OrphanReaper, startOrphanReaper } from './reaper.js';

export { parseHbaRules, validateHbaRule, type HbaRule } from './hba-rules.js';
export { IDENT_MAP, renderHba, renderIdent, REPLICATION_USER, type HbaAccess } from './hba.js';
export { extensionsFor, parseLibraryList, preloadLibrariesFor } from './preload.js';
export {
  CUSTOM_CONF,
  isOwnedParameter,
  parseUserParameters,
  quoteValue,
  renderCustomConf,
  withCustomConfInclude,
  type ManagedSettings,
  type Parameters,
  type TlsFiles,
} from './settings.js';

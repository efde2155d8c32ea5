export { parseHbaRules, validateHbaRule, type HbaRule } from './hba-rules.js';
export { IDENT_MAP, renderHba, renderIdent, REPLICATION_USER } from './hba.js';
export { checkUserParameters, explainRefusal, preloadLibraries, type SettingsContext } from './settings-rules.js';
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

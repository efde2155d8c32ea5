export { parseHbaRules, validateHbaRule, type HbaRule } from './hba-rules.js';
export { IDENT_MAP, METRICS_USER, renderHba, renderIdent, REPLICATION_USER } from './hba.js';
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

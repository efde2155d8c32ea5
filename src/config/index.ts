export { AUTO_CONF, withoutFixedSettings, type CleanedAutoConf } from './auto-conf.js';
export { parseHbaRules, validateHbaRule, type HbaRule } from './hba-rules.js';
export { IDENT_MAP, METRICS_USER, renderHba, renderIdent, REPLICATION_USER } from './hba.js';
export { checkUserParameters, explainRefusal, preloadLibraries, type SettingsContext } from './settings-rules.js';
export {
  isFixedSetting,
  isOwnedParameter,
  managedSettings,
  postmasterOptions,
  renderSettingsDoc,
  type RenderContext,
  type RenderedSettings,
  type SettingKind,
  type TlsFiles,
} from './managed-settings.js';
export {
  CUSTOM_CONF,
  parseUserParameters,
  quoteValue,
  renderCustomConf,
  withCustomConfInclude,
  type Parameters,
} from './settings.js';

export { AUTO_CONF, withoutFixedSettings, type CleanedAutoConf } from './auto-conf.js';
export { parseHbaRules, validateHbaRule, type HbaRule } from './hba-rules.js';
export { IDENT_MAP, METRICS_USER, renderHba, renderIdent, REPLICATION_USER, type HbaAccess } from './hba.js';
export { extensionsFor, parseLibraryList, preloadLibrariesFor } from './preload.js';
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

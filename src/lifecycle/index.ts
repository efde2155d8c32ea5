export {
  ControlDataReader,
  parseControlData,
  readControlData,
  stillCurrent,
  type ControlData,
  type ControlFileStamp,
} from './control-data.js';
export {
  decideStart,
  formatAddress,
  parseAddress,
  sameAddress,
  type StartDecision,
  type StartFacts,
} from './decide.js';
export { rewind, rewindArgs, rewindOutcome, type RewindOutcome } from './rewind.js';
export {
  parseState,
  readState,
  renderState,
  STATE_FILE,
  StateFileError,
  stateFilePath,
  writeState,
  type FenceRecord,
  type LifecycleState,
} from './state.js';
export { parseProbe, probeTarget, type TargetFacts } from './target.js';
export { checkDemotionTarget, type DemotionTargetCheck, type TargetRefusal } from './demotion-target.js';
export { parseDemoteBody } from './demote-request.js';

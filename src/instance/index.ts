export { CrashPolicy, DEFAULT_CRASH_LIMITS, type CrashDecision, type CrashPolicyLimits } from './crash-policy.js';
export { Instance, type Phase } from './instance.js';
export type { HostPort, RunOptions } from './options.js';
export { runInstance } from './run.js';

/**
 * When to restart a crashed postmaster and when to give up so the kubelet restarts the container
 * (a fresh pod may land on a healthier node). Pure: the clock is passed in.
 */
export interface CrashPolicyLimits {
  firstDelayMs: number;
  maxDelayMs: number;
  maxCrashes: number;
  windowMs: number;
}

export const DEFAULT_CRASH_LIMITS: CrashPolicyLimits = {
  firstDelayMs: 1_000,
  maxDelayMs: 30_000,
  maxCrashes: 5,
  windowMs: 10 * 60_000,
};

export type CrashDecision =
  { action: 'restart'; delayMs: number; crashesInWindow: number } | { action: 'give-up'; crashesInWindow: number };

export class CrashPolicy {
  private crashTimes: number[] = [];

  constructor(private readonly limits: CrashPolicyLimits = DEFAULT_CRASH_LIMITS) {}

  recordCrash(nowMs: number): CrashDecision {
    this.crashTimes = [...this.crashTimes.filter((time) => nowMs - time < this.limits.windowMs), nowMs];
    const crashesInWindow = this.crashTimes.length;
    if (crashesInWindow >= this.limits.maxCrashes) return { action: 'give-up', crashesInWindow };
    const delayMs = Math.min(this.limits.maxDelayMs, this.limits.firstDelayMs * 2 ** (crashesInWindow - 1));
    return { action: 'restart', delayMs, crashesInWindow };
  }
}

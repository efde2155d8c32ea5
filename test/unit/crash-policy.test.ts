import { describe, expect, it } from 'vitest';
import { CrashPolicy, DEFAULT_CRASH_LIMITS, type CrashDecision } from '../../src/instance/crash-policy.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

/** Feeds crash times (ms) to a fresh policy and returns each decision. */
function decide(times: number[], limits = DEFAULT_CRASH_LIMITS): CrashDecision[] {
  const policy = new CrashPolicy(limits);
  return times.map((time) => policy.recordCrash(time));
}

const restart = (delayMs: number, crashesInWindow: number): CrashDecision => ({
  action: 'restart',
  delayMs,
  crashesInWindow,
});
const giveUp = (crashesInWindow: number): CrashDecision => ({ action: 'give-up', crashesInWindow });

describe('CrashPolicy with the default limits (1 s doubling to 30 s, 5 crashes in 10 minutes)', () => {
  it.each<[string, number[], CrashDecision[]]>([
    ['one crash', [0], [restart(1 * SECOND, 1)]],
    [
      'the backoff doubles',
      [0, 5 * SECOND, 10 * SECOND, 20 * SECOND],
      [restart(1 * SECOND, 1), restart(2 * SECOND, 2), restart(4 * SECOND, 3), restart(8 * SECOND, 4)],
    ],
    [
      'the fifth crash within 10 minutes gives up',
      [0, 1, 2, 3, 4],
      [restart(1 * SECOND, 1), restart(2 * SECOND, 2), restart(4 * SECOND, 3), restart(8 * SECOND, 4), giveUp(5)],
    ],
    [
      'five crashes just inside the window',
      [0, 2 * MINUTE, 4 * MINUTE, 6 * MINUTE, 10 * MINUTE - 1],
      [restart(1 * SECOND, 1), restart(2 * SECOND, 2), restart(4 * SECOND, 3), restart(8 * SECOND, 4), giveUp(5)],
    ],
    [
      'a crash leaves the window after exactly 10 minutes',
      [0, 2 * MINUTE, 4 * MINUTE, 6 * MINUTE, 10 * MINUTE],
      [
        restart(1 * SECOND, 1),
        restart(2 * SECOND, 2),
        restart(4 * SECOND, 3),
        restart(8 * SECOND, 4),
        restart(8 * SECOND, 4),
      ],
    ],
    [
      'crashes far apart never give up and reset the backoff',
      [0, 11 * MINUTE, 22 * MINUTE, 33 * MINUTE, 44 * MINUTE, 55 * MINUTE],
      Array.from({ length: 6 }, () => restart(1 * SECOND, 1)),
    ],
  ])('%s', (_name, times, expected) => {
    expect(decide(times)).toEqual(expected);
  });
});

describe('CrashPolicy with other limits', () => {
  it('caps the delay at maxDelayMs', () => {
    const limits = { firstDelayMs: 1 * SECOND, maxDelayMs: 30 * SECOND, maxCrashes: 10, windowMs: 10 * MINUTE };
    expect(
      decide([0, 1, 2, 3, 4, 5, 6], limits).map((decision) =>
        decision.action === 'restart' ? decision.delayMs : 'give-up',
      ),
    ).toEqual([1, 2, 4, 8, 16, 30, 30].map((seconds) => seconds * SECOND));
  });

  it('gives up at the first crash when one is already too many', () => {
    expect(decide([0], { ...DEFAULT_CRASH_LIMITS, maxCrashes: 1 })).toEqual([giveUp(1)]);
  });
});

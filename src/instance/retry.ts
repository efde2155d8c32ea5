/**
 * A retry after a failure, doubling from the first delay up to the maximum, one pending at a time;
 * a success resets the count. Used for a certificate refresh that failed for want of disk space or
 * the like: nothing else would try again before the next Secret change or the hourly renewal check.
 */
export class Backoff {
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly retry: () => void,
    private readonly firstMs = 1_000,
    private readonly maxMs = 300_000,
  ) {}

  /** Schedules the next try; returns its delay. */
  failed(): number {
    this.failures++;
    const delayMs = Math.min(this.maxMs, this.firstMs * 2 ** (this.failures - 1));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.retry();
    }, delayMs);
    this.timer.unref();
    return delayMs;
  }

  succeeded(): void {
    this.failures = 0;
    this.cancel();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

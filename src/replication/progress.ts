/**
 * pg_basebackup's `--progress` meter, read from its stderr. Pure: lines in, figures out; the
 * clock is passed in so the reporting rhythm can be tested.
 */

export interface CloneProgress {
  doneBytes: number;
  totalBytes: number;
  percent: number;
}

// "  1234/567890 kB (0%), 0/1 tablespace (data/base/1/1259)" ; the total may be "?" with --no-estimate-size.
const PROGRESS_LINE = /^\s*(\d+)\/(\d+|\?) kB \((\d+|\?)%\), \d+\/\d+ tablespaces?\b/;

/** The figures of a progress line, or undefined for any other line (those are worth logging). */
export function parseProgressLine(line: string): CloneProgress | undefined {
  const match = PROGRESS_LINE.exec(line);
  if (!match) return undefined;
  const doneBytes = Number(match[1]) * 1024;
  // Without an estimate pg_basebackup only knows what it has received so far.
  const totalBytes = match[2] === '?' ? doneBytes : Number(match[2]) * 1024;
  const percent = match[3] === '?' ? 0 : Number(match[3]);
  return { doneBytes, totalBytes, percent };
}

/**
 * pg_basebackup prints its meter every second; a log line every `intervalMs` is enough for a
 * person watching a long clone, and the last figures are always reported at the end.
 */
export class ProgressReporter {
  private lastReportMs: number | undefined;
  private latest: CloneProgress | undefined;

  constructor(
    private readonly report: (progress: CloneProgress) => void,
    private readonly intervalMs = 5_000,
  ) {}

  /** Returns true when the line was a progress line (and so need not be logged as it is). */
  accept(line: string, nowMs: number): boolean {
    const progress = parseProgressLine(line);
    if (!progress) return false;
    this.latest = progress;
    if (this.lastReportMs === undefined || nowMs - this.lastReportMs >= this.intervalMs) {
      this.lastReportMs = nowMs;
      this.report(progress);
      this.latest = undefined;
    }
    return true;
  }

  /** Reports the figures not yet reported (the final 100 %). */
  finish(): void {
    if (this.latest) this.report(this.latest);
    this.latest = undefined;
  }
}

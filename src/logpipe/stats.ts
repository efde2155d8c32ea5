/** What the log pipe has done so far; the status API and metrics read it, the pipe only counts. */
export interface LogPipeCounters {
  /** csvlog records written, per logger. */
  records: { postgres: number; pgaudit: number };
  /** Lines of the stderr-format FIFO written as PostgreSQL's. */
  rawLines: number;
  /** Lines of the stderr-format FIFO a program PostgreSQL runs printed (archive_command), per logger. */
  programLines: Record<string, number>;
  /** Input written as `unparsable csvlog record` (with its raw text). */
  unparsable: number;
  /** Empty lines in the csvlog stream, skipped: they hold no record. */
  blankLines: number;
  /** Times a reader stopped because stdout was behind. */
  backpressurePauses: number;
}

export interface LogPipeStatus extends LogPipeCounters {
  /** Bytes accepted for stdout and not yet taken by its reader. */
  bufferedBytes: number;
  /** Above this many buffered bytes the FIFO readers stop reading. */
  highWaterMark: number;
  /** Readers currently stopped by backpressure. */
  pausedReaders: number;
}

export function newCounters(): LogPipeCounters {
  return {
    records: { postgres: 0, pgaudit: 0 },
    rawLines: 0,
    programLines: {},
    unparsable: 0,
    blankLines: 0,
    backpressurePauses: 0,
  };
}

/**
 * The live log pipe: PostgreSQL's logging collector writes csvlog into `<dir>/postgres.csv` and
 * stderr-format lines into `<dir>/postgres`; each FIFO is read, converted and written to the one
 * stdout sink.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunAs } from '../process/index.js';
import { CsvlogConverter, RawLineConverter, WRITER_BOUNDARY, type StreamConverter } from './convert.js';
import { ensureFifo, FifoReader } from './fifo.js';
import { LineFormatter, type ProgramLineReader } from './format.js';
import { newCounters, type LogPipeCounters, type LogPipeStatus } from './stats.js';

/** `log_filename` in custom.conf; the collector adds `.csv` for csvlog. */
export const LOG_FILENAME = 'postgres';

/** What the pipe needs of stdout (an OutputSink): writes that report backpressure, and 'drain'. */
export interface PipeSink {
  write(bytes: Buffer): boolean;
  once(event: 'drain', listener: () => void): unknown;
  readonly bufferedBytes: number;
  readonly highWaterMark: number;
}

export interface LogPipeOptions {
  /** `log_directory`. */
  dir: string;
  runAs: RunAs;
  sink: PipeSink;
  pod: string;
  /** Tells lines of a program PostgreSQL runs apart from PostgreSQL's own on the stderr FIFO. */
  programLine?: ProgramLineReader;
}

interface Stream {
  reader: FifoReader;
  converter: StreamConverter;
  boundariesWritten: number;
}

export class LogPipe {
  private readonly counters: LogPipeCounters = newCounters();
  private readonly streams: Stream[] = [];
  private pausedReaders = 0;

  /** Makes the FIFOs and starts reading them; call before the postmaster starts. */
  constructor(private readonly options: LogPipeOptions) {
    const formatter = new LineFormatter(options.pod);
    const csvFile = path.join(options.dir, `${LOG_FILENAME}.csv`);
    const rawFile = path.join(options.dir, LOG_FILENAME);
    this.open(csvFile, new CsvlogConverter(options.sink, formatter, this.counters, csvFile));
    this.open(rawFile, new RawLineConverter(options.sink, formatter, this.counters, rawFile, options.programLine));
  }

  get status(): LogPipeStatus {
    const { sink } = this.options;
    return {
      records: { ...this.counters.records },
      rawLines: this.counters.rawLines,
      programLines: { ...this.counters.programLines },
      unparsable: this.counters.unparsable,
      blankLines: this.counters.blankLines,
      backpressurePauses: this.counters.backpressurePauses,
      bufferedBytes: sink.bufferedBytes,
      highWaterMark: sink.highWaterMark,
      pausedReaders: this.pausedReaders,
    };
  }

  /**
   * Marks "the previous PostgreSQL is gone" in both FIFOs and resolves once the readers got there,
   * so everything it wrote has reached the sink. Call only while no PostgreSQL process is alive.
   * Resolves false when stdout did not take the backlog within `timeoutMs`.
   */
  async barrier(timeoutMs: number): Promise<boolean> {
    for (const stream of this.streams) {
      await stream.reader.writeBoundary(WRITER_BOUNDARY);
      stream.boundariesWritten++;
    }
    const deadline = Date.now() + timeoutMs;
    while (this.streams.some((stream) => stream.converter.boundaries < stream.boundariesWritten)) {
      if (Date.now() > deadline) return false;
      await sleep(5);
    }
    return true;
  }

  close(): void {
    for (const stream of this.streams) stream.reader.close();
  }

  private open(file: string, converter: StreamConverter): void {
    ensureFifo(file, this.options.runAs);
    const reader = new FifoReader(
      file,
      (chunk) => converter.push(chunk),
      (resume) => {
        this.pausedReaders++;
        this.counters.backpressurePauses++;
        this.options.sink.once('drain', () => {
          this.pausedReaders--;
          resume();
        });
      },
    );
    this.streams.push({ reader, converter, boundariesWritten: 0 });
  }
}

/**
 * Bytes of one log stream to JSON lines on the sink: the code the live FIFOs and
 * `instance-manager logs convert` share. Each pushed chunk becomes one sink write (lines are never
 * cut, and a batch costs one write instead of one per record); the return value is the sink's, so
 * the caller stops reading when stdout is behind.
 */
import { LineSplitter } from '../process/index.js';
import { CsvlogParser } from './csv.js';
import { LineFormatter, type ProgramLineReader } from './format.js';
import { OutputBuffer } from './output.js';
import type { LogPipeCounters } from './stats.js';

/**
 * A byte PostgreSQL never writes (its log text is C strings), so the manager can put it in a FIFO
 * itself to say "the previous writer is gone": a record cut short before it is finished as
 * unparsable instead of swallowing the next writer's first record. It also tells the manager that
 * everything written before it has been read (see LogPipe.barrier).
 */
export const WRITER_BOUNDARY = 0x00;

/** Longest stderr-format line kept whole; PostgreSQL's own messages go through csvlog. */
const MAX_RAW_LINE_BYTES = 64 * 1024 * 1024;

export interface LineSink {
  /** `bytes` is the sink's until it has left (see bufferedBytes): the converter does not touch it. */
  write(bytes: Buffer): boolean;
  /**
   * Bytes accepted and not yet handed to the kernel. 0 right after a write means the sink holds
   * nothing (net.Socket keeps a buffer only until its write completes; a write the kernel took at
   * once is complete when write() returns), so the converter writes its next output over the same
   * memory instead of leaving one buffer a read to the garbage collector.
   */
  readonly bufferedBytes: number;
}

export interface StreamConverter {
  /**
   * Returns false when the caller should wait for the sink's 'drain'. Keeps no reference to `chunk`
   * once it returns: the caller may read into the same buffer again.
   */
  push(chunk: Buffer): boolean;
  /** End of input: a partial record or line is written too. */
  finish(): boolean;
  /** Writer boundaries seen so far. */
  readonly boundaries: number;
}

abstract class BoundaryAwareConverter implements StreamConverter {
  boundaries = 0;
  protected readonly out = new OutputBuffer();

  constructor(
    private readonly sink: LineSink,
    protected readonly formatter: LineFormatter,
    protected readonly counters: LogPipeCounters,
  ) {}

  push(chunk: Buffer): boolean {
    for (let boundary = chunk.indexOf(WRITER_BOUNDARY); boundary !== -1; boundary = chunk.indexOf(WRITER_BOUNDARY)) {
      this.feed(chunk.subarray(0, boundary));
      this.end();
      this.boundaries++;
      chunk = chunk.subarray(boundary + 1);
    }
    this.feed(chunk);
    return this.flush();
  }

  finish(): boolean {
    this.end();
    return this.flush();
  }

  protected abstract feed(chunk: Buffer): void;
  protected abstract end(): void;

  private flush(): boolean {
    const bytes = this.out.take();
    if (bytes === undefined) return true;
    const accepted = this.sink.write(bytes);
    if (this.sink.bufferedBytes === 0) this.out.reuse();
    return accepted;
  }
}

export class CsvlogConverter extends BoundaryAwareConverter {
  private readonly parser = new CsvlogParser({
    record: (fields) => {
      this.counters.records[this.formatter.record(fields, this.out)]++;
    },
    unparsable: (raw) => {
      this.counters.unparsable++;
      this.formatter.unparsable(raw, this.source, this.out);
    },
    blankLine: () => this.counters.blankLines++,
  });

  constructor(
    sink: LineSink,
    formatter: LineFormatter,
    counters: LogPipeCounters,
    private readonly source?: string,
  ) {
    super(sink, formatter, counters);
  }

  protected feed(chunk: Buffer): void {
    this.parser.push(chunk);
  }

  protected end(): void {
    this.parser.finish();
  }
}

export class RawLineConverter extends BoundaryAwareConverter {
  private readonly splitter = new LineSplitter((line) => {
    const program = this.programLine?.(line);
    if (program) this.counters.programLines[program.logger] = (this.counters.programLines[program.logger] ?? 0) + 1;
    else this.counters.rawLines++;
    this.formatter.rawLine(line, this.source, this.out, program);
  }, MAX_RAW_LINE_BYTES);

  constructor(
    sink: LineSink,
    formatter: LineFormatter,
    counters: LogPipeCounters,
    private readonly source: string,
    private readonly programLine?: ProgramLineReader,
  ) {
    super(sink, formatter, counters);
  }

  protected feed(chunk: Buffer): void {
    this.splitter.push(chunk);
  }

  protected end(): void {
    this.splitter.end();
  }
}

export { CsvlogConverter, RawLineConverter, WRITER_BOUNDARY, type LineSink, type StreamConverter } from './convert.js';
export { CsvlogParser, KNOWN_COLUMN_COUNTS, type CsvlogFields, type CsvlogHandler } from './csv.js';
export { ensureFifo, FifoReader } from './fifo.js';
export {
  CSVLOG_COLUMNS,
  LineFormatter,
  logTimeToRfc3339,
  severityLevel,
  UNPARSABLE_MSG,
  type ProgramLine,
  type ProgramLineReader,
} from './format.js';
export { OutputBuffer } from './output.js';
export { AUDIT_FIELDS, decodeAudit, type AuditRecord } from './pgaudit.js';
export { LOG_FILENAME, LogPipe, type LogPipeOptions, type PipeSink } from './pipe.js';
export { newCounters, type LogPipeCounters, type LogPipeStatus } from './stats.js';

/**
 * csvlog fields to the contract's JSON line. Pure: the pod name and a clock come in as values.
 *
 * Lines are built as strings rather than through an object and JSON.stringify: the key order is the
 * contract's by construction, and each value still goes through JSON.stringify, so no content (a
 * newline, a quote, `{"level":"error"}` in a query) can end the line or add a key.
 */
import type { Level } from '../log.js';
import { decodeAudit } from './pgaudit.js';

/** csvlog columns in file order (23 in PostgreSQL 12, 24 in 13, 26 from 14 on). */
export const CSVLOG_COLUMNS = [
  'log_time', 'user_name', 'database_name', 'process_id', 'connection_from', 'session_id', 'session_line_num',
  'command_tag', 'session_start_time', 'virtual_transaction_id', 'transaction_id', 'error_severity',
  'sql_state_code', 'message', 'detail', 'hint', 'internal_query', 'internal_query_pos', 'context', 'query',
  'query_pos', 'location', 'application_name', 'backend_type', 'leader_pid', 'query_id',
] as const;

const LOG_TIME = 0;
const ERROR_SEVERITY = 11;
const MESSAGE = 13;

export const UNPARSABLE_MSG = 'unparsable csvlog record';

export function severityLevel(severity: string): Level {
  switch (severity) {
    case 'PANIC':
    case 'FATAL':
    case 'ERROR':
      return 'error';
    case 'WARNING':
      return 'warning';
    default:
      return severity.startsWith('DEBUG') ? 'debug' : 'info';
  }
}

/** Keys of columns a future PostgreSQL may add: kept under their position rather than dropped. */
function columnKey(index: number): string {
  return CSVLOG_COLUMNS[index] ?? `column_${index + 1}`;
}

const QUOTED_KEYS = Array.from({ length: 64 }, (_, index) => `${JSON.stringify(columnKey(index))}:`);

/**
 * `YYYY-MM-DD HH:MM:SS.mmm UTC` (log_timezone UTC, the usual in containers) becomes RFC 3339
 * directly; a numeric offset goes through Date; a zone abbreviation cannot be trusted, so the time of
 * reading stands in.
 */
export function logTimeToRfc3339(logTime: string, now: () => Date): string {
  // The usual shape, `YYYY-MM-DD HH:MM:SS.mmm UTC`, without a regular expression: it is every record.
  if (logTime.length === 27 && logTime.endsWith(' UTC') && logTime.charCodeAt(10) === 32) return `${logTime.slice(0, 10)}T${logTime.slice(11, 23)}Z`;
  const utc = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) (?:UTC|GMT)$/.exec(logTime);
  if (utc) return `${utc[1]}T${utc[2]}Z`;
  const offset = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) ([+-]\d\d)(\d\d)?$/.exec(logTime);
  if (offset) {
    const parsed = new Date(`${offset[1]}T${offset[2]}${offset[3]}:${offset[4] ?? '00'}`);
    if (!Number.isNaN(parsed.getTime())) return parsed.toISOString();
  }
  return now().toISOString();
}

export interface FormattedRecord {
  logger: 'postgres' | 'pgaudit';
  line: string;
}

export class LineFormatter {
  private readonly pod: string;

  constructor(
    pod: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.pod = JSON.stringify(pod);
  }

  record(fields: readonly string[]): FormattedRecord {
    const severity = fields[ERROR_SEVERITY] ?? '';
    const message = fields[MESSAGE] ?? '';
    const audit = message.startsWith('AUDIT: ') ? decodeAudit(message) : undefined;
    const logger = audit ? 'pgaudit' : 'postgres';
    // One join per line: `+=` would build a rope of ~30 pieces that costs more to flatten than to make.
    const parts = [this.head(severityLevel(severity), logTimeToRfc3339(fields[LOG_TIME] ?? '', this.now), logger, 'record'), ',"record":{'];
    let separator = '';
    for (let index = 0; index < fields.length; index++) {
      const value = fields[index]!;
      if (value === '' || (audit && index === MESSAGE)) continue;
      parts.push(separator, QUOTED_KEYS[index] ?? `${JSON.stringify(columnKey(index))}:`, JSON.stringify(value));
      separator = ',';
    }
    if (audit) parts.push(separator, '"audit":', JSON.stringify(audit));
    parts.push('}}\n');
    return { logger, line: parts.join('') };
  }

  unparsable(raw: string, source?: string): string {
    const head = this.head('error', this.now().toISOString(), 'postgres', UNPARSABLE_MSG);
    return `${head},"raw":${JSON.stringify(raw)}${source === undefined ? '' : `,"source":${JSON.stringify(source)}`}}\n`;
  }

  /** A line of the stderr-format FIFO, as it came. */
  rawLine(text: string, source: string): string {
    return `${this.head('info', this.now().toISOString(), 'postgres', text)},"source":${JSON.stringify(source)}}\n`;
  }

  private head(level: Level, ts: string, logger: string, msg: string): string {
    return `{"level":"${level}","ts":"${ts}","logger":"${logger}","msg":${JSON.stringify(msg)},"logging_pod":${this.pod}`;
  }
}

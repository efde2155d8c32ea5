/**
 * csvlog fields to the contract's JSON line. Pure: the pod name and a clock come in as values.
 *
 * Lines are written piece by piece rather than through an object and JSON.stringify: the key order
 * is the contract's by construction, and each value is escaped exactly as JSON.stringify escapes it
 * (output.ts), so no content (a newline, a quote, `{"level":"error"}` in a query) can end the line
 * or add a key.
 */
import type { Level } from '../log.js';
import type { CsvlogFields } from './csv.js';
import { Literal, type OutputBuffer } from './output.js';
import { decodeAudit } from './pgaudit.js';

/** csvlog columns in file order (23 in PostgreSQL 12, 24 in 13, 26 from 14 on). */
export const CSVLOG_COLUMNS = [
  'log_time',
  'user_name',
  'database_name',
  'process_id',
  'connection_from',
  'session_id',
  'session_line_num',
  'command_tag',
  'session_start_time',
  'virtual_transaction_id',
  'transaction_id',
  'error_severity',
  'sql_state_code',
  'message',
  'detail',
  'hint',
  'internal_query',
  'internal_query_pos',
  'context',
  'query',
  'query_pos',
  'location',
  'application_name',
  'backend_type',
  'leader_pid',
  'query_id',
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

/**
 * `YYYY-MM-DD HH:MM:SS.mmm UTC` (log_timezone UTC, the usual in containers) becomes RFC 3339
 * directly; a numeric offset goes through Date; a zone abbreviation cannot be trusted, so the time of
 * reading stands in. (The usual shape is also read from bytes, see `writeTs`.)
 */
export function logTimeToRfc3339(logTime: string, now: () => Date): string {
  const utc = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) (?:UTC|GMT)$/.exec(logTime);
  if (utc) return `${utc[1]}T${utc[2]}Z`;
  const offset = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) ([+-]\d\d)(\d\d)?$/.exec(logTime);
  if (offset) {
    const parsed = new Date(`${offset[1]}T${offset[2]}${offset[3]}:${offset[4] ?? '00'}`);
    if (!Number.isNaN(parsed.getTime())) return parsed.toISOString();
  }
  return now().toISOString();
}

/**
 * `YYYY-MM-DD HH:MM:SS.mmm UTC` checked a word (4 bytes) at a time, the last word overlapping:
 * per word, which bytes must be digits and what the others must be.
 */
const UTC_MILLIS = '0000-00-00 00:00:00.000 UTC';
const UTC_MILLIS_WORDS = [0, 4, 8, 12, 16, 20, 23].map((offset) => {
  let digits = 0;
  let literalMask = 0;
  let literal = 0;
  for (let k = 0; k < 4; k++) {
    const code = UTC_MILLIS.charCodeAt(offset + k);
    if (code === 0x30) digits |= 0xff << (8 * k);
    else {
      literalMask |= 0xff << (8 * k);
      literal |= code << (8 * k);
    }
  }
  return { offset, digits, literalMask, literal, zeros: 0x30303030 & digits, sixes: 0x06060606 & digits };
});

function isUtcMillis(view: DataView, start: number, end: number): boolean {
  if (end - start !== UTC_MILLIS.length) return false;
  for (let i = 0; i < UTC_MILLIS_WORDS.length; i++) {
    const { offset, digits, literalMask, literal, zeros, sixes } = UTC_MILLIS_WORDS[i]!;
    const word = view.getUint32(start + offset, true);
    if ((word & literalMask) !== literal) return false;
    // A digit is 0x3N with N <= 9: its high nibble is 3, and stays 3 when 6 is added.
    const digitBytes = word & digits;
    if ((digitBytes & 0xf0f0f0f0) !== zeros || ((digitBytes + sixes) & 0xf0f0f0f0) !== zeros) return false;
  }
  return true;
}

const literal = (text: string) => new Literal(text);
const LOG = Buffer.from('LOG');
const AUDIT_PREFIX = Buffer.from('AUDIT: ');
const LINE_END = literal('}}\n');
const QUOTE = 0x22;
const T = 0x54;
const Z = 0x5a;

/** `{"level":"<level>","ts":`, the start of every line. */
function levelHead(level: Level): string {
  return `{"level":"${level}","ts":`;
}
const LEVEL_HEADS: Record<Level, Literal> = {
  error: literal(levelHead('error')),
  warning: literal(levelHead('warning')),
  info: literal(levelHead('info')),
  debug: literal(levelHead('debug')),
};

/** `"<key>":` of a record's first value, and `,"<key>":` of the others. */
const fieldKey = (index: number, first: boolean) => literal(`${first ? '' : ','}${JSON.stringify(columnKey(index))}:`);
const FIRST_KEYS = Array.from({ length: 64 }, (_, index) => fieldKey(index, true));
const NEXT_KEYS = Array.from({ length: 64 }, (_, index) => fieldKey(index, false));
const FIRST_AUDIT_KEY = literal('"audit":');
const NEXT_AUDIT_KEY = literal(',"audit":');

export type CsvlogLogger = 'postgres' | 'pgaudit';

/**
 * A line a program run by PostgreSQL (pgBackRest as archive_command) printed to its stderr, which
 * reaches the stderr-format FIFO: logged under the program's logger, level and fields.
 */
export interface ProgramLine {
  logger: string;
  level: Level;
  msg: string;
  fields: Readonly<Record<string, string>>;
}

/** Reads one line of the stderr-format FIFO; undefined when it is PostgreSQL's own. May keep state. */
export type ProgramLineReader = (line: string) => ProgramLine | undefined;

function fieldsJson(fields: Readonly<Record<string, string>>): string {
  let json = '';
  for (const [key, value] of Object.entries(fields)) json += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
  return json;
}

/**
 * Writes the contract's lines into an OutputBuffer. csvlog records go byte by byte (the bulk of
 * the work); unparsable records, stderr-format lines and pgaudit's decoded fields are few and go
 * through strings and JSON.stringify.
 */
export class LineFormatter {
  private readonly pod: string;
  /** `,"logger":"<logger>","msg":"record","logging_pod":<pod>,"record":{` per logger. */
  private readonly recordHeads: Record<CsvlogLogger, Literal>;

  constructor(
    pod: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.pod = JSON.stringify(pod);
    this.recordHeads = {
      postgres: literal(`${this.headAfterTs('postgres', 'record')},"record":{`),
      pgaudit: literal(`${this.headAfterTs('pgaudit', 'record')},"record":{`),
    };
  }

  /** Writes one record's line; returns the logger it went to. */
  record(fields: CsvlogFields, out: OutputBuffer): CsvlogLogger {
    const audit = fields.startsWith(MESSAGE, AUDIT_PREFIX) ? decodeAudit(fields.text(MESSAGE)) : undefined;
    const logger = audit ? 'pgaudit' : 'postgres';
    out.literal(LEVEL_HEADS[this.level(fields)]);
    this.writeTs(fields, out);
    out.literal(this.recordHeads[logger]);
    const { source, starts, ends } = fields;
    let first = true;
    for (let index = 0; index < fields.length; index++) {
      const start = starts[index]!;
      const end = ends[index]!;
      if (start === end || (audit && index === MESSAGE)) continue;
      out.literal((first ? FIRST_KEYS : NEXT_KEYS)[index] ?? fieldKey(index, first));
      first = false;
      out.jsonString(source, start, end, fields.hasDoubledQuotes(index));
    }
    if (audit) {
      out.literal(first ? FIRST_AUDIT_KEY : NEXT_AUDIT_KEY);
      out.text(JSON.stringify(audit));
    }
    out.literal(LINE_END);
    return logger;
  }

  unparsable(raw: string, source: string | undefined, out: OutputBuffer): void {
    const head = this.head('error', this.now().toISOString(), 'postgres', UNPARSABLE_MSG);
    out.text(
      `${head},"raw":${JSON.stringify(raw)}${source === undefined ? '' : `,"source":${JSON.stringify(source)}`}}\n`,
    );
  }

  /** A line of the stderr-format FIFO: PostgreSQL's as it came, or a program's as `program` read it. */
  rawLine(text: string, source: string, out: OutputBuffer, program?: ProgramLine): void {
    const ts = this.now().toISOString();
    const head = program
      ? `${this.head(program.level, ts, program.logger, program.msg)}${fieldsJson(program.fields)}`
      : this.head('info', ts, 'postgres', text);
    out.text(`${head},"source":${JSON.stringify(source)}}\n`);
  }

  private level(fields: CsvlogFields): Level {
    if (fields.length <= ERROR_SEVERITY) return severityLevel('');
    // Nearly every record is a LOG: spare it a string.
    const start = fields.starts[ERROR_SEVERITY]!;
    if (fields.ends[ERROR_SEVERITY]! - start === LOG.length && fields.startsWith(ERROR_SEVERITY, LOG)) return 'info';
    return severityLevel(fields.text(ERROR_SEVERITY));
  }

  /** `ts` as a JSON string: from the bytes in the usual shape, else by logTimeToRfc3339's rules. */
  private writeTs(fields: CsvlogFields, out: OutputBuffer): void {
    const { source } = fields;
    const start = fields.starts[LOG_TIME]!;
    const end = fields.ends[LOG_TIME]!;
    if (!isUtcMillis(fields.view, start, end)) {
      out.text(JSON.stringify(logTimeToRfc3339(fields.text(LOG_TIME), this.now)));
      return;
    }
    out.byte(QUOTE);
    out.copy(source, start, start + 10);
    out.byte(T);
    out.copy(source, start + 11, start + 23);
    out.byte(Z);
    out.byte(QUOTE);
  }

  private head(level: Level, ts: string, logger: string, msg: string): string {
    return `${levelHead(level)}"${ts}"${this.headAfterTs(logger, msg)}`;
  }

  private headAfterTs(logger: string, msg: string): string {
    return `,"logger":"${logger}","msg":${JSON.stringify(msg)},"logging_pod":${this.pod}`;
  }
}

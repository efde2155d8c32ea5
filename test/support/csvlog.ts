/**
 * csvlog records written the way PostgreSQL's write_csvlog() writes them: text columns quoted
 * (quotes doubled) when not null, numbers and times bare, one `\n` after each record.
 */
import { parse } from 'csv-parse/sync';
import { AUDIT_FIELDS, CSVLOG_COLUMNS, logTimeToRfc3339, severityLevel } from '../../src/logpipe/index.js';

export type Column = (typeof CSVLOG_COLUMNS)[number];

const QUOTED: ReadonlySet<string> = new Set([
  'user_name',
  'database_name',
  'connection_from',
  'command_tag',
  'message',
  'detail',
  'hint',
  'internal_query',
  'context',
  'query',
  'location',
  'application_name',
  'backend_type',
]);

export function isQuotedColumn(index: number): boolean {
  return QUOTED.has(CSVLOG_COLUMNS[index]!);
}

export function csvField(index: number, value: string | undefined): string {
  if (value === undefined) return '';
  return isQuotedColumn(index) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One record of `columns` columns (23, 24 or 26); missing values are null (empty). */
export function csvlogRecord(values: Partial<Record<Column, string>>, columns = 26): string {
  return `${CSVLOG_COLUMNS.slice(0, columns)
    .map((name, index) => csvField(index, values[name]))
    .join(',')}\n`;
}

export const SAMPLE: Partial<Record<Column, string>> = {
  log_time: '2026-11-29 16:05:37.275 UTC',
  user_name: 'postgres',
  database_name: 'postgres',
  process_id: '23704',
  connection_from: '[local]',
  session_id: '6b0c4d51.5c98',
  session_line_num: '1',
  command_tag: 'SELECT',
  session_start_time: '2026-11-29 16:05:37 UTC',
  virtual_transaction_id: '3/7',
  transaction_id: '0',
  error_severity: 'LOG',
  sql_state_code: '00000',
  message: 'statement: SELECT 1',
  application_name: 'psql',
  backend_type: 'client backend',
  query_id: '0',
};

/** A small seeded generator, so a failing property run can be repeated. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The contract's JSON lines for a csvlog made only of well-formed records, built the plain way
 * (csv-parse, an object in the contract's key order, JSON.stringify): the oracle the log pipe's
 * byte-level writer must match byte for byte.
 */
export function contractLines(input: Buffer, pod: string, now: () => Date): Buffer {
  const rows = parse(input, { relax_column_count: true }) as string[][];
  const lines = rows.map((row) => {
    const audit = auditFields(row[13] ?? '');
    const record: Record<string, unknown> = {};
    row.forEach((value, index) => {
      if (value !== '' && !(audit && index === 13)) record[CSVLOG_COLUMNS[index] ?? `column_${index + 1}`] = value;
    });
    if (audit) record.audit = audit;
    const line = {
      level: severityLevel(row[11] ?? ''),
      ts: logTimeToRfc3339(row[0]!, now),
      logger: audit ? 'pgaudit' : 'postgres',
      msg: 'record',
      logging_pod: pod,
      record,
    };
    return `${JSON.stringify(line)}\n`;
  });
  return Buffer.from(lines.join(''));
}

/** pgaudit's fields as the contract names them, when `message` is a well-formed `AUDIT: ` row. */
function auditFields(message: string): Record<string, string> | undefined {
  if (!message.startsWith('AUDIT: ')) return undefined;
  let rows: string[][];
  try {
    rows = parse(message.slice('AUDIT: '.length)) as string[][];
  } catch {
    return undefined;
  }
  if (rows.length !== 1 || (rows[0]!.length !== 9 && rows[0]!.length !== 10)) return undefined;
  // Empty audit fields are omitted, as empty columns of `record` are.
  return Object.fromEntries(
    rows[0]!.map((value, index) => [AUDIT_FIELDS[index]!, value]).filter(([, value]) => value !== ''),
  );
}

/**
 * pgaudit writes its events as ordinary log messages, `AUDIT: ` followed by one CSV row. Decoding
 * that row gives log shippers the audit fields as fields. Pure.
 */
import { parse } from 'csv-parse/sync';

const PREFIX = 'AUDIT: ';

/** The fields pgaudit writes; `rows` only with `pgaudit.log_rows = on`. */
export const AUDIT_FIELDS = [
  'audit_type',
  'statement_id',
  'substatement_id',
  'class',
  'command',
  'object_type',
  'object_name',
  'statement',
  'parameter',
  'rows',
] as const;

export type AuditRecord = Partial<Record<(typeof AUDIT_FIELDS)[number], string>>;

/**
 * The audit fields of a message, or undefined when it is not a well-formed pgaudit message (then it
 * stays an ordinary message: nothing is lost to a decoding guess).
 */
export function decodeAudit(message: string): AuditRecord | undefined {
  if (!message.startsWith(PREFIX)) return undefined;
  let rows: string[][];
  try {
    rows = parse(message.slice(PREFIX.length), { relax_column_count: false }) as string[][];
  } catch {
    return undefined;
  }
  const fields = rows.length === 1 ? rows[0]! : undefined;
  if (!fields || (fields.length !== 9 && fields.length !== 10)) return undefined;
  const audit: AuditRecord = {};
  // Empty fields are omitted, as in `record` (and as CloudNativePG writes them).
  fields.forEach((value, index) => {
    if (value !== '') audit[AUDIT_FIELDS[index]!] = value;
  });
  return audit;
}

/**
 * The contract's JSON log lines as lines a person reads, what `kubectl cnpg logs pretty` does for
 * CloudNativePG. Pure: the text of one line in, the text to print out; the time zone and colours
 * come in as options.
 *
 * A line that is not one of ours (not JSON, or JSON without `level` and `msg`) comes out exactly as
 * it went in: a viewer that hides what it does not understand would hide the line that matters.
 */
import { LEVELS, type Level } from '../log.js';

export interface PrettyOptions {
  /** ANSI colours (the CLI turns them on for a terminal only). */
  color: boolean;
  /** IANA zone the times are shown in; the process's own when absent. */
  timeZone?: string;
}

export interface LineFilter {
  /** The least severe level shown. */
  level?: Level;
  loggers?: ReadonlySet<string>;
  since?: Date;
}

type Entry = Record<string, unknown> & { level: string; msg: string };
type Fields = Record<string, unknown>;

/** Keys every line has, shown in the line's head rather than as fields. */
const HEAD_KEYS = new Set(['level', 'ts', 'logger', 'msg', 'logging_pod']);
/** Where a raw line came from: a FIFO path, noise for a reader. */
const HIDDEN_KEYS = new Set(['source']);
/** Continuation lines of a multi-line message or value start under the message. */
const INDENT = '    ';
/** The longest logger name the manager writes (`instance-manager`), so messages line up. */
const LOGGER_WIDTH = 16;
const LEVEL_WIDTH = Math.max(...LEVELS.map((level) => level.length));

const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
const LEVEL_COLOURS: Record<Level, string> = {
  error: '\x1b[1;31m',
  warning: '\x1b[33m',
  info: '\x1b[32m',
  debug: '\x1b[90m',
};

/** The severities PostgreSQL writes for each level without saying more than the level does. */
const PLAIN_SEVERITY: Partial<Record<string, string>> = { error: 'ERROR', warning: 'WARNING', info: 'LOG' };

export class PrettyPrinter {
  private readonly time: Intl.DateTimeFormat;

  constructor(
    private readonly options: PrettyOptions,
    private readonly filter: LineFilter = {},
  ) {
    this.time = new Intl.DateTimeFormat('en-CA', {
      timeZone: options.timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      fractionalSecondDigits: 3,
      hourCycle: 'h23',
    });
  }

  /** What to print for one input line (without its newline): '' when the filter leaves it out. */
  line(text: string): string {
    const entry = parseEntry(text);
    if (entry === undefined) return `${text}\n`;
    if (!this.passes(entry)) return '';
    return this.render(entry);
  }

  private passes(entry: Entry): boolean {
    const { level, loggers, since } = this.filter;
    const rank = (name: Level) => LEVELS.indexOf(name);
    if (level !== undefined && isLevel(entry.level) && rank(entry.level) > rank(level)) return false;
    if (loggers !== undefined && !loggers.has(String(entry.logger))) return false;
    if (since !== undefined) {
      const ts = typeof entry.ts === 'string' ? Date.parse(entry.ts) : Number.NaN;
      if (!Number.isNaN(ts) && ts < since.getTime()) return false;
    }
    return true;
  }

  private render(entry: Entry): string {
    const level = entry.level.padEnd(LEVEL_WIDTH).toUpperCase();
    const head = [
      this.dim(this.localTime(entry.ts)),
      this.options.color && isLevel(entry.level) ? `${LEVEL_COLOURS[entry.level]}${level}${RESET}` : level,
      stringOr(entry.logging_pod, '-'),
      stringOr(entry.logger, '-').padEnd(LOGGER_WIDTH),
    ].join(' ');
    const { message, fields } = messageAndFields(entry);
    const shown = Object.entries(fields)
      .filter(([, value]) => value !== undefined && value !== null && value !== '')
      .map(([key, value]) => `${this.dim(`${key}=`)}${fieldValue(value)}`);
    const line = shown.length === 0 ? `${head} ${message}` : `${head} ${message}  ${shown.join(' ')}`;
    return `${indentContinuations(line)}\n`;
  }

  private localTime(ts: unknown): string {
    const date = typeof ts === 'string' ? new Date(ts) : undefined;
    if (date === undefined || Number.isNaN(date.getTime())) return stringOr(ts, '-');
    const part = Object.fromEntries(this.time.formatToParts(date).map(({ type, value }) => [type, value]));
    return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute}:${part.second}.${part.fractionalSecond}`;
  }

  private dim(text: string): string {
    return this.options.color ? `${DIM}${text}${RESET}` : text;
  }
}

/** The message of a line and the fields worth showing after it. */
function messageAndFields(entry: Entry): { message: string; fields: Fields } {
  const record = isObject(entry.record) ? entry.record : undefined;
  if (record === undefined) {
    const shown = Object.entries(entry).filter(([key]) => !HEAD_KEYS.has(key) && !HIDDEN_KEYS.has(key));
    const fields = Object.fromEntries(shown);
    return { message: entry.msg, fields };
  }
  const user = stringOr(record.user_name, '');
  const database = stringOr(record.database_name, '');
  const who = database === '' ? user : `${user}@${database}`;
  const sqlstate = record.sql_state_code === '00000' ? undefined : record.sql_state_code;
  const audit = isObject(record.audit) ? record.audit : undefined;
  if (audit !== undefined) {
    const parts = [audit.audit_type, audit.class, audit.command].filter((part) => typeof part === 'string' && part);
    const fields = { user: who, object: audit.object_name, statement: audit.statement, rows: audit.rows };
    return { message: ['AUDIT:', ...parts].join(' '), fields };
  }
  const severity = stringOr(record.error_severity, '');
  const prefix = severity === '' || PLAIN_SEVERITY[entry.level] === severity ? '' : `${severity}: `;
  return {
    message: `${prefix}${stringOr(record.message, entry.msg)}`,
    fields: {
      user: who,
      sqlstate,
      detail: record.detail,
      hint: record.hint,
      context: record.context,
      statement: record.query,
    },
  };
}

function parseEntry(text: string): Entry | undefined {
  if (!text.startsWith('{')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(value) || typeof value.level !== 'string' || typeof value.msg !== 'string') return undefined;
  return value as Entry;
}

/** A value as `key=` takes it: bare when it is one word, quoted otherwise, objects as JSON. */
function fieldValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[^\s"=]+$/.test(text)) return text;
  return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** A multi-line message or value stays readable: its later lines are indented under the first. */
function indentContinuations(text: string): string {
  return text.replace(/\r?\n/g, `\n${INDENT}`);
}

function isLevel(value: string): value is Level {
  return (LEVELS as readonly string[]).includes(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

/**
 * `--since`: a duration back from `now` (`90s`, `15m`, `2h`, `1d`) or a point in time
 * (`2026-11-29T16:00:00Z`, `2026-11-29 16:00`, taken in the local zone without an offset).
 * Undefined when it is neither.
 */
const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseSince(value: string, now: Date): Date | undefined {
  const duration = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  if (duration) {
    const unit = DURATION_UNITS[duration[2] as keyof typeof DURATION_UNITS];
    return new Date(now.getTime() - Number(duration[1]) * unit);
  }
  if (!/^\d{4}-\d\d-\d\d/.test(value)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

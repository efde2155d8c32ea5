import { describe, expect, it } from 'vitest';
import {
  CsvlogConverter,
  CSVLOG_COLUMNS,
  CsvlogParser,
  decodeAudit,
  LineFormatter,
  logTimeToRfc3339,
  newCounters,
  OutputBuffer,
  severityLevel,
} from '../../src/logpipe/index.js';
import { csvlogRecord, SAMPLE } from '../support/csvlog.js';

const fixedNow = () => new Date('2026-11-29T17:00:00.000Z');
const formatter = new LineFormatter('pg-1', fixedNow);

function fieldsOf(values: Partial<Record<(typeof CSVLOG_COLUMNS)[number], string>>, columns = 26): string[] {
  return CSVLOG_COLUMNS.slice(0, columns).map((name) => values[name] ?? '');
}

/** The line of one record given as its field values ('' for null), through the parser as the pipe does. */
function formatRecord(values: string[]): { logger: string; line: string } {
  const out = new OutputBuffer();
  let logger = '';
  const parser = new CsvlogParser({
    record: (fields) => (logger = formatter.record(fields, out)),
    unparsable: (raw) => {
      throw new Error(`not a record: ${raw}`);
    },
  });
  parser.push(
    Buffer.from(`${values.map((value) => (value === '' ? '' : `"${value.replaceAll('"', '""')}"`)).join(',')}\n`),
  );
  return { logger, line: out.take()?.toString() ?? '' };
}

describe('severityLevel', () => {
  it.each([
    ['PANIC', 'error'],
    ['FATAL', 'error'],
    ['ERROR', 'error'],
    ['WARNING', 'warning'],
    ['NOTICE', 'info'],
    ['INFO', 'info'],
    ['LOG', 'info'],
    ['STATEMENT', 'info'],
    ['DEBUG1', 'debug'],
    ['DEBUG5', 'debug'],
    ['', 'info'],
  ])('%s -> %s', (severity, level) => expect(severityLevel(severity)).toBe(level));
});

describe('logTimeToRfc3339', () => {
  it.each([
    ['2026-11-29 16:05:37.275 UTC', '2026-11-29T16:05:37.275Z'],
    ['2026-11-29 16:05:37 GMT', '2026-11-29T16:05:37Z'],
    ['2026-11-29 17:05:37.275 +01', '2026-11-29T16:05:37.275Z'],
    ['2026-11-29 11:35:37.275 -0430', '2026-11-29T16:05:37.275Z'],
    ['2026-11-29 17:05:37.275 CET', '2026-11-29T17:00:00.000Z'],
    ['garbage', '2026-11-29T17:00:00.000Z'],
  ])('%s -> %s', (logTime, ts) => expect(logTimeToRfc3339(logTime, fixedNow)).toBe(ts));
});

describe('LineFormatter.record', () => {
  it('writes the contract shape: key order, record columns by name, empty ones omitted, all strings', () => {
    const { logger, line } = formatRecord(fieldsOf(SAMPLE));
    expect(logger).toBe('postgres');
    expect(line.endsWith('}\n')).toBe(true);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['level', 'ts', 'logger', 'msg', 'logging_pod', 'record']);
    expect(parsed).toMatchObject({
      level: 'info',
      ts: '2026-11-29T16:05:37.275Z',
      logger: 'postgres',
      msg: 'record',
      logging_pod: 'pg-1',
    });
    expect(Object.keys(parsed.record as object)).toEqual(CSVLOG_COLUMNS.filter((name) => SAMPLE[name] !== undefined));
    expect(parsed.record).toMatchObject({ process_id: '23704', message: 'statement: SELECT 1' });
  });

  it('takes its level from error_severity', () => {
    expect(JSON.parse(formatRecord(fieldsOf({ ...SAMPLE, error_severity: 'FATAL' })).line)).toMatchObject({
      level: 'error',
    });
  });

  it.each([
    ['2026-11-29 16:05:37.275 UTC', '2026-11-29T16:05:37.275Z'],
    ['2026-11-29 16:05:37.275 GMT', '2026-11-29T16:05:37.275Z'],
    ['2026-11-29 16:0x:37.275 UTC', '2026-11-29T17:00:00.000Z'],
    ['2026-11-29 16:0":37.275 UTC', '2026-11-29T17:00:00.000Z'],
    ['2026-11-29 16:05:37.2750UTC', '2026-11-29T17:00:00.000Z'],
  ])('takes ts from log_time %s: %s', (logTime, ts) => {
    expect(JSON.parse(formatRecord(fieldsOf({ ...SAMPLE, log_time: logTime })).line)).toMatchObject({ ts });
  });

  it('keeps columns a future PostgreSQL adds under their position', () => {
    const parsed = JSON.parse(formatRecord([...fieldsOf(SAMPLE), 'new']).line) as { record: Record<string, string> };
    expect(parsed.record.column_27).toBe('new');
  });

  it('makes log injection impossible: any content stays one value on one line', () => {
    const message =
      'x"\n{"level":"error","ts":"2026-01-01T00:00:00Z","logger":"instance-manager","msg":"pwned"}\u2028\u0000\r';
    const { line } = formatRecord(fieldsOf({ ...SAMPLE, message, user_name: '","level":"error' }));
    expect(line.indexOf('\n')).toBe(line.length - 1);
    const parsed = JSON.parse(line) as { level: string; record: Record<string, string> };
    expect(parsed.level).toBe('info');
    expect(parsed.record.message).toBe(message);
    expect(parsed.record.user_name).toBe('","level":"error');
  });

  it('turns an AUDIT: message into logger pgaudit with record.audit and no message', () => {
    const message = 'AUDIT: SESSION,1,1,READ,SELECT,,,"SELECT ""a"", 1\nFROM t",<not logged>';
    const parsed = JSON.parse(formatRecord(fieldsOf({ ...SAMPLE, message })).line) as {
      logger: string;
      record: Record<string, unknown>;
    };
    expect(parsed.logger).toBe('pgaudit');
    expect(parsed.record.message).toBeUndefined();
    expect(Object.keys(parsed.record).at(-1)).toBe('audit');
    expect(parsed.record.audit).toEqual({
      audit_type: 'SESSION',
      statement_id: '1',
      substatement_id: '1',
      class: 'READ',
      command: 'SELECT',
      statement: 'SELECT "a", 1\nFROM t',
      parameter: '<not logged>',
    });
  });

  it('omits empty audit fields, as CloudNativePG does', () => {
    expect(decodeAudit('AUDIT: SESSION,1,1,DDL,CREATE TABLE,,,"CREATE TABLE t ()",,')).toEqual({
      audit_type: 'SESSION',
      statement_id: '1',
      substatement_id: '1',
      class: 'DDL',
      command: 'CREATE TABLE',
      statement: 'CREATE TABLE t ()',
    });
  });
});

describe('decodeAudit', () => {
  it('reads the 10th field, rows, of pgaudit.log_rows', () => {
    expect(
      decodeAudit('AUDIT: OBJECT,2,1,WRITE,INSERT,TABLE,public.t,"INSERT INTO t VALUES (1)",<none>,1'),
    ).toMatchObject({ object_name: 'public.t', rows: '1' });
  });

  it.each([
    ['not an audit message', 'statement: SELECT 1'],
    ['too few fields', 'AUDIT: SESSION,1,1,READ'],
    ['broken quoting', 'AUDIT: SESSION,1,1,READ,SELECT,,,"SELECT 1,<none>'],
    ['another tag', 'NOTAUDIT: SESSION,1,1,READ,SELECT,,,x,<none>'],
  ])('leaves %s alone', (_name, message) => expect(decodeAudit(message)).toBeUndefined());
});

describe('CsvlogConverter', () => {
  it('writes one sink write per pushed chunk, counts per logger, and reports backpressure', () => {
    const writes: string[] = [];
    let accept = true;
    const counters = newCounters();
    const converter = new CsvlogConverter(
      { write: (bytes) => (writes.push(bytes.toString()), accept), bufferedBytes: 0 },
      formatter,
      counters,
      '/x/postgres.csv',
    );
    const audit = csvlogRecord({ ...SAMPLE, message: 'AUDIT: SESSION,1,1,READ,SELECT,,,SELECT 1,<none>' });
    expect(converter.push(Buffer.from(csvlogRecord(SAMPLE) + audit + 'garbage\n'))).toBe(true);
    accept = false;
    expect(converter.push(Buffer.from(csvlogRecord(SAMPLE)))).toBe(false);
    expect(writes).toHaveLength(2);
    expect(writes[0]!.split('\n')).toHaveLength(4);
    expect(counters).toMatchObject({ records: { postgres: 2, pgaudit: 1 }, unparsable: 1 });
    expect(JSON.parse(writes[0]!.split('\n')[2]!)).toMatchObject({
      msg: 'unparsable csvlog record',
      raw: 'garbage',
      source: '/x/postgres.csv',
      logging_pod: 'pg-1',
    });
  });

  it("skips blank lines silently and counts them (Go's csv reader skips them too)", () => {
    const writes: string[] = [];
    const counters = newCounters();
    const converter = new CsvlogConverter(
      { write: (bytes) => (writes.push(bytes.toString()), true), bufferedBytes: 0 },
      formatter,
      counters,
    );
    converter.push(Buffer.from(`\n${csvlogRecord(SAMPLE)}\n\n${csvlogRecord(SAMPLE)}`));
    converter.push(Buffer.from('\n'));
    converter.finish();
    expect(
      writes
        .join('')
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { msg: string }).msg),
    ).toEqual(['record', 'record']);
    expect(counters).toMatchObject({ records: { postgres: 2 }, unparsable: 0, blankLines: 4 });
  });

  it('ends a record cut short at a writer boundary (NUL) and counts the boundary', () => {
    const writes: string[] = [];
    const converter = new CsvlogConverter(
      { write: (bytes) => (writes.push(bytes.toString()), true), bufferedBytes: 0 },
      formatter,
      newCounters(),
    );
    const whole = csvlogRecord(SAMPLE);
    converter.push(Buffer.concat([Buffer.from(whole.slice(0, 50)), Buffer.from([0]), Buffer.from(whole)]));
    expect(converter.boundaries).toBe(1);
    const lines = writes
      .join('')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; raw?: string });
    expect(lines.map((line) => line.msg)).toEqual(['unparsable csvlog record', 'record']);
    expect(lines[0]!.raw).toBe(whole.slice(0, 50));
  });
});

describe('LineFormatter.rawLine', () => {
  const raw = (text: string, program?: Parameters<LineFormatter['rawLine']>[3]) => {
    const out = new OutputBuffer();
    formatter.rawLine(text, '/run/log/postgres', out, program);
    return out.take()?.toString() ?? '';
  };

  it("writes PostgreSQL's own line as an info line of logger postgres, with its source", () => {
    expect(raw('could not "open" file')).toBe(
      '{"level":"info","ts":"2026-11-29T17:00:00.000Z","logger":"postgres","msg":"could not \\"open\\" file",' +
        '"logging_pod":"pg-1","source":"/run/log/postgres"}\n',
    );
  });

  it("writes a program's line under its logger, level and fields", () => {
    const line = raw('P00  ERROR: [104]: failed', {
      logger: 'pgbackrest',
      level: 'error',
      msg: '[104]: failed',
      fields: { process: 'P00' },
    });
    expect(JSON.parse(line)).toEqual({
      level: 'error',
      ts: '2026-11-29T17:00:00.000Z',
      logger: 'pgbackrest',
      msg: '[104]: failed',
      logging_pod: 'pg-1',
      process: 'P00',
      source: '/run/log/postgres',
    });
    expect(Object.keys(JSON.parse(line) as object).slice(0, 5)).toEqual([
      'level',
      'ts',
      'logger',
      'msg',
      'logging_pod',
    ]);
  });
});

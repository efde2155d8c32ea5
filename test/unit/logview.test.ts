import { describe, expect, it } from 'vitest';
import { parseSince, PrettyPrinter, type LineFilter } from '../../src/logview/index.js';

const plain = (filter: LineFilter = {}) => new PrettyPrinter({ color: false, timeZone: 'UTC' }, filter);
const line = (fields: Record<string, unknown>) =>
  JSON.stringify({
    level: 'info',
    ts: '2026-11-29T16:05:37.275Z',
    logger: 'postgres',
    msg: 'record',
    logging_pod: 'pg-1',
    ...fields,
  });
const record = (values: Record<string, unknown>, level = 'info', logger = 'postgres') =>
  line({ level, logger, record: values });

describe('PrettyPrinter: one readable line per JSON line', () => {
  it.each([
    [
      'a LOG record: no severity repeated, no 00000',
      record({
        error_severity: 'LOG',
        sql_state_code: '00000',
        message: 'checkpoint starting: time',
        backend_type: 'checkpointer',
      }),
      '2026-11-29 16:05:37.275 INFO    pg-1 postgres         checkpoint starting: time\n',
    ],
    [
      'an error with user@database, sqlstate, detail, hint',
      record(
        {
          user_name: 'app',
          database_name: 'shop',
          error_severity: 'ERROR',
          sql_state_code: '23505',
          message: 'duplicate key value',
          detail: 'Key (id)=(1) already exists.',
          hint: 'Try=again',
        },
        'error',
      ),
      '2026-11-29 16:05:37.275 ERROR   pg-1 postgres         duplicate key value  user=app@shop sqlstate=23505 detail="Key (id)=(1) already exists." hint="Try=again"\n',
    ],
    [
      'a FATAL says so: the level alone does not',
      record(
        { user_name: 'bob', error_severity: 'FATAL', sql_state_code: '28000', message: 'no pg_hba.conf entry' },
        'error',
      ),
      '2026-11-29 16:05:37.275 ERROR   pg-1 postgres         FATAL: no pg_hba.conf entry  user=bob sqlstate=28000\n',
    ],
    [
      'an audit record: class and command, the statement',
      record(
        {
          user_name: 'app',
          database_name: 'shop',
          error_severity: 'LOG',
          audit: {
            audit_type: 'SESSION',
            statement_id: '1',
            class: 'WRITE',
            command: 'INSERT',
            object_name: 'public.t',
            statement: 'INSERT INTO t VALUES (1)',
          },
        },
        'info',
        'pgaudit',
      ),
      '2026-11-29 16:05:37.275 INFO    pg-1 pgaudit          AUDIT: SESSION WRITE INSERT  user=app@shop object=public.t statement="INSERT INTO t VALUES (1)"\n',
    ],
    [
      "the manager's own event: its fields, objects as JSON",
      line({
        level: 'warning',
        logger: 'instance-manager',
        msg: 'operator action refused',
        status: 403,
        peer: { cn: 'x' },
      }),
      '2026-11-29 16:05:37.275 WARNING pg-1 instance-manager operator action refused  status=403 peer="{\\"cn\\":\\"x\\"}"\n',
    ],
    [
      'a line a program printed: its pipe, not the FIFO path',
      line({ logger: 'initdb', msg: 'Success.', pipe: 'stdout', source: '/controller/log/postgres' }),
      '2026-11-29 16:05:37.275 INFO    pg-1 initdb           Success.  pipe=stdout\n',
    ],
    [
      'multi-line message and value: later lines indented',
      record({ error_severity: 'ERROR', message: 'syntax error\nat or near', query: 'SELECT\n  1 +' }, 'error'),
      '2026-11-29 16:05:37.275 ERROR   pg-1 postgres         syntax error\n    at or near  statement="SELECT\n      1 +"\n',
    ],
    [
      'a time that does not parse is shown as it is',
      line({ ts: 'yesterday', msg: 'x', logger: 'instance-manager' }),
      'yesterday INFO    pg-1 instance-manager x\n',
    ],
  ])('%s', (_name, input, expected) => {
    expect(plain().line(input)).toBe(expected);
  });

  it.each([
    ['not JSON', 'FATAL:  the database system is starting up'],
    ['a JSON array', '[1,2]'],
    ['JSON without level and msg', '{"a":1}'],
    ['cut-short JSON', '{"level":"info","ts":"2026'],
    ['an empty line', ''],
  ])('prints %s exactly as it came', (_name, input) => {
    expect(plain().line(input)).toBe(`${input}\n`);
    expect(plain({ level: 'error', loggers: new Set(['pgaudit']) }).line(input)).toBe(`${input}\n`);
  });

  it('shows local time in the zone it is given', () => {
    const printer = new PrettyPrinter({ color: false, timeZone: 'Europe/Paris' });
    expect(printer.line(line({ msg: 'x' }))).toMatch(/^2026-11-29 17:05:37\.275 /);
  });

  it('colours the level (and dims the time and keys) only when asked', () => {
    const input = record({ error_severity: 'ERROR', sql_state_code: '42P01', message: 'no such table' }, 'error');
    const coloured = new PrettyPrinter({ color: true, timeZone: 'UTC' }).line(input);
    expect(coloured).toContain('\x1b[1;31mERROR  \x1b[0m');
    expect(coloured).toContain('\x1b[2msqlstate=\x1b[0m42P01');
    // eslint-disable-next-line no-control-regex -- ANSI escapes are what is being removed
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).toBe(plain().line(input));
    expect(plain().line(input)).not.toContain('\x1b');
  });
});

describe('PrettyPrinter filters', () => {
  const lines = [
    line({ level: 'debug', logger: 'instance-manager', msg: 'd', ts: '2026-11-29T16:00:00Z' }),
    line({ level: 'info', logger: 'postgres', msg: 'i', ts: '2026-11-29T16:10:00Z' }),
    line({ level: 'warning', logger: 'pgaudit', msg: 'w', ts: '2026-11-29T16:20:00Z' }),
    line({ level: 'error', logger: 'postgres', msg: 'e', ts: '2026-11-29T16:30:00Z' }),
  ];
  const shown = (filter: LineFilter) => {
    const printer = plain(filter);
    return lines
      .map((text) => printer.line(text))
      .filter((text) => text !== '')
      .map((text) => text.trimEnd().split(' ').at(-1));
  };

  it.each<[string, LineFilter, string[]]>([
    ['none', {}, ['d', 'i', 'w', 'e']],
    ['--level info', { level: 'info' }, ['i', 'w', 'e']],
    ['--level error', { level: 'error' }, ['e']],
    ['--logger postgres', { loggers: new Set(['postgres']) }, ['i', 'e']],
    ['--since 16:15', { since: new Date('2026-11-29T16:15:00Z') }, ['w', 'e']],
    ['all three', { level: 'warning', loggers: new Set(['postgres']), since: new Date('2026-11-29T16:15:00Z') }, ['e']],
  ])('%s', (_name, filter, expected) => {
    expect(shown(filter)).toEqual(expected);
  });
});

describe('parseSince', () => {
  const now = new Date('2026-11-29T16:00:00.000Z');
  it.each<[string, string | undefined]>([
    ['90s', '2026-11-29T15:58:30.000Z'],
    ['15m', '2026-11-29T15:45:00.000Z'],
    ['2h', '2026-11-29T14:00:00.000Z'],
    ['1d', '2026-11-28T16:00:00.000Z'],
    ['1.5h', '2026-11-29T14:30:00.000Z'],
    ['2026-11-29T12:00:00Z', '2026-11-29T12:00:00.000Z'],
    ['2026-11-29T13:00:00+01:00', '2026-11-29T12:00:00.000Z'],
    ['15', undefined],
    ['yesterday', undefined],
    ['2026-13-45', undefined],
    ['5 m', undefined],
  ])('%s', (value, expected) => {
    expect(parseSince(value, now)?.toISOString()).toBe(expected);
  });
});

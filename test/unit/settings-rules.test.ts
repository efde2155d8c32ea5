import { describe, expect, it } from 'vitest';
import { checkUserParameters, explainRefusal, preloadLibraries } from '../../src/config/settings-rules.js';
import { UsageError } from '../../src/errors.js';

const text = "# mine\nwork_mem = 4MB\nshared_preload_libraries = 'pg_stat_statements'\nwork_mem = 8MB\n";
const context = { text, source: '/etc/extra.conf', installedLibraries: new Set(['pg_stat_statements', 'pgaudit']) };

describe('checkUserParameters', () => {
  it.each([
    [[['ssl_max_protocol_version', 'TLSv1.3']]],
    [[['ssl_max_protocol_version', '']]],
    [[['shared_preload_libraries', 'pg_stat_statements, "pgaudit"']]],
    [[['session_preload_libraries', '$libdir/pgaudit.so']]],
  ])('accepts %j', (entries) => {
    expect(() => checkUserParameters(new Map(entries as [string, string][]), context)).not.toThrow();
  });

  it.each([
    [
      'ssl_max_protocol_version',
      'TLSv1.2',
      /^\/etc\/extra.conf: parameter "ssl_max_protocol_version": "TLSv1.2" is below/,
    ],
    [
      'shared_preload_libraries',
      '/tmp/evil.so',
      /^\/etc\/extra.conf:3: parameter "shared_preload_libraries": "\/tmp\/evil.so" is a path/,
    ],
    ['shared_preload_libraries', '$libdir/../../../tmp/evil', /is a path/],
    ['local_preload_libraries', 'pgaudit,timescaledb', /library "timescaledb" is not installed/],
  ])('refuses %s = %s', (key, value, why) => {
    const check = () => checkUserParameters(new Map([[key, value]]), context);
    expect(check).toThrow(UsageError);
    expect(check).toThrow(why);
  });

  it('lists preloaded libraries of every preload setting', () => {
    expect(
      preloadLibraries(
        new Map([
          ['shared_preload_libraries', 'a, b'],
          ['session_preload_libraries', ''],
        ]),
      ),
    ).toEqual([
      { key: 'shared_preload_libraries', library: 'a' },
      { key: 'shared_preload_libraries', library: 'b' },
    ]);
  });
});

describe('explainRefusal', () => {
  const prefix = '2026-11-30 14:39:09.687 GMT [6374] ';
  it('names the last line that sets the key, with the hint', () => {
    const stderr = [
      `${prefix}LOG:  skipping missing configuration file "/run/postgresql.auto.conf"`,
      `${prefix}LOG:  invalid value for parameter "work_mem": "12GBX"`,
      `${prefix}HINT:  Valid units for this parameter are "B", "kB", "MB", "GB", and "TB".`,
      `${prefix}FATAL:  configuration file "/run/x.conf" contains errors`,
    ];
    expect(explainRefusal(stderr, context, new Set(['work_mem']))).toBe(
      '/etc/extra.conf:4: PostgreSQL refuses it: invalid value for parameter "work_mem": "12GBX" (Valid units for this parameter are "B", "kB", "MB", "GB", and "TB".)',
    );
  });

  it("drops the rendered file name and line, and names the rendered file for a key that is not the user's", () => {
    const stderr = [`${prefix}LOG:  unrecognized configuration parameter "foo" in file "/run/x.conf" line 12`];
    expect(explainRefusal(stderr, context, new Set())).toBe(
      'the rendered configuration: PostgreSQL refuses it: unrecognized configuration parameter "foo"',
    );
  });

  it('falls back to the first complaint, and to nothing', () => {
    expect(explainRefusal([`${prefix}FATAL:  out of memory`], context, new Set())).toBe(
      'the rendered configuration: PostgreSQL refuses it: out of memory',
    );
    expect(explainRefusal(['garbage'], context, new Set())).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { defaultQueries } from '../../src/metrics/defaults.js';
import { mergeFamilies, renderFamilies, type Family } from '../../src/metrics/exposition.js';
import { settingsFamilies } from '../../src/metrics/settings.js';

const family = (name: string, samples: Family['samples'], type: Family['type'] = 'gauge'): Family => ({
  name,
  help: `help of ${name}`,
  type,
  samples,
});

describe('renderFamilies', () => {
  it('writes HELP, TYPE and one line a sample, escaping help and label values', () => {
    const text = renderFamilies([
      {
        name: 'pg_a',
        help: 'back\\slash and\nnewline',
        type: 'gauge',
        samples: [{ labels: { v: 'say "hi"\\\n' }, value: 1.5 }],
      },
      family('pg_b_total', [{ labels: {}, value: 3 }], 'counter'),
    ]);
    expect(text).toBe(
      '# HELP pg_a back\\\\slash and\\nnewline\n# TYPE pg_a gauge\npg_a{v="say \\"hi\\"\\\\\\n"} 1.5\n' +
        '# HELP pg_b_total help of pg_b_total\n# TYPE pg_b_total counter\npg_b_total 3\n',
    );
  });

  it.each([
    [NaN, 'NaN'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
    [1e21, '1e+21'],
    [-0.25, '-0.25'],
  ])('writes %d as %s', (value, written) => {
    expect(renderFamilies([family('pg_x', [{ labels: {}, value }])])).toContain(`pg_x ${written}\n`);
  });

  it('leaves out a family without samples (no HELP without a sample)', () => {
    expect(renderFamilies([family('pg_x', [])])).toBe('');
  });

  it('writes histogram series with their suffixes', () => {
    const text = renderFamilies([
      family(
        'pg_h',
        [
          { labels: { le: '+Inf' }, value: 2, suffix: '_bucket' },
          { labels: {}, value: 4, suffix: '_sum' },
          { labels: {}, value: 2, suffix: '_count' },
        ],
        'histogram',
      ),
    ]);
    expect(text.split('\n').slice(2)).toEqual(['pg_h_bucket{le="+Inf"} 2', 'pg_h_sum 4', 'pg_h_count 2', '']);
  });
});

describe('mergeFamilies', () => {
  it("joins one query's families from several databases under one name", () => {
    const { families, conflicts } = mergeFamilies([
      { owner: 'q', families: [family('q_v', [{ labels: { datname: 'a' }, value: 1 }])] },
      { owner: 'q', families: [family('q_v', [{ labels: { datname: 'b' }, value: 2 }])] },
    ]);
    expect(conflicts).toEqual([]);
    expect(families).toHaveLength(1);
    expect(families[0]!.samples.map((sample) => sample.labels.datname)).toEqual(['a', 'b']);
  });

  it('keeps the first of two queries producing one name, and says so', () => {
    const { families, conflicts } = mergeFamilies([
      { owner: 'first', families: [family('pg_v', [{ labels: {}, value: 1 }])] },
      { owner: 'second', families: [family('pg_v', [{ labels: {}, value: 2 }])] },
    ]);
    expect(families[0]!.samples).toEqual([{ labels: {}, value: 1 }]);
    expect(conflicts).toEqual(['metric pg_v of query second is already produced by first; dropped']);
  });

  it("drops rows repeating another's labels (whatever their order), and says so", () => {
    const { families, conflicts } = mergeFamilies([
      {
        owner: 'q',
        families: [
          family('q_v', [
            { labels: { a: '1', b: '2' }, value: 1 },
            { labels: { b: '2', a: '1' }, value: 2 },
          ]),
        ],
      },
    ]);
    expect(families[0]!.samples).toHaveLength(1);
    expect(conflicts[0]).toMatch(/1 rows repeat the labels of another/);
  });
});

describe('settingsFamilies converts as postgres_exporter does', () => {
  const row = (name: string, setting: string, unit: string, vartype = 'integer') => ({
    name,
    setting,
    unit,
    short_desc: `about ${name}`,
    vartype,
  });
  it.each([
    [row('max_connections', '100', ''), 'pg_settings_max_connections', 100],
    [row('fsync', 'on', '', 'bool'), 'pg_settings_fsync', 1],
    [row('hot_standby_feedback', 'off', '', 'bool'), 'pg_settings_hot_standby_feedback', 0],
    [row('shared_buffers', '16384', '8kB'), 'pg_settings_shared_buffers_bytes', 134_217_728],
    [row('work_mem', '4096', 'kB'), 'pg_settings_work_mem_bytes', 4_194_304],
    [row('min_wal_size', '80', 'MB'), 'pg_settings_min_wal_size_bytes', 83_886_080],
    [row('bgwriter_delay', '200', 'ms'), 'pg_settings_bgwriter_delay_seconds', 0.2],
    [row('vacuum_cost_delay', '0.3', 'ms', 'real'), 'pg_settings_vacuum_cost_delay_seconds', 0.0003],
    [row('checkpoint_timeout', '300', 's'), 'pg_settings_checkpoint_timeout_seconds', 300],
    [row('log_rotation_age', '1440', 'min'), 'pg_settings_log_rotation_age_seconds', 86_400],
    [row('statement_timeout', '-1', 'ms'), 'pg_settings_statement_timeout_seconds', -1],
    [row('pgaudit.log_level', '1', ''), 'pg_settings_pgaudit_log_level', 1],
  ])('%o', (setting, name, value) => {
    const [converted] = settingsFamilies([setting]);
    expect(converted).toMatchObject({ name, type: 'gauge', samples: [{ labels: {}, value }] });
  });

  it('types a setting named like a count untyped; leaves out one named with a type or in an unknown unit', () => {
    expect(settingsFamilies([row('tcp_keepalives_count', '9', '')])[0]!.type).toBe('untyped');
    expect(settingsFamilies([row('wal_summary_keep_time', '14400', 'min')])).toEqual([]);
    expect(settingsFamilies([row('made_up', '9', 'furlongs')])).toEqual([]);
  });
});

describe('defaultQueries', () => {
  it.each([13, 14, 15, 16, 17])(
    'for PostgreSQL %d: one query a name, every value column with a description and a rule-abiding name',
    (major) => {
      const queries = defaultQueries(major);
      expect(new Set(queries.map((query) => query.name)).size).toBe(queries.length);
      for (const query of queries) {
        for (const column of query.columns) {
          if (column.usage === 'LABEL') continue;
          const name = column.metricName ?? `${query.name}_${column.column}`;
          expect(column.description, name).not.toBe('');
          if (column.type === 'untyped') continue;
          expect(name.endsWith('_total'), `${name} is a ${column.usage}`).toBe(column.usage === 'COUNTER');
          expect(name, name).not.toMatch(/_(count|sum|bucket)$/);
        }
      }
    },
  );

  it('reads checkpoints from pg_stat_checkpointer from PostgreSQL 17 on, and pg_stat_wal from 14 on', () => {
    expect(defaultQueries(16).find((query) => query.name === 'pg_stat_bgwriter')!.sql).not.toContain(
      'pg_stat_checkpointer',
    );
    expect(defaultQueries(17).find((query) => query.name === 'pg_stat_bgwriter')!.sql).toContain(
      'pg_stat_checkpointer',
    );
    expect(defaultQueries(13).some((query) => query.name === 'pg_stat_wal')).toBe(false);
    expect(defaultQueries(14).some((query) => query.name === 'pg_stat_wal')).toBe(true);
  });
});

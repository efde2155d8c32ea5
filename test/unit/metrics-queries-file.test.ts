import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseQueriesFile, QueriesFileError } from '../../src/metrics/queries-file.js';
import { familiesOf } from '../../src/metrics/query.js';
import { inRange, parseVersionRange, serverVersion } from '../../src/metrics/version-range.js';

/** The example postgres_exporter's Debian package ships, read as is. */
const DEBIAN_EXAMPLE = '/usr/share/doc/prometheus-postgres-exporter/examples/queries.yaml';

const one = (text: string) => parseQueriesFile(text, 'q.yaml');

describe('parseQueriesFile reads postgres_exporter and CloudNativePG files', () => {
  it('reads the example of the Debian package whole', () => {
    const { queries, problems } = parseQueriesFile(fs.readFileSync(DEBIAN_EXAMPLE, 'utf8'), DEBIAN_EXAMPLE);
    expect(problems).toEqual([]);
    expect(queries.map((query) => query.name)).toEqual([
      'pg_replication',
      'pg_postmaster',
      'pg_stat_user_tables',
      'pg_statio_user_tables',
      'pg_stat_statements',
      'pg_process_idle',
    ]);
    const tables = queries.find((query) => query.name === 'pg_stat_user_tables')!;
    expect(tables.columns.filter((column) => column.usage === 'LABEL').map((column) => column.column)).toEqual([
      'datname',
      'schemaname',
      'relname',
    ]);
    expect(tables.columns.find((column) => column.column === 'seq_scan')).toMatchObject({
      usage: 'COUNTER',
      description: 'Number of sequential scans initiated on this table',
    });
  });

  it('reads a CloudNativePG query: target_databases, primary, predicate_query, runonserver, cache_seconds', () => {
    const { queries, problems } = one(`
pg_extensions:
  query: SELECT current_database() AS datname, count(*) AS count FROM pg_extension
  primary: true
  target_databases: ['*']
  predicate_query: SELECT true
  runonserver: ">=13.0.0"
  cache_seconds: 30
  metrics:
    - datname: {usage: LABEL, description: Database}
    - count: {usage: GAUGE, description: Extensions installed}
`);
    expect(problems).toEqual([]);
    expect(queries[0]).toMatchObject({
      name: 'pg_extensions',
      primaryOnly: true,
      targetDatabases: '*',
      predicateSql: 'SELECT true',
    });
    expect(inRange(queries[0]!.serverVersion!, serverVersion(150018))).toBe(true);
  });

  it.each([
    ['one database as a string', 'app', ['app']],
    ['a list', '[app, billing]', ['app', 'billing']],
    ['every database', "'*'", '*'],
  ])('target_databases: %s', (_, value, expected) => {
    const { queries } = one(
      `q:\n  query: SELECT 1 AS v\n  target_databases: ${value}\n  metrics:\n    - v: {usage: GAUGE, description: v}\n`,
    );
    expect(queries[0]!.targetDatabases).toEqual(expected);
  });

  it('is empty for an empty file', () => {
    expect(one('')).toEqual({ queries: [], problems: [] });
    expect(one('# nothing yet\n')).toEqual({ queries: [], problems: [] });
  });
});

describe('parseQueriesFile leaves out a broken query, naming file, line and why, and keeps the others', () => {
  const good = 'good:\n  query: SELECT 1 AS v\n  metrics:\n    - v: {usage: GAUGE, description: v}\n';
  it.each([
    ['bad:\n  metrics:\n    - v: {usage: GAUGE}\n', /^q\.yaml:1: query bad: `query` is missing$/],
    ['bad:\n  query: SELECT 1 AS v\n', /^q\.yaml:1: query bad: `metrics` must be a list/],
    [
      'bad:\n  query: SELECT 1 AS v\n  metrics:\n    - v: {usage: SUMMARY}\n',
      /^q\.yaml:4: query bad: column v: usage "SUMMARY" is not one of/,
    ],
    ['bad:\n  query: SELECT 1 AS v\n  metrics:\n    - v: {usage: LABEL}\n', /nothing to export/],
    [
      'bad:\n  query: SELECT 1 AS v\n  metrics:\n    - "my-label": {usage: LABEL}\n    - v: {usage: GAUGE}\n',
      /column my-label: not a valid label name/,
    ],
    [
      'bad-name:\n  query: SELECT 1 AS v\n  metrics:\n    - v: {usage: GAUGE}\n',
      /query bad-name: the name must be a valid metric name/,
    ],
    [
      'bad:\n  query: SELECT 1 AS v\n  primary: yes please\n  metrics:\n    - v: {usage: GAUGE}\n',
      /^q\.yaml:3: query bad: `primary` must be true or false$/,
    ],
    [
      'bad:\n  query: SELECT 1 AS v\n  runonserver: "after 13"\n  metrics:\n    - v: {usage: GAUGE}\n',
      /`runonserver` "after 13" is not a version range/,
    ],
    [
      'bad:\n  query: SELECT 1 AS v\n  metric:\n    - v: {usage: GAUGE}\n',
      /^q\.yaml:3: query bad: unknown key "metric"/,
    ],
    ['bad:\n  query: SELECT 1 AS v\n  metrics:\n    - v: {usage: MAPPEDMETRIC}\n', /MAPPEDMETRIC needs a `mapping`/],
    [
      'bad:\n  query: SELECT 1 AS v\n  target_databases: []\n  metrics:\n    - v: {usage: GAUGE}\n',
      /`target_databases` must be/,
    ],
  ])('%s', (bad, problem) => {
    const { queries, problems } = one(`${good}${bad}`);
    expect(queries.map((query) => query.name)).toEqual(['good']);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.replace(/^q\.yaml:(\d+)/, (_, line: string) => `q.yaml:${Number(line) - 4}`)).toMatch(problem);
  });

  it.each([
    ['not YAML', 'a: [1\n', /^q\.yaml:\d+: not valid YAML/],
    ['a list at the top', '- query: SELECT 1\n', /^q\.yaml:1: expected a map of query names to queries$/],
    ['a query twice', 'a:\n  query: x\na:\n  query: y\n', /^q\.yaml:3: not valid YAML: Map keys must be unique/],
  ])('refuses the whole file when it is %s', (_, text, message) => {
    expect(() => one(text)).toThrow(QueriesFileError);
    expect(() => one(text)).toThrow(message);
  });
});

describe('familiesOf turns rows into families as postgres_exporter does', () => {
  const { queries } = one(`
pg_thing:
  query: SELECT 1
  metrics:
    - name: {usage: LABEL, description: name}
    - ignored: {usage: DISCARD, description: not exported}
    - size: {usage: GAUGE, description: Size}
    - reads: {usage: COUNTER, description: Reads}
    - state: {usage: MAPPEDMETRIC, description: State, mapping: {up: 1, down: 0}}
    - wait: {usage: HISTOGRAM, description: Waits}
`);
  const rows = [
    {
      name: 'a',
      ignored: 'x',
      size: '12',
      reads: 3,
      state: 'up',
      wait: [1, 5],
      wait_bucket: ['2', '4'],
      wait_sum: 9.5,
      wait_count: '6',
    },
    {
      name: null,
      ignored: 'x',
      size: null,
      reads: true,
      state: 'sideways',
      wait: [1, 5],
      wait_bucket: [0, 0],
      wait_sum: 0,
      wait_count: 0,
    },
  ];

  it('names each value column <query>_<column>, typed by its usage, labelled by the LABEL columns', () => {
    const families = familiesOf(queries[0]!, rows);
    expect(families.map((family) => [family.name, family.type])).toEqual([
      ['pg_thing_size', 'gauge'],
      ['pg_thing_reads', 'counter'],
      ['pg_thing_state', 'gauge'],
      ['pg_thing_wait', 'histogram'],
    ]);
    expect(families[0]!.samples).toEqual([
      { labels: { name: 'a' }, value: 12 },
      { labels: { name: '' }, value: NaN },
    ]);
    expect(families[1]!.samples.map((sample) => sample.value)).toEqual([3, 1]);
    expect(families[2]!.samples.map((sample) => sample.value)).toEqual([1, NaN]);
    expect(families[3]!.samples.slice(0, 5)).toEqual([
      { labels: { name: 'a', le: '1' }, value: 2, suffix: '_bucket' },
      { labels: { name: 'a', le: '5' }, value: 4, suffix: '_bucket' },
      { labels: { name: 'a', le: '+Inf' }, value: 6, suffix: '_bucket' },
      { labels: { name: 'a' }, value: 9.5, suffix: '_sum' },
      { labels: { name: 'a' }, value: 6, suffix: '_count' },
    ]);
  });

  it('adds the labels it is given (the database a query ran in)', () => {
    expect(familiesOf(queries[0]!, rows.slice(0, 1), { datname: 'app' })[0]!.samples[0]!.labels).toEqual({
      datname: 'app',
      name: 'a',
    });
  });
});

describe('runonserver ranges', () => {
  it.each([
    ['>=10.0.0', 150018, true],
    ['>=9.6.0 <10.0.0', 150018, false],
    ['>=9.6.0 <10.0.0', 90624, true],
    ['<14 || >=16', 150000, false],
    ['<14 || >=16', 160004, true],
    ['15.x', 150018, true],
    ['15', 160000, false],
    ['>15.0.0', 150018, true],
  ])('%s on server_version_num %d: %s', (range, versionNum, expected) => {
    expect(inRange(parseVersionRange(range)!, serverVersion(versionNum))).toBe(expected);
  });

  it.each(['', 'after 13', '>=13.0.0 ||', '~13'])('refuses %j', (range) => {
    expect(parseVersionRange(range)).toBeUndefined();
  });
});

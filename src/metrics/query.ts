/**
 * A metrics query as postgres_exporter's queries.yaml describes one (and CloudNativePG's
 * monitoring ConfigMaps, which share the format): SQL, and per column whether it is a label or a
 * value. The defaults are written the same way. Pure: rows in, families out.
 */
import type { Family, MetricType, Sample } from './exposition.js';
import type { VersionRange } from './version-range.js';

export type Usage = 'LABEL' | 'GAUGE' | 'COUNTER' | 'DISCARD' | 'MAPPEDMETRIC' | 'HISTOGRAM';

export interface ColumnSpec {
  column: string;
  usage: Usage;
  description: string;
  /** MAPPEDMETRIC: the column's text to the value exported. */
  mapping?: ReadonlyMap<string, number>;
  /** Defaults only: a name other than `<query>_<column>` (postgres_exporter's own names). */
  metricName?: string;
  /** Defaults only: `untyped` where postgres_exporter's name breaks the naming rules for its type. */
  type?: MetricType;
}

export type Row = Readonly<Record<string, unknown>>;

export interface MetricQuery {
  name: string;
  sql: string;
  columns: readonly ColumnSpec[];
  /** Run on a primary only (CloudNativePG's `primary`). */
  primaryOnly: boolean;
  /** Undefined: the `postgres` database only; `*`: every database that allows connections. */
  targetDatabases: undefined | '*' | readonly string[];
  /** postgres_exporter's `runonserver`: skipped on other versions. */
  serverVersion: VersionRange | undefined;
  /** CloudNativePG's `predicate_query`: the query runs only where this returns true. */
  predicateSql: string | undefined;
  /** Defaults whose metric names come from the rows themselves (pg_settings). */
  familiesFromRows?: (rows: readonly Row[]) => Family[];
}

/** Query results as families: one per value column, labelled by the label columns (and `extraLabels`). */
export function familiesOf(
  query: MetricQuery,
  rows: readonly Row[],
  extraLabels: Readonly<Record<string, string>> = {},
): Family[] {
  if (query.familiesFromRows) return query.familiesFromRows(rows);
  const labelColumns = query.columns.filter((spec) => spec.usage === 'LABEL').map((spec) => spec.column);
  const valueColumns = query.columns.filter((spec) => spec.usage !== 'LABEL' && spec.usage !== 'DISCARD');
  // One labels object a row, shared by the row's samples in every family (a scrape makes thousands).
  const rowLabels = rows.map((row) => {
    const labels: Record<string, string> = { ...extraLabels };
    for (const column of labelColumns) labels[column] = labelValue(row[column]);
    return labels;
  });
  return valueColumns.map((spec) => {
    const samples: Sample[] = rows.flatMap((row, i) => {
      if (spec.usage === 'HISTOGRAM') return histogramSamples(spec.column, row, rowLabels[i]!);
      const value = spec.usage === 'MAPPEDMETRIC' ? mapped(spec, row[spec.column]) : toNumber(row[spec.column]);
      return [{ labels: rowLabels[i]!, value }];
    });
    return {
      name: spec.metricName ?? `${query.name}_${spec.column}`,
      help: spec.description || `${query.name}.${spec.column}`,
      type: spec.type ?? TYPES[spec.usage],
      samples,
    };
  });
}

const TYPES = {
  GAUGE: 'gauge',
  MAPPEDMETRIC: 'gauge',
  COUNTER: 'counter',
  HISTOGRAM: 'histogram',
  LABEL: 'untyped',
  DISCARD: 'untyped',
} as const;

/**
 * postgres_exporter's HISTOGRAM columns: `X` holds the buckets' upper bounds (an array), `X_bucket`
 * the cumulative counts, `X_sum` and `X_count` the totals; the `+Inf` bucket is the count.
 */
function histogramSamples(column: string, row: Row, labels: Readonly<Record<string, string>>): Sample[] {
  const bounds = row[column];
  const counts = row[`${column}_bucket`];
  if (!Array.isArray(bounds) || !Array.isArray(counts) || bounds.length !== counts.length) {
    throw new Error(`HISTOGRAM ${column}: expected arrays ${column} and ${column}_bucket of one length`);
  }
  const count = toNumber(row[`${column}_count`]);
  return [
    ...bounds.map((bound, i): Sample => ({
      labels: { ...labels, le: String(toNumber(bound)) },
      value: toNumber(counts[i]),
      suffix: '_bucket',
    })),
    { labels: { ...labels, le: '+Inf' }, value: count, suffix: '_bucket' },
    { labels, value: toNumber(row[`${column}_sum`]), suffix: '_sum' },
    { labels, value: count, suffix: '_count' },
  ];
}

/** Labels a query's rows carry (so a caller can tell whether `datname` is among them). */
export function labelNamesOf(query: MetricQuery): string[] {
  return query.columns.filter((spec) => spec.usage === 'LABEL').map((spec) => spec.column);
}

/**
 * PostgreSQL values as Prometheus numbers, as postgres_exporter converts them: booleans 1/0,
 * timestamps as Unix seconds, bigint and numeric (which pg hands over as text) parsed, NULL and
 * anything unreadable NaN.
 */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.getTime() / 1000;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Number(value);
    return Number.isNaN(parsed) ? NaN : parsed;
  }
  return NaN;
}

function mapped(spec: ColumnSpec, value: unknown): number {
  return spec.mapping?.get(labelValue(value)) ?? NaN;
}

function labelValue(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

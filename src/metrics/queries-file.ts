/**
 * `--metrics-queries FILE`: postgres_exporter's queries.yaml format, which CloudNativePG's
 * monitoring ConfigMaps share, so a file written for either works unchanged. Pure: text in,
 * queries out. A problem in one query drops that query only, named with the file and line; a file
 * that is no YAML map at all is refused whole.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair, type YAMLMap } from 'yaml';
import { isLabelName, isMetricName } from './exposition.js';
import type { ColumnSpec, MetricQuery, Usage } from './query.js';
import { parseVersionRange } from './version-range.js';

export interface QueriesFile {
  queries: MetricQuery[];
  /** One line each: `FILE:LINE: query NAME: what is wrong`; the queries named are left out. */
  problems: string[];
}

export class QueriesFileError extends Error {
  override readonly name = 'QueriesFileError';
}

const USAGES: readonly Usage[] = ['LABEL', 'GAUGE', 'COUNTER', 'DISCARD', 'MAPPEDMETRIC', 'HISTOGRAM'];
/** Read by postgres_exporter or CloudNativePG, with no effect here (see docs/metrics.md). */
const IGNORED_KEYS = new Set(['cache_seconds', 'name']);
const KNOWN_KEYS = new Set([
  'query',
  'metrics',
  'master',
  'primary',
  'target_databases',
  'runonserver',
  'predicate_query',
  ...IGNORED_KEYS,
]);

class QueryProblem extends Error {
  constructor(
    readonly node: Node | null | undefined,
    message: string,
  ) {
    super(message);
  }
}

export function parseQueriesFile(text: string, fileName: string): QueriesFile {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, uniqueKeys: true });
  const where = (node: Node | null | undefined) =>
    node?.range ? `${fileName}:${lineCounter.linePos(node.range[0]).line}` : fileName;
  const syntax = document.errors[0];
  if (syntax) {
    const line = syntax.linePos?.[0].line ?? '?';
    throw new QueriesFileError(`${fileName}:${line}: not valid YAML: ${syntax.message.split('\n')[0]}`);
  }
  const top = document.contents;
  if (top === null || (isScalar(top) && (top.value === null || top.value === ''))) return { queries: [], problems: [] };
  if (!isMap(top)) throw new QueriesFileError(`${where(top)}: expected a map of query names to queries`);
  const queries: MetricQuery[] = [];
  const problems: string[] = [];
  for (const pair of top.items as Pair<Node, Node>[]) {
    const name = isScalar(pair.key) ? String(pair.key.value) : '';
    try {
      queries.push(readQuery(name, pair));
    } catch (error) {
      if (!(error instanceof QueryProblem)) throw error;
      problems.push(`${where(error.node ?? pair.key)}: query ${name || '(unnamed)'}: ${error.message}`);
    }
  }
  return { queries, problems };
}

function readQuery(name: string, pair: Pair<Node, Node>): MetricQuery {
  if (!isMetricName(name)) {
    throw new QueryProblem(pair.key, 'the name must be a valid metric name prefix (letters, digits, underscores)');
  }
  const body = pair.value;
  if (!isMap(body)) throw new QueryProblem(body ?? pair.key, 'expected a map with `query` and `metrics`');
  for (const entry of body.items as Pair<Node, Node>[]) {
    const key = isScalar(entry.key) ? String(entry.key.value) : '';
    if (!KNOWN_KEYS.has(key)) {
      throw new QueryProblem(entry.key, `unknown key "${key}" (known: ${[...KNOWN_KEYS].join(', ')})`);
    }
  }
  const sql = stringAt(body, 'query', true)!;
  if (sql.trim() === '') throw new QueryProblem(body, '`query` is empty');
  const runOnServer = stringAt(body, 'runonserver', false);
  const serverVersion = runOnServer === undefined ? undefined : parseVersionRange(runOnServer);
  if (runOnServer !== undefined && !serverVersion) {
    throw new QueryProblem(
      nodeAt(body, 'runonserver'),
      `\`runonserver\` "${runOnServer}" is not a version range like ">=13.0.0 <16.0.0"`,
    );
  }
  const columns = readColumns(name, body);
  return {
    name,
    sql,
    columns,
    // postgres_exporter's `master` means "only in the database of the connection", which is what
    // every query without target_databases does here: it is read and changes nothing.
    primaryOnly: booleanAt(body, 'primary'),
    targetDatabases: targetDatabases(body),
    serverVersion,
    predicateSql: stringAt(body, 'predicate_query', false),
  };
}

function readColumns(queryName: string, body: YAMLMap): ColumnSpec[] {
  const list = nodeAt(body, 'metrics');
  if (!isSeq(list) || list.items.length === 0) {
    throw new QueryProblem(list, '`metrics` must be a list of `- column: {usage, description}`');
  }
  const columns: ColumnSpec[] = [];
  for (const item of list.items as Node[]) {
    if (!isMap(item) || item.items.length !== 1) {
      throw new QueryProblem(item, 'each entry of `metrics` must be a map with one column name');
    }
    const [entry] = item.items as Pair<Node, Node>[];
    const column = isScalar(entry!.key) ? String(entry!.key.value) : '';
    const spec = entry!.value;
    if (!isMap(spec)) throw new QueryProblem(entry!.key, `column ${column}: expected \`usage\` and \`description\``);
    const usage = String(stringAt(spec, 'usage', true)).toUpperCase() as Usage;
    if (!USAGES.includes(usage)) {
      throw new QueryProblem(
        nodeAt(spec, 'usage'),
        `column ${column}: usage "${usage}" is not one of ${USAGES.join(', ')}`,
      );
    }
    if (usage === 'LABEL' && !isLabelName(column)) {
      throw new QueryProblem(entry!.key, `column ${column}: not a valid label name`);
    }
    if (usage !== 'LABEL' && usage !== 'DISCARD' && !isMetricName(`${queryName}_${column}`)) {
      throw new QueryProblem(entry!.key, `column ${column}: ${queryName}_${column} is not a valid metric name`);
    }
    const description = stringAt(spec, 'description', false) ?? '';
    const mapping = usage === 'MAPPEDMETRIC' ? mappingAt(spec, column) : undefined;
    columns.push({ column, usage, description, mapping });
  }
  if (!columns.some((spec) => spec.usage !== 'LABEL' && spec.usage !== 'DISCARD')) {
    throw new QueryProblem(list, 'no column is a GAUGE, COUNTER, MAPPEDMETRIC or HISTOGRAM: nothing to export');
  }
  if (columns.some((spec) => columns.filter((other) => other.column === spec.column).length > 1)) {
    throw new QueryProblem(list, 'a column is listed twice');
  }
  return columns;
}

function targetDatabases(body: YAMLMap): MetricQuery['targetDatabases'] {
  const node = nodeAt(body, 'target_databases');
  if (node === undefined) return undefined;
  const scalars = isSeq(node) ? (node.items as Node[]) : [node];
  const names = scalars.map((item) => (isScalar(item) ? String(item.value) : ''));
  if (names.length === 0 || names.some((name) => name === '')) {
    throw new QueryProblem(node, "`target_databases` must be a database name, a list of them, or '*'");
  }
  return names.includes('*') ? '*' : names;
}

function mappingAt(spec: YAMLMap, column: string): ReadonlyMap<string, number> {
  const node = nodeAt(spec, 'mapping');
  if (!isMap(node)) {
    throw new QueryProblem(node ?? spec, `column ${column}: MAPPEDMETRIC needs a \`mapping\` of values to numbers`);
  }
  const mapping = new Map<string, number>();
  for (const pair of node.items as Pair<Node, Node>[]) {
    const value = isScalar(pair.value) ? Number(pair.value.value) : NaN;
    if (!isScalar(pair.key) || Number.isNaN(value)) {
      throw new QueryProblem(pair.key, `column ${column}: every \`mapping\` entry must map a value to a number`);
    }
    mapping.set(String(pair.key.value), value);
  }
  return mapping;
}

function nodeAt(map: YAMLMap, key: string): Node | undefined {
  const pair = (map.items as Pair<Node, Node>[]).find((item) => isScalar(item.key) && item.key.value === key);
  return pair?.value ?? undefined;
}

function stringAt(map: YAMLMap, key: string, required: boolean): string | undefined {
  const node = nodeAt(map, key);
  if (node === undefined) {
    // No node to point at: the problem is reported at the query's name.
    if (required) throw new QueryProblem(undefined, `\`${key}\` is missing`);
    return undefined;
  }
  if (!isScalar(node) || typeof node.value !== 'string') throw new QueryProblem(node, `\`${key}\` must be a string`);
  return node.value;
}

function booleanAt(map: YAMLMap, key: string): boolean {
  const node = nodeAt(map, key);
  if (node === undefined) return false;
  if (!isScalar(node) || typeof node.value !== 'boolean') {
    throw new QueryProblem(node, `\`${key}\` must be true or false`);
  }
  return node.value;
}

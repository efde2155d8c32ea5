/**
 * PostgreSQL's metrics for `/metrics`: the default queries and the user's, run as the metrics role
 * over the unix socket in read-only sessions with a statement timeout, rendered in the Prometheus
 * text format. Concurrent scrapes share the collection in flight; a query that fails or times out
 * is counted and logged once per change of its error, and never fails the scrape; a PostgreSQL
 * that is down gives `pg_up 0` and the rest of the answer.
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { METRICS_USER } from '../config/index.js';
import { errorMessage } from '../errors.js';
import type { Fields, Logger } from '../log.js';
import { createSocketPool, type SocketAddress } from '../postgres/index.js';
import { defaultQueries } from './defaults.js';
import { mergeFamilies, renderFamilies, type Family, type FamilyGroup } from './exposition.js';
import { familiesOf, labelNamesOf, type MetricQuery, type Row } from './query.js';
import { QueriesSource } from './queries-source.js';
import { inRange, serverVersion } from './version-range.js';

export interface PostgresMetricsOptions {
  address: SocketAddress;
  /** `--metrics-queries`: postgres_exporter's queries.yaml format. */
  queriesFile: string | undefined;
  /** Statement timeout of each query (the client gives up half a second later). */
  queryTimeoutMs: number;
  logger: Logger;
}

const DEFAULT_DATABASE = 'postgres';
const IDENTITY_SQL = `SELECT current_setting('server_version_num')::int AS version_num,
  pg_is_in_recovery() AS in_recovery, version() AS version`;
const EVERY_DATABASE_SQL = `SELECT datname FROM pg_database
  WHERE datallowconn AND NOT datistemplate AND datconnlimit <> -2 ORDER BY 1`;

interface Identity {
  versionNum: number;
  inRecovery: boolean;
  version: string;
}

/** What one collection found, before rendering. */
interface Collection {
  up: boolean;
  identity: Identity | undefined;
  groups: FamilyGroup[];
  failedQueries: number;
}

const NOT_ASKED: Collection = { up: false, identity: undefined, groups: [], failedQueries: 0 };

/** One query in one database. */
interface Task {
  query: MetricQuery;
  database: string;
  /** How its errors are logged: the query, and the database when it names some. */
  where: string;
  extraLabels: Record<string, string>;
  distinct: boolean;
}

export class PostgresMetrics {
  private inFlight: Promise<string> | undefined;
  private readonly pools = new Map<string, Promise<pg.Pool>>();
  private readonly queriesSource: QueriesSource | undefined;
  /** Errors per query since the manager started; every query run once is listed, 0 or not. */
  private readonly errorCounts = new Map<string, number>();
  /** The error each failing query (or the connection, or a conflict) last logged, to log only changes. */
  private readonly lastErrors = new Map<string, string>();
  private scrapes = 0;

  constructor(private readonly options: PostgresMetricsOptions) {
    const { queriesFile, logger } = options;
    this.queriesSource = queriesFile === undefined ? undefined : new QueriesSource(queriesFile, logger);
  }

  /** `askPostgres` false: the manager knows PostgreSQL is not up, and nothing is asked (`pg_up 0`). */
  collect(askPostgres: boolean): Promise<string> {
    this.inFlight ??= this.collectOnce(askPostgres).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.keys()].map((database) => this.closePool(database)));
  }

  private async closePool(database: string): Promise<void> {
    const pool = this.pools.get(database);
    this.pools.delete(database);
    await (await pool)?.end().catch(() => undefined);
  }

  private async collectOnce(askPostgres: boolean): Promise<string> {
    const began = performance.now();
    this.scrapes++;
    const custom = this.queriesSource ? await this.queriesSource.current() : undefined;
    const collection = askPostgres ? await this.query(custom?.queries ?? []) : NOT_ASKED;
    const { families, conflicts } = mergeFamilies(collection.groups);
    for (const conflict of conflicts) {
      this.logChange(conflict, { msg: "metrics: a query's rows left out", fields: { conflict } });
    }
    const failed = !collection.up || collection.failedQueries > 0;
    const one = (value: number, labels: Record<string, string> = {}) => [{ labels, value }];
    return renderFamilies([
      gauge(
        'pg_up',
        "Whether PostgreSQL answered the metrics role's connection (1) or not (0)",
        one(collection.up ? 1 : 0),
      ),
      ...(collection.identity ? [staticFamily(collection.identity)] : []),
      ...families,
      gauge(
        'pg_exporter_last_scrape_duration_seconds',
        "Seconds the last collection of PostgreSQL's metrics took",
        one((performance.now() - began) / 1_000),
      ),
      gauge(
        'pg_exporter_last_scrape_error',
        'Whether the last collection failed to connect or had a query fail (1) or not (0)',
        one(failed ? 1 : 0),
      ),
      {
        name: 'pg_exporter_scrapes_total',
        help: "Collections of PostgreSQL's metrics",
        type: 'counter',
        samples: one(this.scrapes),
      },
      {
        name: 'pg_exporter_query_errors_total',
        help: 'Metrics queries that failed or timed out, per query',
        type: 'counter',
        samples: [...this.errorCounts].map(([query, count]) => ({ labels: { query }, value: count })),
      },
      ...(this.queriesSource && custom
        ? [
            gauge(
              'pg_exporter_user_queries_load_error',
              'Whether the --metrics-queries file could not be read or parsed (1) or not (0)',
              one(custom.loadError ? 1 : 0, { filename: this.queriesSource.file }),
            ),
          ]
        : []),
    ]);
  }

  private async query(customQueries: readonly MetricQuery[]): Promise<Collection> {
    let identity: Identity;
    try {
      identity = await this.identify();
      this.logChange('connection', undefined);
    } catch (error) {
      const fields = { role: METRICS_USER, err: errorMessage(error) };
      this.logChange('connection', { msg: 'metrics: cannot query PostgreSQL; pg_up is 0', fields });
      return NOT_ASKED;
    }
    const tasks = await this.plan(identity, customQueries);
    const left = new Map<string, number>();
    for (const { database } of tasks) left.set(database, (left.get(database) ?? 0) + 1);
    const groups: (FamilyGroup | undefined)[] = new Array(tasks.length);
    let failedQueries = 0;
    let next = 0;
    // Two lanes: the slowest default (pg_database_size of every database) overlaps the others.
    const lane = async () => {
      for (let index = next++; index < tasks.length; index = next++) {
        const { query, database, where, extraLabels, distinct } = tasks[index]!;
        try {
          if (query.predicateSql === undefined || (await this.predicateHolds(database, query.predicateSql))) {
            const rows = await this.rows(database, query.sql);
            groups[index] = { owner: query.name, families: familiesOf(query, rows, extraLabels), distinct };
          }
          this.logChange(where, undefined);
        } catch (error) {
          failedQueries++;
          this.errorCounts.set(query.name, this.errorCounts.get(query.name)! + 1);
          const fields = { query: query.name, database, err: errorMessage(error) };
          this.logChange(where, { msg: 'metrics query failed; counted in pg_exporter_query_errors_total', fields });
        }
        left.set(database, left.get(database)! - 1);
        if (left.get(database) === 0 && database !== DEFAULT_DATABASE) await this.closePool(database);
      }
    };
    await Promise.all([lane(), lane()]);
    return { up: true, identity, groups: groups.filter((group) => group !== undefined), failedQueries };
  }

  /**
   * Which query runs in which database: the defaults (less those a user query of the same name
   * replaces, as in postgres_exporter) and the user's, those for another role or version left out.
   * The default database's come first, then the others' one database after another, so that each
   * database's connection closes once its last query ran: a query over hundreds of databases never
   * holds hundreds of connections.
   */
  private async plan(identity: Identity, customQueries: readonly MetricQuery[]): Promise<Task[]> {
    const version = serverVersion(identity.versionNum);
    const custom = new Set(customQueries.map((query) => query.name));
    const major = Math.floor(identity.versionNum / 10_000);
    const defaults = defaultQueries(major).filter((query) => !custom.has(query.name));
    let everyDatabase: Promise<string[]> | undefined;
    const tasks: Task[] = [];
    for (const query of [...defaults, ...customQueries]) {
      if (query.primaryOnly && identity.inRecovery) continue;
      if (query.serverVersion && !inRange(query.serverVersion, version)) continue;
      this.errorCounts.set(query.name, this.errorCounts.get(query.name) ?? 0);
      const databases =
        query.targetDatabases === '*'
          ? await (everyDatabase ??= this.everyDatabase())
          : (query.targetDatabases ?? [DEFAULT_DATABASE]);
      // The same query in several databases: a datname label keeps their rows apart.
      const tagDatabase = query.targetDatabases !== undefined && !labelNamesOf(query).includes('datname');
      for (const database of databases) {
        tasks.push({
          query,
          database,
          where: query.targetDatabases === undefined ? query.name : `${query.name} in ${database}`,
          extraLabels: tagDatabase ? { datname: database } : {},
          distinct: defaults.includes(query),
        });
      }
    }
    const rank = (database: string) => (database === DEFAULT_DATABASE ? '' : database);
    return tasks.sort((a, b) => rank(a.database).localeCompare(rank(b.database)));
  }

  /** What `target_databases: '*'` means: every database taking connections (the default one if that cannot be read). */
  private async everyDatabase(): Promise<string[]> {
    try {
      const rows = await this.rows(DEFAULT_DATABASE, EVERY_DATABASE_SQL);
      return rows.map((row) => String(row.datname));
    } catch {
      return [DEFAULT_DATABASE];
    }
  }

  private async identify(): Promise<Identity> {
    const [row] = await this.rows(DEFAULT_DATABASE, IDENTITY_SQL);
    return {
      versionNum: Number(row!.version_num),
      inRecovery: row!.in_recovery === true,
      version: String(row!.version),
    };
  }

  private async predicateHolds(database: string, sql: string): Promise<boolean> {
    const [row] = await this.rows(database, sql);
    return row !== undefined && Object.values(row)[0] === true;
  }

  /**
   * One statement through the extended protocol, which refuses several statements in one string,
   * in the database's read-only session.
   */
  private async rows(database: string, sql: string): Promise<Row[]> {
    const pool = await this.pool(database);
    const config: pg.QueryConfig & { queryMode: 'extended' } = { text: sql, queryMode: 'extended' };
    return (await pool.query<Row>(config)).rows;
  }

  private pool(database: string): Promise<pg.Pool> {
    let pool = this.pools.get(database);
    if (!pool) {
      // Two connections to a database (the scrape's two lanes). Idle ones go after a second, so
      // that neither a smart shutdown nor a DROP DATABASE waits for them.
      pool = createSocketPool(this.options.address, {
        max: 2,
        statementTimeoutMs: this.options.queryTimeoutMs,
        connectTimeoutMs: this.options.queryTimeoutMs,
        idleTimeoutMs: 1_000,
        session: { user: METRICS_USER, database, applicationName: 'instance-manager-metrics', readOnly: true },
      });
      this.pools.set(database, pool);
    }
    return pool;
  }

  /** Logs a warning when the problem under `key` changes, and a line when it is gone (undefined). */
  private logChange(key: string, problem: { msg: string; fields: Fields } | undefined): void {
    const text = problem && JSON.stringify(problem);
    const previous = this.lastErrors.get(key);
    if (previous === text) return;
    if (text === undefined) {
      this.lastErrors.delete(key);
      this.options.logger.info('metrics: works again', { what: key });
      return;
    }
    this.lastErrors.set(key, text);
    this.options.logger.warning(problem!.msg, problem!.fields);
  }
}

function gauge(name: string, help: string, samples: Family['samples']): Family {
  return { name, help, type: 'gauge', samples };
}

/** postgres_exporter's `pg_static`: the version as labels, the value always 1. */
function staticFamily(identity: Identity): Family {
  const [major, minor, patch] = serverVersion(identity.versionNum);
  return gauge('pg_static', 'Version string as reported by postgres', [
    { labels: { short_version: `${major}.${minor}.${patch}`, version: identity.version }, value: 1 },
  ]);
}

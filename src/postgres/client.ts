import type pg from 'pg';
import { SUPERUSER } from './initdb.js';

export interface SocketAddress {
  socketDir: string;
  port: number;
}

/** Who connects, when not the superuser to `postgres` (the metrics role, to any database). */
export interface SocketSession {
  user: string;
  database: string;
  applicationName: string;
  /** Every transaction read-only (default_transaction_read_only), set at connection start. */
  readOnly: boolean;
}

const SUPERUSER_SESSION: SocketSession = {
  user: SUPERUSER,
  database: 'postgres',
  applicationName: 'instance-manager',
  readOnly: false,
};

/** Over the unix socket: peer authentication through the ident map, no password, no TLS. */
function socketConfig(
  address: SocketAddress,
  statementTimeoutMs: number,
  connectTimeoutMs: number,
  session = SUPERUSER_SESSION,
): pg.ClientConfig {
  return {
    host: address.socketDir,
    port: address.port,
    user: session.user,
    database: session.database,
    application_name: session.applicationName,
    statement_timeout: statementTimeoutMs,
    connectionTimeoutMillis: connectTimeoutMs,
    ...(session.readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
  };
}

/** A short-lived connection for one piece of work (a checkpoint before shutdown, a promotion). */
export async function withConnection<T>(
  address: SocketAddress,
  work: (client: pg.Client) => Promise<T>,
  statementTimeoutMs = 10_000,
  database?: string,
): Promise<T> {
  const session = database === undefined ? SUPERUSER_SESSION : { ...SUPERUSER_SESSION, database };
  const client = new (await loadPg()).Client(socketConfig(address, statementTimeoutMs, 5_000, session));
  // A backend that goes away between two queries (the postmaster was killed) is reported as an
  // 'error' event, which would otherwise take the whole manager down; the work's own queries
  // reject by themselves.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface SocketPoolOptions {
  max: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  /**
   * Idle connections are closed this soon: a smart shutdown waits for every session to end, so a
   * pool holding connections must let go of them quickly.
   */
  idleTimeoutMs: number;
  /** The superuser to `postgres` when not given. */
  session?: SocketSession;
}

/** A small pool for frequent, cheap queries (the status API). */
export async function createSocketPool(address: SocketAddress, options: SocketPoolOptions): Promise<pg.Pool> {
  const pool = new (await loadPg()).Pool({
    ...socketConfig(address, options.statementTimeoutMs, options.connectTimeoutMs, options.session),
    // statement_timeout is enforced by the backend: a frozen or swamped server would never answer.
    // The client gives up a little later, and the pool then discards that connection.
    query_timeout: options.statementTimeoutMs + 500,
    max: options.max,
    idleTimeoutMillis: options.idleTimeoutMs,
    allowExitOnIdle: true,
  });
  // An idle connection whose backend went away (PostgreSQL restarted) must not crash the manager;
  // the pool drops it and the next query opens a fresh one.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * pg is loaded at the first connection, not at start: it is the heaviest module the manager has
 * (about 90 ms to load), and nothing connects before PostgreSQL accepts connections.
 */
async function loadPg(): Promise<typeof pg> {
  return (await import('pg')).default;
}

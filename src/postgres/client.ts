import type pg from 'pg';
import { SUPERUSER } from './initdb.js';

export interface SocketAddress {
  socketDir: string;
  port: number;
}

/** Superuser over the unix socket: peer authentication through the ident map, no password, no TLS. */
function socketConfig(
  address: SocketAddress,
  statementTimeoutMs: number,
  connectTimeoutMs: number,
  database = 'postgres',
): pg.ClientConfig {
  return {
    host: address.socketDir,
    port: address.port,
    user: SUPERUSER,
    database,
    application_name: 'instance-manager',
    statement_timeout: statementTimeoutMs,
    connectionTimeoutMillis: connectTimeoutMs,
  };
}

/** A short-lived connection for one piece of work (a checkpoint before shutdown, a promotion). */
export async function withConnection<T>(
  address: SocketAddress,
  work: (client: pg.Client) => Promise<T>,
  statementTimeoutMs = 10_000,
  database?: string,
): Promise<T> {
  const client = new (await loadPg()).Client(socketConfig(address, statementTimeoutMs, 5_000, database));
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
}

/** A small pool for frequent, cheap queries (the status API). */
export async function createSocketPool(address: SocketAddress, options: SocketPoolOptions): Promise<pg.Pool> {
  const pool = new (await loadPg()).Pool({
    ...socketConfig(address, options.statementTimeoutMs, options.connectTimeoutMs),
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

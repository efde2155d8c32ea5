import type pg from 'pg';
import { SUPERUSER } from './initdb.js';

export interface SocketAddress {
  socketDir: string;
  port: number;
}

/**
 * A short-lived superuser connection over the unix socket (peer authentication through the
 * ident map); the status API keeps its own pool.
 */
export async function withConnection<T>(
  address: SocketAddress,
  work: (client: pg.Client) => Promise<T>,
  statementTimeoutMs = 10_000,
): Promise<T> {
  const client = new (await loadPg()).Client({
    host: address.socketDir,
    port: address.port,
    user: SUPERUSER,
    database: 'postgres',
    application_name: 'instance-manager',
    statement_timeout: statementTimeoutMs,
    connectionTimeoutMillis: 5_000,
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * pg is loaded at the first connection, not at start: it is the heaviest module the manager has
 * (about 90 ms to load), and nothing connects before PostgreSQL accepts connections.
 */
async function loadPg(): Promise<typeof pg> {
  return (await import('pg')).default;
}

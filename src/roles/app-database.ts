import { withConnection, type SocketAddress } from '../postgres/index.js';
import { quoteIdent } from './plan.js';

/**
 * Creates the application database owned by `owner` when it does not exist; resolves true when it
 * did. An existing database is left as it is (its owner included): it may hold the application's data.
 */
export async function ensureAppDatabase(address: SocketAddress, database: string, owner: string): Promise<boolean> {
  return withConnection(
    address,
    async (client) => {
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (exists.rowCount !== 0) return false;
      await client.query(`CREATE DATABASE ${quoteIdent(database)} OWNER ${quoteIdent(owner)}`);
      return true;
    },
    120_000,
  );
}

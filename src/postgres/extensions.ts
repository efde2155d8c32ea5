import { parseLibraryList } from '../config/index.js';
import { withConnection, type SocketAddress } from './client.js';

export interface ExtensionsResult {
  /** Databases where an extension was created. */
  created: { database: string; extension: string }[];
  /** Extensions whose library the running postmaster has not preloaded (a restart is pending). */
  notLoaded: string[];
}

/**
 * `CREATE EXTENSION IF NOT EXISTS` for each of `extensions` whose library the running server has
 * preloaded, in every database that accepts connections (template1 included, so databases created
 * later have it too).
 */
export async function ensureExtensions(address: SocketAddress, extensions: string[]): Promise<ExtensionsResult> {
  if (extensions.length === 0) return { created: [], notLoaded: [] };
  const { loaded, databases } = await withConnection(address, async (client) => {
    const setting = await client.query<{ value: string }>(
      "SELECT current_setting('shared_preload_libraries') AS value",
    );
    const rows = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname',
    );
    return { loaded: parseLibraryList(setting.rows[0]!.value), databases: rows.rows.map((row) => row.datname) };
  });
  const wanted = extensions.filter((extension) => loaded.includes(extension));
  const created: ExtensionsResult['created'] = [];
  for (const database of wanted.length === 0 ? [] : databases) {
    await withConnection(
      address,
      async (client) => {
        for (const extension of wanted) {
          const exists = await client.query('SELECT 1 FROM pg_extension WHERE extname = $1', [extension]);
          if (exists.rowCount !== 0) continue;
          await client.query(`CREATE EXTENSION IF NOT EXISTS "${extension}"`);
          created.push({ database, extension });
        }
      },
      60_000,
      database,
    );
  }
  return { created, notLoaded: extensions.filter((extension) => !loaded.includes(extension)) };
}

/** Settings whose new value waits for a restart (pg_settings.pending_restart). */
export async function pendingRestartSettings(address: SocketAddress): Promise<string[]> {
  return withConnection(address, async (client) => {
    const sql = 'SELECT name FROM pg_settings WHERE pending_restart ORDER BY name';
    const { rows } = await client.query<{ name: string }>(sql);
    return rows.map((row) => row.name);
  });
}

import { withConnection, type SocketAddress } from './client.js';

/**
 * Errors PostgreSQL finds in the configuration files as they are on disk now: both views parse
 * the files when queried, so this holds for what a reload just applied (or refused to apply).
 */
export async function configurationErrors(address: SocketAddress): Promise<string[]> {
  return withConnection(address, async (client) => {
    const hba = await client.query<{ line_number: number | null; error: string }>('SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL ORDER BY line_number');
    const settings = await client.query<{ sourcefile: string | null; sourceline: number | null; name: string | null; error: string }>(
      // A setting that waits for a restart is not an error: it is reported as pending instead.
      `SELECT sourcefile, sourceline, name, error FROM pg_file_settings
        WHERE error IS NOT NULL AND name NOT IN (SELECT name FROM pg_settings WHERE pending_restart) ORDER BY seqno`,
    );
    return [
      ...hba.rows.map((row) => `pg_hba.conf line ${row.line_number ?? '?'}: ${row.error}`),
      ...settings.rows.map((row) => `${row.sourcefile ?? 'configuration'}:${row.sourceline ?? '?'}${row.name ? ` (${row.name})` : ''}: ${row.error}`),
    ];
  });
}

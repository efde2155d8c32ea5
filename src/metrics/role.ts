/**
 * The role `/metrics` queries PostgreSQL as: a login member of pg_monitor (every statistics view,
 * pg_database_size, pg_ls_waldir), no password, reachable only over the unix socket through the
 * ident map. Created on the primary when missing, as the replication role is; replicas get it
 * through WAL. An existing role is left as the DBA made it.
 */
import { METRICS_USER } from '../config/index.js';
import type { Logger } from '../log.js';
import { withConnection, type SocketAddress } from '../postgres/index.js';

export async function ensureMetricsRole(address: SocketAddress, logger: Logger): Promise<void> {
  const created = await withConnection(address, async (client) => {
    const state = await client.query<{ recovery: boolean; exists: boolean }>(
      'SELECT pg_is_in_recovery() AS recovery, EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists',
      [METRICS_USER],
    );
    if (state.rows[0]!.recovery || state.rows[0]!.exists) return false;
    // A failing user query would have PostgreSQL log its error at every scrape; the manager logs
    // it once per change instead (and counts it in pg_exporter_query_errors_total). One string,
    // one implicit transaction: the role never exists without the setting.
    await client.query(`CREATE ROLE ${METRICS_USER} LOGIN PASSWORD NULL IN ROLE pg_monitor;
      ALTER ROLE ${METRICS_USER} SET log_min_messages = fatal`);
    return true;
  });
  if (created) logger.info('created the metrics role', { role: METRICS_USER, memberOf: 'pg_monitor' });
}

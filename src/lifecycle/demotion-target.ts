/**
 * Before a demotion: refuses (as an operator action's answer) a target that is this instance,
 * unreachable, of another cluster, or a replica not streaming from this primary, which could not
 * take over without losing transactions. Undefined: the target fits.
 */
import type { Logger } from '../log.js';
import { withConnection, type PgBinaries, type SocketAddress } from '../postgres/index.js';
import type { RunAs } from '../process/index.js';
import type { PrimaryAddress, PrimaryConnection } from '../replication/index.js';
import { formatAddress, sameAddress } from './decide.js';
import { probeTarget } from './target.js';

export interface DemotionTargetCheck {
  bin: PgBinaries;
  runAs: RunAs;
  logger: Logger;
  primary: PrimaryAddress;
  connection: PrimaryConnection;
  /** This instance's own socket, names (`--server-name`, `--listen`) and port. */
  socketAddress: SocketAddress;
  ownNames: string[];
  ownPort: number;
}

export type TargetRefusal = { ok: false; status: 409 | 422; detail: string };

export async function checkDemotionTarget(check: DemotionTargetCheck): Promise<TargetRefusal | undefined> {
  const { primary, ownPort } = check;
  const name = formatAddress(primary);
  const own = [...check.ownNames, 'localhost', '127.0.0.1', '::1'];
  if (primary.port === ownPort && own.some((host) => sameAddress({ host, port: primary.port }, primary))) {
    return { ok: false, status: 422, detail: `${name} is this instance` };
  }
  const target = await probeTarget(check);
  if (!target.reachable) {
    return {
      ok: false,
      status: 422,
      detail: `cannot reach ${name} as streaming_replica over verified TLS: ${target.error}`,
    };
  }
  const here = await withConnection(check.socketAddress, async (client) => {
    const result = await client.query<{ started: string; system: string; streaming: boolean }>(
      `SELECT pg_postmaster_start_time()::text AS started,
              (SELECT system_identifier::text FROM pg_control_system()) AS system,
              EXISTS (SELECT 1 FROM pg_stat_replication
                      WHERE state = 'streaming' AND host(client_addr) = $1) AS streaming`,
      [target.serverAddress ?? ''],
    );
    return result.rows[0]!;
  });
  if (here.started === target.postmasterStartTime && here.system === target.systemIdentifier) {
    return { ok: false, status: 422, detail: `${name} is this instance` };
  }
  if (here.system !== target.systemIdentifier) {
    return {
      ok: false,
      status: 422,
      detail: `${name} belongs to another cluster (system ${target.systemIdentifier}, here ${here.system})`,
    };
  }
  if (target.inRecovery && !here.streaming) {
    return {
      ok: false,
      status: 409,
      detail:
        `${name} is neither a primary nor a replica streaming from this one: ` +
        'it could not take over without losing transactions',
    };
  }
  return undefined;
}

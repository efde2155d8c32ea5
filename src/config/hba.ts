/**
 * pg_hba.conf and pg_ident.conf as the contract orders them. Pure: the user's rules arrive already
 * validated (see hba-rules.ts) and are placed between the fixed header and the fallback.
 */

export const REPLICATION_USER = 'streaming_replica';
export const IDENT_MAP = 'local';
/** The login role `/metrics` queries PostgreSQL as: a member of pg_monitor, never the superuser. */
export const METRICS_USER = 'metrics_monitor';

export interface HbaAccess {
  /** The superuser's name, refused over TCP by the fallback unless `superuserOverTcp`. */
  superuser: string;
  /** A password for the superuser is mounted (`superuser/`): it may log in over TLS like anyone. */
  superuserOverTcp: boolean;
}

/** Without `access`, the superuser `postgres` is refused over TCP: the safe default. */
export function renderHba(
  userRules: readonly string[],
  access: HbaAccess = { superuser: 'postgres', superuserOverTcp: false },
): string {
  return [
    '# Written by instance-manager: do not edit. Put your rules in the --hba file.',
    `local all all peer map=${IDENT_MAP}`,
    `hostssl replication ${REPLICATION_USER} all cert`,
    `hostssl postgres ${REPLICATION_USER} all cert`,
    '# --hba',
    ...userRules,
    '# fallback: passwords over TLS only, and nothing without TLS',
    ...(!access.superuserOverTcp ? [`host all ${access.superuser} all reject`] : []),
    'hostssl all all all scram-sha-256',
    'host all all all reject',
    '',
  ].join('\n');
}

/**
 * Local peer connections keep their OS name as the database user; the OS users the manager and
 * PostgreSQL run as may also connect as the `postgres` superuser, and as the metrics role (which
 * gives them nothing the superuser mapping does not, and lets the manager's metrics queries run
 * without it).
 */
export function renderIdent(osUsers: readonly string[], superuser: string): string {
  const unique = [...new Set(osUsers)];
  return [
    '# Written by instance-manager: do not edit.',
    ...unique.flatMap((osUser) => [`${IDENT_MAP} ${osUser} ${superuser}`, `${IDENT_MAP} ${osUser} ${METRICS_USER}`]),
    `${IDENT_MAP} /^(.*)$ \\1`,
    '',
  ].join('\n');
}

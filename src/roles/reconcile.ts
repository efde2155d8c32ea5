/**
 * Applies role intents to the running primary over the unix socket, one transaction per role.
 * Inside each transaction statement logging, pgaudit's session log and pg_stat_statements'
 * tracking of utility statements are off, so not even the SCRAM verifier is written anywhere.
 */
import type pg from 'pg';
import { errorMessage } from '../errors.js';
import { withConnection, type SocketAddress } from '../postgres/index.js';
import { planRole, type ActualRole, type RoleIntent, type RolePlan } from './plan.js';
import { scramVerifier } from './scram.js';

export type RoleOutcome = { name: string; ok: true; plan: RolePlan } | { name: string; ok: false; error: string };

const ACTUAL_SQL = `
SELECT r.rolname AS name, r.rolcanlogin AS login, r.rolsuper AS superuser, r.rolcreatedb AS createdb,
       r.rolcreaterole AS createrole, r.rolinherit AS inherit, r.rolreplication AS replication,
       r.rolbypassrls AS bypassrls, r.rolconnlimit AS "connectionLimit",
       CASE WHEN r.rolvaliduntil IS NULL OR r.rolvaliduntil = 'infinity' THEN NULL
            ELSE (extract(epoch FROM r.rolvaliduntil) * 1000)::float8 END AS "validUntil",
       r.rolpassword AS password,
       array(SELECT g.rolname FROM pg_auth_members m JOIN pg_authid g ON g.oid = m.roleid
             WHERE m.member = r.oid ORDER BY 1)::text[] AS "memberOf",
       shobj_description(r.oid, 'pg_authid') AS comment
  FROM pg_authid r WHERE r.rolname = $1`;

/** The row as read: no expiry comes back as null. */
type ActualRow = Omit<ActualRole, 'validUntil'> & { validUntil: number | null };

/** Settings that would write a statement's text somewhere, switched off for the transaction when they exist. */
const QUIET = [
  ['log_statement', 'none'],
  ['log_min_duration_statement', '-1'],
  ['log_min_error_statement', 'panic'],
  ['pgaudit.log', 'none'],
  ['pg_stat_statements.track_utility', 'off'],
] as const;

/** Applies each intent in order, then once more those that failed (a group declared after its member). */
export async function reconcileRoles(address: SocketAddress, intents: RoleIntent[]): Promise<RoleOutcome[]> {
  return withConnection(
    address,
    async (client) => {
      const names = QUIET.map(([name]) => name);
      const known = await client.query<{ name: string }>('SELECT name FROM pg_settings WHERE name = ANY($1)', [names]);
      const quiet = QUIET.filter(([name]) => known.rows.some((row) => row.name === name));
      const outcomes = new Map<string, RoleOutcome>();
      for (const intent of intents) outcomes.set(intent.name, await applyRole(client, intent, quiet));
      for (const intent of intents) {
        if (!outcomes.get(intent.name)!.ok) outcomes.set(intent.name, await applyRole(client, intent, quiet));
      }
      return intents.map((intent) => outcomes.get(intent.name)!);
    },
    30_000,
  );
}

type Quiet = readonly (readonly [string, string])[];

async function applyRole(client: pg.Client, intent: RoleIntent, quiet: Quiet): Promise<RoleOutcome> {
  try {
    await client.query('BEGIN');
    for (const [name, value] of quiet) await client.query('SELECT set_config($1, $2, true)', [name, value]);
    const { rows } = await client.query<ActualRow>(ACTUAL_SQL, [intent.name]);
    const plan = planRole(intent, rows[0] && actualRole(rows[0]), (password) => scramVerifier(password));
    for (const statement of plan.statements) await client.query(statement);
    await client.query('COMMIT');
    return { name: intent.name, ok: true, plan };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    return { name: intent.name, ok: false, error: errorMessage(error) };
  }
}

function actualRole(row: ActualRow): ActualRole {
  return { ...row, validUntil: row.validUntil ?? undefined };
}

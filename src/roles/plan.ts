/**
 * What to run so that a role is as intended: a pure diff of the intent and the role's row in
 * pg_authid, as SQL statements with every identifier and literal quoted here. Passwords reach
 * the statements only as SCRAM verifiers.
 */
import { verifierMatches } from './scram.js';

/** Role attributes as pg_authid holds them (rolcanlogin, rolsuper...). */
export interface Attributes {
  login: boolean;
  superuser: boolean;
  createdb: boolean;
  createrole: boolean;
  inherit: boolean;
  replication: boolean;
  bypassrls: boolean;
  connectionLimit: number;
  /** Milliseconds since the epoch; undefined: no expiry (NULL or infinity). */
  validUntil: number | undefined;
}

/** A role as it is in the database. */
export interface ActualRole extends Attributes {
  name: string;
  /** rolpassword: a SCRAM verifier, an MD5 hash, or null. */
  password: string | null;
  /** The roles it is a member of. */
  memberOf: string[];
  comment: string | null;
}

export type PasswordIntent = { kind: 'keep' } | { kind: 'none' } | { kind: 'set'; password: string };

export interface RoleIntent {
  name: string;
  ensure: 'present' | 'absent';
  /** Attributes left out are not managed (PostgreSQL's defaults at creation). */
  attributes: Partial<Attributes>;
  password: PasswordIntent;
  /** Undefined: memberships not managed; else exactly these (others are revoked). */
  inRoles?: string[];
  /** Undefined: not managed; null: no comment. */
  comment?: string | null;
}

export interface RolePlan {
  statements: string[];
  /** What changes, in words, for the log (never a password or verifier). */
  changes: string[];
}

const KEYWORDS: Record<Exclude<keyof Attributes, 'connectionLimit' | 'validUntil'>, string> = {
  login: 'LOGIN',
  superuser: 'SUPERUSER',
  createdb: 'CREATEDB',
  createrole: 'CREATEROLE',
  inherit: 'INHERIT',
  replication: 'REPLICATION',
  bypassrls: 'BYPASSRLS',
};

/** `makeVerifier` turns a password into a SCRAM verifier (a fresh salt each time). */
export function planRole(
  intent: RoleIntent,
  actual: ActualRole | undefined,
  makeVerifier: (password: string) => string,
): RolePlan {
  const role = quoteIdent(intent.name);
  if (intent.ensure === 'absent') {
    return actual ? { statements: [`DROP ROLE ${role}`], changes: ['dropped'] } : { statements: [], changes: [] };
  }
  const options: string[] = [];
  const changes: string[] = [];
  for (const [key, keyword] of Object.entries(KEYWORDS) as [keyof typeof KEYWORDS, string][]) {
    const wanted = intent.attributes[key];
    if (wanted === undefined || (actual && actual[key] === wanted)) continue;
    options.push(wanted ? keyword : `NO${keyword}`);
    changes.push(key);
  }
  const { connectionLimit, validUntil } = intent.attributes;
  // -1 is what CREATE ROLE gives anyway.
  const limitDiffers = actual ? actual.connectionLimit !== connectionLimit : connectionLimit !== -1;
  if (connectionLimit !== undefined && limitDiffers) {
    options.push(`CONNECTION LIMIT ${connectionLimit}`);
    changes.push('connectionLimit');
  }
  if ('validUntil' in intent.attributes && (actual ? actual.validUntil !== validUntil : validUntil !== undefined)) {
    const until = validUntil === undefined ? 'infinity' : new Date(validUntil).toISOString();
    options.push(`VALID UNTIL ${quoteLiteral(until)}`);
    changes.push('validUntil');
  }
  const password = passwordOption(intent.password, actual);
  if (password !== undefined) {
    options.push(password);
    changes.push('password');
  }
  const statements: string[] = [];
  if (!actual) statements.push(`CREATE ROLE ${role}${options.length > 0 ? ` WITH ${options.join(' ')}` : ''}`);
  else if (options.length > 0) statements.push(`ALTER ROLE ${role} WITH ${options.join(' ')}`);
  const comment = intent.comment;
  if (comment !== undefined && (actual?.comment ?? null) !== comment) {
    statements.push(`COMMENT ON ROLE ${role} IS ${comment === null ? 'NULL' : quoteLiteral(comment)}`);
    changes.push('comment');
  }
  if (intent.inRoles !== undefined) {
    const current = actual?.memberOf ?? [];
    for (const group of intent.inRoles.filter((name) => !current.includes(name))) {
      statements.push(`GRANT ${quoteIdent(group)} TO ${role}`);
      changes.push(`member of ${group}`);
    }
    for (const group of current.filter((name) => !intent.inRoles!.includes(name))) {
      statements.push(`REVOKE ${quoteIdent(group)} FROM ${role}`);
      changes.push(`no longer member of ${group}`);
    }
  }
  return { statements, changes: actual ? changes : ['created', ...changes.filter((change) => change === 'password')] };

  function passwordOption(wanted: PasswordIntent, current: ActualRole | undefined): string | undefined {
    if (wanted.kind === 'keep') return undefined;
    if (wanted.kind === 'none') return current?.password == null ? undefined : 'PASSWORD NULL';
    if (current && verifierMatches(current.password, wanted.password)) return undefined;
    return `PASSWORD ${quoteLiteral(makeVerifier(wanted.password))}`;
  }
}

/** A double-quoted SQL identifier, exactly as written (no case folding). */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new Error('an identifier cannot contain a NUL character');
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * A string literal that reads the same whatever standard_conforming_strings says: an escape
 * string (E'...') with its backslashes and quotes doubled.
 */
export function quoteLiteral(text: string): string {
  if (text.includes('\0')) throw new Error('a literal cannot contain a NUL character');
  return `E'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

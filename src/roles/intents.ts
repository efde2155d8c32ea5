/**
 * The intents for the roles the manager keeps: the declared ones (all attributes managed), the
 * application owner (a plain LOGIN role) and the superuser (its password only). Pure.
 */
import type { PasswordIntent, RoleIntent } from './plan.js';
import type { DeclaredRole } from './spec.js';

export function declaredIntent(role: DeclaredRole, password: PasswordIntent): RoleIntent {
  const { name, ensure, inRoles, comment } = role;
  const { login, superuser, createdb, createrole, inherit, replication, bypassrls, connectionLimit, validUntil } = role;
  const attributes = {
    login,
    superuser,
    createdb,
    createrole,
    inherit,
    replication,
    bypassrls,
    connectionLimit,
    validUntil,
  };
  return {
    name,
    ensure,
    attributes,
    password,
    inRoles,
    comment: comment ?? null,
  };
}

/** The application database's owner: it logs in, and can do no more than own its database. */
export function appOwnerIntent(name: string, password: PasswordIntent): RoleIntent {
  return {
    name,
    ensure: 'present',
    attributes: { login: true, superuser: false, createrole: false, replication: false, bypassrls: false },
    password,
  };
}

/** Without a mounted password the superuser has none: it can only come in over the socket (peer). */
export function superuserIntent(name: string, password: string | undefined): RoleIntent {
  return {
    name,
    ensure: 'present',
    attributes: {},
    password: password === undefined ? { kind: 'none' } : { kind: 'set', password },
  };
}

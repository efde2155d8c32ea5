/**
 * Roles and passwords the manager keeps: the application database and its owner, the superuser's
 * password, and the declared roles of `--roles`.
 *
 * - `parseRoles(text, source, reserved)`: the `--roles` file, validated (UsageError naming the entry).
 * - `declaredIntent`, `appOwnerIntent`, `superuserIntent`: what each role should be.
 * - `reconcileRoles(address, intents)`: applies them on the primary, one transaction per role.
 * - `ensureAppDatabase(address, database, owner)`: creates the database when missing.
 * - `scramVerifier(password)`: what PostgreSQL stores, computed here so the password never travels.
 */
export { ensureAppDatabase } from './app-database.js';
export { connectionUri, generatePassword, pgpassLine, type AppConnection } from './credentials.js';
export { appOwnerIntent, declaredIntent, superuserIntent } from './intents.js';
export {
  planRole,
  quoteIdent,
  quoteLiteral,
  type ActualRole,
  type Attributes,
  type PasswordIntent,
  type RoleIntent,
  type RolePlan,
} from './plan.js';
export { reconcileRoles, type RoleOutcome } from './reconcile.js';
export { SCRAM_ITERATIONS, saslPrep, scramVerifier, verifierMatches } from './scram.js';
export { parseRoles, type DeclaredRole, type YamlParse } from './spec.js';

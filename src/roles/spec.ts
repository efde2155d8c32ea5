/**
 * The `--roles` file: a YAML list of the roles the manager keeps as declared (what CloudNativePG
 * calls managed roles). Pure: text in, validated roles out, or a UsageError naming the file, the
 * entry and the key.
 */
import { errorMessage, UsageError } from '../errors.js';
import type { Attributes } from './plan.js';

export interface DeclaredRole extends Attributes {
  name: string;
  ensure: 'present' | 'absent';
  inRoles: string[];
  /** Undefined: no comment. */
  comment: string | undefined;
  /** A directory under --secrets-dir in the basic-auth layout; undefined leaves the password alone. */
  passwordSecret: string | undefined;
}

const FLAGS = ['login', 'superuser', 'createdb', 'createrole', 'inherit', 'replication', 'bypassrls'] as const;
const KEYS = new Set<string>([
  'name',
  'ensure',
  ...FLAGS,
  'connectionLimit',
  'validUntil',
  'inRoles',
  'comment',
  'passwordSecret',
]);
const ISO_8601 = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/;
/** PostgreSQL's NAMEDATALEN - 1: a longer name would be truncated silently. */
const MAX_NAME_BYTES = 63;

/** The yaml package's parse: loaded only when a roles file is given (see scripts/bundle.mjs). */
export type YamlParse = (text: string, options: { uniqueKeys: boolean }) => unknown;

/**
 * Reads the roles file; `reserved` names the roles the manager owns itself (the superuser, the
 * replication role, the app owner), which the file may not declare.
 */
export function parseRoles(
  text: string,
  source: string,
  reserved: readonly string[],
  parseYaml: YamlParse,
): DeclaredRole[] {
  let document: unknown;
  try {
    document = parseYaml(text, { uniqueKeys: true });
  } catch (error) {
    throw new UsageError(`${source}: not valid YAML: ${errorMessage(error).split('\n')[0]}`);
  }
  if (document === null || document === undefined) return [];
  if (!Array.isArray(document)) throw new UsageError(`${source}: must be a YAML list of roles`);
  const seen = new Set<string>();
  return document.map((entry: unknown, index) => {
    const where = (name?: string) => `${source}: role ${index + 1}${name === undefined ? '' : ` "${name}"`}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new UsageError(`${where()}: must be a mapping with at least "name"`);
    }
    const fields = entry as Record<string, unknown>;
    const name = roleName(fields.name, `${where()}: name`);
    const refuse = (why: string): never => {
      throw new UsageError(`${where(name)}: ${why}`);
    };
    if (reserved.includes(name)) refuse('is managed by instance-manager itself and cannot be declared');
    if (seen.has(name)) refuse('is declared twice');
    seen.add(name);
    const unknown = Object.keys(fields).find((key) => !KEYS.has(key));
    if (unknown !== undefined) refuse(`unknown key "${unknown}" (known: ${[...KEYS].join(', ')})`);
    const flag = (key: (typeof FLAGS)[number], fallback: boolean) => {
      const value = fields[key] ?? fallback;
      return typeof value === 'boolean' ? value : refuse(`${key} must be true or false`);
    };
    const inRoles = fields.inRoles ?? [];
    if (!Array.isArray(inRoles)) refuse('inRoles must be a list of role names');
    return {
      name,
      ensure: ensureOf(fields.ensure, refuse),
      login: flag('login', false),
      superuser: flag('superuser', false),
      createdb: flag('createdb', false),
      createrole: flag('createrole', false),
      inherit: flag('inherit', true),
      replication: flag('replication', false),
      bypassrls: flag('bypassrls', false),
      connectionLimit: connectionLimitOf(fields.connectionLimit, refuse),
      validUntil: validUntilOf(fields.validUntil, refuse),
      inRoles: (inRoles as unknown[]).map((role) => {
        const member = roleName(role, `${where(name)}: inRoles`);
        return member === name ? refuse('cannot be a member of itself') : member;
      }),
      comment: optionalText(fields.comment, 'comment', refuse),
      passwordSecret: secretDirOf(fields.passwordSecret, refuse),
    };
  });
}

function roleName(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`${where} must be a non-empty string`);
  if (Buffer.byteLength(value) > MAX_NAME_BYTES) {
    throw new UsageError(`${where} "${value}" is longer than ${MAX_NAME_BYTES} bytes`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) {
    throw new UsageError(`${where} ${JSON.stringify(value)} contains a control character`);
  }
  if (value.startsWith('pg_')) {
    throw new UsageError(`${where} "${value}": names starting with pg_ are reserved by PostgreSQL`);
  }
  return value;
}

function ensureOf(value: unknown, refuse: (why: string) => never): 'present' | 'absent' {
  if (value === undefined) return 'present';
  return value === 'present' || value === 'absent' ? value : refuse('ensure must be "present" or "absent"');
}

function connectionLimitOf(value: unknown, refuse: (why: string) => never): number {
  if (value === undefined) return -1;
  const valid = typeof value === 'number' && Number.isInteger(value) && value >= -1 && value <= 2 ** 31 - 1;
  return valid ? value : refuse('connectionLimit must be an integer, -1 for no limit');
}

function validUntilOf(value: unknown, refuse: (why: string) => never): number | undefined {
  if (value === undefined || value === null || value === 'infinity') return undefined;
  // YAML reads an unquoted timestamp as a string here (core schema); a Date would come from YAML 1.1.
  const text = value instanceof Date ? value.toISOString() : value;
  const time = typeof text === 'string' && ISO_8601.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(time)) {
    return refuse('validUntil must be an ISO 8601 timestamp (e.g. 2027-01-31T00:00:00Z) or "infinity"');
  }
  return time;
}

function optionalText(value: unknown, key: string, refuse: (why: string) => never): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return refuse(`${key} must be a string`);
  return value.includes('\0') ? refuse(`${key} contains a NUL character`) : value;
}

function secretDirOf(value: unknown, refuse: (why: string) => never): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) {
    return refuse('passwordSecret must be the name of a directory under --secrets-dir');
  }
  return value;
}

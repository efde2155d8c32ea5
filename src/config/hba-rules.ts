/**
 * Validation of the user's pg_hba rules (`--hba`). Pure: text in, rules out, or a UsageError naming
 * the line, the rule and why it is refused. The rules land between the fixed header and the
 * fallback (hba.ts); anything that could escape that place, pull in other files, or open a door
 * the header keeps shut is refused.
 */
import { errorMessage, UsageError } from '../errors.js';
import { withoutComment } from './comments.js';
import { checkAddress, checkOptions, METHODS, methodFitsType } from './hba-fields.js';
import { REPLICATION_USER } from './hba.js';

const CONNECTION_TYPES = new Set(['local', 'host', 'hostssl', 'hostnossl', 'hostgssenc', 'hostnogssenc']);
const INCLUDE_DIRECTIVES = new Set(['include', 'include_if_exists', 'include_dir']);

/** One token of a rule; `quoted` tokens are literal names, never keywords or references. */
interface Token {
  text: string;
  quoted: boolean;
}

export interface HbaRule {
  type: string;
  databases: Token[];
  users: Token[];
  method: string;
}

/**
 * Reads a `--hba` file: one rule a line, blank lines and `#` comments skipped. Returns the rules
 * as they will be written; throws a UsageError naming `source:line` for the first refused one.
 */
export function parseHbaRules(text: string, source: string): string[] {
  const rules: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.trim().startsWith('#')) return;
    try {
      validateHbaRule(line);
    } catch (error) {
      throw new UsageError(`${source}:${index + 1}: ${errorMessage(error)}`);
    }
    rules.push(line.trim());
  });
  return rules;
}

/** Throws a UsageError naming the rule and why it is refused. */
export function validateHbaRule(rule: string): HbaRule {
  const refuse = (why: string): never => {
    throw new UsageError(`pg_hba rule ${JSON.stringify(rule.trim())} refused: ${why}`);
  };
  // eslint-disable-next-line no-control-regex
  if (/[\n\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(rule)) refuse('it contains a newline or another control character');
  // PostgreSQL 16 joins a line ending in a backslash with the next one: the rule would swallow what follows.
  const uncommented = withoutComment(rule, '"');
  if (/\\\s*$/.test(uncommented)) refuse('a trailing backslash continues it onto the next line');
  const fields = tokenize(uncommented, refuse);
  if (fields.length === 0) refuse('empty rule');
  const first = fields[0]!;
  if (first.length === 1 && INCLUDE_DIRECTIVES.has(first[0]!.text.toLowerCase()))
    refuse(`"${first[0]!.text}" pulls in other files`);
  for (const token of fields.flat()) {
    if (!token.quoted && token.text.startsWith('@')) refuse(`"${token.text}" reads names from another file`);
  }
  const type = single(first, 'connection type', refuse);
  if (!CONNECTION_TYPES.has(type))
    refuse(`unknown connection type "${type}" (one of ${[...CONNECTION_TYPES].join(', ')})`);
  const methodIndex = type === 'local' ? 3 : 4 + addressFields(fields, refuse) - 1;
  if (fields.length <= methodIndex) refuse('too few fields (type, database, user, [address,] method)');
  const method = single(fields[methodIndex]!, 'method', refuse);
  if (!METHODS.has(method)) refuse(`unknown authentication method "${method}"`);
  const options = fields.slice(methodIndex + 1).map((option) => option.map((token) => token.text).join(','));
  const refusal = methodFitsType(method, type) ?? checkOptions(method, type, options);
  if (refusal) refuse(refusal);
  const parsed: HbaRule = { type, databases: fields[1]!, users: fields[2]!, method };
  const weakening = weakensFixedHeader(parsed);
  if (weakening) refuse(weakening);
  return parsed;
}

/**
 * The header lets `streaming_replica` in only with a certificate over TLS, and the fallback asks
 * everyone else for a password: a later rule must not let anyone in as that user another way.
 */
function weakensFixedHeader(rule: HbaRule): string | undefined {
  if (rule.method === 'reject') return undefined;
  const names = rule.users.some((user) => namesReplicationUser(user));
  if (names && !(rule.type === 'hostssl' && rule.method === 'cert')) {
    return `${REPLICATION_USER} may only connect with a certificate over hostssl (method cert)`;
  }
  if (rule.method === 'trust' && rule.type !== 'local' && rule.users.some((user) => mayMatchReplicationUser(user))) {
    return `trust would let anyone in as ${REPLICATION_USER} without a certificate`;
  }
  return undefined;
}

function namesReplicationUser(user: Token): boolean {
  if (user.quoted) return user.text === REPLICATION_USER;
  if (user.text.startsWith('/')) return matchesRegex(user.text.slice(1), REPLICATION_USER);
  return user.text === REPLICATION_USER;
}

/** `all`, the name itself, a matching regular expression, or a role group we cannot see into. */
function mayMatchReplicationUser(user: Token): boolean {
  if (namesReplicationUser(user)) return true;
  return !user.quoted && (user.text === 'all' || user.text.startsWith('+'));
}

function matchesRegex(pattern: string, name: string): boolean {
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return true; // PostgreSQL would refuse the rule anyway; err on the side of caution
  }
}

/** `host db user 10.0.0.0/8 md5` or `host db user 10.0.0.0 255.0.0.0 md5`: how many fields the address takes. */
function addressFields(fields: Token[][], refuse: (why: string) => never): number {
  const address = fields[3];
  if (address === undefined) refuse('too few fields (type, database, user, address, method)');
  const text = single(address!, 'address', refuse);
  const next = fields[4]?.length === 1 ? fields[4][0]!.text : undefined;
  const verdict = checkAddress(text, next);
  if ('refused' in verdict) refuse(`address ${verdict.refused}`);
  return (verdict as { fields: number }).fields;
}

function single(field: Token[], what: string, refuse: (why: string) => never): string {
  if (field.length !== 1 || field[0]!.quoted) refuse(`the ${what} must be a single keyword`);
  return field[0]!.text.toLowerCase();
}

/** Whitespace-separated fields, each a comma list of tokens, double quotes as pg_hba reads them. */
function tokenize(rule: string, refuse: (why: string) => never): Token[][] {
  const fields: Token[][] = [];
  let field: Token[] = [];
  let text = '';
  let quoted = false;
  let inQuotes = false;
  let pending = false;
  // pg_hba reads `alice, bob` as one field: whitespace after a comma does not end it.
  let afterComma = false;
  const endToken = () => {
    if (pending) field.push({ text, quoted });
    text = '';
    quoted = false;
    pending = false;
  };
  const endField = () => {
    endToken();
    if (field.length > 0) fields.push(field);
    field = [];
  };
  for (const char of rule) {
    const wasAfterComma = afterComma;
    afterComma = false;
    if (inQuotes) {
      if (char === '"') inQuotes = false;
      else text += char;
    } else if (char === '"') {
      inQuotes = true;
      quoted = true;
      pending = true;
    } else if (char === ',') {
      endToken();
      afterComma = true;
    } else if (/\s/.test(char)) {
      if (wasAfterComma) afterComma = true;
      else endField();
    } else {
      text += char;
      pending = true;
    }
  }
  if (inQuotes) refuse('unterminated double quote');
  endField();
  return fields;
}

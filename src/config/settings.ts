/**
 * postgresql.conf parameters: reading the user's `--config` file and rendering `custom.conf`,
 * the part of the configuration the manager owns. Pure: text in, text out.
 */
import { UsageError } from '../errors.js';
import { withoutComment } from './comments.js';
import { isOwnedParameter, type RenderedSettings } from './managed-settings.js';

export type Parameters = Map<string, string>;

/** `key = value`, `key value`: the name, then the rest of the line. */
export const SETTING_LINE = /^([A-Za-z_][A-Za-z0-9_.]*)\s*(?:=\s*|\s+)(.*)$/;

/**
 * Reads `key = value` lines (`=` optional, `#` comments, values optionally single-quoted, as
 * postgresql.conf writes them). `source` names the file in every error.
 */
export function parseUserParameters(text: string, source: string): Parameters {
  const parameters: Parameters = new Map();
  text.split('\n').forEach((raw, index) => {
    const where = `${source}:${index + 1}`;
    const line = withoutComment(raw, "'").trim();
    if (line === '') return;
    const match = SETTING_LINE.exec(line);
    if (!match) throw new UsageError(`${where}: not a "key = value" line: ${JSON.stringify(raw.trim())}`);
    const key = match[1]!.toLowerCase();
    if (isOwnedParameter(key)) {
      const reason = 'is fixed by instance-manager and cannot be set in --config (see docs/settings.md)';
      throw new UsageError(`${where}: parameter "${key}" ${reason}`);
    }
    parameters.set(key, unquote(match[2]!.trim(), where));
  });
  return parameters;
}

function unquote(value: string, where: string): string {
  if (value === '') throw new UsageError(`${where}: missing value`);
  if (!value.startsWith("'")) {
    if (/\s/.test(value)) throw new UsageError(`${where}: a value with spaces must be quoted: ${value}`);
    return value;
  }
  if (value.length < 2 || !value.endsWith("'")) throw new UsageError(`${where}: unterminated quoted value: ${value}`);
  return unescapeQuoted(value.slice(1, -1));
}

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** The escapes PostgreSQL's configuration scanner understands inside single quotes. */
function unescapeQuoted(body: string): string {
  return body.replace(/''|\\([0-7]{1,3}|.)/g, (match, escaped: string | undefined) => {
    if (match === "''") return "'";
    if (/^[0-7]+$/.test(escaped!)) return String.fromCharCode(parseInt(escaped!, 8));
    return ESCAPES[escaped!] ?? escaped!;
  });
}

export function quoteValue(value: string): string {
  const escaped = value.replace(/[\\'\n\r\t\b\f]/g, (char) => {
    if (char === "'") return "''";
    const name = Object.keys(ESCAPES).find((key) => ESCAPES[key] === char);
    return `\\${name ?? char}`;
  });
  return `'${escaped}'`;
}

export const CUSTOM_CONF = 'custom.conf';
export const INCLUDE_LINE = `include '${CUSTOM_CONF}'`;

/**
 * custom.conf: the fixed settings (which the postmaster's command line repeats, so they hold whatever
 * a file says), the defaults `--config` does not replace, then `--config` itself.
 */
export function renderCustomConf(settings: RenderedSettings, user: Parameters): string {
  const line = ([key, value]: [string, string]) => `${key} = ${quoteValue(value)}`;
  const lines = [
    '# Written by instance-manager at every start and reload: do not edit.',
    '# Put your own parameters in the --config file; they come last and win over the defaults.',
    "# fixed (also on the postmaster's command line: no file, postgresql.auto.conf included, overrides them)",
    ...settings.fixed.map(line),
    '# defaults',
    ...settings.defaults.filter(([key]) => !user.has(key)).map(line),
    '# --config',
    ...[...user].map(line),
  ];
  return `${lines.join('\n')}\n`;
}

/** postgresql.conf with the include of custom.conf appended once, as its last line. */
export function withCustomConfInclude(postgresqlConf: string): string {
  if (postgresqlConf.split('\n').some((line) => line.trim() === INCLUDE_LINE)) return postgresqlConf;
  const separator = postgresqlConf === '' || postgresqlConf.endsWith('\n') ? '' : '\n';
  return `${postgresqlConf}${separator}${INCLUDE_LINE}\n`;
}

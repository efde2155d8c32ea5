/**
 * postgresql.conf parameters: reading the user's `--config` file and rendering `custom.conf`,
 * the part of the configuration the manager owns. Pure: text in, text out.
 */
import { UsageError } from '../errors.js';
import { withoutComment } from './comments.js';

/** Parameters only the manager may set; a user file that sets one is refused. */
const OWNED_EXACT = new Set([
  'log_destination', 'logging_collector', 'log_directory', 'log_filename', 'log_truncate_on_rotation',
  'log_file_mode', 'ssl', 'ssl_cert_file', 'ssl_key_file', 'ssl_ca_file', 'ssl_crl_file', 'port',
  'listen_addresses', 'unix_socket_directories', 'hba_file', 'ident_file', 'data_directory',
  'primary_conninfo', 'restore_command', 'config_file',
  // An include would let the file pull in any of the above behind the manager's back.
  'include', 'include_if_exists', 'include_dir',
]);
const OWNED_PREFIXES = ['log_rotation_', 'ssl_passphrase_command'];

export function isOwnedParameter(name: string): boolean {
  const key = name.toLowerCase();
  return OWNED_EXACT.has(key) || OWNED_PREFIXES.some((prefix) => key.startsWith(prefix));
}

export type Parameters = Map<string, string>;

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
    const match = /^([A-Za-z_][A-Za-z0-9_.]*)\s*(?:=\s*|\s+)(.*)$/.exec(line);
    if (!match) throw new UsageError(`${where}: not a "key = value" line: ${JSON.stringify(raw.trim())}`);
    const key = match[1]!.toLowerCase();
    if (isOwnedParameter(key)) throw new UsageError(`${where}: parameter "${key}" is managed by instance-manager and cannot be set in --config`);
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

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA of client certificates: enables `cert` authentication. */
  clientCaFile: string;
}

export interface ManagedSettings {
  port: number;
  listen: string;
  socketDir: string;
  /** Where the csvlog and stderr FIFOs are; undefined sends PostgreSQL's log to its stderr. */
  logDirectory: string | undefined;
  tls: TlsFiles | undefined;
  /** Settings another concern adds (standby settings on a replica). */
  extra: Parameters;
  /** The user's `--config` parameters; rendered last so they win over the defaults below. */
  user: Parameters;
}

export const CUSTOM_CONF = 'custom.conf';
export const INCLUDE_LINE = `include '${CUSTOM_CONF}'`;

export function renderCustomConf(settings: ManagedSettings): string {
  const managed: [string, string][] = [
    ['listen_addresses', settings.listen],
    ['port', String(settings.port)],
    ['unix_socket_directories', settings.socketDir],
    // The manager restarts a crashed postmaster itself, after its orphans are gone.
    ['restart_after_crash', 'off'],
    ['password_encryption', 'scram-sha-256'],
    ...loggingSettings(settings.logDirectory),
    ...tlsSettings(settings.tls),
    ...settings.extra,
  ];
  const defaults: [string, string][] = [
    ['ssl_min_protocol_version', 'TLSv1.3'],
    ['wal_sender_timeout', '5s'],
    ['wal_receiver_timeout', '5s'],
    // pg_rewind reads a demoted primary's own WAL back to the last checkpoint it shares with the
    // new primary; with no WAL archive to restore from, it must still be in pg_wal.
    ['wal_keep_size', '512MB'],
  ];
  const lines = [
    '# Written by instance-manager at every start and reload: do not edit.',
    '# Put your own parameters in the --config file; they come last and win over the defaults.',
    ...managed.map(([key, value]) => `${key} = ${quoteValue(value)}`),
    '# defaults',
    ...defaults.filter(([key]) => !settings.user.has(key)).map(([key, value]) => `${key} = ${quoteValue(value)}`),
    '# --config',
    ...[...settings.user].map(([key, value]) => `${key} = ${quoteValue(value)}`),
  ];
  return `${lines.join('\n')}\n`;
}

function loggingSettings(directory: string | undefined): [string, string][] {
  if (directory === undefined) return [['logging_collector', 'off'], ['log_destination', 'stderr']];
  return [
    ['logging_collector', 'on'],
    ['log_destination', 'csvlog'],
    ['log_directory', directory],
    ['log_filename', 'postgres'],
    ['log_rotation_age', '0'],
    ['log_rotation_size', '0'],
    ['log_truncate_on_rotation', 'off'],
    ['log_file_mode', '0600'],
  ];
}

function tlsSettings(tls: TlsFiles | undefined): [string, string][] {
  if (tls === undefined) return [['ssl', 'off']];
  return [
    ['ssl', 'on'],
    ['ssl_cert_file', tls.certFile],
    ['ssl_key_file', tls.keyFile],
    ['ssl_ca_file', tls.clientCaFile],
  ];
}

/** postgresql.conf with the include of custom.conf appended once, as its last line. */
export function withCustomConfInclude(postgresqlConf: string): string {
  if (postgresqlConf.split('\n').some((line) => line.trim() === INCLUDE_LINE)) return postgresqlConf;
  const separator = postgresqlConf === '' || postgresqlConf.endsWith('\n') ? '' : '\n';
  return `${postgresqlConf}${separator}${INCLUDE_LINE}\n`;
}

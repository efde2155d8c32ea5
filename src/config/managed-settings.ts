/**
 * The one table of the postgresql.conf settings the manager renders. Each is either *fixed* (refused
 * in `--config`, given to the postmaster on its command line where no configuration file, and so no
 * ALTER SYSTEM, can override it, and removed from postgresql.auto.conf) or a *default* (rendered
 * unless `--config` sets it). custom.conf, the postmaster's options, the refusal of `--config` keys
 * and docs/settings.md are all derived from this table. Pure: values in, values out.
 */

export type SettingKind = 'fixed' | 'default';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA of client certificates: enables `cert` authentication. */
  clientCaFile: string;
}

/** What the values of the table are computed from. */
export interface RenderContext {
  pgdata: string;
  port: number;
  listen: string;
  socketDir: string;
  /** Where the csvlog and stderr FIFOs are; undefined sends PostgreSQL's log to its stderr. */
  logDirectory: string | undefined;
  tls: TlsFiles | undefined;
  /** Major version of the server binaries: a setting PostgreSQL does not know would stop it starting. */
  pgMajor: number;
  /** `--allow-alter-system`: ALTER SYSTEM works, for the default settings only. */
  allowAlterSystem: boolean;
  /**
   * Values of fixed settings that another part of the manager gives (standby settings on a replica,
   * archiving): only rows with `suppliedBy` take a value here, and only those present are rendered.
   */
  supplied: ReadonlyMap<string, string>;
}

interface SettingRow {
  name: string;
  kind: SettingKind;
  /** The value as docs/settings.md shows it. */
  shown: string;
  why: string;
  /** First major that knows the setting. */
  sinceMajor?: number;
  /** The value rendered; undefined (or no function) leaves PostgreSQL's own. */
  value?: (context: RenderContext) => string | undefined;
  /** The part of the manager that gives the value, through `RenderContext.supplied`. */
  suppliedBy?: string;
}

const LOG_TO_FIFOS = 'the log pipe reads csvlog from the FIFOs under `<run-dir>/log`';
const viaFifo = (fifo: string, stderr?: string) => (context: RenderContext) =>
  context.logDirectory === undefined ? stderr : fifo;
const withTls = (value: (tls: TlsFiles) => string) => (context: RenderContext) =>
  context.tls === undefined ? undefined : value(context.tls);
const constant = (value: string) => () => value;
const BY_REPLICATION = { shown: 'on a replica: from `--replica-of`', suppliedBy: 'replication' };
const BY_BACKUPS = { shown: 'when backups are configured', suppliedBy: 'backups' };

export const SETTINGS: readonly SettingRow[] = [
  { name: 'listen_addresses', kind: 'fixed', shown: '`--listen`', why: 'one flag decides it', value: (c) => c.listen },
  {
    name: 'port',
    kind: 'fixed',
    shown: '`--port`',
    why: 'probes, replicas and the status API use it',
    value: (c) => String(c.port),
  },
  {
    name: 'unix_socket_directories',
    kind: 'fixed',
    shown: '`<run-dir>/run`',
    why: 'the manager connects there',
    value: (c) => c.socketDir,
  },
  { name: 'data_directory', kind: 'fixed', shown: '`--pgdata` (not rendered: `-D`)', why: 'one flag decides it' },
  {
    name: 'config_file',
    kind: 'fixed',
    shown: '`<pgdata>/postgresql.conf` (not rendered)',
    why: 'it includes custom.conf',
  },
  {
    name: 'hba_file',
    kind: 'fixed',
    shown: '`<pgdata>/pg_hba.conf`',
    why: 'the manager renders it',
    value: (c) => `${c.pgdata}/pg_hba.conf`,
  },
  {
    name: 'ident_file',
    kind: 'fixed',
    shown: '`<pgdata>/pg_ident.conf`',
    why: 'the manager renders it',
    value: (c) => `${c.pgdata}/pg_ident.conf`,
  },
  {
    name: 'restart_after_crash',
    kind: 'fixed',
    shown: '`off`',
    why: 'the manager restarts a crashed postmaster itself, after its orphans are gone',
    value: constant('off'),
  },
  { name: 'logging_collector', kind: 'fixed', shown: '`on`', why: LOG_TO_FIFOS, value: viaFifo('on', 'off') },
  { name: 'log_destination', kind: 'fixed', shown: '`csvlog`', why: LOG_TO_FIFOS, value: viaFifo('csvlog', 'stderr') },
  { name: 'log_directory', kind: 'fixed', shown: '`<run-dir>/log`', why: LOG_TO_FIFOS, value: (c) => c.logDirectory },
  {
    name: 'log_filename',
    kind: 'fixed',
    shown: '`postgres`',
    why: 'the FIFOs are `postgres.csv` and `postgres`',
    value: viaFifo('postgres'),
  },
  { name: 'log_rotation_age', kind: 'fixed', shown: '`0`', why: 'a FIFO is not rotated', value: viaFifo('0') },
  { name: 'log_rotation_size', kind: 'fixed', shown: '`0`', why: 'a FIFO is not rotated', value: viaFifo('0') },
  {
    name: 'log_truncate_on_rotation',
    kind: 'fixed',
    shown: '`off`',
    why: 'a FIFO is not rotated',
    value: viaFifo('off'),
  },
  {
    name: 'log_file_mode',
    kind: 'fixed',
    shown: '`0600`',
    why: 'only the PostgreSQL user reads the log',
    value: viaFifo('0600'),
  },
  {
    name: 'ssl',
    kind: 'fixed',
    shown: '`on`',
    why: 'TCP is TLS only',
    value: (c) => (c.tls === undefined ? 'off' : 'on'),
  },
  {
    name: 'ssl_cert_file',
    kind: 'fixed',
    shown: '`<run-dir>/certificates/server.crt`',
    why: 'the manager copies and renews it',
    value: withTls((t) => t.certFile),
  },
  {
    name: 'ssl_key_file',
    kind: 'fixed',
    shown: '`<run-dir>/certificates/server.key`',
    why: 'the manager copies and renews it',
    value: withTls((t) => t.keyFile),
  },
  {
    name: 'ssl_ca_file',
    kind: 'fixed',
    shown: '`<run-dir>/certificates/client-ca.crt`',
    why: '`cert` authentication trusts the client CA',
    value: withTls((t) => t.clientCaFile),
  },
  {
    name: 'ssl_crl_file',
    kind: 'fixed',
    shown: "`''`",
    why: 'certificates are short-lived and renewed instead',
    value: constant(''),
  },
  {
    name: 'ssl_passphrase_command',
    kind: 'fixed',
    shown: "`''`",
    why: 'keys are unencrypted files, mode 0600',
    value: constant(''),
  },
  {
    name: 'ssl_passphrase_command_supports_reload',
    kind: 'fixed',
    shown: '`off`',
    why: 'no passphrase command',
    value: constant('off'),
  },
  {
    name: 'ssl_min_protocol_version',
    kind: 'fixed',
    shown: '`TLSv1.3`',
    why: 'no downgrade to older TLS',
    value: constant('TLSv1.3'),
  },
  {
    name: 'password_encryption',
    kind: 'fixed',
    shown: '`scram-sha-256`',
    why: 'no MD5 password hashes',
    value: constant('scram-sha-256'),
  },
  {
    name: 'allow_alter_system',
    kind: 'fixed',
    shown: '`off` (`on` with `--allow-alter-system`)',
    sinceMajor: 17,
    why: 'ALTER SYSTEM would write settings behind the manager',
    value: (c) => (c.allowAlterSystem ? undefined : 'off'),
  },
  {
    name: 'primary_conninfo',
    kind: 'fixed',
    ...BY_REPLICATION,
    why: 'a replica follows its primary over verified TLS',
  },
  {
    name: 'primary_slot_name',
    kind: 'fixed',
    ...BY_REPLICATION,
    why: 'a replica streams from its own slot on the primary',
  },
  {
    name: 'recovery_target_timeline',
    kind: 'fixed',
    ...BY_REPLICATION,
    why: 'a replica follows the primary onto new timelines',
  },
  { name: 'archive_mode', kind: 'fixed', ...BY_BACKUPS, why: 'WAL archiving is part of the backup configuration' },
  { name: 'archive_command', kind: 'fixed', ...BY_BACKUPS, why: 'WAL archiving is part of the backup configuration' },
  { name: 'restore_command', kind: 'fixed', ...BY_BACKUPS, why: 'WAL restore is part of the backup configuration' },
  {
    name: 'wal_sender_timeout',
    kind: 'default',
    shown: '`5s`',
    why: 'a dead replica is noticed within seconds',
    value: constant('5s'),
  },
  {
    name: 'wal_receiver_timeout',
    kind: 'default',
    shown: '`5s`',
    why: 'a dead primary is noticed within seconds',
    value: constant('5s'),
  },
  {
    name: 'wal_keep_size',
    kind: 'default',
    shown: '`512MB`',
    why: "a demoted primary's pg_rewind reads its own WAL back to the last checkpoint it shares with the new primary",
    value: constant('512MB'),
  },
];

/** Directives, not settings: an include would let `--config` pull in a fixed setting behind the manager's back. */
export const REFUSED_DIRECTIVES: readonly string[] = ['include', 'include_if_exists', 'include_dir'];

const ROWS = new Map(SETTINGS.map((row) => [row.name, row]));

/** A fixed setting or an include directive: `--config` may not set it. */
export function isOwnedParameter(name: string): boolean {
  const key = name.toLowerCase();
  return ROWS.get(key)?.kind === 'fixed' || REFUSED_DIRECTIVES.includes(key);
}

/** A setting postgresql.auto.conf may not hold: ALTER SYSTEM cannot change a fixed setting. */
export function isFixedSetting(name: string): boolean {
  return ROWS.get(name.toLowerCase())?.kind === 'fixed';
}

export interface RenderedSettings {
  fixed: [string, string][];
  defaults: [string, string][];
}

/** The values of the table for this context, in the table's order. */
export function managedSettings(context: RenderContext): RenderedSettings {
  for (const name of context.supplied.keys()) {
    const row = ROWS.get(name);
    if (row?.suppliedBy === undefined) {
      throw new Error(`"${name}" is supplied but is not a supplied fixed setting of the settings table`);
    }
  }
  const rendered: RenderedSettings = { fixed: [], defaults: [] };
  for (const row of SETTINGS) {
    if (row.sinceMajor !== undefined && context.pgMajor < row.sinceMajor) continue;
    const value = row.suppliedBy === undefined ? row.value?.(context) : context.supplied.get(row.name);
    if (value === undefined) continue;
    (row.kind === 'fixed' ? rendered.fixed : rendered.defaults).push([row.name, value]);
  }
  return rendered;
}

/**
 * `-c name=value` for every fixed setting: a command-line option outranks every configuration
 * file, postgresql.auto.conf included, at start, at every reload and after a crash restart.
 */
export function postmasterOptions(settings: RenderedSettings): string[] {
  return settings.fixed.flatMap(([name, value]) => ['-c', `${name}=${value}`]);
}

/** docs/settings.md, rendered from the table; a unit test keeps the file equal to it. */
export function renderSettingsDoc(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const rows = SETTINGS.map((row) => {
    const since = row.sinceMajor === undefined ? '' : ` (PostgreSQL ${row.sinceMajor}+)`;
    return `| \`${row.name}\`${since} | ${row.kind} | ${cell(row.shown)} | ${cell(row.why)} |`;
  });
  const directives = REFUSED_DIRECTIVES.map((name) => `\`${name}\``).join(', ');
  return [
    '| setting | kind | value | why |',
    '|---|---|---|---|',
    ...rows,
    '',
    `\`--config\` also refuses the directives ${directives}: an included file could set a fixed setting.`,
    '',
  ].join('\n');
}

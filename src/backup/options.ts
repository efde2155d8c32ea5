/**
 * The pgBackRest repository file (`--backup-repo`) and the pgbackrest.conf the manager renders from
 * it. Pure: text in, text out. The user says where the repository is and how it is kept; the manager
 * owns everything that ties pgBackRest to this instance (stanza, pg1-*, logging, lock and spool).
 */
import { UsageError } from '../errors.js';

export type RepoOptions = Map<string, string>;

const OWNED_EXACT = new Set([
  'stanza',
  'lock-path',
  'spool-path',
  'archive-async',
  'config',
  'config-path',
  'config-include-path',
]);
/** pg1-path, pg2-host... and log-level-console, log-path...: the manager's. */
const OWNED_PATTERNS = [/^pg\d+-/, /^log-/];

export function isOwnedRepoOption(key: string): boolean {
  return OWNED_EXACT.has(key) || OWNED_PATTERNS.some((pattern) => pattern.test(key));
}

/**
 * Reads `key=value` lines (blank lines and lines starting with `#` skipped: as in pgBackRest's own
 * files, a `#` inside a value is part of it, since keys may contain one). A `[global]` header is
 * tolerated, other sections are not: the manager writes the stanza section. `source` names the file.
 */
export function parseRepoOptions(text: string, source: string): RepoOptions {
  const options: RepoOptions = new Map();
  text.split('\n').forEach((raw, index) => {
    const where = `${source}:${index + 1}`;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line === '[global]') return;
    const match = /^([a-z0-9][a-z0-9-]*)\s*=\s*(.*)$/.exec(line);
    if (!match) {
      throw new UsageError(`${where}: not a "key=value" line of pgBackRest options: ${JSON.stringify(raw.trim())}`);
    }
    const key = match[1]!;
    const value = match[2]!.trim();
    if (isOwnedRepoOption(key)) {
      const why = 'is managed by instance-manager and cannot be set in --backup-repo';
      throw new UsageError(`${where}: option "${key}" ${why}`);
    }
    if (value === '') throw new UsageError(`${where}: option "${key}" has no value`);
    if (options.has(key)) throw new UsageError(`${where}: option "${key}" is set twice`);
    options.set(key, value);
  });
  if (options.size === 0) throw new UsageError(`${source}: no repository options (at least repo1-path or repo1-type)`);
  return options;
}

export interface PgBackRestConfInputs {
  repo: RepoOptions;
  /** The stanza this instance archives to (--cluster-name). */
  stanza: string;
  /** A stanza a restore reads from, when it is another cluster's (--restore-from-cluster). */
  sourceStanza: string | undefined;
  pgdata: string;
  socketDir: string;
  port: number;
  pgUser: string;
  /** Under the run dir, owned by the PostgreSQL user. */
  lockPath: string;
  spoolPath: string;
}

/**
 * Defaults the repository file may change. zstd at its default level compresses a 16 MiB WAL
 * segment in about a tenth of gzip's CPU time (0.09 s against 0.88 s here), to a smaller file: the
 * archiver shares the database's CPU, and gzip, pgBackRest's own default, took TPS with it.
 */
const DEFAULTS: readonly [string, string][] = [['compress-type', 'zst']];

/**
 * pgbackrest.conf: the repository as given, the defaults it leaves out, then what the manager owns.
 * Console logging at `warn` by default, so archive-push and archive-get stay quiet in PostgreSQL's
 * log; the manager raises it on its own commands. No log file: everything goes through the
 * manager's JSON lines.
 */
export function renderPgBackRestConf(inputs: PgBackRestConfInputs): string {
  const global: [string, string][] = [
    ...inputs.repo,
    ...DEFAULTS.filter(([key]) => !inputs.repo.has(key)),
    ['lock-path', inputs.lockPath],
    ['spool-path', inputs.spoolPath],
    ['archive-async', 'y'],
    ['log-level-console', 'warn'],
    ['log-level-stderr', 'off'],
    ['log-level-file', 'off'],
    ['log-timestamp', 'n'],
  ];
  const stanzaOptions: [string, string][] = [
    ['pg1-path', inputs.pgdata],
    ['pg1-socket-path', inputs.socketDir],
    ['pg1-port', String(inputs.port)],
    ['pg1-user', inputs.pgUser],
  ];
  const { stanza, sourceStanza } = inputs;
  const stanzas = sourceStanza === undefined || sourceStanza === stanza ? [stanza] : [stanza, sourceStanza];
  const lines = ['# Written by instance-manager from --backup-repo: do not edit.', '[global]', ...render(global)];
  for (const stanza of stanzas) lines.push('', `[${stanza}]`, ...render(stanzaOptions));
  return `${lines.join('\n')}\n`;
}

function render(options: [string, string][]): string[] {
  return options.map(([key, value]) => `${key}=${value}`);
}

/** A stanza name pgBackRest accepts and a path can carry: the cluster name. */
export function checkStanzaName(name: string, flag: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new UsageError(`${flag}: "${name}" is not a valid cluster name (letters, digits, '.', '_', '-')`);
  }
  return name;
}

/** The cluster name from a pod name: a StatefulSet's `pg-1` belongs to cluster `pg`. */
export function clusterNameFromPod(podName: string): string {
  return podName.replace(/-\d+$/, '');
}

export interface ArchiveCommands {
  archiveCommand: string;
  restoreCommand: string;
}

/** What PostgreSQL runs: the config file named on the command line, the stanza explicit. */
export function archiveCommands(configFile: string, stanza: string): ArchiveCommands {
  const base = `pgbackrest --config=${shellWord(configFile)} --stanza=${shellWord(stanza)}`;
  return { archiveCommand: `${base} archive-push %p`, restoreCommand: `${base} archive-get %f "%p"` };
}

/** Quoted for /bin/sh only when needed (paths with spaces). */
function shellWord(value: string): string {
  return /^[A-Za-z0-9_./=:-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

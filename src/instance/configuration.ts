/**
 * The files PostgreSQL reads from the manager (custom.conf, pg_hba.conf, pg_ident.conf and the
 * include line in postgresql.conf): rendered from the current inputs, then written where they
 * changed. Rendering is a pure function of what was read, so what a reload would write can be
 * checked without a postmaster.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  CUSTOM_CONF,
  managedSettings,
  parseHbaRules,
  preloadLibrariesFor,
  parseUserParameters,
  renderCustomConf,
  renderHba,
  renderIdent,
  withCustomConfInclude,
  type RenderContext,
} from '../config/index.js';
import { errorMessage, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { configurationErrors, pendingRestartSettings, SUPERUSER, type SocketAddress } from '../postgres/index.js';
import { readRegularFile, UnreadableFile, writeFileAtomically, type RunAs } from '../process/index.js';

/** What the rendering depends on, read from the flags, the mounted files and the instance's state. */
export interface ConfigurationInputs {
  /** What the settings table's values are computed from. */
  settings: RenderContext;
  /** The `--config` file's text and path, when given. */
  userConfig: { text: string; file: string } | undefined;
  /** The `--hba` file's text and path, when given. */
  userHba: { text: string; file: string } | undefined;
  /** OS users mapped to the database superuser in pg_ident.conf. */
  superuserOsUsers: string[];
  /** A superuser password is mounted: pg_hba lets the superuser in over TLS. */
  superuserOverTcp: boolean;
}

/** Every file the manager writes into PGDATA but postgresql.conf; throws UsageError on bad input. */
export function renderConfiguration(inputs: ConfigurationInputs): Map<string, string> {
  // pgaudit.*, pg_stat_statements.* or auto_explain.* settings bring their library into shared_preload_libraries.
  const { userConfig } = inputs;
  const parsed = userConfig ? parseUserParameters(userConfig.text, userConfig.file) : new Map<string, string>();
  const user = preloadLibrariesFor(parsed);
  const hbaRules = inputs.userHba ? parseHbaRules(inputs.userHba.text, inputs.userHba.file) : [];
  const custom = renderCustomConf(managedSettings(inputs.settings), user);
  return new Map([
    [CUSTOM_CONF, custom],
    ['pg_hba.conf', renderHba(hbaRules, { superuser: SUPERUSER, superuserOverTcp: inputs.superuserOverTcp })],
    ['pg_ident.conf', renderIdent(inputs.superuserOsUsers, SUPERUSER)],
  ]);
}

/**
 * Reads a file named by a flag (a regular file of at most 1 MiB, never blocking on a FIFO); a missing
 * or unreadable one is bad input, named by its flag.
 */
export function readInputFile(file: string | undefined, flag: string): { text: string; file: string } | undefined {
  if (file === undefined) return undefined;
  try {
    return { text: readRegularFile(file).toString('utf8'), file };
  } catch (error) {
    const why =
      error instanceof UnreadableFile ? error.message : `cannot be read (${(error as NodeJS.ErrnoException).code})`;
    throw new UsageError(`${flag} ${file}: ${why}`);
  }
}

/**
 * Writes the rendered files, and postgresql.conf with the include of custom.conf, into PGDATA where
 * their content changed; returns the names of the files that did.
 */
export function writeConfiguration(pgdata: string, files: Map<string, string>, runAs: RunAs): string[] {
  const all = new Map(files);
  all.set('postgresql.conf', withCustomConfInclude(fs.readFileSync(path.join(pgdata, 'postgresql.conf'), 'utf8')));
  return [...all]
    .filter(([name, content]) => writeFileAtomically(path.join(pgdata, name), content, runAs))
    .map(([name]) => name);
}

/**
 * After a reload: PostgreSQL skips the lines it cannot use and only says so in its own log, and a
 * setting that needs a restart waits silently; both are said here.
 */
export async function reportConfiguration(address: SocketAddress, logger: Logger): Promise<void> {
  try {
    const errors = await configurationErrors(address);
    for (const error of errors) logger.error('PostgreSQL found an error in its configuration', { error });
    const settings = await pendingRestartSettings(address);
    if (settings.length > 0) logger.warning('PostgreSQL needs a restart to apply changed settings', { settings });
  } catch (error) {
    logger.warning('could not check the configuration after the reload', { err: errorMessage(error) });
  }
}

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
  parseUserParameters,
  renderCustomConf,
  renderHba,
  renderIdent,
  withCustomConfInclude,
  type RenderContext,
} from '../config/index.js';
import { UsageError } from '../errors.js';
import { SUPERUSER, type PgBinaries } from '../postgres/index.js';
import { readRegularFile, UnreadableFile, writeFileAtomically, type RunAs } from '../process/index.js';
import { CERTIFICATE_FILES, type CertificateStore } from '../secrets/index.js';
import type { RunOptions } from './options.js';

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
}

export interface RenderContextInputs {
  options: RunOptions;
  bin: PgBinaries;
  runDirs: { socket: string; log: string };
  certificates: CertificateStore;
  /** Fixed settings other concerns supply (standby settings, archiving). */
  supplied: ReadonlyMap<string, string>;
}

/** What the settings table's values are computed from, out of the instance's inputs and state. */
export function renderContext({ options, bin, runDirs, certificates, supplied }: RenderContextInputs): RenderContext {
  return {
    pgdata: options.pgdata,
    port: options.port,
    listen: options.listen,
    socketDir: runDirs.socket,
    logDirectory: runDirs.log,
    tls: {
      certFile: certificates.path(CERTIFICATE_FILES.serverCert),
      keyFile: certificates.path(CERTIFICATE_FILES.serverKey),
      clientCaFile: certificates.path(CERTIFICATE_FILES.clientCa),
    },
    pgMajor: bin.major,
    allowAlterSystem: options.allowAlterSystem,
    supplied,
  };
}

/** Every file the manager writes into PGDATA but postgresql.conf; throws UsageError on bad input. */
export function renderConfiguration(inputs: ConfigurationInputs): Map<string, string> {
  const user = inputs.userConfig ? parseUserParameters(inputs.userConfig.text, inputs.userConfig.file) : new Map<string, string>();
  const hbaRules = inputs.userHba ? parseHbaRules(inputs.userHba.text, inputs.userHba.file) : [];
  const custom = renderCustomConf(managedSettings(inputs.settings), user);
  return new Map([
    [CUSTOM_CONF, custom],
    ['pg_hba.conf', renderHba(hbaRules)],
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
    const why = error instanceof UnreadableFile ? error.message : `cannot be read (${(error as NodeJS.ErrnoException).code})`;
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
  return [...all].filter(([name, content]) => writeFileAtomically(path.join(pgdata, name), content, runAs)).map(([name]) => name);
}

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../log.js';
import { spawnProgram, writeFileAtomically, type RunAs } from '../process/index.js';
import type { PgBinaries } from './binaries.js';
import { withConnection, type SocketAddress } from './client.js';

const execFileAsync = promisify(execFile);

/**
 * Errors PostgreSQL finds in the configuration files as they are on disk now: both views parse
 * the files when queried, so this holds for what a reload just applied (or refused to apply).
 */
export async function configurationErrors(address: SocketAddress): Promise<string[]> {
  return withConnection(address, async (client) => {
    const hba = await client.query<{ line_number: number | null; error: string }>(
      'SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL ORDER BY line_number',
    );
    const settings = await client.query<{
      sourcefile: string | null;
      sourceline: number | null;
      name: string | null;
      error: string;
    }>(
      // A setting that waits for a restart is not an error: it is reported as pending instead.
      `SELECT sourcefile, sourceline, name, error FROM pg_file_settings
        WHERE error IS NOT NULL AND name NOT IN (SELECT name FROM pg_settings WHERE pending_restart) ORDER BY seqno`,
    );
    return [
      ...hba.rows.map((row) => `pg_hba.conf line ${row.line_number ?? '?'}: ${row.error}`),
      ...settings.rows.map(
        (row) =>
          `${row.sourcefile ?? 'configuration'}:${row.sourceline ?? '?'}` +
          `${row.name ? ` (${row.name})` : ''}: ${row.error}`,
      ),
    ];
  });
}

export interface SettingsFileCheck {
  bin: PgBinaries;
  runAs: RunAs;
  logger: Logger;
  /** The configuration file to check, as PostgreSQL would read it. */
  content: string;
  /** A directory the PostgreSQL user can write; the file is written there for the check and removed. */
  scratchDir: string;
}

/**
 * Lets the binaries' own parser judge a configuration file: `postgres -C` reads it exactly as the
 * postmaster would at start (names, types, units, ranges, enum values of this major) and exits
 * before touching any data directory. Resolves with PostgreSQL's complaint (its stderr lines), or
 * undefined when it accepts the file. Costs one short process run (about 40 ms).
 */
export async function settingsRefusal(check: SettingsFileCheck): Promise<string[] | undefined> {
  const file = path.join(check.scratchDir, `.settings-check.${process.pid}.conf`);
  writeFileAtomically(file, check.content, check.runAs);
  const stderr: string[] = [];
  try {
    const program = spawnProgram(
      check.bin.path('postgres'),
      [`--config-file=${file}`, '-D', check.scratchDir, '-C', 'data_directory'],
      {
        runAs: check.runAs,
        logger: check.logger,
        stdoutIsData: true,
        consumeStderrLine: (line) => stderr.push(line) > 0,
      },
    );
    const exit = await program.exited;
    return exit.code === 0 ? undefined : stderr;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/**
 * The libraries a preload setting may name: the `.so` files of the binaries' pkglibdir (`../lib`
 * beside `bin/` in Debian's and PGDG's layouts, else what `pg_config` says).
 */
export async function installedLibraries(bin: PgBinaries): Promise<Set<string>> {
  let dir = path.join(bin.dir, '..', 'lib');
  if (!fs.existsSync(dir)) dir = (await execFileAsync(bin.path('pg_config'), ['--pkglibdir'])).stdout.trim();
  return new Set(
    fs
      .readdirSync(dir)
      .filter((name) => name.endsWith('.so'))
      .map((name) => name.slice(0, -'.so'.length)),
  );
}

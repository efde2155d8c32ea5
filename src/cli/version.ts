/**
 * `instance-manager version [--json]` (and `--version`): what is running and what it would run,
 * the first thing to paste into a bug report.
 */
import { Command, Option } from 'commander';
import { errorMessage } from '../errors.js';
import { findBinaries, serverVersion } from '../postgres/index.js';
import { COMMIT, VERSION } from '../version.js';

export interface VersionReport {
  version: string;
  commit: string;
  node: string;
  /** The server binaries `run` would use here (`--pg-bin`, else discovered), or why there are none. */
  postgres: { bin: string; major: number; version: string } | { error: string };
}

export function versionCommand(): Command {
  return new Command('version')
    .description("print the manager's version, commit, Node.js and PostgreSQL binaries")
    .option('--json', 'as one JSON object')
    .addOption(new Option('--pg-bin <dir>', 'PostgreSQL binaries, as `run` takes them').env('IM_PG_BIN'))
    .action(async (flags: { json?: boolean; pgBin?: string }) => {
      const report = await collectVersion(flags.pgBin);
      process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : formatVersion(report));
    });
}

export async function collectVersion(pgBin: string | undefined): Promise<VersionReport> {
  let postgres: VersionReport['postgres'];
  try {
    const binaries = await findBinaries(pgBin);
    postgres = { bin: binaries.dir, major: binaries.major, version: await serverVersion(binaries.dir) };
  } catch (error) {
    postgres = { error: errorMessage(error) };
  }
  return { version: VERSION, commit: COMMIT, node: process.version, postgres };
}

export function formatVersion(report: VersionReport): string {
  const { postgres } = report;
  const binaries = 'error' in postgres ? postgres.error : `${postgres.version} in ${postgres.bin}`;
  const manager = `instance-manager ${report.version} (commit ${report.commit})`;
  return `${manager}\nNode.js ${report.node}\nPostgreSQL ${binaries}\n`;
}

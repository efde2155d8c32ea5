import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { UsageError } from '../errors.js';

const execFileAsync = promisify(execFile);

export interface PgBinaries {
  dir: string;
  /** Major version of the server binaries, e.g. 15. */
  major: number;
  path(program: string): string;
}

const INSTALL_HINT = 'install them with "apt-get install -y postgresql-15" (or pass --pg-bin DIR)';

/** Explicit `--pg-bin`, else `pg_config --bindir`, else the newest Debian or PGDG install. */
export async function findBinaries(explicit: string | undefined): Promise<PgBinaries> {
  const candidates = explicit !== undefined ? [explicit] : await discoverCandidates();
  const dir = candidates.find((candidate) => isExecutable(path.join(candidate, 'postgres')));
  if (dir === undefined) {
    const where = explicit !== undefined ? `--pg-bin ${explicit}` : `pg_config, /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin`;
    throw new UsageError(`PostgreSQL server binaries not found (looked in ${where}): ${INSTALL_HINT}`);
  }
  const { stdout } = await execFileAsync(path.join(dir, 'postgres'), ['-V']);
  const match = /\(PostgreSQL\) (\d+)/.exec(stdout);
  if (!match) throw new UsageError(`${dir}/postgres -V printed "${stdout.trim()}", not a PostgreSQL version`);
  return { dir, major: Number(match[1]), path: (program) => path.join(dir, program) };
}

async function discoverCandidates(): Promise<string[]> {
  const found: string[] = [];
  try {
    const { stdout } = await execFileAsync('pg_config', ['--bindir']);
    found.push(stdout.trim());
  } catch {
    // pg_config is only there with the development packages; fall through to the known layouts.
  }
  found.push(...versionedDirs('/usr/lib/postgresql', (name) => `/usr/lib/postgresql/${name}/bin`));
  found.push(...versionedDirs('/usr', (name) => (name.startsWith('pgsql-') ? `/usr/${name}/bin` : undefined)));
  return found;
}

/** Subdirectories that carry a version number, newest first. */
function versionedDirs(parent: string, toBinDir: (name: string) => string | undefined): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ bin: toBinDir(name), version: Number(/(\d+)$/.exec(name)?.[1] ?? NaN) }))
    .filter((entry): entry is { bin: string; version: number } => entry.bin !== undefined && !Number.isNaN(entry.version))
    .sort((a, b) => b.version - a.version)
    .map((entry) => entry.bin);
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

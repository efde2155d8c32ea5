import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { UsageError } from '../errors.js';
import { dataDirMajor } from './datadir.js';

const execFileAsync = promisify(execFile);

export interface PgBinaries {
  dir: string;
  /** Major version of the server binaries, e.g. 15. */
  major: number;
  path(program: string): string;
}

const INSTALL_HINT = 'install them with "apt-get install -y postgresql-15" (or pass --pg-bin DIR)';

/** Where Debian (and Ubuntu) and PGDG's RPMs put each major version's binaries. */
const LAYOUTS = [
  { bin: (major: number) => `/usr/lib/postgresql/${major}/bin`, major: /^\/usr\/lib\/postgresql\/(\d+)\/bin\/?$/ },
  { bin: (major: number) => `/usr/pgsql-${major}/bin`, major: /^\/usr\/pgsql-(\d+)\/bin\/?$/ },
];

/**
 * Explicit `--pg-bin`; else, for an existing data directory, the binaries of its own major version
 * where Debian or PGDG put them; else `pg_config --bindir`, else the newest Debian or PGDG install.
 * A data directory of another major version than the binaries is refused here rather than by the
 * postmaster, which would only fail again at every restart.
 *
 * Every program run here delays the postmaster (on Debian `pg_config` is a shell script that runs
 * three more): none is run when the directory's layout tells its major version, which is the
 * case on every warm start from Debian's or PGDG's packages.
 */
export async function findBinaries(explicit: string | undefined, pgdata?: string): Promise<PgBinaries> {
  const dataMajor = pgdata === undefined ? undefined : dataDirMajor(pgdata);
  const ownLayout = dataMajor === undefined ? [] : LAYOUTS.map((layout) => layout.bin(dataMajor));
  const dir =
    explicit !== undefined
      ? firstWithServer([explicit])
      : (firstWithServer(ownLayout) ?? firstWithServer(await discoverCandidates()));
  if (dir === undefined) {
    const where =
      explicit !== undefined ? `--pg-bin ${explicit}` : `pg_config, /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin`;
    throw new UsageError(`PostgreSQL server binaries not found (looked in ${where}): ${INSTALL_HINT}`);
  }
  const major = majorFromLayout(dir) ?? (await majorFromServer(dir));
  if (dataMajor !== undefined && major !== dataMajor) {
    throw new UsageError(
      `--pgdata ${pgdata}: a PostgreSQL ${dataMajor} data directory, but ${dir} holds PostgreSQL ${major}; ` +
        `pass --pg-bin with PostgreSQL ${dataMajor}'s binaries`,
    );
  }
  return { dir, major, path: (program) => path.join(dir, program) };
}

function majorFromLayout(dir: string): number | undefined {
  for (const layout of LAYOUTS) {
    const match = layout.major.exec(dir);
    if (match) return Number(match[1]);
  }
  return undefined;
}

async function majorFromServer(dir: string): Promise<number> {
  return Number.parseInt(await serverVersion(dir), 10);
}

/** The server's version as `postgres -V` prints it, e.g. `15.14 (Debian 15.14-0+deb12u1)`. */
export async function serverVersion(dir: string): Promise<string> {
  const { stdout } = await execFileAsync(path.join(dir, 'postgres'), ['-V']);
  const match = /\(PostgreSQL\) (\d+.*)$/m.exec(stdout);
  if (!match) throw new UsageError(`${dir}/postgres -V printed "${stdout.trim()}", not a PostgreSQL version`);
  return match[1]!.trim();
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
    .filter(
      (entry): entry is { bin: string; version: number } => entry.bin !== undefined && !Number.isNaN(entry.version),
    )
    .sort((a, b) => b.version - a.version)
    .map((entry) => entry.bin);
}

function firstWithServer(dirs: string[]): string | undefined {
  return dirs.find((dir) => isExecutable(path.join(dir, 'postgres')));
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

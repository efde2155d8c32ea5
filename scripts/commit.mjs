// The commit the build writes into the executable (src/version.ts's COMMIT, see scripts/bundle.mjs).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/**
 * The commit of the sources, `-dirty` when what the executable is built from differs from it; where there is no git
 * checkout (the image's build stage), the REVISION build argument; else "unknown".
 */
export function sourceCommit() {
  const git = (...args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  const head = git('rev-parse', 'HEAD');
  if (head.status !== 0) return process.env.REVISION || 'unknown';
  // Only what goes into the executable counts: an edited README does not make a build dirty.
  const dirty =
    git(
      'status',
      '--porcelain',
      '--untracked-files=no',
      '--',
      'src',
      'bin',
      'scripts',
      'package.json',
      'package-lock.json',
    ).stdout.trim() !== '';
  return `${head.stdout.trim()}${dirty ? '-dirty' : ''}`;
}

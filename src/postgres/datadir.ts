import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';

export type DataDirState = 'missing' | 'empty' | 'cluster';

/** What is at PGDATA; refuses a directory that holds something other than a data directory. */
export function inspectDataDir(pgdata: string): DataDirState {
  let entries: string[];
  try {
    entries = fs.readdirSync(pgdata);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTDIR') throw new UsageError(`--pgdata ${pgdata}: not a directory`);
    throw new UsageError(`--pgdata ${pgdata}: cannot be read (${code})`);
  }
  if (entries.length === 0) return 'empty';
  if (entries.includes('PG_VERSION') && entries.includes('global')) return 'cluster';
  throw new UsageError(
    `--pgdata ${pgdata}: not empty and not a PostgreSQL data directory ` +
      `(found ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''})`,
  );
}

/**
 * The major version a data directory belongs to (its PG_VERSION), or undefined when there is none
 * to read or it predates PostgreSQL 10's one-number versions.
 */
export function dataDirMajor(pgdata: string): number | undefined {
  const text = readIfThere(path.join(pgdata, 'PG_VERSION'));
  if (text === undefined) return undefined;
  const match = /^(\d+)\s*$/.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** Creates PGDATA (mode 0700) or checks that it can be written; names the flag when it cannot. */
export function ensureWritableDataDir(pgdata: string): void {
  try {
    // Parents stay traversable: a 0700 parent owned by root would lock the PostgreSQL user out.
    fs.mkdirSync(path.dirname(pgdata), { recursive: true, mode: 0o755 });
    fs.mkdirSync(pgdata, { recursive: true, mode: 0o700 });
    fs.accessSync(pgdata, fs.constants.W_OK);
  } catch (error) {
    throw new UsageError(`--pgdata ${pgdata}: not writable (${(error as NodeJS.ErrnoException).code})`);
  }
}

export interface PostmasterPidFile {
  pid: number;
  dataDir: string;
  /** `starting`, `stopping`, `ready` or `standby` (PostgreSQL 10+). */
  status: string | undefined;
}

export function readPostmasterPid(pgdata: string): PostmasterPidFile | undefined {
  const text = readIfThere(path.join(pgdata, 'postmaster.pid'));
  if (text === undefined) return undefined;
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, dataDir: lines[1] ?? '', status: lines[7]?.trim() || undefined };
}

/**
 * A postmaster.pid left by a crash names a pid that, in a container, is often reused by an
 * unrelated process (even the manager itself as PID 1), which makes PostgreSQL refuse to start.
 * The file is stale unless that pid is a postgres process whose working directory is this PGDATA.
 * Returns the pid of a live postmaster, or undefined after removing a stale file.
 */
export function clearStalePostmasterPid(pgdata: string): {
  livePid: number | undefined;
  removedStalePid: number | undefined;
} {
  const file = readPostmasterPid(pgdata);
  if (!file) return { livePid: undefined, removedStalePid: undefined };
  if (isPostmasterOf(file.pid, pgdata)) return { livePid: file.pid, removedStalePid: undefined };
  fs.rmSync(path.join(pgdata, 'postmaster.pid'), { force: true });
  return { livePid: undefined, removedStalePid: file.pid };
}

function isPostmasterOf(pid: number, pgdata: string): boolean {
  if (pid === process.pid) return false;
  try {
    const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    if (comm !== 'postgres' && comm !== 'postmaster') return false;
    return fs.realpathSync(`/proc/${pid}/cwd`) === fs.realpathSync(pgdata);
  } catch {
    // Gone, or not ours to inspect: a process we cannot see is not a postmaster on our volume.
    return false;
  }
}

/** A file of the data directory that may be missing (or unreadable, which means the same here). */
function readIfThere(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

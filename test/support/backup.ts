/** A POSIX pgBackRest repository in a scratch directory, and pgBackRest run by hand against it. */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Manager } from './manager.js';
import { waitUntil } from './replication.js';

const execFileAsync = promisify(execFile);

export interface Repository {
  dir: string;
  /** The --backup-repo file. */
  optionsFile: string;
}

/** A repository directory the postgres user owns, and its options file. */
export function makeRepository(parent: string, extra: string[] = []): Repository {
  const dir = path.join(parent, 'repository');
  fs.mkdirSync(dir, { mode: 0o750 });
  fs.chownSync(dir, postgresUid(), postgresGid());
  const optionsFile = path.join(parent, 'backup-repo.conf');
  fs.writeFileSync(
    optionsFile,
    ['# test repository', `repo1-path=${dir}`, 'repo1-retention-full=4', ...extra, ''].join('\n'),
  );
  return { dir, optionsFile };
}

/** pgbackrest as the postgres user with a manager's rendered config; resolves with stdout, rejects with stderr. */
export async function pgbackrestByHand(runDir: string, stanza: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        'pgbackrest',
        `--config=${path.join(runDir, 'pgbackrest', 'pgbackrest.conf')}`,
        `--stanza=${stanza}`,
        '--log-level-console=warn',
        ...args,
      ],
      {
        cwd: '/',
      },
    );
    return stdout;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`pgbackrest ${args.join(' ')} failed: ${failed.stdout ?? ''}${failed.stderr ?? failed.message}`);
  }
}

/** The WAL segment names in a stanza's archive, sorted (history files and backup labels left out). */
export function archivedSegments(repositoryDir: string, stanza: string): string[] {
  const archive = path.join(repositoryDir, 'archive', stanza);
  const names: string[] = [];
  for (const database of fs.readdirSync(archive).filter((name) => /^\d+-\d+$/.test(name))) {
    for (const group of fs.readdirSync(path.join(archive, database)).filter((name) => /^[0-9A-F]{16}$/.test(name))) {
      for (const file of fs.readdirSync(path.join(archive, database, group))) {
        const match = /^([0-9A-F]{24})-[0-9a-f]{40}/.exec(file);
        if (match && !file.includes('.backup')) names.push(match[1]!);
      }
    }
  }
  return names.sort();
}

/**
 * Archiving resumes after a failure: `insert` and a WAL switch make a new segment, which wakes the
 * archiver (it otherwise retries only after its one-minute sleep); resolves once a segment past
 * `stuckSegment` is archived and the manager said so (in a line after `linesAfter`).
 */
export async function waitForArchivingToResume(
  primary: Manager,
  insert: string,
  stuckSegment: string,
  linesAfter = 0,
): Promise<void> {
  await primary.psql(insert);
  await primary.psql('SELECT pg_switch_wal()');
  await waitUntil(
    'archiving resumes',
    async () => (await primary.psql('SELECT last_archived_wal FROM pg_stat_archiver')) > stuckSegment,
    120_000,
  );
  await primary.waitForMessage('WAL archiving works again', 30_000, linesAfter);
}

/** Segments missing between the first and the last of one timeline (16 MiB segments: 256 per log id). */
export function gapsIn(segments: string[]): string[] {
  const position = (name: string) => parseInt(name.slice(8, 16), 16) * 256 + parseInt(name.slice(16, 24), 16);
  const sorted = [...new Set(segments)].sort();
  const missing: string[] = [];
  for (let i = 1; i < sorted.length; i++) {
    for (let p = position(sorted[i - 1]!) + 1; p < position(sorted[i]!); p++) {
      missing.push(
        `${sorted[i]!.slice(0, 8)}${Math.floor(p / 256)
          .toString(16)
          .toUpperCase()
          .padStart(8, '0')}${(p % 256).toString(16).toUpperCase().padStart(8, '0')}`,
      );
    }
  }
  return missing;
}

function postgresUid(): number {
  return Number(passwdEntry()[2]);
}

function postgresGid(): number {
  return Number(passwdEntry()[3]);
}

function passwdEntry(): string[] {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  if (!line) throw new Error('no postgres user in /etc/passwd');
  return line.split(':');
}

/**
 * `instance-manager backup [--type T] [--wait]`: asks the local instance for a backup (POST
 * /pg/backup with the operator's client certificate) and, with --wait, follows it to its end with a
 * progress line. Exit 1 when the backup failed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { isBackupType, type BackupRecord } from '../backup/index.js';
import { UsageError } from '../errors.js';
import { callStatusApi, type ClientFlags } from './client.js';
import { withClientOptions } from './operator.js';

interface BackupFlags extends ClientFlags {
  type: string;
  wait?: boolean;
}

interface BackupState {
  running: BackupRecord | null;
  last: BackupRecord | null;
}

const POLL_MS = 1_000;

export function backupCommand(): Command {
  const command = new Command('backup')
    .description('take a backup of the local instance through pgBackRest (POST /pg/backup)')
    .option('--type <type>', 'full, diff or incr (incr becomes full when no full exists)', 'incr')
    .option('--wait', 'follow the backup until it ends; exit 1 when it failed');
  return withClientOptions(command).action(async (flags: BackupFlags) => {
    if (!isBackupType(flags.type)) throw new UsageError(`--type: "${flags.type}" is not one of full, diff, incr`);
    const started = JSON.parse(await expect(flags, 'POST', 202, { type: flags.type })) as BackupRecord;
    process.stdout.write(`${started.type} backup started at ${started.startedAt}\n`);
    if (!flags.wait) return;
    const last = await follow(flags, started.id);
    process.stdout.write(`${formatBackup(last)}\n`);
    if (last.error !== null) process.exitCode = 1;
  });
}

/** The body of an answer with that status; any other answer is an error that quotes it. */
async function expect(flags: ClientFlags, method: 'GET' | 'POST', status: number, body?: unknown): Promise<string> {
  const answer = await callStatusApi(flags, '/pg/backup', { method, body });
  if (answer.status !== status) throw new Error(`${method} /pg/backup answered ${answer.status}: ${answer.body}`);
  return answer.body;
}

/** Polls GET /pg/backup until the backup with that id is the last one. */
async function follow(flags: ClientFlags, id: string): Promise<BackupRecord> {
  const began = Date.now();
  const interactive = process.stderr.isTTY;
  for (let polls = 0; ; polls++) {
    const state = JSON.parse(await expect(flags, 'GET', 200)) as BackupState;
    if (state.last?.id === id) {
      if (interactive) process.stderr.write('\n');
      return state.last;
    }
    const line = `running for ${Math.round((Date.now() - began) / 1000)} s`;
    // A terminal gets the line rewritten in place; a log (a Job's output) a line every 10 s.
    if (interactive) process.stderr.write(`\r${line}`);
    else if (polls % 10 === 0) process.stderr.write(`${line}\n`);
    await sleep(POLL_MS);
  }
}

export function formatBackup(backup: BackupRecord): string {
  const what = `${backup.type} backup ${backup.label ?? '(no label)'}`;
  if (backup.error !== null) return `${what} failed: ${backup.error}`;
  const size = backup.sizeBytes === null ? '' : `, ${(backup.sizeBytes / 2 ** 20).toFixed(1)} MiB`;
  const wal = `WAL ${backup.walStart ?? '?'} to ${backup.walStop ?? '?'}`;
  return `${what} finished at ${backup.stoppedAt ?? '?'}${size}, ${wal}`;
}

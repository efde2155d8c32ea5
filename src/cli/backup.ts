/**
 * `instance-manager backup [--type T] [--wait]`: asks the local instance for a backup (POST
 * /pg/backup with the operator's client certificate) and, with --wait, follows it to its end with a
 * progress line. Exit 1 when the backup failed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { isBackupType, type BackupRecord } from '../backup/index.js';
import { UsageError } from '../errors.js';
import { callApiExpecting, defaultApiUrl, type ApiFlags } from './api-client.js';

interface BackupFlags extends ApiFlags {
  type: string;
  wait?: boolean;
}

interface BackupState {
  running: BackupRecord | null;
  last: BackupRecord | null;
}

const POLL_MS = 1_000;

export function backupCommand(): Command {
  return new Command('backup')
    .description('take a backup of the local instance through pgBackRest (POST /pg/backup)')
    .option('--type <type>', 'full, diff or incr (incr becomes full when no full exists)', 'incr')
    .option('--wait', 'follow the backup until it ends; exit 1 when it failed')
    .option('--url <url>', 'status API address (port: IM_STATUS_PORT, else 8000)', defaultApiUrl())
    .option('--cert <file>', "the operator's client certificate (PEM)")
    .option('--key <file>', 'key of the client certificate (PEM)')
    .option('--ca <file>', 'CA of the server certificate (default: certificates/server-ca.crt of the run dir)')
    .action(async (flags: BackupFlags) => {
      if (!isBackupType(flags.type)) throw new UsageError(`--type: "${flags.type}" is not one of full, diff, incr`);
      const answer = await callApiExpecting(flags, '/pg/backup', [202], 'POST', JSON.stringify({ type: flags.type }));
      const started = JSON.parse(answer) as BackupRecord;
      process.stdout.write(`${started.type} backup started at ${started.startedAt}\n`);
      if (!flags.wait) return;
      const last = await follow(flags, started.id);
      process.stdout.write(`${formatBackup(last)}\n`);
      if (last.error !== null) process.exitCode = 1;
    });
}

/** Polls GET /pg/backup until the backup with that id is the last one. */
async function follow(flags: ApiFlags, id: string): Promise<BackupRecord> {
  const began = Date.now();
  const interactive = process.stderr.isTTY;
  for (let polls = 0; ; polls++) {
    const state = JSON.parse(await callApiExpecting(flags, '/pg/backup', [200])) as BackupState;
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

/** The `run` flags of backups and restore: declared and resolved here so run.ts only adds them. */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { checkStanzaName, clusterNameFromPod, type RecoveryTarget } from '../backup/index.js';
import { UsageError } from '../errors.js';
import { parseSwitch } from './parse.js';
import type { BackupOptions } from '../instance/options.js';

export interface BackupFlags {
  backupRepo?: string;
  clusterName?: string;
  restoreFromBackup?: boolean;
  restoreSet?: string;
  restoreFromCluster?: string;
  recoveryTargetTime?: string;
  recoveryTargetLsn?: string;
  recoveryTargetName?: string;
}

const VALUED_FLAGS: [flags: string, description: string, env: string][] = [
  ['--backup-repo <file>', 'pgBackRest repository options (key=value lines), watched', 'IM_BACKUP_REPO'],
  ['--cluster-name <name>', 'the pgBackRest stanza (default: the pod name without -<ordinal>)', 'IM_CLUSTER_NAME'],
  ['--restore-set <label>', 'the backup to restore (default: the latest)', 'IM_RESTORE_SET'],
  ['--restore-from-cluster <name>', "restore from another cluster's stanza", 'IM_RESTORE_FROM_CLUSTER'],
  ['--recovery-target-time <time>', 'replay the archive up to this time, with its offset', 'IM_RECOVERY_TARGET_TIME'],
  ['--recovery-target-lsn <lsn>', 'replay the archive up to this LSN', 'IM_RECOVERY_TARGET_LSN'],
  ['--recovery-target-name <name>', 'replay the archive up to this restore point', 'IM_RECOVERY_TARGET_NAME'],
];

export function addBackupFlags(command: Command): Command {
  for (const [flags, description, env] of VALUED_FLAGS) command.addOption(new Option(flags, description).env(env));
  // An on/off flag is not .env(): commander would turn it on for IM_RESTORE_FROM_BACKUP=false too.
  const restore = 'restore an empty PGDATA from the repository, then promote (env: IM_RESTORE_FROM_BACKUP)';
  return command.addOption(new Option('--restore-from-backup', restore));
}

export function resolveBackupOptions(
  flags: BackupFlags,
  podName: string,
  replica: boolean,
  env: NodeJS.ProcessEnv = {},
): BackupOptions | undefined {
  const fromEnv = parseSwitch('IM_RESTORE_FROM_BACKUP', env.IM_RESTORE_FROM_BACKUP);
  const fromBackup = flags.restoreFromBackup === true || fromEnv;
  const restoreAsked = fromBackup || flags.restoreFromCluster !== undefined;
  if (restoreAsked && replica) {
    throw new UsageError('--restore-from-backup and --replica-of exclude each other: a replica clones its primary');
  }
  const target = recoveryTarget(flags);
  if (flags.backupRepo === undefined) {
    const stray = [
      restoreAsked && '--restore-from-backup',
      target !== undefined && '--recovery-target-*',
      flags.restoreSet !== undefined && '--restore-set',
    ].find((name) => name !== false);
    if (stray !== undefined) throw new UsageError(`${stray} needs --backup-repo`);
    return undefined;
  }
  if (!restoreAsked && (target !== undefined || flags.restoreSet !== undefined)) {
    const needing = target !== undefined ? '--recovery-target-*' : '--restore-set';
    throw new UsageError(`${needing} needs --restore-from-backup`);
  }
  const clusterName = checkStanzaName(flags.clusterName ?? clusterNameFromPod(podName), '--cluster-name');
  return {
    repoFile: path.resolve(flags.backupRepo),
    clusterName,
    restore: restoreAsked
      ? {
          sourceStanza:
            flags.restoreFromCluster === undefined
              ? clusterName
              : checkStanzaName(flags.restoreFromCluster, '--restore-from-cluster'),
          set: flags.restoreSet,
          target,
        }
      : undefined,
  };
}

function recoveryTarget(flags: BackupFlags): RecoveryTarget | undefined {
  const given: RecoveryTarget[] = [];
  if (flags.recoveryTargetTime !== undefined) {
    if (Number.isNaN(Date.parse(flags.recoveryTargetTime))) {
      throw new UsageError(`--recovery-target-time: "${flags.recoveryTargetTime}" is not a time`);
    }
    given.push({ kind: 'time', value: flags.recoveryTargetTime });
  }
  if (flags.recoveryTargetLsn !== undefined) {
    if (!/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i.test(flags.recoveryTargetLsn)) {
      throw new UsageError(`--recovery-target-lsn: "${flags.recoveryTargetLsn}" is not an LSN`);
    }
    given.push({ kind: 'lsn', value: flags.recoveryTargetLsn });
  }
  if (flags.recoveryTargetName !== undefined) given.push({ kind: 'name', value: flags.recoveryTargetName });
  if (given.length > 1) {
    throw new UsageError('--recovery-target-time, --recovery-target-lsn and --recovery-target-name exclude each other');
  }
  return given[0];
}

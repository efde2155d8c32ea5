import type { RecoveryTarget } from '../backup/index.js';
import type { Level } from '../log.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Everything `instance-manager run` was told, after flags, environment and defaults were merged. */
export interface RunOptions {
  pgdata: string;
  runDir: string;
  secretsDir: string;
  /** Undefined: discover (`pg_config --bindir`, else the newest `/usr/lib/postgresql/<n>/bin`). */
  pgBin: string | undefined;
  port: number;
  listen: string;
  /** 0 disables the status API. */
  statusPort: number;
  statusInsecure: boolean;
  operatorNames: string[];
  replicaOf: HostPort | undefined;
  serverNames: string[];
  configFile: string | undefined;
  /** ALTER SYSTEM works, for the default settings only (fixed ones stay on the command line). */
  allowAlterSystem: boolean;
  hbaFile: string | undefined;
  /** The application database created on a primary; undefined (`--app-database ''`): none. */
  appDatabase: string | undefined;
  /** Its owner, a plain LOGIN role whose password comes from `app-user/` or is generated. */
  appOwner: string;
  /** `--roles`: the declared roles, watched. */
  rolesFile: string | undefined;
  /** postgres_exporter-format queries served on /metrics beside the defaults; re-read when it changes. */
  metricsQueriesFile: string | undefined;
  metricsQueryTimeoutSeconds: number;
  podName: string;
  user: string;
  smartShutdownTimeoutSeconds: number;
  stopTimeoutSeconds: number;
  logLevel: Level;
  /** Backups and WAL archiving through pgBackRest; undefined without --backup-repo. */
  backup: BackupOptions | undefined;
}

export interface BackupOptions {
  /** The --backup-repo file: repository options, watched. */
  repoFile: string;
  /** The stanza this instance archives to. */
  clusterName: string;
  /** --restore-from-backup: what an empty PGDATA is restored from. */
  restore: { sourceStanza: string; set: string | undefined; target: RecoveryTarget | undefined } | undefined;
}

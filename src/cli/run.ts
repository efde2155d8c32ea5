import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import type { RunOptions } from '../instance/options.js';
import { parseLevel } from '../log.js';
import { addBackupFlags, resolveBackupOptions, type BackupFlags } from './backup-flags.js';
import { parseHostPort, parseList, parseListen, parsePort, parseSeconds, parseSqlName, parseSwitch } from './parse.js';

interface RunFlags extends BackupFlags {
  pgdata: string;
  runDir: string;
  secretsDir: string;
  pgBin?: string;
  port: string;
  listen: string;
  statusPort: string;
  statusInsecure: boolean;
  operatorNames: string;
  replicaOf?: string;
  serverName?: string;
  config?: string;
  allowAlterSystem: boolean;
  hba?: string;
  appDatabase: string;
  appOwner: string;
  roles?: string;
  metricsQueries?: string;
  metricsQueryTimeout: string;
  podName?: string;
  user: string;
  smartShutdownTimeout: string;
  stopTimeout: string;
  logLevel: string;
}

export function runCommand(start: (options: RunOptions) => Promise<number>): Command {
  const flag = (flags: string, description: string, env: string, fallback?: string) => {
    const option = new Option(flags, description).env(env);
    return fallback === undefined ? option : option.default(fallback);
  };
  const command = new Command('run')
    .description('start and supervise PostgreSQL (the container entrypoint)')
    .addOption(flag('--pgdata <dir>', 'data directory', 'PGDATA', '/var/lib/postgresql/data/pgdata'))
    .addOption(flag('--run-dir <dir>', 'manager-owned scratch directory', 'IM_RUN_DIR', '/controller'))
    .addOption(
      flag('--secrets-dir <dir>', 'mounted Kubernetes Secrets', 'IM_SECRETS_DIR', '/etc/instance-manager/secrets'),
    )
    .addOption(flag('--pg-bin <dir>', 'PostgreSQL binaries', 'IM_PG_BIN'))
    .addOption(flag('--port <n>', 'PostgreSQL TCP port', 'IM_PORT', '5432'))
    .addOption(flag('--listen <addrs>', 'listen_addresses', 'IM_LISTEN', '*'))
    .addOption(flag('--status-port <n>', 'HTTPS status API port, 0 disables', 'IM_STATUS_PORT', '8000'))
    // On/off flags are not .env(): commander would turn them on for VARIABLE=false too (see resolveRunOptions).
    .addOption(
      new Option(
        '--status-insecure',
        'plain HTTP status API, for local debugging only (env: IM_STATUS_INSECURE)',
      ).default(false),
    )
    .addOption(
      flag(
        '--operator-names <names>',
        'client-certificate CNs allowed to call operator actions',
        'IM_OPERATOR_NAMES',
        'instance-manager-operator',
      ),
    )
    .addOption(flag('--replica-of <host[:port]>', 'run as a streaming replica of that primary', 'IM_REPLICA_OF'))
    .addOption(flag('--server-name <names>', 'DNS names and IPs for issued server certificates', 'IM_SERVER_NAME'))
    .addOption(flag('--config <file>', 'extra postgresql.conf parameters, watched', 'IM_CONFIG'))
    .addOption(
      new Option(
        '--allow-alter-system',
        'ALTER SYSTEM for the default settings only (env: IM_ALLOW_ALTER_SYSTEM)',
      ).default(false),
    )
    .addOption(flag('--hba <file>', 'user pg_hba rules, watched', 'IM_HBA'))
    .addOption(flag('--app-database <name>', "app database made on a primary, '' for none", 'IM_APP_DATABASE', 'app'))
    .addOption(flag('--app-owner <name>', 'owner of the application database, a LOGIN role', 'IM_APP_OWNER', 'app'))
    .addOption(flag('--roles <file>', 'declared roles (YAML), watched', 'IM_ROLES'))
    .addOption(
      flag(
        '--metrics-queries <file>',
        'custom /metrics queries (postgres_exporter format), watched',
        'IM_METRICS_QUERIES',
      ),
    )
    .addOption(
      flag('--metrics-query-timeout <s>', 'statement timeout of /metrics queries', 'IM_METRICS_QUERY_TIMEOUT', '5'),
    )
    .addOption(flag('--pod-name <name>', 'logging_pod on every log line', 'POD_NAME'))
    .addOption(flag('--user <name>', 'OS user running PostgreSQL when started as root', 'IM_USER', 'postgres'))
    .addOption(
      flag('--smart-shutdown-timeout <s>', 'seconds of smart shutdown before fast', 'IM_SMART_SHUTDOWN_TIMEOUT', '180'),
    )
    .addOption(flag('--stop-timeout <s>', 'seconds of fast shutdown before immediate', 'IM_STOP_TIMEOUT', '1800'))
    .addOption(flag('--log-level <level>', 'error, warning, info or debug', 'IM_LOG_LEVEL', 'info'));
  return addBackupFlags(command).action(async (flags: RunFlags) => {
    process.exitCode = await start(resolveRunOptions(flags));
  });
}

export function resolveRunOptions(flags: RunFlags, env: NodeJS.ProcessEnv = process.env): RunOptions {
  const logLevel = parseLevel(flags.logLevel);
  if (!logLevel) throw new UsageError(`--log-level: "${flags.logLevel}" is not one of error, warning, info, debug`);
  const hostname = os.hostname();
  const serverNames = flags.serverName === undefined ? [hostname] : parseList('--server-name', flags.serverName);
  const podName = flags.podName ?? hostname;
  return {
    pgdata: path.resolve(flags.pgdata),
    runDir: path.resolve(flags.runDir),
    secretsDir: path.resolve(flags.secretsDir),
    pgBin: flags.pgBin === undefined ? undefined : path.resolve(flags.pgBin),
    port: parsePort('--port', flags.port, false),
    listen: parseListen('--listen', flags.listen),
    statusPort: parsePort('--status-port', flags.statusPort, true),
    statusInsecure: flags.statusInsecure || parseSwitch('IM_STATUS_INSECURE', env.IM_STATUS_INSECURE),
    operatorNames: parseList('--operator-names', flags.operatorNames),
    replicaOf: flags.replicaOf === undefined ? undefined : parseHostPort('--replica-of', flags.replicaOf),
    serverNames,
    configFile: flags.config === undefined ? undefined : path.resolve(flags.config),
    allowAlterSystem: flags.allowAlterSystem || parseSwitch('IM_ALLOW_ALTER_SYSTEM', env.IM_ALLOW_ALTER_SYSTEM),
    hbaFile: flags.hba === undefined ? undefined : path.resolve(flags.hba),
    appDatabase:
      flags.appDatabase === ''
        ? undefined
        : parseSqlName('--app-database', flags.appDatabase, ['postgres', 'template0', 'template1']),
    appOwner: parseSqlName('--app-owner', flags.appOwner, ['postgres', 'streaming_replica', 'metrics_monitor']),
    rolesFile: flags.roles === undefined ? undefined : path.resolve(flags.roles),
    metricsQueriesFile: flags.metricsQueries === undefined ? undefined : path.resolve(flags.metricsQueries),
    metricsQueryTimeoutSeconds: parseSeconds('--metrics-query-timeout', flags.metricsQueryTimeout),
    podName,
    user: flags.user,
    smartShutdownTimeoutSeconds: parseSeconds('--smart-shutdown-timeout', flags.smartShutdownTimeout),
    stopTimeoutSeconds: parseSeconds('--stop-timeout', flags.stopTimeout),
    logLevel,
    backup: resolveBackupOptions(flags, podName, flags.replicaOf !== undefined, env),
  };
}

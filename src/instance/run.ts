import path from 'node:path';
import { createLogger, OutputSink, type Logger } from '../log.js';
import { findBinaries } from '../postgres/index.js';
import { resolveRunAs, startOrphanReaper, stopAllPrograms } from '../process/index.js';
import { CERTIFICATE_FILES, certificateCopyPath } from '../secrets/index.js';
import type { StatusServer } from '../status/index.js';
import { Instance } from './instance.js';
import type { RunOptions } from './options.js';
import { InstanceStatusSource } from './status-source.js';

/**
 * `instance-manager run`: resolves to the process exit code (0 clean stop, 1 runtime failure);
 * bad input throws a UsageError before anything is started.
 *
 * PostgreSQL comes first: everything the postmaster does not need (the status API and its metrics,
 * the input watchers) starts once it is spawned, so a restarted pod serves again as soon as
 * PostgreSQL itself can. Only initdb and a clone, which take seconds to minutes, get the status
 * API before them, so the kubelet's liveness probe is answered through a long first start.
 */
export async function runInstance(options: RunOptions): Promise<number> {
  const sink = new OutputSink();
  const logger = createLogger({ sink, pod: options.podName, level: options.logLevel });
  let status: StatusServer | undefined;
  // Before anything is spawned: the postmaster's descendants must already have a subreaper to come to.
  const reaper = startOrphanReaper(logger);
  try {
    const runAs = resolveRunAs(options.user);
    const bin = await findBinaries(options.pgBin, options.pgdata);
    logger.info('instance-manager starting', {
      pid: process.pid,
      pgdata: options.pgdata,
      pgBin: bin.dir,
      pgMajor: bin.major,
      runAs: runAs.name,
    });
    const instance = new Instance({
      options,
      logger,
      bin,
      runAs,
      sink,
      onCertificatesChanged: () => status?.refreshTls(),
    });
    let statusStarted: Promise<void> | undefined;
    // Down last, so probes see the whole shutdown.
    const startStatus = () =>
      (statusStarted ??= startStatusServer(options, instance, sink, logger).then((server) => {
        status = server;
      }));

    const onStop = (signal: NodeJS.Signals) => instance.requestStop(signal);
    const onHangup = () => void instance.reload('SIGHUP', true);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', onHangup);

    await instance.prepare(startStatus);
    const supervision = instance.supervise();
    await Promise.race([instance.firstSpawn, supervision]);
    try {
      await startStatus();
    } catch (error) {
      // PostgreSQL runs already: it is stopped in order before the failure is reported.
      instance.requestStop('the status API could not start');
      await supervision;
      throw error;
    }
    const stopWatching = instance.watchInputs();
    let code: number;
    try {
      code = await supervision;
    } finally {
      // Also when the first start was refused: open watchers would keep the process alive.
      await stopWatching();
    }
    logger.info('instance-manager exiting', { exitCode: code, restarts: instance.restarts });
    // Every exit but a clean stop says why on stderr, in one line.
    if (code !== 0) throw new Error(instance.failure ?? 'PostgreSQL stopped with a failure; see the log');
    return code;
  } finally {
    await status?.stop();
    const stopped = await stopAllPrograms();
    if (stopped.length > 0) logger.warning('stopped programs still running on the way out', { processGroups: stopped });
    reaper?.stop();
    await sink.flush();
  }
}

/** Loaded when started: the status API's module graph (prom-client and its metrics) is the largest after pg's. */
async function startStatusServer(
  options: RunOptions,
  instance: Instance,
  sink: OutputSink,
  logger: Logger,
): Promise<StatusServer | undefined> {
  if (options.statusPort === 0) return undefined;
  const { StatusServer } = await import('../status/index.js');
  const server = new StatusServer({
    port: options.statusPort,
    insecure: options.statusInsecure,
    operatorNames: options.operatorNames,
    source: new InstanceStatusSource(instance, sink, logger),
    logger,
    postgresMetrics: {
      queriesFile: options.metricsQueriesFile,
      queryTimeoutMs: options.metricsQueryTimeoutSeconds * 1_000,
    },
  });
  await server.start();
  logger.info('call the status API', { command: statusCommandLine(options) });
  return server;
}

/** What a person types to read /pg/status of this instance from where it runs, flags spelt out. */
function statusCommandLine(options: RunOptions): string {
  const program = process.argv[1] ?? 'instance-manager';
  const scheme = options.statusInsecure ? 'http' : 'https';
  const caFile = path.resolve(certificateCopyPath(options.runDir, CERTIFICATE_FILES.serverCa));
  const ca = options.statusInsecure ? [] : ['--ca', caFile];
  return [program, 'status', '--url', `${scheme}://localhost:${options.statusPort}`, ...ca].map(shellWord).join(' ');
}

function shellWord(word: string): string {
  return /^[\w./:=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

import { createLogger, OutputSink } from '../log.js';
import { findBinaries } from '../postgres/index.js';
import { resolveRunAs, startOrphanReaper } from '../process/index.js';
import { StatusServer } from '../status/index.js';
import { Instance } from './instance.js';
import type { RunOptions } from './options.js';
import { InstanceStatusSource } from './status-source.js';

/**
 * `instance-manager run`: resolves to the process exit code (0 clean stop, 1 runtime failure);
 * bad input throws a UsageError before anything is started.
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
    logger.info('instance-manager starting', { pid: process.pid, pgdata: options.pgdata, pgBin: bin.dir, pgMajor: bin.major, runAs: runAs.name });
    const instance = new Instance({ options, logger, bin, runAs, sink, onCertificatesChanged: () => status?.refreshTls() });

    const onStop = (signal: NodeJS.Signals) => instance.requestStop(signal);
    const onHangup = () => void instance.reload('SIGHUP', true);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', onHangup);

    // Up before initdb so the kubelet's liveness probe is answered through a long first start;
    // down last, so probes see the whole shutdown.
    if (options.statusPort !== 0) {
      status = new StatusServer({
        port: options.statusPort,
        insecure: options.statusInsecure,
        operatorNames: options.operatorNames,
        source: new InstanceStatusSource(instance, sink, logger),
        logger,
      });
      await status.start();
    }
    await instance.prepare();
    const stopWatching = instance.watchInputs();
    const code = await instance.supervise();
    await stopWatching();
    logger.info('instance-manager exiting', { exitCode: code, restarts: instance.restarts });
    return code;
  } finally {
    await status?.stop();
    reaper?.stop();
    await sink.flush();
  }
}

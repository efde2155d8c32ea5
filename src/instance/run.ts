import { createLogger, OutputSink } from '../log.js';
import { findBinaries } from '../postgres/index.js';
import { resolveRunAs, startOrphanReaper } from '../process/index.js';
import { Instance } from './instance.js';
import type { RunOptions } from './options.js';

/**
 * `instance-manager run`: resolves to the process exit code (0 clean stop, 1 runtime failure);
 * bad input throws a UsageError before anything is started.
 */
export async function runInstance(options: RunOptions): Promise<number> {
  const sink = new OutputSink();
  const logger = createLogger({ sink, pod: options.podName, level: options.logLevel });
  // Before anything is spawned: the postmaster's descendants must already have a subreaper to come to.
  const reaper = startOrphanReaper(logger);
  try {
    const runAs = resolveRunAs(options.user);
    const bin = await findBinaries(options.pgBin);
    logger.info('instance-manager starting', { pid: process.pid, pgdata: options.pgdata, pgBin: bin.dir, pgMajor: bin.major, runAs: runAs.name });
    const instance = new Instance({ options, logger, bin, runAs });

    const onStop = (signal: NodeJS.Signals) => instance.requestStop(signal);
    const onHangup = () => void instance.reload('SIGHUP', true);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', onHangup);

    await instance.prepare();
    const stopWatching = instance.watchInputs();
    const code = await instance.supervise();
    await stopWatching();
    logger.info('instance-manager exiting', { exitCode: code, restarts: instance.restarts });
    return code;
  } finally {
    reaper?.stop();
    await sink.flush();
  }
}

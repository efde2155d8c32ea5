/**
 * What another instance of the cluster is, asked over the same verified TLS connection a replica
 * streams with (streaming_replica, verify-full): reachable or not, primary or replica, and where it
 * accepted the connection (to find its walreceiver among this primary's walsenders).
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { PgBinaries } from '../postgres/index.js';
import { runProgram, type RunAs } from '../process/index.js';
import { classifyFailure, primaryConninfo, type PrimaryConnection } from '../replication/index.js';

export type TargetFacts =
  | {
      reachable: true;
      inRecovery: boolean;
      postmasterStartTime: string;
      serverAddress: string | null;
      systemIdentifier: string;
      /** The timeline of its last checkpoint: what pg_rewind compares, so a rewind waits for it to move. */
      checkpointTimeline: number;
    }
  | { reachable: false; error: string };

const PROBE_SQL = `SELECT pg_is_in_recovery(), pg_postmaster_start_time()::text, host(inet_server_addr()),
  (SELECT system_identifier::text FROM pg_control_system()), (SELECT timeline_id FROM pg_control_checkpoint())`;

/** Parses psql's `-At -F '|'` line of PROBE_SQL. */
export function parseProbe(line: string): TargetFacts {
  const [recovery, started, address, system, timeline] = line.split('|');
  if (timeline === undefined) return { reachable: false, error: `unexpected answer "${line}"` };
  return {
    reachable: true,
    inRecovery: recovery === 't',
    postmasterStartTime: started!,
    serverAddress: address === '' ? null : address!,
    systemIdentifier: system!,
    checkpointTimeline: Number(timeline),
  };
}

export interface ProbeOptions {
  bin: PgBinaries;
  runAs: RunAs;
  logger: Logger;
  connection: PrimaryConnection;
  signal?: AbortSignal;
}

export async function probeTarget(options: ProbeOptions): Promise<TargetFacts> {
  const { bin, runAs, logger, connection, signal } = options;
  try {
    const [line] = await runProgram(
      bin.path('psql'),
      ['-X', '-At', '-F', '|', '-v', 'ON_ERROR_STOP=1', '-d', primaryConninfo(connection), '-c', PROBE_SQL],
      {
        runAs,
        logger,
        signal,
        stdoutIsData: true,
      },
    );
    return parseProbe(line ?? '');
  } catch (error) {
    const message = errorMessage(error);
    return { reachable: false, error: `${classifyFailure(message).explanation} (${message})` };
  }
}

/**
 * The fields of `pg_controldata` an operator needs to choose a failover target or to check a
 * shutdown: readable while PostgreSQL is down, unlike anything asked over SQL.
 */
import type { Logger } from '../log.js';
import type { PgBinaries } from '../postgres/index.js';
import { runProgram, type RunAs } from '../process/index.js';

export interface ControlData {
  systemIdentifier: string;
  /** `shut down`, `shut down in recovery`, `in production`, `in archive recovery`, ... */
  clusterState: string;
  checkpointLsn: string;
  redoLsn: string;
  timeline: number;
  /** Where a standby's recovery must reach before it is consistent; `0/0` on a primary. */
  minRecoveryEndLsn: string;
}

const FIELDS: Record<keyof ControlData, string> = {
  systemIdentifier: 'Database system identifier',
  clusterState: 'Database cluster state',
  checkpointLsn: 'Latest checkpoint location',
  redoLsn: "Latest checkpoint's REDO location",
  timeline: "Latest checkpoint's TimeLineID",
  minRecoveryEndLsn: 'Minimum recovery ending location',
};

/** Parses pg_controldata's output (LC_ALL=C); throws naming the first field that is missing. */
export function parseControlData(text: string): ControlData {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) values.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const field = (key: keyof ControlData) => {
    const value = values.get(FIELDS[key]);
    if (value === undefined || value === '') throw new Error(`pg_controldata printed no "${FIELDS[key]}"`);
    return value;
  };
  const timeline = Number(field('timeline'));
  if (!Number.isInteger(timeline) || timeline < 1)
    throw new Error(`pg_controldata: "${field('timeline')}" is not a timeline`);
  return {
    systemIdentifier: field('systemIdentifier'),
    clusterState: field('clusterState'),
    checkpointLsn: field('checkpointLsn'),
    redoLsn: field('redoLsn'),
    timeline,
    minRecoveryEndLsn: field('minRecoveryEndLsn'),
  };
}

export async function readControlData(
  bin: PgBinaries,
  pgdata: string,
  runAs: RunAs,
  logger: Logger,
): Promise<ControlData> {
  const lines = await runProgram(bin.path('pg_controldata'), ['-D', pgdata], {
    runAs,
    logger,
    env: { LC_ALL: 'C' },
    stdoutIsData: true,
  });
  return parseControlData(lines.join('\n'));
}

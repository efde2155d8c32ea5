/**
 * The fields of `pg_controldata` an operator needs to choose a failover target or to check a
 * shutdown: readable while PostgreSQL is down, unlike anything asked over SQL.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
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

/** What tells one pg_control from the next without reading it: a rewrite or a replaced file. */
export interface ControlFileStamp {
  mtimeMs: number;
  size: number;
  ino: number;
}

/**
 * The kernel stamps an in-place write with a coarse clock: two writes a few milliseconds apart can
 * leave the same mtime. A finished reading is trusted only for a file that had been still this long.
 */
const SETTLED_MS = 1_000;

/**
 * Whether a reading begun at `readAt` of the file stamped `read` still describes the file now
 * stamped `now`. One still running is shared while the stamp holds: it began after the last change
 * but for one within the same clock tick, and callers after it ends get a new one.
 */
export function stillCurrent(read: ControlFileStamp, readAt: number, running: boolean, now: ControlFileStamp): boolean {
  const unchanged = read.mtimeMs === now.mtimeMs && read.size === now.size && read.ino === now.ino;
  return unchanged && (running || readAt - read.mtimeMs >= SETTLED_MS);
}

interface Reading {
  stamp: ControlFileStamp;
  at: number;
  running: boolean;
  data: Promise<ControlData>;
}

/**
 * pg_controldata, run again only when pg_control changed: the status API asks at every request,
 * and a program per request kept 50 concurrent requests waiting on 50 processes.
 */
export class ControlDataReader {
  private last: Reading | undefined;

  constructor(
    private readonly pgdata: string,
    private readonly run: () => Promise<ControlData>,
  ) {}

  async read(): Promise<ControlData> {
    const at = Date.now();
    let stamp: ControlFileStamp;
    try {
      stamp = await fs.stat(path.join(this.pgdata, 'global', 'pg_control'));
    } catch {
      // No control file to stamp (no cluster yet, or PGDATA replaced): pg_controldata says why.
      return this.run();
    }
    const last = this.last;
    if (last && stillCurrent(last.stamp, last.at, last.running, stamp)) return last.data;
    const reading: Reading = { stamp, at, running: true, data: this.run() };
    this.last = reading;
    reading.data.then(
      () => (reading.running = false),
      // A failed run is not kept: the next caller tries again.
      () => this.last === reading && (this.last = undefined),
    );
    return reading.data;
  }
}

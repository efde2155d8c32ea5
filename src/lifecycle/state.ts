/**
 * The lifecycle state file in PGDATA: what the operator last made of this instance (demoted to a
 * replica of some primary, promoted, fenced). The role on disk is the truth: a manager restarted
 * with its old flags reads this file before it decides how to start PostgreSQL.
 *
 * pg_basebackup and pg_rewind copy PGDATA from another instance, this file included; the file
 * names the pod that wrote it, so such a copy is recognised as someone else's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chownToRunAs, type RunAs } from '../process/index.js';
import type { PrimaryAddress } from '../replication/index.js';

export const STATE_FILE = 'instance-manager.state.json';

export interface FenceRecord {
  /** Who fenced it: an operator's certificate CN, or `demotion` when a rejoin failed. */
  by: string;
  /** RFC 3339. */
  at: string;
  reason: string;
}

export interface LifecycleState {
  /** The pod that wrote the file. */
  pod: string;
  role: 'primary' | 'replica';
  /** The primary a replica follows. */
  primary?: PrimaryAddress;
  /** A demotion that has not yet rejoined (rewound, or recloned, and started as a replica). */
  rejoin?: { reclone: boolean };
  fenced?: FenceRecord;
  /** RFC 3339. */
  updatedAt: string;
}

export class StateFileError extends Error {
  override readonly name = 'StateFileError';
}

export function stateFilePath(pgdata: string): string {
  return path.join(pgdata, STATE_FILE);
}

/** Parses the file's text; throws StateFileError naming the file and the key that is wrong. */
export function parseState(text: string, file: string): LifecycleState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StateFileError(`${file}: not JSON`);
  }
  const bad = (key: string) => new StateFileError(`${file}: "${key}" is missing or invalid`);
  if (typeof value !== 'object' || value === null) throw new StateFileError(`${file}: not a JSON object`);
  const record = value as Record<string, unknown>;
  if (typeof record.pod !== 'string') throw bad('pod');
  if (record.role !== 'primary' && record.role !== 'replica') throw bad('role');
  if (typeof record.updatedAt !== 'string') throw bad('updatedAt');
  const state: LifecycleState = { pod: record.pod, role: record.role, updatedAt: record.updatedAt };
  if (record.primary !== undefined) {
    const primary = record.primary as Record<string, unknown>;
    if (typeof primary?.host !== 'string' || !Number.isInteger(primary.port)) throw bad('primary');
    state.primary = { host: primary.host, port: primary.port as number };
  }
  if (state.role === 'replica' && state.primary === undefined) throw bad('primary');
  if (record.rejoin !== undefined) {
    const rejoin = record.rejoin as Record<string, unknown>;
    if (typeof rejoin?.reclone !== 'boolean') throw bad('rejoin');
    state.rejoin = { reclone: rejoin.reclone };
  }
  if (record.fenced !== undefined) {
    const fenced = record.fenced as Record<string, unknown>;
    if (typeof fenced?.by !== 'string' || typeof fenced.at !== 'string' || typeof fenced.reason !== 'string')
      throw bad('fenced');
    state.fenced = { by: fenced.by, at: fenced.at, reason: fenced.reason };
  }
  return state;
}

export function renderState(state: LifecycleState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

/** The state in `dir` (PGDATA, or a PGDATA set aside), or undefined when there is no file. */
export function readState(dir: string): LifecycleState | undefined {
  const file = stateFilePath(dir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileError(`${file}: cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
  return parseState(text, file);
}

/**
 * Writes the state so that it survives a power loss before the caller acts on it: a temporary
 * file, fsync, rename, fsync of the directory.
 */
export function writeState(dir: string, state: LifecycleState, runAs: RunAs): void {
  const file = stateFilePath(dir);
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temporary, 'w', 0o600);
  try {
    fs.writeSync(fd, renderState(state));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  chownToRunAs(temporary, runAs);
  fs.renameSync(temporary, file);
  const dirFd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

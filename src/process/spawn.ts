import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Logger } from '../log.js';
import { LineSplitter } from './lines.js';
import type { RunAs } from './user.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  runAs: RunAs;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A session of its own: terminal signals (Ctrl-C) then reach the manager only. */
  ownSession?: boolean;
  /** Called with each stdout line after it was logged (unless `stdoutIsData`). */
  onStdoutLine?: (line: string) => void;
  /** The program prints data, not messages (a query result): its stdout is not logged. */
  stdoutIsData?: boolean;
  /** Called with each stderr line after it was logged (to watch for progress, errors). */
  onStderrLine?: (line: string) => void;
  /** Returns true for a stderr line the caller reports itself (a progress meter): it is not logged. */
  consumeStderrLine?: (line: string) => boolean;
  /** Aborting kills the program (SIGTERM); `exited` then rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface Program {
  child: ChildProcess;
  pid: number;
  exited: Promise<Exit>;
}

/**
 * Pids of the children libuv spawned and still waits for. The orphan reaper must leave them alone:
 * reaping one of them would steal its exit status from Node.
 */
const spawnedByManager = new Set<number>();

export function isSpawnedByManager(pid: number): boolean {
  return spawnedByManager.has(pid);
}

/**
 * Starts a program as the PostgreSQL user; each line it prints becomes one JSON log line under the
 * program's name, with `pipe` saying which stream it came from.
 */
export function spawnProgram(file: string, args: readonly string[], options: SpawnOptions): Program {
  const name = path.basename(file);
  const logger = options.logger.named(name);
  const child = spawn(file, args, {
    cwd: options.cwd ?? '/',
    env: programEnvironment(options.runAs, options.env),
    uid: options.runAs.uid,
    gid: options.runAs.gid,
    detached: options.ownSession ?? false,
    signal: options.signal,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (child.pid !== undefined) spawnedByManager.delete(child.pid);
      resolve({ code, signal });
    });
  });
  if (child.pid === undefined) {
    // spawn failed synchronously (ENOENT, EACCES); 'error' carries the reason.
    return { child, pid: -1, exited };
  }
  spawnedByManager.add(child.pid);
  capture(child.stdout!, (line) => {
    if (!options.stdoutIsData) logger.info(line, { pipe: 'stdout' });
    options.onStdoutLine?.(line);
  });
  capture(child.stderr!, (line) => {
    if (options.consumeStderrLine?.(line)) return;
    logger.info(line, { pipe: 'stderr' });
    options.onStderrLine?.(line);
  });
  return { child, pid: child.pid, exited };
}

/** Runs a program to its end and resolves with its stdout lines; rejects with its last stderr lines when it fails. */
export async function runProgram(file: string, args: readonly string[], options: SpawnOptions): Promise<string[]> {
  const stdout: string[] = [];
  const stderrTail: string[] = [];
  const program = spawnProgram(file, args, {
    ...options,
    onStdoutLine: (line) => {
      stdout.push(line);
      options.onStdoutLine?.(line);
    },
    onStderrLine: (line) => {
      stderrTail.push(line);
      if (stderrTail.length > 5) stderrTail.shift();
      options.onStderrLine?.(line);
    },
  });
  const exit = await program.exited;
  if (exit.code !== 0) {
    const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
    const tail = stderrTail.length > 0 ? `: ${stderrTail.join(' | ')}` : '';
    throw new ProgramFailed(`${path.basename(file)} failed (${how})${tail}`, exit);
  }
  return stdout;
}

export class ProgramFailed extends Error {
  override readonly name = 'ProgramFailed';
  constructor(message: string, readonly exit: Exit) {
    super(message);
  }
}

function capture(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  const splitter = new LineSplitter((line) => {
    if (line !== '') onLine(line);
  });
  stream.on('data', (chunk: Buffer) => splitter.push(chunk));
  stream.on('end', () => splitter.end());
}

function programEnvironment(runAs: RunAs, extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'C.UTF-8',
    HOME: runAs.home,
    USER: runAs.name,
    LOGNAME: runAs.name,
  };
  if (process.env.TZ) env.TZ = process.env.TZ;
  return { ...env, ...extra };
}

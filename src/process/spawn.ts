import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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
  /** Called with each stdout line after it was logged (unless `stdoutIsData`). */
  onStdoutLine?: (line: string) => void;
  /** The program prints data, not messages (a query result): its stdout is not logged. */
  stdoutIsData?: boolean;
  /** Called with each stderr line after it was logged (to watch for progress, errors). */
  onStderrLine?: (line: string) => void;
  /** Returns true for a stderr line the caller reports itself (a progress meter): it is not logged. */
  consumeStderrLine?: (line: string) => boolean;
  /**
   * Aborting stops the program's whole process group (SIGTERM, then SIGKILL after a grace); `gone`
   * then rejects with the abort reason once none of its processes is left.
   */
  signal?: AbortSignal;
}

export interface Program {
  child: ChildProcess;
  pid: number;
  /** The program itself ended. */
  exited: Promise<Exit>;
  /**
   * Every process of its group ended too (what it forked: pg_basebackup's WAL streamer). Rejects
   * with the abort reason when it was stopped by `signal`.
   */
  gone: Promise<Exit>;
  /**
   * Like `gone`, and every line it printed has been handed over too: a child's 'exit' can come
   * before the last of its output has been read. What reads a program's output as data waits for this.
   */
  finished: Promise<Exit>;
}

/** How long a process group gets between SIGTERM and SIGKILL. */
const GROUP_GRACE_MS = 5_000;
const GROUP_POLL_MS = 20;
/** How long, once its group is gone, a program's pipes get to deliver what is still in them. */
const OUTPUT_GRACE_MS = 2_000;

/** Process groups of programs the manager started that may still have a process (leader's pid = group id). */
const liveGroups = new Set<number>();

/**
 * Pids of the children libuv spawned and still waits for. The orphan reaper must leave them alone:
 * reaping one of them would steal its exit status from Node.
 */
const spawnedByManager = new Set<number>();

export function isSpawnedByManager(pid: number): boolean {
  return spawnedByManager.has(pid);
}

/**
 * Starts a program as the PostgreSQL user, in a session and process group of its own: terminal
 * signals (Ctrl-C) reach the manager only, and whatever the program forks can be stopped with it.
 * Each line it prints becomes one JSON log line under the program's name, with `pipe` saying which
 * stream it came from.
 */
export function spawnProgram(file: string, args: readonly string[], options: SpawnOptions): Program {
  options.signal?.throwIfAborted();
  const name = path.basename(file);
  const logger = options.logger.named(name);
  const child = spawn(file, args, {
    cwd: options.cwd ?? '/',
    env: programEnvironment(options.runAs, options.env),
    uid: options.runAs.uid,
    gid: options.runAs.gid,
    detached: true,
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
    return { child, pid: -1, exited, gone: exited, finished: exited };
  }
  const group = child.pid;
  spawnedByManager.add(group);
  liveGroups.add(group);
  const stop = () => void stopGroup(group);
  options.signal?.addEventListener('abort', stop, { once: true });
  const gone = exited.then(async (exit) => {
    await groupEnded(group);
    options.signal?.removeEventListener('abort', stop);
    options.signal?.throwIfAborted();
    return exit;
  });
  // Whoever only waits for `exited` must not see an unhandled rejection here.
  gone.catch(() => undefined);
  const outputs = [
    capture(child.stdout!, (line) => {
      if (!options.stdoutIsData) logger.info(line, { pipe: 'stdout' });
      options.onStdoutLine?.(line);
    }),
    capture(child.stderr!, (line) => {
      if (options.consumeStderrLine?.(line)) return;
      logger.info(line, { pipe: 'stderr' });
      options.onStderrLine?.(line);
    }),
  ];
  // Once the group is gone nothing of it can write any more; a descendant that left the group
  // and kept the pipe open must not hold the caller forever.
  const finished = gone.then(async (exit) => {
    await Promise.race([Promise.all(outputs), sleep(OUTPUT_GRACE_MS, undefined, { ref: false })]);
    return exit;
  });
  finished.catch(() => undefined);
  return { child, pid: group, exited, gone, finished };
}

function groupAlive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

async function groupEnded(group: number): Promise<void> {
  while (groupAlive(group)) await sleep(GROUP_POLL_MS);
  liveGroups.delete(group);
}

function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch {
    // Already gone.
  }
}

/** SIGTERM to the whole group, SIGKILL to what is left after the grace; resolves once none is left. */
async function stopGroup(group: number, graceMs = GROUP_GRACE_MS): Promise<void> {
  signalGroup(group, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (groupAlive(group) && Date.now() < deadline) await sleep(GROUP_POLL_MS);
  signalGroup(group, 'SIGKILL');
  await groupEnded(group);
}

/**
 * Stops every program the manager started that still has a process, as whole process groups, and
 * resolves once they are all gone: the manager exits after its children, never before.
 */
export async function stopAllPrograms(graceMs = GROUP_GRACE_MS): Promise<number[]> {
  const groups = [...liveGroups];
  await Promise.all(groups.map((group) => stopGroup(group, graceMs)));
  return groups;
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
  const exit = await program.finished;
  if (exit.code !== 0) {
    const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
    const tail = stderrTail.length > 0 ? `: ${stderrTail.join(' | ')}` : '';
    throw new ProgramFailed(`${path.basename(file)} failed (${how})${tail}`, exit);
  }
  return stdout;
}

export class ProgramFailed extends Error {
  override readonly name = 'ProgramFailed';
  constructor(
    message: string,
    readonly exit: Exit,
  ) {
    super(message);
  }
}

/** Resolves once the stream ended and its last line was handed over. */
function capture(stream: NodeJS.ReadableStream, onLine: (line: string) => void): Promise<void> {
  const splitter = new LineSplitter((line) => {
    if (line !== '') onLine(line);
  });
  stream.on('data', (chunk: Buffer) => splitter.push(chunk));
  return new Promise((resolve) => {
    stream.once('end', () => {
      splitter.end();
      resolve();
    });
    stream.once('close', () => resolve());
  });
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

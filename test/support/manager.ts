/**
 * Runs the real `instance-manager` executable against a real PostgreSQL for integration tests:
 * a scratch directory, free ports, the JSON lines it prints, and psql as the client.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'instance-manager');
const execFileAsync = promisify(execFile);

export type LogLine = Record<string, unknown> & { level: string; logger: string; msg: string };

const scratchDirs: string[] = [];

/**
 * A scratch directory every user can traverse (the manager hands parts of it to `postgres`), under
 * the run's scratch root (test/global-setup.ts) and removed after its test file (test/setup-file.ts).
 */
export function scratchDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(inject('scratchRoot') ?? os.tmpdir(), `im-${prefix}-`));
  fs.chmodSync(dir, 0o755);
  scratchDirs.push(dir);
  return dir;
}

/** Removes the scratch directories this test file made, unless IM_KEEP_SCRATCH=1 keeps them to look at. */
export function removeScratchDirs(): void {
  if (process.env.IM_KEEP_SCRATCH === '1') return;
  for (const dir of scratchDirs.splice(0)) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch (error) {
      console.warn(`could not remove the scratch directory ${dir}: ${String(error)}`);
    }
  }
}

/** `run` with PGDATA and the run dir in `dir` and the status API off: for starts that must be refused. */
export function runArgsIn(dir: string, ...extra: string[]): string[] {
  return [
    'run',
    '--pgdata',
    path.join(dir, 'pgdata'),
    '--run-dir',
    path.join(dir, 'run'),
    '--status-port',
    '0',
    ...extra,
  ];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ManagerOptions {
  /** Reuse a directory (and so a PGDATA) from an earlier run. */
  dir?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  port?: number;
  /** The command line prefix, e.g. ['unshare', '--pid', '--fork', '--mount-proc']. */
  wrapper?: string[];
  /** Serve the status API on a free port: plain HTTP (`--status-insecure`) or HTTPS. */
  status?: 'http' | 'https';
  /** The status API's port (a restart keeps it); a free one by default. */
  statusPort?: number;
}

export class Manager {
  readonly lines: LogLine[] = [];
  /** stdout lines that were not JSON objects (must stay empty). */
  readonly strayStdout: string[] = [];
  stderr = '';
  /** Where the status API answers (`http://127.0.0.1:N` or `https://...`), when asked for. */
  statusBase = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];

  constructor(
    readonly child: ChildProcess,
    readonly dir: string,
    readonly port: number,
  ) {
    let pending = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) !== -1) {
        this.accept(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pgdata(): string {
    return path.join(this.dir, 'pgdata');
  }

  get runDir(): string {
    return path.join(this.dir, 'run');
  }

  get socketDir(): string {
    return path.join(this.runDir, 'run');
  }

  private accept(text: string): void {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      this.strayStdout.push(text);
      return;
    }
    this.lines.push(line);
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.predicate(line)) return true;
      waiter.resolve(line);
      return false;
    });
  }

  /** The first line (already printed or to come) that matches. */
  waitForLine(predicate: (line: LogLine) => boolean, timeoutMs = 60_000, after = 0): Promise<LogLine> {
    const seen = this.lines.slice(after).find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching log line within ${timeoutMs} ms; last lines:\n${this.tail()}`)),
        timeoutMs,
      );
      this.waiters.push({
        predicate,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`manager exited before a matching line; stderr: ${this.stderr}\n${this.tail()}`));
      });
    });
  }

  waitForMessage(msg: string | RegExp, timeoutMs?: number, after = 0): Promise<LogLine> {
    return this.waitForLine(
      (line) => (typeof msg === 'string' ? line.msg === msg : msg.test(line.msg)),
      timeoutMs,
      after,
    );
  }

  /** Resolves once PostgreSQL accepts connections (again, when `after` skips earlier starts). */
  waitUntilReady(timeoutMs = 90_000, after = 0): Promise<LogLine> {
    return this.waitForMessage('PostgreSQL accepts connections', timeoutMs, after);
  }

  tail(count = 15): string {
    return this.lines
      .slice(-count)
      .map((line) => JSON.stringify(line).slice(0, 400))
      .join('\n');
  }

  /** psql over the unix socket as the superuser; returns unaligned, tuples-only output. */
  psql(sql: string, extraArgs: string[] = []): Promise<string> {
    return psqlOverSocket(this.socketDir, this.port, sql, extraArgs);
  }

  /**
   * A psql session kept open by a long statement (kill the returned process to end it). Its
   * errors are expected when the server goes away under it, so they are not reported.
   */
  openSession(sql = 'SELECT pg_sleep(600)', database = 'postgres'): ChildProcess {
    const session = spawn(
      'psql',
      ['-X', '-At', '-h', this.socketDir, '-p', String(this.port), '-U', 'postgres', '-d', database, '-c', sql],
      { stdio: 'ignore' },
    );
    session.on('error', () => undefined);
    return session;
  }

  /** Whether `SELECT 1` succeeds now. */
  async acceptsConnections(): Promise<boolean> {
    try {
      return (await this.psql('SELECT 1')) === '1';
    } catch {
      return false;
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 120_000): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const { code } = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** psql over a unix socket as the superuser; returns unaligned, tuples-only output. */
export async function psqlOverSocket(
  socketDir: string,
  port: number,
  sql: string,
  extraArgs: string[] = [],
): Promise<string> {
  const { stdout } = await execFileAsync(
    'psql',
    [
      '-X',
      '-v',
      'ON_ERROR_STOP=1',
      '-At',
      '-h',
      socketDir,
      '-p',
      String(port),
      '-U',
      'postgres',
      '-d',
      'postgres',
      ...extraArgs,
      '-c',
      sql,
    ],
    {
      env: { ...process.env, PGCONNECT_TIMEOUT: '5' },
    },
  );
  return stdout.trim();
}

export async function startManager(options: ManagerOptions = {}): Promise<Manager> {
  const dir = options.dir ?? scratchDir('run');
  const port = options.port ?? (await freePort());
  const statusPort = options.status ? (options.statusPort ?? (await freePort())) : 0;
  const args = [
    BIN,
    'run',
    '--pgdata',
    path.join(dir, 'pgdata'),
    '--run-dir',
    path.join(dir, 'run'),
    '--port',
    String(port),
    '--listen',
    '127.0.0.1',
    '--status-port',
    String(statusPort),
    ...(options.status === 'http' ? ['--status-insecure'] : []),
    '--pod-name',
    'test-pod',
    '--secrets-dir',
    path.join(dir, 'no-secrets'),
    ...(options.args ?? []),
  ];
  const [command, ...prefix] = [...(options.wrapper ?? []), process.execPath];
  const child = spawn(command!, [...prefix, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  const manager = new Manager(child, dir, port);
  if (options.status) manager.statusBase = `${options.status}://127.0.0.1:${statusPort}`;
  return manager;
}

/**
 * psql with a full connection string (TCP, TLS options...); resolves with the output or rejects
 * with psql's error text.
 */
export async function psqlConninfo(conninfo: string, sql: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-At', '-d', conninfo, '-c', sql], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '5' },
    });
    return stdout.trim();
  } catch (error) {
    throw new Error((error as { stderr?: string }).stderr?.trim() || (error as Error).message);
  }
}

/** Runs the CLI to completion (for commands other than `run`, and for bad-input checks). */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdin.end(input ?? '');
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Polls `check` until it returns a value other than undefined/false; rejects after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A process as the host sees it, with its pid inside its own pid namespace. */
export interface HostProcess {
  pid: number;
  /** The pid in the innermost namespace it belongs to (the same as `pid` outside any). */
  namespacePid: number;
  ppid: number;
  state: string;
  command: string;
  args: string[];
}

export function readHostProcess(pid: number): HostProcess | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
    const args = fs
      .readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((arg) => arg !== '');
    return {
      pid,
      namespacePid: Number(field('NSpid').split(/\s+/).at(-1)),
      ppid: Number(field('PPid')),
      state: field('State').charAt(0),
      command: field('Name'),
      args,
    };
  } catch {
    return undefined; // gone meanwhile
  }
}

export function hostProcesses(): HostProcess[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readHostProcess(Number(name)))
    .filter((entry): entry is HostProcess => entry !== undefined);
}

/** Every process in the pid namespace whose init has host pid `initPid` (itself included). */
export function namespaceProcesses(initPid: number): HostProcess[] {
  const namespace = fs.readlinkSync(`/proc/${initPid}/ns/pid`);
  return hostProcesses().filter((entry) => {
    try {
      return fs.readlinkSync(`/proc/${entry.pid}/ns/pid`) === namespace;
    } catch {
      return false;
    }
  });
}

/** The postmaster and every process under it (PostgreSQL's own children only). */
export function postgresProcesses(postmasterPid: number): number[] {
  const children = fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return (
          fs
            .readFileSync(path.join('/proc', pid, 'stat'), 'utf8')
            .replace(/^.*\) /, '')
            .split(' ')[1] === String(postmasterPid)
        );
      } catch {
        return false;
      }
    })
    .map(Number);
  return [postmasterPid, ...children];
}

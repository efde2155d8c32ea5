import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { spawnProgram, type Exit, type Program, type RunAs } from '../process/index.js';
import type { PgBinaries } from './binaries.js';
import { readPostmasterPid } from './datadir.js';

/** Reading postmaster.pid costs a few microseconds; half this interval is added to every start on average. */
const READY_POLL_MS = 5;
/** The stderr lines kept to explain a failed start. */
const MAX_COMPLAINTS = 50;

export interface PostmasterOptions {
  bin: PgBinaries;
  pgdata: string;
  runAs: RunAs;
  logger: Logger;
  /** More command-line options (`-c name=value`): they outrank every configuration file. */
  options?: string[];
}

/**
 * The postmaster as the manager's own child. Started directly rather than by `pg_ctl start`, whose
 * intermediate shell would leave it orphaned: the manager must see its exit to restart it.
 * It gets a session of its own so a Ctrl-C on the terminal reaches the manager only, which then
 * stops PostgreSQL in its own order.
 */
export class Postmaster {
  readonly startedAt = new Date();
  private exitStatus: Exit | undefined;

  private constructor(
    private readonly program: Program,
    private readonly pgdata: string,
    private readonly complaints: readonly string[],
  ) {
    program.exited.then(
      (exit) => (this.exitStatus = exit),
      () => (this.exitStatus = { code: null, signal: null }),
    );
  }

  static start(options: PostmasterOptions): Postmaster {
    // Start-up failures come first; later stderr (without the logging collector) is not kept.
    const complaints: string[] = [];
    const program = spawnProgram(options.bin.path('postgres'), ['-D', options.pgdata, ...(options.options ?? [])], {
      runAs: options.runAs,
      logger: options.logger,
      cwd: options.pgdata,
      onStderrLine: (line) => {
        if (complaints.length < MAX_COMPLAINTS) complaints.push(line);
      },
    });
    return new Postmaster(program, options.pgdata, complaints);
  }

  /**
   * Why PostgreSQL refused to start, in its own words: the first FATAL or PANIC it printed on stderr
   * (where everything goes until the logging collector runs), with the line before it when that
   * FATAL only says a configuration file "contains errors".
   */
  get refusal(): string | undefined {
    const messages = this.complaints
      .map((line) => /\b(LOG|WARNING|ERROR|FATAL|PANIC):\s+(.*)$/.exec(line))
      .filter((match) => match !== null);
    const fatal = messages.findIndex((match) => match[1] === 'FATAL' || match[1] === 'PANIC');
    if (fatal === -1) return undefined;
    const detail = fatal > 0 && /contains errors/.test(messages[fatal]![2]!) ? `${messages[fatal - 1]![2]}; ` : '';
    return `${detail}${messages[fatal]![1]}: ${messages[fatal]![2]}`;
  }

  get pid(): number {
    return this.program.pid;
  }

  get exited(): Promise<Exit> {
    return this.program.exited;
  }

  get isRunning(): boolean {
    return this.exitStatus === undefined;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.isRunning) this.program.child.kill(signal);
  }

  /**
   * Resolves once postmaster.pid names this postmaster (or it exited, or `timeoutMs` passed). pg_ctl
   * finds the postmaster through that file, which one spawned a moment ago may not have written yet.
   */
  async waitForPidFile(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.isRunning && readPostmasterPid(this.pgdata)?.pid !== this.pid && Date.now() < deadline)
      await Promise.race([sleep(READY_POLL_MS), this.program.exited]);
  }

  /**
   * Resolves with the postmaster's status once it accepts connections (`ready` on a primary,
   * `standby` on a hot standby). PostgreSQL writes that status into postmaster.pid itself, so
   * polling the file costs no connection and answers within a few milliseconds.
   */
  async waitUntilAcceptingConnections(abort?: AbortSignal): Promise<'ready' | 'standby'> {
    for (;;) {
      if (!this.isRunning) throw new Error(`postmaster exited during start-up (${describeExit(this.exitStatus!)})`);
      abort?.throwIfAborted();
      const file = readPostmasterPid(this.pgdata);
      if (file?.pid === this.pid && (file.status === 'ready' || file.status === 'standby')) return file.status;
      await Promise.race([sleep(READY_POLL_MS), this.program.exited]);
    }
  }
}

export function describeExit(exit: Exit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}

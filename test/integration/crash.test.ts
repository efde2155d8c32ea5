/**
 * Crash restart as on a developer's machine (the manager is not PID 1, so it makes itself the
 * subreaper of PostgreSQL's descendants), with real kill -9s.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostProcesses, startManager, waitFor, type LogLine, type Manager } from '../support/manager.js';

describe('crash restart', () => {
  let manager: Manager;

  const startedLines = (): LogLine[] => manager.lines.filter((line) => line.msg === 'PostgreSQL started');

  beforeAll(async () => {
    manager = await startManager({
      args: ['--log-level', 'debug', '--smart-shutdown-timeout', '2', '--stop-timeout', '5'],
    });
    await manager.waitUntilReady();
    await manager.psql('CREATE TABLE before_crash (id int PRIMARY KEY, note text)');
  });

  afterAll(async () => {
    await manager.stop('SIGTERM', 30_000);
  });

  it('becomes the subreaper when it is not PID 1', async () => {
    const reaping = await manager.waitForMessage('reaping orphaned processes', 1_000);
    expect(reaping).toMatchObject({ pid: manager.child.pid, subreaper: true });
  });

  it('restarts PostgreSQL after a kill -9 of the postmaster, says which signal, keeps the data', async () => {
    await manager.psql("INSERT INTO before_crash VALUES (1, 'before the postmaster was killed')");
    // Someone else standing in PGDATA (an administrator's shell) is not PostgreSQL's to kill.
    const bystander = spawn('sleep', ['120'], { cwd: manager.pgdata, stdio: 'ignore' });
    const postmasterPid = Number(startedLines().at(-1)!.postmasterPid);
    const before = manager.lines.length;

    process.kill(postmasterPid, 'SIGKILL');
    const crash = await manager.waitForMessage('PostgreSQL exited unexpectedly', 10_000, before);
    expect(crash).toMatchObject({
      level: 'error',
      postmasterPid,
      signal: 'SIGKILL',
      exitCode: null,
      how: 'killed by SIGKILL',
    });
    expect(await manager.waitForMessage('restarting PostgreSQL after a crash', 10_000, before)).toMatchObject({
      delayMs: 1_000,
    });
    await manager.waitUntilReady(30_000, before);

    expect(startedLines().at(-1)).toMatchObject({ restarts: 1 });
    expect(Number(startedLines().at(-1)!.postmasterPid)).not.toBe(postmasterPid);
    expect(await manager.psql('SELECT note FROM before_crash WHERE id = 1')).toBe('before the postmaster was killed');
    expect(
      manager.lines
        .slice(before)
        .some(
          (line) =>
            line.msg === 'waiting for the processes of the dead postmaster to exit' &&
            (line.pids as number[]).includes(bystander.pid!),
        ),
    ).toBe(false);
    expect(bystander.exitCode === null && bystander.signalCode === null).toBe(true);
    bystander.kill('SIGKILL');
  });

  it('restarts PostgreSQL after a backend is killed with -9 (the postmaster exits: restart_after_crash=off)', async () => {
    await manager.psql("INSERT INTO before_crash VALUES (2, 'before the backend was killed')");
    const session = manager.openSession();
    const backendPid = Number(
      await waitFor(
        'the session backend',
        async () =>
          (await manager.psql("SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'")) || undefined,
      ),
    );
    const before = manager.lines.length;

    process.kill(backendPid, 'SIGKILL');
    const crash = await manager.waitForMessage('PostgreSQL exited unexpectedly', 10_000, before);
    // PostgreSQL reports the dead backend itself, then exits with 1 instead of reinitializing.
    expect(crash).toMatchObject({ exitCode: 1, signal: null });
    // PostgreSQL's own csvlog record, through the log pipe.
    const message = (line: (typeof manager.lines)[number]) =>
      String((line.record as { message?: string } | undefined)?.message ?? '');
    const report = await manager.waitForLine(
      (line) => line.logger === 'postgres' && /terminated by signal 9/.test(message(line)),
      10_000,
      before,
    );
    expect(message(report)).toContain(String(backendPid));
    await manager.waitUntilReady(30_000, before);
    session.kill('SIGKILL');

    expect(startedLines().at(-1)).toMatchObject({ restarts: 2 });
    expect(await manager.psql('SELECT count(*) FROM before_crash')).toBe('2');
  });

  it('kills a process of the dead postmaster that does not exit by itself, then restarts', async () => {
    const session = manager.openSession();
    const backendPid = Number(
      await waitFor(
        'the session backend',
        async () =>
          (await manager.psql("SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'")) || undefined,
      ),
    );
    // A stopped backend cannot notice that its postmaster died, and keeps the shared memory attached.
    process.kill(backendPid, 'SIGSTOP');
    const before = manager.lines.length;

    process.kill(Number(startedLines().at(-1)!.postmasterPid), 'SIGKILL');
    const waiting = await manager.waitForMessage(
      'waiting for the processes of the dead postmaster to exit',
      10_000,
      before,
    );
    expect(waiting.pids).toContain(backendPid);
    const killing = await manager.waitForMessage('killing processes the dead postmaster left behind', 10_000, before);
    // The logging collector stays too, while the stopped backend holds its pipe open.
    expect(killing).toMatchObject({ level: 'warning', graceMs: 5_000 });
    expect(killing.pids).toContain(backendPid);
    await manager.waitUntilReady(30_000, before);
    session.kill('SIGKILL');

    // It had been re-parented to the manager (the subreaper), which reaped it too.
    const reaped = await manager.waitForLine(
      (line) => line.msg === 'reaped an orphaned process' && line.pid === backendPid,
      5_000,
      before,
    );
    expect(reaped).toMatchObject({ command: 'postgres', exitCode: null, signal: 'SIGKILL' });
    expect(startedLines().at(-1)).toMatchObject({ restarts: 3 });
  });

  it('reaps what a PostgreSQL child leaves running in the background', async () => {
    const marker = `1.${Math.floor(Math.random() * 9000) + 1000}`;
    const before = manager.lines.length;
    // COPY FROM PROGRAM runs sh as a child of a backend; the subshell exits, orphaning the sleep.
    await manager.psql(
      `CREATE TEMP TABLE out (line text); COPY out FROM PROGRAM '(sleep ${marker} >/dev/null 2>&1 &); exit 0'`,
    );
    const orphan = await waitFor(
      'the orphaned sleep',
      () => hostProcesses().find((entry) => entry.args.join(' ') === `sleep ${marker}`),
      2_000,
      20,
    );
    // The subreaper flag brought it to the manager rather than to the host's init.
    expect(orphan.ppid).toBe(manager.child.pid);

    const reaped = await manager.waitForLine(
      (line) => line.msg === 'reaped an orphaned process' && line.pid === orphan.pid,
      5_000,
      before,
    );
    expect(reaped).toMatchObject({ level: 'debug', command: 'sleep', exitCode: 0, signal: null });
    expect(hostProcesses().some((entry) => entry.pid === orphan.pid)).toBe(false);
  });
});

describe('a postmaster that keeps dying', () => {
  it('is restarted with a doubling backoff, then the manager gives up after 5 crashes and exits 1', async () => {
    const manager = await startManager({
      args: ['--smart-shutdown-timeout', '2', '--stop-timeout', '5', '--allow-alter-system'],
    });
    try {
      await manager.waitUntilReady();
      // Accepted by ALTER SYSTEM, fatal at every later start: each restart now fails by itself.
      await manager.psql("ALTER SYSTEM SET shared_preload_libraries = 'im_test_no_such_library'");
      process.kill(Number(manager.lines.find((line) => line.msg === 'PostgreSQL started')!.postmasterPid), 'SIGKILL');

      const { code } = await manager.exited;
      expect(code).toBe(1);
      const crashes = manager.lines.filter((line) => line.msg === 'PostgreSQL exited unexpectedly');
      expect(crashes.map((line) => line.how)).toEqual([
        'killed by SIGKILL',
        'exit code 1',
        'exit code 1',
        'exit code 1',
        'exit code 1',
      ]);
      const delays = manager.lines
        .filter((line) => line.msg === 'restarting PostgreSQL after a crash')
        .map((line) => line.delayMs);
      expect(delays).toEqual([1_000, 2_000, 4_000, 8_000]);
      expect(
        manager.lines.find(
          (line) => line.msg === 'PostgreSQL crashed too often; exiting so the container is restarted',
        ),
      ).toMatchObject({ crashesInWindow: 5 });
      expect(manager.lines.at(-1)).toMatchObject({ msg: 'instance-manager exiting', exitCode: 1, restarts: 4 });
      expect(manager.stderr).toMatch(
        /^instance-manager: PostgreSQL crashed 5 times within 10 minutes; exiting so the container is restarted\n$/,
      );
    } finally {
      await manager.stop('SIGKILL', 5_000);
    }
  }, 60_000);
});

/**
 * The manager as PID 1 of its own pid namespace, as in a container: every orphan in the namespace
 * is re-parented to it, and only it can reap them.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  hostProcesses,
  namespaceProcesses,
  startManager,
  waitFor,
  type HostProcess,
  type Manager,
} from '../support/manager.js';

const execFileAsync = promisify(execFile);

describe('PID 1 in a pid namespace', () => {
  let manager: Manager;
  /** The manager's pid as the host sees it (1 inside the namespace). */
  let initPid: number;
  const sessions: ChildProcess[] = [];

  const zombies = (): HostProcess[] => namespaceProcesses(initPid).filter((entry) => entry.state === 'Z');
  const hostPidOf = (namespacePid: number): number => {
    const found = namespaceProcesses(initPid).find((entry) => entry.namespacePid === namespacePid);
    if (!found) throw new Error(`no process with pid ${namespacePid} in the namespace`);
    return found.pid;
  };

  beforeAll(async () => {
    manager = await startManager({
      // unshare itself ignores SIGTERM; --kill-child stops the manager should the test die first.
      wrapper: ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child=SIGTERM'],
      args: ['--log-level', 'debug', '--smart-shutdown-timeout', '2', '--stop-timeout', '5'],
    });
    await manager.waitUntilReady();
    initPid = hostProcesses().find((entry) => entry.ppid === manager.child.pid)!.pid;
  });

  afterAll(async () => {
    for (const session of sessions) session.kill('SIGKILL');
    // Only when a test failed before the last one stopped it.
    if (manager.child.exitCode === null && manager.child.signalCode === null) {
      process.kill(initPid, 'SIGTERM');
      await manager.stop('SIGKILL', 30_000);
    }
  });

  it('runs as pid 1 with the addon loaded, without needing the subreaper flag', async () => {
    const started = await manager.waitForMessage('instance-manager starting');
    expect(started.pid).toBe(1);
    const reaping = await manager.waitForMessage('reaping orphaned processes', 1_000);
    expect(reaping).toMatchObject({ pid: 1, subreaper: false });
    expect(manager.lines.filter((line) => /reaper addon/.test(line.msg))).toEqual([]);
  });

  it('leaves no zombie and accepts connections again within 10 s of a kill -9 of the postmaster with sessions open', async () => {
    for (let i = 0; i < 3; i++) sessions.push(manager.openSession());
    await waitFor(
      'three open sessions',
      async () =>
        (await manager.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'")) === '3',
    );
    const postmasterPid = hostPidOf(Number((await manager.waitForMessage('PostgreSQL started')).postmasterPid));
    const before = manager.lines.length;

    const killedAt = Date.now();
    process.kill(postmasterPid, 'SIGKILL');
    const crash = await manager.waitForMessage('PostgreSQL exited unexpectedly', 10_000, before);
    expect(crash.signal).toBe('SIGKILL');
    await waitFor(
      'no zombie in the namespace and PostgreSQL accepting connections',
      async () => zombies().length === 0 && (await manager.acceptsConnections()),
      10_000,
    );
    expect(Date.now() - killedAt).toBeLessThan(10_000);

    // The old postmaster's children were re-parented to the manager, which reaped them itself.
    const reaped = await waitFor(
      'the reaped backends in the log',
      () => {
        const lines = manager.lines.slice(before).filter((line) => line.msg === 'reaped an orphaned process');
        return lines.length >= 3 && lines;
      },
      2_000,
    );
    expect(reaped.every((line) => line.command === 'postgres' && line.level === 'debug')).toBe(true);
  });

  it('reaps a double-forked orphan started inside the namespace', async () => {
    const marker = `1.${Math.floor(Math.random() * 9000) + 1000}`;
    const before = manager.lines.length;
    // The subshell exits at once; its background sleep is orphaned to the namespace's PID 1.
    await execFileAsync('nsenter', [
      '-t',
      String(initPid),
      '-p',
      '-m',
      '--',
      'sh',
      '-c',
      `(sleep ${marker} >/dev/null 2>&1 &); exit 0`,
    ]);
    const orphan = await waitFor(
      'the orphaned sleep',
      () => namespaceProcesses(initPid).find((entry) => entry.args.join(' ') === `sleep ${marker}`),
      2_000,
      20,
    );
    expect(orphan.ppid).toBe(initPid);

    const reaped = await manager.waitForLine(
      (line) => line.msg === 'reaped an orphaned process' && line.pid === orphan.namespacePid,
      5_000,
      before,
    );
    expect(reaped).toMatchObject({ command: 'sleep', exitCode: 0, signal: null });
    expect(namespaceProcesses(initPid).some((entry) => entry.pid === orphan.pid)).toBe(false);
  });

  it('stops cleanly on SIGTERM', async () => {
    for (const session of sessions.splice(0)) session.kill('SIGKILL');
    process.kill(initPid, 'SIGTERM');
    const { code } = await manager.exited;
    expect(code).toBe(0);
    expect(manager.strayStdout).toEqual([]);
  });
});

/**
 * Issue 2 end to end: initdb then reuse, the staged stop on SIGTERM/SIGINT, never running PostgreSQL
 * as root, stale and live postmaster.pid, SIGHUP reload. Real PostgreSQL, real signals.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { scratchDir, startManager, type Manager } from '../support/manager.js';

const running: Manager[] = [];
async function start(...args: Parameters<typeof startManager>): Promise<Manager> {
  const manager = await startManager(...args);
  running.push(manager);
  return manager;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((manager) => manager.stop('SIGTERM')));
});

const owner = (pid: number) => fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1];
const parentOf = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
const uidOf = (user: string) => new RegExp(`^${user}:x:(\\d+)`, 'm').exec(fs.readFileSync('/etc/passwd', 'utf8'))![1]!;
const postgresUid = () => uidOf('postgres');

describe('a primary on an empty volume', () => {
  it('runs initdb once, starts the postmaster as its own child under the postgres user, and reuses the data on the next start', async () => {
    const first = await start({ args: ['--smart-shutdown-timeout', '5'] });
    await first.waitUntilReady();
    expect(first.lines.some((line) => line.msg === 'initializing a new data directory')).toBe(true);
    expect(first.lines.some((line) => line.logger === 'initdb' && line.pipe === 'stdout')).toBe(true);

    const started = first.lines.find((line) => line.msg === 'PostgreSQL started')!;
    const postmasterPid = started.postmasterPid as number;
    expect(parentOf(postmasterPid)).toBe(first.child.pid);
    expect(owner(postmasterPid)).toBe(postgresUid());
    expect(fs.statSync(first.pgdata).uid).toBe(Number(postgresUid()));
    expect(fs.statSync(first.pgdata).mode & 0o777).toBe(0o700);

    expect(
      await first.psql(
        "SELECT current_setting('data_checksums'), pg_encoding_to_char(encoding), datcollate FROM pg_database WHERE datname = 'postgres'",
      ),
    ).toBe('on|UTF8|C');
    expect(await first.psql('SELECT rolname FROM pg_roles WHERE rolsuper AND oid = 10')).toBe('postgres');
    expect(fs.readFileSync(path.join(first.pgdata, 'postgresql.conf'), 'utf8')).toMatch(/^include 'custom.conf'$/m);
    await first.psql('CREATE TABLE kept (id int); INSERT INTO kept VALUES (42)');

    expect(await first.stop('SIGTERM')).toBe(0);
    expect(first.lines.find((line) => line.msg === 'shutdown finished')).toMatchObject({ stoppedBy: 'smart' });
    expect(first.strayStdout).toEqual([]);

    const second = await start({ dir: first.dir });
    await second.waitUntilReady();
    expect(second.lines.some((line) => line.msg === 'initializing a new data directory')).toBe(false);
    expect(second.lines.some((line) => line.msg === 'reusing the existing data directory')).toBe(true);
    expect(await second.psql('SELECT id FROM kept')).toBe('42');
    expect(
      fs.readFileSync(path.join(second.pgdata, 'postgresql.conf'), 'utf8').match(/include 'custom.conf'/g),
    ).toHaveLength(1);
  });
});

describe('stopping', () => {
  it('stops an idle instance on SIGINT with a checkpoint and a smart shutdown, exit 0', async () => {
    const manager = await start();
    await manager.waitUntilReady();
    expect(await manager.stop('SIGINT')).toBe(0);
    const messages = manager.lines.map((line) => line.msg);
    expect(messages).toContain('checkpoint before shutdown done');
    expect(manager.lines.find((line) => line.msg === 'stopping PostgreSQL')).toMatchObject({
      mode: 'smart',
      timeoutSeconds: 180,
    });
    expect(manager.lines.find((line) => line.msg === 'PostgreSQL stopped')).toMatchObject({ mode: 'smart' });
  });

  it('falls back to a fast shutdown when a client holds a transaction past the smart timeout', async () => {
    const manager = await start({ args: ['--smart-shutdown-timeout', '2', '--stop-timeout', '20'] });
    await manager.waitUntilReady();
    const client = spawn(
      'psql',
      ['-X', '-h', manager.socketDir, '-p', String(manager.port), '-U', 'postgres', '-d', 'postgres'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let clientOutput = '';
    client.stdout.on('data', (chunk: Buffer) => (clientOutput += chunk.toString()));
    client.stdin.write("BEGIN;\nSELECT 'in transaction';\n");
    await expect.poll(() => clientOutput, { timeout: 10_000 }).toContain('in transaction');

    const began = Date.now();
    expect(await manager.stop('SIGTERM')).toBe(0);
    const elapsed = Date.now() - began;
    client.kill();

    expect(manager.lines.find((line) => line.msg === 'smart shutdown did not finish in 2 s')).toBeDefined();
    expect(manager.lines.find((line) => line.msg === 'PostgreSQL stopped')).toMatchObject({ mode: 'fast' });
    expect(manager.lines.find((line) => line.msg === 'shutdown finished')).toMatchObject({ stoppedBy: 'fast' });
    expect(elapsed).toBeGreaterThanOrEqual(2_000);
  });
});

describe('postmaster.pid', () => {
  it('starts over a stale postmaster.pid whose pid now belongs to another process', async () => {
    const first = await start();
    await first.waitUntilReady();
    expect(await first.stop()).toBe(0);
    // What a killed container leaves: a pid file naming a pid that is alive but is not a postmaster.
    fs.writeFileSync(
      path.join(first.pgdata, 'postmaster.pid'),
      `${process.pid}\n${first.pgdata}\n1700000000\n${first.port}\n${first.socketDir}\n127.0.0.1\n  5432001 0\nready   \n`,
    );
    const second = await start({ dir: first.dir, port: first.port });
    await second.waitUntilReady();
    expect(
      second.lines.find((line) => line.msg === 'removed a stale postmaster.pid left by a previous run'),
    ).toMatchObject({ stalePid: process.pid });
  });

  it('never starts a second postmaster on a data directory that has a live one', async () => {
    const first = await start();
    await first.waitUntilReady();
    const second = await start({ dir: first.dir });
    const { code } = await second.exited;
    expect(code).toBe(1);
    expect(second.stderr).toMatch(/a postmaster \(pid \d+\) is already running on .*pgdata; not starting a second one/);
    expect(await first.psql('SELECT 1')).toBe('1');
  });
});

describe('the status API', () => {
  it('on a port already taken at a warm start: the postmaster spawned before it is stopped again, exit 1', async () => {
    const first = await start();
    await first.waitUntilReady();
    expect(await first.stop()).toBe(0);
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    try {
      const second = await start({
        dir: first.dir,
        args: ['--status-port', String((taken.address() as net.AddressInfo).port), '--status-insecure'],
      });
      const { code } = await second.exited;
      expect(code).toBe(1);
      expect(second.stderr).toMatch(/EADDRINUSE/);
      const postmasterPid = second.lines.find((line) => line.msg === 'PostgreSQL started')!.postmasterPid as number;
      expect(second.lines.find((line) => line.msg === 'shutdown finished')).toMatchObject({ stoppedBy: 'smart' });
      expect(() => process.kill(postmasterPid, 0)).toThrow();
    } finally {
      taken.close();
    }
  });
});

describe('SIGHUP', () => {
  it('re-reads --config and reloads PostgreSQL without a restart', async () => {
    const dir = scratchDir('sighup');
    const config = path.join(dir, 'extra.conf');
    fs.writeFileSync(config, 'work_mem = 4MB\n');
    const live = await start({ dir, args: ['--config', config] });
    await live.waitUntilReady();
    const startTime = await live.psql('SELECT pg_postmaster_start_time()');
    expect(await live.psql('SHOW work_mem')).toBe('4MB');
    fs.writeFileSync(config, 'work_mem = 8MB\n');
    live.child.kill('SIGHUP');
    await expect.poll(() => live.psql('SHOW work_mem'), { timeout: 10_000 }).toBe('8MB');
    expect(await live.psql('SELECT pg_postmaster_start_time()')).toBe(startTime);

    fs.writeFileSync(config, 'port = 1\n');
    live.child.kill('SIGHUP');
    const refused = await live.waitForMessage('reload refused; the previous configuration stays in force');
    expect(String(refused.err)).toContain('parameter "port" is fixed by instance-manager');
    expect(await live.psql('SHOW work_mem')).toBe('8MB');
  });
});

describe('started as an unprivileged user', () => {
  it('runs every PostgreSQL program as itself, with no user switch', async () => {
    const dir = scratchDir('nobody');
    spawnSync('chown', ['nobody:nogroup', dir]);
    const manager = await start({
      dir,
      wrapper: ['setpriv', '--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups'],
    });
    await manager.waitUntilReady();
    const postmasterPid = manager.lines.find((line) => line.msg === 'PostgreSQL started')!.postmasterPid as number;
    expect(owner(postmasterPid)).toBe(uidOf('nobody'));
    const result = spawnSync(
      'setpriv',
      [
        '--reuid',
        'nobody',
        '--regid',
        'nogroup',
        '--clear-groups',
        'psql',
        '-XAt',
        '-h',
        manager.socketDir,
        '-p',
        String(manager.port),
        '-U',
        'postgres',
        '-d',
        'postgres',
        '-c',
        'SELECT current_user',
      ],
      { encoding: 'utf8' },
    );
    expect(result.stdout.trim()).toBe('postgres');
  });
});

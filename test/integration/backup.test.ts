/**
 * Backups, WAL archiving and point-in-time recovery through real pgBackRest and PostgreSQL: a POSIX
 * repository in a scratch directory shared by every instance of the test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  archivedSegments,
  gapsIn,
  makeRepository,
  pgbackrestByHand,
  waitForArchivingToResume,
  type Repository,
} from '../support/backup.js';
import { runCli, startManager, type Manager } from '../support/manager.js';
import type { OpensslPair } from '../support/openssl.js';
import { clusterDir, FAST_STOP, startNode, waitUntil, type Authorities } from '../support/replication.js';
import { opensslLeaf } from '../support/secrets.js';
import { askAsOperator, waitForStatusApi } from '../support/status.js';

interface Backup {
  id: string;
  label: string | null;
  type: string;
  startedAt: string;
  stoppedAt: string | null;
  sizeBytes: number | null;
  walStart: string | null;
  walStop: string | null;
  error: string | null;
}

describe('backups through pgBackRest', () => {
  let dir: string;
  let authorities: Authorities;
  let repository: Repository;
  let operator: OpensslPair;
  let primary: Manager;
  const others: Manager[] = [];
  let configFile: string;
  // wal_keep_size = 0 (the manager's default keeps 512MB): recycled WAL must be gone from pg_wal.
  const backupArgs = () => ['--backup-repo', repository.optionsFile, '--config', configFile];

  const api = (node: Manager, apiPath: string, method = 'GET', body?: unknown) =>
    askAsOperator(
      `${node.statusBase}${apiPath}`,
      { ca: authorities.serverCa.certPem, cert: operator.certPem, key: operator.keyPem },
      method,
      body,
    );
  const backupState = async (node: Manager) =>
    JSON.parse((await api(node, '/pg/backup')).body) as { running: Backup | null; last: Backup | null };
  const status = async (node: Manager) =>
    JSON.parse((await api(node, '/pg/status')).body) as Record<string, unknown> & {
      backup: Record<string, unknown> & { archive: Record<string, unknown> };
    };

  /** Starts a backup and waits until it is the last one; returns it. */
  const backup = async (node: Manager, body?: unknown): Promise<Backup> => {
    const answer = await api(node, '/pg/backup', 'POST', body);
    expect(answer.status, answer.body).toBe(202);
    const started = JSON.parse(answer.body) as Backup;
    await waitUntil('the backup ends', async () => (await backupState(node)).last?.id === started.id, 120_000);
    return (await backupState(node)).last!;
  };

  /** Switches to a new WAL segment and waits until the archive has it. */
  const switchAndArchive = async (node: Manager) => {
    const segment = await node.psql('SELECT pg_walfile_name(pg_switch_wal())');
    await waitUntil(
      `segment ${segment} archived`,
      async () => (await node.psql('SELECT last_archived_wal FROM pg_stat_archiver')) >= segment,
      60_000,
    );
    return segment;
  };

  beforeAll(async () => {
    ({ dir, authorities } = clusterDir('backup'));
    // A fast checkpoint at backup start: the default spread one takes minutes on an idle test server.
    repository = makeRepository(dir, ['start-fast=y']);
    configFile = path.join(dir, 'postgresql-extra.conf');
    fs.writeFileSync(configFile, 'wal_keep_size = 0\n');
    operator = opensslLeaf(path.join(dir, 'operator'), authorities.clientCa, { cn: 'instance-manager-operator' });
    primary = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'pg-1',
      status: 'https',
      args: backupArgs(),
    });
    await primary.waitUntilReady();
    await waitForStatusApi(primary.statusBase, { ca: authorities.serverCa.certPem });
    await primary.waitForMessage('backup repository checked: the stanza exists and WAL reaches it', 90_000);
  });

  afterAll(async () => {
    await Promise.all([...others, primary].map((node) => node?.stop()));
  });

  it('archives through the rendered config, with PostgreSQL told the fixed settings', async () => {
    const config = path.join(primary.runDir, 'pgbackrest', 'pgbackrest.conf');
    expect(fs.statSync(config).mode & 0o777).toBe(0o600);
    expect(await primary.psql('SHOW archive_mode')).toBe('on');
    expect(await primary.psql('SHOW archive_command')).toBe(
      `pgbackrest --config=${config} --stanza=pg archive-push %p`,
    );
    expect(await primary.psql('SHOW restore_command')).toBe(
      `pgbackrest --config=${config} --stanza=pg archive-get %f "%p"`,
    );
    const stanzaLine = primary.lines.find((line) => line.logger === 'pgbackrest' && /stanza-create/.test(line.msg));
    expect(stanzaLine).toMatchObject({ level: 'info', command: 'stanza-create', stanza: 'pg' });
  });

  it('watches the repository file: an owned key is refused and the previous config stays', async () => {
    const config = path.join(primary.runDir, 'pgbackrest', 'pgbackrest.conf');
    const before = fs.readFileSync(config, 'utf8');
    const good = fs.readFileSync(repository.optionsFile, 'utf8');
    const mark = primary.lines.length;
    fs.writeFileSync(repository.optionsFile, `${good}pg1-path=/elsewhere\n`);
    const refused = await primary.waitForMessage(
      'reload refused; the previous configuration stays in force',
      30_000,
      mark,
    );
    expect(String(refused.err)).toMatch(/backup-repo.conf:\d+: option "pg1-path" is managed by instance-manager/);
    expect(fs.readFileSync(config, 'utf8')).toBe(before);
    fs.writeFileSync(repository.optionsFile, `${good}compress-level=3\n`);
    await waitUntil(
      'the new option reaches pgbackrest.conf',
      async () => fs.readFileSync(config, 'utf8').includes('compress-level=3'),
      30_000,
    );
    fs.writeFileSync(repository.optionsFile, good);
    await waitUntil(
      'the file is back',
      async () => !fs.readFileSync(config, 'utf8').includes('compress-level=3'),
      30_000,
    );
  });

  it('takes a full, then an incremental backup; a second request while one runs is refused', async () => {
    const answer = await api(primary, '/pg/backup', 'POST', { type: 'full' });
    expect(answer.status).toBe(202);
    const started = JSON.parse(answer.body) as Backup;
    expect(started).toMatchObject({ type: 'full', label: null, error: null });
    expect((await api(primary, '/pg/backup', 'POST', { type: 'incr' })).status).toBe(409);
    expect((await api(primary, '/pg/backup', 'POST', { type: 'weekly' })).status).toBe(400);
    await waitUntil('the full backup ends', async () => (await backupState(primary)).last?.id === started.id, 120_000);
    const full = (await backupState(primary)).last!;
    expect(full).toMatchObject({ type: 'full', error: null, label: expect.stringMatching(/^\d{8}-\d{6}F$/) as string });
    expect(full.sizeBytes).toBeGreaterThan(10_000_000);
    expect(full.walStart).toMatch(/^[0-9A-F]{24}$/);

    await primary.psql("CREATE TABLE t (id int, note text); INSERT INTO t VALUES (1, 'after the full backup')");
    const incr = await backup(primary);
    expect(incr).toMatchObject({
      type: 'incr',
      error: null,
      label: expect.stringMatching(new RegExp(`^${full.label}_\\d{8}-\\d{6}I$`)) as string,
    });

    const { backup: reported } = await status(primary);
    expect(reported).toMatchObject({ stanza: 'pg', running: null, last: { label: incr.label } });
    const metrics = (await api(primary, '/metrics')).body;
    expect(metrics).toMatch(/^instance_manager_backup_last_timestamp_seconds\{type="incr",event="stop"\} \d+$/m);
    expect(metrics).toMatch(/^instance_manager_backup_last_failed 0$/m);
    expect(metrics).toMatch(/^instance_manager_backup_running 0$/m);
    const info = JSON.parse(await pgbackrestByHand(primary.runDir, 'pg', 'info', '--output=json')) as {
      backup: { label: string }[];
    }[];
    expect(info[0]!.backup.map((entry) => entry.label)).toEqual([full.label, incr.label]);
  });

  it('`instance-manager backup --wait` takes a backup for a person', async () => {
    const certs = path.join(dir, 'operator-files');
    fs.mkdirSync(certs, { recursive: true });
    fs.writeFileSync(path.join(certs, 'tls.crt'), operator.certPem);
    fs.writeFileSync(path.join(certs, 'tls.key'), operator.keyPem);
    fs.writeFileSync(path.join(certs, 'ca.crt'), authorities.serverCa.certPem);
    const result = await runCli([
      'backup',
      '--type',
      'diff',
      '--wait',
      '--url',
      primary.statusBase,
      '--cert',
      path.join(certs, 'tls.crt'),
      '--key',
      path.join(certs, 'tls.key'),
      '--ca',
      path.join(certs, 'ca.crt'),
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^diff backup started at .*\ndiff backup \d{8}-\d{6}F_\d{8}-\d{6}D finished at /);
  });

  it('restores to a time between two commits into a new cluster, which then archives to its own stanza', async () => {
    await primary.psql("INSERT INTO t VALUES (2, 'before the target')");
    await sleep(1_100);
    const target = await primary.psql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
    await sleep(1_100);
    await primary.psql("INSERT INTO t VALUES (3, 'after the target')");
    await switchAndArchive(primary);

    const restored = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'restored-1',
      status: 'https',
      args: [...backupArgs(), '--restore-from-cluster', 'pg', '--recovery-target-time', target],
    });
    others.push(restored);
    await restored.waitForMessage('restore finished; PostgreSQL replays the archive next', 120_000);
    await restored.waitForMessage('the restored instance was promoted: it archives to its own stanza now', 120_000);
    expect(await restored.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM t")).toBe('1,2');
    expect(await restored.psql('SELECT pg_is_in_recovery()')).toBe('f');
    expect(await restored.psql('SELECT timeline_id FROM pg_control_checkpoint()')).toBe('2');
    expect(fs.readFileSync(path.join(restored.pgdata, 'postgresql.auto.conf'), 'utf8')).not.toMatch(/recovery_target/);
    await restored.waitForLine(
      (line) =>
        line.msg === 'backup repository checked: the stanza exists and WAL reaches it' && line.stanza === 'restored',
      120_000,
    );
    expect(archivedSegments(repository.dir, 'restored').length).toBeGreaterThan(0);
    expect(await restored.stop()).toBe(0);

    // Its PGDATA holds a cluster now: a second restore into it is refused before anything starts.
    const again = await startManager({
      dir: restored.dir,
      port: restored.port,
      args: [
        '--secrets-dir',
        path.join(restored.dir, 'secrets'),
        '--pod-name',
        'restored-1',
        ...backupArgs(),
        '--restore-from-backup',
      ],
    });
    expect(await again.exited).toMatchObject({ code: 2 });
    expect(again.stderr).toMatch(
      /--restore-from-backup: .* already holds a data directory; a restore needs an empty PGDATA/,
    );
  });

  it('fails loudly, without promoting, when the target is past the end of the archive', async () => {
    // Later than anything archived, yet a time pgBackRest finds a backup before.
    const later = await primary.psql(
      "SELECT to_char((now() + interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'",
    );
    const beyond = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'beyond-1',
      args: [...backupArgs(), '--restore-from-cluster', 'pg', '--recovery-target-time', later],
    });
    others.push(beyond);
    const { code } = await beyond.exited;
    expect(code).toBe(1);
    expect(
      beyond.lines.some(
        (line) =>
          line.logger === 'postgres' &&
          /recovery ended before configured recovery target was reached/.test(
            String((line.record as { message?: string } | undefined)?.message),
          ),
      ),
    ).toBe(true);
    expect(beyond.lines.find((line) => line.msg === 'PostgreSQL cannot start; exiting')).toMatchObject({
      level: 'error',
      reason: expect.stringMatching(/before its target/) as string,
    });
    expect(beyond.lines.filter((line) => line.msg === 'PostgreSQL started')).toHaveLength(1);
    expect(fs.existsSync(path.join(beyond.pgdata, 'recovery.signal'))).toBe(true);
    expect(fs.existsSync(path.join(repository.dir, 'archive', 'beyond'))).toBe(false);
  });

  it('a replica stopped while the primary recycled its WAL catches up from the archive, streams again, and refuses a backup', async () => {
    const replica = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'pg-2',
      replicaOf: `127.0.0.1:${primary.port}`,
      args: backupArgs(),
    });
    others.push(replica);
    await replica.waitUntilReady(120_000);
    await waitUntil(
      'the replica streams',
      async () =>
        (await primary.psql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pg-2'")) === '1',
      30_000,
    );
    expect(await replica.stop()).toBe(0);
    await waitUntil(
      'the slot is inactive',
      async () => (await primary.psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'im_pg_2'")) === 'f',
      30_000,
    );
    await primary.psql("SELECT pg_drop_replication_slot('im_pg_2')");
    const firstMissing = await primary.psql('SELECT pg_walfile_name(pg_current_wal_lsn())');
    for (let i = 0; i < 4; i++) {
      await primary.psql(`INSERT INTO t SELECT 100 + ${i}, repeat('x', 1000) FROM generate_series(1, 2000)`);
      await switchAndArchive(primary);
    }
    await primary.psql('CHECKPOINT');
    await primary.psql('CHECKPOINT');
    expect(fs.existsSync(path.join(primary.pgdata, 'pg_wal', firstMissing))).toBe(false);

    const back = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'pg-2',
      replicaOf: `127.0.0.1:${primary.port}`,
      dir: replica.dir,
      port: replica.port,
      status: 'https',
      args: backupArgs(),
    });
    others.push(back);
    await back.waitForLine(
      (line) =>
        line.logger === 'postgres' &&
        /^restored log file ".*" from archive$/.test(
          String((line.record as { message?: string } | undefined)?.message),
        ),
      120_000,
    );
    await waitUntil(
      'the replica has every row',
      async () => (await back.psql('SELECT count(*) FROM t WHERE id >= 100')) === '8000',
      120_000,
    );
    await primary.psql("INSERT INTO t VALUES (4, 'streamed')");
    await waitUntil(
      'the replica streams again',
      async () => (await back.psql('SELECT count(*) FROM t WHERE id = 4')) === '1',
      60_000,
    );
    expect(await primary.psql("SELECT state FROM pg_stat_replication WHERE application_name = 'pg-2'")).toBe(
      'streaming',
    );
    // Backups are the primary's: a replica refuses one, and says why.
    const refused = await api(back, '/pg/backup', 'POST', { type: 'full' });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatch(/backups are taken on the running primary; this instance is a replica/);
    expect(await back.stop()).toBe(0);
  });

  it('loses no WAL segment while the repository is unwritable, and reports it once a minute', async () => {
    fs.chmodSync(repository.dir, 0o000);
    let failedSegment = '';
    try {
      failedSegment = await primary.psql('SELECT pg_walfile_name(pg_switch_wal())');
      await primary.psql("INSERT INTO t VALUES (5, 'while unwritable')");
      await primary.psql('SELECT pg_switch_wal()');
      const warning = await primary.waitForMessage(
        'WAL archiving fails: PostgreSQL keeps the WAL in pg_wal and retries',
        90_000,
      );
      expect(warning.level).toBe('warning');
      await waitUntil(
        'status reports archiving failing',
        async () => (await status(primary)).backup.archive.failing === true,
        30_000,
      );
      expect((await api(primary, '/metrics')).body).toMatch(/^instance_manager_wal_archive_failing 1$/m);
      expect(fs.existsSync(path.join(primary.pgdata, 'pg_wal', failedSegment))).toBe(true);
    } finally {
      fs.chmodSync(repository.dir, 0o750);
    }
    await waitForArchivingToResume(primary, "INSERT INTO t VALUES (6, 'repository back')", failedSegment);
    const warnings = primary.lines.filter(
      (line) => line.msg === 'WAL archiving fails: PostgreSQL keeps the WAL in pg_wal and retries',
    );
    expect(warnings.length).toBeLessThanOrEqual(3);
    const timeline1 = archivedSegments(repository.dir, 'pg').filter((name) => name.startsWith('00000001'));
    expect(timeline1).toContain(failedSegment);
    expect(gapsIn(timeline1)).toEqual([]);
    await pgbackrestByHand(primary.runDir, 'pg', 'check');
    await pgbackrestByHand(primary.runDir, 'pg', 'verify');
  });

  it('reports a backup interrupted by a crash of PostgreSQL as failed, and the next one succeeds', async () => {
    const before = primary.lines.length;
    const answer = await api(primary, '/pg/backup', 'POST', { type: 'full' });
    expect(answer.status, answer.body).toBe(202);
    const interrupted = JSON.parse(answer.body) as Backup;
    await primary.waitForLine(
      (line) => line.logger === 'pgbackrest' && /^execute non-exclusive backup start/.test(line.msg),
      60_000,
      before,
    );
    const started = primary.lines.filter((line) => line.msg === 'PostgreSQL started');
    process.kill(Number(started.at(-1)!.postmasterPid), 'SIGKILL');
    await primary.waitForMessage('PostgreSQL exited unexpectedly', 10_000, before);
    await waitUntil(
      'the interrupted backup is reported',
      async () => (await backupState(primary)).last?.id === interrupted.id,
      120_000,
    );
    const reported = (await backupState(primary)).last!;
    expect(reported.error).toMatch(/^pgbackrest backup failed/);
    expect(reported.stoppedAt).not.toBeNull();
    expect(primary.lines.slice(before).find((line) => line.msg === 'backup failed')).toMatchObject({ level: 'error' });

    // Asked while the restart's stanza check holds pgBackRest's lock: the backup waits for it.
    await primary.waitForLine(
      (line) => line.logger === 'pgbackrest' && /^stanza-create command begin/.test(line.msg),
      60_000,
      before,
    );
    const next = await backup(primary, { type: 'full' });
    expect(next).toMatchObject({ type: 'full', error: null });
    await pgbackrestByHand(primary.runDir, 'pg', 'check');
    await pgbackrestByHand(primary.runDir, 'pg', 'verify');
  });

  it('reports a backup interrupted by SIGTERM as failed, and the next one succeeds', async () => {
    const before = primary.lines.length;
    const answer = await api(primary, '/pg/backup', 'POST', { type: 'full' });
    expect(answer.status).toBe(202);
    await primary.waitForLine(
      (line) => line.logger === 'pgbackrest' && /^execute non-exclusive backup start/.test(line.msg),
      60_000,
      before,
    );
    expect(await primary.stop()).toBe(0);
    expect(primary.lines.slice(before).find((line) => line.msg === 'backup failed')).toMatchObject({
      level: 'error',
      err: expect.stringMatching(/^interrupted: the manager is stopping/) as string,
    });

    primary = await startManager({
      dir: primary.dir,
      port: primary.port,
      status: 'https',
      args: [
        '--secrets-dir',
        path.join(primary.dir, 'secrets'),
        '--listen',
        '127.0.0.1',
        '--pod-name',
        'pg-1',
        ...FAST_STOP,
        ...backupArgs(),
      ],
    });
    await primary.waitForMessage('backup repository checked: the stanza exists and WAL reaches it', 90_000);
    await waitForStatusApi(primary.statusBase, { ca: authorities.serverCa.certPem });
    const next = await backup(primary, { type: 'full' });
    expect(next).toMatchObject({ type: 'full', error: null });
    await pgbackrestByHand(primary.runDir, 'pg', 'check');
  });
});

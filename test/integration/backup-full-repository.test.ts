/**
 * A repository whose file system is full: a small tmpfs, filled up by a file of its own, then freed.
 * Nothing may be lost meanwhile: PostgreSQL keeps the WAL, a backup fails and says so, and once there
 * is room again every segment arrives and the next backup succeeds.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  archivedSegments,
  gapsIn,
  makeRepository,
  pgbackrestByHand,
  waitForArchivingToResume,
  type Repository,
} from '../support/backup.js';
import type { Manager } from '../support/manager.js';
import type { OpensslPair } from '../support/openssl.js';
import { clusterDir, startNode, waitUntil, type Authorities } from '../support/replication.js';
import { opensslLeaf } from '../support/secrets.js';
import { askAsOperator, waitForStatusApi } from '../support/status.js';

const FAILING = 'WAL archiving fails: PostgreSQL keeps the WAL in pg_wal and retries';

/** Writes into `file` until the file system has no room left; returns how many bytes it took. */
function fillUp(file: string): number {
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  const fd = fs.openSync(file, 'w');
  let written = 0;
  try {
    for (;;) written += fs.writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    fs.closeSync(fd);
  }
  return written;
}

describe('a full backup repository', () => {
  let dir: string;
  let authorities: Authorities;
  let operator: OpensslPair;
  let repository: Repository;
  let primary: Manager;
  let mounted = false;

  const api = (apiPath: string, method = 'GET', body?: unknown) =>
    askAsOperator(
      `${primary.statusBase}${apiPath}`,
      { ca: authorities.serverCa.certPem, cert: operator.certPem, key: operator.keyPem },
      method,
      body,
    );
  const lastBackup = async () =>
    (JSON.parse((await api('/pg/backup')).body) as { last: { id: string; error: string | null } | null }).last;
  const archiveStatus = async () =>
    (JSON.parse((await api('/pg/status')).body) as { backup: { archive: { failing: boolean } } }).backup.archive;

  beforeAll(async () => {
    ({ dir, authorities } = clusterDir('backup-full'));
    operator = opensslLeaf(path.join(dir, 'operator'), authorities.clientCa, { cn: 'instance-manager-operator' });
    // archive-timeout: how long a backup waits for the segment before it to be archived (60 s by default).
    repository = makeRepository(dir, ['start-fast=y', 'archive-timeout=10']);
    const owner = fs.statSync(repository.dir);
    execFileSync('mount', [
      '-t',
      'tmpfs',
      '-o',
      `size=48m,mode=0750,uid=${owner.uid},gid=${owner.gid}`,
      'im-test-repository',
      repository.dir,
    ]);
    mounted = true;
    primary = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 'full-1',
      status: 'https',
      args: ['--backup-repo', repository.optionsFile],
    });
    await primary.waitUntilReady();
    await waitForStatusApi(primary.statusBase, { ca: authorities.serverCa.certPem });
    await primary.waitForMessage('backup repository checked: the stanza exists and WAL reaches it', 90_000);
  });

  afterAll(async () => {
    await primary?.stop();
    if (mounted) execFileSync('umount', [repository.dir]);
  });

  it('keeps the WAL and fails a backup while full, then archives every segment and backs up once freed', async () => {
    await primary.psql('CREATE TABLE t (id int, note text)');
    const filler = path.join(repository.dir, 'filler');
    expect(fillUp(filler)).toBeGreaterThan(0);

    const before = primary.lines.length;
    const keptSegment = await primary.psql('SELECT pg_walfile_name(pg_switch_wal())');
    await primary.psql("INSERT INTO t SELECT i, repeat('x', 200) FROM generate_series(1, 20000) i");
    await primary.psql('SELECT pg_switch_wal()');
    expect((await primary.waitForMessage(FAILING, 90_000, before)).level).toBe('warning');
    await waitUntil('status reports archiving failing', async () => (await archiveStatus()).failing, 30_000);
    expect((await api('/metrics')).body).toMatch(/^instance_manager_wal_archive_failing 1$/m);
    expect(fs.existsSync(path.join(primary.pgdata, 'pg_wal', keptSegment))).toBe(true);
    // archive-push runs as PostgreSQL's archive_command: its reason reaches stdout under its own logger.
    const reason = await primary.waitForLine((line) => /No space left on device/.test(line.msg), 10_000, before);
    expect(reason).toMatchObject({ logger: 'pgbackrest', level: 'error', process: 'P00' });

    const started = await api('/pg/backup', 'POST', { type: 'full' });
    expect(started.status, started.body).toBe(202);
    const startedId = (JSON.parse(started.body) as { id: string }).id;
    await waitUntil(
      'the backup on a full repository ends',
      async () => (await lastBackup())?.id === startedId,
      120_000,
    );
    expect((await lastBackup())!.error).toMatch(/^pgbackrest backup failed/);

    fs.rmSync(filler);
    await waitForArchivingToResume(primary, "INSERT INTO t VALUES (0, 'room again')", keptSegment, before);
    const segments = archivedSegments(repository.dir, 'full').filter((name) => name.startsWith('00000001'));
    expect(segments).toContain(keptSegment);
    expect(gapsIn(segments)).toEqual([]);

    const next = await api('/pg/backup', 'POST', { type: 'full' });
    expect(next.status, next.body).toBe(202);
    const nextId = (JSON.parse(next.body) as { id: string }).id;
    await waitUntil('the next backup ends', async () => (await lastBackup())?.id === nextId, 120_000);
    expect((await lastBackup())!.error).toBeNull();
    await pgbackrestByHand(primary.runDir, 'full', 'check');
    await pgbackrestByHand(primary.runDir, 'full', 'verify');
  });
});

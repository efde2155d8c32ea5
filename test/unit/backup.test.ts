/** The pure parts of backups: repository options, pgbackrest.conf, info, console lines, archiving, restore, the API body. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  archiveCommands,
  archiveCommandLines,
  archiveNotice,
  archiveStatus,
  clusterNameFromPod,
  parseConsoleLine,
  parseInfo,
  parseRepoOptions,
  renderPgBackRestConf,
  restoreArgs,
  withoutRecoveryTarget,
  withRecoveryTarget,
} from '../../src/backup/index.js';
import { resolveBackupOptions } from '../../src/cli/backup-flags.js';
import { UsageError } from '../../src/errors.js';
import { parseBackupRequest } from '../../src/status/backup-request.js';

describe('--backup-repo file', () => {
  it('reads key=value lines, skipping comments, blank lines and a [global] header', () => {
    const text = '# repository\n[global]\nrepo1-path=/backups\n\nrepo1-retention-full = 2\nrepo1-cipher-pass=a#b\n';
    expect([...parseRepoOptions(text, 'repo.conf')]).toEqual([
      ['repo1-path', '/backups'],
      ['repo1-retention-full', '2'],
      ['repo1-cipher-pass', 'a#b'],
    ]);
  });

  it.each([
    ['stanza=x', 'repo.conf:1: option "stanza" is managed by instance-manager'],
    ['repo1-path=/b\npg1-path=/data', 'repo.conf:2: option "pg1-path" is managed'],
    ['pg2-host=other', 'option "pg2-host" is managed'],
    ['log-level-console=detail', 'option "log-level-console" is managed'],
    ['lock-path=/tmp', 'option "lock-path" is managed'],
    ['spool-path=/tmp', 'option "spool-path" is managed'],
    ['archive-async=n', 'option "archive-async" is managed'],
    ['[demo]\nrepo1-path=/b', 'repo.conf:1: not a "key=value" line'],
    ['repo1-path', 'repo.conf:1: not a "key=value" line'],
    ['repo1-path=', 'option "repo1-path" has no value'],
    ['repo1-path=/a\nrepo1-path=/b', 'repo.conf:2: option "repo1-path" is set twice'],
    ['# nothing\n', 'repo.conf: no repository options'],
  ])('refuses %j', (text, message) => {
    expect(() => parseRepoOptions(text, 'repo.conf')).toThrow(UsageError);
    expect(() => parseRepoOptions(text, 'repo.conf')).toThrow(message);
  });
});

describe('pgbackrest.conf', () => {
  const inputs = {
    repo: new Map([['repo1-path', '/backups']]),
    stanza: 'pg',
    sourceStanza: undefined,
    pgdata: '/data/pgdata',
    socketDir: '/controller/run',
    port: 5432,
    pgUser: 'postgres',
    lockPath: '/controller/pgbackrest/lock',
    spoolPath: '/controller/pgbackrest/spool',
  };

  it('puts the repository and the owned options in [global] and this instance in the stanza section', () => {
    expect(renderPgBackRestConf(inputs)).toBe(
      [
        '# Written by instance-manager from --backup-repo: do not edit.',
        '[global]',
        'repo1-path=/backups',
        'compress-type=zst',
        'lock-path=/controller/pgbackrest/lock',
        'spool-path=/controller/pgbackrest/spool',
        'archive-async=y',
        'log-level-console=warn',
        'log-level-stderr=off',
        'log-level-file=off',
        'log-timestamp=n',
        '',
        '[pg]',
        'pg1-path=/data/pgdata',
        'pg1-socket-path=/controller/run',
        'pg1-port=5432',
        'pg1-user=postgres',
        '',
      ].join('\n'),
    );
  });

  it('compresses with zstd unless the repository file says otherwise', () => {
    const chosen = renderPgBackRestConf({ ...inputs, repo: new Map([...inputs.repo, ['compress-type', 'lz4']]) });
    expect(chosen.match(/^compress-type=.*$/gm)).toEqual(['compress-type=lz4']);
  });

  it('adds the source stanza of a restore from another cluster', () => {
    const text = renderPgBackRestConf({ ...inputs, sourceStanza: 'old' });
    expect(text).toContain('\n[pg]\n');
    expect(text).toContain('\n[old]\npg1-path=/data/pgdata\n');
    expect(renderPgBackRestConf({ ...inputs, sourceStanza: 'pg' }).match(/\[pg\]/g)).toHaveLength(1);
  });

  it('gives PostgreSQL archive and restore commands naming the config and the stanza', () => {
    expect(archiveCommands('/controller/pgbackrest/pgbackrest.conf', 'pg')).toEqual({
      archiveCommand: 'pgbackrest --config=/controller/pgbackrest/pgbackrest.conf --stanza=pg archive-push %p',
      restoreCommand: 'pgbackrest --config=/controller/pgbackrest/pgbackrest.conf --stanza=pg archive-get %f "%p"',
    });
    expect(archiveCommands('/my run/x.conf', 'pg').archiveCommand).toBe(
      "pgbackrest --config='/my run/x.conf' --stanza=pg archive-push %p",
    );
  });

  it.each([
    ['pg-1', 'pg'],
    ['pg-cluster-12', 'pg-cluster'],
    ['standalone', 'standalone'],
    ['db-1a', 'db-1a'],
  ])('the cluster name of pod %s is %s', (pod, cluster) => {
    expect(clusterNameFromPod(pod)).toBe(cluster);
  });
});

describe('pgbackrest info --output=json', () => {
  const json = fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'pgbackrest-info.json'), 'utf8');

  it('reads the backups, oldest first, with sizes, WAL and times', () => {
    const info = parseInfo(json);
    expect(info).toMatchObject({
      statusCode: 0,
      statusMessage: 'ok',
      archiveMin: '000000010000000000000001',
      archiveMax: '000000010000000000000005',
    });
    expect(info.backups).toEqual([
      {
        id: '20261130-145619F',
        label: '20261130-145619F',
        type: 'full',
        startedAt: '2026-11-30T14:56:19.000Z',
        stoppedAt: '2026-11-30T14:56:25.000Z',
        sizeBytes: 22987507,
        repositorySizeBytes: 3055146,
        walStart: '000000010000000000000003',
        walStop: '000000010000000000000003',
        error: null,
      },
      {
        id: '20261130-145619F_20261130-145626I',
        label: '20261130-145619F_20261130-145626I',
        type: 'incr',
        startedAt: '2026-11-30T14:56:26.000Z',
        stoppedAt: '2026-11-30T14:56:28.000Z',
        sizeBytes: 22987507,
        repositorySizeBytes: 430,
        walStart: '000000010000000000000004',
        walStop: '000000010000000000000005',
        error: null,
      },
    ]);
  });

  it('reads a stanza without backups', () => {
    const info = parseInfo('[{"archive":[],"backup":[],"name":"pg","status":{"code":2,"message":"no valid backups"}}]');
    expect(info).toEqual({
      statusCode: 2,
      statusMessage: 'no valid backups',
      backups: [],
      archiveMin: null,
      archiveMax: null,
    });
  });

  it.each([['{}'], ['[]'], ['[{"status":{"code":0},"backup":[{"type":"weird","timestamp":{"start":1}}]}]']])(
    'refuses %s',
    (text) => {
      expect(() => parseInfo(text)).toThrow(/pgbackrest info/);
    },
  );
});

describe('pgBackRest console lines', () => {
  it.each([
    [
      'P00   INFO: backup command begin 2.45: --type=full',
      { level: 'info', process: 'P00', msg: 'backup command begin 2.45: --type=full' },
    ],
    [
      'P00   WARN: no prior backup exists, incr backup has been changed to full',
      { level: 'warning', process: 'P00', msg: 'no prior backup exists, incr backup has been changed to full' },
    ],
    [
      'P00  ERROR: [082]: WAL segment was not archived',
      { level: 'error', process: 'P00', msg: '[082]: WAL segment was not archived' },
    ],
    [
      'P01 DETAIL: backup file /data/base/1/1259',
      { level: 'info', process: 'P01', msg: 'backup file /data/base/1/1259' },
    ],
    ['P00  DEBUG:     common/lock', { level: 'debug', process: 'P00', msg: '    common/lock' }],
    [
      '            HINT: is archive_command configured?',
      { level: 'info', process: undefined, msg: '            HINT: is archive_command configured?' },
    ],
  ])('%s', (line, expected) => {
    expect(parseConsoleLine(line)).toEqual(expected);
  });
});

describe("pgBackRest's lines on PostgreSQL's stderr", () => {
  it('takes console lines and the indented lines after one, and leaves PostgreSQL its own', () => {
    const read = archiveCommandLines();
    const lines = [
      'P00  ERROR: [104]: raised from local-1 protocol: archive-push command encountered error(s):',
      "            repo1: [FileWriteError] unable to write '/r/x.gz.pgbackrest.tmp': [28] No space left on device",
      '2026-11-30 17:34:48.733 UTC [61] LOG:  archive command failed with exit code 104',
      '\tThe failed archive command was: pgbackrest archive-push pg_wal/000000010000000000000002',
      'P00   WARN: archive-get: WAL segment 000000010000000000000009 was not found',
    ].map(read);
    expect(lines).toEqual([
      {
        logger: 'pgbackrest',
        level: 'error',
        msg: '[104]: raised from local-1 protocol: archive-push command encountered error(s):',
        fields: { process: 'P00' },
      },
      {
        logger: 'pgbackrest',
        level: 'error',
        msg: "repo1: [FileWriteError] unable to write '/r/x.gz.pgbackrest.tmp': [28] No space left on device",
        fields: { process: 'P00' },
      },
      undefined,
      // Indented, but after PostgreSQL's line: PostgreSQL's DETAIL.
      undefined,
      {
        logger: 'pgbackrest',
        level: 'warning',
        msg: 'archive-get: WAL segment 000000010000000000000009 was not found',
        fields: { process: 'P00' },
      },
    ]);
  });
});

describe('archiving status', () => {
  const at = (iso: string) => new Date(iso);
  const stats = {
    archivedCount: 10,
    lastArchivedWal: '000000010000000000000009',
    lastArchivedAt: at('2026-11-30T10:00:00Z'),
    failedCount: 0,
    lastFailedWal: null,
    lastFailedAt: null,
  };

  it.each([
    ['never failed', stats, false],
    ['failed before the last success', { ...stats, failedCount: 3, lastFailedAt: at('2026-11-30T09:00:00Z') }, false],
    ['failed after the last success', { ...stats, failedCount: 3, lastFailedAt: at('2026-11-30T10:00:01Z') }, true],
    [
      'failed and never archived',
      { ...stats, archivedCount: 0, lastArchivedAt: null, failedCount: 1, lastFailedAt: at('2026-11-30T10:00:00Z') },
      true,
    ],
  ])('%s', (_name, reading, failing) => {
    expect(archiveStatus(reading).failing).toBe(failing);
  });

  it.each([
    ['works, no warning given', false, undefined, 0, 'none'],
    ['fails for the first time', true, undefined, 0, 'failing'],
    ['still fails within the minute', true, 1_000, 60_999, 'none'],
    ['still fails a minute later', true, 1_000, 61_000, 'failing'],
    ['works again after a warning', false, 1_000, 5_000, 'recovered'],
  ] as const)('%s: %s', (_name, failing, lastWarningAt, now, kind) => {
    expect(archiveNotice(failing, lastWarningAt, now).kind).toBe(kind);
  });
});

describe('restore', () => {
  it.each([
    ['the latest backup', { sourceStanza: 'pg', set: undefined }, ['--type=preserve']],
    ['a set', { sourceStanza: 'pg', set: '20261130-145619F' }, ['--type=preserve', '--set=20261130-145619F']],
  ])('pgbackrest restore arguments for %s', (_name, request, args) => {
    expect(restoreArgs(request)).toEqual(args);
  });

  const autoConf = "# Do not edit this file manually!\nwork_mem = '64MB'\n";

  it.each([
    [{ kind: 'time' as const, value: '2026-11-30 15:00:00+00' }, "recovery_target_time = '2026-11-30 15:00:00+00'"],
    [{ kind: 'lsn' as const, value: '0/3000138' }, "recovery_target_lsn = '0/3000138'"],
    [{ kind: 'name' as const, value: "before 'the' upgrade" }, "recovery_target_name = 'before ''the'' upgrade'"],
  ])('appends the target %j to postgresql.auto.conf, and takes it out again', (target, line) => {
    const withTarget = withRecoveryTarget(autoConf, target);
    expect(withTarget).toBe(
      `${autoConf}# recovery target of the restore, written by instance-manager and removed at promotion\n${line}\nrecovery_target_action = 'promote'\n`,
    );
    expect(withoutRecoveryTarget(withTarget)).toBe(autoConf);
    // A second restore into the same file does not stack targets.
    expect(withRecoveryTarget(withTarget, target)).toBe(withTarget);
  });
});

describe('backup and restore flags', () => {
  it.each([
    [{}, 'pg-1', false, undefined],
    [{ backupRepo: '/r.conf' }, 'pg-1', false, { repoFile: '/r.conf', clusterName: 'pg', restore: undefined }],
    [
      { backupRepo: '/r.conf', clusterName: 'main' },
      'pg-1',
      false,
      { repoFile: '/r.conf', clusterName: 'main', restore: undefined },
    ],
    [
      { backupRepo: '/r.conf', restoreFromBackup: true, recoveryTargetLsn: '0/3000138' },
      'pg-1',
      false,
      {
        repoFile: '/r.conf',
        clusterName: 'pg',
        restore: { sourceStanza: 'pg', set: undefined, target: { kind: 'lsn', value: '0/3000138' } },
      },
    ],
    [
      { backupRepo: '/r.conf', restoreFromCluster: 'old', restoreSet: 'L' },
      'new-0',
      false,
      {
        repoFile: '/r.conf',
        clusterName: 'new',
        restore: { sourceStanza: 'old', set: 'L', target: undefined },
      },
    ],
  ])('%j', (flags, pod, replica, expected) => {
    expect(resolveBackupOptions(flags, pod, replica)).toEqual(expected);
  });

  it.each([
    [{ restoreFromBackup: true }, false, '--restore-from-backup needs --backup-repo'],
    [{ recoveryTargetTime: '2026-11-30 15:00:00+00' }, false, '--recovery-target-* needs --backup-repo'],
    [{ backupRepo: '/r', recoveryTargetName: 'before' }, false, '--recovery-target-* needs --restore-from-backup'],
    [
      { backupRepo: '/r', restoreFromBackup: true, recoveryTargetTime: 'yesterday-ish' },
      false,
      '--recovery-target-time: "yesterday-ish" is not a time',
    ],
    [
      { backupRepo: '/r', restoreFromBackup: true, recoveryTargetLsn: '12345' },
      false,
      '--recovery-target-lsn: "12345" is not an LSN',
    ],
    [
      { backupRepo: '/r', restoreFromBackup: true, recoveryTargetLsn: '0/1', recoveryTargetName: 'x' },
      false,
      'exclude each other',
    ],
    [{ backupRepo: '/r', restoreFromBackup: true }, true, '--restore-from-backup and --replica-of exclude each other'],
    [{ backupRepo: '/r', clusterName: 'no/slash' }, false, '--cluster-name: "no/slash" is not a valid cluster name'],
  ])('refuses %j', (flags, replica, message) => {
    expect(() => resolveBackupOptions(flags, 'pg-1', replica)).toThrow(message);
  });
});

describe('POST /pg/backup body', () => {
  it.each([
    [undefined, { ok: true, type: 'incr' }],
    [{}, { ok: true, type: 'incr' }],
    [{ type: 'full' }, { ok: true, type: 'full' }],
    [{ type: 'diff' }, { ok: true, type: 'diff' }],
    [{ type: 'FULL' }, { ok: false, detail: '"type" must be one of full, diff, incr' }],
    [{ type: 1 }, { ok: false, detail: '"type" must be one of full, diff, incr' }],
    [
      { type: 'full', when: 'now' },
      { ok: false, detail: 'unknown field "when"; only "type" is accepted' },
    ],
    [['full'], { ok: false, detail: 'the body must be a JSON object like {"type":"full"}' }],
    ['full', { ok: false, detail: 'the body must be a JSON object like {"type":"full"}' }],
  ])('%j', (body, expected) => {
    expect(parseBackupRequest(body)).toEqual(expected);
  });
});

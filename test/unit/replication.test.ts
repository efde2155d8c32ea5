import { describe, expect, it } from 'vitest';
import {
  basebackupArgs,
  classifyFailure,
  cloneDirFor,
  ensureSlotSql,
  parseProgressLine,
  primaryConninfo,
  ProgressReporter,
  quoteConninfoValue,
  retryDelayMs,
  slotNameFor,
  standbySettings,
  type CloneProgress,
  type PrimaryConnection,
} from '../../src/replication/index.js';

const connection: PrimaryConnection = {
  primary: { host: '10.231.0.1', port: 5433 },
  applicationName: 'pg-2',
  tls: {
    serverCaFile: '/controller/certificates/server-ca.crt',
    certFile: '/c/streaming_replica.crt',
    keyFile: '/c/streaming_replica.key',
  },
};

describe('parseProgressLine', () => {
  it.each([
    [
      '     0/30580 kB (0%), 0/1 tablespace (data/base/1/1259                 )',
      { doneBytes: 0, totalBytes: 30580 * 1024, percent: 0 },
    ],
    [
      '30590/30590 kB (100%), 1/1 tablespace                                         ',
      { doneBytes: 30590 * 1024, totalBytes: 30590 * 1024, percent: 100 },
    ],
    [
      '1048576/2097152 kB (50%), 1/3 tablespaces (/var/lib/pg/ts1/PG_15_202209061/16384/16385)',
      { doneBytes: 1048576 * 1024, totalBytes: 2097152 * 1024, percent: 50 },
    ],
    ['  512/? kB (?%), 0/1 tablespace', { doneBytes: 512 * 1024, totalBytes: 512 * 1024, percent: 0 }],
  ])('%j', (line, expected) => {
    expect(parseProgressLine(line)).toEqual(expected);
  });

  it.each([
    'pg_basebackup: initiating base backup, waiting for checkpoint to complete',
    'pg_basebackup: write-ahead log start point: 0/2000028 on timeline 1',
    'pg_basebackup: error: connection to server at "127.0.0.1", port 5433 failed: Connection refused',
    '',
  ])('not progress: %j', (line) => {
    expect(parseProgressLine(line)).toBeUndefined();
  });
});

describe('ProgressReporter', () => {
  it('reports the first figures, then at most once per interval, and the last ones at the end', () => {
    const reported: CloneProgress[] = [];
    const reporter = new ProgressReporter((progress) => reported.push(progress), 5_000);
    const line = (kb: number) => `${kb}/100 kB (${kb}%), 0/1 tablespace`;
    expect(reporter.accept(line(1), 0)).toBe(true);
    expect(reporter.accept(line(2), 1_000)).toBe(true);
    expect(reporter.accept(line(3), 4_999)).toBe(true);
    expect(reporter.accept(line(4), 5_000)).toBe(true);
    expect(reporter.accept(line(100), 6_000)).toBe(true);
    expect(reporter.accept('pg_basebackup: base backup completed', 6_001)).toBe(false);
    reporter.finish();
    reporter.finish();
    expect(reported.map((progress) => progress.percent)).toEqual([1, 4, 100]);
  });
});

describe('conninfo', () => {
  it.each([
    ['plain', "'plain'"],
    ["it's", "'it\\'s'"],
    ['back\\slash', "'back\\\\slash'"],
    ['with space', "'with space'"],
    ['', "''"],
  ])('quotes %j', (value, quoted) => {
    expect(quoteConninfoValue(value)).toBe(quoted);
  });

  it('always verifies the primary fully and authenticates with the replication certificate', () => {
    const conninfo = primaryConninfo(connection);
    expect(conninfo).toContain("sslmode='verify-full'");
    expect(conninfo).toContain("sslrootcert='/controller/certificates/server-ca.crt'");
    expect(conninfo).toContain("sslcert='/c/streaming_replica.crt'");
    expect(conninfo).toContain("sslkey='/c/streaming_replica.key'");
    expect(conninfo).toContain("user='streaming_replica'");
    expect(conninfo).toContain("host='10.231.0.1' port='5433'");
    expect(conninfo).toContain("application_name='pg-2'");
    expect(conninfo).toMatch(/tcp_user_timeout='\d+'/);
    expect(conninfo).not.toMatch(/password/);
  });

  it('standby settings carry the conninfo, the slot and the latest timeline', () => {
    expect(Object.fromEntries(standbySettings(connection))).toEqual({
      primary_conninfo: primaryConninfo(connection),
      primary_slot_name: 'im_pg_2',
      recovery_target_timeline: 'latest',
    });
  });
});

describe('slotNameFor', () => {
  it.each([
    ['pg-2', 'im_pg_2'],
    ['Cluster.Example-1', 'im_cluster_example_1'],
    ['a'.repeat(80), `im_${'a'.repeat(60)}`],
  ])('%s -> %s', (pod, slot) => {
    expect(slotNameFor(pod)).toBe(slot);
    expect(slot).toMatch(/^[a-z0-9_]{1,63}$/);
  });
});

describe('basebackupArgs', () => {
  it('streams WAL, checkpoints fast, creates the slot only when asked', () => {
    const args = basebackupArgs('/data/.pgdata.cloning', connection, true);
    expect(args).toEqual(
      expect.arrayContaining([
        '--wal-method',
        'stream',
        '--checkpoint',
        'fast',
        '--create-slot',
        '--slot',
        'im_pg_2',
        '--progress',
        '--no-password',
      ]),
    );
    expect(args[args.indexOf('--dbname') + 1]).toBe(primaryConninfo(connection));
    expect(basebackupArgs('/d', connection, false)).not.toContain('--create-slot');
  });

  it('clones beside PGDATA', () => {
    expect(cloneDirFor('/var/lib/postgresql/data/pgdata')).toBe('/var/lib/postgresql/data/.pgdata.cloning');
  });
});

describe('retryDelayMs', () => {
  it.each([
    [1, 1_000],
    [2, 2_000],
    [3, 4_000],
    [6, 30_000],
    [50, 30_000],
  ])('after %i failures: %i ms', (failures, delay) => {
    expect(retryDelayMs(failures)).toBe(delay);
  });
});

describe('classifyFailure', () => {
  it.each([
    [
      'pg_basebackup: error: could not send replication command "CREATE_REPLICATION_SLOT": ERROR:  replication slot "im_pg_2" already exists',
      'slot-exists',
    ],
    ['ERROR:  replication slot "im_pg_2" is active for PID 4242', 'slot-active'],
    [
      'connection to server at "127.0.0.1", port 5433 failed: server does not support SSL, but SSL was required',
      'primary-without-tls',
    ],
    [
      'connection to server at "127.0.0.1", port 5433 failed: SSL error: certificate verify failed',
      'primary-certificate-untrusted',
    ],
    [
      'connection to server at "10.231.0.1", port 5433 failed: server certificate for "other.example" does not match host name "10.231.0.1"',
      'primary-name-mismatch',
    ],
    [
      'connection to server at "127.0.0.1", port 5433 failed: SSL error: tlsv1 alert unknown ca',
      'client-certificate-refused',
    ],
    ['FATAL:  certificate authentication failed for user "streaming_replica"', 'client-certificate-refused'],
    [
      'connection to server at "127.0.0.1", port 5433 failed: could not open certificate file "/c/streaming_replica.crt": No such file or directory',
      'local-certificate-missing',
    ],
    ['FATAL:  role "streaming_replica" does not exist', 'role-missing'],
    [
      'FATAL:  no pg_hba.conf entry for replication connection from host "127.0.0.1", user "streaming_replica", SSL encryption',
      'not-allowed-by-hba',
    ],
    [
      'connection to server at "127.0.0.1", port 5433 failed: Connection refused | Is the server running on that host and accepting TCP/IP connections?',
      'primary-unreachable',
    ],
    ['FATAL:  the database system is starting up', 'primary-unreachable'],
    ['pg_basebackup: error: something new', 'other'],
  ])('%s', (message, cause) => {
    expect(classifyFailure(message).cause).toBe(cause);
  });
});

describe('ensureSlotSql', () => {
  it('creates the slot, reserving WAL at once, only where it is missing', () => {
    expect(ensureSlotSql('im_pg_2').replace(/\s+/g, ' ')).toBe(
      "SELECT count(pg_create_physical_replication_slot('im_pg_2', true)) FROM (SELECT 1) one " +
        "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = 'im_pg_2')",
    );
  });
});

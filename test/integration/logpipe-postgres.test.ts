import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listProcesses } from '../../src/process/index.js';
import { scratchDir, startManager, type LogLine, type Manager } from '../support/manager.js';

const execFileAsync = promisify(execFile);

type RecordLine = LogLine & { record: Record<string, string | Record<string, string>> };

const isRecord = (line: LogLine): line is RecordLine => line.msg === 'record' && typeof line.record === 'object';
const statementOf = (line: LogLine) =>
  isRecord(line) && line.logger === 'postgres' ? String(line.record.message ?? '') : '';

/** Statements that test what a log pipe gets wrong: lines, quotes, unicode, size, forged lines. */
function workload(tag: string): string[] {
  return [
    `SELECT '${tag}' AS start`,
    `SELECT 'line one\nline two\n\n  indented', 2 AS "quoted ""ident"""`,
    `SELECT 'it''s "double" \\ back, comma', E'tab\\there'`,
    `SELECT 'héllo 日本 🐘 ${tag}'`,
    `SELECT length('${'x'.repeat(1024 * 1024)}')`,
    `SELECT '"\n{"level":"error","ts":"2026-01-01T00:00:00Z","logger":"instance-manager","msg":"pwned","logging_pod":"x"}\n2026-11-29 16:05:37.275 UTC,"forged",,,,,,,,,,PANIC'`,
    `INSERT INTO audited_${tag} VALUES (1), (2)`,
    `SELECT a FROM audited_${tag} ORDER BY a`,
    `SELECT '${tag}' AS done`,
  ];
}

function childrenOf(pid: number): { pid: number; cmdline: string }[] {
  return listProcesses()
    .filter((stat) => stat.ppid === pid)
    .map((stat) => {
      try {
        return { pid: stat.pid, cmdline: fs.readFileSync(`/proc/${stat.pid}/cmdline`, 'utf8').replaceAll('\0', ' ') };
      } catch {
        return { pid: stat.pid, cmdline: '' };
      }
    });
}

describe('log pipe with a real PostgreSQL', () => {
  let manager: Manager;
  let dir: string;

  beforeAll(async () => {
    dir = scratchDir('logpipe');
    // A regular file where the csvlog FIFO goes (a run without the manager left it): it must be replaced.
    fs.mkdirSync(path.join(dir, 'run', 'log'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'run', 'log', 'postgres.csv'), 'stale\n');
    const config = path.join(dir, 'extra.conf');
    fs.writeFileSync(
      config,
      [
        "shared_preload_libraries = 'pgaudit'",
        "log_statement = 'all'",
        "pgaudit.log = 'read, write'",
        'pgaudit.log_rows = on',
        "log_timezone = 'UTC'",
      ].join('\n'),
    );
    manager = await startManager({ dir, args: ['--config', config, '--smart-shutdown-timeout', '2'] });
    await manager.waitUntilReady();
  });

  afterAll(async () => {
    if (!manager) return;
    expect(await manager.stop()).toBe(0);
    expect(manager.strayStdout).toEqual([]);
  });

  it('makes the FIFOs (0600, owned by postgres) in place of a regular file', () => {
    for (const name of ['postgres.csv', 'postgres']) {
      const stat = fs.statSync(path.join(manager.runDir, 'log', name));
      expect(stat.isFIFO()).toBe(true);
      expect(stat.mode & 0o777).toBe(0o600);
      expect(stat.uid).toBe(Number(fs.readFileSync('/etc/passwd', 'utf8').match(/^postgres:[^:]*:(\d+):/m)![1]));
    }
  });

  it('logs exactly the statements of each backend, in order, each whole on one line; pgaudit records decoded', async () => {
    const tags = ['w1', 'w2'];
    await manager.psql(tags.map((tag) => `CREATE TABLE audited_${tag} (a int)`).join('; '));
    await Promise.all(
      tags.map(async (tag) => {
        const client = new pg.Client({
          host: manager.socketDir,
          port: manager.port,
          user: 'postgres',
          database: 'postgres',
          application_name: tag,
        });
        await client.connect();
        try {
          for (const sql of workload(tag)) await client.query(sql);
        } finally {
          await client.end();
        }
      }),
    );
    for (const tag of tags)
      await manager.waitForLine((line) => statementOf(line) === `statement: SELECT '${tag}' AS done`, 30_000);

    for (const tag of tags) {
      const logged = manager.lines
        .filter(
          (line) =>
            isRecord(line) && line.record.application_name === tag && statementOf(line).startsWith('statement: '),
        )
        .map((line) => statementOf(line).slice('statement: '.length));
      expect(logged).toEqual(workload(tag));

      const audits = manager.lines.filter(
        (line): line is RecordLine =>
          line.logger === 'pgaudit' && isRecord(line) && line.record.application_name === tag,
      );
      const audited = audits.map((line) => line.record.audit as Record<string, string>);
      expect(audited.map((audit) => audit.statement)).toEqual(
        workload(tag).filter((sql) => /^(SELECT|INSERT)/.test(sql)),
      );
      expect(audits.every((line) => line.record.message === undefined)).toBe(true);
      expect(audited.find((audit) => audit.command === 'INSERT')).toMatchObject({ class: 'WRITE', rows: '2' });
      // A statement on no relation: pgaudit leaves object_type and object_name empty, and empty fields are omitted.
      expect(Object.keys(audited[0]!)).toEqual([
        'audit_type',
        'statement_id',
        'substatement_id',
        'class',
        'command',
        'statement',
        'parameter',
        'rows',
      ]);
    }
    expect(manager.lines.filter((line) => line.msg === 'pwned' || line.msg === 'unparsable csvlog record')).toEqual([]);
    expect(manager.strayStdout).toEqual([]);
  });

  it('maps severities to levels and keeps the contract key order', async () => {
    await expect(manager.psql('SELECT 1/0')).rejects.toThrow(/division by zero/);
    const line = (await manager.waitForLine(
      (candidate) => isRecord(candidate) && candidate.record.message === 'division by zero',
    )) as RecordLine;
    expect(line.level).toBe('error');
    expect(Object.keys(line)).toEqual(['level', 'ts', 'logger', 'msg', 'logging_pod', 'record']);
    expect(line.ts).toBe(`${String(line.record.log_time).replace(' ', 'T').replace(' UTC', '')}Z`);
  });

  it('keeps reading across 50 restarts of the logging collector, with no descriptor leaked', async () => {
    const postmasterPid = Number((await manager.waitForMessage('PostgreSQL started')).postmasterPid);
    const fds = () =>
      fs.readdirSync(`/proc/${manager.child.pid}/fd`).map((fd) => {
        try {
          return fs.readlinkSync(`/proc/${manager.child.pid}/fd/${fd}`);
        } catch {
          return '';
        }
      });
    const fifoFds = () => fds().filter((target) => target.startsWith(path.join(manager.runDir, 'log')));
    const fdsBefore = fds().length;
    const fifoFdsBefore = fifoFds().length;
    expect(fifoFdsBefore).toBe(2); // one per FIFO, held for the manager's lifetime
    const collector = () =>
      childrenOf(postmasterPid).find((child) => child.cmdline.startsWith('postgres: logger'))?.pid;
    for (let round = 0; round < 50; round++) {
      const old = collector();
      expect(old).toBeDefined();
      process.kill(old!, 'SIGKILL');
      for (let next = collector(); next === undefined || next === old; next = collector()) await sleep(10);
      await manager.psql(`SELECT 'round ${round}'`);
      await manager.waitForLine((line) => statementOf(line) === `statement: SELECT 'round ${round}'`, 10_000);
    }
    expect(fifoFds().length).toBe(fifoFdsBefore);
    expect(fds().length).toBeLessThanOrEqual(fdsBefore);
  });

  it('logging survives a PostgreSQL restart', async () => {
    const after = manager.lines.length;
    const postmasterPid = Number((await manager.waitForMessage('PostgreSQL started')).postmasterPid);
    process.kill(postmasterPid, 'SIGKILL');
    await manager.waitUntilReady(60_000, after);
    await manager.psql("SELECT 'after the restart'");
    await manager.waitForLine((line) => statementOf(line) === "statement: SELECT 'after the restart'", 10_000, after);
  });

  it('pgbadger -f jsonlog reads the output', async () => {
    const file = path.join(dir, 'stdout.jsonl');
    fs.writeFileSync(file, manager.lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
    const report = path.join(dir, 'pgbadger.json');
    await execFileAsync('pgbadger', ['-q', '-f', 'jsonlog', '-o', report, file]);
    // pgbadger 12.0 (Debian 12) takes error_severity and message from these lines (errors,
    // checkpoints); reading the rest of CloudNativePG's shape (log_time, process_id) came later.
    const parsed = JSON.parse(fs.readFileSync(report, 'utf8')) as {
      overall_stat: { errors_number: number };
      overall_checkpoint: { checkpoint_write?: string };
    };
    expect(parsed.overall_stat.errors_number).toBeGreaterThanOrEqual(1);
    expect(Number(parsed.overall_checkpoint.checkpoint_write)).toBeGreaterThan(0);
  });
});

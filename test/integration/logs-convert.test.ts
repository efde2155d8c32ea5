import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { findBinaries, initdb, Postmaster } from '../../src/postgres/index.js';
import { chownToRunAs, resolveRunAs, runProgram } from '../../src/process/index.js';
import { contractLines, csvlogRecord, SAMPLE } from '../support/csvlog.js';
import { freePort, runCli, scratchDir } from '../support/manager.js';

/** A fresh csvlog of pgbench's workload under log_statement=all, written by PostgreSQL itself. */
async function pgbenchCsvlog(): Promise<string> {
  const dir = scratchDir('pgbench-csvlog');
  const runAs = resolveRunAs('postgres');
  chownToRunAs(dir, runAs);
  const bin = await findBinaries(undefined);
  const logger = createLogger({ sink: { write: () => true }, pod: 'test', level: 'error' });
  const pgdata = path.join(dir, 'pgdata');
  const port = String(await freePort());
  await initdb(bin, pgdata, runAs, logger);
  const settings = {
    listen_addresses: "''",
    unix_socket_directories: `'${dir}'`,
    port,
    logging_collector: 'on',
    log_destination: 'csvlog',
    log_directory: `'${dir}'`,
    log_filename: "'pgbench'",
    log_statement: 'all',
    log_timezone: 'UTC',
    fsync: 'off',
  };
  fs.appendFileSync(
    path.join(pgdata, 'postgresql.conf'),
    Object.entries(settings)
      .map(([key, value]) => `${key} = ${value}\n`)
      .join(''),
  );
  const postmaster = Postmaster.start({ bin, pgdata, runAs, logger });
  try {
    await postmaster.waitUntilAcceptingConnections();
    const connection = ['-h', dir, '-p', port, '-U', 'postgres', 'postgres'];
    await runProgram(bin.path('pgbench'), ['-q', '-i', '-s', '1', ...connection], { runAs, logger });
    await runProgram(bin.path('pgbench'), ['-c', '2', '-j', '2', '-t', '100', ...connection], { runAs, logger });
  } finally {
    postmaster.signal('SIGINT');
    await postmaster.exited;
  }
  return path.join(dir, 'pgbench.csv');
}

const parseLines = (stdout: string) =>
  stdout
    .trimEnd()
    .split('\n')
    .map(
      (line) =>
        JSON.parse(line) as {
          msg: string;
          logging_pod: string;
          raw?: string;
          source?: string;
          record?: Record<string, string>;
        },
    );

describe('instance-manager logs convert', () => {
  it('converts stdin', async () => {
    const { code, stdout, stderr } = await runCli(
      ['logs', 'convert', '--pod-name', 'p'],
      {},
      csvlogRecord(SAMPLE) + csvlogRecord({ ...SAMPLE, message: 'two\nlines' }, 24),
    );
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(parseLines(stdout).map((line) => [line.logging_pod, line.record?.message])).toEqual([
      ['p', 'statement: SELECT 1'],
      ['p', 'two\nlines'],
    ]);
  });

  it('ends each file on its own: a cut-short last record is unparsable, the next file parses', async () => {
    const dir = scratchDir('convert');
    const first = path.join(dir, 'a.csv');
    const second = path.join(dir, 'b.csv');
    const whole = csvlogRecord(SAMPLE);
    fs.writeFileSync(first, whole + whole.slice(0, 70));
    fs.writeFileSync(second, whole);
    const { code, stdout } = await runCli(['logs', 'convert', first, second]);
    expect(code).toBe(0);
    expect(parseLines(stdout).map((line) => [line.msg, line.raw, line.source])).toEqual([
      ['record', undefined, undefined],
      ['unparsable csvlog record', whole.slice(0, 70), first],
      ['record', undefined, undefined],
    ]);
  });

  it('says once on stderr that a stderr-format log is not csvlog, and still converts the csvlog records in it', async () => {
    const stderrFormat = [
      '2026-11-30 14:00:00.000 UTC [123] LOG:  database system is ready to accept connections',
      '2026-11-30 14:05:00.000 UTC [124] LOG:  checkpoint starting: time, wal',
    ];
    const file = path.join(scratchDir('convert'), 'postgresql.log');
    fs.writeFileSync(file, `${stderrFormat.join('\n')}\n${csvlogRecord(SAMPLE)}`);
    const { code, stdout, stderr } = await runCli(['logs', 'convert', file]);
    expect(code).toBe(0);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toContain(`${file}: not csvlog: cannot read ${JSON.stringify(stderrFormat[0])}`);
    expect(parseLines(stdout).map((line) => [line.msg, line.raw])).toEqual([
      ['unparsable csvlog record', stderrFormat[0]],
      ['unparsable csvlog record', stderrFormat[1]],
      ['record', undefined],
    ]);
  });

  it('writes a real pgbench csvlog byte for byte as csv-parse + JSON.stringify would', async () => {
    const csvlog = await pgbenchCsvlog();
    const { code, stdout, stderr } = await runCli(['logs', 'convert', '--pod-name', 'pg-1', csvlog]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const expected = contractLines(fs.readFileSync(csvlog), 'pg-1', () => new Date()).toString();
    expect(stdout.split('\n').length).toBeGreaterThan(1_400); // 7 statements a transaction, 200 transactions
    expect(stdout).toBe(expected);
  }, 60_000);

  it.each([
    ['a missing file', (dir: string) => path.join(dir, 'missing.csv'), /missing\.csv: cannot be read \(ENOENT\)/],
    ['a directory', (dir: string) => dir, /is a directory/],
  ])('refuses %s with exit 2, one line, and no output', async (_name, target, message) => {
    const dir = scratchDir('convert');
    const good = path.join(dir, 'good.csv');
    fs.writeFileSync(good, csvlogRecord(SAMPLE));
    const { code, stdout, stderr } = await runCli(['logs', 'convert', good, target(dir)]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(message);
  });
});

#!/usr/bin/env node
/**
 * Benchmark 1: throughput of `instance-manager logs convert` on a real csvlog of at least 200,000
 * records (pgbench under log_statement=all), against Miller and against python3 csv+json
 * (bench/csvlog_to_json.py), all writing to /dev/null. Runs interleaved, in rotating order, and
 * reports medians, because other work shares the machine.
 *
 *   npm run build && node bench/convert.mjs [--rounds 5] [--csvlog FILE]
 *
 * Without --csvlog the log is made once (PostgreSQL + pgbench) and kept in .data/bench/.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BIN, freePort, median, pgBin, postgresUser, ROOT, runAsPostgres, scratch, timeCommand, waitForFile } from './common.mjs';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, csvlog: { type: 'string' } } });
const rounds = Number(values.rounds);
const MIN_RECORDS = 200_000;

async function makeCsvlog(target) {
  const bin = pgBin();
  const dir = scratch('csvlog');
  const { uid, gid } = postgresUser();
  fs.chownSync(dir, uid, gid);
  const pgdata = path.join(dir, 'pgdata');
  const logDir = path.join(dir, 'log');
  runAsPostgres(path.join(bin, 'initdb'), ['-D', pgdata, '-U', 'postgres', '--auth=trust', '--no-sync'], { stdio: 'ignore' });
  const port = await freePort();
  const settings = { listen_addresses: '', logging_collector: 'on', log_destination: 'csvlog', log_directory: logDir, log_filename: 'pgbench', log_statement: 'all', log_timezone: 'UTC' };
  const postmaster = spawn(path.join(bin, 'postgres'), ['-D', pgdata, '-p', String(port), '-k', dir, ...Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`])], { uid, gid, stdio: 'ignore' });
  try {
    await waitForFile(path.join(dir, `.s.PGSQL.${port}`));
    const connection = ['-h', dir, '-p', String(port), '-U', 'postgres', 'postgres'];
    execFileSync('pgbench', ['-q', '-i', '-s', '1', ...connection], { stdio: 'ignore' });
    // tpcb-like: 7 statements a transaction, so 2 x 15,000 transactions log about 210,000 statements.
    execFileSync('pgbench', ['-c', '2', '-j', '2', '-t', '15000', ...connection], { stdio: 'ignore' });
  } finally {
    postmaster.kill('SIGINT');
    await new Promise((resolve) => postmaster.once('exit', resolve));
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(path.join(logDir, 'pgbench.csv'), target);
  fs.rmSync(dir, { recursive: true, force: true });
}

async function countRecords(file) {
  const { CsvlogParser } = await import(path.join(ROOT, 'dist', 'logpipe', 'index.js'));
  let records = 0;
  let unparsable = 0;
  const parser = new CsvlogParser({ record: () => records++, unparsable: () => unparsable++ });
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) parser.push(chunk);
  parser.finish();
  return { records, unparsable };
}

/**
 * The conversion alone, without Node's start-up or I/O: the file in memory, pushed in 1 MiB pieces
 * through the converter `logs convert` and the live pipe use, the output discarded. The first round
 * only warms the JIT. Returns the median CPU seconds.
 */
async function convertLoopCpu(file) {
  const { CsvlogConverter, LineFormatter, newCounters } = await import(path.join(ROOT, 'dist', 'logpipe', 'index.js'));
  const data = fs.readFileSync(file);
  const seconds = [];
  for (let round = 0; round <= rounds; round++) {
    const converter = new CsvlogConverter({ write: () => true, bufferedBytes: 0 }, new LineFormatter('bench'), newCounters());
    const started = process.cpuUsage();
    for (let offset = 0; offset < data.length; offset += 1 << 20) converter.push(data.subarray(offset, offset + (1 << 20)));
    converter.finish();
    const used = process.cpuUsage(started);
    if (round > 0) seconds.push((used.user + used.system) / 1e6);
  }
  return median(seconds);
}

const csvlog = values.csvlog ?? path.join(ROOT, '.data', 'bench', 'pgbench.csv');
if (!fs.existsSync(csvlog)) {
  console.log(`making ${csvlog} with pgbench (log_statement=all)...`);
  await makeCsvlog(csvlog);
}
const { records, unparsable } = await countRecords(csvlog);
if (records < MIN_RECORDS) throw new Error(`${csvlog} has ${records} records; the benchmark needs ${MIN_RECORDS}`);
const megabytes = fs.statSync(csvlog).size / 1e6;
console.log(`input: ${csvlog}, ${records} records (${unparsable} unparsable), ${megabytes.toFixed(1)} MB`);

const contenders = {
  'instance-manager': [process.execPath, [BIN, 'logs', 'convert', csvlog]],
  miller: ['mlr', ['--icsv', '--implicit-csv-header', '--allow-ragged-csv-input', '--ojsonl', 'cat', csvlog]],
  python3: ['python3', [path.join(ROOT, 'bench', 'csvlog_to_json.py'), csvlog]],
};
const names = Object.keys(contenders);
const runs = Object.fromEntries(names.map((name) => [name, []]));
for (let round = 0; round < rounds; round++) {
  const order = names.map((_, i) => names[(i + round) % names.length]);
  for (const name of order) runs[name].push(await timeCommand(...contenders[name]));
  console.log(`round ${round + 1}: ${names.map((name) => `${name} ${runs[name].at(-1).wall.toFixed(2)} s (cpu ${runs[name].at(-1).cpu.toFixed(2)} s)`).join(', ')}`);
}
const wall = Object.fromEntries(names.map((name) => [name, median(runs[name].map((run) => run.wall))]));
const cpu = Object.fromEntries(names.map((name) => [name, median(runs[name].map((run) => run.cpu))]));
for (const name of names) console.log(`${name.padEnd(17)} median wall ${wall[name].toFixed(2)} s (${(records / wall[name] / 1000).toFixed(0)}k records/s), cpu ${cpu[name].toFixed(2)} s (${((cpu[name] * 1e6) / records).toFixed(2)} µs a record, start-up included)`);
const loop = await convertLoopCpu(csvlog);
console.log(`convert loop alone (in process, warm, output discarded): cpu ${(loop * 1000).toFixed(0)} ms, ${((loop * 1e6) / records).toFixed(2)} µs a record`);
const ours = 'instance-manager';
console.log(`throughput ratio vs miller:  wall ${(wall.miller / wall[ours]).toFixed(2)}x, cpu ${(cpu.miller / cpu[ours]).toFixed(2)}x (goal >= 2)`);
console.log(`throughput ratio vs python3: wall ${(wall.python3 / wall[ours]).toFixed(2)}x, cpu ${(cpu.python3 / cpu[ours]).toFixed(2)}x (goal >= 1.5)`);

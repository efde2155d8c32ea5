#!/usr/bin/env node
/**
 * `instance-manager logs convert` against its peers on a real csvlog (pgbench under
 * log_statement=all, repeated up to --records): CloudNativePG's approach in Go
 * (bench/peers/csvlog2json.go, built into a temp dir when a Go toolchain is present), Miller, and
 * python3 csv+json (bench/csvlog_to_json.py), all writing to /dev/null. Each round runs every
 * converter once, in the same order; each figure is the ratio of neighbouring runs. Reports wall
 * time, CPU time and peak RSS (GNU time) for every converter.
 *
 *   npm run build && node bench/convert.mjs [--rounds 5] [--records 1000000] [--csvlog FILE]
 *
 * Without --csvlog the pgbench log is made once (PostgreSQL + pgbench) and kept in .data/bench/.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  alternate,
  announce,
  BIN,
  buildGoPeer,
  describe,
  freePort,
  pgBin,
  postgresUser,
  printRatio,
  ROOT,
  runAsPostgres,
  scratch,
  timeCommand,
  waitForFile,
} from './common.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    records: { type: 'string', default: '1000000' },
    csvlog: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const wantedRecords = Number(values.records);
const RSS_GOAL_MIB = 60;

async function makeCsvlog(target) {
  const bin = pgBin();
  const dir = scratch('csvlog');
  const { uid, gid } = postgresUser();
  fs.chownSync(dir, uid, gid);
  const pgdata = path.join(dir, 'pgdata');
  const logDir = path.join(dir, 'log');
  runAsPostgres(path.join(bin, 'initdb'), ['-D', pgdata, '-U', 'postgres', '--auth=trust', '--no-sync'], {
    stdio: 'ignore',
  });
  const port = await freePort();
  const settings = {
    listen_addresses: '',
    logging_collector: 'on',
    log_destination: 'csvlog',
    log_directory: logDir,
    log_filename: 'pgbench',
    log_statement: 'all',
    log_timezone: 'UTC',
  };
  const postmaster = spawn(
    path.join(bin, 'postgres'),
    [
      '-D',
      pgdata,
      '-p',
      String(port),
      '-k',
      dir,
      ...Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
    ],
    { uid, gid, stdio: 'ignore' },
  );
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

/** The pgbench log repeated (whole copies) until it holds at least `wanted` records. */
function repeatedCsvlog(source, sourceRecords, wanted, dir) {
  const copies = Math.max(1, Math.ceil(wanted / sourceRecords));
  const target = path.join(dir, 'input.csv');
  const data = fs.readFileSync(source);
  const fd = fs.openSync(target, 'w');
  for (let copy = 0; copy < copies; copy++) fs.writeSync(fd, data);
  fs.closeSync(fd);
  return { file: target, records: copies * sourceRecords };
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * The conversion alone, without Node's start-up or I/O: the file in memory, pushed in 1 MiB pieces
 * through the converter `logs convert` and the live pipe use, the output discarded. The first round
 * only warms the JIT. Returns the CPU seconds of each round.
 */
async function convertLoopCpu(file) {
  const { CsvlogConverter, LineFormatter, newCounters } = await import(path.join(ROOT, 'dist', 'logpipe', 'index.js'));
  const data = fs.readFileSync(file);
  const seconds = [];
  for (let round = 0; round <= rounds; round++) {
    const converter = new CsvlogConverter(
      { write: () => true, bufferedBytes: 0 },
      new LineFormatter('bench'),
      newCounters(),
    );
    const started = process.cpuUsage();
    for (let offset = 0; offset < data.length; offset += 1 << 20)
      converter.push(data.subarray(offset, offset + (1 << 20)));
    converter.finish();
    const used = process.cpuUsage(started);
    if (round > 0) seconds.push((used.user + used.system) / 1e6);
  }
  return seconds;
}

const source = values.csvlog ?? path.join(ROOT, '.data', 'bench', 'pgbench.csv');
if (!fs.existsSync(source)) {
  console.log(`making ${source} with pgbench (log_statement=all)...`);
  await makeCsvlog(source);
}
const dir = scratch('convert');
try {
  const counted = await countRecords(source);
  const { file, records } = repeatedCsvlog(source, counted.records, wantedRecords, dir);
  const megabytes = fs.statSync(file).size / 1e6;

  const contenders = { 'instance-manager': () => timeCommand(process.execPath, [BIN, 'logs', 'convert', file]) };
  const goPeer = buildGoPeer(dir, 'csvlog2json'); // CloudNativePG's approach
  if (goPeer) contenders['go (CloudNativePG way)'] = () => timeCommand(goPeer.binary, [file]);
  if (has('mlr'))
    contenders.miller = () =>
      timeCommand('mlr', ['--icsv', '--implicit-csv-header', '--allow-ragged-csv-input', '--ojsonl', 'cat', file]);
  contenders.python3 = () => timeCommand('python3', [path.join(ROOT, 'bench', 'csvlog_to_json.py'), file]);

  announce(
    `logs convert against its peers: ${records} records (${source} repeated; ${counted.unparsable} unparsable), ${megabytes.toFixed(0)} MB, ${rounds} rounds, output to /dev/null; busy shared machine`,
  );
  if (!goPeer) console.log('  (no Go toolchain: the CloudNativePG peer is left out; apt-get install golang-go)');
  if (!has('mlr')) console.log('  (no Miller: left out; apt-get install miller)');
  const names = Object.keys(contenders);
  const runs = await alternate(contenders, rounds, {
    onRound: (round, result) =>
      console.log(
        `  round ${round + 1}: ${names.map((name) => `${name} ${result[name].wall.toFixed(2)} s, cpu ${result[name].cpu.toFixed(2)} s, ${result[name].rss.toFixed(0)} MiB`).join('; ')}`,
      ),
  });

  for (const name of names) {
    const of = (key) => runs[name].map((run) => run[key]);
    console.log(`${name}:`);
    console.log(`  wall ${describe(of('wall'), 2, ' s')}`);
    console.log(`  cpu  ${describe(of('cpu'), 2, ' s')}`);
    console.log(`  peak RSS ${describe(of('rss'), 0, ' MiB')}`);
  }
  const ours = 'instance-manager';
  const of = (name, key) => runs[name].map((run) => run[key]);
  for (const peer of names.filter((name) => name !== ours)) {
    const goal = { 'go (CloudNativePG way)': '> 1 (ahead of it)', miller: '>= 2', python3: '>= 1.5' }[peer];
    printRatio(`throughput, ${ours} / ${peer}, wall (peer's time / ours)`, of(peer, 'wall'), of(ours, 'wall'), goal);
    printRatio(`throughput, ${ours} / ${peer}, cpu  (peer's time / ours)`, of(peer, 'cpu'), of(ours, 'cpu'));
    printRatio(`peak RSS, ${ours} / ${peer}`, of(ours, 'rss'), of(peer, 'rss'));
  }
  const ourRss = of(ours, 'rss');
  console.log(
    `${ours} peak RSS ${describe(ourRss, 0, ' MiB')}; goal <= ${RSS_GOAL_MIB} MiB (${Math.max(...ourRss) <= RSS_GOAL_MIB ? 'meets' : 'MISSES'})`,
  );
  const loop = await convertLoopCpu(file);
  console.log(
    `convert loop alone (in process, warm, output discarded), µs a record: ${describe(
      loop.map((seconds) => (seconds * 1e6) / records),
      2,
    )}`,
  );
  if (goPeer) console.log(`(${goPeer.version})`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

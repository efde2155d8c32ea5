#!/usr/bin/env node
/**
 * The live log pipe under load: pgbench TPS with log_statement=all through the manager (FIFO ->
 * instance-manager -> JSON lines on a stdout pipe, read line by line into a file as containerd's CRI
 * logger does, bench/peers/container-log.go), against the logging collector writing csvlog to a
 * regular file (the same data directory and settings, the postmaster started directly with
 * log_directory pointing at a plain directory). A third run reads the manager's stdout with the
 * cheapest reader there can be (1 MiB reads, nothing written): its ratio to the file run is the
 * manager's own cost, without the runtime's write per line. Rounds alternate the three (pipe,
 * discard, file, pipe, ...) and each round's TPS ratios are one figure each. For the manager's runs
 * it also reports the manager's and the reader's CPU seconds per 10 s of pgbench (/proc/<pid>/stat)
 * and the manager's peak RSS.
 * Needs Go for the reader (node scripts/ensure-environment.mjs --for-bench installs it).
 *
 *   npm run build && node bench/pgbench.mjs [--rounds 4] [--seconds 15] [--clients 2]
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { clearInterval, setInterval } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  alternate,
  announce,
  buildGoPeer,
  cpuSeconds,
  describe,
  exited,
  freePort,
  pgBin,
  postgresUser,
  printRatio,
  rssMiB,
  scratch,
  runArgs,
} from './common.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '15' },
    clients: { type: 'string', default: '2' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const TPS_GOAL = 0.97;
const RSS_GOAL_MIB = 100;
const dir = scratch('pgbench');
const port = await freePort();
const socketDir = path.join(dir, 'run', 'run');
const connection = ['-h', socketDir, '-p', String(port), '-U', 'postgres', 'postgres'];
const config = path.join(dir, 'bench.conf');
fs.writeFileSync(config, "log_statement = 'all'\nlog_timezone = 'UTC'\n");
const reader = buildGoPeer(dir, 'container-log');
if (!reader) {
  fs.rmSync(dir, { recursive: true, force: true });
  console.error(
    'bench/pgbench.mjs needs Go for its container-runtime reader: node scripts/ensure-environment.mjs --for-bench',
  );
  process.exit(2);
}

async function waitUntilAccepting() {
  for (let tries = 0; tries < 600; tries++) {
    try {
      execFileSync('pg_isready', ['-q', ...connection.slice(0, 4)]);
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error('PostgreSQL did not start');
}

/**
 * The manager, its stdout on a pipe to a container-runtime-like reader writing a log file, or with
 * `discard` to a reader that only counts lines.
 */
async function startManager({ discard = false } = {}) {
  // Its own directory: the manager watches the directory of --config, and a log growing beside it
  // would wake that watcher at every line (a cost no pod has).
  const logFile = path.join(dir, 'container', 'container.log');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const runtime = spawn(reader.binary, [discard ? '--discard' : logFile], { stdio: ['pipe', 'pipe', 'inherit'] });
  let summary = '';
  runtime.stdout.setEncoding('utf8').on('data', (text) => (summary += text));
  const manager = spawn(
    process.execPath,
    runArgs({ base: dir, port, secretsDir: path.join(dir, 'no-secrets') }, [
      ...['--config', config, '--pod-name', 'bench', '--smart-shutdown-timeout', '5'],
    ]),
    { stdio: ['ignore', runtime.stdin, 'inherit'] },
  );
  runtime.stdin.destroy(); // the manager holds the write end now
  await waitUntilAccepting();
  return {
    pid: manager.pid,
    readerPid: runtime.pid,
    async stop() {
      manager.kill('SIGTERM');
      await exited(manager);
      await exited(runtime);
      fs.rmSync(logFile, { force: true });
      return JSON.parse(summary);
    },
  };
}

/** The postmaster alone, csvlog to a regular file: the baseline. */
async function startPlainPostgres() {
  const { uid, gid } = postgresUser();
  const logDir = path.join(dir, 'filelog');
  fs.mkdirSync(logDir, { recursive: true });
  fs.chownSync(logDir, uid, gid);
  const postmaster = spawn(
    path.join(pgBin(), 'postgres'),
    ['-D', path.join(dir, 'pgdata'), '-c', `log_directory=${logDir}`, '-c', 'log_filename=bench'],
    { uid, gid, stdio: 'ignore' },
  );
  await waitUntilAccepting();
  return {
    async stop() {
      postmaster.kill('SIGINT');
      await exited(postmaster);
      const file = path.join(logDir, 'bench.csv');
      const bytes = fs.statSync(file).size;
      fs.rmSync(file);
      return bytes;
    },
  };
}

function pgbench(onTick) {
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn(
      'pgbench',
      ['-n', '-c', values.clients, '-j', values.clients, '-T', String(seconds), ...connection],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    child.stdout.setEncoding('utf8').on('data', (text) => (output += text));
    const timer = setInterval(onTick, 200);
    child.once('exit', (code) => {
      clearInterval(timer);
      const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(output);
      if (code !== 0 || !tps) reject(new Error(`pgbench failed: ${output}`));
      else resolve(Number(tps[1]));
    });
  });
}

async function throughPipe(round, { discard = false } = {}) {
  const manager = await startManager({ discard });
  let peak = rssMiB(manager.pid);
  const cpuBefore = cpuSeconds(manager.pid);
  const readerCpuBefore = cpuSeconds(manager.readerPid);
  const tps = await pgbench(() => (peak = Math.max(peak, rssMiB(manager.pid))));
  const cpuPer10s = ((cpuSeconds(manager.pid) - cpuBefore) * 10) / seconds;
  const readerCpuPer10s = ((cpuSeconds(manager.readerPid) - readerCpuBefore) * 10) / seconds;
  const written = await manager.stop();
  const where = discard ? 'read and discarded' : 'in the container log';
  console.log(
    `  round ${round + 1} ${discard ? 'discard' : 'pipe'}: ${tps.toFixed(0)} tps, manager ${cpuPer10s.toFixed(2)} s CPU per 10 s (reader ${readerCpuPer10s.toFixed(2)} s), peak RSS ${peak.toFixed(0)} MiB; ${written.lines} lines, ${(written.bytes / 1e6).toFixed(0)} MB ${where}`,
  );
  return { tps, cpuPer10s, readerCpuPer10s, peak };
}

async function toFile(round) {
  const postgres = await startPlainPostgres();
  const tps = await pgbench(() => undefined);
  const bytes = await postgres.stop();
  console.log(`  round ${round + 1} file: ${tps.toFixed(0)} tps, ${(bytes / 1e6).toFixed(0)} MB of csvlog`);
  return { tps };
}

try {
  // Initialize once, through the manager (it runs initdb and writes the configuration).
  {
    const manager = await startManager();
    execFileSync('pgbench', ['-q', '-i', '-s', '1', ...connection], { stdio: 'ignore' });
    await manager.stop();
  }
  announce(
    `pgbench with log_statement=all, ${values.clients} clients, ${seconds} s a run, ${rounds} rounds of pipe, discard, file; busy shared machine`,
  );
  console.log(`  the container-runtime reader: bench/peers/container-log.go (${reader.version})`);
  const runs = await alternate(
    { pipe: throughPipe, discard: (round) => throughPipe(round, { discard: true }), file: toFile },
    rounds,
  );
  const tps = (setup) => runs[setup].map((run) => run.tps);
  console.log(
    `TPS through the pipe: ${describe(tps('pipe'), 0)}; with the discarding reader: ${describe(tps('discard'), 0)}; to a file: ${describe(tps('file'), 0)}`,
  );
  printRatio('TPS ratio pipe / file', tps('pipe'), tps('file'), `>= ${TPS_GOAL}`);
  printRatio(
    'TPS ratio pipe with the discarding reader / file (the manager without the runtime)',
    tps('discard'),
    tps('file'),
  );
  for (const setup of ['pipe', 'discard']) {
    const cpu = (key) =>
      describe(
        runs[setup].map((run) => run[key]),
        2,
        ' s',
      );
    console.log(
      `${setup}: CPU seconds per 10 s of pgbench: manager ${cpu('cpuPer10s')}; reader ${cpu('readerCpuPer10s')}`,
    );
  }
  console.log(
    `manager peak RSS: ${describe(
      [...runs.pipe, ...runs.discard].map((run) => run.peak),
      0,
      ' MiB',
    )}; goal <= ${RSS_GOAL_MIB} MiB`,
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

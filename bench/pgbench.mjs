#!/usr/bin/env node
/**
 * Benchmarks 2 and 3: pgbench TPS with log_statement=all through the live log pipe (FIFO ->
 * instance-manager -> JSON on a stdout pipe), against the logging collector writing csvlog to a
 * regular file (the same data directory and settings, the postmaster started directly with
 * log_directory pointing at a plain directory); and the manager's peak RSS during the pipe runs.
 * Rounds alternate the two setups and medians are reported, because other work shares the machine.
 *
 *   npm run build && node bench/pgbench.mjs [--rounds 3] [--seconds 15] [--clients 2]
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { clearInterval, setInterval } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { BIN, freePort, median, pgBin, postgresUser, scratch } from './common.mjs';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '15' }, clients: { type: 'string', default: '2' } } });
const rounds = Number(values.rounds);
const dir = scratch('pgbench');
const port = await freePort();
const socketDir = path.join(dir, 'run', 'run');
const connection = ['-h', socketDir, '-p', String(port), '-U', 'postgres', 'postgres'];
const config = path.join(dir, 'bench.conf');
fs.writeFileSync(config, "log_statement = 'all'\nlog_timezone = 'UTC'\n");

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

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve));
}

/** The manager with its stdout on a pipe to `wc -c`, as a container runtime reads it. */
async function startManager() {
  const counter = spawn('wc', ['-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let counted = '';
  counter.stdout.setEncoding('utf8').on('data', (text) => (counted += text));
  const manager = spawn(process.execPath, [BIN, 'run', '--pgdata', path.join(dir, 'pgdata'), '--run-dir', path.join(dir, 'run'), '--port', String(port), '--listen', '127.0.0.1', '--status-port', '0', '--secrets-dir', path.join(dir, 'no-secrets'), '--config', config, '--pod-name', 'bench', '--smart-shutdown-timeout', '5'], { stdio: ['ignore', counter.stdin, 'inherit'] });
  counter.stdin.destroy(); // the manager holds the write end now
  await waitUntilAccepting();
  return {
    pid: manager.pid,
    async stop() {
      manager.kill('SIGTERM');
      await exited(manager);
      await exited(counter);
      return Number(counted.trim());
    },
  };
}

/** The postmaster alone, csvlog to a regular file: the baseline. */
async function startPlainPostgres() {
  const { uid, gid } = postgresUser();
  const logDir = path.join(dir, 'filelog');
  fs.mkdirSync(logDir, { recursive: true });
  fs.chownSync(logDir, uid, gid);
  const postmaster = spawn(path.join(pgBin(), 'postgres'), ['-D', path.join(dir, 'pgdata'), '-c', `log_directory=${logDir}`, '-c', 'log_filename=bench'], { uid, gid, stdio: 'ignore' });
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

function rssMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

function pgbench(onTick) {
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn('pgbench', ['-n', '-c', values.clients, '-j', values.clients, '-T', values.seconds, ...connection], { stdio: ['ignore', 'pipe', 'inherit'] });
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

// Initialize once, through the manager (it runs initdb and writes the configuration).
{
  const manager = await startManager();
  execFileSync('pgbench', ['-q', '-i', '-s', '1', ...connection], { stdio: 'ignore' });
  await manager.stop();
}

const tps = { pipe: [], file: [] };
const peakRss = [];
for (let round = 0; round < rounds; round++) {
  for (const setup of round % 2 === 0 ? ['pipe', 'file'] : ['file', 'pipe']) {
    if (setup === 'pipe') {
      const manager = await startManager();
      let peak = rssMiB(manager.pid);
      tps.pipe.push(await pgbench(() => (peak = Math.max(peak, rssMiB(manager.pid)))));
      peakRss.push(peak);
      const bytes = await manager.stop();
      console.log(`round ${round + 1} pipe: ${tps.pipe.at(-1).toFixed(0)} tps, manager peak RSS ${peak.toFixed(0)} MiB, ${(bytes / 1e6).toFixed(0)} MB of JSON on stdout`);
    } else {
      const postgres = await startPlainPostgres();
      tps.file.push(await pgbench(() => undefined));
      const bytes = await postgres.stop();
      console.log(`round ${round + 1} file: ${tps.file.at(-1).toFixed(0)} tps, ${(bytes / 1e6).toFixed(0)} MB of csvlog`);
    }
  }
}
const pipe = median(tps.pipe);
const file = median(tps.file);
console.log(`median tps: pipe ${pipe.toFixed(0)}, file ${file.toFixed(0)}; ratio pipe/file ${(pipe / file).toFixed(3)} (goal >= 0.97)`);
console.log(`manager peak RSS: median ${median(peakRss).toFixed(0)} MiB, max ${Math.max(...peakRss).toFixed(0)} MiB (goal <= 100 MiB)`);
fs.rmSync(dir, { recursive: true, force: true });

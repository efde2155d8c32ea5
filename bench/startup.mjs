#!/usr/bin/env node
// Issue 2 benchmark: time from `instance-manager run` to the first successful connection on an
// existing PGDATA, against starting `postgres -D` directly on the same PGDATA (same configuration,
// same client, same polling), median of N alternating runs; then the manager's idle RSS. The
// manager runs as in a pod: automatic TLS, status API on.
// Usage (as root, after `npm run build`): node bench/startup.mjs [runs=10]
// The single executable the images ship (after `npm run build:sea`):
//   IM_BENCH_EXECUTABLE=build/sea/instance-manager node bench/startup.mjs [runs=10]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { firstConnection, managerEnv, managerEnvNote } from './common.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const runs = Number(process.argv[2] ?? 10);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-bench-startup-'));
fs.chmodSync(dir, 0o755);
const port = 20000 + Math.floor(Math.random() * 20000);
// The status API is on, as in a pod: it is part of what the manager starts and of its idle RSS.
const statusPort = await new Promise((resolve) => {
  const probe = net.createServer().listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address();
    probe.close(() => resolve(free));
  });
});
const pgdata = path.join(dir, 'pgdata');
const socketDir = path.join(dir, 'run', 'run');
const pgBin = fs.readdirSync('/usr/lib/postgresql').map(Number).sort((a, b) => b - a).map((v) => `/usr/lib/postgresql/${v}/bin`)[0];
const postgresUser = fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === 'postgres');


const [command, ...commandArgs] = process.env.IM_BENCH_EXECUTABLE ? [path.resolve(process.env.IM_BENCH_EXECUTABLE)] : [process.execPath, path.join(root, 'bin/instance-manager')];

// The manager logs when it spawned the postmaster: that splits its overhead into what it does
// before the spawn and what comes after (PostgreSQL's own start-up, competing for the CPU).
function startManager() {
  const began = Date.now();
  const child = spawn(command, [...commandArgs, 'run', '--pgdata', pgdata, '--run-dir', path.join(dir, 'run'), '--port', String(port), '--listen', '127.0.0.1', '--status-port', String(statusPort), '--secrets-dir', path.join(dir, 'none')], { stdio: ['ignore', 'pipe', 'inherit'], env: managerEnv });
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop();
    for (const line of lines) {
      if (child.spawnedPostmasterAfterMs === undefined && line.includes('"msg":"PostgreSQL started"')) child.spawnedPostmasterAfterMs = Date.parse(JSON.parse(line).ts) - began;
    }
  });
  return child;
}

// The manager's configuration sends PostgreSQL's logs into FIFOs under run-dir/log: without a reader
// the logging collector blocks and the postmaster never gets ready. Started directly, PostgreSQL gets
// the cheapest reader there is (opened O_RDWR so it never waits for the other end), draining to nowhere.
function drainLogFifos() {
  const logDir = path.join(dir, 'run', 'log');
  return fs.readdirSync(logDir).map((name) => {
    const socket = new net.Socket({ fd: fs.openSync(path.join(logDir, name), fs.constants.O_RDWR | fs.constants.O_NONBLOCK), readable: true, writable: false });
    socket.resume();
    return socket;
  });
}

function startPostgresDirectly() {
  const readers = drainLogFifos();
  const child = spawn(`${pgBin}/postgres`, ['-D', pgdata], { uid: Number(postgresUser[2]), gid: Number(postgresUser[3]), cwd: pgdata, stdio: ['ignore', 'ignore', 'ignore'] });
  child.once('exit', () => readers.forEach((reader) => reader.destroy()));
  return child;
}

async function measure(start, stopSignal, spawnTimes) {
  const began = performance.now();
  const child = start();
  const elapsed = await firstConnection(socketDir, port, began);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(stopSignal);
  await exited;
  spawnTimes?.push(child.spawnedPostmasterAfterMs);
  return elapsed;
}

/** What a bare `node -e 0` costs on this machine right now: the floor under any Node program. */
function nodeBaseline() {
  const began = performance.now();
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore', env: managerEnv });
  return new Promise((resolve) => child.once('exit', () => resolve(performance.now() - began)));
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// Create the data directory once, through the manager.
{
  const child = startManager();
  await firstConnection(socketDir, port, performance.now());
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

const manager = [];
const direct = [];
const spawnedAfter = [];
const bareNode = [];
for (let i = 0; i < runs; i++) {
  manager.push(await measure(startManager, 'SIGTERM', spawnedAfter));
  direct.push(await measure(startPostgresDirectly, 'SIGINT'));
  bareNode.push(await nodeBaseline());
}

// RSS 3 s after the first connection, and once V8's memory reducer, which waits for some 8 s
// without allocation, has given back what the start-up left in its young generation: a pod's
// manager spends its life in that second state.
async function idleRss() {
  const child = startManager();
  await firstConnection(socketDir, port, performance.now());
  const status = () => fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kib = (text, field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)[1]);
  await sleep(3000);
  const early = kib(status(), 'VmRSS') / 1024;
  await sleep(12000);
  const idle = status();
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  return { early, idle: kib(idle, 'VmRSS') / 1024, anon: kib(idle, 'RssAnon') / 1024, file: kib(idle, 'RssFile') / 1024 };
}
const rss = await idleRss();
// Part of RSS is the executable's own pages (RssFile), and how many of them the kernel maps depends
// on how much of the file sits in the page cache (fault-around maps cached neighbours of each page
// touched): a freshly built 100 MB single executable is wholly cached and shows some 10 MiB more
// than after a reboot. As root, the figure is taken again with the page cache dropped.
let rssColdCache;
try {
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
  rssColdCache = await idleRss();
} catch {
  rssColdCache = undefined;
}
fs.rmSync(dir, { recursive: true, force: true });

const m = median(manager);
const d = median(direct);
console.log(`start to first connection, median of ${runs} (existing PGDATA; ${path.relative(root, commandArgs[0] ?? command)}, TLS automatic; load ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs)`);
console.log(`  postgres -D directly : ${d.toFixed(1)} ms`);
console.log(`  instance-manager run : ${m.toFixed(1)} ms`);
console.log(`  overhead             : ${(m - d).toFixed(1)} ms (goal <= 150 ms), ratio ${(m / d).toFixed(2)}`);
console.log(`    of which the manager spawned the postmaster after ${median(spawnedAfter).toFixed(0)} ms (median; a bare \`node -e 0\` takes ${median(bareNode).toFixed(1)} ms here)`);
const envNote = managerEnvNote('the manager and node -e 0');
if (envNote) console.log(`  ${envNote}`);
const rssLine = (label, r) => console.log(`${label}: ${r.idle.toFixed(1)} MiB 15 s after the first connection (goal <= 60 MiB; anon ${r.anon.toFixed(1)}, executable and other files ${r.file.toFixed(1)}); ${r.early.toFixed(1)} MiB at 3 s`);
rssLine('manager RSS once idle  ', rss);
if (rssColdCache) rssLine('  same, page cache dropped first', rssColdCache);

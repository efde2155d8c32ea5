#!/usr/bin/env node
// Time from `instance-manager run` to the first successful connection on an existing PGDATA,
// against starting `postgres -D` directly on the same PGDATA (same configuration, same client, same
// polling), in alternating runs (manager, direct, bare `node -e 0`, manager, ...), each pair's ratio
// and difference one figure; then the manager's idle RSS beside an idle bare Node process measured
// at the same moments. The manager runs as in a pod: automatic TLS, status API on.
// Usage (as root, after `npm run build`): node bench/startup.mjs [runs=10]
// The single executable the images ship (after `npm run build:sea`):
//   IM_BENCH_EXECUTABLE=build/sea/instance-manager node bench/startup.mjs [runs=10]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  alternate,
  announce,
  describe,
  eachLine,
  exited,
  firstConnection,
  freePort,
  managerEnv,
  managerEnvNote,
  pgBin,
  postgresUser,
  printRatio,
  ROOT,
  scratch,
} from './common.mjs';

const runs = Number(process.argv[2] ?? 10);
const dir = scratch('startup');
const port = await freePort();
// The status API is on, as in a pod: it is part of what the manager starts and of its idle RSS.
const statusPort = await freePort();
const pgdata = path.join(dir, 'pgdata');
const socketDir = path.join(dir, 'run', 'run');

const [command, ...commandArgs] = process.env.IM_BENCH_EXECUTABLE
  ? [path.resolve(process.env.IM_BENCH_EXECUTABLE)]
  : [process.execPath, path.join(ROOT, 'bin/instance-manager')];

// The manager logs when it spawned the postmaster: that splits its overhead into what it does
// before the spawn and what comes after (PostgreSQL's own start-up, competing for the CPU).
function startManager() {
  const began = Date.now();
  const child = spawn(
    command,
    [
      ...commandArgs,
      'run',
      '--pgdata',
      pgdata,
      '--run-dir',
      path.join(dir, 'run'),
      '--port',
      String(port),
      '--listen',
      '127.0.0.1',
      '--status-port',
      String(statusPort),
      '--secrets-dir',
      path.join(dir, 'none'),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: managerEnv },
  );
  eachLine(child.stdout, (line) => {
    if (child.spawnedPostmasterAfterMs === undefined && line.includes('"msg":"PostgreSQL started"'))
      child.spawnedPostmasterAfterMs = Date.parse(JSON.parse(line).ts) - began;
  });
  return child;
}

// The manager's configuration sends PostgreSQL's logs into FIFOs under run-dir/log: without a reader
// the logging collector blocks and the postmaster never gets ready. Started directly, PostgreSQL gets
// the cheapest reader there is (opened O_RDWR so it never waits for the other end), draining to nowhere.
function drainLogFifos() {
  const logDir = path.join(dir, 'run', 'log');
  return fs.readdirSync(logDir).map((name) => {
    const socket = new net.Socket({
      fd: fs.openSync(path.join(logDir, name), fs.constants.O_RDWR | fs.constants.O_NONBLOCK),
      readable: true,
      writable: false,
    });
    socket.resume();
    return socket;
  });
}

function startPostgresDirectly() {
  const readers = drainLogFifos();
  const child = spawn(path.join(pgBin(), 'postgres'), ['-D', pgdata], {
    ...postgresUser(),
    cwd: pgdata,
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  child.once('exit', () => readers.forEach((reader) => reader.destroy()));
  return child;
}

async function measure(start, stopSignal, spawnTimes) {
  const began = performance.now();
  const child = start();
  const elapsed = await firstConnection(socketDir, port, began);
  child.kill(stopSignal);
  await exited(child);
  spawnTimes?.push(child.spawnedPostmasterAfterMs);
  return elapsed;
}

/** What a bare `node -e 0` costs on this machine right now: the floor under any Node program. */
function nodeBaseline() {
  const began = performance.now();
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore', env: managerEnv });
  return new Promise((resolve) => child.once('exit', () => resolve(performance.now() - began)));
}

// Create the data directory once, through the manager.
{
  const child = startManager();
  await firstConnection(socketDir, port, performance.now());
  child.kill('SIGTERM');
  await exited(child);
}

announce(
  `start to first connection (existing PGDATA; ${path.relative(ROOT, commandArgs[0] ?? command)}, TLS automatic, status API on), ${runs} rounds of manager, postgres -D directly, bare node -e 0; busy shared machine`,
);
const spawnedAfter = [];
const times = await alternate(
  {
    manager: () => measure(startManager, 'SIGTERM', spawnedAfter),
    direct: () => measure(startPostgresDirectly, 'SIGINT'),
    node: nodeBaseline,
  },
  runs,
);

/**
 * RSS 3 s after the first connection, and once V8's memory reducer, which waits for some 8 s without
 * allocation, has given back what the start-up left in its young generation: a pod's manager spends
 * its life in that second state. A bare Node process idling beside it, read at the same moments, is
 * the floor: part of any Node program's RSS is the executable's own pages (RssFile), and how many
 * the kernel maps depends on how much of the file sits in the page cache (fault-around), which no
 * benchmark should change for the whole machine.
 */
async function idleRss() {
  const child = startManager();
  await firstConnection(socketDir, port, performance.now());
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', env: managerEnv });
  const reading = (pid) => {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const mib = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)[1]) / 1024;
    return { rss: mib('VmRSS'), anon: mib('RssAnon'), file: mib('RssFile') };
  };
  await sleep(3000);
  const early = { manager: reading(child.pid), node: reading(bare.pid) };
  await sleep(12000);
  const idle = { manager: reading(child.pid), node: reading(bare.pid) };
  bare.kill('SIGTERM');
  child.kill('SIGTERM');
  await exited(child);
  return { early, idle };
}
const rss = await idleRss();
fs.rmSync(dir, { recursive: true, force: true });

const { manager, direct, node } = times;
console.log(`  postgres -D directly : ${describe(direct, 1, ' ms')}`);
console.log(`  instance-manager run : ${describe(manager, 1, ' ms')}`);
console.log(
  `  overhead (manager - direct, per round): ${describe(
    manager.map((value, i) => value - direct[i]),
    1,
    ' ms',
  )}; goal <= 150 ms`,
);
printRatio('  ratio manager / direct', manager, direct);
console.log(
  `    the manager spawned the postmaster after ${describe(spawnedAfter, 0, ' ms')}; a bare \`node -e 0\` took ${describe(node, 1, ' ms')}`,
);
const envNote = managerEnvNote('the manager and node -e 0');
if (envNote) console.log(`  ${envNote}`);
const line = (label, reading) =>
  `${label} ${reading.rss.toFixed(1)} MiB (anon ${reading.anon.toFixed(1)}, executable and other files ${reading.file.toFixed(1)})`;
console.log(`idle RSS 15 s after the first connection: ${line('manager', rss.idle.manager)}; goal <= 60 MiB`);
console.log(
  `  beside it, at the same moments: ${line('bare node', rss.idle.node)}; manager / bare node ${(rss.idle.manager.rss / rss.idle.node.rss).toFixed(2)}, difference ${(rss.idle.manager.rss - rss.idle.node.rss).toFixed(1)} MiB`,
);
console.log(
  `  3 s after the first connection: ${line('manager', rss.early.manager)}; ${line('bare node', rss.early.node)}`,
);

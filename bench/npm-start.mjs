#!/usr/bin/env node
// Issue 18 benchmark: a second `npm start` (nothing changed since the first: npm, the
// ensure-environment checks, a build found up to date, then the manager) against the manager alone
// (`node bin/instance-manager run`), each timed from launch to the first successful connection on
// the same existing PGDATA, in pairs run alternately (the order swapped every pair) so that the
// load of this shared machine falls on both alike. Also counts what `npm start` printed on stdout
// that is not a JSON object (must be none).
// Usage (as root, from the repository): node bench/npm-start.mjs [pairs=5]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, firstConnection, freePort, managerEnv, managerEnvNote, ROOT, scratch } from './common.mjs';

const pairs = Number(process.argv[2] ?? 5);
const dir = scratch('npm-start');
const port = await freePort();
const statusPort = await freePort();
const socketDir = path.join(dir, 'run', 'run');
// Appended to `npm start`'s own flags: the last value of a flag wins, so this runs in scratch
// directories and on ports the OS handed out, not in ./.data on 5432 and 8000.
const flags = ['--pgdata', path.join(dir, 'pgdata'), '--run-dir', path.join(dir, 'run'), '--port', String(port), '--status-port', String(statusPort), '--secrets-dir', path.join(dir, 'none')];

const launchers = {
  'npm start': () => spawn('npm', ['start', '--', ...flags], { cwd: ROOT, env: managerEnv, detached: true, stdio: ['ignore', 'pipe', 'ignore'] }),
  'manager alone': () => spawn(process.execPath, [BIN, 'run', ...flags], { cwd: ROOT, env: managerEnv, detached: true, stdio: ['ignore', 'pipe', 'ignore'] }),
};

let strayStdoutLines = 0;

function countStray(child) {
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop();
    for (const line of lines) {
      try {
        if (typeof JSON.parse(line) !== 'object') strayStdoutLines++;
      } catch {
        strayStdoutLines++;
      }
    }
  });
}

/** Launch to first connection, in ms; then the whole process group (npm, sh, the manager) is stopped. */
async function measure(name) {
  const began = performance.now();
  const child = launchers[name]();
  countStray(child);
  const elapsed = await firstConnection(socketDir, port, began);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid, 'SIGTERM');
  await exited;
  // npm may be gone before the manager it started: wait until the group is empty.
  for (;;) {
    try {
      process.kill(-child.pid, 0);
      await sleep(20);
    } catch {
      return elapsed;
    }
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// The first start: the build made if needed, the data directory created.
const first = await measure('npm start');
const results = { 'npm start': [], 'manager alone': [] };
for (let i = 0; i < pairs; i++) {
  const order = i % 2 === 0 ? ['npm start', 'manager alone'] : ['manager alone', 'npm start'];
  for (const name of order) results[name].push(await measure(name));
}
fs.rmSync(dir, { recursive: true, force: true });

const npmStart = median(results['npm start']);
const alone = median(results['manager alone']);
console.log(`launch to first connection, median of ${pairs} alternating pairs (existing PGDATA, TLS automatic, status API on; load ${os.loadavg().map((load) => load.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs)`);
console.log(`  first npm start      : ${first.toFixed(0)} ms (build if needed, initdb)`);
console.log(`  second npm start     : ${npmStart.toFixed(0)} ms  (runs: ${results['npm start'].map((ms) => ms.toFixed(0)).join(' ')})`);
console.log(`  manager alone        : ${alone.toFixed(0)} ms  (runs: ${results['manager alone'].map((ms) => ms.toFixed(0)).join(' ')})`);
console.log(`  npm start adds       : ${(npmStart - alone).toFixed(0)} ms (npm, the environment checks, the build found up to date)`);
console.log(`  non-JSON lines on stdout, all runs: ${strayStdoutLines}`);
const envNote = managerEnvNote('npm start and the manager');
if (envNote) console.log(`  ${envNote}`);

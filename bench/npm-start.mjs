#!/usr/bin/env node
// Issue 18 benchmark: a second `npm start` (nothing changed since the first: npm, the
// ensure-environment checks, a build found up to date, then the manager) against the manager alone
// (`node bin/instance-manager run`), each timed from launch to the first successful connection on
// the same existing PGDATA, in alternating rounds. Also counts what `npm start` printed on stdout
// that is not a JSON object (must be none).
// Usage (as root, from the repository): node bench/npm-start.mjs [rounds=5]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  alternate,
  announce,
  BIN,
  describe,
  eachLine,
  exited,
  firstConnection,
  freePort,
  managerEnv,
  managerEnvNote,
  printRatio,
  ROOT,
  scratch,
} from './common.mjs';

const rounds = Number(process.argv[2] ?? 5);
const dir = scratch('npm-start');
const port = await freePort();
const statusPort = await freePort();
const socketDir = path.join(dir, 'run', 'run');
// Appended to `npm start`'s own flags: the last value of a flag wins, so this runs in scratch
// directories and on ports the OS handed out, not in ./.data on 5432 and 8000.
const flags = [
  '--pgdata',
  path.join(dir, 'pgdata'),
  '--run-dir',
  path.join(dir, 'run'),
  '--port',
  String(port),
  '--status-port',
  String(statusPort),
  '--secrets-dir',
  path.join(dir, 'none'),
];
// Each in a process group of its own, so that npm, its shell and the manager are stopped together.
const options = { cwd: ROOT, env: managerEnv, detached: true, stdio: ['ignore', 'pipe', 'ignore'] };
const launch = {
  npmStart: () => spawn('npm', ['start', '--', ...flags], options),
  managerAlone: () => spawn(process.execPath, [BIN, 'run', ...flags], options),
};

let strayStdoutLines = 0;
function countStray(line) {
  try {
    if (typeof JSON.parse(line) !== 'object') strayStdoutLines++;
  } catch {
    strayStdoutLines++;
  }
}

/** Launch to first connection, in ms; then the whole process group is stopped and waited for. */
async function measure(start) {
  const began = performance.now();
  const child = start();
  eachLine(child.stdout, countStray);
  const elapsed = await firstConnection(socketDir, port, began);
  process.kill(-child.pid, 'SIGTERM');
  await exited(child);
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

// The first start: the build made if anything changed, the data directory created.
const first = await measure(launch.npmStart);
announce(
  `launch to first connection, existing PGDATA, TLS automatic, status API on: ${rounds} rounds of a second npm start and the manager alone; busy shared machine`,
);
const times = await alternate(
  { npmStart: () => measure(launch.npmStart), managerAlone: () => measure(launch.managerAlone) },
  rounds,
);
fs.rmSync(dir, { recursive: true, force: true });

console.log(`  first npm start (build if needed, initdb): ${first.toFixed(0)} ms`);
console.log(`  second npm start : ${describe(times.npmStart, 0, ' ms')}`);
console.log(`  manager alone    : ${describe(times.managerAlone, 0, ' ms')}`);
console.log(
  `  npm start adds (per round): ${describe(
    times.npmStart.map((value, i) => value - times.managerAlone[i]),
    0,
    ' ms',
  )} (npm, the environment checks, the build found up to date)`,
);
printRatio('  ratio npm start / manager alone', times.npmStart, times.managerAlone);
console.log(`  non-JSON lines on npm start's stdout, all runs: ${strayStdoutLines} (must be 0)`);
const envNote = managerEnvNote('npm start and the manager');
if (envNote) console.log(`  ${envNote}`);

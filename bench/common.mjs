/** Helpers the benchmarks share: a scratch PostgreSQL owned by the `postgres` user, timing, medians. */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const BIN = path.join(ROOT, 'bin', 'instance-manager');

// NODE_EXTRA_CA_CERTS makes Node 20 read and parse that CA bundle at every start, before any
// JavaScript runs (70 to 100 ms on this 2-core machine for Debian's bundle). Some sandboxes set it
// for every process; a pod does not, and the manager makes no TLS connection that would use it. So
// the benchmarks that time the manager's start run it (and a bare-Node baseline) without it,
// unless IM_BENCH_KEEP_ENV=1.
const extraCaCerts = process.env.NODE_EXTRA_CA_CERTS;
const keepEnv = process.env.IM_BENCH_KEEP_ENV === '1';
export const managerEnv = { ...process.env };
if (!keepEnv) delete managerEnv.NODE_EXTRA_CA_CERTS;

/** A line saying what was done with NODE_EXTRA_CA_CERTS, or undefined when it is not set. */
export function managerEnvNote(whom) {
  if (extraCaCerts === undefined) return undefined;
  return `(NODE_EXTRA_CA_CERTS=${extraCaCerts} is set in this shell: ${keepEnv ? 'kept, IM_BENCH_KEEP_ENV=1' : `left out for ${whom}, as in a pod; IM_BENCH_KEEP_ENV=1 keeps it`})`;
}

export function pgBin() {
  const versions = fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  return path.join('/usr/lib/postgresql', versions[0], 'bin');
}

export function postgresUser() {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((entry) => entry.startsWith('postgres:'));
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export function scratch(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `im-bench-${prefix}-`));
  fs.chmodSync(dir, 0o755);
  return dir;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Runs a program as the postgres user to completion; returns its stdout. */
export function runAsPostgres(file, args, options = {}) {
  const { uid, gid } = postgresUser();
  return execFileSync(file, args, { uid, gid, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });
}

/**
 * Runs a command with its stdout to /dev/null; resolves with its wall-clock seconds and its CPU
 * seconds (user + system, all threads, from GNU time). On a shared machine the CPU figure is the
 * steadier of the two.
 */
export function timeCommand(command, args) {
  return new Promise((resolve, reject) => {
    const out = fs.openSync('/dev/null', 'w');
    const report = path.join(os.tmpdir(), `im-bench-time-${process.pid}`);
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S', '-o', report, command, ...args], { stdio: ['ignore', out, 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => {
      fs.closeSync(out);
      const [wall, user, system] = fs.readFileSync(report, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
      fs.rmSync(report, { force: true });
      if (code !== 0) reject(new Error(`${command} exited ${code}`));
      else resolve({ wall, cpu: user + system });
    });
  });
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function waitForFile(file, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (fs.existsSync(file)) resolve();
      else if (Date.now() > deadline) reject(new Error(`${file} did not appear`));
      else setTimeout(check, 50);
    };
    check();
  });
}

/** Milliseconds from `began` (performance.now()) to the first connection that succeeds on the unix socket, polling every 5 ms. */
export async function firstConnection(socketDir, port, began) {
  for (;;) {
    const client = new pg.Client({ host: socketDir, port, user: 'postgres', database: 'postgres' });
    try {
      await client.connect();
      await client.end();
      return performance.now() - began;
    } catch {
      await sleep(5);
    }
  }
}

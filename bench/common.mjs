/**
 * What the benchmarks share: paired, alternating runs and their statistics, the load average, ports
 * from the OS, a scratch PostgreSQL owned by the `postgres` user, and readings of a process's CPU
 * time and memory.
 *
 * Every figure is a ratio of paired runs against a baseline measured in the same, alternating run
 * (A B A B ...), printed with its median, min and max: on a shared machine, absolute times measure
 * the neighbours as much as the code, a ratio of neighbouring runs much less. Nothing here writes
 * anything machine-wide (no drop_caches, no sysctl).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
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

// --- statistics and printing --------------------------------------------------------------------

export function loadAverage() {
  return `load average ${os
    .loadavg()
    .map((load) => load.toFixed(2))
    .join(' ')} on ${os.cpus().length} CPUs`;
}

/** Prints what is measured and the load average now, and the load average again when the process exits. */
export function announce(title) {
  console.log(title);
  console.log(`  ${loadAverage()} at the start`);
  process.once('exit', () => console.log(`${loadAverage()} at the end`));
}

/** The middle value; for an even count, the mean of the two middle values. */
export function median(values) {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** `median 1.02 (min 0.97, max 1.10, 6 runs)`. */
export function describe(values, digits = 2, unit = '') {
  const show = (value) => `${value.toFixed(digits)}${unit}`;
  return `median ${show(median(values))} (min ${show(Math.min(...values))}, max ${show(Math.max(...values))}, ${values.length} ${values.length === 1 ? 'run' : 'runs'})`;
}

/** a[i] / b[i] for each pair of runs. */
export function ratios(numerators, denominators) {
  if (numerators.length !== denominators.length) throw new Error('ratios need as many runs on each side');
  return numerators.map((value, i) => value / denominators[i]);
}

/** Prints the paired ratios a[i] / b[i] with their median, min and max, and the goal when there is one. */
export function printRatio(label, numerators, denominators, goal) {
  const paired = ratios(numerators, denominators);
  console.log(`${label}: ${describe(paired, 3)}${goal ? `; goal ${goal}` : ''}`);
  return median(paired);
}

/**
 * Runs every contender once a round, always in the same order (A B A B ...), after `warmUp`
 * unmeasured rounds, so run i of each contender sits next to run i of the others. `contenders` maps
 * names to async functions of the round; returns the results by name. `onRound` sees each round's
 * results, to print them as they come.
 */
export async function alternate(contenders, rounds, { warmUp = 0, onRound } = {}) {
  const results = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
  for (let round = -warmUp; round < rounds; round++) {
    const thisRound = {};
    for (const [name, run] of Object.entries(contenders)) thisRound[name] = await run(round);
    if (round < 0) continue;
    for (const [name, result] of Object.entries(thisRound)) results[name].push(result);
    onRound?.(round, thisRound);
  }
  return results;
}

// --- processes ------------------------------------------------------------------------------------

/** A port the OS picked (listen on 0, then closed for the program that will take it). */
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

export function exited(child) {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', resolve));
}

/** Calls `onLine` with every whole line of a readable stream (utf8). */
export function eachLine(stream, onLine) {
  let pending = '';
  stream.setEncoding('utf8').on('data', (chunk) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop();
    for (const line of lines) onLine(line);
  });
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU seconds (user + system) a live process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name, in parentheses, may hold spaces: fields are counted after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [utime, stime] = [fields[11], fields[12]].map(Number); // fields 14 and 15 of proc(5)
  return (utime + stime) / CLOCK_TICKS;
}

/** Resident memory of a live process now, in MiB. */
export function rssMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)[1]) / 1024;
}

/**
 * Runs a command with its stdout to /dev/null; resolves with its wall-clock seconds, its CPU
 * seconds (user + system, all threads) and its peak RSS in MiB, from GNU time. On a shared machine
 * the CPU figure is the steadier of the two times.
 */
export function timeCommand(command, args) {
  return new Promise((resolve, reject) => {
    const out = fs.openSync('/dev/null', 'w');
    const report = path.join(os.tmpdir(), `im-bench-time-${process.pid}`);
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', report, command, ...args], {
      stdio: ['ignore', out, 'inherit'],
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      fs.closeSync(out);
      const [wall, user, system, maxKiB] = fs
        .readFileSync(report, 'utf8')
        .trim()
        .split('\n')
        .at(-1)
        .split(' ')
        .map(Number);
      fs.rmSync(report, { force: true });
      if (code !== 0) reject(new Error(`${command} exited ${code}`));
      else resolve({ wall, cpu: user + system, rss: maxKiB / 1024 });
    });
  });
}

/**
 * A Go program of bench/peers/ built into `dir` for this run (binaries are never committed), or
 * undefined without a Go toolchain (`node scripts/ensure-environment.mjs --for-bench` installs one).
 */
export function buildGoPeer(dir, name) {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) return undefined;
  const binary = path.join(dir, name);
  execFileSync('go', ['build', '-o', binary, path.join(ROOT, 'bench', 'peers', `${name}.go`)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { binary, version: go.stdout.trim() };
}

// --- PostgreSQL -----------------------------------------------------------------------------------

export function pgBin() {
  const versions = fs
    .readdirSync('/usr/lib/postgresql')
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  return path.join('/usr/lib/postgresql', versions[0], 'bin');
}

export function postgresUser() {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export function scratch(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `im-bench-${prefix}-`));
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** Runs a program as the postgres user to completion; returns its stdout. */
export function runAsPostgres(file, args, options = {}) {
  const { uid, gid } = postgresUser();
  return execFileSync(file, args, { uid, gid, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });
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

// --- certificates ---------------------------------------------------------------------------------

const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** A P-256 CA valid two days: `{ crt, key }` files in `dir`. */
export function certificateAuthority(dir, name) {
  const ca = { crt: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    ca.key,
    '-out',
    ca.crt,
    '-subj',
    `/CN=${name}`,
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  return ca;
}

/** `tls.crt` and `tls.key` in `outDir`: a server certificate for the IPs `names`, or a client certificate without them. */
export function leaf(ca, outDir, cn, names) {
  fs.mkdirSync(outDir, { recursive: true });
  const ext = path.join(outDir, 'ext.cnf');
  fs.writeFileSync(
    ext,
    names
      ? `extendedKeyUsage=serverAuth\nsubjectAltName=${names.map((n) => `IP:${n}`).join(',')}\n`
      : 'extendedKeyUsage=clientAuth\n',
  );
  openssl(
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    path.join(outDir, 'tls.key'),
    '-out',
    path.join(outDir, 'tls.csr'),
    '-subj',
    `/CN=${cn}`,
  );
  openssl(
    'x509',
    '-req',
    '-in',
    path.join(outDir, 'tls.csr'),
    '-CA',
    ca.crt,
    '-CAkey',
    ca.key,
    '-set_serial',
    String(Date.now()),
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    path.join(outDir, 'tls.crt'),
  );
  for (const file of ['ext.cnf', 'tls.csr']) fs.rmSync(path.join(outDir, file));
  return { cert: path.join(outDir, 'tls.crt'), key: path.join(outDir, 'tls.key') };
}

/** A provided-mode --secrets-dir at `dir/name/secrets`: a server certificate for 127.0.0.1, streaming_replica's, both CAs. */
export function secretsDir(dir, name, serverCa, clientCa) {
  const secrets = path.join(dir, name, 'secrets');
  leaf(serverCa, path.join(secrets, 'server-tls'), '127.0.0.1', ['127.0.0.1']);
  leaf(clientCa, path.join(secrets, 'replication-tls'), 'streaming_replica');
  for (const [sub, ca] of [
    ['server-ca', serverCa],
    ['client-ca', clientCa],
  ]) {
    fs.mkdirSync(path.join(secrets, sub), { recursive: true });
    fs.copyFileSync(ca.crt, path.join(secrets, sub, 'ca.crt'));
  }
  return secrets;
}

/**
 * `instance-manager run` as the benchmarks start it: PGDATA and the run dir under `base`, PostgreSQL
 * on loopback at `port`, the status API at `statusPort` (0: off), then `extra` flags.
 */
export function runArgs({ base, port, statusPort = 0, secretsDir }, extra = []) {
  return [
    BIN,
    'run',
    ...['--pgdata', path.join(base, 'pgdata'), '--run-dir', path.join(base, 'run'), '--secrets-dir', secretsDir],
    ...['--port', String(port), '--listen', '127.0.0.1', '--status-port', String(statusPort)],
    ...extra,
  ];
}

/** psql's arguments for one statement as the superuser over the unix socket, stopping at the first error. */
export function psqlArgs(socketDir, port, sql) {
  return [
    '-X',
    '-At',
    '-v',
    'ON_ERROR_STOP=1',
    '-h',
    socketDir,
    '-p',
    String(port),
    '-U',
    'postgres',
    '-d',
    'postgres',
    '-c',
    sql,
  ];
}

/** Runs one statement with psql (see psqlArgs); returns its output, trimmed. */
export function psqlAt(socketDir, port, sql) {
  return execFileSync('psql', psqlArgs(socketDir, port, sql), { encoding: 'utf8' }).trim();
}

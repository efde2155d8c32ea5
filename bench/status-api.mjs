#!/usr/bin/env node
/**
 * Status API latency under load: wrk with 50 connections against /healthz and /pg/status of a real
 * manager (HTTPS, certificates made by openssl, a real PostgreSQL), and the manager's RSS during the
 * run. Prints each p99 against its goal (healthz <= 5 ms, pg/status <= 20 ms) and against a bare
 * Node HTTPS server answering a fixed 200 in the same run (bench/bare-https-server.mjs), which shows
 * what this machine's load allows at all.
 *
 *   npm run build && node bench/status-api.mjs [--duration 10] [--connections 50]
 *
 * Needs wrk (apt-get install wrk), openssl, and PostgreSQL as for the tests; run as root.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { clearInterval, setInterval } from 'node:timers';

const ROOT = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(args[at + 1]);
};
const DURATION_S = option('duration', 10);
const CONNECTIONS = option('connections', 50);
const GOALS_MS = { '/healthz': 5, '/pg/status': 20 };
/** Unmeasured load first: JIT, TLS sessions of the 50 connections, pool connections. */
const WARM_UP_S = 2;

const freePort = () =>
  new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

function openssl(argv) {
  execFileSync('openssl', argv, { stdio: 'ignore' });
}

/** A provided-mode secrets dir: server and client CAs, a server leaf for 127.0.0.1. */
function makeSecrets(dir) {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  for (const name of ['server-ca', 'client-ca']) {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    openssl(['req', '-x509', ...ec, '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, name, 'ca.crt'), '-subj', `/CN=bench ${name}`, '-days', '2',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  }
  const leaf = path.join(dir, 'server-tls');
  fs.mkdirSync(leaf);
  fs.writeFileSync(path.join(dir, 'ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['req', '-new', ...ec, '-keyout', path.join(leaf, 'tls.key'), '-out', path.join(dir, 'server.csr'), '-subj', '/CN=localhost']);
  openssl(['x509', '-req', '-in', path.join(dir, 'server.csr'), '-CA', path.join(dir, 'server-ca', 'ca.crt'), '-CAkey', path.join(dir, 'server-ca.key'),
    '-set_serial', '1', '-days', '2', '-extfile', path.join(dir, 'ext'), '-out', path.join(leaf, 'tls.crt')]);
}

function rssBytes(pid) {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match[1]) * 1024;
}

/** wrk's latency distribution, in milliseconds. */
function parseWrk(output) {
  const toMs = (value, unit) => Number(value) * { us: 0.001, ms: 1, s: 1000 }[unit];
  const percentile = (p) => {
    const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)$`, 'm').exec(output);
    if (!match) throw new Error(`no ${p}% line in wrk output:\n${output}`);
    return toMs(match[1], match[2]);
  };
  const rps = Number(/^Requests\/sec:\s+([\d.]+)$/m.exec(output)[1]);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: .*/.exec(output)?.[0];
  return { p50: percentile(50), p99: percentile(99), rps, errors };
}

function runWrk(url, pid, durationS = DURATION_S) {
  return new Promise((resolve, reject) => {
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(pid))), 100);
    const wrk = spawn('wrk', ['-t', '1', '-c', String(CONNECTIONS), '-d', `${durationS}s`, '--latency', url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    wrk.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    wrk.on('error', reject);
    wrk.on('exit', (code) => {
      clearInterval(sampler);
      if (code !== 0) reject(new Error(`wrk exited ${code}:\n${output}`));
      else resolve({ ...parseWrk(output), peakRss });
    });
  });
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-bench-status-'));
  fs.chmodSync(dir, 0o755);
  makeSecrets(path.join(dir, 'secrets'));
  const [pgPort, statusPort] = [await freePort(), await freePort()];
  const manager = spawn(process.execPath, [
    path.join(ROOT, 'bin', 'instance-manager'), 'run',
    '--pgdata', path.join(dir, 'pgdata'), '--run-dir', path.join(dir, 'run'), '--secrets-dir', path.join(dir, 'secrets'),
    '--port', String(pgPort), '--listen', '127.0.0.1', '--status-port', String(statusPort), '--smart-shutdown-timeout', '2',
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise((resolve, reject) => {
    let pending = '';
    manager.stdout.setEncoding('utf8').on('data', (chunk) => {
      pending += chunk;
      if (pending.includes('"msg":"PostgreSQL accepts connections"')) resolve();
      pending = pending.slice(pending.lastIndexOf('\n') + 1);
    });
    manager.once('exit', (code) => reject(new Error(`the manager exited (${code}) before PostgreSQL was ready`)));
  });
  const barePort = await freePort();
  const bare = spawn(process.execPath, [path.join(ROOT, 'bench', 'bare-https-server.mjs'), path.join(dir, 'secrets', 'server-tls', 'tls.crt'), path.join(dir, 'secrets', 'server-tls', 'tls.key'), String(barePort)], { stdio: 'inherit' });
  try {
    await ready;
    const idleRss = rssBytes(manager.pid);
    console.log(`status API benchmark: wrk, ${CONNECTIONS} connections, ${DURATION_S} s per endpoint, HTTPS (TLS 1.3), PostgreSQL ${execFileSync('psql', ['-V']).toString().trim()}`);
    console.log(`manager RSS idle: ${(idleRss / 2 ** 20).toFixed(1)} MiB`);
    console.log(`load average before the run: ${os.loadavg()[0].toFixed(2)} on ${os.cpus().length} CPUs`);
    await runWrk(`https://127.0.0.1:${barePort}/`, bare.pid, WARM_UP_S);
    const baseline = await runWrk(`https://127.0.0.1:${barePort}/`, bare.pid);
    console.log(`baseline (bare node:https, fixed 200) p50 ${baseline.p50.toFixed(2)} ms, p99 ${baseline.p99.toFixed(2)} ms, ${Math.round(baseline.rps)} req/s`);
    for (const [endpoint, goal] of Object.entries(GOALS_MS)) {
      await runWrk(`https://127.0.0.1:${statusPort}${endpoint}`, manager.pid, WARM_UP_S);
      const result = await runWrk(`https://127.0.0.1:${statusPort}${endpoint}`, manager.pid);
      const verdict = result.p99 <= goal ? 'meets' : 'MISSES';
      console.log(
        `${endpoint.padEnd(11)} p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms = ${(result.p99 / goal).toFixed(2)} x the ${goal} ms goal (${verdict}), ` +
          `against the baseline: p50 ${(result.p50 / baseline.p50).toFixed(2)} x, p99 ${(result.p99 / baseline.p99).toFixed(2)} x, ` +
          `${Math.round(result.rps)} req/s = ${(result.rps / baseline.rps).toFixed(2)} x; peak manager RSS ${(result.peakRss / 2 ** 20).toFixed(1)} MiB` +
          `${result.errors ? `, ${result.errors}` : ''}`,
      );
    }
  } finally {
    bare.kill('SIGTERM');
    manager.kill('SIGTERM');
    await new Promise((resolve) => manager.once('exit', resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();

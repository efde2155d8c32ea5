#!/usr/bin/env node
/**
 * /metrics against postgres_exporter: one PostgreSQL under the manager with N extra databases,
 * scraped by the manager itself (plain HTTP, --status-insecure) and by Debian's
 * prometheus-postgres-exporter (connected to the same instance over the same unix socket), in
 * paired alternating runs (A B A B ...), each run a batch of sequential scrapes. Prints per scrape
 * the wall time and the CPU of the process serving it (the manager or the exporter; PostgreSQL's
 * own work is the same for both and left out), as median, min and max over the runs, and which
 * of the exporter's metric families the manager lacks (the goal: at most its time, at least its
 * default coverage). Scrapes follow each other at once, so both keep their connections open; a
 * Prometheus scraping every 15 s finds the manager's closed (it lets them go after 1 s) and pays a
 * connection more.
 *
 *   npm run build && node bench/metrics.mjs [--databases 50] [--runs 6] [--scrapes 10]
 *
 * Needs prometheus-postgres-exporter and PostgreSQL as for the tests; run as root.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { freePort, managerEnv, managerEnvNote, median, psqlArgs, runArgs, scratch } from './common.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(args[at + 1]);
};
const DATABASES = option('databases', 50);
const RUNS = option('runs', 6);
const SCRAPES = option('scrapes', 10);
const EXPORTER = '/usr/bin/prometheus-postgres-exporter';
const TICKS_PER_SECOND = 100;
const agent = new http.Agent({ keepAlive: true });

/** The process's user + system CPU seconds so far (/proc/PID/stat, clock ticks). */
function cpuSeconds(pid) {
  const fields = fs
    .readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** A GET on a kept-alive connection, as Prometheus scrapes; resolves with the body. */
function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk) => (body += chunk));
        response.on('end', () =>
          response.statusCode === 200
            ? resolve(body)
            : reject(new Error(`${url}: ${response.statusCode} ${body.slice(0, 200)}`)),
        );
      })
      .on('error', reject);
  });
}

async function waitFor(what, check, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // Not yet.
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(200);
  }
}

function psql(socketDir, port, sql) {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', psqlArgs(socketDir, port, sql), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.once('exit', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`psql exited ${code}: ${err.trim()}`)),
    );
  });
}

/** PostgreSQL's families in a scrape (each process's own runtime metrics left out). */
function families(text) {
  return new Set(
    text
      .split('\n')
      .filter((line) => line.startsWith('# TYPE '))
      .map((line) => line.split(' ')[2])
      .filter((name) => name.startsWith('pg_')),
  );
}

/** One run: SCRAPES sequential scrapes; per scrape, the mean wall and CPU milliseconds. */
async function run(url, pid) {
  const cpuBefore = cpuSeconds(pid);
  const began = performance.now();
  for (let i = 0; i < SCRAPES; i++) await get(url);
  const wallMs = (performance.now() - began) / SCRAPES;
  const cpuMs = ((cpuSeconds(pid) - cpuBefore) * 1_000) / SCRAPES;
  return { wallMs, cpuMs };
}

const summary = (values) =>
  `median ${median(values).toFixed(1)}  min ${Math.min(...values).toFixed(1)}  max ${Math.max(...values).toFixed(1)}`;

const dir = scratch('metrics');
const children = [];
try {
  const loadBefore = os.loadavg();
  const [port, statusPort, exporterPort] = [await freePort(), await freePort(), await freePort()];
  const manager = spawn(
    process.execPath,
    runArgs({ base: dir, port, statusPort, secretsDir: path.join(dir, 'none') }, [
      ...['--status-insecure', '--log-level', 'warning'],
    ]),
    { stdio: ['ignore', 'ignore', 'inherit'], env: managerEnv },
  );
  children.push(manager);
  const socketDir = path.join(dir, 'run', 'run');
  const managerUrl = `http://127.0.0.1:${statusPort}/metrics`;
  await waitFor(
    'PostgreSQL under the manager',
    async () =>
      (await psql(socketDir, port, "SELECT count(*) FROM pg_roles WHERE rolname = 'metrics_monitor'")) === '1',
  );
  for (let i = 1; i <= DATABASES; i++) await psql(socketDir, port, `CREATE DATABASE bench_${i}`);

  const exporter = spawn(EXPORTER, [`--web.listen-address=127.0.0.1:${exporterPort}`, '--log.level=warn'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      DATA_SOURCE_NAME: `host=${socketDir} port=${port} user=postgres dbname=postgres sslmode=disable`,
    },
  });
  children.push(exporter);
  const exporterUrl = `http://127.0.0.1:${exporterPort}/metrics`;
  await waitFor('the exporter', async () => (await get(exporterUrl)).includes('\npg_up 1'));
  await waitFor("the manager's /metrics", async () => (await get(managerUrl)).includes('\npg_up 1'));

  const ours = await get(managerUrl);
  const theirs = await get(exporterUrl);
  const missing = [...families(theirs)].filter((name) => !families(ours).has(name));
  // Warm-up: the JIT, the pools, PostgreSQL's caches.
  for (let i = 0; i < 3; i++) await Promise.all([get(managerUrl), get(exporterUrl)]);

  const results = { manager: [], exporter: [] };
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 === 0 ? ['manager', 'exporter'] : ['exporter', 'manager'];
    for (const who of order)
      results[who].push(
        await run(who === 'manager' ? managerUrl : exporterUrl, who === 'manager' ? manager.pid : exporter.pid),
      );
  }
  const loadAfter = os.loadavg();

  console.log(
    `/metrics with ${DATABASES} extra databases: ${RUNS} paired runs of ${SCRAPES} sequential scrapes each, alternating`,
  );
  const envNote = managerEnvNote('the manager');
  if (envNote) console.log(envNote);
  console.log(
    `load average before ${loadBefore.map((value) => value.toFixed(2)).join(' ')}, after ${loadAfter.map((value) => value.toFixed(2)).join(' ')} (${os.cpus().length} cores)`,
  );
  for (const who of ['manager', 'exporter']) {
    console.log(
      `${who.padEnd(8)} wall ms/scrape: ${summary(results[who].map((r) => r.wallMs))}   CPU ms/scrape: ${summary(results[who].map((r) => r.cpuMs))}`,
    );
  }
  const ratio = median(results.manager.map((r) => r.wallMs)) / median(results.exporter.map((r) => r.wallMs));
  console.log(`manager/exporter wall time (medians): ${ratio.toFixed(2)} (goal <= 1)`);
  console.log(
    `series: manager ${ours.split('\n').filter((line) => line.startsWith('pg_')).length}, exporter ${theirs.split('\n').filter((line) => line.startsWith('pg_')).length}; pg_ families: manager ${families(ours).size}, exporter ${families(theirs).size}`,
  );
  console.log(`exporter families the manager lacks: ${missing.length === 0 ? 'none' : missing.join(', ')}`);
} finally {
  for (const child of children.reverse()) {
    child.kill('SIGTERM');
    await new Promise((resolve) =>
      child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', resolve),
    );
  }
  agent.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}

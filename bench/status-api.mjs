#!/usr/bin/env node
/**
 * Status API latency under load: wrk with 50 connections against /healthz and /pg/status of a real
 * manager (HTTPS, certificates made by openssl, a real PostgreSQL), and against a bare node:https
 * server answering a fixed 200 with the same certificate (bench/bare-https-server.mjs). Each round
 * runs bare, /healthz, /pg/status in that order, after one unmeasured warm-up round; each round's
 * p99 over the bare server's is one figure. Also each p99 against its absolute goal, and the
 * manager's RSS.
 *
 *   npm run build && node bench/status-api.mjs [--rounds 4] [--duration 10] [--connections 50]
 *
 * Needs wrk (apt-get install wrk), openssl, and PostgreSQL as for the tests; run as root.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { clearInterval, setInterval } from 'node:timers';
import { parseArgs } from 'node:util';
import {
  alternate,
  announce,
  certificateAuthority,
  cpuSeconds,
  describe,
  eachLine,
  exited,
  freePort,
  printRatio,
  ROOT,
  rssMiB,
  scratch,
  runArgs,
  secretsDir,
} from './common.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
  },
});
const ROUNDS = Number(values.rounds);
const DURATION_S = Number(values.duration);
const CONNECTIONS = Number(values.connections);
const GOALS_MS = { '/healthz': 5, '/pg/status': 20 };
const HEALTHZ_RATIO_GOAL = 1.1;
/** Each run of the warm-up round (JIT, TLS sessions of the connections, pool connections). */
const WARM_UP_S = 2;

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

function runWrk(url, pid, durationS) {
  return new Promise((resolve, reject) => {
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMiB(pid))), 100);
    const cpuBefore = cpuSeconds(pid);
    const wrk = spawn('wrk', ['-t', '1', '-c', String(CONNECTIONS), '-d', `${durationS}s`, '--latency', url], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    wrk.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    wrk.on('error', reject);
    wrk.on('exit', (code) => {
      clearInterval(sampler);
      if (code !== 0) return reject(new Error(`wrk exited ${code}:\n${output}`));
      const result = parseWrk(output);
      // The server's own CPU per request: what the machine's load does not change much.
      resolve({ ...result, peakRss, cpuUs: ((cpuSeconds(pid) - cpuBefore) * 1e6) / (result.rps * durationS) });
    });
  });
}

/** The manager with its status API on `statusPort`; resolves once PostgreSQL accepts connections. */
async function startManager(dir, statusPort) {
  const manager = spawn(
    process.execPath,
    runArgs({ base: dir, port: await freePort(), statusPort, secretsDir: secrets }, [
      ...['--smart-shutdown-timeout', '2'],
    ]),
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise((resolve, reject) => {
    eachLine(manager.stdout, (line) => line.includes('"msg":"PostgreSQL accepts connections"') && resolve());
    manager.once('exit', (code) => reject(new Error(`the manager exited (${code}) before PostgreSQL was ready`)));
  });
  return manager;
}

/** The baseline server; resolves with it and the port the OS gave it. */
async function startBareServer() {
  const tls = path.join(secrets, 'server-tls');
  const bare = spawn(
    process.execPath,
    [path.join(ROOT, 'bench', 'bare-https-server.mjs'), path.join(tls, 'tls.crt'), path.join(tls, 'tls.key')],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise((resolve) => eachLine(bare.stdout, (line) => resolve(Number(line))));
  return { bare, port };
}

const ms = (result) =>
  `p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ${Math.round(result.rps)} req/s, ${result.cpuUs.toFixed(0)} µs CPU a request${result.errors ? `, ${result.errors}` : ''}`;

const dir = scratch('status');
// Provided mode: the manager and the bare server serve the same P-256 certificate for 127.0.0.1.
const secrets = secretsDir(dir, 'node', certificateAuthority(dir, 'server-ca'), certificateAuthority(dir, 'client-ca'));
const statusPort = await freePort();
const manager = await startManager(dir, statusPort);
const { bare, port: barePort } = await startBareServer();
try {
  announce(
    `status API under wrk: ${CONNECTIONS} connections, HTTPS (TLS 1.3), ${ROUNDS} rounds of bare node:https, /healthz, /pg/status, ${DURATION_S} s each; ${execFileSync('psql', ['-V']).toString().trim()}; busy shared machine`,
  );
  console.log(`  manager RSS idle: ${rssMiB(manager.pid).toFixed(1)} MiB`);
  const duration = (round) => (round < 0 ? WARM_UP_S : DURATION_S);
  const contenders = {
    bare: (round) => runWrk(`https://127.0.0.1:${barePort}/`, bare.pid, duration(round)),
    '/healthz': (round) => runWrk(`https://127.0.0.1:${statusPort}/healthz`, manager.pid, duration(round)),
    '/pg/status': (round) => runWrk(`https://127.0.0.1:${statusPort}/pg/status`, manager.pid, duration(round)),
  };
  const runs = await alternate(contenders, ROUNDS, {
    warmUp: 1,
    onRound: (round, result) =>
      console.log(
        `  round ${round + 1}: ${Object.entries(result)
          .map(([name, run]) => `${name} ${ms(run)}`)
          .join('; ')}`,
      ),
  });
  const p99 = (name) => runs[name].map((run) => run.p99);
  console.log(`bare node:https p99: ${describe(p99('bare'), 2, ' ms')}`);
  for (const [endpoint, goal] of Object.entries(GOALS_MS)) {
    console.log(`${endpoint} p99: ${describe(p99(endpoint), 2, ' ms')}; goal <= ${goal} ms`);
    printRatio(
      `${endpoint} p99 / bare node:https p99`,
      p99(endpoint),
      p99('bare'),
      endpoint === '/healthz' ? `<= ${HEALTHZ_RATIO_GOAL}` : undefined,
    );
    printRatio(
      `${endpoint} req/s / bare node:https req/s`,
      runs[endpoint].map((run) => run.rps),
      runs.bare.map((run) => run.rps),
    );
    const cpu = (name) => runs[name].map((run) => run.cpuUs);
    printRatio(
      `${endpoint} server CPU per request / bare node:https (${describe(cpu(endpoint), 0, ' µs')} against ${describe(cpu('bare'), 0, ' µs')})`,
      cpu(endpoint),
      cpu('bare'),
    );
  }
  console.log(
    `manager peak RSS under load: ${describe(
      [...runs['/healthz'], ...runs['/pg/status']].map((run) => run.peakRss),
      1,
      ' MiB',
    )}`,
  );
} finally {
  bare.kill('SIGTERM');
  manager.kill('SIGTERM');
  await exited(manager);
  fs.rmSync(dir, { recursive: true, force: true });
}

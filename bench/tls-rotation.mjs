#!/usr/bin/env node
// Certificate rotation: latency from a kubelet-style `..data` swap of the server-tls Secret to the
// new certificate being served on new connections (goal <= 2 s), against the floor, PostgreSQL's
// own reload: the same kind of new leaf written straight into the files PostgreSQL reads (renamed
// into place) and a SIGHUP to the postmaster, in alternating rounds (swap, reload, swap, ...), each
// round's ratio one figure. All the while pgbench runs over TLS, both on sessions kept open and
// opening a new connection per transaction (-C): it must not lose a transaction.
// Usage (as root, after `npm run build`): node bench/tls-rotation.mjs [rotations=10]
import { spawn } from 'node:child_process';
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import pg from 'pg';
import { createCa, issueClientCertificate, issueServerCertificate } from '../dist/pki/index.js';
import {
  alternate,
  announce,
  describe,
  eachLine,
  exited,
  freePort,
  median,
  printRatio,
  scratch,
  runArgs,
} from './common.mjs';

const GOAL_MS = 2000;
const rotations = Number(process.argv[2] ?? 10);
const dir = scratch('tls');
const secrets = path.join(dir, 'secrets');
const port = await freePort();
const socketDir = path.join(dir, 'run', 'run');
const now = () => new Date();

// The kubelet's update (same steps as test/support/secrets.ts writeKubeletVolume): a new
// timestamped directory, `..data_tmp` pointing at it renamed over `..data`, the old one removed.
let generation = 0;
function swapVolume(volume, files) {
  fs.mkdirSync(volume, { recursive: true });
  let previous;
  try {
    previous = fs.readlinkSync(path.join(volume, '..data'));
  } catch {
    previous = undefined;
  }
  const stamp = `..bench_${generation++}`;
  fs.mkdirSync(path.join(volume, stamp));
  for (const [name, content] of Object.entries(files))
    fs.writeFileSync(path.join(volume, stamp, name), content, { mode: 0o640 });
  fs.symlinkSync(stamp, path.join(volume, '..data_tmp'));
  fs.renameSync(path.join(volume, '..data_tmp'), path.join(volume, '..data'));
  for (const name of Object.keys(files))
    if (!fs.existsSync(path.join(volume, name))) fs.symlinkSync(path.join('..data', name), path.join(volume, name));
  if (previous) fs.rmSync(path.join(volume, previous), { recursive: true, force: true });
}

/** SHA-256 fingerprint of the certificate PostgreSQL presents now (SSLRequest, then a TLS handshake). */
async function servedFingerprint() {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const request = Buffer.alloc(8);
  request.writeInt32BE(8, 0);
  request.writeInt32BE(80877103, 4);
  socket.write(request);
  const answer = await new Promise((resolve, reject) => socket.once('data', resolve).once('error', reject));
  if (answer.toString() !== 'S') throw new Error('the server refused TLS');
  const secure = tls.connect({ socket, rejectUnauthorized: false, servername: 'localhost' });
  await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  const fingerprint = secure.getPeerX509Certificate().fingerprint256;
  secure.destroy();
  return fingerprint;
}

const serverCa = await createCa({ commonName: 'bench server CA', now: now() });
const clientCa = await createCa({ commonName: 'bench client CA', now: now() });
const leaf = () => issueServerCertificate(serverCa, { names: ['localhost', '127.0.0.1'], now: now() });
const first = await leaf();
const replication = await issueClientCertificate(clientCa, { user: 'streaming_replica', now: now() });
swapVolume(path.join(secrets, 'server-ca'), { 'ca.crt': serverCa.certPem });
swapVolume(path.join(secrets, 'client-ca'), { 'ca.crt': clientCa.certPem });
swapVolume(path.join(secrets, 'server-tls'), { 'tls.crt': first.certPem, 'tls.key': first.keyPem });
swapVolume(path.join(secrets, 'replication-tls'), { 'tls.crt': replication.certPem, 'tls.key': replication.keyPem });
fs.writeFileSync(path.join(dir, 'server-ca.crt'), serverCa.certPem);

const manager = spawn(
  process.execPath,
  runArgs({ base: dir, port, secretsDir: secrets }, ['--server-name', 'localhost,127.0.0.1']),
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
let reloads = 0;
let restarts = -1;
eachLine(manager.stdout, (line) => {
  if (line.includes('"msg":"configuration reloaded"')) reloads++;
  if (line.includes('"msg":"PostgreSQL started"')) restarts++;
});

for (;;) {
  const client = new pg.Client({ host: socketDir, port, user: 'postgres', database: 'postgres' });
  try {
    await client.connect();
    await client.query("ALTER ROLE postgres PASSWORD 'bench'");
    await client.end();
    break;
  } catch {
    await sleep(100);
  }
}

const pgbenchEnv = {
  ...process.env,
  PGHOST: 'localhost',
  PGHOSTADDR: '127.0.0.1',
  PGPORT: String(port),
  PGUSER: 'postgres',
  PGPASSWORD: 'bench',
  PGDATABASE: 'postgres',
  PGSSLMODE: 'verify-full',
  PGSSLROOTCERT: path.join(dir, 'server-ca.crt'),
};
const run = (args) =>
  new Promise((resolve, reject) => {
    const child = spawn('pgbench', args, { env: pgbenchEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`pgbench exited ${code}:\n${output}`)),
    );
  });
await run(['-i', '-q', '-s', '1']);

/** Until new connections get `material`'s certificate; resolves with the milliseconds since `began`. */
async function servedAfter(material, began) {
  const expected = new crypto.X509Certificate(material.certPem).fingerprint256;
  while ((await servedFingerprint().catch(() => undefined)) !== expected) {
    if (performance.now() - began > 30_000) throw new Error('the new certificate was not served within 30 s');
    await sleep(10);
  }
  return performance.now() - began;
}

/** The floor: the files PostgreSQL reads replaced (same owner and mode, renamed into place) and a SIGHUP. */
async function reloadByHand(material) {
  const certificates = path.join(dir, 'run', 'certificates');
  const began = performance.now();
  for (const [name, content] of [
    ['server.crt', material.certPem],
    ['server.key', material.keyPem],
  ]) {
    const file = path.join(certificates, name);
    const { uid, gid, mode } = fs.statSync(file);
    fs.writeFileSync(`${file}.bench`, content, { mode });
    fs.chownSync(`${file}.bench`, uid, gid);
    fs.renameSync(`${file}.bench`, file);
  }
  process.kill(Number(fs.readFileSync(path.join(dir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0]), 'SIGHUP');
  return servedAfter(material, began);
}

async function swapSecret(material) {
  const began = performance.now();
  swapVolume(path.join(secrets, 'server-tls'), { 'tls.crt': material.certPem, 'tls.key': material.keyPem });
  return servedAfter(material, began);
}

// New leaves are issued before the clock starts: the figure is the manager's, not key generation's.
const renewed = [];
for (let i = 0; i < 2 * rotations; i++) renewed.push(await leaf());
const benchSeconds = Math.ceil(rotations * 3.5) + 4;
announce(
  `certificate rotation: ${rotations} rounds of a Secret swap then a reload by hand, pgbench over TLS all the while; busy shared machine`,
);
const reconnecting = run(['-n', '-C', '-c', '2', '-j', '1', '-T', String(benchSeconds)]);
const persistent = run(['-n', '-c', '2', '-j', '1', '-T', String(benchSeconds)]);
await sleep(1000);

const pause = (measure) => async (round) => {
  const elapsed = await measure(round);
  await sleep(500);
  return elapsed;
};
const latencies = await alternate(
  {
    swap: pause((round) => swapSecret(renewed[2 * round])),
    byHand: pause((round) => reloadByHand(renewed[2 * round + 1])),
  },
  rotations,
);
const outputs = { 'new connection per transaction (-C)': await reconnecting, 'sessions kept open': await persistent };

manager.kill('SIGTERM');
await exited(manager);
fs.rmSync(dir, { recursive: true, force: true });

console.log(`rotations: ${rotations}, manager reloads: ${reloads}, postmaster restarts: ${restarts}`);
console.log(`Secret swap -> new certificate served: ${describe(latencies.swap, 0, ' ms')}; goal <= ${GOAL_MS} ms`);
console.log(`files replaced + SIGHUP by hand -> served: ${describe(latencies.byHand, 0, ' ms')}`);
printRatio('swap / by hand', latencies.swap, latencies.byHand);
let failedTotal = 0;
for (const [how, output] of Object.entries(outputs)) {
  const processed = Number(/number of transactions actually processed: (\d+)/.exec(output)?.[1]);
  const failed = Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? 0);
  failedTotal += failed;
  console.log(`pgbench over TLS during the rotations, ${how}: ${processed} transactions, ${failed} failed`);
}
if (restarts !== 0 || failedTotal !== 0 || median(latencies.swap) > GOAL_MS) process.exitCode = 1;

#!/usr/bin/env node
// Issue 6 benchmark, two figures:
// 1. Clone of a ~1 GiB database: `instance-manager run --replica-of` on an empty PGDATA (from its start
//    to its "clone finished" line) against plain pg_basebackup run by hand with the same command line
//    (same connection string, TLS files, slot, WAL streaming, fast checkpoint, progress), alternating,
//    median of N runs each after one warm-up. Goal: ratio <= 1.05.
// 2. Time from replica start on an empty PGDATA to the first row streamed from the primary (a row
//    inserted on the primary once the replica accepts connections), on a fresh small database.
// Usage (as root, after `npm run build`): node bench/replication.mjs [runs=5] [gib=1]
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { basebackupArgs, slotNameFor } from '../dist/replication/index.js';
import { managerEnv, managerEnvNote } from './common.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const runs = Number(process.argv[2] ?? 5);
const gib = Number(process.argv[3] ?? 1);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-bench-replication-'));
fs.chmodSync(dir, 0o755);
const pgBin = fs.readdirSync('/usr/lib/postgresql').map(Number).sort((a, b) => b - a).map((v) => `/usr/lib/postgresql/${v}/bin`)[0];
const [, , uid, gid] = fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === 'postgres');
let nextPort = 20000 + Math.floor(Math.random() * 20000);

const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

function certificateAuthority(name) {
  const ca = { crt: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', ca.key, '-out', ca.crt, '-subj', `/CN=${name}`, '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  return ca;
}

function leaf(ca, outDir, cn, names) {
  fs.mkdirSync(outDir, { recursive: true });
  const ext = path.join(outDir, 'ext.cnf');
  fs.writeFileSync(ext, names ? `extendedKeyUsage=serverAuth\nsubjectAltName=${names.map((n) => `IP:${n}`).join(',')}\n` : 'extendedKeyUsage=clientAuth\n');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(outDir, 'tls.key'), '-out', path.join(outDir, 'tls.csr'), '-subj', `/CN=${cn}`);
  openssl('x509', '-req', '-in', path.join(outDir, 'tls.csr'), '-CA', ca.crt, '-CAkey', ca.key, '-set_serial', String(Date.now()), '-days', '2', '-extfile', ext, '-out', path.join(outDir, 'tls.crt'));
  for (const file of ['ext.cnf', 'tls.csr']) fs.rmSync(path.join(outDir, file));
}

const serverCa = certificateAuthority('server-ca');
const clientCa = certificateAuthority('client-ca');

/** A provided-mode --secrets-dir. */
function secretsDir(name) {
  const secrets = path.join(dir, name, 'secrets');
  leaf(serverCa, path.join(secrets, 'server-tls'), '127.0.0.1', ['127.0.0.1']);
  leaf(clientCa, path.join(secrets, 'replication-tls'), 'streaming_replica');
  for (const [sub, ca] of [['server-ca', serverCa], ['client-ca', clientCa]]) {
    fs.mkdirSync(path.join(secrets, sub), { recursive: true });
    fs.copyFileSync(ca.crt, path.join(secrets, sub, 'ca.crt'));
  }
  return secrets;
}

function startManager(name, extra = []) {
  const base = path.join(dir, name);
  const port = nextPort++;
  const secrets = fs.existsSync(path.join(base, 'secrets')) ? path.join(base, 'secrets') : secretsDir(name);
  const began = performance.now();
  const child = spawn(process.execPath, [path.join(root, 'bin/instance-manager'), 'run', '--pgdata', path.join(base, 'pgdata'), '--run-dir', path.join(base, 'run'),
    '--port', String(port), '--listen', '127.0.0.1', '--status-port', '0', '--secrets-dir', secrets, '--pod-name', name, '--smart-shutdown-timeout', '2', ...extra], { stdio: ['ignore', 'pipe', 'inherit'], env: managerEnv });
  const waiters = [];
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const text of lines) {
      const line = JSON.parse(text);
      if (line.level === 'error' || line.msg === 'clone failed; retrying') console.error(text);
      for (const waiter of waiters.filter((w) => w.msg === line.msg)) waiter.resolve({ elapsed: performance.now() - began, line });
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    port, base, began,
    socket: path.join(base, 'run', 'run'),
    when: (msg) => new Promise((resolve) => waiters.push({ msg, resolve })),
    stop: async () => { child.kill('SIGTERM'); await exited; },
  };
}

const psql = (node, sql) => execFileSync('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', node.socket, '-p', String(node.port), '-U', 'postgres', '-d', 'postgres', '-c', sql], { encoding: 'utf8' }).trim();
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const dropSlot = (primary, pod) => psql(primary, `SELECT pg_drop_replication_slot('${slotNameFor(pod)}') FROM pg_replication_slots WHERE slot_name = '${slotNameFor(pod)}'`);

const primary = startManager('primary');
await primary.when('PostgreSQL accepts connections');
await sleep(500); // the replication role is created right after readiness

// 2. Replica start to first streamed row, on a fresh (small) database.
psql(primary, 'CREATE TABLE streamed (at timestamptz DEFAULT now())');
const firstRow = [];
for (let i = 0; i < runs; i++) {
  const pod = `first-row-${i}`;
  const replica = startManager(pod, ['--replica-of', `127.0.0.1:${primary.port}`]);
  await replica.when('PostgreSQL accepts connections');
  psql(primary, 'INSERT INTO streamed DEFAULT VALUES');
  const count = Number(psql(primary, 'SELECT count(*) FROM streamed'));
  while (Number(psql(replica, 'SELECT count(*) FROM streamed')) < count) await sleep(5);
  firstRow.push(performance.now() - replica.began);
  await replica.stop();
  dropSlot(primary, pod);
}

// 1. Clone of ~1 GiB through the manager vs plain pg_basebackup.
console.error(`loading ${gib} GiB...`);
psql(primary, `CREATE TABLE big AS SELECT g, repeat(md5(g::text), 30) AS filler FROM generate_series(1, ${Math.round(gib * 1_050_000)}) g; CHECKPOINT`);
const size = Number(psql(primary, 'SELECT pg_database_size(current_database())'));

// The plain baseline gets the very command line the manager builds, with the same certificates.
const plainSecrets = secretsDir('plain');
const plainCerts = path.join(dir, 'plain', 'certificates');
fs.mkdirSync(plainCerts, { recursive: true });
for (const [from, to] of [['server-ca/ca.crt', 'server-ca.crt'], ['replication-tls/tls.crt', 'streaming_replica.crt'], ['replication-tls/tls.key', 'streaming_replica.key']]) {
  fs.copyFileSync(path.join(plainSecrets, from), path.join(plainCerts, to));
  fs.chmodSync(path.join(plainCerts, to), 0o600);
}
execFileSync('chown', ['-R', `${uid}:${gid}`, path.join(dir, 'plain')]);

async function plainClone(i) {
  const pod = `plain-${i}`;
  const target = path.join(dir, 'plain', `pgdata-${i}`);
  const connection = {
    primary: { host: '127.0.0.1', port: primary.port },
    applicationName: pod,
    tls: { serverCaFile: path.join(plainCerts, 'server-ca.crt'), certFile: path.join(plainCerts, 'streaming_replica.crt'), keyFile: path.join(plainCerts, 'streaming_replica.key') },
  };
  const began = performance.now();
  await new Promise((resolve, reject) => {
    const child = spawn(`${pgBin}/pg_basebackup`, basebackupArgs(target, connection, true), { uid: Number(uid), gid: Number(gid), cwd: '/', stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.resume();
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pg_basebackup exit ${code}`))));
  });
  const elapsed = performance.now() - began;
  fs.rmSync(target, { recursive: true, force: true });
  dropSlot(primary, pod);
  return elapsed;
}

async function managerClone(i) {
  const pod = `managed-${i}`;
  const replica = startManager(pod, ['--replica-of', `127.0.0.1:${primary.port}`]);
  const [finished, cloning] = await Promise.all([replica.when('clone finished'), replica.when('cloning the primary with pg_basebackup')]);
  overheads.push(cloning.elapsed);
  insideManager.push(finished.line.elapsedMs);
  await replica.stop();
  fs.rmSync(replica.base, { recursive: true, force: true });
  dropSlot(primary, pod);
  return finished.elapsed;
}

// Each measurement starts with the previous one's writes on disk, and the order alternates, so
// neither side inherits the other's writeback.
const settled = async (measure) => {
  execFileSync('sync');
  await sleep(1000);
  return measure();
};
const overheads = [];
const insideManager = [];
await settled(() => plainClone('warm-up'));
const plain = [];
const managed = [];
for (let i = 0; i < runs; i++) {
  if (i % 2 === 0) {
    plain.push(await settled(() => plainClone(i)));
    managed.push(await settled(() => managerClone(i)));
  } else {
    managed.push(await settled(() => managerClone(i)));
    plain.push(await settled(() => plainClone(i)));
  }
}
await primary.stop();
fs.rmSync(dir, { recursive: true, force: true });

const ms = (value) => `${Math.round(value)} ms`;
console.log(`database size: ${(size / 2 ** 30).toFixed(2)} GiB, ${runs} runs each`);
console.log(`clone, plain pg_basebackup:      median ${ms(median(plain))} (${plain.map(ms).join(', ')})`);
console.log(`clone, through instance-manager: median ${ms(median(managed))} (${managed.map(ms).join(', ')})`);
console.log(`ratio manager/plain: ${(median(managed) / median(plain)).toFixed(3)} (goal <= 1.05)`);
console.log(`  of which manager start to pg_basebackup spawn: median ${ms(median(overheads))} (Node.js start-up, secrets)`);
console.log(`  and pg_basebackup spawn to clone in place:    median ${ms(median(insideManager))}, ratio to plain ${(median(insideManager) / median(plain)).toFixed(3)}`);
console.log(`load average at the end: ${os.loadavg().map((load) => load.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs`);
const envNote = managerEnvNote('the manager');
if (envNote) console.log(envNote);
console.log(`replica start to first streamed row (empty PGDATA, small database): median ${ms(median(firstRow))} (${firstRow.map(ms).join(', ')})`);

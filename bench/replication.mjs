#!/usr/bin/env node
// Replication, two figures:
// 1. Clone of a ~1 GiB database: `instance-manager run --replica-of` on an empty PGDATA (from its start
//    to its "clone finished" line) against plain pg_basebackup run by hand with the same command line
//    (same connection string, TLS files, slot, WAL streaming, fast checkpoint, progress), in
//    alternating rounds (plain, manager, plain, ...) after one plain warm-up, each round's ratio one
//    figure. Goal: ratio <= 1.05.
// 2. Time from replica start on an empty PGDATA to the first row streamed from the primary (a row
//    inserted on the primary once the replica accepts connections), on a fresh small database: an
//    absolute time, with no baseline run beside it.
// Usage (as root, after `npm run build`): node bench/replication.mjs [runs=5] [gib=1]
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { basebackupArgs, slotNameFor } from '../dist/replication/index.js';
import {
  alternate,
  announce,
  certificateAuthority,
  describe,
  eachLine,
  exited,
  freePort,
  managerEnv,
  managerEnvNote,
  pgBin,
  postgresUser,
  printRatio,
  scratch,
  secretsDir as secretsOf,
  runArgs,
  psqlAt,
} from './common.mjs';

const runs = Number(process.argv[2] ?? 5);
const gib = Number(process.argv[3] ?? 1);
const dir = scratch('replication');
const { uid, gid } = postgresUser();

const serverCa = certificateAuthority(dir, 'server-ca');
const clientCa = certificateAuthority(dir, 'client-ca');

const secretsDir = (name) => secretsOf(dir, name, serverCa, clientCa);

async function startManager(name, extra = []) {
  const base = path.join(dir, name);
  const port = await freePort();
  const secrets = fs.existsSync(path.join(base, 'secrets')) ? path.join(base, 'secrets') : secretsDir(name);
  const began = performance.now();
  const child = spawn(
    process.execPath,
    runArgs({ base, port, secretsDir: secrets }, ['--pod-name', name, '--smart-shutdown-timeout', '2', ...extra]),
    { stdio: ['ignore', 'pipe', 'inherit'], env: managerEnv },
  );
  const waiters = [];
  eachLine(child.stdout, (text) => {
    const line = JSON.parse(text);
    // A replica stopped by the benchmark logs its walreceiver's 57P01 (admin shutdown): not news.
    if ((line.level === 'error' && line.record?.sql_state_code !== '57P01') || line.msg === 'clone failed; retrying')
      console.error(text);
    for (const waiter of waiters.filter((w) => w.msg === line.msg))
      waiter.resolve({ elapsed: performance.now() - began, line });
  });
  return {
    port,
    base,
    began,
    socket: path.join(base, 'run', 'run'),
    when: (msg) => new Promise((resolve) => waiters.push({ msg, resolve })),
    stop: async () => {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}

const psql = (node, sql) => psqlAt(node.socket, node.port, sql);
const dropSlot = (primary, pod) =>
  psql(
    primary,
    `SELECT pg_drop_replication_slot('${slotNameFor(pod)}') FROM pg_replication_slots WHERE slot_name = '${slotNameFor(pod)}'`,
  );

announce(
  `replication: clone of ~${gib} GiB, ${runs} rounds of plain pg_basebackup then the manager; first streamed row, ${runs} runs; busy shared machine`,
);
const primary = await startManager('primary');
await primary.when('PostgreSQL accepts connections');
await sleep(500); // the replication role is created right after readiness

// 2. Replica start to first streamed row, on a fresh (small) database.
psql(primary, 'CREATE TABLE streamed (at timestamptz DEFAULT now())');
const firstRow = [];
for (let i = 0; i < runs; i++) {
  const pod = `first-row-${i}`;
  const replica = await startManager(pod, ['--replica-of', `127.0.0.1:${primary.port}`]);
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
psql(
  primary,
  `CREATE TABLE big AS SELECT g, repeat(md5(g::text), 30) AS filler FROM generate_series(1, ${Math.round(gib * 1_050_000)}) g; CHECKPOINT`,
);
const size = Number(psql(primary, 'SELECT pg_database_size(current_database())'));

// The plain baseline gets the very command line the manager builds, with the same certificates.
const plainSecrets = secretsDir('plain');
const plainCerts = path.join(dir, 'plain', 'certificates');
fs.mkdirSync(plainCerts, { recursive: true });
for (const [from, to] of [
  ['server-ca/ca.crt', 'server-ca.crt'],
  ['replication-tls/tls.crt', 'streaming_replica.crt'],
  ['replication-tls/tls.key', 'streaming_replica.key'],
]) {
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
    tls: {
      serverCaFile: path.join(plainCerts, 'server-ca.crt'),
      certFile: path.join(plainCerts, 'streaming_replica.crt'),
      keyFile: path.join(plainCerts, 'streaming_replica.key'),
    },
  };
  const began = performance.now();
  await new Promise((resolve, reject) => {
    const child = spawn(path.join(pgBin(), 'pg_basebackup'), basebackupArgs(target, connection, true), {
      uid,
      gid,
      cwd: '/',
      stdio: ['ignore', 'ignore', 'pipe'],
    });
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
  const replica = await startManager(pod, ['--replica-of', `127.0.0.1:${primary.port}`]);
  const [finished, cloning] = await Promise.all([
    replica.when('clone finished'),
    replica.when('cloning the primary with pg_basebackup'),
  ]);
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
const { plain, managed } = await alternate(
  { plain: (i) => settled(() => plainClone(i)), managed: (i) => settled(() => managerClone(i)) },
  runs,
);
await primary.stop();
fs.rmSync(dir, { recursive: true, force: true });

console.log(`database size: ${(size / 2 ** 30).toFixed(2)} GiB`);
console.log(`clone, plain pg_basebackup:      ${describe(plain, 0, ' ms')}`);
console.log(`clone, through instance-manager: ${describe(managed, 0, ' ms')}`);
printRatio('ratio manager / plain', managed, plain, '<= 1.05');
console.log(
  `  of which manager start to pg_basebackup spawn: ${describe(overheads, 0, ' ms')} (Node.js start-up, secrets)`,
);
printRatio('  and pg_basebackup spawn to clone in place, over plain', insideManager, plain);
const envNote = managerEnvNote('the manager');
if (envNote) console.log(envNote);
console.log(
  `replica start to first streamed row (empty PGDATA, small database; no baseline): ${describe(firstRow, 0, ' ms')}`,
);

#!/usr/bin/env node
/**
 * Issue 15's benchmark, on one database filled by pgbench -i (scale 68 is about 1 GiB):
 *   1. a full backup through the manager (POST /pg/backup, then GET until it ended) against
 *      `pgbackrest backup --type=full` by hand with the same config, against the same PostgreSQL;
 *   2. a restore through `instance-manager run --restore-from-backup` (the restore step as the manager
 *      times it; its whole start up to that point is printed too) against `pgbackrest restore --type=preserve` by hand into an empty directory (the
 *      manager's own restore type: a managed instance's backup holds a read-only postgresql.auto.conf,
 *      which pgBackRest's default type cannot write its recovery settings into);
 *   3. pgbench TPS with WAL archiving on (--backup-repo) against off (the same data directory).
 * Paired rounds alternate the order of the two sides; median, min and max are printed with the load
 * average, because other work shares the machine.
 *
 *   npm run build && node bench/backup.mjs [--scale 68] [--rounds 8] [--seconds 10] [--clients 2]
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  BIN,
  eachLine,
  exited,
  freePort,
  median,
  postgresUser,
  printRatio,
  psqlAt,
  runAsPostgres,
  scratch,
} from './common.mjs';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '68' },
    // A backup waits for WAL to reach the archive, whose polling makes single runs vary by ±0.5 s.
    rounds: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '2' },
  },
});
const rounds = Number(values.rounds);
const dir = scratch('backup');
const { uid, gid } = postgresUser();
const repository = path.join(dir, 'repository');
fs.mkdirSync(repository);
fs.chownSync(repository, uid, gid);
const repoFile = path.join(dir, 'backup-repo.conf');
// Two fulls kept: every round's backup expires the oldest, as a daily schedule would.
fs.writeFileSync(repoFile, `repo1-path=${repository}\nrepo1-retention-full=2\nstart-fast=y\n`);
const stanza = 'bench';
const port = await freePort();
const statusPort = await freePort();
const node = path.join(dir, 'node');
const runDir = path.join(node, 'run');
const socketDir = path.join(runDir, 'run');
const connection = ['-h', socketDir, '-p', String(port), '-U', 'postgres', 'postgres'];
const pgbackrestConf = path.join(runDir, 'pgbackrest', 'pgbackrest.conf');

function say(line) {
  console.log(line);
}

/** When the manager's pgbackrest backup said it ended, and how long the report took after that. */
const backupCommandEnds = [];
const reportSeconds = [];

/** A manager whose JSON lines are watched for one message at a time. */
function startManager(args, pgdata = path.join(node, 'pgdata'), managerRunDir = runDir, managerPort = port) {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'run',
      '--pgdata',
      pgdata,
      '--run-dir',
      managerRunDir,
      '--port',
      String(managerPort),
      '--listen',
      '127.0.0.1',
      '--secrets-dir',
      path.join(dir, 'no-secrets'),
      '--pod-name',
      `${stanza}-1`,
      '--smart-shutdown-timeout',
      '5',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  // One exit listener for every waiter: a waiter each would pass Node's listener limit.
  const gone = exited(child);
  const waiters = [];
  eachLine(child.stdout, (text) => {
    const line = JSON.parse(text);
    if (line.logger === 'pgbackrest' && line.command === 'backup' && /^backup command end/.test(line.msg))
      backupCommandEnds.push(Date.parse(line.ts));
    for (const waiter of waiters.filter((candidate) => candidate.msg === line.msg)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
    if (line.level === 'error') say(`  manager error: ${line.msg} ${line.err ?? ''}`);
  });
  return {
    child,
    waitFor: (msg) =>
      new Promise((resolve, reject) => {
        waiters.push({ msg, resolve });
        void gone.then(() => reject(new Error(`the manager exited before "${msg}"`)));
      }),
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}

const psql = (sql) => psqlAt(socketDir, port, sql);

/** The operator's certificate, issued from the client CA the manager created in automatic mode. */
function operatorCertificate() {
  const caDir = path.join(dir, 'client-ca');
  fs.mkdirSync(caDir, { recursive: true });
  fs.copyFileSync(path.join(runDir, 'pki', 'client-ca.crt'), path.join(caDir, 'ca.crt'));
  fs.copyFileSync(path.join(runDir, 'pki', 'client-ca.key'), path.join(caDir, 'ca.key'));
  const out = path.join(dir, 'operator');
  execFileSync(
    process.execPath,
    [BIN, 'certificate', 'client', '--ca', caDir, '--user', 'instance-manager-operator', '--out', out],
    { stdio: 'ignore' },
  );
  return {
    ca: fs.readFileSync(path.join(runDir, 'certificates', 'server-ca.crt')),
    cert: fs.readFileSync(path.join(out, 'tls.crt')),
    key: fs.readFileSync(path.join(out, 'tls.key')),
    checkServerIdentity: () => undefined,
  };
}

function api(tls, method, apiPath, body) {
  return new Promise((resolve, reject) => {
    const request = https.request(
      `https://127.0.0.1:${statusPort}${apiPath}`,
      { ...tls, method, agent: false },
      (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode, body: text }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * From the request to the manager's `backup finished` line (written once the backup is recorded,
 * its sizes read back from the repository): polling GET /pg/backup instead would add a TLS
 * handshake every few milliseconds to the manager's side of the comparison.
 */
async function backupThroughManager(tls) {
  const began = performance.now();
  const ended = Promise.race([manager.waitFor('backup finished'), manager.waitFor('backup failed')]);
  const answer = await api(tls, 'POST', '/pg/backup', JSON.stringify({ type: 'full' }));
  if (answer.status !== 202) throw new Error(`POST /pg/backup answered ${answer.status}: ${answer.body}`);
  const finished = await ended;
  const seconds = (performance.now() - began) / 1000;
  reportSeconds.push((Date.parse(finished.ts) - backupCommandEnds.at(-1)) / 1000);
  const { last } = JSON.parse((await api(tls, 'GET', '/pg/backup')).body);
  if (last?.id !== JSON.parse(answer.body).id) throw new Error('GET /pg/backup does not show the backup just taken');
  if (last.error !== null) throw new Error(`backup failed: ${last.error}`);
  return seconds;
}

function backupByHand() {
  const began = performance.now();
  runAsPostgres(
    'pgbackrest',
    [`--config=${pgbackrestConf}`, `--stanza=${stanza}`, '--log-level-console=warn', 'backup', '--type=full'],
    { cwd: '/' },
  );
  return (performance.now() - began) / 1000;
}

/**
 * Seconds of the restore step (the manager's own `elapsedMs`: pgbackrest restore and the recovery
 * settings), and of the whole start up to it (Node, automatic PKI for a new run dir, the restore).
 */
async function restoreThroughManager() {
  const target = path.join(dir, 'restore-manager');
  fs.rmSync(target, { recursive: true, force: true });
  const began = performance.now();
  const manager = startManager(
    [
      '--status-port',
      '0',
      '--backup-repo',
      repoFile,
      '--restore-from-cluster',
      stanza,
      '--cluster-name',
      `${stanza}-restored`,
    ],
    path.join(target, 'pgdata'),
    path.join(target, 'run'),
    await freePort(),
  );
  const finished = await manager.waitFor('restore finished; PostgreSQL replays the archive next');
  const wholeStart = (performance.now() - began) / 1000;
  await manager.stop();
  fs.rmSync(target, { recursive: true, force: true });
  wholeStarts.push(wholeStart);
  return finished.elapsedMs / 1000;
}

const wholeStarts = [];

function restoreByHand() {
  const target = path.join(dir, 'restore-hand');
  fs.rmSync(target, { recursive: true, force: true });
  fs.mkdirSync(target, { mode: 0o700 });
  fs.chownSync(target, uid, gid);
  const began = performance.now();
  runAsPostgres(
    'pgbackrest',
    [
      `--config=${pgbackrestConf}`,
      `--stanza=${stanza}`,
      '--log-level-console=warn',
      `--pg1-path=${target}`,
      '--type=preserve',
      'restore',
    ],
    { cwd: '/' },
  );
  const seconds = (performance.now() - began) / 1000;
  fs.rmSync(target, { recursive: true, force: true });
  return seconds;
}

function pgbench() {
  const output = execFileSync(
    'pgbench',
    ['-n', '-c', values.clients, '-j', values.clients, '-T', values.seconds, ...connection],
    { encoding: 'utf8' },
  );
  return Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(output)[1]);
}

/** Runs `a` and `b` in alternating order `rounds` times; returns both lists. */
async function paired(name, a, b) {
  const results = { [a.name]: [], [b.name]: [] };
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? [a, b] : [b, a]) {
      const value = await side.run();
      results[side.name].push(value);
      say(`  ${name} round ${round + 1} ${side.name}: ${value.toFixed(2)}`);
    }
  }
  return results;
}

function summary(values) {
  return `median ${median(values).toFixed(2)} (min ${Math.min(...values).toFixed(2)}, max ${Math.max(...values).toFixed(2)})`;
}

say(
  `load average at start: ${os
    .loadavg()
    .map((load) => load.toFixed(2))
    .join(' ')} (${os.cpus().length} cores)`,
);

// The database, once, through the manager with archiving on.
let manager = startManager(['--status-port', String(statusPort), '--backup-repo', repoFile]);
await manager.waitFor('backup repository checked: the stanza exists and WAL reaches it');
say(`filling the database: pgbench -i -s ${values.scale}`);
execFileSync('pgbench', ['-q', '-i', '-s', values.scale, ...connection], { stdio: 'ignore' });
psql('CHECKPOINT');
say(`database size: ${psql("SELECT pg_size_pretty(pg_database_size('postgres'))")}`);
// The fill's WAL is still being archived: the first backup would share the CPU with that backlog.
const lastSegment = psql('SELECT pg_walfile_name(pg_switch_wal())');
while (psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") < lastSegment) await sleep(500);
say(`archived up to ${lastSegment} before the first round`);
const tls = operatorCertificate();

say('1. full backup, seconds');
const backups = await paired(
  'backup',
  { name: 'manager', run: () => backupThroughManager(tls) },
  { name: 'by hand', run: async () => backupByHand() },
);
say(
  `  manager ${summary(backups.manager)}; by hand ${summary(backups['by hand'])}; ratio of the medians ${(median(backups.manager) / median(backups['by hand'])).toFixed(3)}`,
);
printRatio('  backup, manager / by hand, paired by round', backups.manager, backups['by hand'], '<= 1.05');

say(
  `  of the manager's, after pgbackrest backup ended (reading the backup back with pgbackrest info): ${summary(reportSeconds)}`,
);

say('2. restore of the latest backup, seconds');
const restores = await paired(
  'restore',
  { name: 'manager', run: restoreThroughManager },
  { name: 'by hand', run: async () => restoreByHand() },
);
say(
  `  manager ${summary(restores.manager)}; by hand ${summary(restores['by hand'])}; ratio of the medians ${(median(restores.manager) / median(restores['by hand'])).toFixed(3)}`,
);
printRatio('  restore, manager / by hand, paired by round', restores.manager, restores['by hand'], '<= 1.05');
say(`  manager from spawn to the end of the restore (Node start, automatic PKI, restore): ${summary(wholeStarts)}`);
await manager.stop();

say(`3. pgbench TPS, ${values.clients} clients, ${values.seconds} s`);
const tps = await paired(
  'pgbench',
  {
    name: 'archiving on',
    run: async () => {
      const m = startManager(['--status-port', '0', '--backup-repo', repoFile]);
      await m.waitFor('PostgreSQL accepts connections');
      const t = pgbench();
      await m.stop();
      return t;
    },
  },
  {
    name: 'archiving off',
    run: async () => {
      const m = startManager(['--status-port', '0']);
      await m.waitFor('PostgreSQL accepts connections');
      const t = pgbench();
      await m.stop();
      return t;
    },
  },
);
say(
  `  on ${summary(tps['archiving on'])}; off ${summary(tps['archiving off'])}; ratio of the medians ${(median(tps['archiving on']) / median(tps['archiving off'])).toFixed(3)}`,
);
printRatio('  TPS, archiving on / off, paired by round', tps['archiving on'], tps['archiving off'], '>= 0.95');
say(
  `load average at end: ${os
    .loadavg()
    .map((load) => load.toFixed(2))
    .join(' ')}`,
);
fs.rmSync(dir, { recursive: true, force: true });

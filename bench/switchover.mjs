#!/usr/bin/env node
// Switchover: the write gap a client sees through `instance-manager switchover` (two managed
// instances on loopback, HTTPS status API, verified TLS replication), under a write load of one
// client inserting one row a transaction into whichever instance accepts writes: the longest time
// between two acknowledged commits while the switchover runs. Directions alternate (a to b, b to a).
// Paired, round by round, with the time of a plain `pg_ctl promote -w` on an idle pair of plain
// PostgreSQL (no manager, no TLS, a fresh pg_basebackup -R replica each round).
// Goal: the write gap under 3 s.
// Usage (as root, after `npm run build`): node bench/switchover.mjs [rounds=5]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import {
  alternate,
  announce,
  BIN,
  certificateAuthority,
  describe,
  eachLine,
  exited,
  freePort,
  leaf,
  managerEnv,
  pgBin,
  postgresUser,
  runAsPostgres,
  scratch,
  secretsDir as secretsOf,
  runArgs,
  psqlAt,
} from './common.mjs';

const rounds = Number(process.argv[2] ?? 5);
const dir = scratch('switchover');
const { uid, gid } = postgresUser();
const serverCa = certificateAuthority(dir, 'server-ca');
const clientCa = certificateAuthority(dir, 'client-ca');
const operator = leaf(clientCa, path.join(dir, 'operator'), 'instance-manager-operator');
const operatorFlags = ['--cert', operator.cert, '--key', operator.key, '--ca', serverCa.crt];

const secretsDir = (name) => secretsOf(dir, name, serverCa, clientCa);

async function startManager(name, extra = []) {
  const base = path.join(dir, name);
  const [port, statusPort] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    runArgs({ base, port, statusPort, secretsDir: secretsDir(name) }, [
      ...['--server-name', '127.0.0.1', '--pod-name', name, '--smart-shutdown-timeout', '2'],
      ...extra,
    ]),
    { stdio: ['ignore', 'pipe', 'inherit'], env: managerEnv },
  );
  const seen = new Set();
  eachLine(child.stdout, (text) => seen.add(JSON.parse(text).msg));
  while (!seen.has('PostgreSQL accepts connections')) await sleep(50);
  return {
    name,
    port,
    url: `https://127.0.0.1:${statusPort}`,
    socket: path.join(base, 'run', 'run'),
    stop: async () => {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}

const psql = psqlAt;

/** One client, one row a transaction, into whichever node accepts writes; the longest gap between acknowledged commits. */
function writeLoad(nodes) {
  let running = true;
  let longestGap = 0;
  const done = (async () => {
    let target = 0;
    let client;
    let last = performance.now();
    while (running) {
      try {
        if (!client) {
          client = new pg.Client({
            host: nodes[target].socket,
            port: nodes[target].port,
            user: 'postgres',
            database: 'postgres',
            connectionTimeoutMillis: 2000,
          });
          client.on('error', () => undefined);
          await client.connect();
        }
        await client.query('INSERT INTO load DEFAULT VALUES');
        const now = performance.now();
        longestGap = Math.max(longestGap, now - last);
        last = now;
      } catch {
        await client?.end().catch(() => undefined);
        client = undefined;
        target = 1 - target;
        await sleep(5);
      }
    }
    await client?.end().catch(() => undefined);
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return longestGap;
    },
  };
}

function cli(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args, ...operatorFlags], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: managerEnv,
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`switchover failed: ${output}`))));
  });
}

announce(
  `switchover: write gap through instance-manager switchover vs plain pg_ctl promote on an idle pair, ${rounds} rounds; busy shared machine`,
);
const a = await startManager('a');
await sleep(500); // the replication role is created right after readiness
const b = await startManager('b', ['--replica-of', `127.0.0.1:${a.port}`]);
psql(a.socket, a.port, 'CREATE TABLE load (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())');
const managed = [a, b];
let primary = 0;

async function managedSwitchover() {
  const [from, to] = [managed[primary], managed[1 - primary]];
  const load = writeLoad(primary === 0 ? [a, b] : [b, a]);
  await sleep(500);
  const began = performance.now();
  await cli(['switchover', '--from', from.url, '--to', to.url]);
  const total = performance.now() - began;
  await sleep(500);
  primary = 1 - primary;
  return { gap: await load.stop(), total };
}

// The baseline: a plain primary with a plain streaming replica (unix socket, trust), promoted by pg_ctl.
const plain = path.join(dir, 'plain');
fs.mkdirSync(plain);
fs.chownSync(plain, uid, gid);
const plainPort = await freePort();
runAsPostgres(
  path.join(pgBin(), 'initdb'),
  ['-D', path.join(plain, 'primary'), '-U', 'postgres', '--auth=trust', '--no-sync'],
  { stdio: 'ignore' },
);
runAsPostgres(
  path.join(pgBin(), 'pg_ctl'),
  [
    'start',
    '-w',
    '-D',
    path.join(plain, 'primary'),
    '-l',
    path.join(plain, 'primary.log'),
    '-o',
    `-p ${plainPort} -k ${plain} -c listen_addresses=''`,
  ],
  { stdio: 'ignore' },
);

async function plainPromote(round) {
  const replica = path.join(plain, `replica-${round}`);
  const port = await freePort();
  runAsPostgres(
    path.join(pgBin(), 'pg_basebackup'),
    ['-h', plain, '-p', String(plainPort), '-U', 'postgres', '-D', replica, '-R', '--checkpoint', 'fast'],
    { stdio: 'ignore' },
  );
  runAsPostgres(
    path.join(pgBin(), 'pg_ctl'),
    ['start', '-w', '-D', replica, '-l', `${replica}.log`, '-o', `-p ${port} -k ${plain} -c listen_addresses=''`],
    { stdio: 'ignore' },
  );
  while (psql(plain, port, "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'") !== '1')
    await sleep(20);
  const began = performance.now();
  runAsPostgres(path.join(pgBin(), 'pg_ctl'), ['promote', '-w', '-D', replica], { stdio: 'ignore' });
  const elapsed = performance.now() - began;
  runAsPostgres(path.join(pgBin(), 'pg_ctl'), ['stop', '-m', 'fast', '-D', replica], { stdio: 'ignore' });
  fs.rmSync(replica, { recursive: true, force: true });
  return elapsed;
}

const results = await alternate({ plain: plainPromote, managed: managedSwitchover }, rounds, {
  onRound: (round, { plain: promoteMs, managed: { gap, total } }) =>
    console.log(
      `  round ${round + 1}: write gap ${gap.toFixed(0)} ms (switchover ${total.toFixed(0)} ms), plain pg_ctl promote ${promoteMs.toFixed(0)} ms`,
    ),
});
runAsPostgres(path.join(pgBin(), 'pg_ctl'), ['stop', '-m', 'fast', '-D', path.join(plain, 'primary')], {
  stdio: 'ignore',
});
await Promise.all([a.stop(), b.stop()]);
fs.rmSync(dir, { recursive: true, force: true });

const gaps = results.managed.map((round) => round.gap);
console.log(`write gap through instance-manager switchover: ${describe(gaps, 0, ' ms')}; goal < 3000 ms`);
console.log(
  `whole switchover (demote .. old primary streaming): ${describe(
    results.managed.map((round) => round.total),
    0,
    ' ms',
  )}`,
);
console.log(`plain pg_ctl promote -w on an idle pair:       ${describe(results.plain, 0, ' ms')}`);
console.log(
  `paired ratio write gap / plain promote: ${describe(
    gaps.map((gap, i) => gap / results.plain[i]),
    2,
  )}`,
);

#!/usr/bin/env node
// The PKI, two figures:
// 1. Cold start of automatic mode: a fresh Node process loads the PKI and issues two CAs, the server,
//    streaming_replica and one client certificate (RSA 2048). Goal: at most 1 s in total. Measured
//    both ways of calling it: all five keys started at once (generateKey), and each call making its
//    own key (CAs first, then the leaves); against the floor, a fresh Node process making five RSA
//    2048 key pairs at once with node:crypto, in alternating rounds (floor, at once, per call, ...).
// 2. TLS connections per second, pgbench -C, one PostgreSQL, alternating between the RSA 2048 server
//    certificate issued here and an ECDSA P-256 one made with openssl (the baseline), same run.
// Run it on an otherwise idle machine: RSA key generation is CPU-bound, and the wall time of a busy
// machine measures its neighbours (the CPU time is printed as well).
// Usage (as root, after `npm run build`): node bench/pki.mjs [cold-runs=7] [pgbench-rounds=3] [seconds=5]
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import {
  alternate,
  announce,
  certificateAuthority,
  describe,
  freePort,
  leaf,
  pgBin,
  printRatio,
  ROOT,
  scratch,
} from './common.mjs';

const pkiModule = path.join(ROOT, 'dist', 'pki', 'index.js');

if (process.argv[2] === '--cold-once') {
  // One cold start, in this fresh process; prints its milliseconds as JSON.
  const began = performance.now();
  const now = new Date();
  if (process.argv[3] === 'node-crypto-keys') {
    const generate = promisify(crypto.generateKeyPair);
    await Promise.all(Array.from({ length: 5 }, () => generate('rsa', { modulusLength: 2048 })));
  } else if (process.argv[3] === 'keys-at-once') {
    const pki = await import(pkiModule);
    const [serverCaKey, clientCaKey, serverKey, replicationKey, clientKey] = await Promise.all(
      Array.from({ length: 5 }, () => pki.generateKey()),
    );
    const [serverCa, clientCa] = await Promise.all([
      pki.createCa({ commonName: 'server CA', now, keyPem: serverCaKey }),
      pki.createCa({ commonName: 'client CA', now, keyPem: clientCaKey }),
    ]);
    await Promise.all([
      pki.issueServerCertificate(serverCa, { names: ['pg-1'], now, includeLocalhost: true, keyPem: serverKey }),
      pki.issueClientCertificate(clientCa, { user: 'streaming_replica', now, keyPem: replicationKey }),
      pki.issueClientCertificate(clientCa, { user: 'app', now, keyPem: clientKey }),
    ]);
  } else {
    const pki = await import(pkiModule);
    const [serverCa, clientCa] = await Promise.all([
      pki.createCa({ commonName: 'server CA', now }),
      pki.createCa({ commonName: 'client CA', now }),
    ]);
    await Promise.all([
      pki.issueServerCertificate(serverCa, { names: ['pg-1'], now, includeLocalhost: true }),
      pki.issueClientCertificate(clientCa, { user: 'streaming_replica', now }),
      pki.issueClientCertificate(clientCa, { user: 'app', now }),
    ]);
  }
  // CPU time too (all threads): on a busy machine the wall time mostly measures the neighbours.
  const cpu = process.cpuUsage();
  process.stdout.write(JSON.stringify({ wall: performance.now() - began, cpu: (cpu.user + cpu.system) / 1000 }));
  process.exit(0);
}

const coldRuns = Number(process.argv[2] ?? 7);
const rounds = Number(process.argv[3] ?? 3);
const seconds = Number(process.argv[4] ?? 5);

function coldStart(way) {
  const result = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--cold-once', way], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

announce(
  `PKI: automatic cold start, ${coldRuns} rounds; TLS connections per second, ${rounds} rounds of ${seconds} s; busy shared machine (RSA key generation is CPU-bound: read the CPU figures)`,
);
const cold = await alternate(
  {
    floor: () => coldStart('node-crypto-keys'),
    atOnce: () => coldStart('keys-at-once'),
    perCall: () => coldStart('key-per-call'),
  },
  coldRuns,
);
console.log('automatic cold start (Node start excluded; module load, 2 CAs, server, streaming_replica, 1 client):');
const of = (way, key) => cold[way].map((run) => run[key]);
for (const [way, label] of [
  ['floor', 'node:crypto, 5 keys at once'],
  ['atOnce', 'keys started at once '],
  ['perCall', 'key made in each call'],
]) {
  console.log(
    `  ${label}: wall ${describe(of(way, 'wall'), 0, ' ms')}, CPU ${describe(of(way, 'cpu'), 0, ' ms')}${way === 'floor' ? '' : '; goal <= 1000 ms wall'}`,
  );
}
printRatio('  keys at once / node:crypto floor, CPU', of('atOnce', 'cpu'), of('floor', 'cpu'));
printRatio('  key per call / node:crypto floor, CPU', of('perCall', 'cpu'), of('floor', 'cpu'));

// --- pgbench -C: RSA 2048 issued here against ECDSA P-256 from openssl, on the same PostgreSQL ---
const pki = await import(pkiModule);
const dir = scratch('pki');
const pgdata = path.join(dir, 'pgdata');
const asPostgres = (program, args) =>
  execFileSync('runuser', ['-u', 'postgres', '--', path.join(pgBin(), program), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
const port = await freePort();
const now = new Date();
const rsaCa = await pki.createCa({ commonName: 'bench RSA CA', now });
const rsaServer = await pki.issueServerCertificate(rsaCa, { names: ['127.0.0.1'], now });
fs.writeFileSync(path.join(dir, 'rsa-ca.crt'), rsaCa.certPem);
const ecCa = certificateAuthority(dir, 'ec-ca');
const ecServer = leaf(ecCa, path.join(dir, 'ec-server'), '127.0.0.1', ['127.0.0.1']);
const certificates = {
  'RSA 2048 (issued here)': {
    certPem: pki.certificateFile(rsaServer),
    keyPem: rsaServer.keyPem,
    rootFile: path.join(dir, 'rsa-ca.crt'),
  },
  'ECDSA P-256 (openssl)': {
    certPem: fs.readFileSync(ecServer.cert, 'utf8'),
    keyPem: fs.readFileSync(ecServer.key, 'utf8'),
    rootFile: ecCa.crt,
  },
};

function install({ certPem, keyPem }) {
  for (const [name, content, mode] of [
    ['server.crt', certPem, 0o644],
    ['server.key', keyPem, 0o600],
  ]) {
    const file = path.join(pgdata, name);
    fs.writeFileSync(file, content, { mode });
    execFileSync('chown', ['postgres:postgres', file]);
  }
}

const conninfo = (rootFile) =>
  `host=127.0.0.1 port=${port} dbname=postgres user=postgres sslmode=verify-full sslrootcert=${rootFile}`;

fs.writeFileSync(path.join(dir, 'select1.sql'), 'SELECT 1;\n');
fs.mkdirSync(pgdata, { mode: 0o700 });
execFileSync('chown', ['postgres:postgres', dir, pgdata]);
asPostgres('initdb', ['-D', pgdata, '-U', 'postgres', '--auth-local', 'trust', '--no-sync', '--no-instructions']);
fs.appendFileSync(
  path.join(pgdata, 'postgresql.conf'),
  `port = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nssl = on\nssl_min_protocol_version = 'TLSv1.3'\nmax_connections = 50\n`,
);
fs.writeFileSync(path.join(pgdata, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n');
install(Object.values(certificates)[0]);
asPostgres('pg_ctl', ['-D', pgdata, '-l', path.join(dir, 'server.log'), '-w', 'start']);

async function connectionsPerSecond(name) {
  const certificate = certificates[name];
  install(certificate);
  asPostgres('pg_ctl', ['-D', pgdata, 'reload']);
  // The reload is asynchronous: wait until verify-full against this certificate's CA succeeds.
  for (
    let tries = 0;
    spawnSync('psql', ['-X', '-Atc', 'select 1', conninfo(certificate.rootFile)]).status !== 0;
    tries++
  ) {
    if (tries > 100) throw new Error(`PostgreSQL did not take the ${name} certificate`);
    await sleep(50);
  }
  const output = execFileSync(
    'pgbench',
    [
      '-n',
      '-C',
      '-f',
      path.join(dir, 'select1.sql'),
      '-c',
      '2',
      '-j',
      '2',
      '-T',
      String(seconds),
      conninfo(certificate.rootFile),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return Number(/tps = ([\d.]+)/.exec(output)[1]);
}

let tps;
try {
  tps = await alternate(
    Object.fromEntries(Object.keys(certificates).map((name) => [name, () => connectionsPerSecond(name)])),
    rounds,
  );
} finally {
  asPostgres('pg_ctl', ['-D', pgdata, '-m', 'fast', '-w', 'stop']);
  fs.rmSync(dir, { recursive: true, force: true });
}

console.log(
  `TLS connections per second, pgbench -C -c 2 -j 2 (SELECT 1), verify-full, TLS 1.3, ${rounds} alternating ${seconds} s runs each`,
);
for (const [name, values] of Object.entries(tps)) console.log(`  ${name.padEnd(24)}: ${describe(values, 1, ' tps')}`);
const [rsa, ec] = Object.values(tps);
printRatio('  ECDSA P-256 / RSA 2048 connections per second', ec, rsa);

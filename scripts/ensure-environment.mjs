#!/usr/bin/env node
// Makes a fresh Debian machine with Node ready for `npm start` and `npm test`: npm dependencies,
// PostgreSQL server binaries from Debian's packages (without Debian's own auto-started cluster),
// the tools the tests use as judges, and an up-to-date build in dist/.
// Usage: node scripts/ensure-environment.mjs [--for-tests] [--for-bench]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const forTests = process.argv.includes('--for-tests') || process.env.npm_lifecycle_event === 'pretest';
// The benchmarks' tools (docs/benchmarks.md): GNU time for peak RSS, wrk, and the converters
// `logs convert` is measured against (Miller; Go builds CloudNativePG's approach). Not for CI.
const forBench = process.argv.includes('--for-bench');
const say = (message) => process.stderr.write(`ensure-environment: ${message}\n`);

// What the programs run here print goes to stderr: under `npm start`, stdout is the manager's JSON lines only.
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ['ignore', process.stderr, 'inherit'], cwd: root, ...options });
  if (result.status !== 0) {
    say(`"${command} ${args.join(' ')}" failed (exit ${result.status})`);
    process.exit(1);
  }
}

/** Whether `command` is an executable on PATH (looked up here: a shell per check would slow every npm start). */
function has(command) {
  const executable = (file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (command.includes('/')) return executable(command);
  return (process.env.PATH ?? '').split(':').some((dir) => executable(path.join(dir || '.', command)));
}

function postgresMajors() {
  try {
    return fs
      .readdirSync('/usr/lib/postgresql')
      .filter((name) => fs.existsSync(`/usr/lib/postgresql/${name}/bin/postgres`))
      .map(Number)
      .sort((a, b) => b - a);
  } catch {
    return [];
  }
}

function aptInstall(packages) {
  if (packages.length === 0) return;
  if (process.getuid() !== 0) {
    say(`missing Debian packages; run as root: apt-get install -y ${packages.join(' ')}`);
    process.exit(1);
  }
  say(`installing ${packages.join(' ')}`);
  // Debian's postinst would create and start a "main" cluster on port 5432; the manager owns PostgreSQL here.
  fs.mkdirSync('/etc/postgresql-common', { recursive: true });
  const createCluster = '/etc/postgresql-common/createcluster.conf';
  if (!fs.existsSync(createCluster)) fs.writeFileSync(createCluster, 'create_main_cluster = false\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-q'], { env });
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], { env });
}

function installedPackage(name) {
  return spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' }).stdout?.includes(
    'install ok installed',
  );
}

// 1. npm dependencies (npm ci also builds the reaper addon with node-gyp, which needs a compiler)
aptInstall(['python3', 'make', 'g++'].filter((tool) => !has(tool)));
// A checkout that gained a dependency since node_modules was made (the PostgreSQL majors of the tests) needs it too.
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const declared = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies });
const missing = declared.filter((name) => !fs.existsSync(path.join(root, 'node_modules', name, 'package.json')));
if (!fs.existsSync(path.join(root, 'node_modules', '.package-lock.json')) || missing.length > 0) {
  say(`installing npm dependencies${missing.length > 0 ? ` (missing: ${missing.join(', ')})` : ''}`);
  // .npmrc keeps npm silent so that `npm start` prints nothing but JSON; an install says what goes wrong.
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=warn']);
}

// 2. Debian packages
const wanted = [];
let majors = postgresMajors();
if (majors.length === 0) wanted.push('postgresql', 'postgresql-contrib');
if (!has('openssl')) wanted.push('openssl');
// Backups and WAL archiving run it (issue 15); the runtime needs it as much as the tests.
if (!has('pgbackrest')) wanted.push('pgbackrest');
if (forTests) {
  if (!has('psql')) wanted.push('postgresql-client');
  // The programs the tests use as judges or drive, by the Debian package that brings each.
  const testTools = { unshare: 'util-linux', ip: 'iproute2', pgbadger: 'pgbadger', promtool: 'prometheus' };
  for (const [tool, pkg] of Object.entries(testTools)) if (!has(tool)) wanted.push(pkg);
  // The example queries.yaml of postgres_exporter's package, which the metrics tests read as is.
  if (!fs.existsSync('/usr/share/doc/prometheus-postgres-exporter/examples/queries.yaml'))
    wanted.push('prometheus-postgres-exporter');
}
if (forBench) {
  for (const [tool, pkg] of [
    ['/usr/bin/time', 'time'],
    ['wrk', 'wrk'],
    ['mlr', 'miller'],
    ['go', 'golang-go'],
  ])
    if (!has(tool)) wanted.push(pkg);
  // bench/metrics.mjs scrapes it beside the manager.
  if (!has('prometheus-postgres-exporter')) wanted.push('prometheus-postgres-exporter');
}
aptInstall(wanted);
majors = postgresMajors();
if (majors.length === 0) {
  say('PostgreSQL server binaries are still missing after the install');
  process.exit(1);
}
if (forTests) {
  const pgaudit = `postgresql-${majors[0]}-pgaudit`;
  aptInstall(installedPackage(pgaudit) ? [] : [pgaudit]);
}

// 3. the build; the addon too when node_modules came from before it existed or its source changed since
// (npm ci builds it otherwise)
const addon = path.join(root, 'build', 'Release', 'reaper.node');
const addonStale =
  !fs.existsSync(addon) || fs.statSync(addon).mtimeMs < fs.statSync(path.join(root, 'native', 'reaper.c')).mtimeMs;
if (addonStale) {
  const nodeGyp =
    process.env.npm_config_node_gyp ??
    path.join(
      path.dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    );
  // Node's own headers, when its package ships them, spare node-gyp a download.
  const prefix = path.dirname(path.dirname(process.execPath));
  const nodedir = fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
  run(process.execPath, [nodeGyp, 'rebuild', ...nodedir]);
}
// In this process: a second Node start would cost every `npm start` a noticeable part of its time.
const { build } = await import('./build.mjs');
await build();

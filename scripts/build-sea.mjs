#!/usr/bin/env node
// Builds the single executable `build/sea/instance-manager`: the CLI bundled by esbuild into one
// CommonJS file (a Node 20 single executable application runs one CJS script and can require
// only built-in modules), turned into a SEA blob by `node --experimental-sea-config`, injected
// with postject into a copy of the Node binary that runs this script. The result needs no Node.js,
// no node_modules and no file of this repository at run time: this is what an init container
// copies into a stock PostgreSQL image. A native reaper addon, when the build has one
// (build/Release/reaper.node), is shipped beside it; the manager loads it from next to
// process.execPath.
// Usage: node scripts/build-sea.mjs   (npm run build:sea)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bundleCli, root } from './bundle.mjs';

const outDir = path.join(root, 'build', 'sea');
const work = path.join(root, 'build', 'sea-work');
const executable = path.join(outDir, 'instance-manager');
// The sentinel Node looks for to know a blob was injected (see Node's single-executable docs).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const say = (message) => process.stderr.write(`build-sea: ${message}\n`);

function run(command, args) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: root });
  if (result.status !== 0) {
    say(`"${command} ${args.join(' ')}" failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
}

const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  say(`Node ${process.versions.node} cannot build single executables; Node 20 or newer is needed`);
  process.exit(1);
}

fs.rmSync(work, { recursive: true, force: true });
fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
fs.mkdirSync(outDir, { recursive: true });

// 1. One CommonJS file (see scripts/bundle.mjs). A CommonJS bundle has no import.meta: in a single
// executable the code's own file is the executable, which is where the reaper looks for its addon.
const bundle = path.join(work, 'instance-manager.cjs');
try {
  const modules = await bundleCli({
    entry: "import { main } from './src/cli/main.ts';\nvoid main(process.argv);\n",
    outfile: bundle,
    moduleUrl: () => 'seaImportMetaUrl',
    banner: "const seaImportMetaUrl = require('node:url').pathToFileURL(process.execPath).href;",
  });
  say(`bundled ${modules} modules into ${path.relative(root, bundle)} (${fs.statSync(bundle).size} bytes)`);
} catch (error) {
  say(error.message);
  process.exit(1);
}

// 2. The blob.
const blob = path.join(work, 'sea-prep.blob');
const seaConfig = path.join(work, 'sea-config.json');
// useCodeCache: V8's code cache of the bundle goes into the blob (compiling it is most of loading it).
fs.writeFileSync(
  seaConfig,
  JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
);
run(process.execPath, ['--experimental-sea-config', seaConfig]);

// 3. The executable: a copy of this Node with the blob injected.
fs.copyFileSync(process.execPath, executable);
fs.chmodSync(executable, 0o755);
run(process.execPath, [
  path.join(root, 'node_modules', 'postject', 'dist', 'cli.js'),
  executable,
  'NODE_SEA_BLOB',
  blob,
  '--sentinel-fuse',
  SEA_FUSE,
]);

const addon = path.join(root, 'build', 'Release', 'reaper.node');
if (fs.existsSync(addon)) {
  fs.copyFileSync(addon, path.join(outDir, 'reaper.node'));
  say('shipped the native reaper addon beside it: build/sea/reaper.node');
}
fs.rmSync(work, { recursive: true, force: true });
// Whatever runs at module load (reading files relative to the code, say) must work without the
// repository: the executable starts once here, from outside it.
const started = spawnSync(executable, ['--help'], { cwd: outDir, encoding: 'utf8' });
if (started.status !== 0) {
  say(
    `${path.relative(root, executable)} --help failed (exit ${started.status ?? started.signal}): ${started.stderr.trim()}`,
  );
  process.exit(1);
}
say(`${path.relative(root, executable)}: ${fs.statSync(executable).size} bytes`);

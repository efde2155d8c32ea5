#!/usr/bin/env node
// The build (`npm run build`; also run by scripts/ensure-environment.mjs and before the tests):
// tsc type-checks src/ and writes dist/; then the CLI is bundled into dist/instance-manager.cjs
// (scripts/bundle.mjs) and V8's code cache for it written beside it, the two files
// bin/instance-manager loads (bin/load-bundle.cjs).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE, CODE_CACHE } from '../bin/load-bundle.cjs';
import { sourceCommit } from './commit.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

// What tsc prints goes to stderr: the build also runs inside `npm start`, whose stdout is JSON only.
function run(args, env = process.env) {
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', process.stderr, 'inherit'], env });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/**
 * Builds dist/ unless nothing it is made from changed since the last build: `npm start`, `npm test`
 * and the test runner's setup all ask for one, and most of the time nothing changed.
 */
export async function build({ force = false } = {}) {
  const stamp = path.join(root, 'dist', '.build-inputs');
  const inputs = inputsDigest();
  if (!force && readIfThere(stamp) === inputs && fs.existsSync(CODE_CACHE)) {
    process.stderr.write('build: dist/ is up to date\n');
    return;
  }
  fs.rmSync(stamp, { force: true });
  // esbuild is loaded only when there is something to build.
  const { bundleDist } = await import('./bundle.mjs');
  run([path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  fs.rmSync(CODE_CACHE, { force: true });
  const tag = crypto.randomBytes(16).toString('hex');
  const modules = await bundleDist(BUNDLE, tag);
  run(['--input-type=module', '-e', WRITE_CACHE], { ...process.env, NODE_OPTIONS: '' });
  fs.writeFileSync(stamp, inputs);
  process.stderr.write(
    `build: ${modules} modules bundled into ${path.relative(root, BUNDLE)} (${fs.statSync(BUNDLE).size} bytes), code cache ${fs.statSync(CODE_CACHE).size} bytes\n`,
  );
}

// The cache is made the way bin/instance-manager runs: a fresh Node with no V8 flags (V8 rejects
// a cache made under other flags). V8 puts into it the code of every function that ran before it
// was made: the bundle's top level, and the command line parsing of `run` (what `run --help`
// goes through, printing to nowhere), which every start goes through again.
const WRITE_CACHE = `
  import fs from 'node:fs';
  import { CODE_CACHE, compileBundle } from './bin/load-bundle.cjs';
  const bundle = compileBundle();
  const { main } = bundle.run();
  process.stdout.write = () => true;
  await main(['node', 'instance-manager', 'run', '--help']);
  fs.writeFileSync(CODE_CACHE, Buffer.concat([Buffer.from(bundle.tag, 'latin1'), bundle.script.createCachedData()]));
`;

if (process.argv[1] === fileURLToPath(import.meta.url)) await build({ force: process.argv.includes('--force') });

function readIfThere(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Everything dist/ is made from: the sources, the build's own code, the dependencies, the commit
 * written into the bundle, and the Node that made the code cache (V8 refuses another's).
 */
function inputsDigest() {
  const hash = crypto.createHash('sha256');
  const files = [
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'bin/load-bundle.cjs',
    'scripts/build.mjs',
    'scripts/bundle.mjs',
  ];
  for (const entry of fs.readdirSync(path.join(root, 'src'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files.push(path.relative(root, path.join(entry.parentPath, entry.name)));
  }
  for (const file of files.sort())
    hash
      .update(`${file}\0`)
      .update(fs.readFileSync(path.join(root, file)))
      .update('\0');
  hash.update(`${process.version} ${process.arch} ${sourceCommit()}`);
  return hash.digest('hex');
}

#!/usr/bin/env node
// The build (`npm run build`; also run by scripts/ensure-environment.mjs and before the tests):
// tsc type-checks src/ and writes dist/; then the CLI is bundled into dist/instance-manager.cjs
// (scripts/bundle.mjs) and V8's code cache for it written beside it, the two files
// bin/instance-manager loads (bin/load-bundle.cjs).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BUNDLE, CODE_CACHE } from '../bin/load-bundle.cjs';
import { bundleDist, root } from './bundle.mjs';

function run(args, env = process.env) {
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run([path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
fs.rmSync(CODE_CACHE, { force: true });
const tag = crypto.randomBytes(16).toString('hex');
const modules = await bundleDist(BUNDLE, tag);
// The cache is made the way bin/instance-manager runs: a fresh Node with no V8 flags (V8 rejects
// a cache made under other flags). V8 puts into it the code of every function that ran before it
// was made: the bundle's top level, and the command line parsing of `run` (what `run --help`
// goes through, printing to nowhere), which every start goes through again.
const writeCache = `
  import fs from 'node:fs';
  import { CODE_CACHE, compileBundle } from './bin/load-bundle.cjs';
  const bundle = compileBundle();
  const { main } = bundle.run();
  process.stdout.write = () => true;
  await main(['node', 'instance-manager', 'run', '--help']);
  fs.writeFileSync(CODE_CACHE, Buffer.concat([Buffer.from(bundle.tag, 'latin1'), bundle.script.createCachedData()]));
`;
run(['--input-type=module', '-e', writeCache], { ...process.env, NODE_OPTIONS: '' });
process.stderr.write(`build: ${modules} modules bundled into ${path.relative(root, BUNDLE)} (${fs.statSync(BUNDLE).size} bytes), code cache ${fs.statSync(CODE_CACHE).size} bytes\n`);

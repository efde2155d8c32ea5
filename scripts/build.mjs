#!/usr/bin/env node
// The build (`npm run build`; also run by scripts/ensure-environment.mjs and before the tests):
// tsc type-checks src/ and writes dist/, then the CLI is bundled into dist/instance-manager.mjs,
// the one file bin/instance-manager loads (see scripts/bundle.mjs).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bundleDist, DIST_BUNDLE, root } from './bundle.mjs';

const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
const modules = await bundleDist();
process.stderr.write(`build: ${modules} modules bundled into ${path.relative(root, DIST_BUNDLE)} (${fs.statSync(DIST_BUNDLE).size} bytes)\n`);

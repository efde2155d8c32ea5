/**
 * bin/load-bundle.cjs: the code cache the build wrote is taken; one from another build is never
 * offered to V8 (V8 itself checks only the length of the source); one V8 refuses leaves the
 * bundle compiled from source. Each case compiles in a fresh Node, as bin/instance-manager does:
 * V8 would serve a second compile of the same source from its own memory, cache or not. The
 * integration tests' global setup builds dist/ first.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, scratchDir } from '../support/manager.js';

const CODE_CACHE = path.join(ROOT, 'dist', 'instance-manager.cjs.cache');

/** What V8 said of the cache in `file` (undefined: it was not offered), and whether the bundle then ran. */
function compileWith(file: string): { rejected: boolean | undefined; main: string } {
  const script = `
    const fs = require('node:fs');
    const { compileBundle } = require(${JSON.stringify(path.join(ROOT, 'bin', 'load-bundle.cjs'))});
    const bundle = compileBundle(fs.readFileSync(${JSON.stringify(file)}));
    const { main } = bundle.run();
    process.stdout.write(JSON.stringify({ rejected: bundle.script.cachedDataRejected, main: typeof main }));
  `;
  return JSON.parse(
    execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } }),
  ) as { rejected: boolean | undefined; main: string };
}

describe('the bundle and its code cache', () => {
  const cache = fs.readFileSync(CODE_CACHE);
  const dir = scratchDir('cache');
  const variant = (name: string, bytes: Buffer) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };

  it('compiles from the cache the build wrote', () => {
    expect(compileWith(CODE_CACHE)).toEqual({ rejected: false, main: 'function' });
  });

  it('does not offer V8 a cache stamped by another build, and compiles from source', () => {
    const otherBuild = Buffer.from(cache);
    otherBuild.write(otherBuild.toString('latin1', 0, 1) === '0' ? '1' : '0', 0, 'latin1');
    expect(compileWith(variant('other-build', otherBuild))).toEqual({ main: 'function' });
  });

  it('compiles from source when V8 refuses the cache', () => {
    expect(compileWith(variant('truncated', cache.subarray(0, 1000)))).toEqual({ rejected: true, main: 'function' });
  });
});

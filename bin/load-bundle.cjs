// Loads dist/instance-manager.cjs, the CLI bundled into one CommonJS file (scripts/bundle.mjs),
// through vm.Script with the V8 code cache the build writes beside it: compiling the bundle is
// most of what loading the manager costs, and every millisecond of it delays the postmaster.
// Node 20 keeps no compile cache of its own (module.enableCompileCache() is Node 22). bin/ is
// CommonJS (bin/package.json): Node starts a CommonJS entry point faster than an ES module.
//
// V8 rejects a cache made by another Node version or under other V8 flags, and then the bundle is
// compiled as usual. It would not notice a cache from another build of the same length, so the
// build stamps both files with the same tag and a cache whose tag differs is not offered to V8.
'use strict';
const fs = require('node:fs');
const { createRequire } = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

const BUNDLE = path.join(__dirname, '..', 'dist', 'instance-manager.cjs');
const CODE_CACHE = `${BUNDLE}.cache`;
/** The bundle's first line is `// build <tag>`; the cache file starts with the same tag. */
const TAG_LENGTH = 32;
const TAG_OFFSET = '// build '.length;

/** The bundle compiled (with `cachedData` when given) and a function that runs it, returning its exports. */
function compileBundle(cachedData) {
  const source = fs.readFileSync(BUNDLE, 'utf8');
  const tag = source.slice(TAG_OFFSET, TAG_OFFSET + TAG_LENGTH);
  const matching =
    cachedData?.subarray(0, TAG_LENGTH).toString('latin1') === tag ? cachedData.subarray(TAG_LENGTH) : undefined;
  // The same wrapper Node's CommonJS loader puts around a module.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: BUNDLE,
    cachedData: matching,
  });
  return {
    script,
    tag,
    run() {
      const module = { exports: {} };
      script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, path.dirname(BUNDLE));
      return module.exports;
    },
  };
}

/** What bin/instance-manager runs: the bundle's exports, compiled from the code cache when it fits. */
function loadBundle() {
  let cachedData;
  try {
    cachedData = fs.readFileSync(CODE_CACHE);
  } catch {
    // No cache (a build interrupted halfway): compiled from source.
  }
  return compileBundle(cachedData).run();
}

module.exports = { BUNDLE, CODE_CACHE, compileBundle, loadBundle };

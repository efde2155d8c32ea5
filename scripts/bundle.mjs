// The CLI as one file, bundled by esbuild from src/: what bin/instance-manager runs
// (dist/instance-manager.mjs, ESM, written by `npm run build`) and what the single executable
// embeds (CommonJS, scripts/build-sea.mjs). Used by scripts/build.mjs and scripts/build-sea.mjs. One file loads in a fraction of the time Node takes to
// resolve and evaluate the sixty-odd modules of dist/ and node_modules one by one, which is most
// of what stands between `instance-manager run` and the postmaster.
import fs from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
/** What bin/instance-manager loads. */
export const DIST_BUNDLE = path.join(root, 'dist', 'instance-manager.mjs');

// pg reaches for the optional pg-native and pg-cloudflare only when asked to (client.native,
// Cloudflare sockets), never here: leaving them out keeps the bundle whole.
const NEVER_LOADED = ['pg-native', 'pg-cloudflare'];

/**
 * Bundles `entry` (TypeScript, resolved from the repository root) into `outfile`.
 * `moduleUrl(file)` is the JavaScript expression that stands for `import.meta.url` in the source
 * file `file`: a bundle is one file, and code that finds things relative to itself (the reaper's
 * addon) must still look where it would from its own module. src/version.ts reads package.json
 * at run time; the bundle carries the version instead, so that it needs no file beside it.
 * Returns how many modules went in.
 */
export async function bundleCli({ entry, outfile, format, moduleUrl, banner = '' }) {
  const packageVersion = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  const result = await build({
    stdin: { contents: entry, resolveDir: root, sourcefile: 'entry.ts', loader: 'ts' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format,
    outfile,
    external: NEVER_LOADED,
    banner: { js: banner },
    plugins: [
      {
        name: 'module-urls-and-version',
        setup(builder) {
          builder.onLoad({ filter: /[\\/]src[\\/]version\.ts$/ }, () => ({ contents: `export const VERSION: string = ${JSON.stringify(packageVersion)};`, loader: 'ts' }));
          builder.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
            const source = fs.readFileSync(args.path, 'utf8');
            if (!source.includes('import.meta.url')) return undefined;
            return { contents: source.replaceAll('import.meta.url', moduleUrl(args.path)), loader: 'ts' };
          });
        },
      },
    ],
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  // Anything left as a run-time import must be a Node built-in: a single executable has no
  // node_modules to load from, and the point of the bundle is to read none.
  const leftOut = Object.values(result.metafile.outputs)
    .flatMap((output) => output.imports)
    .filter((imported) => imported.external && !imported.path.startsWith('node:') && !isBuiltin(imported.path) && !NEVER_LOADED.includes(imported.path));
  if (leftOut.length > 0) throw new Error(`the bundle would load these from node_modules at run time: ${[...new Set(leftOut.map((imported) => imported.path))].join(', ')}`);
  return Object.keys(result.metafile.inputs).length;
}

/** dist/instance-manager.mjs: each module keeps the import.meta.url it has in dist/ (tsc's output). */
export async function bundleDist() {
  const here = path.dirname(DIST_BUNDLE);
  return bundleCli({
    entry: "export { main } from './src/cli/main.ts';\n",
    outfile: DIST_BUNDLE,
    format: 'esm',
    moduleUrl: (file) => {
      const compiled = path.join(root, 'dist', path.relative(path.join(root, 'src'), file)).replace(/\.ts$/, '.js');
      return `new URL(${JSON.stringify(path.relative(here, compiled))}, import.meta.url).href`;
    },
    // CommonJS dependencies bundled into an ES module still call require() for Node's built-ins.
    banner: "import { createRequire as createRequireForBundle } from 'node:module';\nconst require = createRequireForBundle(import.meta.url);",
  });
}

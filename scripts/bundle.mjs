// The CLI as CommonJS bundled by esbuild from src/: what bin/instance-manager runs (written by
// `npm run build` into dist/, with its V8 code cache) and what the single executable embeds
// (scripts/build-sea.mjs). One file loads in a fraction of the time Node takes to resolve and
// evaluate the sixty-odd modules of dist/ and node_modules one by one, which is most of what
// stands between `instance-manager run` and the postmaster.
import fs from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { sourceCommit } from './commit.mjs';

export const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

// pg reaches for the optional pg-native and pg-cloudflare only when asked to (client.native,
// Cloudflare sockets), never here: leaving them out keeps the bundle whole.
const NEVER_LOADED = ['pg-native', 'pg-cloudflare'];

/**
 * The packages the manager reaches only through import(), well after the postmaster is spawned
 * (forge to issue a certificate, pg at the first query, prom-client with the status API, chokidar
 * for the watchers, yaml for a --roles file), and which make up two thirds of the code. dist/ keeps
 * each in a file of its
 * own under dist/vendor/, read when first imported: the file read, compiled and kept in memory
 * at every start is a third of the size.
 */
export const LOADED_LATER = ['node-forge', 'pg', 'prom-client', 'chokidar', 'yaml'];

const commonOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // import() of what stays outside the bundle becomes require(): the bundle runs as a vm.Script
  // (bin/load-bundle.cjs) or a single executable's script with a code cache, where a real import()
  // has no module loader to call.
  supported: { 'dynamic-import': false },
  // Without comments and indentation: a third less to read, compile and keep in memory at every
  // start (and no comment with a non-ASCII character turns the whole script into a two-byte
  // string in V8's heap). Names are kept, so stack traces still read.
  minifyWhitespace: true,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
};

/**
 * Bundles `entry` (TypeScript, resolved from the repository root) into `outfile`, CommonJS: a
 * single executable runs nothing else in Node 20, and only a script gets a V8 code cache there.
 * `moduleUrl(file)` is the JavaScript expression that stands for `import.meta.url` in the source
 * file `file`: a bundle is one file, and code that finds things relative to itself (the reaper's
 * addon) must still look where it would from its own module. src/version.ts reads package.json
 * at run time; the bundle carries the version instead, so that it needs no file beside it, and
 * the commit it was built from (sourceCommit).
 * `separate(name)` is where a package of LOADED_LATER is required from at run time, relative to
 * `outfile`, when it stays out of the bundle. Returns how many modules went in.
 */
export async function bundleCli({ entry, outfile, moduleUrl, banner = '', separate }) {
  const packageVersion = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  const versionModule = `export const VERSION: string = ${JSON.stringify(packageVersion)};\nexport const COMMIT: string = ${JSON.stringify(sourceCommit())};`;
  const separated = new Set();
  const result = await build({
    ...commonOptions,
    stdin: { contents: entry, resolveDir: root, sourcefile: 'entry.ts', loader: 'ts' },
    outfile,
    external: NEVER_LOADED,
    banner: { js: banner },
    plugins: [
      {
        name: 'module-urls-version-and-separate-packages',
        setup(builder) {
          builder.onLoad({ filter: /[\\/]src[\\/]version\.ts$/ }, () => ({ contents: versionModule, loader: 'ts' }));
          builder.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
            const source = fs.readFileSync(args.path, 'utf8');
            if (!source.includes('import.meta.url')) return undefined;
            return { contents: source.replaceAll('import.meta.url', moduleUrl(args.path)), loader: 'ts' };
          });
          if (separate) {
            builder.onResolve({ filter: new RegExp(`^(${LOADED_LATER.join('|')})$`) }, (args) => {
              separated.add(separate(args.path));
              return { path: separate(args.path), external: true };
            });
          }
        },
      },
    ],
  });
  // Anything left as a run-time require must be a Node built-in or a package bundled separately:
  // a single executable has no node_modules to load from, and the point of the bundle is to read none.
  const leftOut = Object.values(result.metafile.outputs)
    .flatMap((output) => output.imports)
    .filter(
      (imported) =>
        imported.external &&
        !imported.path.startsWith('node:') &&
        !isBuiltin(imported.path) &&
        !NEVER_LOADED.includes(imported.path) &&
        !separated.has(imported.path),
    );
  if (leftOut.length > 0)
    throw new Error(
      `the bundle would load these from node_modules at run time: ${[...new Set(leftOut.map((imported) => imported.path))].join(', ')}`,
    );
  return Object.keys(result.metafile.inputs).length;
}

/**
 * dist/instance-manager.cjs, for bin/load-bundle.cjs, and dist/vendor/ (LOADED_LATER): each
 * module keeps the import.meta.url it has in dist/ (tsc's output), and the first line carries
 * `tag` (see bin/load-bundle.cjs).
 */
export async function bundleDist(outfile, tag) {
  const here = path.dirname(outfile);
  const vendor = (name) => path.join(here, 'vendor', `${name}.cjs`);
  const requireFromRoot = createRequire(path.join(root, 'package.json'));
  await Promise.all(
    LOADED_LATER.map((name) =>
      build({
        ...commonOptions,
        entryPoints: [requireFromRoot.resolve(name)],
        outfile: vendor(name),
        external: NEVER_LOADED,
      }),
    ),
  );
  return bundleCli({
    entry: "export { main } from './src/cli/main.ts';\n",
    outfile,
    moduleUrl: (file) => {
      const compiled = path.join(root, 'dist', path.relative(path.join(root, 'src'), file)).replace(/\.ts$/, '.js');
      return `require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(path.relative(here, compiled))})).href`;
    },
    banner: `// build ${tag}`,
    separate: (name) => `./${path.relative(here, vendor(name))}`,
  });
}

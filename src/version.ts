import fs from 'node:fs';

/** The package version, read once from package.json (one level above src/ and dist/). */
export const VERSION: string = (
  JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * The git commit the executable was built from. The build (scripts/bundle.mjs) writes it into the
 * bundle; code run from the sources has none.
 */
export const COMMIT: string = 'unknown';

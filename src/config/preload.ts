/**
 * Libraries PostgreSQL must preload because `--config` configures them: a `pgaudit.*` setting means
 * pgaudit, and so on. Pure: the user's parameters in, the same with shared_preload_libraries merged.
 */
import type { Parameters } from './settings.js';

/** Library, and whether it comes with an extension to create in every database. */
const CONFIGURED_LIBRARIES = [
  { library: 'pgaudit', extension: true },
  { library: 'pg_stat_statements', extension: true },
  { library: 'auto_explain', extension: false },
] as const;

/** Libraries whose settings appear in `user`, in a fixed order. */
function configuredLibraries(user: Parameters): (typeof CONFIGURED_LIBRARIES)[number][] {
  const keys = [...user.keys()];
  return CONFIGURED_LIBRARIES.filter(({ library }) => keys.some((key) => key.startsWith(`${library}.`)));
}

/**
 * `user` with shared_preload_libraries holding the user's own list followed by each configured
 * library it lacks; unchanged when nothing is missing.
 */
export function preloadLibrariesFor(user: Parameters): Parameters {
  const listed = parseLibraryList(user.get('shared_preload_libraries') ?? '');
  const configured = configuredLibraries(user).map(({ library }) => library);
  const missing = configured.filter((library) => !listed.includes(library));
  if (missing.length === 0) return user;
  return new Map([...user, ['shared_preload_libraries', [...listed, ...missing].join(',')]]);
}

/** Extensions to create in every database because their library is configured. */
export function extensionsFor(user: Parameters): string[] {
  return configuredLibraries(user)
    .filter(({ extension }) => extension)
    .map(({ library }) => library);
}

/** A comma list as PostgreSQL reads it: names trimmed, double quotes kept off, empty entries dropped. */
export function parseLibraryList(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim().replace(/^"(.*)"$/, '$1'))
    .filter((entry) => entry !== '');
}

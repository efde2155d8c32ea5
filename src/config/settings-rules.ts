/**
 * What the user's `--config` may not do beyond PostgreSQL's own checks, and how PostgreSQL's verdict
 * on a configuration file becomes one line naming the user's file, line and key. Pure.
 *
 * PostgreSQL itself checks names, types, units, ranges and enum values (postgres/settings-check.ts
 * runs it on the rendered file); these are the failures it only finds later, at start-up or when a
 * connection arrives: a preload library that is not installed, or a TLS range that cannot exist.
 */
import { UsageError } from '../errors.js';
import { withoutComment } from './comments.js';
import { parseLibraryList } from './preload.js';
import type { Parameters } from './settings.js';

/** The manager fixes `ssl_min_protocol_version` to TLS 1.3: a lower maximum leaves no protocol at all. */
const MIN_TLS = 'TLSv1.3';
const PRELOAD_SETTINGS = ['shared_preload_libraries', 'session_preload_libraries', 'local_preload_libraries'];

/** Where a key is set in the user's file: `file:line`, the last line that sets it (the one in force). */
export function locateKey(text: string, source: string, key: string): string {
  let found = 0;
  text.split('\n').forEach((raw, index) => {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_.]*)/.exec(withoutComment(raw, "'"));
    if (match?.[1]!.toLowerCase() === key) found = index + 1;
  });
  return found === 0 ? source : `${source}:${found}`;
}

/** The library names a preload setting lists (`$libdir/` stripped, double quotes removed). */
export function preloadLibraries(parameters: Parameters): { key: string; library: string }[] {
  return PRELOAD_SETTINGS.flatMap((key) =>
    parseLibraryList(parameters.get(key) ?? '').map((library) => ({ key, library })),
  );
}

export interface SettingsContext {
  /** The text of the user's file and its name, for `file:line` in messages. */
  text: string;
  source: string;
  /** Names of the libraries in the binaries' pkglibdir, without `.so`; undefined when none is preloaded. */
  installedLibraries: ReadonlySet<string> | undefined;
}

/** Throws a UsageError naming `file:line`, the key and why. */
export function checkUserParameters(parameters: Parameters, context: SettingsContext): void {
  const refuse = (key: string, why: string): never => {
    throw new UsageError(`${locateKey(context.text, context.source, key)}: parameter "${key}": ${why}`);
  };
  const maxTls = parameters.get('ssl_max_protocol_version');
  if (maxTls !== undefined && maxTls !== '' && maxTls.toLowerCase() !== MIN_TLS.toLowerCase()) {
    refuse(
      'ssl_max_protocol_version',
      `"${maxTls}" is below ssl_min_protocol_version ${MIN_TLS}, which instance-manager fixes; leave it unset`,
    );
  }
  for (const { key, library } of preloadLibraries(parameters)) {
    const name = library.replace(/^\$libdir\//, '').replace(/\.so$/, '');
    if (name.includes('/'))
      refuse(key, `"${library}" is a path; name a library installed with PostgreSQL (like pg_stat_statements)`);
    if (!context.installedLibraries?.has(name))
      refuse(key, `library "${name}" is not installed in PostgreSQL's library directory`);
  }
}

/**
 * PostgreSQL's complaint about a configuration file (its stderr lines) as one line naming the user's
 * file, line and key when the key is the user's, else the rendered file. Undefined when none is found.
 */
export function explainRefusal(
  stderr: readonly string[],
  context: Pick<SettingsContext, 'text' | 'source'>,
  userKeys: ReadonlySet<string>,
): string | undefined {
  const messages = stderr
    .map((line) => /\b(?:LOG|WARNING|ERROR|FATAL):\s+(.*)$/.exec(line)?.[1])
    .filter((line) => line !== undefined);
  const complaint =
    messages.find((message) => /parameter "[^"]+"/.test(message)) ??
    messages.find((message) => !/^skipping missing/.test(message));
  if (complaint === undefined) return undefined;
  const key = /parameter "([^"]+)"/.exec(complaint)?.[1]?.toLowerCase();
  const hintLine = stderr[stderr.findIndex((line) => line.includes(complaint)) + 1];
  const hint = hintLine === undefined ? undefined : /\bHINT:\s+(.*)$/.exec(hintLine)?.[1];
  const reason = complaint.replace(/ in file "[^"]*" line \d+$/, '') + (hint ? ` (${hint})` : '');
  const where =
    key !== undefined && userKeys.has(key)
      ? locateKey(context.text, context.source, key)
      : 'the rendered configuration';
  return `${where}: PostgreSQL refuses it: ${reason}`;
}

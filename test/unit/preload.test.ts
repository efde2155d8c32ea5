import { describe, expect, it } from 'vitest';
import { extensionsFor, parseLibraryList, preloadLibrariesFor } from '../../src/config/index.js';

const preload = (entries: [string, string][]) => preloadLibrariesFor(new Map(entries)).get('shared_preload_libraries');

describe('preloadLibrariesFor', () => {
  it.each<[string, [string, string][], string | undefined]>([
    ['nothing configured: nothing added', [['work_mem', '8MB']], undefined],
    ['a pgaudit setting preloads pgaudit', [['pgaudit.log', 'ddl']], 'pgaudit'],
    [
      'each configured library, in a fixed order',
      [
        ['auto_explain.log_min_duration', '1s'],
        ['pg_stat_statements.max', '1000'],
        ['pgaudit.log', 'all'],
      ],
      'pgaudit,pg_stat_statements,auto_explain',
    ],
    [
      "merged after the user's own list",
      [
        ['shared_preload_libraries', 'pg_cron, "timescaledb"'],
        ['pgaudit.log', 'all'],
      ],
      'pg_cron,timescaledb,pgaudit',
    ],
    [
      'not repeated when the user listed it',
      [
        ['shared_preload_libraries', 'pgaudit'],
        ['pgaudit.log', 'all'],
      ],
      'pgaudit',
    ],
    ["the user's list alone stays as written", [['shared_preload_libraries', 'pg_cron']], 'pg_cron'],
  ])('%s', (_name, entries, expected) => {
    expect(preload(entries)).toBe(expected);
  });

  it('creates extensions for pgaudit and pg_stat_statements, not auto_explain', () => {
    expect(
      extensionsFor(
        new Map([
          ['auto_explain.log_analyze', 'on'],
          ['pgaudit.log', 'all'],
          ['pg_stat_statements.track', 'all'],
        ]),
      ),
    ).toEqual(['pgaudit', 'pg_stat_statements']);
  });

  it('reads a library list as PostgreSQL does', () => {
    expect(parseLibraryList(' a, "b" ,,c ')).toEqual(['a', 'b', 'c']);
    expect(parseLibraryList('')).toEqual([]);
  });
});

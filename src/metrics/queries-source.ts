/**
 * The `--metrics-queries` file as the collector sees it: re-read at the first scrape after it
 * changed (a mounted ConfigMap swaps its `..data` link, which changes the file's inode), so an
 * edit needs neither a restart nor a watcher. A file that cannot be read or parsed is logged once
 * and the queries read before keep running.
 */
import fs from 'node:fs/promises';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { MetricQuery } from './query.js';

export interface LoadedQueries {
  queries: readonly MetricQuery[];
  /** The last attempt to read the file failed (postgres_exporter's pg_exporter_user_queries_load_error). */
  loadError: boolean;
}

export class QueriesSource {
  private signature: string | undefined;
  private loaded: LoadedQueries = { queries: [], loadError: false };

  constructor(
    readonly file: string,
    private readonly logger: Logger,
  ) {}

  async current(): Promise<LoadedQueries> {
    const signature = await fileSignature(this.file);
    if (signature === this.signature) return this.loaded;
    this.signature = signature;
    try {
      const text = await fs.readFile(this.file, 'utf8');
      // yaml is loaded only when a queries file is given, and off the start-up path.
      const { parseQueriesFile } = await import('./queries-file.js');
      const { queries, problems } = parseQueriesFile(text, this.file);
      for (const problem of problems) this.logger.warning('metrics query left out', { problem });
      const names = queries.map((query) => query.name);
      this.logger.info('metrics queries read', { file: this.file, queries: names, leftOut: problems.length });
      this.loaded = { queries, loadError: false };
    } catch (error) {
      const fields = { file: this.file, err: errorMessage(error) };
      this.logger.error('metrics queries file refused; the queries read before keep running', fields);
      this.loaded = { queries: this.loaded.queries, loadError: true };
    }
    return this.loaded;
  }
}

async function fileSignature(file: string): Promise<string> {
  try {
    const stat = await fs.stat(file);
    return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch (error) {
    return `unreadable: ${errorMessage(error)}`;
  }
}

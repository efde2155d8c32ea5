/**
 * Notices changes to the manager's inputs (mounted Secrets, `--config`, `--hba`) and calls back
 * once per burst. It only says "something changed": the caller re-reads and compares content,
 * so a spurious event costs a read, never a reload.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import type { Logger } from '../log.js';
import { errorMessage } from '../errors.js';

export interface WatchTargets {
  /** Directories watched with their whole tree (Secret volumes: `..data` swaps and plain rewrites). */
  trees: string[];
  /**
   * Single files. Their directory is watched rather than the file itself: a ConfigMap mount
   * replaces the file by swapping `..data`, which a watch on the old file would never see.
   */
  files: string[];
}

export interface Watcher {
  /** Resolves once the initial scans are done: changes from then on are reported. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** Bursts (a kubelet swap is several events, an editor save two or three) end after this quiet time. */
export const DEBOUNCE_MS = 250;

/**
 * chokidar is loaded in the background: the manager starts watching just before it starts
 * PostgreSQL, and loading it (about 30 ms) should not delay that.
 */
export function watchInputs(
  targets: WatchTargets,
  onChange: (paths: string[]) => void,
  logger: Logger,
  debounceMs = DEBOUNCE_MS,
): Watcher {
  const started = import('chokidar').then(({ watch }) => startWatching(watch, targets, onChange, logger, debounceMs));
  return {
    ready: started.then((watcher) => watcher.ready),
    async close() {
      await (await started).close();
    },
  };
}

function startWatching(
  watch: typeof import('chokidar').watch,
  targets: WatchTargets,
  onChange: (paths: string[]) => void,
  logger: Logger,
  debounceMs: number,
): Watcher {
  const watchers: FSWatcher[] = [];
  const scans: Promise<void>[] = [];
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const noticed = (changed: string) => {
    pending.add(changed);
    clearTimeout(timer);
    timer = setTimeout(() => {
      const paths = [...pending];
      pending = new Set();
      onChange(paths);
    }, debounceMs);
  };
  const start = (target: string, depth: number, relevant: (changed: string) => boolean) => {
    if (!fs.existsSync(target)) {
      logger.debug('not watching a path that does not exist', { path: target });
      return;
    }
    const watcher = watch(target, { ignoreInitial: true, followSymlinks: false, depth });
    watcher.on('all', (_event, changed) => {
      if (relevant(changed)) noticed(changed);
    });
    watcher.on('error', (error) => logger.warning('file watcher error', { path: target, err: errorMessage(error) }));
    scans.push(new Promise((resolve) => watcher.once('ready', () => resolve())));
    watchers.push(watcher);
  };
  for (const tree of targets.trees) start(tree, 3, () => true);
  const byDirectory = new Map<string, Set<string>>();
  for (const file of targets.files) {
    const names = byDirectory.get(path.dirname(file)) ?? new Set<string>();
    names.add(path.basename(file));
    byDirectory.set(path.dirname(file), names);
  }
  for (const [directory, names] of byDirectory) {
    start(directory, 0, (changed) => {
      const name = path.basename(changed);
      return names.has(name) || name.startsWith('..');
    });
  }
  return {
    ready: Promise.all(scans).then(() => undefined),
    async close() {
      clearTimeout(timer);
      await Promise.all(watchers.map((watcher) => watcher.close()));
    },
  };
}

/**
 * The native addon (native/reaper.c): the few system calls Node lacks. It sits at the bottom of the
 * module graph, below the logger, the reaper and the log FIFOs that use it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from './errors.js';

export interface NativeAddon {
  /** prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants come to this process instead of PID 1. */
  setChildSubreaper(): void;
  /** waitpid(pid, WNOHANG): the exit (signal as a number) of an ended child, else null. */
  reap(pid: number): { code: number | null; signal: number | null } | null;
  /** fcntl(F_SETPIPE_SZ): the pipe's buffer size afterwards (unchanged when the kernel refuses). */
  setPipeSize(fd: number, bytes: number): number;
}

/**
 * Where the addon is looked for: `$IM_REAPER_ADDON` alone when set (a wrong path is a mistake to
 * report, not to paper over), else node-gyp's output in the package, else next to the executable
 * (a single-executable image ships it there).
 */
export function nativeAddonCandidates(env: NodeJS.ProcessEnv = process.env, execPath = process.execPath): string[] {
  if (env.IM_REAPER_ADDON) return [env.IM_REAPER_ADDON];
  const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  return [path.join(packageRoot, 'build', 'Release', 'reaper.node'), path.join(path.dirname(execPath), 'reaper.node')];
}

export function loadNativeAddon(
  candidates = nativeAddonCandidates(),
): { addon: NativeAddon; file: string } | { errors: string[] } {
  const errors: string[] = [];
  for (const file of candidates) {
    if (!fs.existsSync(file)) {
      errors.push(`${file}: not found`);
      continue;
    }
    try {
      const module = { exports: {} as NativeAddon };
      process.dlopen(module, file);
      return { addon: module.exports, file };
    } catch (error) {
      errors.push(`${file}: ${errorMessage(error)}`);
    }
  }
  return { errors };
}

let defaultAddon: ReturnType<typeof loadNativeAddon> | undefined;

/** The addon from its usual places, loaded once for the reaper and the log FIFOs alike. */
export function defaultNativeAddon(): ReturnType<typeof loadNativeAddon> {
  return (defaultAddon ??= loadNativeAddon());
}

/**
 * Asks for a kernel buffer of `bytes` for the pipe or FIFO open at `fd`; returns the size it has,
 * or undefined without the addon (Linux's default is 64 KiB).
 */
export function setPipeSize(fd: number, bytes: number): number | undefined {
  const loaded = defaultNativeAddon();
  return 'addon' in loaded ? loaded.addon.setPipeSize(fd, bytes) : undefined;
}

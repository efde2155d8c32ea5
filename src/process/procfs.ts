import fs from 'node:fs';

export interface ProcessStat {
  pid: number;
  /** The kernel's short command name (`comm`); a zombie has no command line left, only this. */
  command: string;
  state: string;
  ppid: number;
  pgrp: number;
}

/** Parses /proc/<pid>/stat; the command name may itself hold spaces and parentheses. */
export function parseStat(text: string): ProcessStat | undefined {
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (open === -1 || close < open) return undefined;
  const pid = text.slice(0, open);
  const [state, ppid, pgrp] = text.slice(close + 2).split(' ');
  if (!/^\d+$/.test(pid) || !state || !/^\d+$/.test(ppid ?? '') || !/^\d+$/.test(pgrp ?? '')) return undefined;
  return { pid: Number(pid), command: text.slice(open + 2, close), state, ppid: Number(ppid), pgrp: Number(pgrp) };
}

export function listProcesses(): ProcessStat[] {
  const stats: ProcessStat[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = parseStat(fs.readFileSync(`/proc/${name}/stat`, 'utf8'));
      if (stat) stats.push(stat);
    } catch {
      // The process ended between readdir and read.
    }
  }
  return stats;
}

/**
 * Live (not zombie) processes running `executable` with `dir` as their working directory. Every
 * PostgreSQL process works in its data directory, and each child starts its own session, so this
 * (not the process group or the parent, which changes when the postmaster dies) is what ties a
 * backend to its cluster. The executable spares anyone else standing there, such as a shell an
 * administrator opened in PGDATA.
 */
export function liveProcessesWorkingIn(dir: string, executable: string): number[] {
  let targetDir: string;
  let targetExecutable: string;
  try {
    targetDir = fs.realpathSync(dir);
    targetExecutable = fs.realpathSync(executable);
  } catch {
    return [];
  }
  return listProcesses()
    .filter(
      (stat) =>
        stat.state !== 'Z' &&
        stat.pid !== process.pid &&
        procLink(stat.pid, 'cwd') === targetDir &&
        procLink(stat.pid, 'exe') === targetExecutable,
    )
    .map((stat) => stat.pid);
}

function procLink(pid: number, name: 'cwd' | 'exe'): string | undefined {
  try {
    // A binary replaced on disk (a package upgrade) still runs, shown with this suffix.
    return fs.readlinkSync(`/proc/${pid}/${name}`).replace(/ \(deleted\)$/, '');
  } catch {
    return undefined;
  }
}

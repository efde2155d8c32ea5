import fs from 'node:fs';
import { UsageError } from '../errors.js';

/** Who PostgreSQL programs run as. `uid`/`gid` are undefined when the manager is not root. */
export interface RunAs {
  name: string;
  uid: number | undefined;
  gid: number | undefined;
  home: string;
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .map((line) => line.split(':'))
    .filter((fields) => fields.length >= 7 && !fields[0]!.startsWith('#'))
    .map((fields) => ({ name: fields[0]!, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5]! }));
}

/**
 * Started as root, every PostgreSQL program runs as `userName`; started as anyone else, the
 * manager runs them as itself (a container started with `USER 26` has no one to switch to).
 */
export function resolveRunAs(userName: string, passwdPath = '/etc/passwd'): RunAs {
  const self = process.getuid?.() ?? 0;
  if (self !== 0) {
    const entry = readPasswd(passwdPath).find((candidate) => candidate.uid === self);
    return {
      name: entry?.name ?? String(self),
      uid: undefined,
      gid: undefined,
      home: entry?.home ?? process.env.HOME ?? '/',
    };
  }
  const entry = readPasswd(passwdPath).find(
    (candidate) => candidate.name === userName || String(candidate.uid) === userName,
  );
  if (!entry) throw new UsageError(`--user: no such user "${userName}" in ${passwdPath}`);
  if (entry.uid === 0) throw new UsageError(`--user: "${userName}" is root; PostgreSQL never runs as root`);
  return { name: entry.name, uid: entry.uid, gid: entry.gid, home: entry.home };
}

function readPasswd(passwdPath: string): PasswdEntry[] {
  try {
    return parsePasswd(fs.readFileSync(passwdPath, 'utf8'));
  } catch {
    return [];
  }
}

/** Gives a path to the PostgreSQL user (no-op when not root). */
export function chownToRunAs(target: string, runAs: RunAs): void {
  if (runAs.uid !== undefined && runAs.gid !== undefined) fs.chownSync(target, runAs.uid, runAs.gid);
}

/**
 * Gives a whole tree to the PostgreSQL user when its top is not theirs (a fresh volume, a changed
 * uid). A tree whose top is already right is left alone, so a large PGDATA costs nothing at start.
 */
export function chownTreeToRunAs(root: string, runAs: RunAs): void {
  if (runAs.uid === undefined || runAs.gid === undefined) return;
  const { uid, gid } = runAs;
  const top = fs.statSync(root);
  if (top.uid === uid && top.gid === gid) return;
  const visit = (target: string): void => {
    const stat = fs.lstatSync(target);
    if (stat.uid !== uid || stat.gid !== gid) fs.lchownSync(target, uid, gid);
    if (stat.isDirectory()) for (const entry of fs.readdirSync(target)) visit(`${target}/${entry}`);
  };
  visit(root);
}

import fs from 'node:fs';
import path from 'node:path';
import { chownToRunAs, type RunAs } from './user.js';

/**
 * Replaces a file in one step (write a sibling, then rename), so PostgreSQL reading it on a reload
 * never sees half of it. Returns false, and touches nothing, when the content is already there.
 */
export function writeFileAtomically(target: string, content: string | Buffer, runAs: RunAs, mode = 0o600): boolean {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  try {
    if (fs.readFileSync(target).equals(bytes)) return false;
  } catch {
    // Missing or unreadable: write it.
  }
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
  fs.writeFileSync(temporary, bytes, { mode });
  fs.chmodSync(temporary, mode);
  chownToRunAs(temporary, runAs);
  fs.renameSync(temporary, target);
  return true;
}

/** Creates a directory the PostgreSQL user owns. */
export function ensureOwnedDirectory(dir: string, runAs: RunAs, mode = 0o700): void {
  // Parents stay traversable: a 0700 parent owned by root would lock the PostgreSQL user out.
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
  fs.mkdirSync(dir, { recursive: true, mode });
  chownToRunAs(dir, runAs);
}

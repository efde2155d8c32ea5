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
  try {
    fs.writeFileSync(temporary, bytes, { mode });
    fs.chmodSync(temporary, mode);
    chownToRunAs(temporary, runAs);
    fs.renameSync(temporary, target);
  } catch (error) {
    // A full disk leaves a partial sibling behind: it must not linger (root-owned, half written).
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  return true;
}

/** Creates a directory the PostgreSQL user owns. */
export function ensureOwnedDirectory(dir: string, runAs: RunAs, mode = 0o700): void {
  // Parents stay traversable: a 0700 parent owned by root would lock the PostgreSQL user out.
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
  fs.mkdirSync(dir, { recursive: true, mode });
  chownToRunAs(dir, runAs);
}

/** The kubelet's own limit for a Secret; no configuration or certificate file the manager reads is larger. */
export const MAX_INPUT_BYTES = 1024 * 1024;

/** A file the manager will not read, with the reason in words (the caller names the file). */
export class UnreadableFile extends Error {
  override readonly name = 'UnreadableFile';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

const REASONS: Record<string, string> = {
  ELOOP: 'a symbolic link loop (ELOOP)',
  ENOTDIR: 'a part of its path is a file, not a directory (ENOTDIR)',
  EISDIR: 'a directory, not a file (EISDIR)',
  EACCES: 'permission denied (EACCES)',
};

/**
 * Reads a regular file of at most `maxBytes` without ever blocking: opened non-blocking and checked
 * with fstat before a byte is read, so a FIFO (which would block the event loop until a writer came)
 * or a device (`/dev/zero` never ends) is refused by what it is. Throws UnreadableFile, or the
 * system error ENOENT when it does not exist.
 */
export function readRegularFile(file: string, maxBytes = MAX_INPUT_BYTES): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw error;
    throw new UnreadableFile(code !== undefined && REASONS[code] ? REASONS[code] : `cannot be opened (${code})`, code);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new UnreadableFile(`not a regular file but ${fileKind(stat)}`, undefined);
    if (stat.size > maxBytes) throw new UnreadableFile(`${stat.size} bytes, over the limit of ${maxBytes}`, undefined);
    // The size may grow after fstat: read one byte more than allowed to notice.
    const buffer = Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const read = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
    }
    if (length > maxBytes)
      throw new UnreadableFile(`grew over the limit of ${maxBytes} bytes while being read`, undefined);
    return buffer.subarray(0, length);
  } finally {
    fs.closeSync(fd);
  }
}

function fileKind(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a file';
}

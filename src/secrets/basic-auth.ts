/**
 * Passwords from Secrets of type `kubernetes.io/basic-auth` (files `username` and `password`),
 * mounted under `--secrets-dir` the way the kubelet writes them (symlinks through `..data`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { readRegularFile, UnreadableFile } from '../process/index.js';
import { InvalidSecret } from './validate.js';

export interface BasicAuth {
  username: string;
  password: string;
}

/**
 * The Secret in `dir`, read from one snapshot (`..data` resolved once, so a swap cannot pair the
 * username of one generation with the password of the next); undefined when `dir` does not exist.
 * Throws InvalidSecret naming the file when a file is missing, empty, unreadable or not UTF-8, or
 * when `expectedUser` is given and the username differs.
 */
export function readBasicAuth(dir: string, expectedUser?: string): BasicAuth | undefined {
  if (!fs.existsSync(dir)) return undefined;
  let base = dir;
  try {
    base = fs.realpathSync(path.join(dir, '..data'));
  } catch {
    // Not a kubelet volume: the files are where they are.
  }
  const read = (name: string): string => {
    const shown = path.join(dir, name);
    let bytes: Buffer;
    try {
      bytes = readRegularFile(path.join(base, name));
    } catch (error) {
      if (error instanceof UnreadableFile) throw new InvalidSecret(`${shown}: ${error.message}`);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        throw new InvalidSecret(`${shown}: missing (a basic-auth Secret has username and password)`);
      }
      throw new InvalidSecret(`${shown}: cannot be read (${code})`);
    }
    if (bytes.length === 0) throw new InvalidSecret(`${shown}: empty`);
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
    if (text.includes('\uFFFD') || text.includes('\0')) {
      throw new InvalidSecret(`${shown}: not UTF-8 text without NUL characters`);
    }
    return text;
  };
  const username = read('username');
  const password = read('password');
  if (expectedUser !== undefined && username !== expectedUser) {
    const [found, expected] = [username, expectedUser].map((name) => JSON.stringify(name));
    throw new InvalidSecret(`${path.join(dir, 'username')}: is ${found}, expected ${expected}`);
  }
  return { username, password };
}

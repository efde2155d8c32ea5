/**
 * The mounted Secret volumes under `--secrets-dir`, read the way the kubelet writes them: each
 * file is a symlink through `..data`, itself a symlink to a timestamped directory swapped by rename.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readRegularFile, UnreadableFile } from '../process/index.js';
import { InvalidSecret } from './validate.js';

export const SECRET_DIRS = {
  serverTls: 'server-tls',
  serverCa: 'server-ca',
  clientCa: 'client-ca',
  replicationTls: 'replication-tls',
} as const;

/** PEM text of one Secret volume, by file name; a missing file is absent from the map. */
export type Volume = Map<string, string>;

export interface MountedSecrets {
  serverTls: Volume;
  serverCa: Volume;
  clientCa: Volume;
  replicationTls: Volume;
}

const FILES = ['tls.crt', 'tls.key', 'ca.crt', 'ca.key'];

export function readMountedSecrets(secretsDir: string): MountedSecrets {
  const volume = (name: string) => readVolume(path.join(secretsDir, name));
  return {
    serverTls: volume(SECRET_DIRS.serverTls),
    serverCa: volume(SECRET_DIRS.serverCa),
    clientCa: volume(SECRET_DIRS.clientCa),
    replicationTls: volume(SECRET_DIRS.replicationTls),
  };
}

/**
 * Reads every file of a volume from one snapshot; a file that is not a regular file of at most
 * 1 MiB (a directory, a FIFO, a device, a symlink loop) is refused naming its path. `..data` is
 * resolved once, so a swap in the middle cannot pair the certificate of one generation with the
 * key of the next.
 */
export function readVolume(dir: string): Volume {
  const files: Volume = new Map();
  let base = dir;
  try {
    base = fs.realpathSync(path.join(dir, '..data'));
  } catch {
    // Not a kubelet volume (or no such directory): read the files where they are.
  }
  for (const name of FILES) {
    try {
      files.set(name, readRegularFile(path.join(base, name)).toString('utf8'));
    } catch (error) {
      if (error instanceof UnreadableFile) throw new InvalidSecret(`${path.join(dir, name)}: ${error.message}`);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return files;
}

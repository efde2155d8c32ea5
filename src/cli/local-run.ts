/**
 * What a `run` on this machine wrote, for the commands that talk to it (status, operator actions):
 * its run dir is IM_RUN_DIR (set in the image, so inside the pod no flag is needed), else
 * ./.data/run, where `npm start` runs. A file that is not there is a UsageError naming the flag
 * that would replace it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { CERTIFICATE_FILES, certificateCopyPath, operatorCertificatePaths } from '../secrets/index.js';

const NPM_START_RUN_DIR_HINT = './.data/run; set IM_RUN_DIR for another';

export function localRunDir(): string {
  return process.env.IM_RUN_DIR ?? path.join('.data', 'run');
}

/** The CA that signed the status API's certificate: `--ca` when given, else the local run's copy. */
export function readServerCa(explicit: string | undefined): Buffer {
  if (explicit !== undefined) return readFlagFile('--ca', explicit);
  const file = certificateCopyPath(localRunDir(), CERTIFICATE_FILES.serverCa);
  try {
    return fs.readFileSync(file);
  } catch (error) {
    const fromEnv = process.env.IM_RUN_DIR !== undefined;
    const where = fromEnv ? 'IM_RUN_DIR' : `the run dir of npm start (${NPM_START_RUN_DIR_HINT})`;
    throw new UsageError(
      `no server CA at ${file} (${(error as NodeJS.ErrnoException).code}), from ${where}: ` +
        "pass --ca FILE, the CA that signed the status API's certificate (or --url http://... for --status-insecure)",
    );
  }
}

export function readFlagFile(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new UsageError(`${flag} ${file}: cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
}

/**
 * The operator's client certificate: `--cert`/`--key` when given, else the one a local run with an
 * automatic client CA issued (undefined when there is none: the reads need no certificate).
 */
export function readOperatorCertificate(
  cert: string | undefined,
  key: string | undefined,
): { cert: Buffer; key: Buffer } | undefined {
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--cert and --key go together');
  if (cert !== undefined && key !== undefined)
    return { cert: readFlagFile('--cert', cert), key: readFlagFile('--key', key) };
  const local = operatorCertificatePaths(localRunDir());
  try {
    return { cert: fs.readFileSync(local.cert), key: fs.readFileSync(local.key) };
  } catch {
    return undefined;
  }
}

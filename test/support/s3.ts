/**
 * A local S3-compatible server for pgBackRest: s3rver (npm), over TLS with a certificate from a test
 * CA, on loopback and a port the OS picks. Fetched by `npm exec` at a pinned version rather than made a
 * dependency: only this test needs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { opensslCa, opensslLeaf } from './secrets.js';

export const S3RVER = 's3rver@3.7.1';

export interface S3Server {
  port: number;
  /** The CA that signed the server's certificate (PEM file). */
  caFile: string;
  bucket: string;
  stop(): Promise<void>;
}

export async function startS3rver(dir: string, bucket = 'pgbackrest'): Promise<S3Server> {
  const ca = opensslCa(path.join(dir, 's3-ca'), 'test S3 CA');
  // pgBackRest checks DNS names only (not IP addresses): the endpoint is `localhost`, bound to whichever
  // address it resolves to first, as pgBackRest connects to that one.
  const leaf = opensslLeaf(path.join(dir, 's3-tls'), ca, { cn: 'localhost', names: ['localhost'] });
  const files = {
    ca: path.join(dir, 's3-ca.crt'),
    cert: path.join(dir, 's3.crt'),
    key: path.join(dir, 's3.key'),
    data: path.join(dir, 's3-data'),
  };
  fs.writeFileSync(files.ca, ca.certPem);
  fs.writeFileSync(files.cert, leaf.certPem);
  fs.writeFileSync(files.key, leaf.keyPem);
  fs.mkdirSync(files.data, { recursive: true });
  const child = spawn(
    'npm',
    [
      'exec',
      '--yes',
      `--package=${S3RVER}`,
      '--',
      's3rver',
      '-d',
      files.data,
      '-a',
      'localhost',
      '-p',
      '0',
      '--key',
      files.key,
      '--cert',
      files.cert,
      '--configure-bucket',
      bucket,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const port = await listeningPort(child);
  return {
    port,
    caFile: files.ca,
    bucket,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    },
  };
}

function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 120 s: ${output}`)), 120_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /S3rver listening on .*:(\d+)\s/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited (${code}): ${output}`));
    });
  });
}

/**
 * An S3 repository: pgBackRest against s3rver over verified TLS on localhost. Archiving, a full
 * backup, and a restore of it into a new instance.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgbackrestByHand } from '../support/backup.js';
import type { Manager } from '../support/manager.js';
import type { OpensslPair } from '../support/openssl.js';
import { clusterDir, startNode, waitUntil, type Authorities } from '../support/replication.js';
import { startS3rver, type S3Server } from '../support/s3.js';
import { opensslLeaf } from '../support/secrets.js';
import { ask, waitForStatusApi } from '../support/status.js';

describe('an S3 repository (s3rver)', () => {
  let dir: string;
  let authorities: Authorities;
  let s3: S3Server;
  let optionsFile: string;
  let operator: OpensslPair;
  const nodes: Manager[] = [];

  beforeAll(async () => {
    ({ dir, authorities } = clusterDir('backup-s3'));
    s3 = await startS3rver(dir);
    optionsFile = path.join(dir, 'backup-repo.conf');
    fs.writeFileSync(
      optionsFile,
      [
        'repo1-type=s3',
        `repo1-s3-bucket=${s3.bucket}`,
        'repo1-s3-endpoint=localhost',
        `repo1-storage-port=${s3.port}`,
        'repo1-s3-region=us-east-1',
        'repo1-s3-key=S3RVER',
        'repo1-s3-key-secret=S3RVER',
        'repo1-s3-uri-style=path',
        `repo1-storage-ca-file=${s3.caFile}`,
        'repo1-path=/cluster',
        'start-fast=y',
        '',
      ].join('\n'),
    );
    operator = opensslLeaf(path.join(dir, 'operator'), authorities.clientCa, { cn: 'instance-manager-operator' });
  });

  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await s3?.stop();
  });

  it('archives, backs up and restores through S3 over TLS', async () => {
    const primary = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 's3-1',
      status: 'https',
      args: ['--backup-repo', optionsFile],
    });
    nodes.push(primary);
    await primary.waitForMessage('backup repository checked: the stanza exists and WAL reaches it', 90_000);
    await waitForStatusApi(primary.statusBase, { ca: authorities.serverCa.certPem });
    await primary.psql("CREATE TABLE s3 AS SELECT 'through S3'::text AS note");
    const tls = { ca: authorities.serverCa.certPem, cert: operator.certPem, key: operator.keyPem };
    const started = JSON.parse(
      (await ask(`${primary.statusBase}/pg/backup`, { ...tls, method: 'POST', body: '{"type":"full"}' })).body,
    ) as { id: string };
    let last: { id: string; error: string | null; label: string } | undefined;
    await waitUntil(
      'the backup ends',
      async () => {
        last = (JSON.parse((await ask(`${primary.statusBase}/pg/backup`, tls)).body) as { last: typeof last }).last;
        return last?.id === started.id;
      },
      120_000,
    );
    expect(last).toMatchObject({ error: null, label: expect.stringMatching(/F$/) as string });
    await pgbackrestByHand(primary.runDir, 's3', 'check');

    const restored = await startNode({
      authorities,
      serverNames: ['127.0.0.1'],
      podName: 's3copy-1',
      args: ['--backup-repo', optionsFile, '--restore-from-cluster', 's3'],
    });
    nodes.push(restored);
    await restored.waitForMessage('the restored instance was promoted: it archives to its own stanza now', 120_000);
    expect(await restored.psql('SELECT note FROM s3')).toBe('through S3');
  });
});

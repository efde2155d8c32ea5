/**
 * Promotion through the function the status API calls, on a replica run in this process (the
 * function needs the Instance itself; the HTTP route is the status API's).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Instance, type RunOptions } from '../../src/instance/index.js';
import { createLogger } from '../../src/log.js';
import { findBinaries } from '../../src/postgres/index.js';
import { resolveRunAs } from '../../src/process/index.js';
import { NotAReplicaError, promote } from '../../src/replication/index.js';
import { freePort, psqlOverSocket, type LogLine, type Manager } from '../support/manager.js';
import { clusterDir, nodeDir, rowReachesReplica, startNode, waitUntil } from '../support/replication.js';

describe('promotion', () => {
  let primary: Manager;
  let instance: Instance;
  let supervised: Promise<number>;
  let options: RunOptions;
  const lines: LogLine[] = [];
  // The manager's events and PostgreSQL's records (the log pipe writes several lines at once).
  const sink = {
    write: (data: Buffer | string) =>
      data
        .toString()
        .split('\n')
        .filter((line) => line !== '')
        .every((line) => lines.push(JSON.parse(line) as LogLine) > 0),
    once: () => undefined,
    bufferedBytes: 0,
    highWaterMark: Number.MAX_SAFE_INTEGER,
  };
  const logger = createLogger({ sink, pod: 'pg-3' });
  const psql = (sql: string) => psqlOverSocket(path.join(options.runDir, 'run'), options.port, sql);
  const ready = () =>
    waitUntil('the replica accepts connections', async () => instance.acceptingConnectionsSince !== undefined, 60_000);

  beforeAll(async () => {
    const { authorities } = clusterDir('promote');
    primary = await startNode({ authorities, serverNames: ['127.0.0.1'], podName: 'pg-1' });
    await primary.waitUntilReady();
    const { dir, secrets } = nodeDir({ authorities, serverNames: ['127.0.0.1'], podName: 'pg-3' });
    options = {
      pgdata: path.join(dir, 'pgdata'),
      runDir: path.join(dir, 'run'),
      secretsDir: secrets,
      pgBin: undefined,
      port: await freePort(),
      listen: '127.0.0.1',
      statusPort: 0,
      statusInsecure: false,
      operatorNames: ['instance-manager-operator'],
      replicaOf: { host: '127.0.0.1', port: primary.port },
      serverNames: ['127.0.0.1'],
      configFile: undefined,
      allowAlterSystem: false,
      hbaFile: undefined,
      metricsQueriesFile: undefined,
      metricsQueryTimeoutSeconds: 5,
      appDatabase: 'app',
      appOwner: 'app',
      rolesFile: undefined,
      podName: 'pg-3',
      user: 'postgres',
      smartShutdownTimeoutSeconds: 2,
      stopTimeoutSeconds: 10,
      logLevel: 'info',
      backup: undefined,
    };
    instance = new Instance({
      options,
      logger,
      sink,
      bin: await findBinaries(undefined),
      runAs: resolveRunAs('postgres'),
    });
    await instance.prepare();
    supervised = instance.supervise();
    await ready();
  });

  afterAll(async () => {
    instance?.requestStop('SIGTERM');
    await supervised;
    await primary?.stop();
  });

  it('turns the replica into a writable primary that stays one across a restart', async () => {
    expect(instance.role).toBe('replica');
    await rowReachesReplica(primary, { psql } as Manager, 'before promotion');

    const result = await promote(instance, logger);
    expect(result.timeline).toBe(2);
    expect(instance.role).toBe('primary');
    expect(await psql('SELECT pg_is_in_recovery()')).toBe('f');
    expect(
      await psql(
        "WITH written AS (INSERT INTO replicated VALUES ('written on the promoted replica') RETURNING value) SELECT value FROM written",
      ),
    ).toBe('written on the promoted replica');
    expect(fs.existsSync(path.join(options.pgdata, 'standby.signal'))).toBe(false);
    expect(fs.readFileSync(path.join(options.pgdata, 'custom.conf'), 'utf8')).not.toMatch(
      /primary_conninfo|primary_slot_name/,
    );
    expect(lines.some((line) => line.msg === 'promoted: this instance is now the primary')).toBe(true);

    const before = lines.length;
    await instance.restart('test');
    await ready();
    expect(
      lines.slice(before).some((line) => line.msg === 'PostgreSQL accepts connections' && line.status === 'ready'),
    ).toBe(true);
    expect(await psql('SELECT pg_is_in_recovery()')).toBe('f');
    await expect(promote(instance, logger)).rejects.toBeInstanceOf(NotAReplicaError);
  });
});

import { describe, expect, it } from 'vitest';
import { decideOperator, type PeerCertificate } from '../../src/status/auth.js';
import { buildStatusDocument, isReady, lsnToBytes, NOT_ASKED, type ManagerFacts } from '../../src/status/document.js';
import type { PgReading, PgSnapshot } from '../../src/status/pg-state.js';
import type http from 'node:http';
import { announcesBody } from '../../src/status/http.js';
import { RouteTable } from '../../src/status/routes.js';

describe('RouteTable', () => {
  const table = new RouteTable([
    { path: '/healthz', method: 'GET', name: 'healthz' },
    { path: '/startupz', method: 'GET', name: 'startupz' },
    { path: '/pg/status', method: 'GET', name: 'status' },
    { path: '/pg/promote', method: 'POST', name: 'promote' },
    { path: '/pg/backup', method: 'GET', name: 'backup state' },
    { path: '/pg/backup', method: 'POST', name: 'backup' },
  ] as const);
  it.each([
    ['GET', '/healthz', { found: true, name: 'healthz' }],
    ['HEAD', '/healthz', { found: true, name: 'healthz' }],
    ['GET', '/startupz?verbose=1', { found: true, name: 'startupz' }],
    ['POST', '/pg/promote', { found: true, name: 'promote' }],
    ['GET', '/pg/promote', { found: false, status: 405, allow: 'POST' }],
    ['POST', '/healthz', { found: false, status: 405, allow: 'GET, HEAD' }],
    ['DELETE', '/pg/status', { found: false, status: 405, allow: 'GET, HEAD' }],
    ['GET', '/pg/status/', { found: false, status: 404 }],
    ['GET', '/', { found: false, status: 404 }],
    ['POST', '/pg/switchover', { found: false, status: 404 }],
    ['GET', '/pg/backup', { found: true, name: 'backup state' }],
    ['HEAD', '/pg/backup', { found: true, name: 'backup state' }],
    ['POST', '/pg/backup', { found: true, name: 'backup' }],
    ['DELETE', '/pg/backup', { found: false, status: 405, allow: 'GET, HEAD, POST' }],
  ])('%s %s', (method, url, expected) => {
    const route = table.match(method, url);
    expect(route.found ? { found: true, name: route.row.name } : route).toEqual(expected);
  });

  it('refuses two rows for one path and method', () => {
    expect(
      () =>
        new RouteTable([
          { path: '/x', method: 'GET' },
          { path: '/x', method: 'GET' },
        ]),
    ).toThrow('the status API has two GET routes for /x');
  });
});

describe('announcesBody', () => {
  const request = (...rawHeaders: string[]) => ({ rawHeaders }) as unknown as http.IncomingMessage;

  it('sees a body in a positive Content-Length or any Transfer-Encoding, whatever the case of the name', () => {
    expect(announcesBody(request('Host', 'x', 'Content-Length', '5'))).toBe(true);
    expect(announcesBody(request('CONTENT-LENGTH', '1'))).toBe(true);
    expect(announcesBody(request('transfer-encoding', 'chunked'))).toBe(true);
  });

  it('sees none in a zero length, in no such header, or in a value that merely names one', () => {
    expect(announcesBody(request('Content-Length', '0'))).toBe(false);
    expect(announcesBody(request('Host', 'x', 'User-Agent', 'kube-probe/1.30'))).toBe(false);
    expect(announcesBody(request('X-Note', 'Content-Length', 'X-Other', 'transfer-encoding'))).toBe(false);
    expect(announcesBody(request())).toBe(false);
  });
});

describe('decideOperator', () => {
  const operators = ['instance-manager-operator', 'dba'];
  const peer = (fields: Partial<PeerCertificate>): PeerCertificate => ({
    presented: true,
    verified: true,
    verifyError: undefined,
    commonName: 'dba',
    ...fields,
  });
  it.each([
    ['no certificate', peer({ presented: false, verified: false, commonName: undefined }), 401],
    [
      'a certificate from another CA, even with an operator CN',
      peer({ verified: false, verifyError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', commonName: 'dba' }),
      401,
    ],
    ['a verified certificate with another CN', peer({ commonName: 'app' }), 403],
    ['a verified certificate without a CN', peer({ commonName: undefined }), 403],
    ['a CN differing only in case', peer({ commonName: 'DBA' }), 403],
  ])('%s: %i', (_case, input, status) => {
    const decision = decideOperator(input, operators);
    expect(decision.allowed).toBe(false);
    expect(decision.allowed ? 200 : decision.status).toBe(status);
  });

  it('lets a verified operator CN in', () => {
    expect(decideOperator(peer({ commonName: 'instance-manager-operator' }), operators)).toEqual({
      allowed: true,
      commonName: 'instance-manager-operator',
    });
  });
});

const primary: PgSnapshot = {
  inRecovery: false,
  pgVersion: '16.4',
  systemId: '7300000000000000001',
  timeline: 2,
  currentLsn: '0/3000148',
  receivedLsn: null,
  replayLsn: null,
  walReceiverActive: false,
  pendingRestart: true,
  postmasterStartTime: new Date('2026-11-29T16:00:00Z'),
  replication: [
    {
      applicationName: 'pg-2',
      state: 'streaming',
      sentLsn: '0/3000148',
      replayLsn: '0/3000000',
      replayLag: 0.25,
      replayLagBytes: 328,
      syncState: 'async',
    },
  ],
};
const replica: PgSnapshot = {
  ...primary,
  inRecovery: true,
  currentLsn: null,
  receivedLsn: '0/3000148',
  replayLsn: '0/3000100',
  walReceiverActive: true,
  replication: [],
};
const facts: ManagerFacts = {
  phase: 'running',
  intendedRole: 'primary',
  postmaster: { pid: 42, startedAt: new Date('2026-11-29T15:59:59Z') },
  acceptingConnections: true,
  restarts: 1,
  port: 5432,
  lifecycle: { fence: undefined, following: undefined, demotion: undefined },
  certificates: [{ name: 'server.crt', notAfter: '2027-02-27T16:00:00Z', daysLeft: 90, mode: 'automatic' }],
  roles: [{ name: 'app', state: 'present', lastError: null }],
  backup: undefined,
  instanceManagerVersion: '0.1.0',
};
const ok = (snapshot: PgSnapshot): PgReading => ({ ok: true, snapshot });

describe('isReady', () => {
  it.each([
    ['a primary answering', facts, ok(primary), true],
    ['a replica streaming', facts, ok(replica), true],
    ['a replica whose WAL receiver is not streaming', facts, ok({ ...replica, walReceiverActive: false }), false],
    ['PostgreSQL not answering', facts, { ok: false, error: 'timeout' } as PgReading, false],
    [
      'a restart under way, even if the last answer was fine',
      { ...facts, phase: 'restarting' as const },
      ok(primary),
      false,
    ],
    ['a shutdown under way', { ...facts, phase: 'stopping' as const }, ok(primary), false],
    [
      'a postmaster not yet accepting connections',
      { ...facts, phase: 'starting' as const, acceptingConnections: false },
      NOT_ASKED,
      false,
    ],
  ])('%s: %s', (_case, managerFacts, reading, expected) => {
    expect(isReady(managerFacts, reading)).toBe(expected);
  });
});

describe('buildStatusDocument', () => {
  it('gives a primary its current LSN and its standbys, without the internal byte lag', () => {
    const document = buildStatusDocument(facts, ok(primary), undefined);
    expect(document).toEqual({
      role: 'primary',
      isReady: true,
      phase: 'running',
      postmasterPid: 42,
      postmasterStartTime: '2026-11-29T16:00:00.000Z',
      pgVersion: '16.4',
      systemID: '7300000000000000001',
      timeline: 2,
      port: 5432,
      fenced: false,
      controlData: null,
      currentLsn: '0/3000148',
      replication: [
        {
          applicationName: 'pg-2',
          state: 'streaming',
          sentLsn: '0/3000148',
          replayLsn: '0/3000000',
          replayLag: 0.25,
          syncState: 'async',
        },
      ],
      pendingRestart: true,
      certificates: facts.certificates,
      roles: facts.roles,
      restarts: 1,
      backup: null,
      instanceManagerVersion: '0.1.0',
    });
  });

  it('gives a replica its received and replayed LSNs and the WAL receiver state', () => {
    const document = buildStatusDocument({ ...facts, intendedRole: 'replica' }, ok(replica), undefined);
    expect(document.role).toBe('replica');
    expect(document).not.toHaveProperty('currentLsn');
    expect(document).toMatchObject({
      receivedLsn: '0/3000148',
      replayLsn: '0/3000100',
      isWalReceiverActive: true,
      isReady: true,
    });
  });

  it('the role PostgreSQL reports wins over the one the manager was started with (a promoted replica)', () => {
    expect(buildStatusDocument({ ...facts, intendedRole: 'replica' }, ok(primary), undefined).role).toBe('primary');
  });

  it('still answers while PostgreSQL is down, with what the manager knows', () => {
    const down = {
      ...facts,
      phase: 'restarting' as const,
      intendedRole: 'replica' as const,
      postmaster: undefined,
      acceptingConnections: false,
    };
    const document = buildStatusDocument(down, NOT_ASKED, { pgVersion: '16.4', systemId: '7300000000000000001' });
    expect(document).toEqual({
      role: 'replica',
      isReady: false,
      phase: 'restarting',
      postmasterPid: null,
      postmasterStartTime: null,
      pgVersion: '16.4',
      systemID: '7300000000000000001',
      timeline: null,
      port: 5432,
      fenced: false,
      controlData: null,
      receivedLsn: null,
      replayLsn: null,
      isWalReceiverActive: false,
      replication: [],
      pendingRestart: null,
      certificates: facts.certificates,
      roles: facts.roles,
      restarts: 1,
      backup: null,
      instanceManagerVersion: '0.1.0',
      error: NOT_ASKED.ok ? '' : NOT_ASKED.error,
    });
  });
});

describe('lsnToBytes', () => {
  it.each([
    ['0/0', 0],
    ['0/3000148', 0x3000148],
    ['16/B374D848', 0x16 * 2 ** 32 + 0xb374d848],
    ['FFFFFFFF/FFFFFFFF', 0xffffffff * 2 ** 32 + 0xffffffff],
  ])('%s', (lsn, bytes) => {
    expect(lsnToBytes(lsn)).toBe(bytes);
  });

  it('refuses what is not an LSN', () => {
    expect(() => lsnToBytes('3000148')).toThrow('not an LSN');
  });

  it('tells a fenced instance, with who fenced it, and its timeline from pg_controldata while PostgreSQL is down', () => {
    const fence = { by: 'instance-manager-operator', at: '2026-11-30T15:00:00Z', reason: 'fenced by an operator' };
    const controlData = {
      systemIdentifier: '7300000000000000001',
      clusterState: 'shut down',
      checkpointLsn: '0/3000028',
      redoLsn: '0/3000028',
      timeline: 3,
      minRecoveryEndLsn: '0/0',
    };
    const held = {
      ...facts,
      phase: 'held' as const,
      postmaster: undefined,
      acceptingConnections: false,
      lifecycle: { fence, following: undefined, demotion: undefined },
    };
    const document = buildStatusDocument(held, NOT_ASKED, undefined, controlData);
    expect(document).toMatchObject({ fenced: true, fence, timeline: 3, controlData, isReady: false, phase: 'held' });
  });

  it('names the primary a replica follows, and a demotion under way', () => {
    const demotion = { primary: '10.0.0.2:5432', step: 'rewinding' as const, since: '2026-11-30T15:00:00Z' };
    const following = {
      ...facts,
      intendedRole: 'replica' as const,
      lifecycle: { fence: undefined, following: '10.0.0.2:5432', demotion },
    };
    expect(buildStatusDocument(following, ok(replica), undefined)).toMatchObject({
      following: '10.0.0.2:5432',
      demotion,
      fenced: false,
    });
    expect(buildStatusDocument({ ...following, intendedRole: 'primary' }, ok(primary), undefined)).not.toHaveProperty(
      'following',
    );
  });
});

import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/status.js';
import type { StatusDocument } from '../../src/status/index.js';

const replica: StatusDocument = {
  role: 'replica',
  isReady: false,
  phase: 'running',
  postmasterPid: 77,
  postmasterStartTime: '2026-11-29T16:00:00.000Z',
  pgVersion: '16.4',
  systemID: '7300000000000000001',
  timeline: 3,
  port: 5432,
  fenced: false,
  controlData: null,
  receivedLsn: '0/5000000',
  replayLsn: '0/4FFFF00',
  isWalReceiverActive: false,
  replication: [
    {
      applicationName: 'pg-3',
      state: 'streaming',
      sentLsn: '0/4FFFF00',
      replayLsn: '0/4FFFF00',
      replayLag: 0.0123,
      syncState: 'async',
    },
    { applicationName: 'pg-4', state: 'catchup', sentLsn: null, replayLsn: null, replayLag: null, syncState: 'async' },
  ],
  pendingRestart: true,
  certificates: [],
  roles: [],
  restarts: 2,
  backup: null,
  instanceManagerVersion: '0.1.0',
};

describe('formatStatus', () => {
  it('shows a cascading replica that lost its upstream: positions, receiver, standbys, no certificates', () => {
    expect(formatStatus(replica)).toBe(
      [
        'role:            replica (not ready)',
        'phase:           running',
        'postmaster:      pid 77, started 2026-11-29T16:00:00.000Z',
        'restarts:        2',
        'PostgreSQL:      16.4, system 7300000000000000001',
        'timeline:        3',
        'received LSN:    0/5000000',
        'replayed LSN:    0/4FFFF00',
        'WAL receiver:    not streaming',
        'pending restart: yes',
        'standbys:        pg-3: streaming, async, sent 0/4FFFF00, replayed 0/4FFFF00, lag 0.012 s',
        '                 pg-4: catchup, async, sent ?, replayed ?, lag -',
        'certificates:    none',
        'roles:           none',
        'manager:         0.1.0',
        '',
      ].join('\n'),
    );
  });

  it('says why PostgreSQL did not answer, and what is unknown', () => {
    const down: StatusDocument = {
      ...replica,
      role: 'primary',
      phase: 'restarting',
      postmasterPid: null,
      postmasterStartTime: null,
      timeline: null,
      receivedLsn: undefined,
      replayLsn: undefined,
      isWalReceiverActive: undefined,
      currentLsn: null,
      replication: [],
      pendingRestart: null,
      error: 'PostgreSQL is not accepting connections',
    };
    const text = formatStatus(down);
    expect(text).toMatch(/^postmaster: +not running$/m);
    expect(text).toMatch(/^not answering: +PostgreSQL is not accepting connections$/m);
    expect(text).toMatch(/^current LSN: +unknown$/m);
    expect(text).toMatch(/^pending restart: +unknown$/m);
    expect(text).not.toMatch(/received LSN/);
  });

  it('lists the managed roles with the error of one that is not as declared', () => {
    const roles: StatusDocument['roles'] = [
      { name: 'app', state: 'present', lastError: null },
      { name: 'etl', state: 'failed', lastError: 'role "etl" cannot be dropped because some objects depend on it' },
    ];
    const text = formatStatus({ ...replica, roles });
    expect(text).toMatch(
      /^roles: +app: present\n +etl: failed \(role "etl" cannot be dropped because some objects depend on it\)$/m,
    );
  });

  it('says who fenced it, the primary it follows and a demotion under way', () => {
    const text = formatStatus({
      ...replica,
      fenced: true,
      fence: { by: 'dba', at: '2026-11-30T10:00:00.000Z', reason: 'inspection' },
      following: 'pg-2.pg:5432',
      demotion: { primary: 'pg-2.pg:5432', step: 'rewinding', since: '2026-11-30T10:01:00.000Z' },
    });
    expect(text).toMatch(/^fenced: +by dba at 2026-11-30T10:00:00.000Z: inspection$/m);
    expect(text).toMatch(/^following: +pg-2\.pg:5432$/m);
    expect(text).toMatch(/^demotion: +to follow pg-2\.pg:5432: rewinding since 2026-11-30T10:01:00.000Z$/m);
  });
});

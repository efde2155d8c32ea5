import { describe, expect, it } from 'vitest';
import { renderHba, renderIdent } from '../../src/config/index.js';

const rules = (text: string) => text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));

describe('renderHba', () => {
  it('orders the fixed header, the user rules and the fallback as the contract says', () => {
    expect(rules(renderHba(['hostssl app alice all cert']))).toEqual([
      'local all all peer map=local',
      'hostssl replication streaming_replica all cert',
      'hostssl postgres streaming_replica all cert',
      'hostssl app alice all cert',
      'host all postgres all reject',
      'hostssl all all all scram-sha-256',
      'host all all all reject',
    ]);
  });

  it('refuses TCP without TLS when the user adds nothing', () => {
    const lines = rules(renderHba([]));
    expect(lines.filter((line) => line.startsWith('host ') && !line.includes('postgres'))).toEqual([
      'host all all all reject',
    ]);
  });

  it('keeps the superuser off TCP unless its password is mounted, after the user rules', () => {
    const closed = rules(
      renderHba(['hostssl all postgres all cert'], { superuser: 'postgres', superuserOverTcp: false }),
    );
    expect(closed.indexOf('host all postgres all reject')).toBe(closed.indexOf('hostssl all postgres all cert') + 1);
    expect(closed.indexOf('host all postgres all reject')).toBeLessThan(
      closed.indexOf('hostssl all all all scram-sha-256'),
    );
    const open = rules(renderHba([], { superuser: 'postgres', superuserOverTcp: true }));
    expect(open.some((line) => line.includes('postgres all reject'))).toBe(false);
  });
});

describe('renderIdent', () => {
  it('maps the manager and PostgreSQL users to the superuser and the metrics role, and keeps other names as they are', () => {
    expect(rules(renderIdent(['postgres', 'root'], 'postgres'))).toEqual([
      'local postgres postgres',
      'local postgres metrics_monitor',
      'local root postgres',
      'local root metrics_monitor',
      'local /^(.*)$ \\1',
    ]);
  });

  it('does not repeat a user', () => {
    expect(rules(renderIdent(['postgres', 'postgres'], 'postgres'))).toHaveLength(3);
  });
});

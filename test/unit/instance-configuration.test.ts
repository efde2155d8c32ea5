import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import type { RenderContext } from '../../src/config/index.js';
import { renderConfiguration, type ConfigurationInputs } from '../../src/instance/configuration.js';

const settings = (supplied = new Map<string, string>()): RenderContext => ({
  pgdata: '/data',
  port: 5433,
  listen: '*',
  socketDir: '/run/im/run',
  logDirectory: '/run/im/log',
  tls: { certFile: '/c/server.crt', keyFile: '/c/server.key', clientCaFile: '/c/client-ca.crt' },
  pgMajor: 15,
  allowAlterSystem: false,
  supplied,
});

const inputs = (overrides: Partial<ConfigurationInputs> = {}): ConfigurationInputs => ({
  settings: settings(),
  userConfig: undefined,
  userHba: undefined,
  superuserOsUsers: ['postgres', 'root'],
  superuserOverTcp: false,
  ...overrides,
});

describe('renderConfiguration (what a start or a reload writes, without a postmaster)', () => {
  it('renders the three files the manager owns', () => {
    const files = renderConfiguration(inputs());
    expect([...files.keys()]).toEqual(['custom.conf', 'pg_hba.conf', 'pg_ident.conf']);
    expect(files.get('custom.conf')).toContain("port = '5433'");
    expect(files.get('custom.conf')).toContain("ssl_cert_file = '/c/server.crt'");
    expect(files.get('pg_ident.conf')).toMatch(/root\s+postgres/);
  });

  it('puts the user settings last and another concern’s settings among the managed ones', () => {
    const custom = renderConfiguration(
      inputs({
        settings: settings(new Map([['primary_conninfo', 'host=p']])),
        userConfig: { text: 'work_mem = 8MB\n', file: '/etc/im/pg.conf' },
      }),
    ).get('custom.conf')!;
    expect(custom.indexOf("primary_conninfo = 'host=p'")).toBeLessThan(custom.indexOf('# --config'));
    expect(custom.trimEnd().endsWith("work_mem = '8MB'")).toBe(true);
  });

  it("preloads the libraries the user configures, after the user's own list", () => {
    const custom = renderConfiguration(
      inputs({
        userConfig: {
          text: "shared_preload_libraries = 'pg_cron'\npgaudit.log = 'ddl'\nauto_explain.log_min_duration = 1s\n",
          file: '/etc/im/pg.conf',
        },
      }),
    ).get('custom.conf')!;
    expect(custom).toContain("shared_preload_libraries = 'pg_cron,pgaudit,auto_explain'");
    expect(custom.match(/shared_preload_libraries/g)).toHaveLength(1);
  });

  it('refuses the superuser over TCP unless its password is mounted', () => {
    expect(renderConfiguration(inputs()).get('pg_hba.conf')).toContain('host all postgres all reject');
    expect(renderConfiguration(inputs({ superuserOverTcp: true })).get('pg_hba.conf')).not.toContain(
      'postgres all reject',
    );
  });

  it('refuses bad user input by file and line, before anything is written', () => {
    expect(() =>
      renderConfiguration(inputs({ userConfig: { text: '\nport = 1\n', file: '/etc/im/pg.conf' } })),
    ).toThrow(UsageError);
    expect(() =>
      renderConfiguration(inputs({ userConfig: { text: '\nport = 1\n', file: '/etc/im/pg.conf' } })),
    ).toThrow(/\/etc\/im\/pg\.conf:2/);
    expect(() =>
      renderConfiguration(inputs({ userHba: { text: 'host all all nonsense\n', file: '/etc/im/hba' } })),
    ).toThrow(/\/etc\/im\/hba:1/);
  });
});
